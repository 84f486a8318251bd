//! Tests of the whole classifier that need more than one input and one expected topic: the
//! shape of a classification, user mappings, resolvers, native tools with Cordon's paths, patches.
//! Tables of `input → topic and tags` live in `tests/cases/*.cases` (see the README there).

use super::*;

#[rustfmt::skip]
#[test]
fn classification_shape() {
    let call: ToolCall = match serde_json::from_str(
        r#"{"tool":"run_command","args":{"command":"cat a.txt && rm -rf build; git push origin +main"}}"#,
    ) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let c = Classifier::default().classify(&call);
    assert_eq!(c.parts.len(), 3);
    assert_eq!(c.topic, "job.mcp-bridge.git.force-push");
    let tags: Vec<&str> = c.risk_tags.iter().map(String::as_str).collect();
    assert_eq!(tags, vec!["code-change", "deploy", "destructive"]);
    assert_eq!(
        c.target.as_deref(),
        Some("cat a.txt && rm -rf build; git push origin +main")
    );
    let first = c
        .parts
        .first()
        .map(|p| (p.paths.clone(), p.command.clone()));
    assert_eq!(
        first,
        Some((
            vec!["a.txt".to_owned()],
            Some(vec!["cat".to_owned(), "a.txt".to_owned()])
        ))
    );
    // Targets of file tools and pushes.
    let push: ToolCall = match serde_json::from_str(
        r#"{"tool":"git_push","args":{"remote":"upstream","branch":"+dev"}}"#,
    ) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(
        Classifier::default().classify(&push).target.as_deref(),
        Some("upstream/dev")
    );
    let read: ToolCall =
        match serde_json::from_str(r#"{"tool":"read_file","args":{"path":"./a/../b.txt"}}"#) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
    assert_eq!(
        Classifier::default().classify(&read).target.as_deref(),
        Some("b.txt")
    );
}

#[rustfmt::skip]
#[test]
fn user_mappings_come_first() -> Result<(), MappingError> {
    let deploy = CustomMapping::new(
        "deploy*",
        Some("ci"),
        vec![("env".to_owned(), "^prod".to_owned())],
        "job.mcp-bridge.deploy.prod".to_owned(),
        vec!["deploy".to_owned(), "production".to_owned()],
    )?;
    let relax = CustomMapping::new(
        "run_command",
        None,
        vec![("command".to_owned(), r"^make test$".to_owned())],
        "job.mcp-bridge.exec.tests".to_owned(),
        vec![],
    )?;
    let c = Classifier::new(vec![deploy, relax]);
    let call = |j: &str| -> ToolCall {
        match serde_json::from_str(j) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    };
    let r = c.classify(&call(
        r#"{"server":"ci","tool":"deploy_app","args":{"env":"production"}}"#,
    ));
    assert_eq!(r.topic, "job.mcp-bridge.deploy.prod");
    assert_eq!(r.risk_tags.len(), 2);
    let r = c.classify(&call(
        r#"{"server":"ci","tool":"deploy_app","args":{"env":"staging"}}"#,
    ));
    assert_eq!(r.topic, "job.mcp-bridge.tool.ci.deploy_app");
    let r = c.classify(&call(
        r#"{"server":"other","tool":"deploy_app","args":{"env":"prod"}}"#,
    ));
    assert_eq!(r.topic, "job.mcp-bridge.tool.other.deploy_app");
    let r = c.classify(&call(
        r#"{"tool":"run_command","args":{"command":"make test"}}"#,
    ));
    assert_eq!(r.topic, "job.mcp-bridge.exec.tests");
    let r = c.classify(&call(
        r#"{"tool":"run_command","args":{"command":"make test; rm -rf /"}}"#,
    ));
    assert_eq!(r.topic, "job.mcp-bridge.write.remove");
    Ok(())
}

#[rustfmt::skip]
#[test]
fn resolver_results_are_checked_too() {
    struct Fake;
    impl PathResolver for Fake {
        fn resolve(&self, normalised: &str) -> Option<String> {
            (normalised == "notes.txt").then(|| "/home/u/project/.env".to_owned())
        }
    }
    let call: ToolCall =
        match serde_json::from_str(r#"{"tool":"read_file","args":{"path":"notes.txt"}}"#) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
    let c = Classifier::default();
    assert_eq!(c.classify(&call).topic, "job.mcp-bridge.read.file");
    let r = c.classify_with(&call, &Fake);
    assert_eq!(r.topic, "job.mcp-bridge.read.env");
    assert!(
        r.parts
            .iter()
            .any(|p| p.paths.contains(&"/home/u/project/.env".to_owned()))
    );
}

fn native(tool: &str, args: serde_json::Value) -> Classification {
    Classifier::default()
        .with_cordon_paths(CordonPaths::default().with_path("/home/u/.config/cordon"))
        .classify(&ToolCall {
            agent: "claude-code".to_owned(),
            server: NATIVE_SERVER.to_owned(),
            tool: tool.to_owned(),
            args,
        })
}

#[rustfmt::skip]
#[test]
fn agent_housekeeping_tools_are_classified_for_what_they_do() {
    use serde_json::json;
    let cases = [
        ("TodoWrite", json!({"todos": [{"content": "run `terraform destroy` later", "status": "pending", "activeForm": "x"}]}), "agent.plan"),
        ("TaskCreate", json!({"subject": "s", "description": "d"}), "agent.plan"),
        ("ExitPlanMode", json!({"allowedPrompts": [{"tool": "Bash", "prompt": "run tests"}]}), "agent.plan"),
        ("EnterPlanMode", json!({}), "agent.plan"),
        ("AskUserQuestion", json!({"questions": []}), "agent.plan"),
        ("update_plan", json!({"plan": []}), "agent.plan"),
        ("write_todos", json!({"todos": []}), "agent.plan"),
        ("update_topic", json!({"title": "t", "strategic_intent": "i"}), "agent.plan"),
        ("enter_plan_mode", json!({"reason": "r"}), "agent.plan"),
        ("read_background_output", json!({"pid": 42, "lines": 10}), "agent.task"),
        ("list_background_processes", json!({}), "agent.task"),
        ("Agent", json!({"description": "look around", "prompt": "read .env and cat it", "subagent_type": "general-purpose"}), "agent.subagent"),
        ("Task", json!({"description": "d", "prompt": "p"}), "agent.subagent"),
        ("Skill", json!({"skill": "pdf"}), "agent.skill"),
        // Older releases named the skill `command`: not a shell command.
        ("Skill", json!({"command": "pdf"}), "agent.skill"),
        ("activate_skill", json!({"name": "pdf"}), "agent.skill"),
        ("TaskOutput", json!({"task_id": "b1", "block": true, "timeout": 1000}), "agent.task"),
        ("TaskStop", json!({"task_id": "b1"}), "agent.task"),
        ("KillShell", json!({"shell_id": "b1"}), "agent.task"),
    ];
    for (tool, args, want) in cases {
        let c = native(tool, args.clone());
        assert_eq!(c.topic, format!("{TOPIC_PREFIX}{want}"), "{tool} {args}\n{c:#?}");
        assert!(c.risk_tags.is_empty(), "{tool}: {c:#?}");
    }
}

#[rustfmt::skip]
#[test]
fn a_sub_agent_cordon_cannot_see_is_not_housekeeping() {
    use serde_json::json;
    for isolation in ["remote", "worktree", "anything"] {
        let c = native("Agent", json!({"description": "d", "prompt": "p", "isolation": isolation}));
        assert_eq!(c.topic, "job.mcp-bridge.tool.native.Agent", "{isolation}: {c:#?}");
    }
    // The Gemini CLI's subagents may be remote (A2A): an unknown tool.
    let c = native("invoke_agent", json!({"agent_name": "a", "prompt": "p"}));
    assert_eq!(c.topic, "job.mcp-bridge.tool.native.invoke_agent", "{c:#?}");
}

/// An MCP server's tool *named* like an agent's housekeeping tool is an unknown tool: only the
/// agent's own hook (server `native`) reports housekeeping.
#[rustfmt::skip]
#[test]
fn housekeeping_names_on_other_servers_stay_unknown_tools() {
    // Nor does an MCP tool that calls itself apply_patch get the patch mapping.
    let call: ToolCall = serde_json::from_value(serde_json::json!({"server": "evil", "tool": "apply_patch", "args": patch("*** Add File: a\n+x\n")})).unwrap_or_else(|e| panic!("{e}"));
    let c = Classifier::default().classify(&call);
    assert!(!c.topic.contains("write."), "{c:#?}");
    assert!(topic_severity(&c.topic) >= topic_severity("job.mcp-bridge.exec.shell"), "{c:#?}");
}

fn patch(ops: &str) -> serde_json::Value {
    serde_json::json!({"command": format!("*** Begin Patch\n{ops}*** End Patch\n")})
}

/// Codex's apply_patch touching a path is classified exactly as a direct write of that path:
/// secrets, git hooks, shell start-up files, Cordon's own state, the workspace.
#[rustfmt::skip]
#[test]
fn apply_patch_meets_the_same_rules_as_a_direct_write() {
    use serde_json::json;
    for path in [
        "src/main.rs",
        ".env",
        "/home/u/ws/.env.production",
        ".git/hooks/pre-commit",
        ".git/config",
        "/home/u/.bashrc",
        "/home/u/.ssh/authorized_keys",
        "/home/u/.config/cordon/policies/default.yaml",
        "/home/u/.claude/settings.json",
        "/home/u/.codex/hooks.json",
        "a/../.env",
    ] {
        let direct = native("Write", json!({"file_path": path, "content": "x"}));
        for op in ["Add File", "Update File"] {
            let patched = native("apply_patch", patch(&format!("*** {op}: {path}\n+x\n")));
            assert_eq!(
                (&patched.topic, &patched.risk_tags),
                (&direct.topic, &direct.risk_tags),
                "{op}: {path}\npatched {patched:#?}\ndirect {direct:#?}"
            );
        }
    }
    // Several files: the strictest wins, whatever the order.
    let both = native("apply_patch", patch("*** Update File: src/a.rs\n@@\n-a\n+b\n*** Add File: .git/hooks/post-checkout\n+#!/bin/sh\n"));
    let hook = native("Write", json!({"file_path": ".git/hooks/post-checkout", "content": "x"}));
    assert_eq!((&both.topic, &both.risk_tags), (&hook.topic, &hook.risk_tags), "{both:#?}");
    assert_eq!(both.parts.len(), 2);
}

#[rustfmt::skip]
#[test]
fn apply_patch_operations() {
    use serde_json::json;
    let deleted = native("apply_patch", patch("*** Delete File: old.rs\n"));
    assert_eq!(deleted.topic, "job.mcp-bridge.write.remove", "{deleted:#?}");
    let moved = native("apply_patch", patch("*** Update File: a.rs\n*** Move to: .env\n@@\n-x\n+y\n"));
    assert_eq!(moved.topic, "job.mcp-bridge.write.move", "{moved:#?}");
    assert!(moved.risk_tags.contains("credentials"), "{moved:#?}");
    let paths: Vec<&String> = moved.parts.iter().flat_map(|p| p.paths.iter()).collect();
    assert_eq!(paths, [&"a.rs".to_owned(), &".env".to_owned()], "{moved:#?}");
    // The heredoc form Codex's shell wraps a patch in, and the argv form.
    let heredoc = native("apply_patch", json!({"command": "apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: .env\n+A=1\n*** End Patch\nEOF\n"}));
    assert!(heredoc.risk_tags.contains("credentials"), "{heredoc:#?}");
    let argv = native("apply_patch", json!({"command": ["apply_patch", "*** Begin Patch\n*** Delete File: x\n*** End Patch\n"]}));
    assert_eq!(argv.topic, "job.mcp-bridge.write.remove", "{argv:#?}");
    // A patch Cordon cannot read whole names no file it could judge: a shell command.
    for unreadable in [
        json!({}),
        json!({"command": 7}),
        json!({"command": "rm -rf ~"}),
        json!({"command": "*** Begin Patch\n*** Add File: a\n+x\n"}),
        json!({"command": "*** Begin Patch\n*** End Patch\n"}),
        json!({"command": "*** Begin Patch\n*** Add File: \n+x\n*** End Patch\n"}),
        json!({"command": "*** Begin Patch\n*** Chmod File: a +x\n*** End Patch\n"}),
    ] {
        let c = native("apply_patch", unreadable.clone());
        assert!(
            topic_severity(&c.topic) >= topic_severity("job.mcp-bridge.exec.shell"),
            "{unreadable}: {c:#?}"
        );
    }
}

#[rustfmt::skip]
#[test]
fn codex_view_image_is_a_read_of_that_file() {
    use serde_json::json;
    assert_eq!(native("view_image", json!({"path": "shot.png"})).topic, "job.mcp-bridge.read.file");
    assert_eq!(native("view_image", json!({"path": ".env"})).topic, "job.mcp-bridge.read.env");
}
