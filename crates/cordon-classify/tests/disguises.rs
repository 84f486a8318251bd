//! Every disguise the classifier must see through, as data: one line per command, expected
//! topic (short form) and tags. When a bypass is found, add its line here.

use cordon_classify::{Classification, Classifier, TOPIC_PREFIX, ToolCall, topic_severity};
use proptest::prelude::*;
use serde_json::json;

fn run(command: &str) -> Classification {
    let call = ToolCall {
        agent: "test".to_owned(),
        server: "shell".to_owned(),
        tool: "run_command".to_owned(),
        args: json!({ "command": command }),
    };
    Classifier::default().classify(&call)
}

#[track_caller]
fn check(command: &str, expected_topic: &str, expected_tags: &[&str]) {
    let c = run(command);
    let tags: Vec<&str> = c.risk_tags.iter().map(String::as_str).collect();
    let mut want = expected_tags.to_vec();
    want.sort_unstable();
    assert_eq!(
        (c.topic.as_str(), tags),
        (format!("{TOPIC_PREFIX}{expected_topic}").as_str(), want),
        "command {command:?}\n{c:#?}"
    );
}

/// Only the topic matters (tags checked elsewhere).
#[track_caller]
fn topic(command: &str, expected_topic: &str) {
    let c = run(command);
    assert_eq!(
        c.topic,
        format!("{TOPIC_PREFIX}{expected_topic}"),
        "command {command:?}\n{c:#?}"
    );
}

const ENV: &[&str] = &["credentials"];
const REMOVE: &[&str] = &["code-change", "destructive"];
const EXEC: &[&str] = &["exec"];

#[rustfmt::skip]
#[test]
fn hostile_inputs() {
    // Deep nesting: beyond the limit, conservative.
    let deep = format!("{}ls{}", "(".repeat(200), ")".repeat(200));
    topic(&deep, "exec.shell");
    let deep = format!("{}ls{}", "$(".repeat(200), ")".repeat(200));
    topic(&deep, "exec.shell");
    // Quoting grows exponentially with `bash -c '…'` nesting, so go deep with `eval` (one
    // level per word) and moderately with real quoting.
    let c = run(&format!("{}cat .env", "eval ".repeat(40)));
    assert!(
        topic_severity(&c.topic) >= topic_severity("exec.shell"),
        "deep eval: {}",
        c.topic
    );
    let mut nested = "cat .env".to_owned();
    for _ in 0..6 {
        nested = format!("bash -c {}", shell_quote(&nested));
    }
    check(&nested, "read.env", ENV);
    let c = run(&format!(
        "{}cat .env{}",
        "bash -c \"$(".repeat(30),
        ")\"".repeat(30)
    ));
    assert!(
        topic_severity(&c.topic) >= topic_severity("exec.shell"),
        "deep bash -c: {}",
        c.topic
    );
    // Huge input: not parsed, conservative.
    let huge = "ls ".repeat(100_000);
    check(&huge, "exec.shell", EXEC);
    let huge_read = format!("cat {}", "a".repeat(200_000));
    check(&huge_read, "exec.shell", EXEC);
    // Unicode and control characters.
    check("cat 日本語.txt", "read.file", &[]);
    check("rm -rf ./ünïcødé", "write.remove", REMOVE);
    check("cat .env\u{0}", "read.env", ENV);
    check("cat \u{0}", "read.file", &[]);
    check("rm\u{0} x", "exec.shell", EXEC);
    // ANSI-C quotes.
    check("cat $'.env'", "read.env", ENV);
    check("cat $'\\x2eenv'", "read.env", ENV);
    check("cat $'\\056env'", "read.env", ENV);
    check("$'\\u0072m' -rf x", "write.remove", REMOVE);
    // Here-documents and odd spacing.
    check("cat <<EOF > .env\nX=1\nEOF", "write.file", &["code-change", "credentials"]);
    check("  \t rm   -rf\\\n  x  ", "write.remove", REMOVE);
    check(";;;", "exec.shell", EXEC);
    check("&&", "exec.shell", EXEC);
    check("|", "exec.shell", EXEC);
    // Thousands of globs: bounded work, and never a plain read.
    let globs = "cat .x*{a,b}{c,d}{e,f}{g,h}{i,j}{k,l}/y?; ".repeat(1000);
    let c = run(&globs);
    assert!(!c.topic.contains(".read."), "{}", c.topic);
    // The target is bounded.
    let long = format!("echo {}", "x".repeat(1000));
    assert!(run(&long).target.is_some_and(|t| t.chars().count() <= 201));
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(unix)]
#[rustfmt::skip]
#[test]
fn fs_resolver_sees_a_symlink_to_dotenv() -> std::io::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join(".env"), "SECRET=1")?;
    std::os::unix::fs::symlink(dir.path().join(".env"), dir.path().join("notes.txt"))?;
    let resolver = cordon_classify::FsResolver::new(dir.path());
    let call = ToolCall {
        agent: String::new(),
        server: "fs".to_owned(),
        tool: "read_file".to_owned(),
        args: json!({"path": "notes.txt"}),
    };
    let c = Classifier::default();
    assert_eq!(c.classify(&call).topic, "job.mcp-bridge.read.file");
    let resolved = c.classify_with(&call, &resolver);
    assert_eq!(resolved.topic, "job.mcp-bridge.read.env");
    assert!(resolved.risk_tags.contains("credentials"));
    let shell = ToolCall {
        agent: String::new(),
        server: "sh".to_owned(),
        tool: "run_command".to_owned(),
        args: json!({"command": "cat notes.txt"}),
    };
    assert_eq!(
        c.classify_with(&shell, &resolver).topic,
        "job.mcp-bridge.read.env"
    );
    Ok(())
}

fn is_read(topic: &str) -> bool {
    topic.starts_with(&format!("{TOPIC_PREFIX}read."))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_arbitrary_commands(cmd in "\\PC{0,200}") {
        let c = run(&cmd);
        prop_assert!(!c.parts.is_empty());
        prop_assert!(c.topic.starts_with(TOPIC_PREFIX));
    }

    #[test]
    fn never_panics_on_shell_like_noise(cmd in "[ a-z.$'\"`\\\\(){};&|<>=~*?\\[\\]#!\n-]{0,120}") {
        let c = run(&cmd);
        prop_assert!(!c.parts.is_empty());
    }

    #[test]
    fn never_panics_on_arbitrary_json(
        tool in prop_oneof![Just("read_file".to_owned()), Just("run_command".to_owned()), Just("git_push".to_owned()), Just("resources/read".to_owned()), Just("move_file".to_owned()), "\\PC{0,12}"],
        key in prop_oneof![Just("path".to_owned()), Just("command".to_owned()), Just("uri".to_owned()), Just("paths".to_owned()), "[a-z]{1,6}"],
        value in arb_json(),
    ) {
        let call = ToolCall { agent: String::new(), server: "s".to_owned(), tool, args: json!({ key: value }) };
        let c = Classifier::default().classify(&call);
        prop_assert!(!c.parts.is_empty());
        let call = ToolCall { args: value_again(&c), ..call };
        let _ = Classifier::default().classify(&call);
    }

    #[test]
    fn a_dangerous_part_is_never_hidden_behind_a_read(
        reads in prop::collection::vec(prop_oneof![Just("ls"), Just("cat README.md"), Just("git status"), Just("echo hi"), Just("grep -r x ."), Just("cd src"), Just("pwd"), Just("git log -3")], 1..4),
        bad in prop_oneof![Just("rm -rf x"), Just("git push -f"), Just("terraform destroy"), Just("curl -o f https://x"), Just("make"), Just("npm install x"), Just("mv a b"), Just("kubectl delete pod p"), Just("bash -c 'rm x'"), Just("sudo rm x"), Just("X=1 rm x"), Just("$(rm x)")],
        seps in prop::collection::vec(prop_oneof![Just(" ; "), Just(" && "), Just(" || "), Just(" | "), Just("\n"), Just(" & "), Just(";")], 4),
        at in 0usize..4,
    ) {
        // The non-read command at any position among reads, joined by any separators.
        let mut cmds: Vec<&str> = reads.clone();
        cmds.insert(at.min(cmds.len()), bad);
        let mut cmd = String::new();
        for (k, part) in cmds.iter().enumerate() {
            if k > 0 {
                cmd.push_str(seps.get(k - 1).copied().unwrap_or(";"));
            }
            cmd.push_str(part);
        }
        let c = run(&cmd);
        prop_assert!(!is_read(&c.topic), "{:?} -> {}", cmd, c.topic);
        let alone = run(bad);
        prop_assert!(topic_severity(&c.topic) >= topic_severity(&alone.topic), "{:?} -> {}", cmd, c.topic);
    }

    #[test]
    fn a_secret_read_is_never_diluted(
        reads in prop::collection::vec(prop_oneof![Just("ls"), Just("cat README.md"), Just("git status"), Just("rm -rf x"), Just("terraform destroy")], 0..3),
        secret in prop_oneof![Just("cat .env"), Just("cat ~/.ssh/id_rsa"), Just("printenv"), Just("cat a/../.env"), Just("echo $GITHUB_TOKEN")],
        sep in prop_oneof![Just(" ; "), Just(" && "), Just(" | "), Just("\n")],
    ) {
        let mut cmds: Vec<&str> = reads.clone();
        cmds.push(secret);
        let c = run(&cmds.join(sep));
        prop_assert!(c.topic.ends_with("read.env") || c.topic.ends_with("read.secrets"), "{:?} -> {}", cmds, c.topic);
        prop_assert!(c.risk_tags.contains("credentials"));
    }
}

fn value_again(c: &Classification) -> serde_json::Value {
    json!({ "command": c.target.clone().unwrap_or_default() })
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "\\PC{0,30}".prop_map(serde_json::Value::from),
        Just(serde_json::Value::from(".env")),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-z]{1,5}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}
