//! The shipped policies and examples, through the real classifier: their own tests pass, the
//! seed policy loads unchanged and means what the article says.

// Test helpers outside #[test] functions: failing loudly is their job.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

use cordon_policy::{Decision, Policy, ToolCall};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn load(relative: &str) -> Policy {
    let path = repo().join(relative);
    match Policy::load(&path) {
        Ok(p) => p,
        Err(e) => panic!("{relative} should load:\n{e}"),
    }
}

fn assert_tests_pass(policy: &Policy, what: &str) {
    let report = policy.run_tests();
    let shown: Vec<String> = report.failures.iter().map(ToString::to_string).collect();
    assert!(
        report.is_success(),
        "{what}: {report}\n{}",
        shown.join("\n")
    );
    assert!(
        report.passed >= 10,
        "{what} should carry real tests, has {}",
        report.passed
    );
}

#[test]
fn shipped_default_tests_pass() {
    let policy = Policy::shipped_default();
    assert!(policy.warnings().is_empty(), "{:?}", policy.warnings());
    assert_tests_pass(&policy, "shipped default");
}

#[test]
fn every_default_rule_is_exercised_by_a_test() {
    let text = std::fs::read_to_string(repo().join("policies/default.yaml")).unwrap();
    let policy = Policy::shipped_default();
    for id in policy.rule_ids() {
        assert!(
            text.contains(&format!("rule: {id}\n")),
            "rule {id} has no test naming it"
        );
    }
}

#[test]
fn strict_example_tests_pass() {
    let policy = load("policies/examples/strict.yaml");
    assert!(policy.warnings().is_empty(), "{:?}", policy.warnings());
    assert_eq!(policy.default_decision(), Decision::Deny);
    assert_tests_pass(&policy, "strict example");
}

#[test]
fn seed_example_tests_pass() {
    let policy = load("policies/examples/seed");
    assert_tests_pass(&policy, "seed example");
}

#[test]
fn seed_copy_is_byte_identical_when_the_original_is_available() {
    let original = repo().join("../shared/seed/safety.yaml");
    let copy = std::fs::read(repo().join("policies/examples/seed/safety.yaml")).unwrap();
    if let Ok(original) = std::fs::read(&original) {
        assert_eq!(
            original, copy,
            "policies/examples/seed/safety.yaml must equal the seed"
        );
    }
    // The seed alone loads unchanged, without warnings, and fails closed by default.
    let alone = load("policies/examples/seed/safety.yaml");
    assert!(alone.warnings().is_empty(), "{:?}", alone.warnings());
    assert_eq!(alone.default_decision(), Decision::RequireApproval);
    assert!(alone.version().starts_with("v1+"));
}

fn call(server: &str, tool: &str, args: serde_json::Value) -> ToolCall {
    ToolCall {
        agent: "claude-code".into(),
        server: server.into(),
        tool: tool.into(),
        args,
    }
}

fn shell(command: &str) -> ToolCall {
    call(
        "shell",
        "run_command",
        serde_json::json!({ "command": command }),
    )
}

/// The article's five behaviours, on the seed file alone.
#[test]
fn seed_five_behaviours() {
    let seed = load("policies/examples/seed/safety.yaml");
    let cases: Vec<(&str, ToolCall, Decision, Option<&str>)> = vec![
        (
            "reads pass",
            call(
                "filesystem",
                "read_file",
                serde_json::json!({"path": "src/main.rs"}),
            ),
            Decision::Allow,
            Some("allow-code-read"),
        ),
        (
            "file write needs approval",
            call(
                "filesystem",
                "write_file",
                serde_json::json!({"path": "a.rs", "content": ""}),
            ),
            Decision::RequireApproval,
            Some("approve-code-write"),
        ),
        (
            "push needs approval",
            shell("git push"),
            Decision::RequireApproval,
            Some("approve-git-push"),
        ),
        (
            "terraform destroy denied",
            shell("terraform destroy"),
            Decision::Deny,
            Some("deny-infra-destroy"),
        ),
        (
            "kubectl delete denied",
            shell("kubectl delete pod x"),
            Decision::Deny,
            Some("deny-infra-destroy"),
        ),
        (
            ".env read denied although read.* allows",
            call(
                "filesystem",
                "read_file",
                serde_json::json!({"path": ".env"}),
            ),
            Decision::Deny,
            Some("deny-secrets-access"),
        ),
    ];
    for (name, call, decision, rule) in cases {
        let v = seed.evaluate(&call);
        assert_eq!(
            (v.decision, v.rule_id.as_deref()),
            (decision, rule),
            "{name}: topic {} tags {:?}: {}",
            v.classification.topic,
            v.classification.risk_tags,
            v.reason
        );
    }
}

/// Disguises from the issue, judged by the default policy.
#[test]
fn default_policy_sees_through_disguises() {
    let policy = Policy::shipped_default();
    let cases = [
        ("bash -c 'cat .env'", Decision::Deny),
        ("sh -c 'sh -c \"cat .env\"'", Decision::Deny),
        ("ls && cat a/../.env", Decision::Deny),
        ("true; cat ./.env", Decision::Deny),
        ("false || cat .//.env", Decision::Deny),
        ("cat ~/.netrc", Decision::Deny),
        ("export -p", Decision::Deny),
        ("echo hi | cat .env", Decision::Deny),
        ("env X=1 printenv", Decision::Deny),
        ("sudo cat /proc/1/environ", Decision::Deny),
        ("nohup cat ~/.ssh/id_rsa", Decision::Deny),
        ("git push -f", Decision::Deny),
        ("git push --force origin main", Decision::Deny),
        ("git push --force-with-lease", Decision::Deny),
        ("git push origin +main", Decision::Deny),
        ("git -C dir push -f", Decision::Deny),
        ("git -c user.name=x push --mirror", Decision::Deny),
        ("/usr/bin/git push --delete origin old", Decision::Deny),
        ("cd infra && terraform destroy", Decision::Deny),
        ("(cd infra; terraform destroy)", Decision::Deny),
        ("terraform apply -destroy", Decision::Deny),
        ("time kubectl delete ns prod", Decision::Deny),
        ("ls && rm -rf x", Decision::RequireApproval),
        ("git push", Decision::RequireApproval),
        ("cat 'unterminated", Decision::RequireApproval),
        ("ls -la", Decision::Allow),
    ];
    let mut failures = Vec::new();
    for (command, expected) in cases {
        let v = policy.evaluate(&shell(command));
        if v.decision != expected {
            failures.push(format!(
                "{command:?}: expected {expected}, got {} (topic {}, rule {:?})",
                v.decision, v.classification.topic, v.rule_id
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn user_classifiers_feed_the_rules() {
    let text = r#"
version: v1
classifiers:
  - tool: "deploy_*"
    server: "ci"
    args: {"/env": "^prod"}
    topic: job.mcp-bridge.deploy.production
    risk_tags: [release]
rules:
  - id: deny-prod-release
    match: {topics: ["job.mcp-bridge.deploy.*"], risk_tags: [release]}
    decision: deny
    reason: production releases are manual
"#;
    let policy = Policy::from_sources(&[cordon_policy::Source {
        name: "p.yaml".into(),
        text: text.into(),
    }])
    .unwrap();
    assert!(policy.warnings().is_empty(), "{:?}", policy.warnings());
    let v = policy.evaluate(&call(
        "ci",
        "deploy_app",
        serde_json::json!({"env": "production"}),
    ));
    assert_eq!(v.classification.topic, "job.mcp-bridge.deploy.production");
    assert_eq!(
        (v.decision, v.rule_id.as_deref()),
        (Decision::Deny, Some("deny-prod-release"))
    );
    let v = policy.evaluate(&call(
        "ci",
        "deploy_app",
        serde_json::json!({"env": "staging"}),
    ));
    assert_ne!(v.decision, Decision::Allow);
    assert_ne!(v.rule_id.as_deref(), Some("deny-prod-release"));
}
