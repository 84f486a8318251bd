//! Unit tests: evaluation semantics as a table (classifications built by hand, so these do not
//! depend on the classifier), and every diagnostic kind with its line and column.

use std::collections::BTreeSet;

use cordon_classify::Part;

use super::*;

const PREFIX: &str = "job.mcp-bridge.";

fn part(topic: &str, tags: &[&str], paths: &[&str], command: Option<&str>) -> Part {
    Part {
        topic: format!("{PREFIX}{topic}"),
        risk_tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        command: command.map(|c| c.split(' ').map(str::to_owned).collect()),
        writes: vec![],
    }
}

/// A classification whose primary topic is `primary` and whose tags are the parts' union.
fn cls(primary: &str, parts: Vec<Part>) -> Classification {
    let risk_tags: BTreeSet<String> = parts.iter().flat_map(|p| p.risk_tags.clone()).collect();
    Classification {
        topic: format!("{PREFIX}{primary}"),
        risk_tags,
        target: None,
        parts,
        diagnostics: vec![],
    }
}

fn call(agent: &str, server: &str, tool: &str) -> ToolCall {
    ToolCall {
        agent: agent.into(),
        server: server.into(),
        tool: tool.into(),
        args: serde_json::json!({}),
    }
}

fn policy(text: &str) -> Policy {
    match Policy::from_sources(&[Source {
        name: "p.yaml".into(),
        text: text.into(),
    }]) {
        Ok(p) => p,
        Err(e) => panic!("policy should load:\n{e}"),
    }
}

const EVAL_POLICY: &str = r#"
version: t1
rules:
  - id: allow-read
    match: {topics: ["job.mcp-bridge.read.*"]}
    decision: allow
    reason: reads pass
  - id: deny-env
    match: {topics: ["job.mcp-bridge.read.env"], risk_tags: [credentials]}
    decision: deny
    reason: no secrets
  - id: allow-ls
    match: {topics: ["job.mcp-bridge.exec.shell"], commands: ["^ls( |$)", "^echo "]}
    decision: allow
    reason: harmless commands
  - id: deny-rm-rf
    match: {commands: ["^rm -rf"]}
    decision: deny
    reason: no recursive removal
  - id: allow-workspace-writes
    match: {topics: ["job.mcp-bridge.write.file"], paths: ["/work/**"], agents: ["trusted-*"]}
    decision: allow
    reason: trusted agents write in the workspace
  - id: approve-moves
    match: {topics: ["job.mcp-bridge.write.move", "job.mcp-bridge.write.remove"]}
    decision: require_approval
    reason: moves and removals are reviewed
  - id: deny-etc
    match: {paths: ["/etc/**"]}
    decision: deny
    reason: system files
  - id: approve-github-create
    match: {servers: ["github"], tools: ["create_*"]}
    decision: require_approval
    reason: creating things on GitHub is reviewed
  - id: empty-lists-add-nothing
    match: {topics: ["job.mcp-bridge.net.fetch"], risk_tags: [], paths: []}
    decision: allow
    reason: fetches pass
"#;

struct Case {
    name: &'static str,
    call: ToolCall,
    classification: Classification,
    decision: Decision,
    rule: Option<&'static str>,
}

fn eval_cases() -> Vec<Case> {
    use Decision::*;
    let anyone = || call("claude-code", "filesystem", "read_file");
    vec![
        Case {
            name: "plain read passes",
            call: anyone(),
            classification: cls(
                "read.file",
                vec![part("read.file", &[], &["/work/a.rs"], None)],
            ),
            decision: Allow,
            rule: Some("allow-read"),
        },
        Case {
            name: "read.env with credentials matches allow and deny: deny wins",
            call: anyone(),
            classification: cls(
                "read.env",
                vec![part("read.env", &["credentials"], &["/work/.env"], None)],
            ),
            decision: Deny,
            rule: Some("deny-env"),
        },
        Case {
            name: "risk_tags is a condition: read.env without the tag is only a read",
            call: anyone(),
            classification: cls("read.env", vec![part("read.env", &[], &[], None)]),
            decision: Allow,
            rule: Some("allow-read"),
        },
        Case {
            name: "allowlisted command passes",
            call: call("a", "shell", "run_command"),
            classification: cls(
                "exec.shell",
                vec![part("exec.shell", &["exec"], &[], Some("ls -la"))],
            ),
            decision: Allow,
            rule: Some("allow-ls"),
        },
        Case {
            name: "ls && rm -rf x: the rm part is denied",
            call: call("a", "shell", "run_command"),
            classification: cls(
                "exec.shell",
                vec![
                    part("exec.shell", &["exec"], &[], Some("ls")),
                    part(
                        "exec.shell",
                        &["exec", "destructive"],
                        &[],
                        Some("rm -rf x"),
                    ),
                ],
            ),
            decision: Deny,
            rule: Some("deny-rm-rf"),
        },
        Case {
            name: "ls && make: make matches nothing, so the default applies",
            call: call("a", "shell", "run_command"),
            classification: cls(
                "exec.shell",
                vec![
                    part("exec.shell", &["exec"], &[], Some("ls")),
                    part("exec.shell", &["exec"], &[], Some("make")),
                ],
            ),
            decision: RequireApproval,
            rule: None,
        },
        Case {
            name: "ls && echo hi: every command allowlisted",
            call: call("a", "shell", "run_command"),
            classification: cls(
                "exec.shell",
                vec![
                    part("exec.shell", &["exec"], &[], Some("ls")),
                    part("exec.shell", &["exec"], &[], Some("echo hi")),
                ],
            ),
            decision: Allow,
            rule: Some("allow-ls"),
        },
        Case {
            name: "cat README && cat .env: the part's own topic is judged",
            call: call("a", "shell", "run_command"),
            classification: cls(
                "read.env",
                vec![
                    part("read.file", &[], &["/work/README"], Some("cat README")),
                    part(
                        "read.env",
                        &["credentials"],
                        &["/work/.env"],
                        Some("cat .env"),
                    ),
                ],
            ),
            decision: Deny,
            rule: Some("deny-env"),
        },
        Case {
            name: "allow rule with paths: every path inside, trusted agent",
            call: call("trusted-bot", "filesystem", "write_file"),
            classification: cls(
                "write.file",
                vec![part(
                    "write.file",
                    &["code-change"],
                    &["/work/a.rs", "/work/b/c.rs"],
                    None,
                )],
            ),
            decision: Allow,
            rule: Some("allow-workspace-writes"),
        },
        Case {
            name: "allow rule with paths: one path outside is not allowed",
            call: call("trusted-bot", "filesystem", "write_file"),
            classification: cls(
                "write.file",
                vec![part(
                    "write.file",
                    &["code-change"],
                    &["/work/a.rs", "/tmp/x"],
                    None,
                )],
            ),
            decision: RequireApproval,
            rule: None,
        },
        Case {
            name: "allow rule with paths never matches a unit without paths",
            call: call("trusted-bot", "filesystem", "write_file"),
            classification: cls(
                "write.file",
                vec![part("write.file", &["code-change"], &[], None)],
            ),
            decision: RequireApproval,
            rule: None,
        },
        Case {
            name: "agents glob: an untrusted agent does not get the allow",
            call: call("claude-code", "filesystem", "write_file"),
            classification: cls(
                "write.file",
                vec![part("write.file", &["code-change"], &["/work/a.rs"], None)],
            ),
            decision: RequireApproval,
            rule: None,
        },
        Case {
            name: "deny rule with paths: any path matching is enough",
            call: call("trusted-bot", "filesystem", "write_file"),
            classification: cls(
                "write.file",
                vec![part(
                    "write.file",
                    &["code-change"],
                    &["/work/a.rs", "/etc/hosts"],
                    None,
                )],
            ),
            decision: Deny,
            rule: Some("deny-etc"),
        },
        Case {
            name: "ties between deny rules go to the first in order",
            call: call("a", "shell", "run_command"),
            classification: cls(
                "exec.shell",
                vec![part(
                    "exec.shell",
                    &["exec"],
                    &["/etc/x"],
                    Some("rm -rf /etc/x"),
                )],
            ),
            decision: Deny,
            rule: Some("deny-rm-rf"),
        },
        Case {
            name: "servers and tools globs",
            call: call("a", "github", "create_issue"),
            classification: cls(
                "tool.github.create_issue",
                vec![part("tool.github.create_issue", &[], &[], None)],
            ),
            decision: RequireApproval,
            rule: Some("approve-github-create"),
        },
        Case {
            name: "tools glob does not match another tool",
            call: call("a", "github", "list_issues"),
            classification: cls(
                "tool.github.list_issues",
                vec![part("tool.github.list_issues", &[], &[], None)],
            ),
            decision: RequireApproval,
            rule: None,
        },
        Case {
            name: "empty lists add no condition",
            call: call("a", "web", "fetch"),
            classification: cls(
                "net.fetch",
                vec![part("net.fetch", &["network"], &[], None)],
            ),
            decision: Allow,
            rule: Some("empty-lists-add-nothing"),
        },
        Case {
            name: "a move is reviewed even when a path would be allowed",
            call: call("trusted-bot", "filesystem", "move_file"),
            classification: cls(
                "write.move",
                vec![part(
                    "write.move",
                    &["code-change"],
                    &["/work/a", "/work/b"],
                    None,
                )],
            ),
            decision: RequireApproval,
            rule: Some("approve-moves"),
        },
        Case {
            name: "no parts at all (defensive): the whole is still judged",
            call: anyone(),
            classification: cls("write.remove", vec![]),
            decision: RequireApproval,
            rule: Some("approve-moves"),
        },
    ]
}

#[test]
fn evaluation_table() {
    let p = policy(EVAL_POLICY);
    let mut failures = Vec::new();
    for case in eval_cases() {
        let verdict = p.evaluate_classified(&case.call, case.classification.clone());
        if verdict.decision != case.decision || verdict.rule_id.as_deref() != case.rule {
            failures.push(format!(
                "{}: expected {} {:?}, got {} {:?} ({})",
                case.name,
                case.decision,
                case.rule,
                verdict.decision,
                verdict.rule_id,
                verdict.reason
            ));
        }
        assert_eq!(verdict.policy_version, p.version());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn default_decision_applies_and_explains_itself() {
    for (text, expected) in [
        ("version: v1\n", Decision::RequireApproval),
        ("version: v1\ndefault_decision: deny\n", Decision::Deny),
        ("version: v1\ndefault_decision: allow\n", Decision::Allow),
    ] {
        let p = policy(text);
        let v = p.evaluate_classified(
            &call("a", "s", "t"),
            cls(
                "exec.shell",
                vec![part("exec.shell", &["exec"], &[], Some("make"))],
            ),
        );
        assert_eq!(v.decision, expected);
        assert_eq!(v.rule_id, None);
        assert_eq!(
            v.reason,
            format!("no rule matched; default decision {expected}")
        );
    }
}

#[test]
fn rule_without_match_matches_everything() {
    let p = policy(
        "version: v1\ndefault_decision: allow\nrules:\n  - id: all\n    decision: deny\n    reason: lockdown\n",
    );
    let v = p.evaluate_classified(
        &call("a", "s", "t"),
        cls("read.file", vec![part("read.file", &[], &[], None)]),
    );
    assert_eq!(
        (v.decision, v.rule_id.as_deref()),
        (Decision::Deny, Some("all"))
    );
}

#[test]
fn decision_order_and_spelling() {
    assert!(Decision::Allow < Decision::RequireApproval);
    assert!(Decision::RequireApproval < Decision::Deny);
    assert_eq!(Decision::RequireApproval.to_string(), "require_approval");
    assert_eq!(
        serde_json::to_string(&Decision::RequireApproval).unwrap(),
        "\"require_approval\""
    );
}

#[test]
fn policy_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Policy>();
}

// ---------------------------------------------------------------------------------------------
// Versions

#[test]
fn version_is_label_plus_content_hash() {
    let a = policy("version: v1\n");
    let b = policy("version: v1\n# changed\n");
    assert!(a.version().starts_with("v1+"));
    assert_eq!(a.version().len(), "v1+".len() + 12);
    assert_ne!(a.version(), b.version());
    assert_eq!(a.version(), policy("version: v1\n").version());
    let renamed = Policy::from_sources(&[Source {
        name: "other.yaml".into(),
        text: "version: v1\n".into(),
    }])
    .unwrap();
    assert_ne!(a.version(), renamed.version());
    // Only the basename counts: the same file seen through another directory is the same policy.
    let moved = Policy::from_sources(&[Source {
        name: "/somewhere/else/p.yaml".into(),
        text: "version: v1\n".into(),
    }])
    .unwrap();
    assert_eq!(a.version(), moved.version());
}

#[test]
fn shipped_default_loads_and_matches_the_file() {
    let shipped = Policy::shipped_default();
    assert!(shipped.warnings().is_empty(), "{:?}", shipped.warnings());
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/default.yaml");
    let from_file = Policy::load(&path).unwrap();
    assert_eq!(shipped.version(), from_file.version());
}

// ---------------------------------------------------------------------------------------------
// Diagnostics: every kind, with its line and column.

fn diagnostics(sources: &[(&str, &str)]) -> Vec<Diagnostic> {
    let sources: Vec<Source> = sources
        .iter()
        .map(|(n, t)| Source {
            name: (*n).into(),
            text: (*t).into(),
        })
        .collect();
    match Policy::from_sources(&sources) {
        Ok(p) => p.warnings().to_vec(),
        Err(e) => e.diagnostics,
    }
}

/// Asserts that a diagnostic of `kind` is reported at `file:line:col` and returns it.
#[track_caller]
fn expect_diag(
    diags: &[Diagnostic],
    kind: DiagnosticKind,
    file: &str,
    line: usize,
    column: usize,
) -> Diagnostic {
    match diags
        .iter()
        .find(|d| d.kind == kind && d.file == file && d.line == line && d.column == column)
    {
        Some(d) => d.clone(),
        None => panic!(
            "expected {kind:?} at {file}:{line}:{column}, got:\n{}",
            diags
                .iter()
                .map(|d| format!("{:?} {d}", d.kind))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

const RULE_HEAD: &str = "version: v1\nrules:\n  - id: r\n    decision: deny\n    reason: x\n";

#[test]
fn syntax_error_location() {
    let d = diagnostics(&[("p.yaml", "version: v1\nrules: [a, b\n")]);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].kind, DiagnosticKind::Syntax);
    assert_eq!(d[0].line, 3);
    assert!(
        d[0].to_string()
            .starts_with("p.yaml:3:1: error: invalid YAML"),
        "{}",
        d[0]
    );
}

#[test]
fn unknown_key_with_suggestion() {
    let text = format!("{RULE_HEAD}    match:\n      topic: [\"job.mcp-bridge.read.*\"]\n");
    let d = diagnostics(&[("p.yaml", &text)]);
    let diag = expect_diag(&d, DiagnosticKind::UnknownKey, "p.yaml", 7, 7);
    assert_eq!(
        diag.message,
        "unknown key `topic` in match; expected one of topics, risk_tags, agents, servers, tools, paths, commands"
    );
    assert_eq!(diag.help.as_deref(), Some("did you mean `topics`?"));
    let d = diagnostics(&[("p.yaml", "version: v1\nrule: []\n")]);
    let diag = expect_diag(&d, DiagnosticKind::UnknownKey, "p.yaml", 2, 1);
    assert_eq!(diag.help.as_deref(), Some("did you mean `rules`?"));
}

#[test]
fn bad_decision_with_suggestion() {
    let d = diagnostics(&[(
        "p.yaml",
        "version: v1\nrules:\n  - id: r\n    decision: approve\n    reason: x\n",
    )]);
    let diag = expect_diag(&d, DiagnosticKind::BadDecision, "p.yaml", 4, 15);
    assert_eq!(
        diag.help.as_deref(),
        Some("did you mean `require_approval`?")
    );
    let d = diagnostics(&[("p.yaml", "version: v1\ndefault_decision: alow\n")]);
    let diag = expect_diag(&d, DiagnosticKind::BadDecision, "p.yaml", 2, 19);
    assert_eq!(diag.help.as_deref(), Some("did you mean `allow`?"));
}

#[test]
fn bad_topic_pattern() {
    let text = format!("{RULE_HEAD}    match:\n      topics: [\"job.mcp-bridge.read.f*\"]\n");
    let d = diagnostics(&[("p.yaml", &text)]);
    expect_diag(&d, DiagnosticKind::BadPattern, "p.yaml", 7, 16);
    let text = format!("{RULE_HEAD}    match:\n      topics:\n        - job.>.read\n");
    let d = diagnostics(&[("p.yaml", &text)]);
    expect_diag(&d, DiagnosticKind::BadPattern, "p.yaml", 8, 11);
}

#[test]
fn topic_that_matches_nothing_is_a_warning_only() {
    let text = format!("{RULE_HEAD}    match:\n      topics: [\"read.*\"]\n");
    let sources = [Source {
        name: "p.yaml".into(),
        text,
    }];
    let p = Policy::from_sources(&sources).unwrap();
    let w = expect_diag(p.warnings(), DiagnosticKind::BadPattern, "p.yaml", 7, 16);
    assert_eq!(w.severity, Severity::Warning);
    assert_eq!(
        w.help.as_deref(),
        Some("did you mean `job.mcp-bridge.read.*`?")
    );
    assert!(w.to_string().starts_with("p.yaml:7:16: warning: "));
    // Unknown upstream tools and wildcards over known topics do not warn.
    let text = format!(
        "{RULE_HEAD}    match:\n      topics: [\"job.mcp-bridge.tool.github.>\", \"job.mcp-bridge.*.destroy\", \">\"]\n"
    );
    assert!(policy(&text).warnings().is_empty());
}

#[test]
fn bad_glob() {
    let text = format!("{RULE_HEAD}    match:\n      tools: [\"ok_*\", \"read_[file\"]\n");
    let d = diagnostics(&[("p.yaml", &text)]);
    let diag = expect_diag(&d, DiagnosticKind::BadGlob, "p.yaml", 7, 23);
    assert!(diag.message.contains("read_[file"));
}

#[test]
fn bad_regex() {
    let text = format!("{RULE_HEAD}    match:\n      commands:\n        - \"^rm (\"\n");
    let d = diagnostics(&[("p.yaml", &text)]);
    let diag = expect_diag(&d, DiagnosticKind::BadRegex, "p.yaml", 8, 11);
    assert!(diag.message.contains("unclosed group"), "{}", diag.message);
}

#[test]
fn duplicate_id_within_and_across_files() {
    let d = diagnostics(&[
        ("a.yaml", RULE_HEAD),
        (
            "b.yaml",
            "version: v1\nrules:\n  - id: q\n    decision: deny\n    reason: x\n  - id: r\n    decision: allow\n    reason: y\n",
        ),
    ]);
    let diag = expect_diag(&d, DiagnosticKind::DuplicateId, "b.yaml", 6, 9);
    assert!(
        diag.message.contains("first defined at a.yaml:3:9"),
        "{}",
        diag.message
    );
}

#[test]
fn unknown_risk_tag_with_suggestion() {
    let text = format!("{RULE_HEAD}    match:\n      risk_tags: [credential]\n");
    let d = diagnostics(&[("p.yaml", &text)]);
    let diag = expect_diag(&d, DiagnosticKind::UnknownRiskTag, "p.yaml", 7, 19);
    assert_eq!(diag.help.as_deref(), Some("did you mean `credentials`?"));
}

#[test]
fn risk_tags_declared_by_classifiers_are_known() {
    let text = format!(
        "{RULE_HEAD}    match:\n      risk_tags: [release]\nclassifiers:\n  - tool: publish_*\n    topic: job.mcp-bridge.deploy.release\n    risk_tags: [release]\n"
    );
    let p = policy(&text);
    assert_eq!(p.rule_count(), 1);
    let text = format!(
        "{RULE_HEAD}    match:\n      topics: [job.mcp-bridge.deploy.*]\nclassifiers:\n  - tool: publish_*\n    topic: job.mcp-bridge.deploy.release\n"
    );
    assert!(
        policy(&text).warnings().is_empty(),
        "classifier topics are known topics"
    );
}

#[test]
fn missing_fields() {
    let d = diagnostics(&[("p.yaml", "rules: []\n")]);
    expect_diag(&d, DiagnosticKind::MissingField, "p.yaml", 1, 1);
    let d = diagnostics(&[("p.yaml", "")]);
    expect_diag(&d, DiagnosticKind::MissingField, "p.yaml", 1, 1);
    let d = diagnostics(&[(
        "p.yaml",
        "version: v1\nrules:\n  - id: r\n    decision: deny\n",
    )]);
    let diag = expect_diag(&d, DiagnosticKind::MissingField, "p.yaml", 3, 5);
    assert_eq!(diag.message, "rule is missing `reason`");
}

#[test]
fn bad_types() {
    let d = diagnostics(&[("p.yaml", "version: v1\nrules: {}\n")]);
    expect_diag(&d, DiagnosticKind::BadType, "p.yaml", 2, 8);
    let text = format!("{RULE_HEAD}    match:\n      topics: job.mcp-bridge.read.*\n");
    let d = diagnostics(&[("p.yaml", &text)]);
    expect_diag(&d, DiagnosticKind::BadType, "p.yaml", 7, 15);
    let d = diagnostics(&[("p.yaml", "- version\n")]);
    expect_diag(&d, DiagnosticKind::BadType, "p.yaml", 1, 1);
}

#[test]
fn bad_tests() {
    let text = format!(
        "{RULE_HEAD}tests:\n  - call: {{tool: read_file}}\n    expect: deny\n    rule: rr\n  - call: {{tool: read_file, args: [1]}}\n    expect: deny\n"
    );
    let d = diagnostics(&[("p.yaml", &text)]);
    let diag = expect_diag(&d, DiagnosticKind::BadTest, "p.yaml", 9, 11);
    assert_eq!(diag.help.as_deref(), Some("did you mean `r`?"));
    expect_diag(&d, DiagnosticKind::BadTest, "p.yaml", 10, 35);
    let text = format!("{RULE_HEAD}tests:\n  - call: {{server: x}}\n    expect: maybe\n");
    let d = diagnostics(&[("p.yaml", &text)]);
    expect_diag(&d, DiagnosticKind::MissingField, "p.yaml", 7, 11);
    expect_diag(&d, DiagnosticKind::BadDecision, "p.yaml", 8, 13);
}

#[test]
fn duplicate_key_and_limits() {
    let d = diagnostics(&[("p.yaml", "version: v1\nversion: v2\n")]);
    expect_diag(&d, DiagnosticKind::DuplicateKey, "p.yaml", 2, 1);
    let deep = format!(
        "version: v1\ndescription: {}{}\n",
        "[".repeat(100),
        "]".repeat(100)
    );
    let d = diagnostics(&[("p.yaml", &deep)]);
    assert!(d.iter().any(|d| d.is_error()), "{d:?}");
}

#[test]
fn many_errors_in_one_pass() {
    let text = "version: v1\nrules:\n  - id: a\n    decision: nope\n    reason: x\n  - id: a\n    match: {topicz: []}\n    decision: deny\n    reason: y\n  - id: c\n    match: {commands: [\"(\"], risk_tags: [bogus]}\n    decision: deny\n    reason: z\n";
    let d = diagnostics(&[("p.yaml", text)]);
    let kinds: BTreeSet<String> = d.iter().map(|d| format!("{:?}", d.kind)).collect();
    for kind in [
        "BadDecision",
        "UnknownKey",
        "DuplicateId",
        "BadRegex",
        "UnknownRiskTag",
    ] {
        assert!(kinds.contains(kind), "missing {kind} in {kinds:?}");
    }
}

#[test]
fn io_errors_and_directories() {
    let dir = tempfile::tempdir().unwrap();
    let err = Policy::load(dir.path()).unwrap_err();
    assert_eq!(err.diagnostics[0].kind, DiagnosticKind::Io);
    let err = Policy::load(&dir.path().join("missing.yaml")).unwrap_err();
    assert_eq!(err.diagnostics[0].kind, DiagnosticKind::Io);

    std::fs::write(dir.path().join("b.yaml"), "version: second\nrules: []\n").unwrap();
    std::fs::write(dir.path().join("a.yml"), "version: first\nrules: []\n").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a policy").unwrap();
    std::fs::create_dir(dir.path().join("sub.yaml")).unwrap();
    let p = Policy::load(dir.path()).unwrap();
    assert!(p.version().starts_with("first+"), "{}", p.version());
    assert_eq!(p.sources().len(), 2);
    assert!(p.sources()[0].name.ends_with("a.yml"));
}

#[test]
fn non_utf8_file_is_a_located_syntax_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.yaml");
    std::fs::write(&path, b"version: v1\nrules: [\xff]\n").unwrap();
    let err = Policy::load(&path).unwrap_err();
    let d = &err.diagnostics[0];
    assert_eq!((d.kind, d.line, d.column), (DiagnosticKind::Syntax, 2, 9));
}

#[test]
fn oversized_file_on_disk_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.yaml");
    std::fs::write(&path, vec![b'#'; MAX_FILE_BYTES + 10]).unwrap();
    let err = Policy::load(&path).unwrap_err();
    assert_eq!(err.diagnostics[0].kind, DiagnosticKind::Limit);
}

#[test]
fn test_report_names_the_failure() {
    let text = format!(
        "{RULE_HEAD}tests:\n  - name: must allow\n    call: {{tool: read_file, args: {{path: x}}}}\n    expect: allow\n  - call: {{tool: read_file}}\n    expect: deny\n    rule: r\n"
    );
    let p = policy(&text);
    let report = p.run_tests();
    assert_eq!((report.passed, report.failed), (1, 1));
    let f = &report.failures[0];
    assert_eq!((f.line, f.column), (7, 5));
    assert_eq!(f.expected, Decision::Allow);
    assert_eq!(f.actual, Decision::Deny);
    assert_eq!(f.actual_rule.as_deref(), Some("r"));
    let shown = f.to_string();
    assert!(
        shown.contains("must allow") && shown.contains("\"read_file\""),
        "{shown}"
    );
    assert_eq!(report.to_string(), "1 passed, 1 failed");
}

mod hostile {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Arbitrary text never panics the loader.
        #[test]
        fn arbitrary_text_never_panics(text in ".{0,200}") {
            let _ = Policy::from_sources(&[Source { name: "p.yaml".into(), text }]);
        }

        /// YAML-ish fragments built from policy tokens never panic either.
        #[test]
        fn policy_like_text_never_panics(
            pieces in prop::collection::vec(
                prop_oneof![
                    Just("version: v1\n"), Just("rules:\n"), Just("  - id: a\n"), Just("    match:\n"),
                    Just("      topics: [\"job.*\"]\n"), Just("    decision: deny\n"), Just("    reason: r\n"),
                    Just("tests:\n"), Just("  - call: {tool: x}\n"), Just("    expect: allow\n"),
                    Just("&a "), Just("*a\n"), Just("\t"), Just("- "), Just(": "), Just("{"), Just("]"),
                    Just("\"\n"), Just("? "), Just("!!str "), Just("--- \n"),
                ],
                0..20,
            )
        ) {
            let text: String = pieces.concat();
            let _ = Policy::from_sources(&[Source { name: "p.yaml".into(), text }]);
        }
    }
}

#[test]
fn unknown_agent_is_the_empty_string_for_globs() {
    let p = policy(
        "version: v1\ndefault_decision: deny\nrules:\n  - id: any-agent\n    match: {agents: [\"*\"]}\n    decision: allow\n    reason: ok\n  - id: claude\n    match: {agents: [\"claude-*\"]}\n    decision: require_approval\n    reason: claude\n",
    );
    let c = || cls("read.file", vec![part("read.file", &[], &[], None)]);
    let v = p.evaluate_classified(&call("", "", "read_file"), c());
    assert_eq!(
        (v.decision, v.rule_id.as_deref()),
        (Decision::Allow, Some("any-agent"))
    );
    let v = p.evaluate_classified(&call("claude-code", "", "read_file"), c());
    assert_eq!(
        (v.decision, v.rule_id.as_deref()),
        (Decision::RequireApproval, Some("claude"))
    );
}
