//! `cordon hook claude-code|cursor` against a real engine (`cordon serve`) with the repository's
//! default policy: documented hook payloads in, the agent's answer and the evidence out.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_cordon");
/// Generous: only a bound on waiting for the engine to start, never an assertion on speed.
const START_DEADLINE: Duration = Duration::from_secs(60);

struct Engine {
    dir: tempfile::TempDir,
    _sock: tempfile::TempDir,
    config: PathBuf,
    child: Child,
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn policy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/default.yaml")
}

/// A config whose socket is in a short private directory (Unix socket paths are short).
fn write_config(dir: &Path, sock: &Path) -> PathBuf {
    let config = dir.join("cordon.yaml");
    let text = format!(
        "socket: {:?}\npolicy: {:?}\nevidence: {:?}\nsigning_key: {:?}\nkeychain_service: cordon-hooks-test\napproval_timeout: 5m\nreviewer: reviewer@example.com\nservers: {{}}\n",
        sock.join("c.sock").display().to_string(),
        policy().display().to_string(),
        dir.join("evidence.db").display().to_string(),
        format!("file:{}", dir.join("signing.key").display()),
    );
    std::fs::write(&config, text).unwrap();
    config
}

fn short_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("ch")
        .tempdir_in("/tmp")
        .unwrap()
}

fn cordon(config: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("CORDON_CONFIG")
        .output()
        .unwrap()
}

impl Engine {
    /// The one-time code `cordon serve` printed on its stderr for this held call (the test is
    /// the human watching the engine's terminal).
    fn code(&self, id: &str) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap();
        let line = log
            .lines()
            .find(|l| l.starts_with(&format!("cordon: approval {id} waiting:")))
            .unwrap_or_else(|| panic!("no code shown for {id}:\n{log}"));
        line.rsplit(' ').next().unwrap().to_owned()
    }

    /// `cordon approve ID --code CODE` on a pseudo-terminal (`script`), as a human runs it.
    fn approve_on_terminal(&self, id: &str, code: &str) -> Output {
        let command = format!(
            "{BIN} approve {id} --code {code} --config {}",
            self.config.display()
        );
        Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .env_remove("CORDON_CONFIG")
            .output()
            .unwrap()
    }

    /// `cordon resume --agent AGENT` on a pseudo-terminal: it asks the engine for a code, the
    /// test reads it from the engine's stderr (the human's view) and types it.
    fn resume_on_terminal(&self, agent: &str) -> Output {
        use std::io::Write;
        let log_path = self.dir.path().join("serve.log");
        let seen = std::fs::read_to_string(&log_path).unwrap().len();
        let command = format!(
            "{BIN} resume --agent {agent} --config {}",
            self.config.display()
        );
        let mut child = Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .env_remove("CORDON_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let wanted = format!("for: resume agent {agent} (");
        let started = Instant::now();
        let code = loop {
            let log = std::fs::read_to_string(&log_path).unwrap();
            if let Some(line) = log
                .get(seen..)
                .unwrap_or("")
                .lines()
                .find(|l| l.contains(&wanted))
            {
                break line.split_whitespace().nth(3).unwrap().to_owned();
            }
            assert!(started.elapsed() < START_DEADLINE, "no code shown:\n{log}");
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(format!("{code}\n").as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        drop(stdin);
        out
    }

    fn start() -> Engine {
        let dir = tempfile::tempdir().unwrap();
        let sock = short_dir();
        let config = write_config(dir.path(), sock.path());
        std::fs::create_dir_all(dir.path().join("project/src")).unwrap();
        std::fs::write(dir.path().join("project/src/main.rs"), "fn main() {}\n").unwrap();
        std::fs::write(dir.path().join("project/.env"), "API_KEY=hunter2\n").unwrap();
        let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
        let child = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&config)
            .env_remove("CORDON_CONFIG")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let engine = Engine {
            dir,
            _sock: sock,
            config,
            child,
        };
        let started = Instant::now();
        loop {
            if cordon(&engine.config, &["approvals", "--json"])
                .status
                .success()
            {
                return engine;
            }
            assert!(
                started.elapsed() < START_DEADLINE,
                "engine did not start: {}",
                std::fs::read_to_string(engine.dir.path().join("serve.log")).unwrap()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn project(&self) -> PathBuf {
        self.dir.path().join("project")
    }

    fn approvals(&self) -> Vec<Value> {
        let out = cordon(&self.config, &["approvals", "--json"]);
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
    }

    /// Waits until exactly one approval is pending and returns it.
    fn one_pending(&self) -> Value {
        let started = Instant::now();
        loop {
            let list = self.approvals();
            if let [one] = list.as_slice() {
                return one.clone();
            }
            assert!(list.len() < 2, "{list:?}");
            assert!(started.elapsed() < START_DEADLINE, "nothing was held");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// One record per call, newest first: the one that says how it ended. (Write-ahead evidence
    /// records an intent before the hook is answered allow and an outcome after; the outcome
    /// carries every field of its intent. An intent nothing closes stands for its call.)
    fn records(&self) -> Vec<Value> {
        let all = self.all_records();
        let closed: Vec<Value> = all
            .iter()
            .filter_map(|r| r.get("intent_id").cloned())
            .collect();
        all.into_iter()
            .filter(|r| !(r["phase"] == "intent" && closed.contains(&r["id"])))
            .collect()
    }

    /// Every record as stored, newest first.
    fn all_records(&self) -> Vec<Value> {
        let out = cordon(
            &self.config,
            &["log", "list", "--json", "--limit", "100000"],
        );
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// Runs `cordon hook AGENT --config F` with `payload` on stdin.
fn spawn_hook(config: &Path, agent: &str, payload: &str) -> Child {
    let mut child = Command::new(BIN)
        .args(["hook", agent, "--config"])
        .arg(config)
        .env_remove("CORDON_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A hook may refuse before reading its input (an unknown agent): a closed pipe is its answer.
    match child.stdin.take().unwrap().write_all(payload.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.unwrap(),
    }
    child
}

fn hook(config: &Path, agent: &str, payload: &Value) -> (Value, Output) {
    let out = spawn_hook(config, agent, &payload.to_string())
        .wait_with_output()
        .unwrap();
    let answer = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (answer, out)
}

fn claude(engine_cwd: &Path, tool: &str, input: Value) -> Value {
    json!({
        "session_id": "9f2c1e7a-5b3d-4c1e-8a6f-0d2b4c6e8f10",
        "transcript_path": "/home/dev/.claude/projects/p/9f2c1e7a.jsonl",
        "cwd": engine_cwd,
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": tool,
        "tool_input": input,
        "tool_use_id": "toolu_01ABC123"
    })
}

fn decision(answer: &Value) -> (&str, &str) {
    let out = &answer["hookSpecificOutput"];
    assert_eq!(out["hookEventName"], "PreToolUse", "{answer}");
    (
        out["permissionDecision"].as_str().unwrap(),
        out["permissionDecisionReason"].as_str().unwrap(),
    )
}

#[test]
fn claude_code_built_in_tools_are_judged_by_the_default_policy() {
    let engine = Engine::start();
    let cwd = engine.project();

    let (answer, out) = hook(
        &engine.config,
        "claude-code",
        &claude(
            &cwd,
            "Bash",
            json!({"command": "git push --force origin main", "description": "Force-push main"}),
        ),
    );
    assert!(out.status.success(), "{out:?}");
    let (d, reason) = decision(&answer);
    assert_eq!(d, "deny");
    assert!(reason.contains("deny-force-push"), "{reason}");

    let env = cwd.join(".env");
    let (answer, _) = hook(
        &engine.config,
        "claude-code",
        &claude(&cwd, "Read", json!({"file_path": env})),
    );
    let (d, reason) = decision(&answer);
    assert_eq!(d, "deny");
    assert!(reason.contains("deny-secrets"), "{reason}");

    let main = cwd.join("src/main.rs");
    let (answer, _) = hook(
        &engine.config,
        "claude-code",
        &claude(&cwd, "Read", json!({"file_path": main})),
    );
    assert_eq!(decision(&answer).0, "allow", "{answer}");

    let (answer, _) = hook(
        &engine.config,
        "claude-code",
        &claude(&cwd, "Grep", json!({"pattern": "fn main", "path": cwd})),
    );
    assert_eq!(decision(&answer).0, "allow", "{answer}");

    // Larger than the control channel accepts: refused (fail closed), not recorded.
    let big = "x".repeat(cordon_gateway::control::MAX_REQUEST_BYTES as usize);
    let (answer, _) = hook(
        &engine.config,
        "claude-code",
        &claude(
            &cwd,
            "Write",
            json!({"file_path": cwd.join("big.txt"), "content": big}),
        ),
    );
    let (d, reason) = decision(&answer);
    assert_eq!(d, "deny");
    assert!(reason.contains("larger than"), "{reason}");

    // One evidence record per call, recorded under the `native` server.
    let records = engine.records();
    assert_eq!(records.len(), 4, "{records:#?}");
    for r in &records {
        assert_eq!(r["server"], "native");
        assert_eq!(r["agent"], "claude-code");
        assert_eq!(r["session_id"], "9f2c1e7a-5b3d-4c1e-8a6f-0d2b4c6e8f10");
    }
    let by_tool = |tool: &str, outcome: &str| {
        records
            .iter()
            .filter(|r| r["tool"] == tool && r["outcome"] == outcome)
            .count()
    };
    assert_eq!(by_tool("Bash", "denied"), 1);
    assert_eq!(by_tool("Read", "denied"), 1);
    assert_eq!(by_tool("Read", "allowed"), 1);
    assert_eq!(by_tool("Grep", "allowed"), 1);
    // Write-ahead: each allowed hook call has an intent (recorded before the allow was answered)
    // closed by its outcome; the denials are single records.
    let all = engine.all_records();
    assert_eq!(all.len(), 6, "{all:#?}");
    for outcome in all.iter().filter(|r| r["phase"] == "outcome") {
        let intent = all
            .iter()
            .find(|r| r["id"] == outcome["intent_id"])
            .unwrap();
        assert_eq!(intent["phase"], "intent");
        assert_eq!(intent["outcome"], "allowed");
        assert!(intent["seq"].as_u64() < outcome["seq"].as_u64());
    }
}

#[test]
fn claude_code_write_is_held_with_a_diff_until_approved() {
    let engine = Engine::start();
    let cwd = engine.project();
    let file = cwd.join("src/main.rs");
    let payload = claude(
        &cwd,
        "Write",
        json!({"file_path": file, "content": "fn main() {\n    println!(\"hi\");\n}\n"}),
    );
    let child = spawn_hook(&engine.config, "claude-code", &payload.to_string());
    let pending = engine.one_pending();
    assert_eq!(pending["server"], "native");
    assert_eq!(pending["tool"], "Write");
    assert_eq!(pending["rule_id"], "approve-file-changes");
    let diff = pending["diff"].as_str().unwrap();
    assert!(diff.contains("-fn main() {}\n"), "{diff}");
    assert!(diff.contains("+    println!(\"hi\");\n"), "{diff}");
    // Nothing is executed by Cordon: the file is unchanged while held.
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "fn main() {}\n");

    let id = pending["id"].as_str().unwrap();
    // Without a terminal and the code, nothing is approved.
    let out = cordon(&engine.config, &["approve", id]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let out = engine.approve_on_terminal(id, &engine.code(id));
    assert!(out.status.success(), "{out:?}");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (d, reason) = decision(&answer);
    assert_eq!(d, "allow");
    assert!(reason.contains(id), "{reason}");
    // Still unchanged: the agent writes the file itself after the allow.
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "fn main() {}\n");

    let records = engine.records();
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["outcome"], "approved");
    assert_eq!(records[0]["reviewer"], "reviewer@example.com");
    assert!(records[0]["diff"].as_str().unwrap().contains("println"));
}

#[test]
fn claude_code_edit_denied_by_a_reviewer() {
    let engine = Engine::start();
    let cwd = engine.project();
    let payload = claude(
        &cwd,
        "Edit",
        json!({"file_path": cwd.join("src/main.rs"), "old_string": "fn main() {}", "new_string": "fn main() { loop {} }"}),
    );
    let child = spawn_hook(&engine.config, "claude-code", &payload.to_string());
    let pending = engine.one_pending();
    assert!(
        pending["diff"]
            .as_str()
            .unwrap()
            .contains("+fn main() { loop {} }"),
        "{pending}"
    );
    let id = pending["id"].as_str().unwrap();
    let out = cordon(&engine.config, &["deny", id, "--reason", "not now"]);
    assert!(out.status.success(), "{out:?}");
    let out = child.wait_with_output().unwrap();
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (d, reason) = decision(&answer);
    assert_eq!(d, "deny");
    assert!(reason.contains("not now"), "{reason}");
    let records = engine.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["outcome"], "rejected");
}

#[test]
fn cursor_hooks_are_judged_and_file_contents_are_not_recorded() {
    let engine = Engine::start();
    let cwd = engine.project();
    let common = |event: &str| {
        json!({
            "hook_event_name": event,
            "conversation_id": "conv-123",
            "generation_id": "gen-456",
            "workspace_roots": [cwd],
        })
    };
    let mut shell = common("beforeShellExecution");
    shell["command"] = json!("git push --force origin main");
    shell["cwd"] = json!(cwd);
    let (answer, out) = hook(&engine.config, "cursor", &shell);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(answer["permission"], "deny", "{answer}");
    assert!(
        answer["agent_message"]
            .as_str()
            .unwrap()
            .contains("deny-force-push")
    );

    let mut read = common("beforeReadFile");
    read["file_path"] = json!(cwd.join(".env"));
    read["content"] = json!("API_KEY=hunter2\n");
    read["attachments"] = json!([]);
    let (answer, _) = hook(&engine.config, "cursor", &read);
    assert_eq!(answer, json!({"permission": "deny"}));

    let mut read = common("beforeReadFile");
    read["file_path"] = json!(cwd.join("src/main.rs"));
    read["content"] = json!("fn main() {}\n");
    let (answer, _) = hook(&engine.config, "cursor", &read);
    assert_eq!(answer, json!({"permission": "allow"}));

    // Fire-and-forget events are answered without a decision or a record.
    let mut edit = common("afterFileEdit");
    edit["file_path"] = json!(cwd.join("src/main.rs"));
    edit["edits"] = json!([{"old_string": "a", "new_string": "b"}]);
    let (answer, out) = hook(&engine.config, "cursor", &edit);
    assert!(out.status.success());
    assert_eq!(answer, json!({}));

    let records = engine.records();
    assert_eq!(records.len(), 3, "{records:#?}");
    for r in &records {
        assert_eq!(r["agent"], "cursor");
        assert_eq!(r["session_id"], "conv-123");
        assert!(!r.to_string().contains("hunter2"), "content leaked: {r}");
    }
}

#[test]
fn without_an_engine_every_hook_denies() {
    let dir = tempfile::tempdir().unwrap();
    let sock = short_dir();
    let config = write_config(dir.path(), sock.path());
    let (answer, out) = hook(
        &config,
        "claude-code",
        &claude(dir.path(), "Read", json!({"file_path": "/etc/hostname"})),
    );
    assert!(out.status.success(), "{out:?}");
    let (d, reason) = decision(&answer);
    assert_eq!(d, "deny");
    assert!(reason.contains("Cordon is not running"), "{reason}");

    let payload = json!({
        "hook_event_name": "beforeShellExecution",
        "conversation_id": "c",
        "generation_id": "g",
        "workspace_roots": [dir.path()],
        "command": "ls",
        "cwd": dir.path(),
    });
    let (answer, _) = hook(&config, "cursor", &payload);
    assert_eq!(answer["permission"], "deny");
    assert!(
        answer["user_message"]
            .as_str()
            .unwrap()
            .contains("Cordon is not running")
    );

    // A missing config file is no excuse either.
    let (answer, _) = hook(
        &dir.path().join("missing.yaml"),
        "claude-code",
        &claude(dir.path(), "Bash", json!({"command": "ls"})),
    );
    assert_eq!(decision(&answer).0, "deny");
}

#[test]
fn malformed_hook_input_is_denied_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), dir.path());
    for (agent, input) in [
        ("claude-code", "not json"),
        ("claude-code", "[1, 2]"),
        (
            "claude-code",
            r#"{"hook_event_name": "PreToolUse", "tool_input": {}}"#,
        ),
        (
            "claude-code",
            r#"{"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": "rm -rf /"}"#,
        ),
        ("cursor", "{"),
        ("cursor", r#"{"hook_event_name": "beforeShellExecution"}"#),
    ] {
        let out = spawn_hook(&config, agent, input)
            .wait_with_output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{agent} {input}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("Cordon denied this call"), "{stderr}");
        if agent == "cursor" {
            let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(answer["permission"], "deny");
        }
    }
    let out = spawn_hook(&config, "emacs", "{}")
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn post_tool_use_and_cordon_mcp_tools_need_no_engine() {
    let dir = tempfile::tempdir().unwrap();
    let sock = short_dir();
    let config = write_config(dir.path(), sock.path());
    let mut post = claude(
        dir.path(),
        "Write",
        json!({"file_path": "/tmp/x", "content": ""}),
    );
    post["hook_event_name"] = json!("PostToolUse");
    post["tool_response"] = json!({"success": true});
    let (answer, out) = hook(&config, "claude-code", &post);
    assert!(out.status.success());
    assert_eq!(answer, json!({}));
    // Calls to Cordon's own MCP server are governed by the gateway itself.
    let (answer, _) = hook(
        &config,
        "claude-code",
        &claude(
            dir.path(),
            "mcp__cordon__filesystem__read_file",
            json!({"path": "x"}),
        ),
    );
    assert_eq!(decision(&answer).0, "allow");
    // Any other MCP server's tool goes to the (absent) engine: denied.
    let (answer, _) = hook(
        &config,
        "claude-code",
        &claude(
            dir.path(),
            "mcp__github__create_issue",
            json!({"title": "x"}),
        ),
    );
    assert_eq!(decision(&answer).0, "deny");
}

#[test]
fn a_hook_that_goes_away_withdraws_its_approval_and_is_recorded() {
    let engine = Engine::start();
    let cwd = engine.project();
    let payload = claude(
        &cwd,
        "Bash",
        json!({"command": "npm install left-pad", "description": "add a dependency"}),
    );
    let mut child = spawn_hook(&engine.config, "claude-code", &payload.to_string());
    let pending = engine.one_pending();
    assert_eq!(pending["tool"], "Bash");
    child.kill().unwrap();
    let _ = child.wait();
    let started = Instant::now();
    while !engine.approvals().is_empty() {
        assert!(started.elapsed() < START_DEADLINE, "approval not withdrawn");
        std::thread::sleep(Duration::from_millis(50));
    }
    let started = Instant::now();
    let records = loop {
        let records = engine.records();
        if !records.is_empty() {
            break records;
        }
        assert!(started.elapsed() < START_DEADLINE, "no record");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["outcome"], "error");
    let id = pending["id"].as_str().unwrap();
    let out = engine.approve_on_terminal(id, &engine.code(id));
    assert_eq!(
        out.status.code(),
        Some(1),
        "a withdrawn approval cannot be approved: {out:?}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("no pending approval"));
}

#[test]
fn the_kill_switch_refuses_native_tools_until_resumed() {
    let engine = Engine::start();
    let cwd = engine.project();
    let read = claude(&cwd, "Read", json!({"file_path": cwd.join("src/main.rs")}));
    let (answer, _) = hook(&engine.config, "claude-code", &read);
    assert_eq!(decision(&answer).0, "allow", "{answer}");

    let out = cordon(&engine.config, &["pause", "--agent", "claude-code"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "paused agents: claude-code"
    );
    let (answer, _) = hook(&engine.config, "claude-code", &read);
    let (verdict, reason) = decision(&answer);
    assert_eq!(verdict, "deny", "{answer}");
    assert!(
        reason.contains("paused for agent `claude-code`"),
        "{reason}"
    );
    // Resuming lifts governance: not from a script...
    let out = cordon(&engine.config, &["resume", "--agent", "claude-code"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let (answer, _) = hook(&engine.config, "claude-code", &read);
    assert_eq!(decision(&answer).0, "deny", "{answer}");
    // ...only by a human on a terminal typing the code the engine showed.
    let out = engine.resume_on_terminal("claude-code");
    assert!(out.status.success(), "{out:?}");
    let (answer, _) = hook(&engine.config, "claude-code", &read);
    assert_eq!(decision(&answer).0, "allow", "{answer}");
    let paused: Vec<_> = engine
        .records()
        .into_iter()
        .filter(|r| r["rule_id"] == "pause")
        .collect();
    // Two: before the scripted resume and after it (it changed nothing).
    assert_eq!(paused.len(), 2, "{paused:?}");
    assert_eq!(paused[0]["agent"], "claude-code");
    assert_eq!(paused[0]["outcome"], "denied");
}

#[test]
fn events_an_adapter_does_not_understand_are_denied_never_answered_neutral() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), dir.path());
    for (agent, event) in [
        ("claude-code", "PermissionRequest"),
        ("claude-code", "BeforeSomethingNew"),
        ("codex", "PreModelRequest"),
        ("gemini", "BeforeToolSelection"),
        ("gemini", "PreToolUse"),
        ("cursor", "preToolUse"),
        ("cursor", "beforeTabFileRead"),
    ] {
        let payload = json!({
            "hook_event_name": event,
            "session_id": "s",
            "conversation_id": "c",
            "tool_name": "Bash",
            "tool_input": {"command": "git push --force origin main"},
            "command": "git push --force origin main",
        });
        let out = spawn_hook(&config, agent, &payload.to_string())
            .wait_with_output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{agent} {event}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("not one Cordon judges"), "{stderr}");
        let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        assert_ne!(answer, json!({}), "{agent} {event}: neutral answer");
        match agent {
            "gemini" => assert_eq!(answer["decision"], "deny", "{answer}"),
            "cursor" => assert_eq!(answer["permission"], "deny", "{answer}"),
            _ => {}
        }
    }
}

#[test]
fn codex_hooks_are_judged_recorded_as_codex_and_answered_in_its_dialect() {
    let engine = Engine::start();
    let cwd = engine.project();
    // Codex 0.171's PreToolUse payload (its shell arrives as Claude Code's `Bash`).
    let payload = |command: &str| {
        json!({
            "session_id": "01a248f6-44f2-7bf2-a3c4-6129d2516ef5",
            "turn_id": "01a248f6-4508-7ea3-b899-580d7f443899",
            "transcript_path": null,
            "cwd": cwd,
            "hook_event_name": "PreToolUse",
            "model": "gpt-5-codex",
            "permission_mode": "bypassPermissions",
            "tool_name": "Bash",
            "tool_input": {"command": command},
            "tool_use_id": "call_0001"
        })
    };
    let (answer, out) = hook(
        &engine.config,
        "codex",
        &payload("git push --force origin main"),
    );
    assert!(out.status.success(), "{out:?}");
    let (d, reason) = decision(&answer);
    assert_eq!(d, "deny");
    assert!(reason.contains("deny-force-push"), "{reason}");
    // Codex supports only `deny`: an allowed call proceeds on the neutral answer.
    let (answer, out) = hook(&engine.config, "codex", &payload("git status"));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(answer, json!({}));
    let records = engine.records();
    assert_eq!(records.len(), 2, "{records:#?}");
    for r in &records {
        assert_eq!(r["agent"], "codex", "{r}");
        assert_eq!(r["session_id"], "01a248f6-44f2-7bf2-a3c4-6129d2516ef5");
    }
}

#[test]
fn gemini_before_tool_hooks_map_its_tools_and_answer_decision_and_reason() {
    let engine = Engine::start();
    let cwd = engine.project();
    let payload = |tool: &str, input: Value| {
        json!({
            "session_id": "b7397209-f57a-4190-ae9b-070897517e24",
            "transcript_path": "/home/dev/.gemini/tmp/ws/chats/session.jsonl",
            "cwd": cwd,
            "hook_event_name": "BeforeTool",
            "timestamp": "2026-12-06T01:27:34.595Z",
            "tool_name": tool,
            "tool_input": input
        })
    };
    let (answer, out) = hook(
        &engine.config,
        "gemini",
        &payload(
            "run_shell_command",
            json!({"command": "terraform destroy -auto-approve"}),
        ),
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(answer["decision"], "deny", "{answer}");
    assert!(
        answer["reason"]
            .as_str()
            .unwrap()
            .contains("deny-infra-destruction"),
        "{answer}"
    );
    let (answer, _) = hook(
        &engine.config,
        "gemini",
        &payload("read_file", json!({"file_path": cwd.join(".env")})),
    );
    assert_eq!(answer["decision"], "deny", "{answer}");
    let (answer, _) = hook(
        &engine.config,
        "gemini",
        &payload("read_file", json!({"file_path": cwd.join("src/main.rs")})),
    );
    assert_eq!(answer["decision"], "allow", "{answer}");
    // Cordon's own MCP tools (as the Gemini CLI names them) are judged by the gateway.
    let (answer, _) = hook(
        &engine.config,
        "gemini",
        &payload("mcp_cordon_cordon__file_read", json!({"path": "x"})),
    );
    assert_eq!(answer["decision"], "allow", "{answer}");
    let records = engine.records();
    assert_eq!(records.len(), 3, "{records:#?}");
    assert!(records.iter().all(|r| r["agent"] == "gemini"));
    let tools: Vec<_> = records.iter().map(|r| r["tool"].clone()).collect();
    assert!(
        tools.contains(&json!("Bash")) && tools.contains(&json!("Read")),
        "{tools:?}"
    );
}

#[test]
fn cursor_mcp_execution_of_another_server_is_judged_and_cordons_own_passes() {
    let engine = Engine::start();
    let cwd = engine.project();
    // Cursor's documented beforeMCPExecution payload.
    let mcp = |command: &str| {
        json!({
            "hook_event_name": "beforeMCPExecution",
            "conversation_id": "conv-9",
            "generation_id": "gen-1",
            "workspace_roots": [cwd],
            "tool_name": "delete_repository",
            "tool_input": "{\"repo\": \"acme/api\"}",
            "command": command
        })
    };
    let (answer, _) = hook(
        &engine.config,
        "cursor",
        &mcp("/opt/cordon/bin/cordon mcp --agent cursor"),
    );
    assert_eq!(answer["permission"], "allow", "{answer}");
    assert_eq!(
        engine.records().len(),
        0,
        "Cordon's own server is judged by the gateway"
    );
    // Another server's tool: an unknown tool under the default policy waits for a human; this
    // test's reviewer never answers, so the hook is still waiting: Cursor would wait too.
    let mut child = spawn_hook(
        &engine.config,
        "cursor",
        &mcp("npx -y @modelcontextprotocol/server-github").to_string(),
    );
    let pending = engine.one_pending();
    assert_eq!(pending["agent"], "cursor");
    let _ = child.kill();
    let _ = child.wait();
}
