//! Durability and multi-process appends: a writer killed with SIGKILL loses nothing it
//! acknowledged, and two processes appending at once produce one valid chain.
//!
//! The writer is this test binary itself, re-run on the ignored `child_writer` test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::{Fixture, sample};
use cordon_evidence::{EvidenceLog, KeyStore};

const DB_ENV: &str = "CORDON_EVIDENCE_TEST_CHILD_DB";
const KEY_ENV: &str = "CORDON_EVIDENCE_TEST_CHILD_KEY";
const COUNT_ENV: &str = "CORDON_EVIDENCE_TEST_CHILD_COUNT";

/// Child process body: append records one by one, printing `ACK <seq>` after each durable append.
#[test]
#[ignore = "helper process for the SIGKILL and concurrency tests (run by them)"]
fn child_writer() {
    let (Ok(db), Ok(key)) = (std::env::var(DB_ENV), std::env::var(KEY_ENV)) else {
        panic!("child_writer is a helper: run the other tests in this file");
    };
    let count: u64 = std::env::var(COUNT_ENV)
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(u64::MAX);
    let log = EvidenceLog::open(Path::new(&db), KeyStore::File(key.into()))
        .unwrap()
        .with_checkpoint_interval(50);
    let stdout = std::io::stdout();
    for i in 0..count {
        let r = log.append(sample(i)).unwrap();
        let mut out = stdout.lock();
        writeln!(out, "ACK {} {}", r.seq, r.id).unwrap();
        out.flush().unwrap();
    }
    log.checkpoint().unwrap();
}

fn spawn_writer(f: &Fixture, count: Option<u64>) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "child_writer",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(DB_ENV, f.db())
    .env(KEY_ENV, f.dir.path().join("signing.pem"))
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    if let Some(c) = count {
        cmd.env(COUNT_ENV, c.to_string());
    }
    cmd.spawn().unwrap()
}

fn acks(line: &str) -> Option<(u64, String)> {
    // libtest may print `test child_writer ... ` right before the first line.
    let start = line.find("ACK ")?;
    let mut parts = line.get(start + 4..)?.split(' ');
    Some((parts.next()?.parse().ok()?, parts.next()?.to_string()))
}

#[test]
fn sigkilled_writer_loses_no_acknowledged_record() {
    let f = Fixture::new();
    // Create the key first so parent and child share it.
    drop(f.open());
    let mut child = spawn_writer(&f, None);
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut acked: Vec<(u64, String)> = Vec::new();
    let mut line = String::new();
    while acked.len() < 300 {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "writer exited early"
        );
        if let Some(a) = acks(line.trim()) {
            acked.push(a);
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix: no destructors, no flush, mid-transaction.
    // Everything the child printed before it died was acknowledged.
    for line in reader.lines() {
        if let Some(a) = acks(line.unwrap().trim()) {
            acked.push(a);
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success());

    let log = f.open();
    for (seq, id) in &acked {
        let r = log
            .get(id)
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged record {seq} lost"));
        assert_eq!(r.seq, *seq);
    }
    assert!(log.count().unwrap() >= acked.len() as u64);
    let report = log.verify().unwrap();
    assert!(report.ok, "{report:?}");
    // The log keeps going after the crash.
    let next = log.append(sample(0)).unwrap();
    assert_eq!(next.seq, report.records + 1);
    assert!(log.verify().unwrap().ok);
}

#[test]
fn two_processes_appending_keep_one_chain() {
    let f = Fixture::new();
    drop(f.open());
    let per_child = 300u64;
    let children: Vec<Child> = (0..2).map(|_| spawn_writer(&f, Some(per_child))).collect();
    // The parent appends too, in batches, while the children run.
    let log = f.open();
    for chunk in 0..10u64 {
        log.append_batch((0..10).map(|i| sample(chunk * 10 + i)).collect())
            .unwrap();
    }
    let mut seen = HashSet::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        let acked: Vec<u64> = text.lines().filter_map(acks).map(|(s, _)| s).collect();
        assert_eq!(acked.len() as u64, per_child);
        for s in acked {
            assert!(
                seen.insert(s),
                "seq {s} acknowledged twice: the chain forked"
            );
        }
    }
    assert_eq!(log.count().unwrap(), 2 * per_child + 100);
    let report = log.verify().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.records, 2 * per_child + 100);
}
