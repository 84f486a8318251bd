//! Table-driven tests of the whole classifier: tool mappings, default tags, secret paths,
//! arguments of the wrong shape, user mappings. One helper, one line per behaviour.

use super::*;

/// Classify `call_json` (a [`ToolCall`] as JSON) and compare topic (short form) and tags.
#[track_caller]
fn check(call_json: &str, expected_topic: &str, expected_tags: &[&str]) {
    let call: ToolCall = match serde_json::from_str(call_json) {
        Ok(c) => c,
        Err(e) => panic!("bad test JSON {call_json}: {e}"),
    };
    let c = Classifier::default().classify(&call);
    let tags: Vec<&str> = c.risk_tags.iter().map(String::as_str).collect();
    let mut want: Vec<&str> = expected_tags.to_vec();
    want.sort_unstable();
    assert_eq!(
        (c.topic.as_str(), tags),
        (format!("{TOPIC_PREFIX}{expected_topic}").as_str(), want),
        "call {call_json}\n{c:#?}"
    );
    assert!(!c.parts.is_empty());
}

#[rustfmt::skip]
#[test]
fn filesystem_server_tools() {
    check(r#"{"tool":"read_file","args":{"path":"src/main.rs"}}"#, "read.file", &[]);
    check(r#"{"tool":"read_text_file","args":{"path":"a.txt","head":3}}"#, "read.file", &[]);
    check(r#"{"tool":"read_media_file","args":{"path":"a.png"}}"#, "read.file", &[]);
    check(r#"{"tool":"read_multiple_files","args":{"paths":["a","b"]}}"#, "read.file", &[]);
    check(r#"{"tool":"read_multiple_files","args":{"paths":["a",".env"]}}"#, "read.env", &["credentials"]);
    check(r#"{"tool":"write_file","args":{"path":"a.txt","content":"x"}}"#, "write.file", &["code-change"]);
    check(r#"{"tool":"edit_file","args":{"path":"a.txt","edits":[]}}"#, "write.file", &["code-change"]);
    check(r#"{"tool":"create_directory","args":{"path":"d"}}"#, "write.mkdir", &["code-change"]);
    check(r#"{"tool":"list_directory","args":{"path":"."}}"#, "read.dir", &[]);
    check(r#"{"tool":"list_directory_with_sizes","args":{"path":"."}}"#, "read.dir", &[]);
    check(r#"{"tool":"directory_tree","args":{"path":"."}}"#, "read.dir", &[]);
    check(r#"{"tool":"move_file","args":{"source":"a","destination":"b"}}"#, "write.move", &["code-change"]);
    check(r#"{"tool":"search_files","args":{"path":".","pattern":"x"}}"#, "read.search", &[]);
    check(r#"{"tool":"get_file_info","args":{"path":"a"}}"#, "read.file", &[]);
    check(r#"{"tool":"list_allowed_directories","args":{}}"#, "read.dir", &[]);
    check(r#"{"tool":"list_allowed_directories"}"#, "read.dir", &[]);
}

#[rustfmt::skip]
#[test]
fn secret_paths_through_file_tools() {
    check(r#"{"tool":"read_file","args":{"path":".env"}}"#, "read.env", &["credentials"]);
    check(r#"{"tool":"read_file","args":{"path":"a/../.env"}}"#, "read.env", &["credentials"]);
    check(r#"{"tool":"read_file","args":{"path":"./.ENV"}}"#, "read.env", &["credentials"]);
    check(r#"{"tool":"read_file","args":{"path":"~/.ssh/id_ed25519"}}"#, "read.secrets", &["credentials"]);
    check(r#"{"tool":"read_file","args":{"path":"/proc/self/environ"}}"#, "read.env", &["credentials"]);
    check(r#"{"tool":"read_file","args":{"path":"C:\\Users\\me\\.aws\\credentials"}}"#, "read.secrets", &["credentials"]);
    check(r#"{"tool":"get_file_info","args":{"path":"server.pem"}}"#, "read.secrets", &["credentials"]);
    check(r#"{"tool":"write_file","args":{"path":".env","content":"X=1"}}"#, "write.file", &["code-change", "credentials"]);
    check(r#"{"tool":"move_file","args":{"source":".env","destination":"public/x"}}"#, "write.move", &["code-change", "credentials"]);
    check(r#"{"tool":"list_directory","args":{"path":"~/.ssh"}}"#, "read.secrets", &["credentials"]);
}

#[rustfmt::skip]
#[test]
fn git_server_tools() {
    for t in [
        "git_status",
        "git_diff_unstaged",
        "git_diff_staged",
        "git_diff",
        "git_log",
        "git_show",
        "git_branch",
    ] {
        check(&format!(r#"{{"tool":"{t}","args":{{"repo_path":"/r"}}}}"#), "read.git", &[]);
    }
    check(r#"{"tool":"git_commit","args":{"repo_path":"/r","message":"m"}}"#, "git.commit", &["code-change"]);
    for t in [
        "git_add",
        "git_reset",
        "git_create_branch",
        "git_checkout",
        "git_init",
    ] {
        check(&format!(r#"{{"tool":"{t}","args":{{"repo_path":"/r"}}}}"#), "write.file", &["code-change"]);
    }
    check(r#"{"tool":"git_add","args":{"repo_path":"/r","files":[".env"]}}"#, "write.file", &["code-change", "credentials"]);
}

#[rustfmt::skip]
#[test]
fn cordon_tools() {
    check(r#"{"server":"cordon","tool":"file_read","args":{"path":"a"}}"#, "read.file", &[]);
    check(r#"{"server":"cordon","tool":"file_write","args":{"path":"a","content":""}}"#, "write.file", &["code-change"]);
    check(r#"{"server":"cordon","tool":"file_edit","args":{"path":"a"}}"#, "write.file", &["code-change"]);
    check(r#"{"server":"cordon","tool":"git_push","args":{"remote":"origin","branch":"main"}}"#, "git.push", &["deploy"]);
    check(r#"{"server":"cordon","tool":"git_push","args":{"remote":"origin","branch":"main","force":true}}"#, "git.force-push", &["deploy", "destructive"]);
    check(r#"{"server":"cordon","tool":"git_push","args":{"remote":"origin","branch":"main","force":"yes"}}"#, "git.force-push", &["deploy", "destructive"]);
    check(r#"{"server":"cordon","tool":"git_push","args":{"remote":"origin","branch":"main","force":false}}"#, "git.push", &["deploy"]);
    check(r#"{"server":"cordon","tool":"git_push","args":{"remote":"origin","branch":"+main"}}"#, "git.force-push", &["deploy", "destructive"]);
    check(r#"{"server":"cordon","tool":"git_push","args":{"remote":"origin","branch":":main"}}"#, "git.force-push", &["deploy", "destructive"]);
    check(r#"{"server":"cordon","tool":"run_command","args":{"command":"ls"}}"#, "read.dir", &[]);
}

#[rustfmt::skip]
#[test]
fn github_tools() {
    for t in [
        "get_file_contents",
        "search_code",
        "list_issues",
        "get_pull_request",
        "list_commits",
        "search_repositories",
    ] {
        check(&format!(r#"{{"server":"gh","tool":"{t}","args":{{"owner":"o","repo":"r"}}}}"#), "read.web", &["network"]);
    }
    for t in [
        "create_or_update_file",
        "push_files",
        "create_branch",
        "merge_pull_request",
        "update_pull_request_branch",
    ] {
        check(&format!(r#"{{"server":"gh","tool":"{t}","args":{{"owner":"o","repo":"r"}}}}"#), "git.push", &["deploy"]);
    }
    for t in [
        "create_issue",
        "update_issue",
        "add_issue_comment",
        "create_pull_request",
        "create_pull_request_review",
        "fork_repository",
        "create_repository",
    ] {
        check(&format!(r#"{{"server":"gh","tool":"{t}","args":{{"owner":"o","repo":"r"}}}}"#), "git.push", &["deploy", "network"]);
    }
}

#[rustfmt::skip]
#[test]
fn claude_code_native_tools() {
    check(r#"{"tool":"Read","args":{"file_path":"/w/.env"}}"#, "read.env", &["credentials"]);
    check(r#"{"tool":"Write","args":{"file_path":"/w/a.rs","content":""}}"#, "write.file", &["code-change"]);
    check(r#"{"tool":"Edit","args":{"file_path":"/w/a.rs"}}"#, "write.file", &["code-change"]);
    check(r#"{"tool":"Grep","args":{"pattern":"x","path":"src"}}"#, "read.search", &[]);
    check(r#"{"tool":"WebFetch","args":{"url":"https://x"}}"#, "read.web", &["network"]);
    check(r#"{"tool":"Bash","args":{"command":"git push -f"}}"#, "git.force-push", &["deploy", "destructive"]);
}

#[rustfmt::skip]
#[test]
fn shell_tools_and_arguments() {
    for t in ["run_command", "execute_command", "shell", "bash", "Bash"] {
        check(&format!(r#"{{"tool":"{t}","args":{{"command":"rm -rf build"}}}}"#), "write.remove", &["code-change", "destructive"]);
    }
    check(r#"{"tool":"run_command","args":{"command":["git","push","--force"]}}"#, "git.force-push", &["deploy", "destructive"]);
    check(r#"{"tool":"run_command","args":{"command":["bash","-c","cat .env"]}}"#, "read.env", &["credentials"]);
    check(r#"{"tool":"run_command","args":{"command":"cat config","cwd":"~/.ssh"}}"#, "read.secrets", &["credentials"]);
    check(r#"{"tool":"run_command","args":{"command":"ls","workdir":"~/.aws"}}"#, "read.secrets", &["credentials"]);
    check(r#"{"tool":"run_command","args":{"command":""}}"#, "exec.shell", &["exec"]);
    check(r#"{"tool":"run_command","args":{"command":"   # only a comment"}}"#, "exec.shell", &["exec"]);
}

#[rustfmt::skip]
#[test]
fn resources_read() {
    check(r#"{"tool":"resources/read","args":{"uri":"file:///home/u/project/README.md"}}"#, "read.file", &[]);
    check(r#"{"tool":"resources/read","args":{"uri":"file:///home/u/project/.env"}}"#, "read.env", &["credentials"]);
    check(r#"{"tool":"resources/read","args":{"uri":"file:///home/u/%2Essh/id_rsa"}}"#, "read.secrets", &["credentials"]);
    check(r#"{"tool":"resources/read","args":{"uri":"FILE://localhost/etc/../root/.netrc"}}"#, "read.secrets", &["credentials"]);
    check(r#"{"tool":"resources/read","args":{"uri":"https://example.com/x"}}"#, "read.web", &["network"]);
    check(r#"{"tool":"resources/read","args":{"uri":42}}"#, "tool._.resources/read", &[]);
}

#[rustfmt::skip]
#[test]
fn unknown_tools() {
    check(r#"{"server":"jira","tool":"create_ticket","args":{"title":"x"}}"#, "tool.jira.create_ticket", &[]);
    check(r#"{"server":"my.srv","tool":"do it*","args":{}}"#, "tool.my_srv.do_it_", &[]);
    check(r#"{"tool":"frob","args":{}}"#, "tool._.frob", &[]);
    check(r#"{"server":"mail","tool":"send","args":{"attachment_path":"~/.ssh/id_rsa"}}"#, "read.secrets", &["credentials"]);
    check(r#"{"server":"aws","tool":"login","args":{"profile":"~/.aws/config"}}"#, "read.secrets", &["credentials"]);
    check(r#"{"server":"x","tool":"y","args":{"opts":{"list":["a","/w/.env"]}}}"#, "read.env", &["credentials"]);
    check(r#"{"server":"jira","tool":"create","args":{"title":"fix .env loading"}}"#, "tool.jira.create", &[]);
}

#[rustfmt::skip]
#[test]
fn wrong_argument_types_are_conservative() {
    // Shell tools: anything but a string or an array of strings is exec.shell.
    check(r#"{"tool":"run_command","args":{"command":{"x":1}}}"#, "exec.shell", &["exec"]);
    check(r#"{"tool":"run_command","args":{"command":42}}"#, "exec.shell", &["exec"]);
    check(r#"{"tool":"run_command","args":{"command":["ls",1]}}"#, "exec.shell", &["exec"]);
    check(r#"{"tool":"run_command","args":{}}"#, "exec.shell", &["exec"]);
    check(r#"{"tool":"run_command","args":"rm -rf /"}"#, "exec.shell", &["exec"]);
    check(r#"{"tool":"bash","args":["rm","-rf","/"]}"#, "exec.shell", &["exec"]);
    // Read tools with a path of the wrong type leave the read topics (an allow rule for reads
    // must not wave a malformed call through); strings inside still count as paths.
    check(r#"{"server":"fs","tool":"read_file","args":{"path":42}}"#, "tool.fs.read_file", &[]);
    check(r#"{"server":"fs","tool":"read_file","args":{"path":{"pathname":".env"}}}"#, "read.env", &["credentials"]);
    check(r#"{"server":"fs","tool":"read_file","args":{"path":[".env"]}}"#, "read.env", &["credentials"]);
    check(r#"{"server":"fs","tool":"read_multiple_files","args":{"paths":"a"}}"#, "tool.fs.read_multiple_files", &[]);
    check(r#"{"server":"fs","tool":"read_multiple_files","args":{"paths":["a",7]}}"#, "tool.fs.read_multiple_files", &[]);
    // A missing path: the server cannot act, the read topic stays, no path.
    check(r#"{"tool":"read_file","args":{}}"#, "read.file", &[]);
    // Write tools keep their (already guarded) topic.
    check(r#"{"tool":"write_file","args":{"path":true}}"#, "write.file", &["code-change"]);
    // Arguments that are not an object.
    check(r#"{"server":"fs","tool":"read_file","args":[".env"]}"#, "read.env", &["credentials"]);
    check(r#"{"server":"fs","tool":"read_file","args":7}"#, "tool.fs.read_file", &[]);
    check(r#"{"tool":"git_status","args":{"repo_path":5}}"#, "tool._.git_status", &[]);
}

#[rustfmt::skip]
#[test]
fn default_tags_per_topic() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("cat a", "read.file", &[]),
        ("ls", "read.dir", &[]),
        ("grep x a", "read.search", &[]),
        ("git log", "read.git", &[]),
        ("gh pr list", "read.web", &["network"]),
        ("cat .env", "read.env", &["credentials"]),
        ("cat id_rsa", "read.secrets", &["credentials"]),
        ("touch a", "write.file", &["code-change"]),
        ("mv a b", "write.move", &["code-change"]),
        ("mkdir d", "write.mkdir", &["code-change"]),
        ("rm a", "write.remove", &["code-change", "destructive"]),
        ("git commit -m x", "git.commit", &["code-change"]),
        ("git push", "git.push", &["deploy"]),
        ("git push -f", "git.force-push", &["deploy", "destructive"]),
        (
            "git rebase -i HEAD~3",
            "git.history-rewrite",
            &["code-change", "destructive"],
        ),
        ("make", "exec.shell", &["exec"]),
        (
            "terraform destroy",
            "infra.destroy",
            &["destructive", "infrastructure"],
        ),
        (
            "kubectl delete pod x",
            "k8s.delete",
            &["destructive", "infrastructure"],
        ),
        (
            "aws ec2 terminate-instances --instance-ids i-1",
            "cloud.delete",
            &["destructive", "infrastructure"],
        ),
        ("dropdb prod", "db.drop", &["destructive"]),
        ("cargo add serde", "deps.add", &["dependency"]),
        ("curl https://example.com", "net.fetch", &["network"]),
    ];
    for (cmd, topic, tags) in cases {
        check(&serde_json::json!({"tool": "run_command", "args": {"command": cmd}}).to_string(), topic, tags);
    }
}

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
    check(r#"{"server":"evil","tool":"TodoWrite","args":{"todos":[]}}"#, "tool.evil.TodoWrite", &[]);
    check(r#"{"server":"evil","tool":"Agent","args":{"prompt":"p"}}"#, "tool.evil.Agent", &[]);
    check(r#"{"server":"evil","tool":"Skill","args":{"skill":"x"}}"#, "tool.evil.Skill", &[]);
    check(r#"{"server":"cordon","tool":"ExitPlanMode","args":{}}"#, "tool.cordon.ExitPlanMode", &[]);
    check(r#"{"server":"","tool":"TodoWrite","args":{}}"#, "tool._.TodoWrite", &[]);
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
