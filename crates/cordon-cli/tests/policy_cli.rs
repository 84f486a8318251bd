//! `cordon policy check|test|explain` through the real binary: output contract and exit codes.

// Test helpers outside #[test] functions: failing loudly is their job.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `cordon` with a clean policy environment (no $CORDON_POLICY, an empty config dir).
fn cordon(args: &[&str], config_home: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args(args)
        .current_dir(repo())
        .env_remove("CORDON_POLICY")
        .env("XDG_CONFIG_HOME", config_home)
        .env("HOME", config_home)
        .output()
        .expect("cordon runs")
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Run {
    let home = tempfile::tempdir().unwrap();
    run_in(args, home.path())
}

fn run_in(args: &[&str], home: &Path) -> Run {
    let out = cordon(args, home);
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    eprintln!(
        "$ cordon {}\nexit {}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        r.code,
        r.stdout,
        r.stderr
    );
    r
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn check_accepts_the_shipped_policies() {
    let r = run(&[
        "policy",
        "check",
        "policies/default.yaml",
        "policies/examples/strict.yaml",
        "policies/examples/seed",
    ]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.contains("ok: policies/default.yaml ("),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("rules, version v1+"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("ok: policies/examples/seed (5 rules, version v1+")
    );
    assert!(r.stderr.is_empty(), "no warnings expected: {}", r.stderr);
}

#[test]
fn seed_loads_unchanged() {
    let copy = std::fs::read(repo().join("policies/examples/seed/safety.yaml")).unwrap();
    if let Ok(original) = std::fs::read(repo().join("../shared/seed/safety.yaml")) {
        assert_eq!(
            copy, original,
            "the example must be the seed, byte for byte"
        );
    }
    let r = run(&["policy", "check", "policies/examples/seed/safety.yaml"]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout
            .starts_with("ok: policies/examples/seed/safety.yaml (5 rules, version v1+")
    );
}

/// Each error kind, with its exact `file:line:col`.
#[test]
fn check_reports_each_error_kind_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let head = "version: v1\nrules:\n  - id: r\n    decision: deny\n    reason: x\n";
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "syntax.yaml",
            "version: v1\nrules: [a\n".into(),
            "3:1: error: invalid YAML",
        ),
        (
            "tabs.yaml",
            "version: v1\nrules:\n\t- id: r\n".into(),
            "3:1: error: invalid YAML",
        ),
        (
            "unknown_key.yaml",
            format!("{head}    match:\n      topic: [\"job.mcp-bridge.read.*\"]\n"),
            "7:7: error: unknown key `topic` in match; expected one of topics, risk_tags, agents, servers, tools, paths, commands\n  help: did you mean `topics`?",
        ),
        (
            "bad_decision.yaml",
            "version: v1\nrules:\n  - id: r\n    decision: approve\n    reason: x\n".into(),
            "4:15: error: unknown decision `approve`",
        ),
        (
            "bad_pattern.yaml",
            format!("{head}    match:\n      topics: [\"job.mcp-bridge.read.f*\"]\n"),
            "7:16: error: wildcard inside token `f*`",
        ),
        (
            "bad_glob.yaml",
            format!("{head}    match:\n      tools: [\"read_[file\"]\n"),
            "7:15: error: invalid glob `read_[file`",
        ),
        (
            "bad_regex.yaml",
            format!("{head}    match:\n      commands: [\"^rm (\"]\n"),
            "7:18: error: invalid regex `^rm (`",
        ),
        (
            "duplicate_id.yaml",
            format!("{head}  - id: r\n    decision: allow\n    reason: y\n"),
            "6:9: error: duplicate rule id `r` (first defined at",
        ),
        (
            "unknown_tag.yaml",
            format!("{head}    match:\n      risk_tags: [credential]\n"),
            "7:19: error: unknown risk tag `credential`",
        ),
        (
            "missing_field.yaml",
            "version: v1\nrules:\n  - id: r\n    decision: deny\n".into(),
            "3:5: error: rule is missing `reason`",
        ),
        (
            "bad_type.yaml",
            "version: v1\nrules: {}\n".into(),
            "2:8: error: `rules` must be a list, found a mapping",
        ),
        (
            "bad_test.yaml",
            format!(
                "{head}tests:\n  - call: {{tool: read_file}}\n    expect: deny\n    rule: nope\n"
            ),
            "9:11: error: test expects rule `nope`",
        ),
        (
            "duplicate_key.yaml",
            "version: v1\nversion: v2\n".into(),
            "2:1: error: duplicate key `version`",
        ),
    ];
    for (name, text, expected) in cases {
        let path = write(dir.path(), name, &text);
        let r = run(&["policy", "check", &path]);
        assert_eq!(r.code, 1, "{name} must be refused");
        let wanted = format!("{path}:{expected}");
        assert!(
            r.stderr.contains(&wanted),
            "{name}: wanted {wanted:?} in\n{}",
            r.stderr
        );
        assert!(
            r.stdout.is_empty(),
            "{name}: nothing on stdout for an invalid policy"
        );
    }
}

#[test]
fn check_reports_non_utf8_empty_dirs_and_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.yaml");
    std::fs::write(&path, b"version: v1\ndescription: caf\xe9\n").unwrap();
    let path = path.display().to_string();
    let r = run(&["policy", "check", &path]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains(&format!(
        "{path}:2:17: error: policy file is not valid UTF-8"
    )));

    let empty = tempfile::tempdir().unwrap();
    let empty_path = empty.path().display().to_string();
    let r = run(&["policy", "check", &empty_path]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no policy files"), "{}", r.stderr);

    // A topic that can match nothing is a warning: printed, but the policy is ok.
    let warn = write(
        dir.path(),
        "warn.yaml",
        "version: v1\nrules:\n  - id: r\n    match: {topics: [\"read.*\"]}\n    decision: allow\n    reason: x\n",
    );
    let r = run(&["policy", "check", &warn]);
    assert_eq!(r.code, 0);
    assert!(
        r.stderr
            .contains(&format!("{warn}:4:22: warning: topic pattern `read.*`"))
    );
    assert!(r.stdout.contains("ok: "));
}

#[test]
fn check_directory_finds_duplicate_ids_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let rule = "version: v1\nrules:\n  - id: same\n    decision: deny\n    reason: x\n";
    let a = write(dir.path(), "a.yaml", rule);
    let b = write(dir.path(), "b.yml", rule);
    let r = run(&["policy", "check", &dir.path().display().to_string()]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(&format!(
            "{b}:3:9: error: duplicate rule id `same` (first defined at {a}:3:9)"
        )),
        "{}",
        r.stderr
    );
}

#[test]
fn test_runs_the_shipped_policies_tests() {
    let r = run(&[
        "policy",
        "test",
        "policies/default.yaml",
        "policies/examples/seed",
        "policies/examples/strict.yaml",
    ]);
    assert_eq!(r.code, 0);
    let last = r.stdout.lines().last().unwrap_or("");
    assert!(last.ends_with(" passed, 0 failed"), "{last}");
    let passed: usize = last.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 50, "{passed}");
}

#[test]
fn test_prints_each_failure_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "p.yaml",
        "version: v1\nrules:\n  - id: deny-all\n    decision: deny\n    reason: locked\ntests:\n  - name: reads should pass\n    call: {tool: read_file, args: {path: README.md}}\n    expect: allow\n  - call: {tool: read_file}\n    expect: deny\n    rule: deny-all\n",
    );
    let r = run(&["policy", "test", &path]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .contains(&format!("FAIL {path}:7:5 reads should pass")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("\"tool\":\"read_file\""));
    assert!(r.stdout.contains("expected: allow"));
    assert!(r.stdout.contains("actual:   deny (rule deny-all"));
    assert_eq!(r.stdout.lines().last(), Some("1 passed, 1 failed"));
}

#[test]
fn test_with_an_invalid_policy_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "p.yaml", "version: v1\nrules: [\n");
    let r = run(&["policy", "test", &path]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains(&format!("{path}:")));
    assert_eq!(r.stdout.lines().last(), Some("0 passed, 0 failed"));
}

fn explain_json(r: &Run) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::from_str(&r.stdout) {
        Ok(serde_json::Value::Object(map)) => map,
        other => panic!("explain must print one JSON object, got {other:?}"),
    }
}

#[test]
fn explain_prints_one_json_object() {
    let r = run(&[
        "policy",
        "explain",
        "--policy",
        "policies/examples/seed/safety.yaml",
        "--server",
        "filesystem",
        "--tool",
        "read_file",
        "--args",
        r#"{"path": "./.env"}"#,
    ]);
    assert_eq!(r.code, 0);
    let json = explain_json(&r);
    let keys: Vec<&str> = json.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "topic",
            "risk_tags",
            "decision",
            "rule",
            "reason",
            "policy_version"
        ]
    );
    assert_eq!(json["topic"], "job.mcp-bridge.read.env");
    assert_eq!(json["decision"], "deny");
    assert_eq!(json["rule"], "deny-secrets-access");
    assert!(
        json["risk_tags"]
            .as_array()
            .unwrap()
            .contains(&"credentials".into())
    );
    assert!(json["policy_version"].as_str().unwrap().starts_with("v1+"));
}

#[test]
fn explain_defaults_to_the_shipped_policy_then_the_user_directory() {
    let home = tempfile::tempdir().unwrap();
    let args = [
        "policy",
        "explain",
        "--tool",
        "run_command",
        "--args",
        r#"{"command": "cd infra && terraform destroy"}"#,
    ];
    let r = run_in(&args, home.path());
    assert_eq!(r.code, 0);
    let json = explain_json(&r);
    assert_eq!(json["decision"], "deny");
    assert_eq!(json["rule"], "deny-infra-destruction");
    let check = run(&["policy", "check", "policies/default.yaml"]);
    let version = json["policy_version"].as_str().unwrap();
    assert!(
        check.stdout.contains(&format!("version {version})")),
        "{}",
        check.stdout
    );

    // A user policy directory takes over.
    let policies = home.path().join("cordon").join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    write(
        &policies,
        "mine.yaml",
        "version: mine\ndefault_decision: allow\n",
    );
    let r = run_in(&args, home.path());
    let json = explain_json(&r);
    assert_eq!(json["decision"], "allow");
    assert_eq!(json["rule"], serde_json::Value::Null);
    assert!(
        json["policy_version"]
            .as_str()
            .unwrap()
            .starts_with("mine+")
    );

    // A broken user policy is a finding, never a silent fallback to something more permissive.
    write(
        &policies,
        "mine.yaml",
        "version: mine\ndefault_decision: maybe\n",
    );
    let r = run_in(&args, home.path());
    assert_eq!(r.code, 1);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr
            .contains("mine.yaml:2:19: error: unknown decision `maybe`"),
        "{}",
        r.stderr
    );
}

#[test]
fn explain_usage_errors_exit_2() {
    for bad in ["{not json", "[1, 2]", "\"path\""] {
        let r = run(&["policy", "explain", "--tool", "read_file", "--args", bad]);
        assert_eq!(r.code, 2, "{bad}");
        assert!(r.stderr.contains("--args"), "{}", r.stderr);
        assert!(r.stdout.is_empty());
    }
    let r = run(&["policy", "explain", "--args", "{}"]);
    assert_eq!(r.code, 2, "--tool is required");
    let r = run(&["policy", "check"]);
    assert_eq!(r.code, 2, "a path is required");
}
