//! Runtime constraints end to end in-process (issue 9): limits crossed by one with their
//! evidence, counters and the kill switch surviving a restart, the blast radius, production
//! targets, upstream timeouts. The `echo_upstream` example is the real stdio upstream.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use cordon_evidence::{Filter, Outcome, Record};
use cordon_gateway::approvals::Announcement;
use cordon_gateway::control::{self, Guarded, Request};
use cordon_gateway::pipeline::CallContext;
use cordon_gateway::{Config, Engine, PauseState};
use rmcp::model::CallToolResponse;
use serde_json::{Value, json};

fn echo_upstream() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir.join("examples").join("echo_upstream");
    assert!(path.exists(), "build the example first: {}", path.display());
    path
}

struct Harness {
    engine: Engine,
    socket: PathBuf,
}

/// Starts an engine in `dir` (reusing its evidence database if one is there).
async fn start(dir: &Path, policy: &str, extra: &str) -> Harness {
    std::fs::write(dir.join("policy.yaml"), policy).unwrap();
    let yaml = format!(
        "socket: ./c.sock\npolicy: ./policy.yaml\nevidence: ./evidence.db\nsigning_key: file:./key.pem\npins: ./pins.json\n\
         reviewer: rev@example.com\n{extra}servers:\n  echo:\n    command: {}\n    env: {{ECHO_CANCEL_MARK: \"{}\"}}\n",
        echo_upstream().display(),
        dir.join("cancel-mark").display(),
    );
    let path = dir.join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    let config = Config::load(&path).unwrap();
    let socket = config.socket.clone();
    let engine = Engine::start(config).await.unwrap();
    Harness { engine, socket }
}

fn ctx(agent: &str, session: &str) -> CallContext {
    CallContext {
        agent: agent.into(),
        session_id: session.into(),
        progress: None,
        cancel: tokio_util::sync::CancellationToken::new(),
    }
}

impl Harness {
    async fn call(&self, agent: &str, session: &str, tool: &str, args: Value) -> (bool, String) {
        let response = self
            .engine
            .pipeline()
            .call_tool(
                &ctx(agent, session),
                "echo",
                tool,
                args.as_object().cloned(),
                Default::default(),
            )
            .await;
        let CallToolResponse::Complete(result) = response else {
            panic!("not a complete result");
        };
        let value = serde_json::to_value(&result).unwrap();
        let text = value["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        (result.is_error != Some(true), text)
    }

    fn records(&self) -> Vec<Record> {
        let filter = Filter {
            oldest_first: true,
            ..Filter::default()
        };
        self.engine
            .pipeline()
            .recorder()
            .log()
            .query(&filter)
            .unwrap()
    }

    fn last(&self) -> Record {
        self.records().pop().unwrap()
    }

    async fn wait_pending(&self, count: usize) -> Vec<Value> {
        for _ in 0..500 {
            let reply = control::request(&self.socket, &Request::Approvals)
                .await
                .unwrap();
            let list = reply["approvals"].as_array().cloned().unwrap_or_default();
            if list.len() >= count {
                return list;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no pending approval appeared");
    }
}

const ALLOW_ALL: &str = "version: t\ndefault_decision: allow\nrules: []\n";

fn echo(text: &str) -> Value {
    json!({"text": text})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_budget_is_crossed_by_one_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let policy = format!(
        "{ALLOW_ALL}limits:\n  - id: budget\n    match: {{agents: [claude-code]}}\n    max_tool_calls: 3\n"
    );
    let h = start(dir.path(), &policy, "").await;
    for i in 0..3 {
        let (ok, text) = h.call("claude-code", "sess_a", "echo", echo("hi")).await;
        assert!(ok, "call {i}: {text}");
    }
    let (ok, text) = h.call("claude-code", "sess_a", "echo", echo("hi")).await;
    assert!(!ok);
    assert!(text.contains("limit:max_tool_calls"), "{text}");
    assert!(
        text.contains("3 of 3 tool calls already made in this session"),
        "{text}"
    );
    let r = h.last();
    assert_eq!(
        (r.decision.as_str(), r.outcome, r.rule_id.as_deref()),
        ("deny", Outcome::Denied, Some("limit:max_tool_calls"))
    );
    assert!(
        r.reason.contains("limit `budget` max_tool_calls reached"),
        "{}",
        r.reason
    );
    // Another session and another agent have their own counters.
    assert!(h.call("claude-code", "sess_b", "echo", echo("hi")).await.0);
    assert!(h.call("cursor", "sess_a2", "echo", echo("hi")).await.0);
    h.engine.shutdown().await.unwrap();

    // After a restart the session's counters are still there.
    let h = start(dir.path(), &policy, "").await;
    let (ok, text) = h.call("claude-code", "sess_a", "echo", echo("hi")).await;
    assert!(!ok, "the budget must survive a restart: {text}");
    assert!(h.call("claude-code", "sess_b", "echo", echo("hi")).await.0);
    h.engine.shutdown().await.unwrap();

    // Stored counters that cannot be read count as spent, never as zero (fail closed).
    {
        let log = cordon_evidence::RuntimeState::new(std::sync::Arc::new(
            cordon_evidence::EvidenceLog::open(
                &dir.path().join("evidence.db"),
                cordon_evidence::KeyStore::File(dir.path().join("key.pem")),
            )
            .unwrap(),
        ));
        log.save_counter("sess_b", "budget", "{not json").unwrap();
    }
    let h = start(dir.path(), &policy, "").await;
    let (ok, text) = h.call("claude-code", "sess_b", "echo", echo("hi")).await;
    assert!(
        !ok,
        "an unreadable budget must not start again from zero: {text}"
    );
    assert!(text.contains("limit:max_tool_calls"), "{text}");
    assert!(h.call("claude-code", "sess_c", "echo", echo("hi")).await.0);
    h.engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_budgets_files_and_bytes_each_cross_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().canonicalize().unwrap().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    let policy = format!(
        "{ALLOW_ALL}limits:\n  - id: writes\n    max_file_writes: 2\n  - id: files\n    per: agent\n    max_files_changed: 2\n    on_limit: require_approval\n  - id: bytes\n    max_bytes_written: 10\n"
    );
    let extra = format!(
        "agents:\n  claude-code:\n    roots: [\"{}\"]\n",
        ws.display()
    );
    let h = start(dir.path(), &policy, &extra).await;
    let write = |name: &str, content: &str| json!({"path": ws.join(name).display().to_string(), "content": content});
    // Bytes: 4 + 4 pass, the next 4 would make 12 > 10.
    assert!(
        h.call("claude-code", "s1", "write_file", write("a", "1234"))
            .await
            .0
    );
    assert!(
        h.call("claude-code", "s1", "write_file", write("a", "1234"))
            .await
            .0
    );
    let (ok, text) = h
        .call("claude-code", "s1", "write_file", write("a", "1234"))
        .await;
    assert!(!ok);
    // Writes are checked before bytes: 2 of 2 writes made.
    assert!(text.contains("limit:max_file_writes"), "{text}");
    let r = h.last();
    assert_eq!(r.rule_id.as_deref(), Some("limit:max_file_writes"));
    assert!(r.reason.contains("2 of 2 file writes"), "{}", r.reason);

    // A fresh session: bytes are crossed first (one write of 11 bytes).
    let (ok, text) = h
        .call("claude-code", "s2", "write_file", write("b", "12345678901"))
        .await;
    assert!(!ok);
    assert!(text.contains("limit:max_bytes_written"), "{text}");
    assert!(
        text.contains(
            "0 bytes written in this session, this call writes 11 more; the limit is 10 bytes"
        ),
        "{text}"
    );

    // Distinct files, counted per agent across sessions: a and ... a third file waits for a human.
    assert!(
        h.call("claude-code", "s3", "write_file", write("b", "x"))
            .await
            .0
    );
    let pipeline = h.engine.pipeline().clone();
    let args = write("c", "x");
    let held = tokio::spawn(async move {
        pipeline
            .call_tool(
                &ctx("claude-code", "s4"),
                "echo",
                "write_file",
                args.as_object().cloned(),
                Default::default(),
            )
            .await
    });
    let pending = h.wait_pending(1).await;
    assert_eq!(pending[0]["rule_id"], "limit:max_files_changed");
    let reason = pending[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("2 of 2 distinct files already changed in this agent"),
        "{reason}"
    );
    let id = pending[0]["id"].as_str().unwrap().to_owned();
    control::request(
        &h.socket,
        &Request::Approve {
            code: h.engine.approval_code(&id),
            id,
            session: false,
            prefix: None,
        },
    )
    .await
    .unwrap();
    held.await.unwrap();
    let r = h.last();
    assert_eq!(
        (r.outcome, r.decision.as_str()),
        (Outcome::Approved, "require_approval")
    );
    // The approved file counts now.
    let usage = h
        .engine
        .pipeline()
        .constraints()
        .usage("agent:claude-code", "files")
        .unwrap();
    assert_eq!(usage.files.len(), 3);
    h.engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_and_duration_limits_deny_with_their_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let policy = format!("{ALLOW_ALL}limits:\n  - id: rate\n    calls_per_minute: 2\n");
    let h = start(dir.path(), &policy, "").await;
    assert!(h.call("a", "s", "echo", echo("1")).await.0);
    assert!(h.call("a", "s", "echo", echo("2")).await.0);
    let (ok, text) = h.call("a", "s", "echo", echo("3")).await;
    assert!(!ok);
    assert!(text.contains("limit:calls_per_minute"), "{text}");
    assert!(
        text.contains("2 calls in the last minute; the limit is 2 per minute"),
        "{text}"
    );
    h.engine.shutdown().await.unwrap();

    // A session that started longer ago than its limit (counters from the store).
    let dir = tempfile::tempdir().unwrap();
    let policy = format!("{ALLOW_ALL}limits:\n  - id: short\n    max_session_duration: 1h\n");
    {
        let log = cordon_evidence::RuntimeState::new(std::sync::Arc::new(
            cordon_evidence::EvidenceLog::open(
                &dir.path().join("evidence.db"),
                cordon_evidence::KeyStore::File(dir.path().join("key.pem")),
            )
            .unwrap(),
        ));
        let two_hours_ago = cordon_gateway::constraints::now_ms() - 2 * 3600 * 1000;
        log.save_counter(
            "old",
            "short",
            &format!("{{\"started_ms\":{two_hours_ago}}}"),
        )
        .unwrap();
    }
    let h = start(dir.path(), &policy, "").await;
    let (ok, text) = h.call("a", "old", "echo", echo("1")).await;
    assert!(!ok);
    assert!(text.contains("limit:max_session_duration"), "{text}");
    assert!(
        text.contains("this session started 2h ago; the limit is 1h"),
        "{text}"
    );
    assert!(h.call("a", "new", "echo", echo("1")).await.0);
    h.engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_upstream_is_cut_at_its_timeout_and_told_to_cancel() {
    let dir = tempfile::tempdir().unwrap();
    let policy = format!(
        "{ALLOW_ALL}limits:\n  - id: quick\n    match: {{servers: [echo]}}\n    upstream_timeout: 300ms\n"
    );
    let h = start(dir.path(), &policy, "").await;
    let (ok, text) = h.call("a", "s", "echo", json!({"wait": true})).await;
    assert!(!ok);
    assert!(text.contains("did not answer within 300ms"), "{text}");
    let r = h.last();
    assert_eq!(r.outcome, Outcome::Error);
    assert!(
        r.error
            .as_deref()
            .unwrap_or("")
            .contains("upstream_timeout"),
        "{r:?}"
    );
    // The upstream heard the cancellation (it writes the mark when cancelled).
    let mark = dir.path().join("cancel-mark");
    for _ in 0..500 {
        if mark.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(std::fs::read_to_string(&mark).unwrap(), "cancelled");
    // Quick calls still pass.
    assert!(h.call("a", "s", "echo", echo("fast")).await.0);
    h.engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_refuses_calls_denies_held_ones_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let policy = format!(
        "{ALLOW_ALL}rules:\n  - id: hold-writes\n    match: {{topics: [job.mcp-bridge.write.*]}}\n    decision: require_approval\n    reason: writes need review\n"
    )
    .replace("rules: []\n", "");
    let h = start(dir.path(), &policy, "").await;
    // A held call of cursor is denied by the pause.
    let pipeline = h.engine.pipeline().clone();
    let held = tokio::spawn(async move {
        pipeline
            .call_tool(
                &ctx("cursor", "s1"),
                "echo",
                "write_file",
                json!({"path": "/tmp/x", "content": "x"})
                    .as_object()
                    .cloned(),
                Default::default(),
            )
            .await
    });
    h.wait_pending(1).await;
    let reply = control::request(
        &h.socket,
        &Request::Pause {
            agent: Some("cursor".into()),
        },
    )
    .await
    .unwrap();
    assert_eq!(reply["pause"], json!({"all": false, "agents": ["cursor"]}));
    held.await.unwrap();
    let r = h.last();
    assert_eq!(r.outcome, Outcome::Rejected);
    assert_eq!(r.reviewer.as_deref(), Some("kill-switch"));
    // Paused: refused and recorded; other agents go on.
    let (ok, text) = h.call("cursor", "s1", "echo", echo("x")).await;
    assert!(!ok);
    assert!(text.contains("rule pause"), "{text}");
    assert!(text.contains("paused for agent `cursor`"), "{text}");
    assert_eq!(h.last().rule_id.as_deref(), Some("pause"));
    assert!(h.call("claude-code", "s2", "echo", echo("x")).await.0);
    // Pause all (the engine API the tray uses), then restart: still paused.
    let state = h.engine.pause(None).unwrap();
    assert!(state.all);
    assert!(!h.call("claude-code", "s2", "echo", echo("x")).await.0);
    assert!(
        h.engine.resume(Some("cursor")).is_err(),
        "cannot resume one while all are paused"
    );
    h.engine.shutdown().await.unwrap();
    let h = start(dir.path(), &policy, "").await;
    assert_eq!(
        h.engine.pause_state(),
        PauseState {
            all: true,
            agents: vec!["cursor".into()]
        }
    );
    assert!(!h.call("claude-code", "s3", "echo", echo("x")).await.0);
    // Resuming over the socket needs the one-time code the engine shows on its own channel.
    let shown = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = shown.clone();
    h.engine
        .set_announcer(std::sync::Arc::new(move |a: &Announcement| {
            if let Announcement::Challenge { code, .. } = a {
                sink.lock().unwrap().push(code.clone());
            }
        }));
    let bare = Request::Resume {
        agent: None,
        code: None,
    };
    assert!(control::request(&h.socket, &bare).await.is_err());
    let forged = Request::Resume {
        agent: None,
        code: Some("0000-0000".into()),
    };
    assert!(control::request(&h.socket, &forged).await.is_err());
    let challenge = Request::Challenge {
        action: Guarded::Resume { agent: None },
    };
    control::request(&h.socket, &challenge).await.unwrap();
    assert!(control::request(&h.socket, &forged).await.is_err());
    assert!(h.engine.pause_state().all, "a wrong code resumes nothing");
    let code = shown.lock().unwrap().last().cloned();
    assert!(code.is_some());
    let reply = control::request(&h.socket, &Request::Resume { agent: None, code })
        .await
        .unwrap();
    assert_eq!(reply["pause"], json!({"all": false, "agents": []}));
    assert!(h.call("cursor", "s3", "echo", echo("x")).await.0);
    h.engine.shutdown().await.unwrap();

    // The policy's own switch.
    let dir = tempfile::tempdir().unwrap();
    let h = start(
        dir.path(),
        &format!("{ALLOW_ALL}paused_agents: [cursor]\n"),
        "",
    )
    .await;
    let (ok, text) = h.call("cursor", "s", "echo", echo("x")).await;
    assert!(!ok);
    assert!(text.contains("by the policy"), "{text}");
    assert!(h.call("claude-code", "s", "echo", echo("x")).await.0);
    h.engine.shutdown().await.unwrap();
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_outside_the_roots_are_denied_directly_via_dotdot_and_via_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().canonicalize().unwrap();
    let ws = top.join("ws");
    let outside = top.join("outside");
    std::fs::create_dir_all(ws.join("src")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, ws.join("escape")).unwrap();
    let extra = format!(
        "agents:\n  claude-code:\n    roots: [\"{}\"]\n",
        ws.display()
    );
    let h = start(dir.path(), ALLOW_ALL, &extra).await;
    let write = |path: String| json!({"path": path, "content": "x"});
    let ws_s = ws.display().to_string();
    // Inside passes.
    assert!(
        h.call(
            "claude-code",
            "s",
            "write_file",
            write(format!("{ws_s}/src/a.rs"))
        )
        .await
        .0
    );
    for path in [
        outside.join("a.txt").display().to_string(),
        format!("{ws_s}/../outside/b.txt"),
        format!("{ws_s}/src/../../outside/c.txt"),
        format!("{ws_s}/escape/d.txt"),
        format!("{ws_s}/escape/new/dir/e.txt"),
        "/etc/cordon-test".to_owned(),
    ] {
        let (ok, text) = h
            .call("claude-code", "s", "write_file", write(path.clone()))
            .await;
        assert!(!ok, "{path} must be refused");
        assert!(
            text.contains("blast-radius:outside-roots"),
            "{path}: {text}"
        );
        let r = h.last();
        assert_eq!(r.outcome, Outcome::Denied);
        assert_eq!(r.rule_id.as_deref(), Some("blast-radius:outside-roots"));
        assert!(
            r.reason
                .contains("outside the workspace roots of agent `claude-code`"),
            "{}",
            r.reason
        );
    }
    // A move out of the roots and a shell command whose working directory is outside.
    let (ok, text) = h
        .call(
            "claude-code",
            "s",
            "move_file",
            json!({"source": format!("{ws_s}/src/a.rs"), "destination": outside.join("a.rs").display().to_string()}),
        )
        .await;
    assert!(!ok, "{text}");
    let (ok, text) = h
        .call(
            "claude-code",
            "s",
            "run_command",
            json!({"command": "ls", "cwd": outside.display().to_string()}),
        )
        .await;
    assert!(!ok, "{text}");
    assert!(text.contains("shell working directory"), "{text}");
    let (ok, text) = h
        .call(
            "claude-code",
            "s",
            "run_command",
            json!({"command": "cd /tmp && touch x", "cwd": ws_s}),
        )
        .await;
    assert!(!ok, "{text}");
    // Without known roots, a write waits for a human (fail closed, yet usable).
    let pipeline = h.engine.pipeline().clone();
    let path = outside.join("z.txt").display().to_string();
    let held = tokio::spawn(async move {
        pipeline
            .call_tool(
                &ctx("other-agent", "s9"),
                "echo",
                "write_file",
                json!({"path": path, "content": "x"}).as_object().cloned(),
                Default::default(),
            )
            .await
    });
    let pending = h.wait_pending(1).await;
    assert_eq!(pending[0]["rule_id"], "blast-radius:unknown-roots");
    let id = pending[0]["id"].as_str().unwrap().to_owned();
    control::request(&h.socket, &Request::Deny { id, reason: None })
        .await
        .unwrap();
    held.await.unwrap();
    h.engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_is_denied_for_one_agent_while_staging_passes() {
    let dir = tempfile::tempdir().unwrap();
    let policy = "version: t\ndefault_decision: allow\nproduction:\n  kube_contexts: [prod, \"prod-*\"]\n  git_branches: [main]\n\
        rules:\n  - id: no-prod-for-cursor\n    match: {agents: [cursor], risk_tags: [production]}\n    decision: deny\n    reason: cursor never touches production\n";
    let extra = format!(
        "agents:\n  cursor:\n    roots: [\"{}\"]\n  claude-code:\n    roots: [\"{}\"]\n",
        dir.path().display(),
        dir.path().display()
    );
    let h = start(dir.path(), policy, &extra).await;
    let cwd = dir.path().display().to_string();
    let run = |cmd: &str| json!({"command": cmd, "cwd": cwd});
    let (ok, text) = h
        .call(
            "cursor",
            "s",
            "run_command",
            run("kubectl --context prod delete pod web-1"),
        )
        .await;
    assert!(!ok);
    assert!(text.contains("no-prod-for-cursor"), "{text}");
    let r = h.last();
    assert_eq!(r.action, "job.mcp-bridge.k8s.delete");
    assert!(r.risk_tags.contains(&"production".to_owned()), "{r:?}");
    let (ok, text) = h
        .call(
            "cursor",
            "s",
            "run_command",
            run("kubectl --context staging delete pod web-1"),
        )
        .await;
    assert!(ok, "{text}");
    assert!(!h.last().risk_tags.contains(&"production".to_owned()));
    // Another agent may (the policy says so), and the tag is still recorded.
    assert!(
        h.call(
            "claude-code",
            "s",
            "run_command",
            run("kubectl --context prod-eu delete pod web-1")
        )
        .await
        .0
    );
    assert!(h.last().risk_tags.contains(&"production".to_owned()));
    let (ok, _) = h
        .call("cursor", "s", "run_command", run("git push origin main"))
        .await;
    assert!(!ok);
    h.engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_hooks_obey_the_pause_and_their_working_directory_as_roots() {
    use cordon_gateway::native::{HookCall, gate_hook};
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().canonicalize().unwrap();
    let project = top.join("project");
    std::fs::create_dir_all(&project).unwrap();
    let h = start(dir.path(), ALLOW_ALL, "").await;
    let hook = |tool: &str, args: Value| HookCall {
        agent: "claude-code".into(),
        session_id: "hook-s".into(),
        tool: tool.into(),
        args,
        cwd: Some(project.display().to_string()),
    };
    let pipeline = h.engine.pipeline().clone();
    let cancel = tokio_util::sync::CancellationToken::new;
    let inside = hook(
        "Write",
        json!({"file_path": project.join("a.txt").display().to_string(), "content": "x"}),
    );
    assert!(gate_hook(&pipeline, inside.clone(), cancel()).await.allow);
    let outside = hook(
        "Write",
        json!({"file_path": top.join("b.txt").display().to_string(), "content": "x"}),
    );
    let v = gate_hook(&pipeline, outside, cancel()).await;
    assert!(!v.allow);
    assert_eq!(v.rule_id.as_deref(), Some("blast-radius:outside-roots"));
    let dotdot = hook("Bash", json!({"command": "echo x > ../c.txt"}));
    let v = gate_hook(&pipeline, dotdot, cancel()).await;
    assert!(!v.allow, "{v:?}");
    h.engine.pause(Some("claude-code")).unwrap();
    let v = gate_hook(&pipeline, inside.clone(), cancel()).await;
    assert!(!v.allow);
    assert_eq!(v.rule_id.as_deref(), Some("pause"));
    assert_eq!(h.last().rule_id.as_deref(), Some("pause"));
    h.engine.resume(Some("claude-code")).unwrap();
    assert!(gate_hook(&pipeline, inside, cancel()).await.allow);
    h.engine.shutdown().await.unwrap();
}

#[test]
fn a_throttled_call_waits_for_its_reserved_slot_and_is_recorded_as_throttle() {
    use cordon_gateway::constraints::Constraints;
    use cordon_policy::{Policy, Source, ToolCall};
    let policy = Policy::from_sources(&[Source {
        name: "p.yaml".into(),
        text: format!(
            "{ALLOW_ALL}limits:\n  - id: rate\n    calls_per_minute: 2\n    on_limit: throttle\n"
        ),
    }])
    .unwrap();
    let constraints = Constraints::default();
    let call = ToolCall {
        agent: "a".into(),
        server: "echo".into(),
        tool: "echo".into(),
        args: json!({}),
    };
    let mut waits = Vec::new();
    for _ in 0..6 {
        let mut verdict = policy.evaluate(&call);
        let g = constraints.govern(&policy, &call, &mut verdict, "s", Path::new("/"), None);
        waits.push((verdict.decision, g.throttled, g.throttle));
    }
    use cordon_policy::Decision::{Allow, Deny};
    assert_eq!(waits[0], (Allow, false, None));
    assert_eq!(waits[1], (Allow, false, None));
    // The 3rd and 4th wait for the first two slots to leave the window (about a minute)...
    for w in &waits[2..4] {
        assert_eq!((w.0, w.1), (Allow, true));
        let wait = w.2.unwrap();
        assert!(
            wait > Duration::from_secs(50) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
    }
    // ...and the 5th would wait more than a minute: refused, still recorded as a throttle.
    assert_eq!((waits[4].0, waits[4].1), (Deny, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_calls_wait_in_line_and_an_overlong_wait_is_refused_as_throttle() {
    let dir = tempfile::tempdir().unwrap();
    let policy = format!(
        "{ALLOW_ALL}limits:\n  - id: rate\n    calls_per_minute: 1\n    on_limit: throttle\n"
    );
    let h = start(dir.path(), &policy, "").await;
    assert!(h.call("a", "s", "echo", echo("first")).await.0);
    // The second call waits for the first to leave the window (about a minute): it holds the
    // next slot while it waits.
    let pipeline = h.engine.pipeline().clone();
    let waiting = ctx("a", "s");
    let cancel = waiting.cancel.clone();
    let second = tokio::spawn(async move {
        pipeline
            .call_tool(
                &waiting,
                "echo",
                "echo",
                echo("second").as_object().cloned(),
                Default::default(),
            )
            .await
    });
    // Wait until the second call has reserved its slot (its counters show two calls).
    for _ in 0..500 {
        if h.engine
            .pipeline()
            .constraints()
            .usage("s", "rate")
            .map(|u| u.calls)
            == Some(2)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A third call would wait about two minutes: refused now, recorded as a throttle.
    let (ok, text) = h.call("a", "s", "echo", echo("third")).await;
    assert!(!ok);
    assert!(text.contains("limit:calls_per_minute"), "{text}");
    assert!(text.contains("exceeds a minute"), "{text}");
    let r = h.last();
    assert_eq!(
        (r.decision.as_str(), r.outcome),
        ("throttle", Outcome::Denied)
    );
    // The waiting call, cancelled by its agent, is recorded as a throttle that ended in error.
    cancel.cancel();
    second.await.unwrap();
    let r = h.last();
    assert_eq!(
        (r.decision.as_str(), r.outcome),
        ("throttle", Outcome::Error)
    );
    assert!(
        r.error.as_deref().unwrap_or("").contains("throttled"),
        "{r:?}"
    );
    h.engine.shutdown().await.unwrap();
}
