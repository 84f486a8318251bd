//! The control socket: how the CLI, `cordon mcp` and the desktop app reach the engine.
//!
//! On Unix a socket, 0600, in a 0700 directory the user owns; on Windows a named pipe whose
//! security descriptor admits the current user only (its name derives from the configured socket
//! path, see [`pipe_name`]). Only the user can connect, and a client refuses a socket or pipe
//! owned by anyone else (an impostor engine must not answer `cordon approve`). Requests are one
//! JSON object per line; `{"op":"mcp","agent":NAME}` turns the connection into an MCP session
//! for that agent. At most [`MAX_CONNECTIONS`] are served at once, and a connection that sends no
//! complete request within [`IDLE_TIMEOUT`] is closed.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

use crate::error::GatewayError;
use crate::pipeline::Pipeline;
use crate::places::{Place, Places};
use crate::server::AgentServer;

/// Longest control request line: 16 MiB, like the MCP stream after the hello, so a native hook
/// request carrying a large file write is judged rather than refused for its size.
pub const MAX_REQUEST_BYTES: u64 = 16 * 1024 * 1024;

/// Control connections served at once. MCP sessions of `cordon mcp` bridges count too; beyond it a
/// new connection gets a one-line refusal and is closed (a flood cannot exhaust the engine's
/// file descriptors, and the idle ones are reaped by [`IDLE_TIMEOUT`]).
pub const MAX_CONNECTIONS: usize = 512;

/// How long a control connection may wait before its next complete request line. Requests are
/// written at once by every client (CLI, hook adapter, bridge hello); a held hook call or an MCP
/// session is not subject to it.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a client waits for the engine's answer to a quick request (`ping`).
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// How often the engine checks that its control socket is still at its path (see
/// [`SocketKeeper`]).
pub const SOCKET_CHECK_EVERY: Duration = Duration::from_secs(1);

/// One control request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Is an engine here?
    Ping,
    /// List pending approvals.
    Approvals,
    /// Turn this connection into a feed of the pending list: one `{"ok":true,"approvals":[…]}`
    /// line at once and another each time the list changes (a call held, decided anywhere,
    /// timed out or withdrawn), until either side hangs up. Clients react at once instead of
    /// polling; a slow reader skips intermediate lists, never the latest.
    Watch,
    /// Approve one. Needs the call's one-time code (see [`crate::approvals`]): a request on
    /// the socket proves nothing about who sent it.
    Approve {
        /// Approval id.
        id: String,
        /// Grant the same action on the same target for the rest of the session.
        #[serde(default)]
        session: bool,
        /// Instead: grant the same action on targets under this path prefix for the session.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<String>,
        /// The one-time code the engine showed on its own channel.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
    },
    /// Ask the engine for a one-time code that allows `action` (shown on the engine's own
    /// channel, never in the reply): resuming agents and accepting a changed tool need one.
    Challenge {
        /// The guarded request the code will allow.
        action: Guarded,
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
        /// The one-time code from a [`Request::Challenge`] for this exact approval.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
    },
    /// Kill switch: pause every agent (no `agent`) or one; held calls are denied.
    Pause {
        /// The agent to pause; none = all.
        #[serde(default)]
        agent: Option<String>,
    },
    /// Lift the kill switch for every agent (no `agent`) or one. Needs the one-time code from a
    /// [`Request::Challenge`] (pausing needs none: it only makes things stricter).
    Resume {
        /// The agent to resume; none = all.
        #[serde(default)]
        agent: Option<String>,
        /// The one-time code.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
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

/// A socket request that loosens governance and so needs a one-time code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Guarded {
    /// `cordon resume [--agent NAME]`.
    Resume {
        /// The agent; none = all.
        #[serde(default)]
        agent: Option<String>,
    },
    /// `cordon tools approve SERVER TOOL --hash H`.
    ApproveTool {
        /// The server.
        server: String,
        /// The tool.
        tool: String,
        /// The reviewed hash.
        hash: String,
    },
}

impl Guarded {
    /// The action in words: the key its code is filed under and what the human is shown.
    pub fn describe(&self) -> String {
        match self {
            Guarded::Resume { agent: None } => "resume all agents".to_owned(),
            Guarded::Resume { agent: Some(a) } => format!("resume agent {a}"),
            Guarded::ApproveTool { server, tool, hash } => {
                format!("accept the changed definition of tool {server}__{tool} (hash {hash})")
            }
        }
    }
}

/// The reply to a guarded request sent without its code: names the way forward.
fn needs_code(what: &str) -> Value {
    json!({
        "ok": false,
        "error": format!(
            "{what} needs a one-time code: Cordon proves a human asked, because any process of \
             the agent's user can reach this socket. Run the command in your own terminal; it \
             asks the engine for a code, shown only on the engine's own channel (the desktop \
             app, or the terminal running `cordon serve`)"
        ),
    })
}

fn approve_reply(
    pipeline: &Pipeline,
    reviewer: &str,
    id: &str,
    session: bool,
    prefix: Option<String>,
    code: Option<&str>,
) -> Value {
    let scope = match prefix {
        Some(prefix) => crate::approvals::GrantScope::SessionPrefix(prefix),
        None => crate::approvals::GrantScope::from_session(session),
    };
    let Some(code) = code else {
        return needs_code(&format!("approving {id}"));
    };
    match pipeline
        .broker()
        .approve_with_code(id, code, &scope, reviewer)
    {
        Ok(info) => json!({"ok": true, "approval": info, "channel": "cli-code"}),
        Err(error) => json!({"ok": false, "error": error.to_string()}),
    }
}

fn guarded_reply(pipeline: &Pipeline, action: &Guarded, code: Option<&str>) -> Option<Value> {
    let what = action.describe();
    let Some(code) = code else {
        return Some(needs_code(&what));
    };
    match pipeline.broker().redeem(&what, code) {
        Ok(()) => None,
        Err(error) => Some(json!({"ok": false, "error": error.to_string()})),
    }
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

/// The bound control channel: a Unix socket listener.
#[cfg(unix)]
pub type Listener = tokio::net::UnixListener;

/// The bound control channel: the named pipe's name and the instance waiting for the next client
/// (a named pipe server serves one client per instance; a fresh one is created per connection).
#[cfg(windows)]
pub struct Listener {
    name: String,
    waiting: tokio::net::windows::named_pipe::NamedPipeServer,
}

/// The read half of a client connection to the engine.
#[cfg(unix)]
pub type ControlRead = tokio::net::unix::OwnedReadHalf;
/// The write half of a client connection to the engine.
#[cfg(unix)]
pub type ControlWrite = tokio::net::unix::OwnedWriteHalf;
/// The read half of a client connection to the engine.
#[cfg(windows)]
pub type ControlRead = tokio::io::ReadHalf<tokio::net::windows::named_pipe::NamedPipeClient>;
/// The write half of a client connection to the engine.
#[cfg(windows)]
pub type ControlWrite = tokio::io::WriteHalf<tokio::net::windows::named_pipe::NamedPipeClient>;

/// The Windows named pipe that stands for the configured socket `path`: the path itself when it
/// is already a pipe name (`\\.\pipe\...`), else `\\.\pipe\cordon-` and 16 hex digits of the
/// path's SHA-256 (so each config, like each socket path on Unix, has its own engine).
pub fn pipe_name(path: &Path) -> String {
    use sha2::Digest;
    let text = path.to_string_lossy();
    if text.starts_with(r"\\.\pipe\") {
        return text.into_owned();
    }
    let digest = hex::encode(sha2::Sha256::digest(text.as_bytes()));
    format!(r"\\.\pipe\cordon-{}", digest.get(..16).unwrap_or(&digest))
}

/// Binds the control socket at `path` (refusing if another engine answers there, or if the
/// socket's directory is another user's or writable by others).
#[cfg(unix)]
pub async fn bind(path: &Path) -> Result<Listener, GatewayError> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        crate::private::ensure_dir(dir)?;
    }
    if std::fs::symlink_metadata(path).is_ok() {
        crate::private::check_socket(path)?;
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

/// Binds the control pipe for `path` (see [`pipe_name`]): the first instance, with a security
/// descriptor admitting the current user only. A pipe of that name that already exists belongs
/// to another engine (or to an impostor squatting the name): refused either way.
#[cfg(windows)]
pub async fn bind(path: &Path) -> Result<Listener, GatewayError> {
    let name = pipe_name(path);
    if ping(path).await.is_ok() {
        return Err(GatewayError::AlreadyRunning(path.to_path_buf()));
    }
    let waiting = cordon_winsec::create_private_pipe(&name, true).map_err(|e| {
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            GatewayError::Insecure {
                path: std::path::PathBuf::from(&name),
                reason: "the pipe already exists and is not this engine's (another user or \
                         program holds the name)"
                    .into(),
            }
        } else {
            GatewayError::io(format!("cannot create the control pipe {name}"), e)
        }
    })?;
    Ok(Listener { name, waiting })
}

/// The next client, split in halves.
#[cfg(unix)]
pub(crate) async fn accept(
    listener: &mut Listener,
) -> std::io::Result<(ControlReadServer, ControlWriteServer)> {
    let (stream, _) = listener.accept().await?;
    Ok(stream.into_split())
}

#[cfg(unix)]
pub(crate) type ControlReadServer = tokio::net::unix::OwnedReadHalf;
#[cfg(unix)]
pub(crate) type ControlWriteServer = tokio::net::unix::OwnedWriteHalf;
#[cfg(windows)]
pub(crate) type ControlReadServer =
    tokio::io::ReadHalf<tokio::net::windows::named_pipe::NamedPipeServer>;
#[cfg(windows)]
pub(crate) type ControlWriteServer =
    tokio::io::WriteHalf<tokio::net::windows::named_pipe::NamedPipeServer>;

/// The next client: waits on the current instance, then puts a fresh one in its place before
/// handing the connected one over (so the name never disappears between clients).
#[cfg(windows)]
pub(crate) async fn accept(
    listener: &mut Listener,
) -> std::io::Result<(ControlReadServer, ControlWriteServer)> {
    if let Err(error) = listener.waiting.connect().await {
        // A client that came and went before the connect (ERROR_NO_DATA) leaves the instance
        // unusable: start over with a fresh one.
        listener.waiting = cordon_winsec::create_private_pipe(&listener.name, false)?;
        return Err(error);
    }
    let fresh = cordon_winsec::create_private_pipe(&listener.name, false)?;
    let connected = std::mem::replace(&mut listener.waiting, fresh);
    Ok(tokio::io::split(connected))
}

/// The control channel's connection limits (the defaults are [`MAX_CONNECTIONS`] and
/// [`IDLE_TIMEOUT`]; tests use small ones).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// How long a connection may wait before its next complete request.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: MAX_CONNECTIONS,
            idle_timeout: IDLE_TIMEOUT,
        }
    }
}

/// Accepts control connections until `cancel`, with the default [`Limits`].
pub async fn serve(
    listener: Listener,
    pipeline: Arc<Pipeline>,
    reviewer: String,
    cancel: CancellationToken,
) {
    serve_with(listener, pipeline, reviewer, cancel, Limits::default()).await;
}

/// Accepts control connections until `cancel`. Beyond `limits.max_connections` a new
/// connection evicts the one that has waited longest for a request, or, when every connection
/// is busy (MCP sessions, held hook calls), is refused with a one-line reason. Accept errors
/// (out of file descriptors, say) back off up to a second and are logged once per streak.
pub async fn serve_with(
    mut listener: Listener,
    pipeline: Arc<Pipeline>,
    reviewer: String,
    cancel: CancellationToken,
    limits: Limits,
) {
    let places = Places::new(limits.max_connections);
    let mut backoff = Duration::ZERO;
    let mut keeper = SocketKeeper::of(&listener);
    let mut check = tokio::time::interval(SOCKET_CHECK_EVERY);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let (read, mut write) = tokio::select! {
            _ = cancel.cancelled() => return,
            _ = check.tick() => {
                keeper.keep(&mut listener).await;
                continue;
            }
            accepted = accept(&mut listener) => match accepted {
                Ok(halves) => {
                    backoff = Duration::ZERO;
                    halves
                }
                Err(error) => {
                    if backoff.is_zero() {
                        tracing::warn!("control channel accept failed (backing off): {error}");
                    }
                    backoff = (backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    continue;
                }
            },
        };
        let Some(place) = places.take() else {
            tokio::spawn(async move {
                let reply = json!({"ok": false, "error": format!(
                    "too many busy control connections (limit {}): try again",
                    limits.max_connections
                )});
                let line = format!("{reply}\n");
                let _ = tokio::time::timeout(PING_TIMEOUT, write.write_all(line.as_bytes())).await;
            });
            continue;
        };
        let pipeline = pipeline.clone();
        let reviewer = reviewer.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let served = connection(read, write, pipeline, reviewer, cancel, &place, limits);
            if let Err(error) = served.await {
                tracing::debug!("control connection ended: {error}");
            }
            drop(place);
        });
    }
}

/// Keeps the control socket reachable at its path. Any process of the user can remove the
/// socket file (or its directory): the engine would go on listening where nobody can connect, so
/// every bridge would refuse its agent's calls and `cordon approvals` could not reach a held call
/// until a restart. A socket found missing is bound again (directory checks included); one
/// replaced by another process's socket is not taken back (it may be another engine, started
/// once this one's socket was gone) but logged as an error once: clients now reach that one.
/// Windows: another process cannot remove a named pipe this engine holds, so nothing to keep.
struct SocketKeeper {
    /// The socket's path, and its file's identity when it was last seen (None: already gone).
    #[cfg(unix)]
    kept: Option<(std::path::PathBuf, Option<(u64, u64)>)>,
    #[cfg(unix)]
    warned: bool,
}

impl SocketKeeper {
    /// The socket `listener` is bound to, as it is now (nothing to keep for an unnamed one).
    fn of(listener: &Listener) -> SocketKeeper {
        #[cfg(unix)]
        {
            SocketKeeper {
                kept: Self::bound(listener),
                warned: false,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = listener;
            SocketKeeper {}
        }
    }

    /// The path `listener` is bound to and that file's identity now.
    #[cfg(unix)]
    fn bound(listener: &Listener) -> Option<(std::path::PathBuf, Option<(u64, u64)>)> {
        listener
            .local_addr()
            .ok()
            .and_then(|a| a.as_pathname().map(Path::to_path_buf))
            .map(|path| {
                let id = socket_identity(&path).ok();
                (path, id)
            })
    }

    /// Binds the socket again if it was removed (swapping `listener` for the new one).
    async fn keep(&mut self, listener: &mut Listener) {
        #[cfg(unix)]
        {
            let Some((path, id)) = &self.kept else {
                return;
            };
            match socket_identity(path) {
                Ok(now) if Some(now) == *id => self.warned = false,
                Ok(_) => {
                    if !self.warned {
                        tracing::error!(
                            "the control socket {} was replaced by another process's: agents \
                             and `cordon` now reach that process, not this engine",
                            path.display()
                        );
                        self.warned = true;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let path = path.clone();
                    match bind(&path).await {
                        Ok(bound) => {
                            *listener = bound;
                            self.kept = Self::bound(listener);
                            self.warned = false;
                            tracing::warn!(
                                "the control socket {} was removed: bound it again",
                                path.display()
                            );
                        }
                        Err(error) if !self.warned => {
                            tracing::error!(
                                "the control socket {} was removed and cannot be bound again: {error}",
                                path.display()
                            );
                            self.warned = true;
                        }
                        Err(_) => {}
                    }
                }
                Err(_) => {}
            }
        }
        #[cfg(not(unix))]
        let _ = listener;
    }
}

/// Closes a listener that will serve nothing (a start that failed after binding), removing its
/// socket file while it is still this listener's.
pub(crate) fn release(listener: Listener) {
    let keeper = SocketKeeper::of(&listener);
    drop(listener);
    drop(keeper);
}

/// When the accept loop ends (stopped, or its task dropped), the socket goes with it, but only
/// while the path still holds the socket this engine bound: a second engine's socket put there
/// since (see [`SocketKeeper::keep`]) is left to it.
impl Drop for SocketKeeper {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some((path, Some(id))) = &self.kept
            && socket_identity(path).ok() == Some(*id)
        {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The device and inode of the socket file at `path` (not following a symbolic link).
#[cfg(unix)]
fn socket_identity(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path)?;
    Ok((meta.dev(), meta.ino()))
}

/// One control connection, whatever carries it (Unix socket or named pipe): the same protocol.
async fn connection<R, W>(
    read: R,
    mut write: W,
    pipeline: Arc<Pipeline>,
    reviewer: String,
    cancel: CancellationToken,
    place: &Place,
    limits: Limits,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    use rmcp::ServiceExt;
    let mut reader = BufReader::new(read);
    loop {
        let mut line = Vec::new();
        let mut limited = (&mut reader).take(MAX_REQUEST_BYTES);
        let next = limited.read_until(b'\n', &mut line);
        // A connection that sends no complete request in time is closed, and while it waits a
        // newcomer may evict it: idle or trickling connections cannot pile up until the human's
        // `cordon approve` cannot get in.
        place.waiting();
        let outcome = tokio::select! {
            read = tokio::time::timeout(limits.idle_timeout, next) => read.ok(),
            _ = place.evicted() => None,
        };
        place.busy();
        let Some(n) = outcome else {
            let reply = json!({"ok": false, "error": "no complete request in time: closing"});
            write.write_all(format!("{reply}\n").as_bytes()).await?;
            return Ok(());
        };
        let n = n?;
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
                json!({
                    "ok": true,
                    "engine": "cordon",
                    "version": env!("CARGO_PKG_VERSION"),
                    "evidence": pipeline.recorder().health(),
                    "policy_version": pipeline.policy().version(),
                    // The organisation policy's pulls (null without one).
                    "org_policy": pipeline.org_policy().map(|o| o.status()),
                })
            }
            Request::Approvals => json!({"ok": true, "approvals": pipeline.broker().pending()}),
            Request::Watch => return watch(&pipeline, &mut reader, &mut write, &cancel).await,
            Request::Approve {
                id,
                session,
                prefix,
                code,
            } => approve_reply(&pipeline, &reviewer, &id, session, prefix, code.as_deref()),
            Request::Challenge { action } => {
                if pipeline.broker().announces() {
                    pipeline.broker().challenge(&action.describe());
                    json!({"ok": true, "action": action.describe()})
                } else {
                    json!({"ok": false, "error": "this engine has no channel to show a one-time \
                        code on (the desktop app): use its window or tray menu instead"})
                }
            }
            // Denying needs no proof: it can only refuse.
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
                // The call's bytes, held while it is judged (and held for a human, maybe), count
                // against the budget every transport shares, as an MCP request's do.
                let size = u64::try_from(line.len()).unwrap_or(u64::MAX);
                match pipeline.request_budget().try_claim(&agent, size) {
                    Err(why) => json!({
                        "ok": true,
                        "decision": "deny",
                        "reason": format!("Cordon denied this call: {why}"),
                    }),
                    Ok(claim) => {
                        let call = crate::native::HookCall {
                            agent,
                            session_id,
                            tool,
                            args,
                            cwd,
                        };
                        let mut reply = crate::native::serve(&pipeline, call, &mut reader).await;
                        drop(claim);
                        pipeline.redactor().redact_value(&mut reply);
                        reply
                    }
                }
            }
            Request::ToolPins => tool_pins(&pipeline),
            Request::Pause { agent } => pause_reply(&pipeline, agent.as_deref(), true),
            Request::Resume { agent, code } => {
                let action = Guarded::Resume {
                    agent: agent.clone(),
                };
                match guarded_reply(&pipeline, &action, code.as_deref()) {
                    Some(refused) => refused,
                    None => pause_reply(&pipeline, agent.as_deref(), false),
                }
            }
            Request::PauseState => {
                json!({"ok": true, "pause": pipeline.constraints().pause_state()})
            }
            Request::ApproveTool {
                server,
                tool,
                hash,
                code,
            } => {
                let action = Guarded::ApproveTool {
                    server: server.clone(),
                    tool: tool.clone(),
                    hash: hash.clone(),
                };
                match guarded_reply(&pipeline, &action, code.as_deref()) {
                    Some(refused) => refused,
                    None => approve_tool(&pipeline, &server, &tool, &hash).await,
                }
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
                // At most MAX_IN_FLIGHT requests at once, and their bytes charged to the budget
                // every connection shares (see `inflight.rs`).
                let read = Arc::new(std::sync::atomic::AtomicU64::new(0));
                let metered = crate::inflight::Metered::new(reader, read.clone());
                let transport = crate::inflight::Bounded::new(
                    rmcp::transport::async_rw::AsyncRwTransport::new_server(metered, write),
                    crate::inflight::MAX_IN_FLIGHT,
                )
                .with_budget(
                    pipeline.request_budget().clone(),
                    read,
                    agent.clone(),
                );
                let running = match server.serve_with_ct(transport, cancel.child_token()).await {
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

/// Serves a [`Request::Watch`] connection until the client or the engine goes away.
async fn watch<R, W>(
    pipeline: &Pipeline,
    reader: &mut R,
    write: &mut W,
    cancel: &CancellationToken,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut changes = pipeline.broker().subscribe();
    let mut scratch = [0u8; 256];
    loop {
        changes.borrow_and_update();
        let reply = json!({"ok": true, "approvals": pipeline.broker().pending()});
        write.write_all(format!("{reply}\n").as_bytes()).await?;
        write.flush().await?;
        // Anything the client sends is ignored; end of input is its goodbye.
        loop {
            tokio::select! {
                changed = changes.changed() => match changed {
                    Ok(()) => break,
                    Err(_) => return Ok(()),
                },
                read = reader.read(&mut scratch) => match read {
                    Ok(0) | Err(_) => return Ok(()),
                    Ok(_) => continue,
                },
                _ = cancel.cancelled() => return Ok(()),
            }
        }
    }
}

/// Sends one control request and returns the engine's reply object (`ok` checked).
pub async fn request(socket: &Path, request: &Request) -> Result<Value, GatewayError> {
    let (read, mut write) = connect(socket).await?;
    let text = serde_json::to_string(request).map_err(|e| GatewayError::Control(e.to_string()))?;
    let written = write.write_all(format!("{text}\n").as_bytes()).await;
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    let read = reader.read_line(&mut line).await;
    // An engine that refuses the connection (too many) says why and closes before reading:
    // its reason beats the broken pipe the write may have met.
    if let Err(error) = written
        && line.trim().is_empty()
    {
        return Err(GatewayError::io("control socket write", error));
    }
    read.map_err(|e| GatewayError::io("control socket read", e))?;
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

/// Connects to the engine, after checking that the socket and its directory are the user's own
/// (a socket planted by another user is refused before a byte is sent).
#[cfg(unix)]
pub async fn connect(socket: &Path) -> Result<(ControlRead, ControlWrite), GatewayError> {
    crate::private::check_socket(socket)?;
    let stream =
        tokio::net::UnixStream::connect(socket)
            .await
            .map_err(|e| GatewayError::NotRunning {
                socket: socket.to_path_buf(),
                reason: e.to_string(),
            })?;
    Ok(stream.into_split())
}

/// Connects to the engine's pipe (waiting while every instance is busy), then checks that the
/// pipe belongs to the current user: a pipe another user created under that name is refused
/// before a byte is sent.
#[cfg(windows)]
pub async fn connect(socket: &Path) -> Result<(ControlRead, ControlWrite), GatewayError> {
    const ERROR_PIPE_BUSY: i32 = 231;
    let name = pipe_name(socket);
    let not_running = |e: std::io::Error| GatewayError::NotRunning {
        socket: std::path::PathBuf::from(&name),
        reason: e.to_string(),
    };
    let deadline = tokio::time::Instant::now() + PING_TIMEOUT;
    let client = loop {
        match tokio::net::windows::named_pipe::ClientOptions::new().open(&name) {
            Ok(client) => break client,
            Err(e)
                if e.raw_os_error() == Some(ERROR_PIPE_BUSY)
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(not_running(e)),
        }
    };
    let owner_is_me = cordon_winsec::owned_by_current_user(&client)
        .map_err(|e| GatewayError::io(format!("cannot read the security of {name}"), e))?;
    if !owner_is_me {
        return Err(GatewayError::Insecure {
            path: std::path::PathBuf::from(&name),
            reason: "the pipe is owned by another user: not your engine".into(),
        });
    }
    Ok(tokio::io::split(client))
}

/// The control pipe's security descriptor (owner and DACL) in SDDL, read back from the engine's
/// pipe, and whether it admits the current user only. `cordon status` shows it.
#[cfg(windows)]
pub async fn pipe_security(socket: &Path) -> Result<(String, bool), GatewayError> {
    let name = pipe_name(socket);
    let client = tokio::net::windows::named_pipe::ClientOptions::new()
        .open(&name)
        .map_err(|e| GatewayError::NotRunning {
            socket: std::path::PathBuf::from(&name),
            reason: e.to_string(),
        })?;
    let sddl = cordon_winsec::security_sddl(&client)
        .map_err(|e| GatewayError::io(format!("cannot read the security of {name}"), e))?;
    let sid = cordon_winsec::current_user_sid()
        .map_err(|e| GatewayError::io("cannot read the current user's SID", e))?;
    let only = cordon_winsec::admits_only(&sddl, &sid);
    Ok((sddl, only))
}

/// Whether an engine answers on `socket`.
pub async fn ping(socket: &Path) -> Result<(), GatewayError> {
    let fut = request(socket, &Request::Ping);
    match tokio::time::timeout(PING_TIMEOUT, fut).await {
        Ok(result) => result.map(|_| ()),
        Err(_) => Err(GatewayError::NotRunning {
            socket: socket.to_path_buf(),
            reason: "no answer within 2s".into(),
        }),
    }
}

/// Opens an MCP session for `agent`; the returned stream carries MCP JSON-RPC lines.
pub async fn connect_mcp(
    socket: &Path,
    agent: &str,
) -> Result<(BufReader<ControlRead>, ControlWrite, String), GatewayError> {
    connect_mcp_session(socket, agent, None).await
}

/// [`connect_mcp`] in the agent's own session `session` (see [`crate::agent_session`]).
pub async fn connect_mcp_session(
    socket: &Path,
    agent: &str,
    session: Option<&str>,
) -> Result<(BufReader<ControlRead>, ControlWrite, String), GatewayError> {
    let (read, mut write) = connect(socket).await?;
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
