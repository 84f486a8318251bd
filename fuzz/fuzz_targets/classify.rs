//! Fuzzes the shell parser and classifier through the public entry point the gateway uses for
//! `run_command {command}`. Invariants: never panics; deterministic; the classification
//! survives a JSON round trip; the call's topic is its strictest part's; a command that does
//! not parse (the classifier's own diagnostic, or an unterminated quote seen by an independent
//! scanner) is never a read; appending a removal never leaves a read.
#![no_main]

use std::sync::LazyLock;

use cordon_classify::{Classification, Classifier, TOPIC_PREFIX, ToolCall, topic_severity};
use libfuzzer_sys::fuzz_target;

static CLASSIFIER: LazyLock<Classifier> = LazyLock::new(Classifier::default);

fn classify(command: &str) -> Classification {
    CLASSIFIER.classify(&ToolCall {
        agent: "fuzz".into(),
        server: "cordon".into(),
        tool: "run_command".into(),
        args: serde_json::json!({ "command": command }),
    })
}

/// A read that passes as harmless: `read.*` but not a secret read (`read.env`/`read.secrets` rank
/// above everything else, are refused by the default policy, and rightly stay the topic of a
/// compound that also reads a secret).
fn is_read(topic: &str) -> bool {
    topic
        .strip_prefix(TOPIC_PREFIX)
        .is_some_and(|t| t.starts_with("read.") && t != "read.env" && t != "read.secrets")
}

/// Whether a simple command line (no comments, here-documents, `$'…'`, backticks, `$(…)`, `${…}` or
/// newlines: the subset where quoting is plain) ends inside a quote. Independent of the
/// classifier's parser.
fn unterminated_quote(s: &str) -> Option<bool> {
    if s.contains('#')
        || s.contains("<<")
        || s.contains("$'")
        || s.contains('`')
        || s.contains("$(")
        || s.contains("${")
        || s.contains('\n')
        || s.contains('\r')
    {
        return None;
    }
    #[derive(PartialEq)]
    enum St {
        Plain,
        Single,
        Double,
    }
    let mut st = St::Plain;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (&st, c) {
            (St::Plain, '\\') | (St::Double, '\\') => {
                chars.next();
            }
            (St::Plain, '\'') => st = St::Single,
            (St::Plain, '"') => st = St::Double,
            (St::Single, '\'') => st = St::Plain,
            (St::Double, '"') => st = St::Plain,
            _ => {}
        }
    }
    Some(st != St::Plain)
}

fuzz_target!(|data: &[u8]| {
    let Ok(command) = std::str::from_utf8(data) else {
        return;
    };
    let c = classify(command);

    // Deterministic.
    assert_eq!(c, classify(command), "two classifications differ");

    // A JSON round trip gives the same classification (evidence stores it as JSON).
    let json = serde_json::to_value(&c).expect("a classification serialises");
    let back: Classification = serde_json::from_value(json).expect("and deserialises");
    assert_eq!(back, c, "JSON round trip changed the classification");

    // Never empty; the call's topic is its strictest part's.
    assert!(!c.parts.is_empty(), "no parts");
    let strictest = c
        .parts
        .iter()
        .map(|p| topic_severity(&p.topic))
        .max()
        .unwrap_or(0);
    assert_eq!(
        topic_severity(&c.topic),
        strictest,
        "topic is not the strictest part's"
    );
    assert!(
        c.parts.iter().any(|p| p.topic == c.topic),
        "topic of no part"
    );
    if is_read(&c.topic) {
        assert!(
            c.parts.iter().all(|p| is_read(&p.topic)),
            "a read with a non-read part"
        );
    }

    // What does not parse is never a read.
    if c.diagnostics
        .iter()
        .any(|d| d.contains("not fully understood"))
    {
        assert!(
            !is_read(&c.topic),
            "unparsed command judged a read: {command:?}"
        );
    }
    if unterminated_quote(command) == Some(true) {
        assert!(
            !is_read(&c.topic),
            "unterminated quote judged a read: {command:?}"
        );
    }

    // A removal appended on its own line is never hidden behind a read (unless the line is
    // the body of an unterminated here-document, or continues a line: then it is not a command).
    if is_read(&c.topic)
        && !command.ends_with('\\')
        && !command.contains("<<")
        && command.len() < 4096
    {
        let more = format!("{command}\nrm -rf /tmp/x");
        let m = classify(&more);
        assert!(
            !is_read(&m.topic),
            "appended removal judged a read: {more:?}"
        );
    }
});
