//! An attacker who can write the database (and drop the triggers) is caught by `verify`, on the
//! database and on a bundle exported from it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{Fixture, sample};
use cordon_evidence::{
    EvidenceLog, ExportFormat, FailureKind, Filter, KeyStore, VerifyOptions, VerifyReport,
    verify_bundle, verify_bundle_with,
};
use rusqlite::params;

const N: u64 = 250;

/// 250 records, checkpoints at 100, 200 and (shutdown) 250.
fn build() -> (Fixture, ed25519_dalek::VerifyingKey) {
    let f = Fixture::new();
    let log = f.open();
    for chunk in (0..N).collect::<Vec<_>>().chunks(50) {
        log.append_batch(chunk.iter().map(|&i| sample(i)).collect())
            .unwrap();
    }
    log.checkpoint().unwrap();
    let report = log.verify().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.checkpoints, 3);
    let key = log.public_key().unwrap();
    (f, key)
}

fn drop_triggers(conn: &rusqlite::Connection) {
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(names.len() >= 10);
    for n in names {
        conn.execute_batch(&format!("DROP TRIGGER {n}")).unwrap();
    }
}

/// Rewrites record `seq` (already edited in place) and every later one so the chain is
/// internally consistent again, as a careful attacker would.
fn rechain_from(f: &Fixture, seq: u64) {
    let log = EvidenceLog::open(&f.db(), KeyStore::ReadOnly).unwrap();
    let conn = f.raw();
    let mut prev = if seq == 1 {
        cordon_evidence::GENESIS_HASH.to_string()
    } else {
        record_at(&log, seq - 1).hash
    };
    for s in seq..=N {
        let mut r = record_at(&log, s);
        r.prev_hash = prev.clone();
        let h = r.compute_hash().unwrap();
        conn.execute(
            "UPDATE records SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
            params![prev, h, s as i64],
        )
        .unwrap();
        prev = h;
    }
}

fn record_at(log: &EvidenceLog, seq: u64) -> cordon_evidence::Record {
    log.query(&Filter {
        after_seq: Some(seq - 1),
        oldest_first: true,
        limit: Some(1),
        ..Filter::default()
    })
    .unwrap()
    .remove(0)
}

fn verify_db(f: &Fixture) -> VerifyReport {
    f.open().verify().unwrap()
}

fn bundle_of(f: &Fixture) -> Vec<u8> {
    let log = EvidenceLog::open(&f.db(), KeyStore::ReadOnly).unwrap();
    let mut out = Vec::new();
    log.export(&Filter::default(), ExportFormat::Bundle, &mut out)
        .unwrap();
    out
}

fn pinned(key: ed25519_dalek::VerifyingKey) -> VerifyOptions {
    VerifyOptions {
        trusted_keys: vec![key],
    }
}

/// Asserts that both the database and a bundle exported from it fail at `seq`.
fn assert_caught(f: &Fixture, key: ed25519_dalek::VerifyingKey, kind: FailureKind, seq: u64) {
    let report = verify_db(f);
    let failure = report
        .failure
        .clone()
        .unwrap_or_else(|| panic!("not detected: {report:?}"));
    assert!(!report.ok);
    assert_eq!(
        (failure.kind, failure.seq),
        (kind, Some(seq)),
        "{failure:?}"
    );
    let bundle = bundle_of(f);
    let report = verify_bundle_with(&bundle[..], &pinned(key)).unwrap();
    let failure = report
        .failure
        .unwrap_or_else(|| panic!("bundle: not detected"));
    assert_eq!(failure.seq, Some(seq), "bundle: {failure:?}");
}

#[test]
fn update_and_delete_are_refused_by_the_schema() {
    let (f, _) = build();
    let conn = f.raw();
    let cases = [
        "UPDATE records SET target = 'x' WHERE seq = 3",
        "DELETE FROM records WHERE seq = 250",
        "DELETE FROM records",
        "UPDATE checkpoints SET seq = 1",
        "DELETE FROM checkpoints",
        "UPDATE blobs SET content = '{}'",
        "DELETE FROM blobs",
        "DELETE FROM signing_keys",
        "UPDATE signing_keys SET public_key = '00'",
    ];
    for sql in cases {
        let err = conn.execute(sql, []).unwrap_err().to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    let log = f.open();
    log.record_policy("v1+abc", &[("p.yaml".into(), "rules: []".into())])
        .unwrap();
    let err = conn
        .execute("DELETE FROM policy_snapshots", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"));
    assert!(
        conn.execute("UPDATE policy_snapshots SET sources = '[]'", [])
            .is_err()
    );
    assert!(verify_db(&f).ok);
}

#[test]
fn edited_field_is_caught() {
    let (f, key) = build();
    let conn = f.raw();
    drop_triggers(&conn);
    conn.execute(
        "UPDATE records SET target = 'harmless.txt' WHERE seq = 42",
        [],
    )
    .unwrap();
    assert_caught(&f, key, FailureKind::HashMismatch, 42);
}

#[test]
fn edited_outcome_with_recomputed_hash_breaks_the_next_link() {
    let (f, key) = build();
    let conn = f.raw();
    drop_triggers(&conn);
    conn.execute("UPDATE records SET outcome = 'denied' WHERE seq = 43", [])
        .unwrap();
    let log = EvidenceLog::open(&f.db(), KeyStore::ReadOnly).unwrap();
    let r = record_at(&log, 43);
    conn.execute(
        "UPDATE records SET hash = ?1 WHERE seq = 43",
        params![r.compute_hash().unwrap()],
    )
    .unwrap();
    assert_caught(&f, key, FailureKind::BrokenLink, 44);
}

#[test]
fn edited_args_blob_is_caught() {
    let (f, key) = build();
    let conn = f.raw();
    drop_triggers(&conn);
    conn.execute(
        "UPDATE blobs SET content = '{\"path\":\"README.md\",\"n\":42}' \
         WHERE sha256 = (SELECT args_sha256 FROM records WHERE seq = 42)",
        [],
    )
    .unwrap();
    let report = verify_db(&f);
    let failure = report.failure.unwrap();
    assert_eq!(
        (failure.kind, failure.seq),
        (FailureKind::BlobMismatch, Some(42))
    );
    let report = verify_bundle_with(&bundle_of(&f)[..], &pinned(key)).unwrap();
    assert_eq!(report.failure.unwrap().seq, Some(42));
}

#[test]
fn fully_rechained_rewrite_is_caught_by_the_checkpoint() {
    let (f, key) = build();
    let conn = f.raw();
    drop_triggers(&conn);
    conn.execute(
        "UPDATE records SET target = 'harmless.txt' WHERE seq = 142",
        [],
    )
    .unwrap();
    rechain_from(&f, 142);
    let report = verify_db(&f);
    let failure = report.failure.unwrap();
    assert_eq!(
        (failure.kind, failure.seq),
        (FailureKind::CheckpointMismatch, Some(200))
    );
    assert!(failure.message.contains("101..200"), "{}", failure.message);
    let report = verify_bundle_with(&bundle_of(&f)[..], &pinned(key)).unwrap();
    assert_eq!(
        report.failure.unwrap().kind,
        FailureKind::CheckpointMismatch
    );
}

#[test]
fn deleted_middle_record_is_caught() {
    let (f, key) = build();
    let conn = f.raw();
    drop_triggers(&conn);
    conn.execute("DELETE FROM records WHERE seq = 77", [])
        .unwrap();
    assert_caught(&f, key, FailureKind::SeqGap, 78);
}

#[test]
fn deleted_and_renumbered_middle_record_is_caught() {
    let (f, key) = build();
    let conn = f.raw();
    drop_triggers(&conn);
    conn.execute("DELETE FROM records WHERE seq = 77", [])
        .unwrap();
    conn.execute("UPDATE records SET seq = seq - 1 WHERE seq > 77", [])
        .unwrap();
    assert_caught(&f, key, FailureKind::BrokenLink, 77);
}

#[test]
fn truncated_tail_is_caught() {
    let (f, key) = build();
    let conn = f.raw();
    drop_triggers(&conn);
    conn.execute("DELETE FROM records WHERE seq > 230", [])
        .unwrap();
    let report = verify_db(&f);
    let failure = report.failure.unwrap();
    assert_eq!(
        (failure.kind, failure.seq),
        (FailureKind::Truncated, Some(250))
    );
    assert!(failure.message.contains("231..250"), "{}", failure.message);
    let report = verify_bundle_with(&bundle_of(&f)[..], &pinned(key)).unwrap();
    assert_eq!(report.failure.unwrap().kind, FailureKind::Truncated);
}

#[test]
fn reordered_records_are_caught() {
    let (f, key) = build();
    let conn = f.raw();
    drop_triggers(&conn);
    conn.execute_batch(
        "UPDATE records SET seq = -1 WHERE seq = 10;
         UPDATE records SET seq = 10 WHERE seq = 11;
         UPDATE records SET seq = 11 WHERE seq = -1;",
    )
    .unwrap();
    assert_caught(&f, key, FailureKind::BrokenLink, 10);
}

#[test]
fn forged_checkpoint_is_caught() {
    let (f, key) = build();
    let conn = f.raw();
    drop_triggers(&conn);
    conn.execute(
        "UPDATE checkpoints SET timestamp = '2020-01-01T00:00:00.000Z' WHERE seq = 100",
        [],
    )
    .unwrap();
    let report = verify_db(&f);
    let failure = report.failure.unwrap();
    assert_eq!(
        (failure.kind, failure.seq),
        (FailureKind::CheckpointSignature, Some(100))
    );
    let report = verify_bundle_with(&bundle_of(&f)[..], &pinned(key)).unwrap();
    assert_eq!(
        report.failure.unwrap().kind,
        FailureKind::CheckpointSignature
    );
}

#[test]
fn rewrite_resigned_with_another_key_is_caught() {
    let (f, key) = build();
    let conn = f.raw();
    drop_triggers(&conn);
    conn.execute(
        "UPDATE records SET target = 'harmless.txt' WHERE seq = 142",
        [],
    )
    .unwrap();
    rechain_from(&f, 142);
    // Replace the checkpoints and the recorded public key with the attacker's.
    conn.execute_batch("DELETE FROM checkpoints; DELETE FROM signing_keys;")
        .unwrap();
    let attacker = EvidenceLog::open(&f.db(), f.key_at("attacker.pem")).unwrap();
    attacker.checkpoint().unwrap();
    assert!(
        attacker.verify().unwrap().ok,
        "consistent under the attacker's own key"
    );

    // The owner's key store still holds the real key: verification fails.
    let report = verify_db(&f);
    let failure = report.failure.clone().unwrap();
    assert_eq!(failure.kind, FailureKind::UntrustedKey, "{failure:?}");
    assert_eq!(failure.seq, Some(N));
    // The report names the key that signed, and it is not trusted.
    let attacker_fp = cordon_evidence::fingerprint(&attacker.public_key().unwrap());
    assert!(
        report
            .keys
            .iter()
            .any(|k| k.fingerprint == attacker_fp && !k.trusted)
    );

    // A bundle checked against the pinned real key fails too.
    let bundle = bundle_of(&f);
    let report = verify_bundle_with(&bundle[..], &pinned(key)).unwrap();
    assert_eq!(report.failure.unwrap().kind, FailureKind::UntrustedKey);
    // Unpinned, a bundle can only be consistent with itself: it says which key it trusted.
    let report = verify_bundle(&bundle[..]).unwrap();
    assert!(report.ok);
    assert_eq!(report.trust, cordon_evidence::TrustSource::Recorded);
    assert_eq!(report.trusted_fingerprints, vec![attacker_fp]);
}

#[test]
fn tampered_bundle_lines_are_caught() {
    let (f, key) = build();
    let bundle = String::from_utf8(bundle_of(&f)).unwrap();
    assert!(
        verify_bundle_with(bundle.as_bytes(), &pinned(key))
            .unwrap()
            .ok
    );
    let lines: Vec<&str> = bundle.lines().collect();
    let record_line = |seq: u64| {
        lines
            .iter()
            .position(|l| l.starts_with("{\"record\"") && l.contains(&format!("\"seq\":{seq},")))
            .unwrap()
    };

    // Edit a field.
    let mut edited: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    let i = record_line(60);
    edited[i] = edited[i].replace("src/file_59.rs", "src/other.rs");
    let report = verify_bundle_with(edited.join("\n").as_bytes(), &pinned(key)).unwrap();
    assert_eq!(report.failure.unwrap().seq, Some(60));

    // Delete a record line.
    let mut deleted: Vec<&str> = lines.clone();
    deleted.remove(record_line(60));
    let report = verify_bundle_with(deleted.join("\n").as_bytes(), &pinned(key)).unwrap();
    let failure = report.failure.unwrap();
    assert_eq!((failure.kind, failure.seq), (FailureKind::SeqGap, Some(61)));

    // Swap two record lines.
    let mut swapped: Vec<&str> = lines.clone();
    swapped.swap(record_line(5), record_line(6));
    let report = verify_bundle_with(swapped.join("\n").as_bytes(), &pinned(key)).unwrap();
    assert_eq!(report.failure.unwrap().kind, FailureKind::SeqGap);

    // Cut the tail records but keep the checkpoints.
    let cut: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| {
            !(l.starts_with("{\"record\"")
                && (241..=250).any(|s| l.contains(&format!("\"seq\":{s},"))))
        })
        .collect();
    let report = verify_bundle_with(cut.join("\n").as_bytes(), &pinned(key)).unwrap();
    assert_eq!(report.failure.unwrap().kind, FailureKind::Truncated);

    // Not a bundle at all.
    assert!(verify_bundle(&b"{\"hello\":1}\n"[..]).is_err());
    assert!(verify_bundle(&b""[..]).is_err());
}

#[test]
fn filtered_bundle_keeps_the_chain_verifiable() {
    let (f, key) = build();
    let log = EvidenceLog::open(&f.db(), KeyStore::ReadOnly).unwrap();
    let mut out = Vec::new();
    let filter = Filter {
        agent: Some("cursor".into()),
        action: Some("git.push".into()),
        ..Filter::default()
    };
    let n = log.export(&filter, ExportFormat::Bundle, &mut out).unwrap();
    assert_eq!(n, 25);
    let report = verify_bundle_with(&out[..], &pinned(key)).unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.records, N);
    assert_eq!(report.elided, N - 25);
}

#[test]
fn deleted_diff_blob_is_caught_and_export_refuses() {
    let (f, _) = build();
    let conn = f.raw();
    drop_triggers(&conn);
    // sample(i) has a diff when i % 5 == 1, i.e. seq 2, 7, 12, ...
    conn.execute(
        "DELETE FROM blobs WHERE sha256 = (SELECT diff_sha256 FROM records WHERE seq = 12)",
        [],
    )
    .unwrap();
    let failure = verify_db(&f).failure.unwrap();
    assert_eq!(
        (failure.kind, failure.seq),
        (FailureKind::BlobMismatch, Some(12))
    );
    let log = EvidenceLog::open(&f.db(), KeyStore::ReadOnly).unwrap();
    let mut out = Vec::new();
    let err = log
        .export(&Filter::default(), ExportFormat::Bundle, &mut out)
        .unwrap_err();
    assert!(err.to_string().contains("diff blob missing"), "{err}");
}

#[test]
fn large_logs_are_checked_in_parallel_and_still_name_the_first_bad_record() {
    let f = Fixture::new();
    let log = f.open();
    for chunk in 0..4u64 {
        log.append_batch((0..1000).map(|i| sample(chunk * 1000 + i)).collect())
            .unwrap();
    }
    log.checkpoint().unwrap();
    assert!(log.verify().unwrap().ok);
    let conn = f.raw();
    drop_triggers(&conn);
    conn.execute(
        "UPDATE records SET reason = 'x' WHERE seq IN (3999, 2500)",
        [],
    )
    .unwrap();
    let failure = log.verify().unwrap().failure.unwrap();
    assert_eq!(
        (failure.kind, failure.seq),
        (FailureKind::HashMismatch, Some(2500))
    );
}
