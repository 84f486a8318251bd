//! The control socket under attack: idle floods, busy floods, a removed socket, impostor engines
//! in directories other users control, and the privacy of a fresh data directory (Unix; Windows'
//! named pipe is tested under Wine by tests/windows).
#![cfg(unix)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cordon_gateway::control::{self, Limits, Request};
use cordon_gateway::{Config, Engine, GatewayError};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

const POLICY: &str = "version: test\ndefault_decision: deny\nrules: []\n";
/// A hang guard, not a speed assertion.
const GUARD: Duration = Duration::from_secs(30);

fn write_config(dir: &Path, socket: &Path, evidence: &Path) -> PathBuf {
    std::fs::write(dir.join("policy.yaml"), POLICY).unwrap();
    let yaml = format!(
        "socket: {}\npolicy: ./policy.yaml\nevidence: {}\nsigning_key: file:./key.pem\n\
         pins: ./pins.json\nreviewer: rev@example.com\nservers: {{}}\n\
         workspace:\n  builtin_tools: false\n",
        socket.display(),
        evidence.display()
    );
    let path = dir.join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

async fn engine(dir: &Path) -> Engine {
    let path = write_config(dir, &dir.join("c.sock"), &dir.join("evidence.db"));
    Engine::start(Config::load(&path).unwrap()).await.unwrap()
}

/// A second control listener on the engine's pipeline, with test-sized limits.
async fn listener(dir: &Path, engine: &Engine, limits: Limits) -> (PathBuf, CancellationToken) {
    let socket = dir.join("second.sock");
    let bound = control::bind(&socket).await.unwrap();
    let cancel = CancellationToken::new();
    tokio::spawn(control::serve_with(
        bound,
        engine.pipeline().clone(),
        "rev@example.com".into(),
        cancel.clone(),
        limits,
    ));
    (socket, cancel)
}

/// Pings until the engine answers (a newcomer may race the connections it should evict).
async fn ping_until_ok(socket: &Path) -> Result<(), GatewayError> {
    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        match control::request(socket, &Request::Ping).await {
            Ok(_) => return Ok(()),
            Err(error) if tokio::time::Instant::now() >= deadline => return Err(error),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_flood_cannot_lock_the_human_out() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let limits = Limits {
        max_connections: 4,
        idle_timeout: Duration::from_secs(3),
    };
    let (socket, cancel) = listener(dir.path(), &engine, limits).await;
    // 50 connections that never send a request, 12 times the limit.
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(tokio::net::UnixStream::connect(&socket).await.unwrap());
    }
    // The human's request still gets through: it evicts the connection waiting longest.
    ping_until_ok(&socket).await.unwrap();
    let approvals = control::request(&socket, &Request::Approvals)
        .await
        .unwrap();
    assert_eq!(approvals["approvals"], serde_json::json!([]));
    // Every idle connection is closed: evicted, refused, or timed out (none is kept forever).
    for stream in idle {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        let read = tokio::time::timeout(GUARD, reader.read_line(&mut line)).await;
        let n = read.expect("an idle connection was kept open").unwrap();
        assert!(
            n == 0 || line.contains("\"ok\":false"),
            "unexpected line on an idle connection: {line}"
        );
    }
    cancel.cancel();
    engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_request_is_cut_off_at_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let limits = Limits {
        max_connections: 8,
        idle_timeout: Duration::from_millis(500),
    };
    let (socket, cancel) = listener(dir.path(), &engine, limits).await;
    let stream = tokio::net::UnixStream::connect(&socket).await.unwrap();
    let (read, mut write) = stream.into_split();
    // Half a request, never finished (slowloris): the line must not hold the connection.
    write.write_all(b"{\"op\":\"pi").await.unwrap();
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    tokio::time::timeout(GUARD, reader.read_line(&mut line))
        .await
        .expect("a half-sent request held the connection")
        .unwrap();
    assert!(line.contains("no complete request in time"), "{line}");
    cancel.cancel();
    engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_connections_beyond_the_limit_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let limits = Limits {
        max_connections: 2,
        idle_timeout: Duration::from_secs(60),
    };
    let (socket, cancel) = listener(dir.path(), &engine, limits).await;
    // Two MCP sessions: busy connections, which are never evicted.
    let first = control::connect_mcp(&socket, "agent-a").await.unwrap();
    let second = control::connect_mcp(&socket, "agent-b").await.unwrap();
    let refused = control::request(&socket, &Request::Ping).await.unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("too many busy control connections"),
        "{refused}"
    );
    // One leaves: the next request is served.
    drop(first);
    ping_until_ok(&socket).await.unwrap();
    drop(second);
    cancel.cancel();
    engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_call_is_charged_to_the_request_budget_like_an_mcp_request() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let hook = |agent: &str, bytes: usize| Request::Hook {
        agent: agent.into(),
        session_id: "s1".into(),
        tool: "Write".into(),
        args: serde_json::json!({"file_path": "/tmp/x", "content": "x".repeat(bytes)}),
        cwd: None,
    };
    let reason = |reply: serde_json::Value| {
        assert_eq!(reply["decision"], "deny", "{reply}");
        reply["reason"].as_str().unwrap().to_owned()
    };
    let socket = engine.config().socket.clone();
    // Another call of the agent holds most of its share (half of the 256 MiB default).
    let budget = engine.pipeline().request_budget().clone();
    let held = budget.try_claim("claude", 127 * 1024 * 1024).unwrap();
    let refused = reason(
        control::request(&socket, &hook("claude", 2 << 20))
            .await
            .unwrap(),
    );
    assert!(
        refused.contains("requests_in_flight_mib") && refused.contains("agent claude's"),
        "{refused}"
    );
    // A small call of the agent still fits, and another agent's large one too: both meet the
    // policy (which denies everything here) instead.
    for (agent, bytes) in [("claude", 100), ("codex", 2 << 20)] {
        let judged = reason(
            control::request(&socket, &hook(agent, bytes))
                .await
                .unwrap(),
        );
        assert!(!judged.contains("requests_in_flight_mib"), "{judged}");
    }
    // The room comes back when the holding call ends.
    drop(held);
    let judged = reason(
        control::request(&socket, &hook("claude", 2 << 20))
            .await
            .unwrap(),
    );
    assert!(!judged.contains("requests_in_flight_mib"), "{judged}");
    engine.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_engine_refuses_a_socket_directory_others_can_write() {
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let path = write_config(
        dir.path(),
        &shared.join("c.sock"),
        &dir.path().join("evidence.db"),
    );
    let error = Engine::start(Config::load(&path).unwrap())
        .await
        .err()
        .expect("the engine started in a world-writable socket directory");
    let text = error.to_string();
    assert!(matches!(error, GatewayError::Insecure { .. }), "{text}");
    assert!(text.contains("writable by other users"), "{text}");
    assert!(
        !shared.join("c.sock").exists(),
        "a socket was created there"
    );
}

/// An impostor listens where the client would look and answers every request with "approved".
/// The client refuses before connecting: the impostor never sees the request.
fn impostor_case(dir: &Path) {
    let socket = dir.join("c.sock");
    let impostor = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    impostor.set_nonblocking(true).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // It carries a one-time code: an impostor must never see it.
    let approve = Request::Approve {
        id: "01TESTAPPROVAL".into(),
        session: false,
        prefix: None,
        code: Some("AAAA-BBBB".into()),
    };
    let error = runtime
        .block_on(control::request(&socket, &approve))
        .unwrap_err();
    assert!(matches!(error, GatewayError::Insecure { .. }), "{error}");
    assert!(error.to_string().contains("refusing"), "{error}");
    match impostor.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the client connected to the impostor: {other:?}"),
    }
}

#[test]
fn an_impostor_engine_in_a_world_writable_directory_is_not_asked() {
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    impostor_case(&shared);
}

#[test]
fn an_impostor_engine_in_another_users_directory_is_not_asked() {
    if !nix::unistd::geteuid().is_root() {
        // Only root can give a directory away; the rule itself is covered by private.rs's tests.
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o755)).unwrap();
    nix::unistd::chown(&foreign, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
    impostor_case(&foreign);
}

#[tokio::test]
async fn a_fresh_data_directory_and_the_evidence_files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    // A permissive umask, as on many desktops: privacy must not depend on it.
    let data = dir.path().join("data").join("cordon");
    let path = write_config(
        dir.path(),
        &dir.path().join("c.sock"),
        &data.join("evidence.db"),
    );
    let engine = Engine::start(Config::load(&path).unwrap()).await.unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "data directory");
    assert_eq!(mode(&dir.path().join("data")), 0o700, "its new parent");
    for name in ["evidence.db", "evidence.db-wal", "evidence.db-shm"] {
        let file = data.join(name);
        if file.exists() {
            assert_eq!(mode(&file) & 0o077, 0, "{name} is readable by others");
        }
    }
    assert!(
        data.join("evidence.db-wal").exists(),
        "the log is in WAL mode"
    );
    assert_eq!(mode(&dir.path().join("c.sock")), 0o600, "control socket");
    engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_socket_is_bound_again_and_a_replaced_one_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let socket = dir.path().join("c.sock");

    std::fs::remove_file(&socket).unwrap();
    ping_until_ok(&socket).await.unwrap();
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");

    // Another process's socket in its place (another engine, started once this one's was
    // gone): not taken back, so two engines never fight over one path.
    std::fs::remove_file(&socket).unwrap();
    let other = tokio::net::UnixListener::bind(&socket).unwrap();
    // Three checks later the path still leads to the other listener.
    tokio::time::sleep(control::SOCKET_CHECK_EVERY * 3).await;
    let _client = tokio::net::UnixStream::connect(&socket).await.unwrap();
    tokio::time::timeout(GUARD, other.accept())
        .await
        .expect("the engine took the other process's socket path back")
        .unwrap();
    // Nor removed when this engine stops: it is the other one's.
    engine.shutdown().await.unwrap();
    let _client = tokio::net::UnixStream::connect(&socket)
        .await
        .expect("stopping removed another process's socket");
    tokio::time::timeout(GUARD, other.accept())
        .await
        .unwrap()
        .unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn an_engine_that_stops_removes_its_own_socket() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let socket = dir.path().join("c.sock");
    assert!(socket.exists());
    engine.shutdown().await.unwrap();
    assert!(!socket.exists(), "a stopped engine left its socket behind");
}
