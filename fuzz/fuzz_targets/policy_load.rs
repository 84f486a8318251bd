//! Fuzzes the policy loader (YAML text → validated, compiled policy). Invariants: never panics;
//! a refusal carries at least one error diagnostic with a position inside the text; a loaded
//! policy is deterministic (same text, same version and decisions), evaluates calls and runs its
//! own tests without panicking, and its verdicts serialise.
#![no_main]

use cordon_policy::{Policy, Source, ToolCall};
use libfuzzer_sys::fuzz_target;

fn calls() -> Vec<ToolCall> {
    let call = |server: &str, tool: &str, args: serde_json::Value| ToolCall {
        agent: "fuzz".into(),
        server: server.into(),
        tool: tool.into(),
        args,
    };
    vec![
        call(
            "cordon",
            "run_command",
            serde_json::json!({"command": "git log --oneline"}),
        ),
        call(
            "cordon",
            "run_command",
            serde_json::json!({"command": "rm -rf / && cat .env"}),
        ),
        call(
            "filesystem",
            "read_file",
            serde_json::json!({"path": "src/main.rs"}),
        ),
        call(
            "filesystem",
            "write_file",
            serde_json::json!({"path": ".git/config", "content": "x"}),
        ),
        call("x", "unknown", serde_json::Value::Null),
    ]
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let sources = [Source {
        name: "fuzz.yaml".into(),
        text: text.into(),
    }];
    match Policy::from_sources(&sources) {
        Err(e) => {
            assert!(!e.diagnostics.is_empty(), "a refusal without diagnostics");
            assert!(
                e.diagnostics.iter().any(|d| d.is_error()),
                "a refusal without an error: {:?}",
                e.diagnostics
            );
            // YAML breaks lines at \n, \r\n and a lone \r.
            let lines = text.replace("\r\n", "\n").matches(['\n', '\r']).count() + 2;
            for d in &e.diagnostics {
                assert!(d.line >= 1 && d.column >= 1, "position not 1-based: {d:?}");
                assert!(
                    d.line <= lines,
                    "line {} beyond the text ({lines} lines)",
                    d.line
                );
            }
        }
        Ok(p) => {
            let again = Policy::from_sources(&sources).expect("the same text loads again");
            assert_eq!(p.version(), again.version(), "version not deterministic");
            for call in calls() {
                let v = p.evaluate(&call);
                let w = again.evaluate(&call);
                assert_eq!(v.decision, w.decision, "decision not deterministic");
                assert_eq!(v.rule_id, w.rule_id, "rule not deterministic");
                serde_json::to_string(&v).expect("a verdict serialises");
            }
            let report = p.run_tests();
            assert_eq!(report.passed + report.failed, p.test_count(), "tests lost");
        }
    }
});
