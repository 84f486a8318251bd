//! Classifier cases as data: every `tests/cases/*.cases` file holds lines
//! `EXPECTED :: INPUT`, so a bypass found in the field becomes one line, no Rust needed.
//!
//! - INPUT is a shell command (run through the `run_command` tool of server `shell`),
//!   `@server/tool {json args}` for any other tool call, or `@{json}` for a whole call
//!   (`{"agent", "server", "tool", "args"}`, each but `tool` optional).
//! - EXPECTED is a short topic (`read.file`, `exec.shell`, `tool.*` for any unknown-tool
//!   topic), then either the exact set of tags in brackets (`[credentials exec]`, `[]` for
//!   none) or optional `+tag` (must be present) and `-tag` (must be absent).
//! - `#` starts a comment line; blank lines are ignored.
//!
//! Every case must also yield at least one part. Every failing line is reported at once with
//! its file and line number. The format is described for non-programmers in
//! `tests/cases/README.md`.

use std::path::Path;

use cordon_classify::{Classifier, TOPIC_PREFIX, ToolCall};
use serde_json::{Value, json};

fn call_of(input: &str) -> Result<ToolCall, String> {
    if let Some(json) = input.strip_prefix("@{") {
        return serde_json::from_str(&format!("{{{json}"))
            .map_err(|e| format!("bad call JSON: {e}"));
    }
    if let Some(rest) = input.strip_prefix('@') {
        let (name, args) = rest.split_once(' ').unwrap_or((rest, "{}"));
        let (server, tool) = name.split_once('/').ok_or("@server/tool expected")?;
        let args: Value = serde_json::from_str(args).map_err(|e| format!("bad JSON: {e}"))?;
        return Ok(ToolCall {
            agent: "cases".to_owned(),
            server: server.to_owned(),
            tool: tool.to_owned(),
            args,
        });
    }
    Ok(ToolCall {
        agent: "cases".to_owned(),
        server: "shell".to_owned(),
        tool: "run_command".to_owned(),
        args: json!({ "command": input }),
    })
}

fn check_line(classifier: &Classifier, expected: &str, input: &str) -> Result<(), String> {
    let call = call_of(input)?;
    let c = classifier.classify(&call);
    let mut words = expected.split_whitespace();
    let topic = words.next().ok_or("no expected topic")?;
    let actual = c.topic.strip_prefix(TOPIC_PREFIX).unwrap_or(&c.topic);
    let topic_ok = match topic.strip_suffix('*') {
        Some(prefix) => actual.starts_with(prefix),
        None => actual == topic,
    };
    let mut problems = Vec::new();
    if !topic_ok {
        problems.push(format!("topic {actual}, expected {topic}"));
    }
    if c.parts.is_empty() {
        problems.push("no parts".to_owned());
    }
    let rest: Vec<&str> = words.collect();
    let exact = rest.join(" ");
    if let Some(inner) = exact.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let want: std::collections::BTreeSet<&str> = inner.split_whitespace().collect();
        let have: std::collections::BTreeSet<&str> =
            c.risk_tags.iter().map(String::as_str).collect();
        if want != have {
            problems.push(format!("tags {have:?}, expected exactly {want:?}"));
        }
        return report(problems, &c);
    }
    for w in rest {
        if let Some(tag) = w.strip_prefix('+') {
            if !c.risk_tags.contains(tag) {
                problems.push(format!("missing tag {tag}"));
            }
        } else if let Some(tag) = w.strip_prefix('-') {
            if c.risk_tags.contains(tag) {
                problems.push(format!("unexpected tag {tag}"));
            }
        } else {
            problems.push(format!("bad expectation word {w:?}"));
        }
    }
    report(problems, &c)
}

fn report(problems: Vec<String>, c: &cordon_classify::Classification) -> Result<(), String> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}; tags {:?}; diagnostics {:?}",
            problems.join(", "),
            c.risk_tags,
            c.diagnostics
        ))
    }
}

#[test]
fn case_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("cases");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/cases exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "cases"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no case files in {}", dir.display());
    let classifier = Classifier::default();
    let mut failures = Vec::new();
    let mut count = 0usize;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable case file");
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            count += 1;
            let Some((expected, input)) = line.split_once(" :: ") else {
                failures.push(format!("{}:{}: no ` :: ` separator", file.display(), n + 1));
                continue;
            };
            if let Err(e) = check_line(&classifier, expected.trim(), input.trim()) {
                failures.push(format!("{}:{}: {input}\n    {e}", file.display(), n + 1));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
