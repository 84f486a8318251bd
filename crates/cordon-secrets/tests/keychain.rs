//! Against the REAL OS keychain (Secret Service on Linux). The project's test script runs every
//! test inside `dbus-run-session` with gnome-keyring unlocked. With a D-Bus session these tests
//! must pass (a broken keychain is a failure, not a skip); with no D-Bus session at all they say
//! they are skipped. Each test uses its own keychain service, so no real entry is touched.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use cordon_secrets::{
    Redactor, SecretError, SecretName, SecretStore, SecretUsage, expand_references, references,
};

/// False (after saying why) only when there is no D-Bus session at all.
fn keychain_expected(test: &str) -> bool {
    match std::env::var("DBUS_SESSION_BUS_ADDRESS") {
        Ok(address) if !address.is_empty() => true,
        _ => {
            eprintln!(
                "SKIPPED {test}: DBUS_SESSION_BUS_ADDRESS is not set (run inside \
                 `dbus-run-session` with gnome-keyring unlocked, as scripts/test does)"
            );
            false
        }
    }
}

fn unique_service() -> String {
    format!("cordon-secrets-test-{}", ulid::Ulid::new())
}

fn name(n: &str) -> SecretName {
    SecretName::new(n).unwrap()
}

#[test]
fn secret_service_round_trip_expansion_and_redaction() {
    if !keychain_expected("secret_service_round_trip_expansion_and_redaction") {
        return;
    }
    let store = SecretStore::new(&unique_service()).unwrap();
    let token = "ghp_R3al-Keychain/Value+ünïcode ok";
    store.set(&name("GH_TOKEN"), token).unwrap();
    store.set(&name("OTHER.key"), "second-value-0987").unwrap();
    // Replacing keeps one entry.
    store.set(&name("OTHER.key"), "second-value-0988").unwrap();

    let got = store.get(&name("GH_TOKEN")).unwrap();
    assert_eq!(got.expose(), token);
    assert_eq!(format!("{got:?}"), "[REDACTED:GH_TOKEN]");

    let usage = SecretUsage::from([(name("GH_TOKEN"), vec!["gh (env GITHUB_TOKEN)".to_owned()])]);
    let listed = store.list(&usage).unwrap();
    let names: Vec<_> = listed.iter().map(|i| (i.name.as_str(), i.stored)).collect();
    assert_eq!(names, [("GH_TOKEN", true), ("OTHER.key", true)]);
    assert_eq!(listed[0].used_by, ["gh (env GITHUB_TOKEN)"]);
    let listed_text = format!("{listed:?}");
    assert!(
        !listed_text.contains("ghp_") && !listed_text.contains("second-value"),
        "{listed_text}"
    );

    // Expansion for an upstream header, then redaction of what the upstream echoes back.
    let header = "Bearer ${keychain:GH_TOKEN}";
    assert_eq!(references(header).unwrap(), [name("GH_TOKEN")]);
    let (expanded, used) = expand_references(header, &store).unwrap();
    assert_eq!(expanded, format!("Bearer {token}"));
    assert_eq!(used, [name("GH_TOKEN")]);
    let secrets = [got, store.get(&name("OTHER.key")).unwrap()];
    let redactor = Redactor::new(&secrets).unwrap();
    assert_eq!(
        redactor.redact(&format!("echo: {expanded}")),
        "echo: Bearer [REDACTED:GH_TOKEN]"
    );
    assert_eq!(redactor.redact("second-value-0988"), "[REDACTED:OTHER.key]");

    // A missing secret stops expansion with the fix in the message.
    let error = expand_references("${keychain:NOT_SET}", &store).unwrap_err();
    assert_eq!(
        error.to_string(),
        "secret `NOT_SET` is not in the keychain: run `cordon secret set NOT_SET`"
    );

    store.remove(&name("GH_TOKEN")).unwrap();
    assert!(matches!(
        store.get(&name("GH_TOKEN")),
        Err(SecretError::Missing { .. })
    ));
    assert!(matches!(
        store.remove(&name("GH_TOKEN")),
        Err(SecretError::Missing { .. })
    ));
    store.remove(&name("OTHER.key")).unwrap();
    assert!(store.names().unwrap().is_empty());
}

#[test]
fn services_are_isolated() {
    if !keychain_expected("services_are_isolated") {
        return;
    }
    let a = SecretStore::new(&unique_service()).unwrap();
    let b = SecretStore::new(&unique_service()).unwrap();
    a.set(&name("SHARED"), "value-in-service-a").unwrap();
    assert!(matches!(
        b.get(&name("SHARED")),
        Err(SecretError::Missing { .. })
    ));
    assert!(b.names().unwrap().is_empty());
    a.remove(&name("SHARED")).unwrap();
}

const CHILD_ENV: &str = "CORDON_SECRETS_TEST_KEYCHAIN_CHILD";

/// Helper process: reads a secret with a broken D-Bus address and prints the error.
#[test]
#[ignore = "helper process for unreachable_keychain_fails_closed_with_a_clear_message"]
fn child_read_without_keychain() {
    if std::env::var_os(CHILD_ENV).is_none() {
        panic!("helper only");
    }
    let store = SecretStore::new("cordon-secrets-test-unreachable").unwrap();
    match store.get(&name("ANY")) {
        Ok(_) => println!("RESULT read"),
        Err(e @ SecretError::KeychainUnavailable { .. }) => println!("RESULT unavailable: {e}"),
        Err(e) => println!("RESULT other: {e}"),
    }
}

#[test]
fn unreachable_keychain_fails_closed_with_a_clear_message() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_read_without_keychain",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_ENV, "1")
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/cordon-secrets-test-bus",
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
        stdout.contains(
            "RESULT unavailable: no OS keychain reachable: on Linux a Secret Service \
             (gnome-keyring, KWallet) must be running in this D-Bus session"
        ),
        "{stdout}"
    );
}
