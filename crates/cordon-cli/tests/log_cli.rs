//! `cordon log …` against the real binary, with a file signing key (no keychain needed).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cordon_evidence::{EvidenceLog, KeyStore, NewRecord, Outcome};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn db(&self) -> PathBuf {
        self.dir.path().join("evidence.db")
    }
    fn key_file(&self) -> PathBuf {
        self.dir.path().join("signing.pem")
    }
    fn log(&self) -> EvidenceLog {
        EvidenceLog::open(&self.db(), KeyStore::File(self.key_file())).unwrap()
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `cordon log <args>` with the file key and without ambient configuration.
    fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[])
    }

    fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cordon"));
        cmd.arg("log")
            .args(args)
            .env(
                "CORDON_SIGNING_KEY",
                format!("file:{}", self.key_file().display()),
            )
            .env_remove("CORDON_EVIDENCE")
            .env_remove("CORDON_KEYCHAIN_SERVICE")
            .env("HOME", self.dir.path())
            .env("XDG_DATA_HOME", self.dir.path().join("xdg-data"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }
}

/// Asserts the exit code, printing the whole context when it differs.
fn expect(out: &Output, code: i32, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn rec(agent: &str, session: &str, action: &str, target: &str, outcome: Outcome) -> NewRecord {
    let decision = match outcome {
        Outcome::Allowed => "allow",
        Outcome::Denied => "deny",
        _ => "require_approval",
    };
    NewRecord {
        agent: agent.into(),
        session_id: session.into(),
        server: "filesystem".into(),
        tool: "tool".into(),
        action: format!("job.mcp-bridge.{action}"),
        target: Some(target.into()),
        decision: decision.into(),
        rule_id: Some("rule-1".into()),
        reason: "because".into(),
        policy_version: "v1+abc".into(),
        reviewer: (outcome == Outcome::Approved).then(|| "alice@example.com".into()),
        outcome,
        args: serde_json::json!({"path": target}),
        duration_ms: 5,
        ..NewRecord::default()
    }
}

/// A small log: two sessions, reads, an approved write with a diff, a push, a denial.
fn populate(env: &Env) -> Vec<cordon_evidence::Record> {
    let log = env.log();
    let mut out = Vec::new();
    out.push(
        log.append(rec(
            "claude-code",
            "sess_A",
            "read.file",
            "src/main.rs",
            Outcome::Allowed,
        ))
        .unwrap(),
    );
    let mut write = rec(
        "claude-code",
        "sess_A",
        "write.file",
        "src/lib.rs, \"quoted\"",
        Outcome::Approved,
    );
    write.diff = Some("--- a/src/lib.rs\n+++ b/src/lib.rs\n+fn new() {}\n".into());
    out.push(log.append(write).unwrap());
    out.push(
        log.append(rec(
            "claude-code",
            "sess_A",
            "git.push",
            "origin/main",
            Outcome::Approved,
        ))
        .unwrap(),
    );
    out.push(
        log.append(rec(
            "claude-code",
            "sess_A",
            "read.env",
            ".env",
            Outcome::Denied,
        ))
        .unwrap(),
    );
    out.push(
        log.append(rec(
            "cursor",
            "sess_B",
            "exec.shell",
            "cargo test",
            Outcome::Allowed,
        ))
        .unwrap(),
    );
    log.checkpoint().unwrap();
    out
}

#[test]
fn list_shows_a_table_and_json_with_filters() {
    let env = Env::new();
    let records = populate(&env);
    let db = env.db();
    let db = db.to_str().unwrap();
    let table = expect(&env.run(&["list", "--db", db]), 0, "list");
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("SEQ") && lines[0].contains("ACTION"),
        "{table}"
    );
    assert_eq!(lines.len(), 6, "{table}");
    assert!(lines[1].starts_with('5'), "newest first: {table}");
    assert!(table.contains("git.push") && table.contains("alice@example.com"));

    let json = expect(
        &env.run(&[
            "list",
            "--db",
            db,
            "--json",
            "--agent",
            "claude-code",
            "--action",
            "read.*",
        ]),
        0,
        "json",
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let seqs: Vec<u64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [4, 1]);
    assert_eq!(v[0]["outcome"], "denied");

    let json = expect(
        &env.run(&[
            "list",
            "--db",
            db,
            "--json",
            "--outcome",
            "approved",
            "--limit",
            "1",
        ]),
        0,
        "limit",
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["id"], records[2].id.as_str());

    let json = expect(
        &env.run(&[
            "list",
            "--db",
            db,
            "--json",
            "--since",
            "1h",
            "--decision",
            "deny",
        ]),
        0,
        "since",
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&json)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let json = expect(
        &env.run(&["list", "--db", db, "--json", "--until", "2d"]),
        0,
        "until",
    );
    assert_eq!(json.trim(), "[]");

    let out = env.run(&["list", "--db", db, "--since", "yesterday-ish"]);
    expect(&out, 2, "bad --since is a usage error");
    let out = env.run(&["list", "--db", db, "--outcome", "fine"]);
    expect(&out, 2, "bad --outcome is a usage error");
}

#[test]
fn show_prints_every_field_and_the_diff() {
    let env = Env::new();
    let records = populate(&env);
    let db = env.db();
    let db = db.to_str().unwrap();
    let out = expect(&env.run(&["show", &records[1].id, "--db", db]), 0, "show");
    for needle in [
        "agent:",
        "session_id:     sess_A",
        "policy_version: v1+abc",
        "reviewer:       alice@example.com",
        "outcome:        approved",
        "+fn new() {}",
        "\"path\":",
        &records[1].hash,
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    let json = expect(
        &env.run(&["show", &records[1].id[..12], "--db", db, "--json"]),
        0,
        "prefix",
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["diff"], records[1].diff.clone().unwrap().as_str());
    let out = env.run(&["show", "01ZZZZZZZZZZZZZZZZZZZZZZZZ", "--db", db]);
    expect(&out, 1, "unknown id");
    assert!(stderr(&out).contains("no evidence record"));
}

#[test]
fn exports_round_trip_and_bundles_verify() {
    let env = Env::new();
    let records = populate(&env);
    let db = env.db();
    let db = db.to_str().unwrap();

    let jsonl = expect(
        &env.run(&["export", "--format", "jsonl", "--db", db]),
        0,
        "jsonl",
    );
    let back = cordon_evidence::read_jsonl(jsonl.as_bytes()).unwrap();
    assert_eq!(back, records, "oldest first, lossless");

    let csv_path = env.path("out.csv");
    expect(
        &env.run(&[
            "export",
            "--format",
            "csv",
            "--db",
            db,
            "-o",
            csv_path.to_str().unwrap(),
        ]),
        0,
        "csv",
    );
    let back = cordon_evidence::read_csv(std::fs::File::open(&csv_path).unwrap()).unwrap();
    assert_eq!(back, records);

    let jsonl = expect(
        &env.run(&[
            "export",
            "--format",
            "jsonl",
            "--db",
            db,
            "--session",
            "sess_B",
        ]),
        0,
        "filtered",
    );
    assert_eq!(jsonl.lines().count(), 1);

    let bundle = env.path("bundle.jsonl");
    let b = bundle.to_str().unwrap();
    expect(
        &env.run(&["export", "--format", "bundle", "--db", db, "-o", b]),
        0,
        "bundle",
    );
    let out = expect(&env.run(&["verify", "--bundle", b]), 0, "verify bundle");
    assert!(
        out.starts_with("ok: 5 records, 1 checkpoints, key ed25519:"),
        "{out}"
    );

    // Pinning the right key passes; any other key fails.
    let key_out = expect(&env.run(&["key"]), 0, "key");
    let hex = key_out.lines().nth(1).unwrap().trim().to_string();
    expect(
        &env.run(&["verify", "--bundle", b, "--trusted-key", &hex]),
        0,
        "pinned",
    );
    let other = Env::new();
    drop(other.log());
    let other_hex = expect(&other.run(&["key"]), 0, "other key")
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    let key_file = env.path("other.pub");
    std::fs::write(&key_file, &other_hex).unwrap();
    let out = env.run(&[
        "verify",
        "--bundle",
        b,
        "--trusted-key",
        key_file.to_str().unwrap(),
    ]);
    let text = expect(&out, 1, "wrong pinned key");
    assert!(
        text.contains("FAILED") && text.contains("not the trusted key"),
        "{text}"
    );

    // A bundle edited by hand fails, naming the record.
    let edited = std::fs::read_to_string(&bundle)
        .unwrap()
        .replace("origin/main", "origin/feature");
    std::fs::write(&bundle, edited).unwrap();
    let text = expect(&env.run(&["verify", "--bundle", b]), 1, "edited bundle");
    assert!(text.starts_with("FAILED: record 3 ("), "{text}");
    assert!(text.contains("hash_mismatch"), "{text}");
}

#[test]
fn verify_passes_then_catches_a_resigned_database() {
    let env = Env::new();
    populate(&env);
    let db = env.db();
    let db = db.to_str().unwrap();
    let out = expect(&env.run(&["verify", "--db", db]), 0, "verify");
    assert!(
        out.starts_with("ok: 5 records, 1 checkpoints, key ed25519:"),
        "{out}"
    );
    assert!(
        out.contains("trusted key: the signing key in the key file"),
        "{out}"
    );

    // Without any reachable key the report says the key was not pinned.
    let out = env.run_with(
        &["verify", "--db", db],
        &[("CORDON_SIGNING_KEY", "file:/nonexistent/key.pem")],
    );
    let text = expect(&out, 0, "unpinned is consistent with itself");
    assert!(text.contains("NOT PINNED"), "{text}");
    assert!(stderr(&out).contains("warning"), "{}", stderr(&out));

    // Someone with another key appends and signs: the owner's key no longer vouches for it.
    let attacker = EvidenceLog::open(&env.db(), KeyStore::File(env.path("attacker.pem"))).unwrap();
    attacker
        .append(rec("x", "s", "read.file", "a", Outcome::Allowed))
        .unwrap();
    attacker.checkpoint().unwrap();
    let text = expect(&env.run(&["verify", "--db", db]), 1, "re-signed");
    assert!(
        text.starts_with("FAILED: record 6: checkpoint at record 6 is signed by key ed25519:"),
        "{text}"
    );
    assert!(text.contains("(NOT TRUSTED)"), "{text}");
}

#[test]
fn session_trail_for_an_incident_review() {
    let env = Env::new();
    populate(&env);
    let db = env.db();
    let db = db.to_str().unwrap();
    let out = expect(&env.run(&["session", "sess_A", "--db", db]), 0, "session");
    for needle in [
        "session sess_A",
        "records:         4",
        "policy versions: v1+abc",
        "Files read (1):",
        "src/main.rs",
        "Files written (1):",
        "by alice@example.com",
        "Pushes (1):",
        "origin/main",
        "Denied, rejected, timed out, failed or interrupted (1):",
        ".env denied (rule-1: because)",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    let json = expect(
        &env.run(&["session", "sess_B", "--db", db, "--json"]),
        0,
        "json",
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["commands"][0]["target"], "cargo test");
    expect(
        &env.run(&["session", "nope", "--db", db]),
        1,
        "unknown session",
    );
}

#[test]
fn database_is_found_by_flag_env_config_and_default() {
    let env = Env::new();
    populate(&env);
    let db = env.db();
    // Environment variable.
    let out = env.run_with(
        &["list", "--json"],
        &[("CORDON_EVIDENCE", db.to_str().unwrap())],
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&expect(&out, 0, "env"))
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        5
    );
    // Config file, relative to its own directory.
    let cfg_dir = env.path("conf");
    std::fs::create_dir_all(&cfg_dir).unwrap();
    std::fs::write(
        cfg_dir.join("cordon.yaml"),
        "# cordon\nevidence: ../evidence.db\n",
    )
    .unwrap();
    let cfg = cfg_dir.join("cordon.yaml");
    let out = env.run(&["list", "--json", "--config", cfg.to_str().unwrap()]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&expect(&out, 0, "config"))
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        5
    );
    // --db wins over the environment.
    let out = env.run_with(
        &["list", "--db", db.to_str().unwrap()],
        &[("CORDON_EVIDENCE", "/nonexistent.db")],
    );
    expect(&out, 0, "--db wins");
    // Default path under the data dir: nothing there yet.
    let out = env.run(&["list"]);
    expect(&out, 1, "no database");
    assert!(
        stderr(&out).contains("no evidence database at"),
        "{}",
        stderr(&out)
    );
    assert!(
        !Path::new(&env.path("xdg-data/cordon/evidence.db")).exists(),
        "listing creates nothing"
    );
    // A bad key-store setting is an error, not a silent fallback.
    let out = env.run_with(&["key"], &[("CORDON_SIGNING_KEY", "vault")]);
    expect(&out, 1, "bad CORDON_SIGNING_KEY");
    assert!(
        stderr(&out).contains("keychain` or `file:PATH"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn keychain_key_command_without_dbus_fails_closed() {
    let env = Env::new();
    let out = env.run_with(
        &["key"],
        &[
            ("CORDON_SIGNING_KEY", "keychain"),
            ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus"),
        ],
    );
    expect(&out, 1, "no keychain");
    assert!(
        stderr(&out).contains("no OS keychain reachable"),
        "{}",
        stderr(&out)
    );
}
