//! The real OS keychain path. Runs when a D-Bus session is available (the project's test script
//! runs inside `dbus-run-session` with gnome-keyring unlocked); otherwise reports itself skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use cordon_evidence::{EvidenceError, EvidenceLog, KEYCHAIN_USER, KeyStore, NewRecord, Outcome};

fn record() -> NewRecord {
    NewRecord {
        agent: "claude-code".into(),
        session_id: "s".into(),
        action: "job.mcp-bridge.git.push".into(),
        decision: "require_approval".into(),
        outcome: Outcome::Approved,
        ..NewRecord::default()
    }
}

#[test]
fn secret_service_keychain_signs_and_verifies() {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
        eprintln!(
            "SKIPPED secret_service_keychain_signs_and_verifies: DBUS_SESSION_BUS_ADDRESS is not \
             set (run inside `dbus-run-session` with gnome-keyring unlocked)"
        );
        return;
    }
    let service = format!("cordon-test-{}", ulid::Ulid::new());
    let store = KeyStore::Keychain {
        service: service.clone(),
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("evidence.db");
    let log = EvidenceLog::open(&db, store.clone()).unwrap();
    let key = log.public_key().unwrap();
    log.append(record()).unwrap();
    log.checkpoint().unwrap();
    drop(log);
    // The key persisted in the keychain: a second open signs with the same key.
    assert_eq!(store.existing_public_key().unwrap(), Some(key));
    let log = EvidenceLog::open(&db, store).unwrap();
    assert_eq!(log.public_key(), Some(key));
    let report = log.verify().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.trust, cordon_evidence::TrustSource::KeyStore);
    keyring::Entry::new(&service, KEYCHAIN_USER)
        .unwrap()
        .delete_credential()
        .unwrap();
}

const CHILD_ENV: &str = "CORDON_EVIDENCE_TEST_KEYCHAIN_CHILD";

/// Helper: opens a keychain-backed log and prints the error (run with a broken D-Bus address).
#[test]
#[ignore = "helper process for unreachable_keychain_fails_closed"]
fn child_open_keychain() {
    if std::env::var_os(CHILD_ENV).is_none() {
        panic!("helper only");
    }
    let dir = tempfile::tempdir().unwrap();
    match EvidenceLog::open(
        &dir.path().join("e.db"),
        KeyStore::Keychain {
            service: "cordon-test-unreachable".into(),
        },
    ) {
        Ok(_) => println!("RESULT opened"),
        Err(e @ EvidenceError::KeychainUnavailable { .. }) => println!("RESULT unavailable: {e}"),
        Err(e) => println!("RESULT other: {e}"),
    }
    assert!(
        !Path::new(&dir.path().join("e.db")).exists(),
        "no database without a key"
    );
}

#[test]
fn unreachable_keychain_fails_closed_with_a_clear_message() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_open_keychain", "--ignored", "--nocapture"])
        .env(CHILD_ENV, "1")
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/cordon-test-bus",
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout
            .contains("RESULT unavailable: no OS keychain reachable (is a Secret Service running"),
        "{stdout}"
    );
}
