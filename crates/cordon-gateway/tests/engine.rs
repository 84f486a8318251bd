//! The engine in-process, with the `echo_upstream` example as a real stdio upstream, driven by
//! rmcp clients over the control socket and Streamable HTTP.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use cordon_evidence::{Filter, Outcome, Phase, Record};
use cordon_gateway::control::{self, Request};
use cordon_gateway::{Config, Engine};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService};
use serde_json::{Value, json};

const POLICY: &str = r#"
version: test
default_decision: deny
rules:
  - id: allow-echo
    match:
      tools: ["echo"]
    decision: allow
    reason: "echo is harmless"
  - id: hold-held
    match:
      servers: ["held"]
    decision: require_approval
    reason: "held needs a human"
  - id: deny-blocked
    match:
      servers: ["blocked"]
    decision: deny
    reason: "blocked server"
  - id: hold-writes
    match:
      topics: ["job.mcp-bridge.write.*"]
    decision: require_approval
    reason: "writes need review"
"#;

const TOKEN: &str = "test-token-0123456789abcdef";

fn echo_upstream() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir.join("examples").join("echo_upstream");
    assert!(path.exists(), "build the example first: {}", path.display());
    path
}

/// One record per call: the record that closes it (an intent an outcome closes is left out; a
/// call still in flight or held is its intent). Write-ahead evidence writes an intent before a
/// call runs and an outcome after; the outcome carries every field of the intent.
fn per_call(records: Vec<Record>) -> Vec<Record> {
    let closed: std::collections::HashSet<String> =
        records.iter().filter_map(|r| r.intent_id.clone()).collect();
    records
        .into_iter()
        .filter(|r| !(r.phase == Some(Phase::Intent) && closed.contains(&r.id)))
        .collect()
}

struct Harness {
    _dir: tempfile::TempDir,
    engine: Engine,
    socket: PathBuf,
}

async fn start(extra: &str, crash_after: Option<u64>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.yaml"), POLICY).unwrap();
    let echo = echo_upstream();
    let env = crash_after
        .map(|n| format!("\n    env: {{ECHO_EXIT_AFTER: \"{n}\"}}"))
        .unwrap_or_default();
    let server =
        |name: &str, env: &str| format!("  {name}:\n    command: {}{env}\n", echo.display());
    let yaml = format!(
        "socket: ./c.sock\npolicy: ./policy.yaml\nevidence: ./evidence.db\nsigning_key: file:./key.pem\npins: ./pins.json\n\
         reviewer: rev@example.com\nlisten: 127.0.0.1:0\nagents:\n  http-agent:\n    token: {TOKEN}\n{extra}\
         servers:\n{}{}{}{}",
        server("echo", ""),
        server("held", ""),
        server("blocked", ""),
        server("flaky", &env),
    );
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    // It holds a token: the engine refuses a config other users can read.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let config = Config::load(&path).unwrap();
    let socket = config.socket.clone();
    let engine = Engine::start(config).await.unwrap();
    Harness {
        _dir: dir,
        engine,
        socket,
    }
}

impl Harness {
    async fn agent(&self, name: &str) -> RunningService<RoleClient, ()> {
        let (reader, writer, _) = control::connect_mcp(&self.socket, name).await.unwrap();
        ().serve((reader, writer)).await.unwrap()
    }

    /// One record per call, oldest first: the one that says how it ended (see [`per_call`]).
    fn records(&self) -> Vec<Record> {
        per_call(self.all_records())
    }

    /// Every record as stored, oldest first (intents and outcomes).
    fn all_records(&self) -> Vec<Record> {
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

fn call(name: &str, text: &str) -> CallToolRequestParams {
    let mut params = CallToolRequestParams::new(name.to_owned());
    params.arguments = json!({"text": text}).as_object().cloned();
    params
}

fn text_of(result: &CallToolResult) -> String {
    serde_json::to_value(result).unwrap()["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_deny_and_tool_listing() {
    let h = start("", None).await;
    let agent = h.agent("claude-code").await;
    let tools = agent.list_all_tools().await.unwrap();
    let names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    for expected in ["echo__echo", "held__echo", "blocked__echo", "flaky__echo"] {
        assert!(names.contains(&expected.to_owned()), "{names:?}");
    }

    // Allow: the upstream's answer, unchanged.
    let through = agent
        .call_tool(call("echo__echo", "hi there"))
        .await
        .unwrap();
    let direct = {
        let child =
            rmcp::transport::TokioChildProcess::new(tokio::process::Command::new(echo_upstream()))
                .unwrap();
        let client = ().serve(child).await.unwrap();
        let mut params = call("echo", "hi there");
        params.name = "echo".into();
        let r = client.call_tool(params).await.unwrap();
        let _ = client.cancel().await;
        r
    };
    assert_eq!(
        serde_json::to_value(&through).unwrap(),
        serde_json::to_value(&direct).unwrap()
    );

    // Deny: not forwarded, isError naming rule, reason and version.
    let denied = agent.call_tool(call("blocked__echo", "x")).await.unwrap();
    assert_eq!(denied.is_error, Some(true));
    let text = text_of(&denied);
    assert!(
        text.starts_with("Cordon denied this call: rule deny-blocked: blocked server (policy test"),
        "{text}"
    );

    // Unknown tools are JSON-RPC errors, and the session goes on.
    assert!(agent.call_tool(call("nope__echo", "x")).await.is_err());
    assert!(agent.call_tool(call("noseparator", "x")).await.is_err());
    assert_eq!(
        text_of(&agent.call_tool(call("echo__echo", "again")).await.unwrap()),
        "again"
    );

    let records = h.records();
    let outcomes: Vec<_> = records
        .iter()
        .map(|r| (r.server.as_str(), r.outcome))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("echo", Outcome::Allowed),
            ("blocked", Outcome::Denied),
            // Unknown tools: refused, and recorded (issue 15).
            ("nope", Outcome::Error),
            ("", Outcome::Error),
            ("echo", Outcome::Allowed)
        ]
    );
    assert_eq!(records[3].tool, "noseparator");
    // Write-ahead: an allowed call's intent precedes its outcome; a refusal (denied, or an
    // unknown tool) is one record.
    let phases: Vec<_> = h
        .all_records()
        .iter()
        .map(|r| (r.server.clone(), r.phase, r.outcome))
        .collect();
    assert_eq!(
        phases,
        vec![
            ("echo".to_owned(), Some(Phase::Intent), Outcome::Allowed),
            ("echo".to_owned(), Some(Phase::Outcome), Outcome::Allowed),
            ("blocked".to_owned(), None, Outcome::Denied),
            ("nope".to_owned(), None, Outcome::Error),
            (String::new(), None, Outcome::Error),
            ("echo".to_owned(), Some(Phase::Intent), Outcome::Allowed),
            ("echo".to_owned(), Some(Phase::Outcome), Outcome::Allowed),
        ]
    );
    let all = h.all_records();
    assert_eq!(all[1].intent_id.as_deref(), Some(all[0].id.as_str()));
    let first = &records[0];
    assert_eq!(first.agent, "claude-code");
    assert!(first.session_id.starts_with("sess_"));
    assert_eq!(first.tool, "echo");
    assert_eq!(first.decision, "allow");
    assert_eq!(first.rule_id.as_deref(), Some("allow-echo"));
    assert_eq!(first.args, json!({"text": "hi there"}));
    assert!(first.policy_version.starts_with("test"));
    assert_eq!(records[1].rule_id.as_deref(), Some("deny-blocked"));
    let _ = agent.cancel().await;
    h.engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_approve_deny_and_session_grant() {
    let h = start("", None).await;
    let agent = h.agent("claude-code").await;
    let peer = agent.peer().clone();

    // Approve.
    let held = tokio::spawn({
        let peer = peer.clone();
        async move { peer.call_tool(call("held__echo", "one")).await }
    });
    let pending = h.wait_pending(1).await;
    let first = &pending[0];
    assert_eq!(first["agent"], "claude-code");
    assert_eq!(first["server"], "held");
    assert_eq!(first["tool"], "echo");
    assert_eq!(first["rule_id"], "hold-held");
    assert_eq!(first["diff"], Value::Null);
    for key in [
        "id",
        "session_id",
        "action",
        "target",
        "risk_tags",
        "reason",
        "created_at",
        "expires_at",
    ] {
        assert!(first.get(key).is_some(), "{key} missing");
    }
    let id = first["id"].as_str().unwrap().to_owned();
    let approve = Request::Approve {
        id: id.clone(),
        session: false,
        prefix: None,
        code: h.engine.approval_code(&id),
    };
    assert!(
        control::request(
            &h.socket,
            &Request::Approve {
                id: id.clone(),
                session: false,
                prefix: None,
                code: None,
            }
        )
        .await
        .is_err(),
        "the socket alone never approves"
    );
    control::request(&h.socket, &approve).await.unwrap();
    let result = held.await.unwrap().unwrap();
    assert_eq!(text_of(&result), "one");
    // Used once.
    assert!(control::request(&h.socket, &approve).await.is_err());

    // Deny with a reason.
    let held = tokio::spawn({
        let peer = peer.clone();
        async move { peer.call_tool(call("held__echo", "two")).await }
    });
    let id = h.wait_pending(1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    control::request(
        &h.socket,
        &Request::Deny {
            id,
            reason: Some("not today".into()),
        },
    )
    .await
    .unwrap();
    let result = held.await.unwrap().unwrap();
    assert_eq!(result.is_error, Some(true));
    assert!(
        text_of(&result).contains("not today"),
        "{}",
        text_of(&result)
    );

    // Session grant: the second identical action passes without asking.
    let held = tokio::spawn({
        let peer = peer.clone();
        async move { peer.call_tool(call("held__echo", "three")).await }
    });
    let id = h.wait_pending(1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    control::request(
        &h.socket,
        &Request::Approve {
            code: h.engine.approval_code(&id),
            id,
            session: true,
            prefix: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(text_of(&held.await.unwrap().unwrap()), "three");
    assert_eq!(
        text_of(&peer.call_tool(call("held__echo", "four")).await.unwrap()),
        "four"
    );
    // ...but not for another session of the same agent.
    let other = h.agent("claude-code").await;
    let held = tokio::spawn({
        let peer = other.peer().clone();
        async move { peer.call_tool(call("held__echo", "five")).await }
    });
    let id = h.wait_pending(1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    control::request(&h.socket, &Request::Deny { id, reason: None })
        .await
        .unwrap();
    assert_eq!(held.await.unwrap().unwrap().is_error, Some(true));

    let records = h.records();
    let outcomes: Vec<_> = records.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        vec![
            Outcome::Approved,
            Outcome::Rejected,
            Outcome::Approved,
            Outcome::Approved,
            Outcome::Rejected
        ]
    );
    assert!(
        records
            .iter()
            .all(|r| r.reviewer.as_deref() == Some("rev@example.com"))
    );
    assert!(records.iter().all(|r| r.decision == "require_approval"));
    let _ = agent.cancel().await;
    let _ = other.cancel().await;
    h.engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_timeout_and_shutdown_refuse() {
    let h = start("approval_timeout: 300ms\n", None).await;
    let agent = h.agent("codex").await;
    let result = agent.call_tool(call("held__echo", "late")).await.unwrap();
    assert_eq!(result.is_error, Some(true));
    assert!(
        text_of(&result).contains("timed out after 300ms"),
        "{}",
        text_of(&result)
    );
    assert_eq!(h.records().last().unwrap().outcome, Outcome::TimedOut);
    assert!(
        control::request(&h.socket, &Request::Approvals)
            .await
            .unwrap()["approvals"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let _ = agent.cancel().await;
    h.engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_refuses_held_calls_and_records_them() {
    let h = start("", None).await;
    let agent = h.agent("codex").await;
    let held = tokio::spawn({
        let peer = agent.peer().clone();
        async move { peer.call_tool(call("held__echo", "x")).await }
    });
    h.wait_pending(1).await;
    let log = h.engine.pipeline().recorder().log().clone();
    h.engine.shutdown().await.unwrap();
    if let Ok(result) = held.await.unwrap() {
        assert_eq!(result.is_error, Some(true));
    }
    let all = log.query(&Filter::default()).unwrap();
    // The held call's `pending` intent, closed by the refusal.
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].outcome, Outcome::Pending);
    assert_eq!(all[0].intent_id.as_deref(), Some(all[1].id.as_str()));
    let records = per_call(all);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome, Outcome::Error);
    assert!(!log.checkpoints().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashed_upstream_fails_clearly_then_comes_back() {
    let h = start("", Some(1)).await;
    let agent = h.agent("claude-code").await;
    assert_eq!(
        text_of(&agent.call_tool(call("flaky__echo", "a")).await.unwrap()),
        "a"
    );
    // The second call kills the upstream.
    let crashed = agent.call_tool(call("flaky__echo", "b")).await.unwrap();
    assert_eq!(crashed.is_error, Some(true));
    // Meanwhile or after the restart: a clear error, or the answer once it is back.
    let mut saw_not_running = false;
    let mut back = false;
    for _ in 0..500 {
        let r = agent.call_tool(call("flaky__echo", "c")).await.unwrap();
        if r.is_error == Some(true) {
            let text = text_of(&r);
            saw_not_running |= text.starts_with("upstream flaky is not running");
            assert!(text.contains("flaky"), "{text}");
        } else {
            assert_eq!(text_of(&r), "c");
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(back, "the upstream was not restarted");
    assert!(saw_not_running, "no 'not running' error while restarting");
    // Other servers were never affected.
    assert_eq!(
        text_of(&agent.call_tool(call("echo__echo", "ok")).await.unwrap()),
        "ok"
    );
    let records = h.records();
    assert_eq!(records[1].outcome, Outcome::Error);
    assert!(
        records
            .iter()
            .filter(|r| r.outcome == Outcome::Error)
            .all(|r| r.error.is_some())
    );
    let _ = agent.cancel().await;
    h.engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_requires_token_and_local_origin() {
    let h = start("", None).await;
    let addr = h.engine.http_addr().unwrap();
    let url = format!("http://{addr}/mcp");
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    let status = |auth: Option<&str>, origin: Option<&str>| {
        let url = url.clone();
        let auth = auth.map(str::to_owned);
        let origin = origin.map(str::to_owned);
        async move {
            let mut req = reqwest::Client::new()
                .post(&url)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(body);
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            if let Some(o) = origin {
                req = req.header("origin", o);
            }
            req.send().await.unwrap().status().as_u16()
        }
    };
    assert_eq!(status(None, None).await, 401);
    assert_eq!(
        status(Some("Bearer wrong-token-wrong-token"), None).await,
        401
    );
    assert_eq!(status(Some(TOKEN), None).await, 401);
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(
        status(Some(&bearer), Some("http://evil.example")).await,
        403
    );
    assert_eq!(
        status(Some(&bearer), Some("http://localhost:3000")).await,
        200
    );

    // A real rmcp client over HTTP.
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.as_str()).auth_header(TOKEN),
    );
    let client = ().serve(transport).await.unwrap();
    assert_eq!(
        text_of(
            &client
                .call_tool(call("echo__echo", "via http"))
                .await
                .unwrap()
        ),
        "via http"
    );
    let record = h.records().pop().unwrap();
    assert_eq!(record.agent, "http-agent");
    assert!(!record.session_id.is_empty());
    let _ = client.cancel().await;
    h.engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_control_requests_get_errors_and_the_engine_goes_on() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let h = start("", None).await;
    // The control channel's own client side: a Unix socket, or the named pipe on Windows.
    let (read, mut write) = cordon_gateway::control::connect(&h.socket).await.unwrap();
    let mut reader = BufReader::new(read);
    for bad in [
        "not json",
        "{\"op\":\"explode\"}",
        "{\"op\":\"approve\"}",
        "{\"op\":\"mcp\",\"agent\":\"Bad Name\"}",
    ] {
        write
            .write_all(format!("{bad}\n").as_bytes())
            .await
            .unwrap();
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        let reply: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(reply["ok"], json!(false), "{bad} -> {line}");
    }
    // An oversized request line is refused and the connection closed.
    // The control channel's own client side: a Unix socket, or the named pipe on Windows.
    let (read, mut write) = cordon_gateway::control::connect(&h.socket).await.unwrap();
    let mut reader = BufReader::new(read);
    let _ = write
        .write_all(&vec![
            b'x';
            (cordon_gateway::control::MAX_REQUEST_BYTES as usize)
                + 64 * 1024
        ])
        .await;
    let mut line = String::new();
    reader.read_line(&mut line).await.unwrap();
    assert!(line.contains("too large"), "{line}");
    // Others still get served.
    let agent = h.agent("claude-code").await;
    assert_eq!(
        text_of(&agent.call_tool(call("echo__echo", "fine")).await.unwrap()),
        "fine"
    );
    // A listed server with an unlisted tool is a JSON-RPC error, not forwarded, but recorded
    // (a probe for tools leaves evidence, issue 15).
    assert!(agent.call_tool(call("echo__nope", "x")).await.is_err());
    let records = h.records();
    assert_eq!(records.len(), 2);
    assert_eq!(
        (
            records[1].server.as_str(),
            records[1].tool.as_str(),
            records[1].outcome
        ),
        ("echo", "nope", Outcome::Error)
    );
    let _ = agent.cancel().await;
    h.engine.shutdown().await.unwrap();
}

/// Refused before it touches the log the two share: it used to close the running engine's
/// open intents (here a held call's) as `interrupted` on its way to finding the socket taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_engine_on_the_same_socket_is_refused_and_leaves_the_log_alone() {
    let h = start("", None).await;
    let agent = h.agent("codex").await;
    let held = tokio::spawn({
        let peer = agent.peer().clone();
        async move { peer.call_tool(call("held__echo", "x")).await }
    });
    let pending = h.wait_pending(1).await;
    let before = h.all_records().len();
    let mut config = h.engine.config().clone();
    config.listen = None;
    config.servers.clear();
    let error = Engine::start(config).await.err().unwrap();
    assert!(error.to_string().contains("already running"), "{error}");
    assert_eq!(
        h.all_records().len(),
        before,
        "the second engine wrote to the log"
    );
    let id = pending[0]["id"].as_str().unwrap();
    h.engine
        .pipeline()
        .broker()
        .deny(id, None, "rev@example.com")
        .unwrap();
    let _ = held.await.unwrap();
    assert!(
        h.all_records()
            .iter()
            .all(|r| r.outcome != Outcome::Interrupted),
        "a live call's intent was closed as interrupted"
    );
    h.engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_policy_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.yaml"),
        "version: x\nrules:\n  - id: a\n    decisionx: allow\n",
    )
    .unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(
        &path,
        "socket: ./s.sock\npolicy: ./p.yaml\nevidence: ./e.db\nsigning_key: file:./k.pem\npins: ./pins.json\n",
    )
    .unwrap();
    let error = Engine::start(Config::load(&path).unwrap())
        .await
        .err()
        .unwrap();
    assert!(error.to_string().contains("p.yaml"), "{error}");
    assert!(!Path::new(&dir.path().join("s.sock")).exists());
}

/// Another local user able to rewrite the config or the policy could change what Cordon allows:
/// such a file fails the start with the path and the fix. A file only its owner's private group
/// may write (Ubuntu's umask 002) is the user's alone, and is accepted.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_or_policy_other_users_could_change_refuses_to_start() {
    use std::os::unix::fs::PermissionsExt;
    let chmod = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    let setup = || {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.yaml"), BUILTIN_POLICY).unwrap();
        std::fs::write(
            dir.path().join("c.yaml"),
            "socket: ./s.sock\npolicy: ./p.yaml\nevidence: ./e.db\nsigning_key: file:./k.pem\npins: ./pins.json\n",
        )
        .unwrap();
        dir
    };
    for (file, mode, says) in [
        ("p.yaml", 0o646, "writable by every user"),
        ("c.yaml", 0o642, "writable by every user"),
    ] {
        let dir = setup();
        chmod(&dir.path().join(file), mode);
        let error = Engine::start(Config::load(&dir.path().join("c.yaml")).unwrap())
            .await
            .err()
            .unwrap_or_else(|| panic!("{file} {mode:o} was accepted"));
        let text = error.to_string();
        assert!(text.contains(says) && text.contains(file), "{text}");
        assert!(text.contains("chmod o-w"), "{text}");
        assert!(!dir.path().join("e.db").exists(), "the log was touched");
    }
    // A directory of policies: a file anyone can add to the set is refused too.
    let dir = setup();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::rename(dir.path().join("p.yaml"), policies.join("p.yaml")).unwrap();
    std::fs::write(policies.join("zz.yaml"), "version: v1\n").unwrap();
    chmod(&policies.join("zz.yaml"), 0o666);
    let config = dir.path().join("c.yaml");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("./p.yaml", "./policies");
    std::fs::write(&config, text).unwrap();
    let error = Engine::start(Config::load(&config).unwrap())
        .await
        .err()
        .unwrap();
    assert!(error.to_string().contains("zz.yaml"), "{error}");
    // Another user's file (as root, CI's user, a file can be given away to `nobody`).
    if nix::unistd::geteuid().is_root() {
        let dir = setup();
        let policy = dir.path().join("p.yaml");
        nix::unistd::chown(&policy, Some(nix::unistd::Uid::from_raw(65_534)), None).unwrap();
        let error = Engine::start(Config::load(&dir.path().join("c.yaml")).unwrap())
            .await
            .err()
            .unwrap();
        assert!(error.to_string().contains("owned by uid 65534"), "{error}");
    }
    // The owner's private group only (root's group here, which has no other member): accepted.
    let dir = setup();
    chmod(&dir.path().join("p.yaml"), 0o664);
    let private = nix::unistd::getegid().as_raw() == 0
        && nix::unistd::Group::from_gid(nix::unistd::getegid())
            .ok()
            .flatten()
            .is_some_and(|g| g.mem.is_empty());
    if private {
        let engine = Engine::start(Config::load(&dir.path().join("c.yaml")).unwrap())
            .await
            .unwrap();
        engine.shutdown().await.unwrap();
    }
}

/// A config holding an HTTP agent's token that other local users can read would hand them the
/// user's tools (the port is on loopback, which every local user reaches): refused with the path
/// and the fix, before the log is touched. Without a token the same mode is accepted, and so is
/// the token at 0600.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_whose_tokens_other_users_can_read_refuses_to_start() {
    use std::os::unix::fs::PermissionsExt;
    let start = |agents: &str, mode: u32| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.yaml"), BUILTIN_POLICY).unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(
            &path,
            format!(
                "socket: ./s.sock\npolicy: ./p.yaml\nevidence: ./e.db\nsigning_key: file:./k.pem\n\
                 pins: ./pins.json\nlisten: 127.0.0.1:0\n{agents}"
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let config = Config::load(&path).unwrap();
        async move { (Engine::start(config).await, dir) }
    };
    let token = format!("agents:\n  devin:\n    token: {TOKEN}\n");
    for mode in [0o644, 0o604] {
        let (started, dir) = start(&token, mode).await;
        let text = started
            .err()
            .unwrap_or_else(|| panic!("a token config at {mode:o} was accepted"))
            .to_string();
        assert!(
            text.contains("c.yaml") && text.contains("every user can read it"),
            "{text}"
        );
        assert!(text.contains("chmod 600"), "{text}");
        assert!(!dir.path().join("e.db").exists(), "the log was touched");
    }
    for (agents, mode) in [(token.as_str(), 0o600), ("", 0o644)] {
        let (started, _dir) = start(agents, mode).await;
        let engine = started.unwrap_or_else(|e| panic!("{agents:?} at {mode:o}: {e}"));
        engine.shutdown().await.unwrap();
    }
}

/// Only the storage refusing writes for now makes the engine stand by (see `standby.rs`): a log
/// that cannot be a log at all (here a directory where the database should be) fails the start
/// at once, with the path, and leaves no socket behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evidence_path_that_cannot_hold_a_log_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.yaml"), BUILTIN_POLICY).unwrap();
    std::fs::create_dir(dir.path().join("e.db")).unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(
        &path,
        "socket: ./s.sock\npolicy: ./p.yaml\nevidence: ./e.db\nsigning_key: file:./k.pem\npins: ./pins.json\n",
    )
    .unwrap();
    let started = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        Engine::start(Config::load(&path).unwrap()),
    )
    .await
    .expect("the start stood by instead of failing");
    let error = started.err().unwrap();
    assert!(error.to_string().contains("e.db"), "{error}");
    assert!(!dir.path().join("s.sock").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_cannot_be_recorded_is_refused() {
    use cordon_evidence::{EvidenceLog, KeyStore};
    use cordon_gateway::approvals::ApprovalBroker;
    use cordon_gateway::config::ServerSpec;
    use cordon_gateway::pipeline::{CallContext, Pipeline};
    use cordon_gateway::recorder::Recorder;
    use cordon_gateway::upstream::Upstreams;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("e.db");
    drop(EvidenceLog::open(&db, KeyStore::File(dir.path().join("k.pem"))).unwrap());
    // Read-only: every append fails.
    let log = EvidenceLog::open(&db, KeyStore::ReadOnly).unwrap();
    std::fs::write(dir.path().join("p.yaml"), POLICY).unwrap();
    let policy = cordon_policy::Policy::load(&dir.path().join("p.yaml")).unwrap();
    let specs = BTreeMap::from([(
        "echo".to_owned(),
        ServerSpec::Stdio {
            command: echo_upstream().display().to_string(),
            args: vec![],
            env: BTreeMap::new(),
            cwd: None,
        },
    )]);
    let upstreams = Upstreams::start(&specs);
    upstreams.wait_ready(Duration::from_secs(30)).await;
    let pipeline = Pipeline::new(
        Arc::new(policy),
        Recorder::start(Arc::new(log)),
        Arc::new(ApprovalBroker::new(Duration::from_secs(60))),
        upstreams.clone(),
        BTreeMap::new(),
    );
    let ctx = CallContext {
        agent: "a".into(),
        session_id: "s".into(),
        progress: None,
        cancel: tokio_util::sync::CancellationToken::new(),
    };
    let args = json!({"text": "secret result"}).as_object().cloned();
    let response = pipeline
        .call_tool(&ctx, "echo", "echo", args, Default::default())
        .await;
    let rmcp::model::CallToolResponse::Complete(result) = response else {
        panic!("unexpected response kind");
    };
    let value = serde_json::to_value(&result).unwrap();
    assert_eq!(value["isError"], json!(true), "{value}");
    let text = value["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("evidence log"), "{text}");
    assert!(!text.contains("secret result"), "the result leaked: {text}");
    upstreams.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridge_fails_closed_when_the_engine_goes_away() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let h = start("", None).await;
    let (mut agent_in, bridge_in) = tokio::io::duplex(1 << 20);
    let (bridge_out, agent_out) = tokio::io::duplex(1 << 20);
    let socket = h.socket.clone();
    let bridge = tokio::spawn(async move {
        cordon_gateway::bridge::run(bridge_in, bridge_out, &socket, "claude-code").await
    });
    let mut replies = BufReader::new(agent_out).lines();
    let mut send = async |line: &str| {
        agent_in
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap()
    };
    let mut next_reply = async || loop {
        let line = replies.next_line().await.unwrap().unwrap();
        let message: Value = serde_json::from_str(&line).unwrap();
        if message.get("id").is_some() {
            return message;
        }
    };
    send(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#).await;
    assert!(next_reply().await["result"]["protocolVersion"].is_string());
    send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).await;
    send(r#"{"hello":"world"}"#).await;
    assert_eq!(next_reply().await["error"]["code"], json!(-32600));
    send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo__echo","arguments":{"text":"up"}}}"#).await;
    let up = next_reply().await;
    assert_eq!(up["result"]["content"][0]["text"], json!("up"), "{up}");

    h.engine.shutdown().await.unwrap();
    send(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo__echo","arguments":{"text":"down"}}}"#).await;
    let down = next_reply().await;
    assert_eq!(down["id"], json!(3));
    assert_eq!(down["result"]["isError"], json!(true), "{down}");
    let text = down["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("Cordon is not running"), "{text}");
    let _ = send;
    drop(agent_in);
    bridge.await.unwrap().unwrap();
}

/// Calls the echo upstream's `write_file` (held by the harness's policy) straight through the
/// pipeline, in a task of its own, as `claude-code`.
fn held_write(
    h: &Harness,
    args: Value,
    retry: cordon_gateway::retry::Retry,
) -> tokio::task::JoinHandle<rmcp::model::CallToolResponse> {
    let pipeline = h.engine.pipeline().clone();
    tokio::spawn(async move {
        let ctx = cordon_gateway::pipeline::CallContext {
            agent: "claude-code".into(),
            session_id: "sess_test".into(),
            progress: None,
            cancel: tokio_util::sync::CancellationToken::new(),
        };
        pipeline
            .call_tool(&ctx, "echo", "write_file", args.as_object().cloned(), retry)
            .await
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_write_shows_its_diff_and_the_evidence_keeps_it() {
    let h = start("", None).await;
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("notes.txt");
    std::fs::write(&file, "alpha\nbeta\n").unwrap();
    let args = json!({"path": file.display().to_string(), "content": "alpha\ngamma\n"});
    let held = held_write(&h, args, Default::default());
    let pending = h.wait_pending(1).await;
    let diff = pending[0]["diff"].as_str().unwrap().to_owned();
    assert!(diff.contains("-beta\n+gamma\n"), "{diff}");
    assert_eq!(pending[0]["action"], "job.mcp-bridge.write.file");
    let id = pending[0]["id"].as_str().unwrap().to_owned();
    control::request(
        &h.socket,
        &Request::Deny {
            id,
            reason: Some("no".into()),
        },
    )
    .await
    .unwrap();
    let _ = held.await.unwrap();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "alpha\nbeta\n");
    let record = h.records().pop().unwrap();
    assert_eq!(record.outcome, Outcome::Rejected);
    assert_eq!(record.diff.as_deref(), Some(diff.as_str()));
    assert_eq!(record.rule_id.as_deref(), Some("hold-writes"));
    h.engine.shutdown().await.unwrap();
}

/// A held multi-round-trip retry sends the upstream more than its arguments: the reviewer is
/// shown the client's answers and the echoed state before deciding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_retry_shows_the_reviewer_what_it_carries() {
    use cordon_gateway::retry::Retry;
    let h = start("", None).await;
    let mut answers = rmcp::model::InputResponses::new();
    answers.insert(
        "overwrite".into(),
        json!({"action": "accept", "content": {"confirm": "yes-overwrite-it"}}),
    );
    let retry = Retry {
        input_responses: Some(answers),
        request_state: Some("state-from-round-one".into()),
    };
    let args = json!({"path": "/tmp/cordon-retry-never-written", "content": "x"});
    let held = held_write(&h, args, retry);
    let pending = h.wait_pending(1).await;
    let preview = pending[0]["preview"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        preview.contains("yes-overwrite-it")
            && preview.contains("state-from-round-one")
            && preview.contains("/tmp/cordon-retry-never-written"),
        "{pending:?}"
    );
    let id = pending[0]["id"].as_str().unwrap().to_owned();
    control::request(&h.socket, &Request::Deny { id, reason: None })
        .await
        .unwrap();
    let _ = held.await.unwrap();
    h.engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_leaves_while_held_still_leaves_one_record() {
    let h = start("", None).await;
    let agent = h.agent("claude-code").await;
    let peer = agent.peer().clone();
    let held = tokio::spawn(async move { peer.call_tool(call("held__echo", "bye")).await });
    let id = h.wait_pending(1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = h.engine.approval_code(&id);
    assert!(code.is_some());
    let _ = agent.cancel().await;
    let _ = held.await;
    // rmcp lets in-flight handlers of a closed connection drain for a few seconds before it
    // cancels them; the record closing the held (`pending`) intent appears then.
    let mut records = Vec::new();
    for _ in 0..1500 {
        records = h.records();
        if records.iter().any(|r| r.outcome != Outcome::Pending) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].outcome, Outcome::Error);
    assert!(
        records[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("cancelled")
    );
    // Nothing left to approve.
    assert!(
        control::request(
            &h.socket,
            &Request::Approve {
                id,
                session: false,
                prefix: None,
                code
            }
        )
        .await
        .is_err()
    );
    h.engine.shutdown().await.unwrap();
}

#[derive(Clone, Default)]
struct ListChanges(
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
);

impl rmcp::ClientHandler for ListChanges {
    async fn on_tool_list_changed(&self, _context: rmcp::service::NotificationContext<RoleClient>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    async fn on_resource_list_changed(
        &self,
        _context: rmcp::service::NotificationContext<RoleClient>,
    ) {
        self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    async fn on_prompt_list_changed(
        &self,
        _context: rmcp::service::NotificationContext<RoleClient>,
    ) {
        self.2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_hear_resource_and_prompt_list_changes() {
    let h = start("", None).await;
    let changes = ListChanges::default();
    let (reader, writer, _) = control::connect_mcp(&h.socket, "claude-code")
        .await
        .unwrap();
    let agent = changes.clone().serve((reader, writer)).await.unwrap();
    let args = json!({"text": "x", "notify": true});
    let r = agent
        .call_tool(args_call("echo__echo", args))
        .await
        .unwrap();
    assert_eq!(text_of(&r), "x");
    let load = |c: &std::sync::Arc<std::sync::atomic::AtomicUsize>| {
        c.load(std::sync::atomic::Ordering::SeqCst)
    };
    let mut heard = false;
    for _ in 0..500 {
        if load(&changes.1) > 0 && load(&changes.2) > 0 {
            heard = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        heard,
        "resource/prompt list_changed did not reach the agent"
    );
    let _ = agent.cancel().await;
    h.engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_hear_when_the_tool_list_changes() {
    let h = start("", Some(0)).await;
    let changes = ListChanges::default();
    let (reader, writer, _) = control::connect_mcp(&h.socket, "claude-code")
        .await
        .unwrap();
    let agent = changes.clone().serve((reader, writer)).await.unwrap();
    let before = changes.0.load(std::sync::atomic::Ordering::SeqCst);
    // The flaky upstream exits on its first call: its tools go away (and come back).
    let crashed = agent.call_tool(call("flaky__echo", "x")).await.unwrap();
    assert_eq!(crashed.is_error, Some(true));
    let mut heard = false;
    for _ in 0..500 {
        if changes.0.load(std::sync::atomic::Ordering::SeqCst) > before {
            heard = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        heard,
        "no notifications/tools/list_changed reached the agent"
    );
    let _ = agent.cancel().await;
    h.engine.shutdown().await.unwrap();
}

// ---- built-in workspace tools, remote upstreams, progress and cancellation ---------------------

const BUILTIN_POLICY: &str = r#"
version: builtin-test
default_decision: deny
rules:
  - id: allow-reads
    match:
      topics: ["job.mcp-bridge.read.*"]
    decision: allow
    reason: "reads pass"
  - id: hold-writes
    match:
      topics: ["job.mcp-bridge.write.*"]
    decision: require_approval
    reason: "writes need review"
  - id: allow-echo
    match:
      tools: ["echo"]
    decision: allow
    reason: "echo is harmless"
"#;

/// An engine with no stdio upstream: `body` is the rest of the config (workspace, servers).
async fn start_plain(dir: &Path, body: &str) -> Harness {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("policy.yaml"), BUILTIN_POLICY).unwrap();
    let _ = dir;
    let yaml = format!(
        "socket: ./c.sock\npolicy: ./policy.yaml\nevidence: ./evidence.db\nsigning_key: file:./key.pem\npins: ./pins.json\n\
         reviewer: rev@example.com\n{body}"
    );
    let path = work.path().join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    let config = Config::load(&path).unwrap();
    let socket = config.socket.clone();
    let engine = Engine::start(config).await.unwrap();
    Harness {
        _dir: work,
        engine,
        socket,
    }
}

fn args_call(name: &str, args: Value) -> CallToolRequestParams {
    let mut params = CallToolRequestParams::new(name.to_owned());
    params.arguments = args.as_object().cloned();
    params
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_tools_are_governed_like_upstream_tools() {
    let ws = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("a.txt"), "one\ntwo\n").unwrap();
    std::fs::write(outside.path().join("secret.txt"), "hidden\n").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), ws.path().join("link")).unwrap();
    let body = format!(
        "workspace:\n  roots: [\"{}\"]\n  rename: {{list_directory: ls}}\n",
        ws.path().display()
    );
    let h = start_plain(ws.path(), &body).await;
    let agent = h.agent("claude-code").await;
    let names: Vec<String> = agent
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(names.contains(&"cordon__file_read".to_owned()), "{names:?}");
    assert!(names.contains(&"cordon__ls".to_owned()), "{names:?}");
    assert!(!names.contains(&"cordon__list_directory".to_owned()));

    // Read: allowed, run, recorded.
    let read = agent
        .call_tool(args_call("cordon__file_read", json!({"path": "a.txt"})))
        .await
        .unwrap();
    assert_ne!(read.is_error, Some(true), "{read:?}");
    assert!(text_of(&read).contains("two"), "{}", text_of(&read));
    // Renamed tools work under their new name only.
    let ls = agent
        .call_tool(args_call("cordon__ls", json!({"path": "."})))
        .await
        .unwrap();
    assert!(text_of(&ls).contains("a.txt"), "{}", text_of(&ls));
    assert!(
        agent
            .call_tool(args_call("cordon__list_directory", json!({"path": "."})))
            .await
            .is_err()
    );

    // Outside the roots: refused whatever the policy says, recorded as an error.
    let mut escapes = vec![
        "../x".to_owned(),
        outside.path().join("secret.txt").display().to_string(),
    ];
    if cfg!(unix) {
        escapes.push("link".to_owned());
    }
    for path in &escapes {
        let r = agent
            .call_tool(args_call("cordon__file_read", json!({"path": path})))
            .await
            .unwrap();
        assert_eq!(r.is_error, Some(true), "{path}: {r:?}");
        assert!(!text_of(&r).contains("hidden"), "{path} leaked");
        assert!(
            text_of(&r).contains("outside the workspace roots"),
            "{path}: {}",
            text_of(&r)
        );
    }

    // Write: held with the diff; the file changes behind the reviewer's back → refused.
    let peer = agent.peer().clone();
    let held = tokio::spawn({
        let peer = peer.clone();
        async move {
            peer.call_tool(args_call(
                "cordon__file_write",
                json!({"path": "a.txt", "content": "one\nTWO\n"}),
            ))
            .await
        }
    });
    let pending = h.wait_pending(1).await;
    assert_eq!(pending[0]["server"], "cordon");
    assert_eq!(pending[0]["tool"], "file_write");
    assert_eq!(pending[0]["rule_id"], "hold-writes");
    let diff = pending[0]["diff"].as_str().unwrap().to_owned();
    assert!(diff.contains("-two\n+TWO\n"), "{diff}");
    assert_eq!(pending[0]["preview"].as_str(), Some(diff.as_str()));
    std::fs::write(ws.path().join("a.txt"), "one\nsomeone else\n").unwrap();
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
    let stale = held.await.unwrap().unwrap();
    assert_eq!(stale.is_error, Some(true), "{stale:?}");
    assert!(
        text_of(&stale).contains("changed on disk"),
        "{}",
        text_of(&stale)
    );
    assert_eq!(
        std::fs::read_to_string(ws.path().join("a.txt")).unwrap(),
        "one\nsomeone else\n"
    );

    // Write again: approved → exactly the reviewed content lands.
    let held = tokio::spawn({
        let peer = peer.clone();
        async move {
            peer.call_tool(args_call(
                "cordon__file_write",
                json!({"path": "a.txt", "content": "one\nTWO\n"}),
            ))
            .await
        }
    });
    let id = h.wait_pending(1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
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
    let done = held.await.unwrap().unwrap();
    assert_ne!(done.is_error, Some(true), "{done:?}");
    assert_eq!(
        std::fs::read_to_string(ws.path().join("a.txt")).unwrap(),
        "one\nTWO\n"
    );

    let records = h.records();
    let summary: Vec<_> = records
        .iter()
        .map(|r| (r.server.as_str(), r.tool.as_str(), r.outcome))
        .collect();
    let mut expected = vec![
        ("cordon", "file_read", Outcome::Allowed),
        ("cordon", "list_directory", Outcome::Allowed),
        // The renamed-away name is an unknown tool: refused, and recorded (issue 15).
        ("cordon", "list_directory", Outcome::Error),
    ];
    expected.extend(
        escapes
            .iter()
            .map(|_| ("cordon", "file_read", Outcome::Error)),
    );
    expected.push(("cordon", "file_write", Outcome::Error));
    expected.push(("cordon", "file_write", Outcome::Approved));
    assert_eq!(summary, expected);
    let stale_record = &records[records.len() - 2];
    assert_eq!(stale_record.diff.as_deref(), Some(diff.as_str()));
    assert!(
        stale_record
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("changed on disk")
    );
    assert_eq!(
        records.last().unwrap().reviewer.as_deref(),
        Some("rev@example.com")
    );
    let _ = agent.cancel().await;
    h.engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_tools_without_roots_refuse_every_call() {
    let dir = tempfile::tempdir().unwrap();
    let h = start_plain(dir.path(), "").await;
    let agent = h.agent("claude-code").await;
    let r = agent
        .call_tool(args_call("cordon__file_read", json!({"path": "a.txt"})))
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    assert!(
        text_of(&r).contains("no workspace roots are configured"),
        "{}",
        text_of(&r)
    );
    let records = h.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome, Outcome::Error);
    let _ = agent.cancel().await;
    h.engine.shutdown().await.unwrap();

    // Switched off: not listed, not callable.
    let h = start_plain(dir.path(), "workspace:\n  builtin_tools: false\n").await;
    let agent = h.agent("claude-code").await;
    assert!(agent.list_all_tools().await.unwrap().is_empty());
    assert!(
        agent
            .call_tool(args_call("cordon__file_read", json!({"path": "a.txt"})))
            .await
            .is_err()
    );
    let _ = agent.cancel().await;
    h.engine.shutdown().await.unwrap();
}

#[derive(Clone, Default)]
struct Progress(std::sync::Arc<std::sync::Mutex<Vec<f64>>>);

impl rmcp::ClientHandler for Progress {
    async fn on_progress(
        &self,
        params: rmcp::model::ProgressNotificationParam,
        _context: rmcp::service::NotificationContext<RoleClient>,
    ) {
        self.0.lock().unwrap().push(params.progress);
    }
}

/// The echo example serving Streamable HTTP on a free loopback port: (child, url).
async fn http_echo(mark: &Path) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(echo_upstream())
        .env("ECHO_HTTP", "127.0.0.1:0")
        .env("ECHO_CANCEL_MARK", mark)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = lines.next_line().await.unwrap().unwrap();
    let addr = line.strip_prefix("listening on ").unwrap().to_owned();
    (child, format!("http://{addr}/mcp"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_upstream_progress_and_cancellation_pass_through() {
    let marks = tempfile::tempdir().unwrap();
    let mark = marks.path().join("cancelled");
    let (_child, url) = http_echo(&mark).await;
    let h = start_plain(
        marks.path(),
        &format!("servers:\n  remote:\n    url: \"{url}\"\n"),
    )
    .await;
    let progress = Progress::default();
    let (reader, writer, _) = control::connect_mcp(&h.socket, "claude-code")
        .await
        .unwrap();
    let agent = progress.clone().serve((reader, writer)).await.unwrap();

    // A remote call, with the upstream's progress relayed under the agent's own token.
    let request = rmcp::model::ClientRequest::CallToolRequest(rmcp::model::CallToolRequest::new(
        args_call("remote__echo", json!({"text": "far", "progress": 3})),
    ));
    let handle = agent
        .peer()
        .send_request_with_option(request, rmcp::service::PeerRequestOptions::no_options())
        .await
        .unwrap();
    let result = handle.await_response().await.unwrap();
    let rmcp::model::ServerResult::CallToolResult(result) = result else {
        panic!("not a tool result: {result:?}");
    };
    assert_eq!(text_of(&result), "far");
    let mut seen = Vec::new();
    for _ in 0..500 {
        seen = progress.0.lock().unwrap().clone();
        if seen.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // rmcp handles each notification in a task of its own (here and in the client), so the
    // order of arrival is not guaranteed; every step must arrive.
    seen.sort_by(f64::total_cmp);
    assert_eq!(seen, vec![1.0, 2.0, 3.0]);

    // Cancellation reaches the upstream, and the call is recorded as cancelled.
    let request = rmcp::model::ClientRequest::CallToolRequest(rmcp::model::CallToolRequest::new(
        args_call("remote__echo", json!({"wait": true})),
    ));
    let handle = agent
        .peer()
        .send_request_with_option(request, rmcp::service::PeerRequestOptions::no_options())
        .await
        .unwrap();
    // Wait until the call is in flight upstream.
    let started = marks.path().join("cancelled.started");
    for _ in 0..1000 {
        if started.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(started.exists(), "the upstream never got the call");
    handle.cancel(Some("changed my mind".into())).await.unwrap();
    let mut cancelled = false;
    for _ in 0..1000 {
        if mark.exists() {
            cancelled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(cancelled, "the upstream never heard of the cancellation");
    // The cancelled call's intent is there at once (per_call shows an open intent as its
    // call); wait for the record that closes it, not just for two records.
    let mut records = Vec::new();
    for _ in 0..1000 {
        records = h.records();
        if records.len() >= 2 && records.iter().all(|r| r.phase != Some(Phase::Intent)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[0].outcome, Outcome::Allowed);
    assert_eq!(records[1].outcome, Outcome::Error);
    assert!(
        records[1]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("cancelled"),
        "{:?}",
        records[1].error
    );
    let _ = agent.cancel().await;
    h.engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_held_call_refuses_and_records_it() {
    let h = start("", None).await;
    let agent = h.agent("claude-code").await;
    let request = rmcp::model::ClientRequest::CallToolRequest(rmcp::model::CallToolRequest::new(
        call("held__echo", "never"),
    ));
    let handle = agent
        .peer()
        .send_request_with_option(request, rmcp::service::PeerRequestOptions::no_options())
        .await
        .unwrap();
    let id = h.wait_pending(1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = h.engine.approval_code(&id);
    assert!(code.is_some());
    handle.cancel(Some("not needed".into())).await.unwrap();
    // The held call's `pending` intent is there at once; wait for the record that closes it.
    let mut records = Vec::new();
    for _ in 0..1000 {
        records = h.records();
        if records.iter().any(|r| r.outcome != Outcome::Pending) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].outcome, Outcome::Error);
    assert!(
        records[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("cancelled")
    );
    // The approval is gone: it can no longer let the call through.
    assert!(
        control::request(
            &h.socket,
            &Request::Approve {
                id,
                session: false,
                prefix: None,
                code
            }
        )
        .await
        .is_err()
    );
    let _ = agent.cancel().await;
    h.engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_upstream_gets_tls_and_a_clear_error_when_unreachable() {
    use cordon_gateway::config::ServerSpec;
    use cordon_gateway::upstream::{UpstreamError, Upstreams};
    use std::collections::BTreeMap;
    // A port nothing listens on: the TLS client must be built (no missing crypto provider
    // panic) and the failure reported as the server being down.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let specs = BTreeMap::from([(
        "secure".to_owned(),
        ServerSpec::Remote {
            url: format!("https://127.0.0.1:{port}/mcp"),
            headers: BTreeMap::new(),
        },
    )]);
    let upstreams = Upstreams::start(&specs);
    upstreams.wait_ready(Duration::from_secs(60)).await;
    match upstreams.peer("secure") {
        Err(UpstreamError::NotRunning { state, reason, .. }) => {
            assert_eq!(state, "restarting", "{reason}");
            assert!(!reason.is_empty());
        }
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("an unreachable upstream is running"),
    }
    assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    upstreams.shutdown().await;
}
