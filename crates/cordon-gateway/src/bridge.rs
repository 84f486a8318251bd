//! `cordon mcp --agent NAME`: the stdio entry point agents launch, bridged to the engine.
//!
//! Each line from the agent is checked before it goes anywhere: not JSON → a JSON-RPC parse
//! error (-32700) is answered and the line dropped; over 16 MiB → an error, and the line is
//! skipped without being buffered whole. With no engine reachable, a minimal local MCP server
//! answers instead: it initializes, lists no tools and refuses every call (fail closed).
//!
//! Both protocol eras pass through unchanged: 2025-11-25 and older (the `initialize`
//! handshake, replayed on a reconnection) and 2026-07-28 (no handshake: `server/discover`, and
//! every request names its version in `_meta`, so a new engine connection needs no replay).
//! The engine (rmcp) picks the era from the first request; the local stand-in answers
//! `server/discover` and adds `resultType` to a 2026-07-28 request's results.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData as McpError, ServerHandler, ServiceExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;

mod inspect;

use crate::ids::{Cancellation, swap_cancelled_id};
use inspect::{Swap, inspect, params_of};

/// Largest message accepted from the agent.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// The message every call gets when no engine is running.
pub fn not_running_message(socket: &Path) -> String {
    format!(
        "Cordon is not running (no engine at {}): start it with `cordon serve` or the tray app",
        socket.display()
    )
}

/// The message every call gets when the config file cannot be used.
pub fn bad_config_message(error: &str) -> String {
    format!(
        "Cordon refused this call: its config file is invalid ({error}); fix it and restart the agent"
    )
}

/// The stand-in server when no engine is reachable (or the config is unusable): initializes,
/// lists nothing, refuses every call with `message`.
#[derive(Clone)]
pub struct OfflineServer {
    message: String,
}

impl OfflineServer {
    /// A stand-in that refuses every call with `message`.
    pub fn new(message: String) -> OfflineServer {
        OfflineServer { message }
    }
}

/// Serves the refusing stand-in on stdin/stdout until the agent leaves (`cordon mcp` with an
/// unusable config: the agent still gets MCP answers, each naming the problem).
pub async fn run_offline_stdio(message: String) -> Result<(), crate::GatewayError> {
    let running = OfflineServer::new(message)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| crate::GatewayError::io("stdio", std::io::Error::other(e.to_string())))?;
    let _ = running.waiting().await;
    Ok(())
}

impl ServerHandler for OfflineServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("cordon", env!("CARGO_PKG_VERSION")))
            .with_instructions(self.message.clone())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::default())
    }

    async fn call_tool(
        &self,
        _request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        Ok(CallToolResult::error(vec![ContentBlock::text(self.message.clone())]).into())
    }
}

/// One line read from the agent.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A complete line (without its newline).
    Message(Vec<u8>),
    /// A line longer than the limit: skipped.
    TooLarge,
    /// End of input.
    Eof,
}

/// Reads one line, discarding (not buffering) anything past `limit` bytes.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    limit: usize,
) -> std::io::Result<Line> {
    let mut line = Vec::new();
    let mut oversize = false;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(if oversize {
                Line::TooLarge
            } else if line.is_empty() {
                Line::Eof
            } else {
                Line::Message(line)
            });
        }
        let (chunk, used, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(at) => (buf.get(..at).unwrap_or_default(), at + 1, true),
            None => (buf, buf.len(), false),
        };
        if !oversize {
            if line.len() + chunk.len() > limit {
                oversize = true;
                line = Vec::new();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        reader.consume(used);
        if done {
            return Ok(if oversize {
                Line::TooLarge
            } else {
                Line::Message(line)
            });
        }
    }
}

fn error_line(id: Value, code: i64, message: &str) -> String {
    format!(
        "{}\n",
        json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
    )
}

fn result_line(id: Value, result: Value) -> String {
    format!(
        "{}\n",
        json!({"jsonrpc": "2.0", "id": id, "result": result})
    )
}

/// The local answer to a request while no engine is reachable: fail closed, but in MCP's terms
/// (the agent still initializes or discovers, sees no tools and gets every call refused with the
/// reason), in either protocol era.
fn answer_without_engine(
    id: Value,
    method: &str,
    params: Option<&Value>,
    modern: bool,
    message: &str,
) -> String {
    let complete = |mut result: Value| {
        if modern && let Some(object) = result.as_object_mut() {
            object.insert("resultType".to_owned(), json!("complete"));
        }
        result_line(id.clone(), result)
    };
    match method {
        "initialize" => {
            let version = params
                .and_then(|p| p.get("protocolVersion"))
                .and_then(Value::as_str)
                .unwrap_or("2025-06-18");
            result_line(
                id,
                json!({
                    "protocolVersion": version,
                    "capabilities": {"tools": {"listChanged": true}},
                    "serverInfo": {"name": "cordon", "version": env!("CARGO_PKG_VERSION")},
                    "instructions": message,
                }),
            )
        }
        "server/discover" => {
            let info = OfflineServer::new(message.to_owned()).get_info();
            let result = rmcp::model::DiscoverResult::from_server_info(
                rmcp::model::ProtocolVersion::KNOWN_VERSIONS.to_vec(),
                info,
            );
            match serde_json::to_value(result) {
                Ok(result) => result_line(id, result),
                Err(e) => error_line(id, -32603, &format!("internal error: {e}")),
            }
        }
        "tools/call" => {
            complete(json!({"content": [{"type": "text", "text": message}], "isError": true}))
        }
        // 2026-07-28 list results are cacheable: this one only for this user, and not for long
        // (the engine may be back any moment).
        "tools/list" if modern => {
            complete(json!({"tools": [], "ttlMs": 0, "cacheScope": "private"}))
        }
        "tools/list" => complete(json!({"tools": []})),
        "ping" => result_line(id, json!({})),
        _ => error_line(id, -32000, message),
    }
}

/// What the pump needs of an engine line: whether it is a response (no `method`) and its id.
/// Read without building the message (a result can be megabytes the bridge only passes on).
#[derive(serde::Deserialize)]
struct ReplyProbe<'a> {
    #[serde(borrow)]
    id: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    method: Option<&'a serde_json::value::RawValue>,
}

/// The pending-request key of a response line from the engine (None: not a response).
fn reply_key(line: &[u8]) -> Option<String> {
    let probe = serde_json::from_slice::<ReplyProbe<'_>>(line).ok()?;
    if probe.method.is_some() {
        return None;
    }
    // Keyed as the request was: the id's compact JSON text.
    let id = serde_json::from_str::<Value>(probe.id?.get()).ok()?;
    Some(id.to_string())
}

/// A request forwarded to the engine and not answered yet.
struct Pending {
    /// The engine link it went to.
    link: u64,
    /// Its id as sent to the engine.
    id: Value,
    method: String,
    /// The request spoke the 2026-07-28 protocol (its local answer carries `resultType`).
    modern: bool,
    swap: Option<Swap>,
}

/// Requests in flight, and the state of the engine link.
#[derive(Default)]
struct Inflight {
    /// The current link's number (each reconnection takes the next).
    link: u64,
    /// The current link is down (or there never was one).
    gone: bool,
    /// While down: what the engine said when it refused the session (None: no engine answered).
    refused: Option<String>,
    pending: HashMap<String, Pending>,
}

impl Inflight {
    /// What a call answered here is told: the engine's refusal, else that none is running.
    fn down_message(&self, socket: &Path) -> String {
        match &self.refused {
            Some(reason) => reason.clone(),
            None => not_running_message(socket),
        }
    }
}

/// Answers, locally, every request of `link` left unanswered.
fn orphans_of(state: &mut Inflight, link: u64, socket: &Path) -> Vec<Vec<u8>> {
    let message = state.down_message(socket);
    let keys: Vec<String> = state
        .pending
        .iter()
        .filter(|(_, p)| p.link == link)
        .map(|(k, _)| k.clone())
        .collect();
    keys.into_iter()
        .filter_map(|k| state.pending.remove(&k))
        .map(|p| {
            let line = answer_without_engine(p.id, &p.method, None, p.modern, &message);
            match p.swap {
                Some(swap) => swap.restore(line.as_bytes()),
                None => line.into_bytes(),
            }
        })
        .collect()
}

/// Runs the bridge on this process's stdin/stdout until the agent closes stdin.
pub async fn run_stdio(socket: &Path, agent: &str) -> Result<(), crate::GatewayError> {
    // Agents start `cordon mcp` with pipes (Python, Rust) or stream socket pairs (Node: libuv
    // hands its children sockets, so Claude Code and Gemini CLI): read and write them directly
    // on the runtime. tokio's stdin/stdout hand every read and write to a blocking thread and
    // back, which cost two thread switches per message each way. Anything else (a terminal, a
    // file) falls back to those.
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        let input = stdio_reader(std::io::stdin().as_fd());
        let output = stdio_writer(std::io::stdout().as_fd());
        return match (input, output) {
            (Some(input), Some(output)) => run(input, output, socket, agent).await,
            (Some(input), None) => run(input, tokio::io::stdout(), socket, agent).await,
            (None, Some(output)) => run(tokio::io::stdin(), output, socket, agent).await,
            (None, None) => run(tokio::io::stdin(), tokio::io::stdout(), socket, agent).await,
        };
    }
    #[cfg(not(unix))]
    run(tokio::io::stdin(), tokio::io::stdout(), socket, agent).await
}

/// What `cordon mcp` can read and write on the runtime itself.
#[cfg(unix)]
enum StdioKind {
    Pipe,
    StreamSocket,
}

/// The kind of file `fd` is, when the runtime can drive it (a pipe, or a stream socket).
#[cfg(unix)]
fn stdio_kind(fd: std::os::fd::BorrowedFd<'_>) -> Option<StdioKind> {
    use nix::sys::stat::SFlag;
    let mode = SFlag::from_bits_truncate(nix::sys::stat::fstat(fd).ok()?.st_mode);
    match mode & SFlag::S_IFMT {
        SFlag::S_IFIFO => Some(StdioKind::Pipe),
        SFlag::S_IFSOCK => {
            let kind = nix::sys::socket::getsockopt(&fd, nix::sys::socket::sockopt::SockType);
            (kind.ok()? == nix::sys::socket::SockType::Stream).then_some(StdioKind::StreamSocket)
        }
        _ => None,
    }
}

/// A stream socket `cordon mcp` was given, on the runtime (a copy of the descriptor: the
/// process's own stdin/stdout stay open).
#[cfg(unix)]
fn stdio_socket(fd: std::os::fd::BorrowedFd<'_>) -> Option<tokio::net::UnixStream> {
    let socket = std::os::unix::net::UnixStream::from(fd.try_clone_to_owned().ok()?);
    socket.set_nonblocking(true).ok()?;
    tokio::net::UnixStream::from_std(socket).ok()
}

#[cfg(unix)]
fn stdio_reader(fd: std::os::fd::BorrowedFd<'_>) -> Option<Box<dyn AsyncRead + Unpin + Send>> {
    match stdio_kind(fd)? {
        StdioKind::Pipe => {
            let owned = fd.try_clone_to_owned().ok()?;
            Some(Box::new(
                tokio::net::unix::pipe::Receiver::from_owned_fd(owned).ok()?,
            ))
        }
        StdioKind::StreamSocket => Some(Box::new(stdio_socket(fd)?)),
    }
}

#[cfg(unix)]
fn stdio_writer(fd: std::os::fd::BorrowedFd<'_>) -> Option<Box<dyn AsyncWrite + Unpin + Send>> {
    match stdio_kind(fd)? {
        StdioKind::Pipe => {
            let owned = fd.try_clone_to_owned().ok()?;
            Some(Box::new(
                tokio::net::unix::pipe::Sender::from_owned_fd(owned).ok()?,
            ))
        }
        StdioKind::StreamSocket => Some(Box::new(stdio_socket(fd)?)),
    }
}

async fn emit<W: AsyncWrite + Unpin>(out: &Mutex<W>, line: &[u8]) -> std::io::Result<()> {
    let mut out = out.lock().await;
    out.write_all(line).await?;
    out.flush().await
}

type Sink = Box<dyn AsyncWrite + Unpin + Send>;
type Source = Box<dyn AsyncBufRead + Unpin + Send>;

/// How long a reconnection may take (connect + replayed initialize) before the call is refused.
const RECONNECT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Connects to the engine and, when the agent had initialized, replays its `initialize` (and
/// `notifications/initialized`) so the new engine session is where the old one was.
async fn reconnect(
    socket: &Path,
    agent: &str,
    init: Option<&Value>,
    initialized: bool,
    attempt: u64,
) -> Result<(Source, Sink), Down> {
    let (mut source, mut sink) = connect(socket, agent).await?;
    let Some(params) = init else {
        return Ok((source, sink));
    };
    let id = format!("cordon-bridge-init-{attempt}");
    let request = json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": params});
    let replay = async {
        sink.write_all(format!("{request}\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        sink.flush().await.map_err(|e| e.to_string())?;
        loop {
            let mut line = Vec::new();
            if source
                .read_until(b'\n', &mut line)
                .await
                .map_err(|e| e.to_string())?
                == 0
            {
                return Err("the engine closed the connection during initialize".to_owned());
            }
            let Ok(reply) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            if reply.get("id").and_then(Value::as_str) == Some(id.as_str()) {
                if let Some(error) = reply.get("error") {
                    return Err(format!("the engine refused initialize: {error}"));
                }
                break;
            }
        }
        if initialized {
            let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
            sink.write_all(format!("{note}\n").as_bytes())
                .await
                .map_err(|e| e.to_string())?;
            sink.flush().await.map_err(|e| e.to_string())?;
        }
        Ok::<(), String>(())
    };
    match tokio::time::timeout(RECONNECT_WAIT, replay).await {
        Ok(Ok(())) => Ok((source, sink)),
        Ok(Err(error)) => Err(Down::from(error)),
        Err(_) => Err(Down::from(
            "the engine did not answer initialize in time".to_owned(),
        )),
    }
}

/// Relays the engine's lines to the agent until the link ends, then answers what it left.
fn spawn_pump<W>(
    source: Source,
    link: u64,
    out: Arc<Mutex<W>>,
    inflight: Arc<Mutex<Inflight>>,
    socket: std::path::PathBuf,
) -> tokio::task::JoinHandle<()>
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut source = source;
        loop {
            let mut line = Vec::new();
            match source.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let mut swap = None;
                    if let Some(key) = reply_key(&line) {
                        swap = inflight
                            .lock()
                            .await
                            .pending
                            .remove(&key)
                            .and_then(|p| p.swap);
                    }
                    if let Some(swap) = swap {
                        line = swap.restore(&line);
                    }
                    if emit(&out, &line).await.is_err() {
                        break;
                    }
                }
            }
        }
        // The engine went away: answer what it left unanswered; the next message reconnects.
        let orphans = {
            let mut state = inflight.lock().await;
            if state.link == link {
                state.gone = true;
            }
            orphans_of(&mut state, link, &socket)
        };
        for line in orphans {
            let _ = emit(&out, &line).await;
        }
    })
}

/// Runs the bridge between `input`/`output` and the engine at `socket`. When the engine goes
/// away, unanswered requests are refused; the next message reconnects (a restarted engine serves
/// the agent again without the agent restarting), and while none is reachable every request is
/// answered locally, refused.
pub async fn run<R, W>(
    input: R,
    output: W,
    socket: &Path,
    agent: &str,
) -> Result<(), crate::GatewayError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let out = Arc::new(Mutex::new(output));
    let inflight = Arc::new(Mutex::new(Inflight::default()));
    let mut sink: Option<Sink> = None;
    let mut pump = None;
    let mut attempts = 0u64;
    match connect(socket, agent).await {
        Ok((source, link_sink)) => {
            sink = Some(link_sink);
            pump = Some(spawn_pump(
                source,
                0,
                out.clone(),
                inflight.clone(),
                socket.to_path_buf(),
            ));
        }
        Err(down) => {
            tracing::warn!("{down}: answering locally (every call refused) until it is back");
            let mut state = inflight.lock().await;
            state.gone = true;
            state.refused = down.refused;
        }
    }
    // What the agent's handshake was, to replay it on a new engine connection.
    let mut init: Option<Value> = None;
    let mut initialized = false;
    let mut input = BufReader::with_capacity(64 * 1024, input);
    loop {
        let line = read_line(&mut input, MAX_MESSAGE_BYTES)
            .await
            .map_err(|e| crate::GatewayError::io("stdin", e))?;
        let reply: Option<Vec<u8>> = match line {
            Line::Eof => break,
            Line::TooLarge => {
                Some(error_line(Value::Null, -32600, "message over 16 MiB refused").into_bytes())
            }
            Line::Message(bytes) => {
                let text = bytes.trim_ascii();
                if text.is_empty() {
                    continue;
                }
                match inspect(text) {
                    Err(reply) => Some(reply.into_bytes()),
                    Ok(inspect::Inspected {
                        method,
                        id,
                        modern,
                        mut swap,
                        framed,
                    }) => {
                        let request = match (id, &method) {
                            (Some(id), Some(method)) => Some((id, method.clone())),
                            _ => None,
                        };
                        if method.as_deref() == Some("initialize") {
                            init = params_of(text);
                        }
                        let replay = if method.as_deref() == Some("initialize") {
                            None
                        } else {
                            init.as_ref()
                        };
                        // Link down: reconnect first (a restarted engine), else answer here.
                        let down = inflight.lock().await.gone;
                        if down {
                            attempts += 1;
                            match reconnect(socket, agent, replay, initialized, attempts).await {
                                Ok((source, link_sink)) => {
                                    let link = {
                                        let mut state = inflight.lock().await;
                                        state.link += 1;
                                        state.gone = false;
                                        state.refused = None;
                                        state.link
                                    };
                                    tracing::info!("reconnected to the engine");
                                    sink = Some(link_sink);
                                    pump = Some(spawn_pump(
                                        source,
                                        link,
                                        out.clone(),
                                        inflight.clone(),
                                        socket.to_path_buf(),
                                    ));
                                    if initialized {
                                        // The new engine's tools may differ from the last.
                                        let note = json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"});
                                        let _ = emit(&out, format!("{note}\n").as_bytes()).await;
                                    }
                                }
                                Err(down) => {
                                    tracing::debug!("engine still unreachable: {down}");
                                    inflight.lock().await.refused = down.refused;
                                    sink = None;
                                }
                            }
                        }
                        if method.as_deref() == Some("notifications/initialized") {
                            initialized = true;
                        }
                        // A cancellation names the request by the agent's id; the engine knows a
                        // swapped one only by its token.
                        let framed = if method.as_deref() == Some("notifications/cancelled") {
                            let state = inflight.lock().await;
                            match swap_cancelled_id(&framed, |raw| {
                                state.pending.values().find_map(|p| {
                                    p.swap
                                        .as_ref()
                                        .filter(|s| s.raw == raw)
                                        .map(|s| s.token.clone())
                                })
                            }) {
                                Cancellation::Rewritten(rewritten) => rewritten,
                                // Stale: rmcp's stdio transport drops what it cannot parse,
                                // answering nothing, as a notification should be.
                                Cancellation::AsIs | Cancellation::Stale => framed,
                            }
                        } else {
                            framed
                        };
                        let (forward, down_message) = {
                            let mut state = inflight.lock().await;
                            let up = !state.gone && sink.is_some();
                            // Only when answering here: no cost on the forwarding path.
                            let down_message = (!up).then(|| state.down_message(socket));
                            if up && let Some((id, method)) = &request {
                                let link = state.link;
                                state.pending.insert(
                                    id.to_string(),
                                    Pending {
                                        link,
                                        id: id.clone(),
                                        method: method.clone(),
                                        modern,
                                        swap: swap.take(),
                                    },
                                );
                            }
                            (up, down_message)
                        };
                        let local = |id: Value, method: &str, swap: Option<Swap>, message: &str| {
                            let line = answer_without_engine(
                                id,
                                method,
                                params_of(text).as_ref(),
                                modern,
                                message,
                            );
                            match swap {
                                Some(swap) => swap.restore(line.as_bytes()),
                                None => line.into_bytes(),
                            }
                        };
                        if forward && let Some(link_sink) = sink.as_mut() {
                            // Not under the lock: the pump must keep draining replies meanwhile.
                            let sent = link_sink.write_all(&framed).await.is_ok()
                                && link_sink.flush().await.is_ok();
                            if sent {
                                None
                            } else {
                                sink = None;
                                let mut state = inflight.lock().await;
                                state.gone = true;
                                // Answer here unless the pump already answered it.
                                let message = state.down_message(socket);
                                request
                                    .and_then(|(id, _)| state.pending.remove(&id.to_string()))
                                    .map(|p| local(p.id, &p.method, p.swap, &message))
                            }
                        } else {
                            let message =
                                down_message.unwrap_or_else(|| not_running_message(socket));
                            request.map(|(id, method)| local(id, &method, swap, &message))
                        }
                    }
                }
            }
        };
        if let Some(reply) = reply {
            emit(&out, &reply)
                .await
                .map_err(|e| crate::GatewayError::io("stdout", e))?;
        }
    }
    // The agent closed its side: it expects no more answers, so none are made up for it.
    {
        let mut state = inflight.lock().await;
        state.gone = true;
        state.link += 1;
        state.pending.clear();
    }
    if let Some(mut link_sink) = sink {
        let _ = link_sink.shutdown().await;
    }
    if let Some(pump) = pump {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), pump).await;
    }
    Ok(())
}

/// Why the bridge has no engine session.
#[derive(Debug)]
struct Down {
    /// What happened, for the bridge's log.
    what: String,
    /// An engine answered and refused the session (standing by, say): what the agent's calls
    /// are told instead of "not running".
    refused: Option<String>,
}

impl From<String> for Down {
    fn from(what: String) -> Down {
        Down {
            what,
            refused: None,
        }
    }
}

impl std::fmt::Display for Down {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.what)
    }
}

async fn connect(socket: &Path, agent: &str) -> Result<(Source, Sink), Down> {
    // One evidence session per agent session: shared with the agent's hook records.
    let session = crate::agent_session::for_bridge(agent, socket);
    crate::control::connect_mcp_session(socket, agent, session.as_deref())
        .await
        .map(|(r, w, _)| (Box::new(r) as Source, Box::new(w) as Sink))
        .map_err(|e| match e {
            crate::GatewayError::Control(reason) => Down {
                what: format!("the engine refused the session: {reason}"),
                refused: Some(reason),
            },
            other => Down::from(other.to_string()),
        })
}

#[cfg(test)]
mod tests {
    use super::inspect::is_modern;
    use super::*;

    #[test]
    fn without_an_engine_both_protocol_eras_get_answers_that_refuse() {
        let message = not_running_message(Path::new("/nowhere/cordon.sock"));
        let socket = message.as_str();
        let parse = |line: String| serde_json::from_str::<Value>(&line).unwrap();
        let discover = parse(answer_without_engine(
            json!(1),
            "server/discover",
            None,
            true,
            socket,
        ));
        let versions = &discover["result"]["supportedVersions"];
        assert!(
            versions.as_array().unwrap().contains(&json!("2026-07-28"))
                && versions.as_array().unwrap().contains(&json!("2025-11-25")),
            "{discover}"
        );
        assert_eq!(discover["result"]["resultType"], "complete", "{discover}");
        assert!(
            discover["result"]["instructions"]
                .as_str()
                .unwrap()
                .contains("not running"),
            "{discover}"
        );
        let meta = json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}});
        assert!(is_modern("tools/call", Some(&meta)));
        assert!(!is_modern("tools/call", Some(&json!({"name": "x"}))));
        let call = parse(answer_without_engine(
            json!(2),
            "tools/call",
            Some(&meta),
            true,
            socket,
        ));
        assert_eq!(call["result"]["resultType"], "complete", "{call}");
        assert_eq!(call["result"]["isError"], true, "{call}");
        let legacy = parse(answer_without_engine(
            json!(3),
            "tools/list",
            None,
            false,
            socket,
        ));
        assert_eq!(legacy["result"], json!({"tools": []}), "{legacy}");
    }

    #[tokio::test]
    async fn lines_over_the_limit_are_skipped_and_reading_goes_on() {
        let data = format!("{}\n{{\"a\":1}}\nxyz", "x".repeat(100));
        let mut reader = BufReader::with_capacity(8, data.as_bytes());
        assert_eq!(read_line(&mut reader, 10).await.unwrap(), Line::TooLarge);
        assert_eq!(
            read_line(&mut reader, 10).await.unwrap(),
            Line::Message(b"{\"a\":1}".to_vec())
        );
        assert_eq!(
            read_line(&mut reader, 10).await.unwrap(),
            Line::Message(b"xyz".to_vec())
        );
        assert_eq!(read_line(&mut reader, 10).await.unwrap(), Line::Eof);
    }

    #[test]
    fn replies_are_keyed_by_their_top_level_id_without_reading_the_rest() {
        let key = |line: &str| reply_key(line.as_bytes());
        assert_eq!(
            key(r#"{"jsonrpc":"2.0","id":7,"result":{}}"#).as_deref(),
            Some("7")
        );
        assert_eq!(
            key(r#"{"jsonrpc":"2.0","id":"a\u0062","error":{"code":1,"message":"m"}}"#).as_deref(),
            Some(r#""ab""#),
            "keyed like the request's id value, whatever escapes the engine wrote"
        );
        // A nested `method` or `id` inside the result is the tool's content, not the envelope.
        assert_eq!(
            key(r#"{"result":{"method":"x","id":9},"jsonrpc":"2.0","id":3}"#).as_deref(),
            Some("3")
        );
        // Requests and notifications from the engine are not replies.
        assert_eq!(key(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#), None);
        assert_eq!(
            key(r#"{"jsonrpc":"2.0","method":"notifications/progress"}"#),
            None
        );
        assert_eq!(key(r#"{"jsonrpc":"2.0","result":{}}"#), None);
        assert_eq!(key("not json"), None);
    }

    async fn bridge(input: &str) -> Vec<Value> {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("none.sock");
        let (out_w, mut out_r) = tokio::io::duplex(1 << 20);
        run(input.as_bytes(), out_w, &socket, "test").await.unwrap();
        let mut text = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut out_r, &mut text)
            .await
            .unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn ids_are_answered_as_sent_even_without_an_engine() {
        let input = [
            r#"{"jsonrpc":"2.0","id":1.5,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
            r#"{"jsonrpc":"2.0","id":12345678901234567890123,"method":"tools/call","params":{"name":"a__b","arguments":{}}}"#,
            r#"{"jsonrpc":"2.0","id":"s","method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":-4,"method":"tools/list"}"#,
            r#"{"jsonrpc":"2.0","id":-0,"method":"ping"}"#,
        ]
        .join("\n");
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("none.sock");
        let (out_w, mut out_r) = tokio::io::duplex(1 << 20);
        run(format!("{input}\n").as_bytes(), out_w, &socket, "test")
            .await
            .unwrap();
        let mut text = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut out_r, &mut text)
            .await
            .unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        for id in ["1.5", "12345678901234567890123", "\"s\"", "-4", "-0"] {
            assert!(
                lines.iter().any(|l| l.contains(&format!("\"id\":{id},"))),
                "id {id} not answered as sent: {text}"
            );
        }
        assert!(text.contains("Cordon is not running"), "{text}");
    }

    #[tokio::test]
    async fn without_an_engine_every_call_is_refused() {
        let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
        let input = format!(
            "{init}\nnot json\n{}\n{}\n{}\n",
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"fs__write_file","arguments":{}}}"#,
        );
        let replies = bridge(&input).await;
        let by_id = |id: i64| {
            replies
                .iter()
                .find(|r| r["id"] == json!(id))
                .cloned()
                .unwrap()
        };
        assert!(by_id(1)["result"]["protocolVersion"].is_string());
        let parse = replies
            .iter()
            .find(|r| r["error"]["code"] == json!(-32700))
            .unwrap();
        assert_eq!(parse["id"], Value::Null);
        assert_eq!(by_id(2)["result"]["tools"], json!([]));
        let call = by_id(3);
        assert_eq!(call["result"]["isError"], json!(true));
        let text = call["result"]["content"][0]["text"].as_str().unwrap();
        assert!(text.starts_with("Cordon is not running"), "{text}");
    }
}
