//! run_command: argv and string forms, exit codes, cwd confinement, timeout kill, output cap.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{call, ok, plain};
use cordon_tools::{OUTPUT_CAP, ToolError};
use serde_json::json;

#[test]
fn argv_form_runs_without_a_shell() {
    let (_tmp, ws) = plain();
    let out = ok(
        &ws,
        "run_command",
        json!({"command": ["echo", "a && b", "$HOME"]}),
    );
    assert_eq!(out.text, "exit code: 0\n--- stdout ---\na && b $HOME\n");
    assert!(!out.is_error);
    let structured = out.structured.unwrap();
    assert_eq!(structured["exit_code"], 0);
    assert_eq!(
        structured["text"],
        "exit code: 0\n--- stdout ---\na && b $HOME\n"
    );
}

#[test]
fn string_form_runs_through_sh() {
    let (tmp, ws) = plain();
    std::fs::create_dir(tmp.path().join("sub")).unwrap();
    let out = ok(
        &ws,
        "run_command",
        json!({"command": "pwd && echo err >&2; exit 3", "cwd": "sub"}),
    );
    let sub = std::fs::canonicalize(tmp.path().join("sub")).unwrap();
    assert_eq!(
        out.text,
        format!(
            "exit code: 3\n--- stdout ---\n{}\n--- stderr ---\nerr\n",
            sub.display()
        )
    );
    assert!(out.is_error);
}

#[test]
fn preview_names_the_command() {
    let (_tmp, ws) = plain();
    let p = ws
        .prepare("run_command", &json!({"command": "make test"}))
        .unwrap();
    assert!(
        p.preview().unwrap().starts_with("sh -c make test"),
        "{:?}",
        p.preview()
    );
    let p = ws
        .prepare("run_command", &json!({"command": ["cargo", "build"]}))
        .unwrap();
    assert!(
        p.preview()
            .unwrap()
            .starts_with(r#"argv: ["cargo","build"]"#),
        "{:?}",
        p.preview()
    );
}

#[test]
fn timeout_kills_the_process_group() {
    let (tmp, ws) = plain();
    let marker = tmp.path().join("survived");
    // A background grandchild in the same process group must die with it: if it survived,
    // it would create the marker 1 s later. The marker is checked after another command
    // that itself takes 2 s (an ordering, not a timing assertion).
    let script = format!("(sleep 1; touch {}) & sleep 30", marker.display());
    match call(
        &ws,
        "run_command",
        json!({"command": script, "timeout_ms": 300}),
    ) {
        Err(
            e @ ToolError::Timeout {
                timeout_ms: 300, ..
            },
        ) => {
            assert!(e.to_string().contains("process group was killed"), "{e}");
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    match call(
        &ws,
        "run_command",
        json!({"command": ["sleep", "30"], "timeout_ms": 300}),
    ) {
        Err(ToolError::Timeout { .. }) => {}
        other => panic!("expected Timeout, got {other:?}"),
    }
    ok(&ws, "run_command", json!({"command": ["sleep", "2"]}));
    assert!(!marker.exists(), "a process of the killed group survived");
}

#[test]
fn timeout_keeps_partial_output() {
    let (_tmp, ws) = plain();
    match call(
        &ws,
        "run_command",
        json!({"command": "echo started; sleep 30", "timeout_ms": 500}),
    ) {
        Err(ToolError::Timeout { partial_output, .. }) => {
            // The echo may or may not have been flushed before the kill on a loaded machine;
            // when present, it is labelled.
            assert!(
                partial_output.is_empty() || partial_output.contains("--- stdout ---\nstarted"),
                "{partial_output}"
            );
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
}

#[test]
fn output_is_capped_with_a_note() {
    let (_tmp, ws) = plain();
    let out = ok(
        &ws,
        "run_command",
        json!({"command": "head -c 3000000 /dev/zero | tr '\\0' x"}),
    );
    assert!(
        out.text.contains(&format!(
            "[stdout truncated: showing the first {OUTPUT_CAP} of 3000000 bytes]"
        )),
        "{}",
        &out.text[out.text.len() - 200..]
    );
    assert!(out.text.len() < OUTPUT_CAP + 500);
    assert_eq!(out.structured.unwrap()["stdout_truncated"], true);
}

#[test]
fn cwd_outside_roots_and_bad_arguments_are_refused() {
    let (_tmp, ws) = plain();
    for cwd in ["..", "/", "/tmp", "../../etc"] {
        let e = ws.prepare("run_command", &json!({"command": ["true"], "cwd": cwd}));
        assert!(
            matches!(e, Err(ToolError::OutsideRoots { .. })),
            "{cwd}: {e:?}"
        );
    }
    let cases = [
        json!({}),
        json!({"command": ""}),
        json!({"command": []}),
        json!({"command": [1, 2]}),
        json!({"command": {"x": 1}}),
        json!({"command": ["a\u{0}b"]}),
        json!({"command": "true", "timeout_ms": 0}),
        json!({"command": "true", "timeout_ms": 600_001}),
        json!({"command": "true", "timeout_ms": "5"}),
        json!({"command": "true", "env": {}}),
    ];
    for args in cases {
        let e = ws.prepare("run_command", &args);
        assert!(
            matches!(e, Err(ToolError::InvalidArguments(_))),
            "{args}: {e:?}"
        );
    }
    let e = ws.prepare("run_command", &json!({"command": "true", "cwd": "missing"}));
    assert!(matches!(e, Err(ToolError::NotFound { .. })), "{e:?}");
}

#[test]
fn missing_program_is_not_found() {
    let (_tmp, ws) = plain();
    let e = call(
        &ws,
        "run_command",
        json!({"command": ["definitely-not-a-program-xyz"]}),
    );
    assert!(
        matches!(e, Err(ToolError::NotFound { ref what }) if what.contains("definitely-not-a-program-xyz")),
        "{e:?}"
    );
}

#[test]
fn an_env_allowlist_replaces_the_engine_environment() {
    // CARGO is set for every test process by cargo: inherited without an allowlist, gone with one.
    assert!(std::env::var_os("CARGO").is_some());
    let (_tmp, ws) = plain();
    let out = ok(&ws, "run_command", json!({"command": "echo \"[$CARGO]\""}));
    assert!(!out.text.contains("[]"), "{}", out.text);
    let path = std::env::var_os("PATH").unwrap();
    let ws = ws.with_env_allowlist(vec![("PATH".into(), path), ("KEPT".into(), "yes".into())]);
    let out = ok(
        &ws,
        "run_command",
        json!({"command": "echo \"[$CARGO][$KEPT]\""}),
    );
    assert!(out.text.contains("[][yes]"), "{}", out.text);
}
