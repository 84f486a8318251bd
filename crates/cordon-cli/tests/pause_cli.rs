//! `cordon pause|resume` with no engine running: refused with a clear message, never a silent
//! success (the kill switch must not look engaged when it is not). Through a running engine it
//! is covered by tests/e2e/test_constraints.py.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_cordon");

fn cordon(dir: &Path, args: &[&str]) -> Output {
    let config = dir.join("cordon.yaml");
    std::fs::write(
        &config,
        format!(
            "socket: {:?}\nevidence: {:?}\nservers: {{}}\n",
            dir.join("c.sock").display().to_string(),
            dir.join("evidence.db").display().to_string()
        ),
    )
    .unwrap();
    Command::new(BIN)
        .args(args)
        .arg("--config")
        .arg(&config)
        .env_remove("CORDON_CONFIG")
        .output()
        .unwrap()
}

#[test]
fn pause_and_resume_without_an_engine_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["pause"][..],
        &["pause", "--agent", "cursor"],
        &["resume"],
        &["pause", "--status", "--json"],
    ] {
        let out = cordon(dir.path(), args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("not running"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn pause_rejects_unknown_flags() {
    let dir = tempfile::tempdir().unwrap();
    let out = cordon(dir.path(), &["pause", "--agnet", "x"]);
    assert_eq!(out.status.code(), Some(2));
}
