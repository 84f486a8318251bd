//! The control socket: how the CLI, `cordon mcp` and the desktop app reach the engine.
//!
//! A Unix socket in a 0700 directory, itself 0600: only the user can connect. Requests are one
//! JSON object per line; `{"op":"mcp","agent":NAME}` turns the connection into an MCP session
//! for that agent. (Windows named pipes are not built yet: see [`bind`].)

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

use crate::error::GatewayError;
use crate::pipeline::Pipeline;
use crate::server::AgentServer;

/// Longest control request line: 16 MiB, like the MCP stream after the hello, so a native hook
/// request carrying a large file write is judged rather than refused for its size.
pub const MAX_REQUEST_BYTES: u64 = 16 * 1024 * 1024;

/// One control request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Is an engine here?
    Ping,
    /// List pending approvals.
    Approvals,
    /// Approve one.
    Approve {
        /// Approval id.
        id: String,
        /// Grant the same action for the rest of the session.
        #[serde(default)]
        session: bool,
    },
    /// Deny one.
    Deny {
        /// Approval id.
        id: String,
        /// Why.
        #[serde(default)]
        reason: Option<String>,
    },
    /// Switch this connection to MCP for `agent`.
    Mcp {
        /// The agent's name.
        agent: String,
        /// The agent's own session id, when the agent tells its MCP servers (Claude Code's
        /// `CLAUDE_CODE_SESSION_ID`): the MCP session then shares it with the agent's hook
        /// records (one evidence session per agent session).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<String>,
    },
    /// The pending tool-definition changes and the tools withheld now.
    ToolPins,
    /// Approve a changed tool definition (after reviewing its diff): the engine re-lists the
    /// server's tools and tells agents `tools/list_changed`.
    ApproveTool {
        /// The server.
        server: String,
        /// The tool's name on that server.
        tool: String,
        /// The reviewed definition's hash (at least 8 hex digits).
        hash: String,
    },
    /// Kill switch: pause every agent (no `agent`) or one; held calls are denied.
    Pause {
        /// The agent to pause; none = all.
        #[serde(default)]
        agent: Option<String>,
    },
    /// Lift the kill switch for every agent (no `agent`) or one.
    Resume {
        /// The agent to resume; none = all.
        #[serde(default)]
        agent: Option<String>,
    },
    /// The kill switch's state (`{"pause": {"all": bool, "agents": [...]}}`).
    PauseState,
    /// Judge one native-tool call reported by an agent's hook (see [`crate::native`]).
    Hook {
        /// The agent's name.
        agent: String,
        /// The agent's session.
        session_id: String,
        /// The built-in tool as the classifier knows it.
        tool: String,
        /// The tool's input.
        #[serde(default)]
        args: Value,
        /// The agent's working directory.
        #[serde(default)]
        cwd: Option<String>,
    },
}

fn tool_pins(pipeline: &Pipeline) -> Value {
    let withheld: Vec<Value> = pipeline
        .upstreams()
        .withheld_tools()
        .into_iter()
        .map(|(server, tool, reason)| json!({"server": server, "tool": tool, "reason": reason}))
        .collect();
    json!({"ok": true, "withheld": withheld})
}

async fn approve_tool(pipeline: &Pipeline, server: &str, tool: &str, hash: &str) -> Value {
    let Some(pins) = pipeline.pins().cloned() else {
        return json!({"ok": false, "error": "tool pinning is off in this engine"});
    };
    let (s, t, h) = (server.to_owned(), tool.to_owned(), hash.to_owned());
    let approved = tokio::task::spawn_blocking(move || pins.approve_change(&s, &t, Some(&h))).await;
    match approved {
        Ok(Ok(pinned)) => {
            // Re-list so the tool is served again; a server that is down re-lists on start.
            let relisted = pipeline.upstreams().relist(server).await;
            json!({
                "ok": true,
                "hash": pinned.hash,
                "relisted": relisted.is_ok(),
            })
        }
        Ok(Err(error)) => json!({"ok": false, "error": error.to_string()}),
        Err(join) => json!({"ok": false, "error": join.to_string()}),
    }
}

fn pause_reply(pipeline: &Pipeline, agent: Option<&str>, pause: bool) -> Value {
    if let Some(a) = agent
        && !crate::config::is_valid_name(a)
    {
        return json!({"ok": false, "error": format!("invalid agent name `{a}`: use [a-z0-9-]+")});
    }
    let result = if pause {
        pipeline.pause(agent)
    } else {
        pipeline.resume(agent)
    };
    match result {
        Ok(state) => json!({"ok": true, "pause": state}),
        Err(error) => json!({"ok": false, "error": error}),
    }
}

/// Binds the control socket at `path` (refusing if another engine answers there).
#[cfg(unix)]
pub async fn bind(path: &Path) -> Result<tokio::net::UnixListener, GatewayError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| GatewayError::io(format!("cannot create {}", dir.display()), e))?;
    }
    if path.exists() {
        if ping(path).await.is_ok() {
            return Err(GatewayError::AlreadyRunning(path.to_path_buf()));
        }
        std::fs::remove_file(path).map_err(|e| {
            GatewayError::io(format!("cannot remove stale socket {}", path.display()), e)
        })?;
    }
    let listener = tokio::net::UnixListener::bind(path)
        .map_err(|e| GatewayError::io(format!("cannot bind {}", path.display()), e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| GatewayError::io(format!("cannot restrict {}", path.display()), e))?;
    Ok(listener)
}

/// Windows: the named-pipe transport is not built yet; refuse clearly rather than listen on TCP.
#[cfg(windows)]
pub async fn bind(path: &Path) -> Result<(), GatewayError> {
    let _ = path;
    Err(GatewayError::Unsupported(
        "the control channel (Windows named pipe) is not built yet".into(),
    ))
}

/// Accepts control connections until `cancel`.
#[cfg(unix)]
pub async fn serve(
    listener: tokio::net::UnixListener,
    pipeline: Arc<Pipeline>,
    reviewer: String,
    cancel: CancellationToken,
) {
    loop {
        let stream = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!("control socket accept failed: {error}");
                    continue;
                }
            },
        };
        let pipeline = pipeline.clone();
        let reviewer = reviewer.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if let Err(error) = connection(stream, pipeline, reviewer, cancel).await {
                tracing::debug!("control connection ended: {error}");
            }
        });
    }
}

#[cfg(unix)]
async fn connection(
    stream: tokio::net::UnixStream,
    pipeline: Arc<Pipeline>,
    reviewer: String,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    use rmcp::ServiceExt;
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let mut line = Vec::new();
        let n = (&mut reader)
            .take(MAX_REQUEST_BYTES)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Ok(());
        }
        if !line.ends_with(b"\n") && n as u64 >= MAX_REQUEST_BYTES {
            let reply = json!({"ok": false, "error": "request too large"});
            write.write_all(format!("{reply}\n").as_bytes()).await?;
            return Ok(());
        }
        let request = match serde_json::from_slice::<Request>(&line) {
            Ok(request) => request,
            Err(error) => {
                let reply = json!({"ok": false, "error": format!("bad request: {error}")});
                write.write_all(format!("{reply}\n").as_bytes()).await?;
                continue;
            }
        };
        let reply = match request {
            Request::Ping => {
                // The evidence health rides along: `cordon` and the tray show a fault (calls
                // are refused while the log cannot be written).
                json!({"ok": true, "engine": "cordon", "version": env!("CARGO_PKG_VERSION"),
                       "evidence": pipeline.recorder().health()})
            }
            Request::Approvals => json!({"ok": true, "approvals": pipeline.broker().pending()}),
            Request::Approve { id, session } => {
                match pipeline.broker().approve(&id, session, &reviewer) {
                    Ok(info) => json!({"ok": true, "approval": info}),
                    Err(error) => json!({"ok": false, "error": error.to_string()}),
                }
            }
            Request::Deny { id, reason } => match pipeline.broker().deny(&id, reason, &reviewer) {
                Ok(info) => json!({"ok": true, "approval": info}),
                Err(error) => json!({"ok": false, "error": error.to_string()}),
            },
            Request::Hook {
                agent,
                session_id,
                tool,
                args,
                cwd,
            } => {
                let call = crate::native::HookCall {
                    agent,
                    session_id,
                    tool,
                    args,
                    cwd,
                };
                let mut reply = crate::native::serve(&pipeline, call, &mut reader).await;
                pipeline.redactor().redact_value(&mut reply);
                reply
            }
            Request::ToolPins => tool_pins(&pipeline),
            Request::Pause { agent } => pause_reply(&pipeline, agent.as_deref(), true),
            Request::Resume { agent } => pause_reply(&pipeline, agent.as_deref(), false),
            Request::PauseState => {
                json!({"ok": true, "pause": pipeline.constraints().pause_state()})
            }
            Request::ApproveTool { server, tool, hash } => {
                approve_tool(&pipeline, &server, &tool, &hash).await
            }
            Request::Mcp { agent, session } => {
                if !crate::config::is_valid_name(&agent) {
                    let reply = json!({"ok": false, "error": format!("invalid agent name `{agent}`: use [a-z0-9-]+")});
                    write.write_all(format!("{reply}\n").as_bytes()).await?;
                    return Ok(());
                }
                let server = match &session {
                    Some(id) => {
                        AgentServer::with_session_id(pipeline.clone(), Some(agent.clone()), id)
                    }
                    None => AgentServer::new(pipeline.clone(), Some(agent.clone())),
                };
                let session = server.session_id().to_owned();
                let reply = json!({"ok": true, "session_id": session});
                write.write_all(format!("{reply}\n").as_bytes()).await?;
                tracing::info!(%agent, %session, "agent connected over the control socket");
                let running = match server
                    .serve_with_ct((reader, write), cancel.child_token())
                    .await
                {
                    Ok(running) => running,
                    Err(error) => {
                        tracing::debug!(%agent, "MCP session did not initialize: {error}");
                        return Ok(());
                    }
                };
                let _ = running.waiting().await;
                pipeline.broker().end_session(&session);
                pipeline.constraints().end_session(&session);
                return Ok(());
            }
        };
        write.write_all(format!("{reply}\n").as_bytes()).await?;
    }
}

/// Sends one control request and returns the engine's reply object (`ok` checked).
#[cfg(unix)]
pub async fn request(socket: &Path, request: &Request) -> Result<Value, GatewayError> {
    let stream = connect(socket).await?;
    let (read, mut write) = stream.into_split();
    let text = serde_json::to_string(request).map_err(|e| GatewayError::Control(e.to_string()))?;
    write
        .write_all(format!("{text}\n").as_bytes())
        .await
        .map_err(|e| GatewayError::io("control socket write", e))?;
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .await
        .map_err(|e| GatewayError::io("control socket read", e))?;
    let reply: Value = serde_json::from_str(&line)
        .map_err(|e| GatewayError::Control(format!("bad reply: {e}")))?;
    if reply.get("ok").and_then(Value::as_bool) == Some(true) {
        Ok(reply)
    } else {
        Err(GatewayError::Control(
            reply
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("unknown error")
                .to_owned(),
        ))
    }
}

/// Windows stub.
#[cfg(windows)]
pub async fn request(socket: &Path, request: &Request) -> Result<Value, GatewayError> {
    let _ = (socket, request);
    Err(GatewayError::Unsupported(
        "the control channel (Windows named pipe) is not built yet".into(),
    ))
}

/// Connects to the engine.
#[cfg(unix)]
pub async fn connect(socket: &Path) -> Result<tokio::net::UnixStream, GatewayError> {
    tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|e| GatewayError::NotRunning {
            socket: socket.to_path_buf(),
            reason: e.to_string(),
        })
}

/// Whether an engine answers on `socket`.
#[cfg(unix)]
pub async fn ping(socket: &Path) -> Result<(), GatewayError> {
    let fut = request(socket, &Request::Ping);
    match tokio::time::timeout(std::time::Duration::from_secs(2), fut).await {
        Ok(result) => result.map(|_| ()),
        Err(_) => Err(GatewayError::NotRunning {
            socket: socket.to_path_buf(),
            reason: "no answer within 2s".into(),
        }),
    }
}

/// Opens an MCP session for `agent`; the returned stream carries MCP JSON-RPC lines.
#[cfg(unix)]
pub async fn connect_mcp(
    socket: &Path,
    agent: &str,
) -> Result<
    (
        BufReader<tokio::net::unix::OwnedReadHalf>,
        tokio::net::unix::OwnedWriteHalf,
        String,
    ),
    GatewayError,
> {
    connect_mcp_session(socket, agent, None).await
}

/// [`connect_mcp`] in the agent's own session `session` (see [`crate::agent_session`]).
#[cfg(unix)]
pub async fn connect_mcp_session(
    socket: &Path,
    agent: &str,
    session: Option<&str>,
) -> Result<
    (
        BufReader<tokio::net::unix::OwnedReadHalf>,
        tokio::net::unix::OwnedWriteHalf,
        String,
    ),
    GatewayError,
> {
    let stream = connect(socket).await?;
    let (read, mut write) = stream.into_split();
    let hello = serde_json::to_string(&Request::Mcp {
        agent: agent.to_owned(),
        session: session.map(str::to_owned),
    })
    .map_err(|e| GatewayError::Control(e.to_string()))?;
    write
        .write_all(format!("{hello}\n").as_bytes())
        .await
        .map_err(|e| GatewayError::io("control socket write", e))?;
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .await
        .map_err(|e| GatewayError::io("control socket read", e))?;
    let reply: Value = serde_json::from_str(&line)
        .map_err(|e| GatewayError::Control(format!("bad reply: {e}")))?;
    if reply.get("ok").and_then(Value::as_bool) != Some(true) {
        return Err(GatewayError::Control(
            reply
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("refused")
                .to_owned(),
        ));
    }
    let session = reply
        .get("session_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Ok((reader, write, session))
}
