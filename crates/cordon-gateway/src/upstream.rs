//! Upstream MCP servers: started, supervised, restarted with backoff, and aggregated.
//!
//! Each configured server gets a supervisor task. A crashed server is restarted with exponential
//! backoff (0.5 s doubling to 30 s); meanwhile its calls fail with a clear message rather than
//! hang. Children get a minimal environment (an allowlist plus the configured variables), never
//! the engine's whole environment, so secrets of the engine's shell do not leak into tools.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use rmcp::model::{
    ClientCapabilities, ClientConfig, Implementation, ProgressNotificationParam, ProgressToken,
    Tool,
};
use rmcp::service::{NotificationContext, Peer, RoleClient, RoleServer, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, ServiceExt};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::config::ServerSpec;

/// Separator between server and tool in aggregated tool names.
pub const TOOL_SEPARATOR: &str = "__";

/// Environment variables a stdio upstream inherits from the engine (plus `LC_*`).
pub const ENV_ALLOWLIST: &[&str] = &["PATH", "HOME", "LANG", "TMPDIR", "USER", "SHELL", "TERM"];

const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A server that does not finish `initialize` in this time is treated as crashed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(120);

/// Something changed upstream that connected agents should hear about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamEvent {
    /// The aggregated tool list changed (a server started, stopped or changed its tools).
    ToolsChanged,
    /// An upstream's resource list changed.
    ResourcesChanged,
    /// An upstream's prompt list changed.
    PromptsChanged,
}

/// The state of one upstream as callers see it.
#[derive(Clone)]
enum Status {
    Starting,
    Running {
        peer: Peer<RoleClient>,
        tools: Arc<Vec<Tool>>,
    },
    Down {
        reason: String,
    },
}

/// One configured upstream server and its current state.
struct Upstream {
    name: String,
    spec: ServerSpec,
    status: RwLock<Status>,
}

/// All upstream servers: where the pipeline forwards allowed calls.
pub struct Upstreams {
    servers: BTreeMap<String, Arc<Upstream>>,
    events: broadcast::Sender<UpstreamEvent>,
    shutdown: CancellationToken,
    tasks: tokio::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    progress: ProgressRoutes,
}

/// Why a call could not reach an upstream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// No configured server has this name.
    #[error("unknown server `{0}`")]
    UnknownServer(String),
    /// The server is starting, crashed or being restarted.
    #[error("upstream {name} is not running ({state}): {reason}")]
    NotRunning {
        /// The server.
        name: String,
        /// `starting` or `restarting`.
        state: &'static str,
        /// The last failure.
        reason: String,
    },
}

/// Where an upstream's progress notifications go: (server, upstream token) → the agent's peer and
/// its own token. One entry per forwarded call whose agent asked for progress, removed when the
/// call ends (see [`ProgressRoute`]).
type ProgressRoutes = Arc<std::sync::Mutex<RouteMap>>;
type RouteMap = HashMap<(String, ProgressToken), (Peer<RoleServer>, ProgressToken, u64)>;

/// How long a finished call's progress route outlives it: rmcp handles each incoming
/// notification in a task of its own, so progress the upstream sent just before its answer can
/// be processed just after it.
const PROGRESS_GRACE: Duration = Duration::from_millis(1000);

/// Keeps one progress route alive for the duration of a forwarded call (plus a short grace).
pub struct ProgressRoute {
    routes: ProgressRoutes,
    key: (String, ProgressToken),
    generation: u64,
}

impl Drop for ProgressRoute {
    fn drop(&mut self) {
        let (routes, key, generation) = (self.routes.clone(), self.key.clone(), self.generation);
        let remove = move || {
            let mut map = lock_routes(&routes);
            if map.get(&key).is_some_and(|(_, _, g)| *g == generation) {
                map.remove(&key);
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    tokio::time::sleep(PROGRESS_GRACE).await;
                    remove();
                });
            }
            Err(_) => remove(),
        }
    }
}

fn lock_routes(routes: &ProgressRoutes) -> std::sync::MutexGuard<'_, RouteMap> {
    match routes.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Installs the process-wide TLS provider (rustls with `ring`) used by https:// upstreams.
/// Idempotent; an already installed provider is kept.
pub fn install_tls_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// The rmcp client handler of one upstream connection: turns its list-changed notifications into
/// [`UpstreamEvent`]s and relays its progress notifications to the agent that made the call.
#[derive(Clone)]
pub struct UpstreamClient {
    name: String,
    changed: tokio::sync::mpsc::UnboundedSender<UpstreamEvent>,
    progress: ProgressRoutes,
}

impl ClientHandler for UpstreamClient {
    fn on_tool_list_changed(
        &self,
        _context: NotificationContext<RoleClient>,
    ) -> impl Future<Output = ()> + Send + '_ {
        tracing::debug!(server = %self.name, "upstream tool list changed");
        let _ = self.changed.send(UpstreamEvent::ToolsChanged);
        std::future::ready(())
    }

    fn on_resource_list_changed(
        &self,
        _context: NotificationContext<RoleClient>,
    ) -> impl Future<Output = ()> + Send + '_ {
        let _ = self.changed.send(UpstreamEvent::ResourcesChanged);
        std::future::ready(())
    }

    fn on_prompt_list_changed(
        &self,
        _context: NotificationContext<RoleClient>,
    ) -> impl Future<Output = ()> + Send + '_ {
        let _ = self.changed.send(UpstreamEvent::PromptsChanged);
        std::future::ready(())
    }

    fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) -> impl Future<Output = ()> + Send + '_ {
        let route = lock_routes(&self.progress)
            .get(&(self.name.clone(), params.progress_token.clone()))
            .map(|(peer, token, _)| (peer.clone(), token.clone()));
        async move {
            // A token Cordon did not hand out (or of a call that ended) goes nowhere.
            if let Some((agent, token)) = route {
                let mut note = params;
                note.progress_token = token;
                let _ = agent.notify_progress(note).await;
            }
        }
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("cordon", env!("CARGO_PKG_VERSION")),
        )
    }
}

impl Upstreams {
    /// Starts a supervisor for every configured server. Returns at once: servers come up in the
    /// background (see [`Upstreams::wait_ready`]).
    pub fn start(specs: &BTreeMap<String, ServerSpec>) -> Arc<Upstreams> {
        install_tls_provider();
        let (events, _) = broadcast::channel(64);
        let upstreams = Arc::new(Upstreams {
            servers: specs
                .iter()
                .map(|(name, spec)| {
                    (
                        name.clone(),
                        Arc::new(Upstream {
                            name: name.clone(),
                            spec: spec.clone(),
                            status: RwLock::new(Status::Starting),
                        }),
                    )
                })
                .collect(),
            events,
            shutdown: CancellationToken::new(),
            tasks: tokio::sync::Mutex::new(Vec::new()),
            progress: ProgressRoutes::default(),
        });
        let mut handles = Vec::new();
        for upstream in upstreams.servers.values() {
            handles.push(tokio::spawn(supervise(
                upstream.clone(),
                upstreams.events.clone(),
                upstreams.shutdown.clone(),
                upstreams.progress.clone(),
            )));
        }
        if let Ok(mut tasks) = upstreams.tasks.try_lock() {
            tasks.extend(handles);
        }
        upstreams
    }

    /// Waits until every server has either started or failed its first attempt, or `limit`
    /// passes. Lets `serve` list tools right after start.
    pub async fn wait_ready(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        let mut events = self.events.subscribe();
        loop {
            let starting = self
                .servers
                .values()
                .any(|u| matches!(read(&u.status), Status::Starting));
            if !starting {
                return;
            }
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Err(_) => return,
                Ok(Err(broadcast::error::RecvError::Closed)) => return,
                Ok(_) => {}
            }
        }
    }

    /// Relays `server`'s progress notifications for `upstream_token` to `agent` (as
    /// `agent_token`) until the returned route is dropped.
    pub fn route_progress(
        &self,
        server: &str,
        upstream_token: ProgressToken,
        agent: Peer<RoleServer>,
        agent_token: ProgressToken,
    ) -> ProgressRoute {
        static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let generation = GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let key = (server.to_owned(), upstream_token);
        lock_routes(&self.progress).insert(key.clone(), (agent, agent_token, generation));
        ProgressRoute {
            routes: self.progress.clone(),
            key,
            generation,
        }
    }

    /// Subscribes to list-changed events (for forwarding to connected agents).
    pub fn subscribe(&self) -> broadcast::Receiver<UpstreamEvent> {
        self.events.subscribe()
    }

    /// Whether a server with this name is configured.
    pub fn has_server(&self, name: &str) -> bool {
        self.servers.contains_key(name)
    }

    /// The peer to forward a call to, or why there is none.
    pub fn peer(&self, server: &str) -> Result<Peer<RoleClient>, UpstreamError> {
        let upstream = self
            .servers
            .get(server)
            .ok_or_else(|| UpstreamError::UnknownServer(server.to_owned()))?;
        match read(&upstream.status) {
            Status::Running { peer, .. } if !peer.is_transport_closed() => Ok(peer),
            Status::Running { .. } => Err(UpstreamError::NotRunning {
                name: server.to_owned(),
                state: "restarting",
                reason: "connection closed".to_owned(),
            }),
            Status::Starting => Err(UpstreamError::NotRunning {
                name: server.to_owned(),
                state: "starting",
                reason: "not started yet".to_owned(),
            }),
            Status::Down { reason } => Err(UpstreamError::NotRunning {
                name: server.to_owned(),
                state: "restarting",
                reason,
            }),
        }
    }

    /// Whether a running server lists this tool (None: the server is not running right now).
    pub fn lists_tool(&self, server: &str, tool: &str) -> Option<bool> {
        match read(&self.servers.get(server)?.status) {
            Status::Running { tools, .. } => Some(tools.iter().any(|t| t.name == tool)),
            _ => None,
        }
    }

    /// Every running server's tools, renamed `<server>__<tool>`.
    pub fn tools(&self) -> Vec<Tool> {
        let mut all = Vec::new();
        for upstream in self.servers.values() {
            if let Status::Running { tools, .. } = read(&upstream.status) {
                for tool in tools.iter() {
                    let mut tool = tool.clone();
                    tool.name = format!("{}{TOOL_SEPARATOR}{}", upstream.name, tool.name).into();
                    all.push(tool);
                }
            }
        }
        all
    }

    /// Running peers with their server names (for resources/prompts aggregation).
    pub fn running(&self) -> Vec<(String, Peer<RoleClient>)> {
        self.servers
            .values()
            .filter_map(|u| match read(&u.status) {
                Status::Running { peer, .. } => Some((u.name.clone(), peer)),
                _ => None,
            })
            .collect()
    }

    /// Stops every upstream (children get the MCP stdio shutdown sequence).
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        let handles: Vec<_> = self.tasks.lock().await.drain(..).collect();
        for handle in handles {
            let _ = handle.await;
        }
    }
}

/// Splits an aggregated tool name `<server>__<tool>` at the first separator. Server names cannot
/// contain `__`, so the split is unambiguous.
pub fn split_tool_name(name: &str) -> Option<(&str, &str)> {
    let (server, tool) = name.split_once(TOOL_SEPARATOR)?;
    (!server.is_empty() && !tool.is_empty()).then_some((server, tool))
}

fn read(status: &RwLock<Status>) -> Status {
    match status.read() {
        Ok(guard) => guard.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

fn write(status: &RwLock<Status>, value: Status) {
    match status.write() {
        Ok(mut guard) => *guard = value,
        Err(poisoned) => *poisoned.into_inner() = value,
    }
}

type Service = RunningService<RoleClient, UpstreamClient>;

async fn supervise(
    upstream: Arc<Upstream>,
    events: broadcast::Sender<UpstreamEvent>,
    shutdown: CancellationToken,
    progress: ProgressRoutes,
) {
    let mut backoff = BACKOFF_START;
    loop {
        let (changed_tx, mut changed_rx) = tokio::sync::mpsc::unbounded_channel();
        let handler = UpstreamClient {
            name: upstream.name.clone(),
            changed: changed_tx,
            progress: progress.clone(),
        };
        let attempt = tokio::select! {
            _ = shutdown.cancelled() => return,
            attempt = tokio::time::timeout(CONNECT_TIMEOUT, connect(&upstream.name, &upstream.spec, handler)) => {
                attempt.unwrap_or_else(|_| Err(format!("no answer to initialize within {}s", CONNECT_TIMEOUT.as_secs())))
            }
        };
        let failure = match attempt {
            Ok(service) => {
                let started = tokio::time::Instant::now();
                let reason = run(&upstream, service, &events, &shutdown, &mut changed_rx).await;
                if started.elapsed() > BACKOFF_MAX {
                    backoff = BACKOFF_START;
                }
                match reason {
                    Some(reason) => reason,
                    None => return,
                }
            }
            Err(reason) => reason,
        };
        tracing::warn!(server = %upstream.name, retry_in = ?backoff, "upstream down: {failure}");
        write(&upstream.status, Status::Down { reason: failure });
        let _ = events.send(UpstreamEvent::ToolsChanged);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Serves one live connection until it ends (returns why) or the engine shuts down (None).
async fn run(
    upstream: &Upstream,
    service: Service,
    events: &broadcast::Sender<UpstreamEvent>,
    shutdown: &CancellationToken,
    changed: &mut tokio::sync::mpsc::UnboundedReceiver<UpstreamEvent>,
) -> Option<String> {
    let peer = service.peer().clone();
    let tools = match peer.list_all_tools().await {
        Ok(tools) => tools,
        Err(error) => {
            let _ = service.cancel().await;
            return Some(format!("tools/list failed: {error}"));
        }
    };
    tracing::info!(server = %upstream.name, tools = tools.len(), "upstream running");
    write(
        &upstream.status,
        Status::Running {
            peer: peer.clone(),
            tools: Arc::new(tools),
        },
    );
    let _ = events.send(UpstreamEvent::ToolsChanged);
    let cancel = service.cancellation_token();
    let mut waiting = Box::pin(service.waiting());
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                cancel.cancel();
                let _ = waiting.await;
                write(&upstream.status, Status::Down { reason: "the engine is shutting down".to_owned() });
                return None;
            }
            quit = &mut waiting => {
                return Some(match quit {
                    Ok(reason) => format!("connection ended ({reason:?})"),
                    Err(error) => format!("connection task failed: {error}"),
                });
            }
            Some(event) = changed.recv() => {
                if event == UpstreamEvent::ToolsChanged {
                    match peer.list_all_tools().await {
                        Ok(tools) => write(&upstream.status, Status::Running { peer: peer.clone(), tools: Arc::new(tools) }),
                        Err(error) => tracing::warn!(server = %upstream.name, "tools/list after list_changed failed: {error}"),
                    }
                }
                let _ = events.send(event);
            }
        }
    }
}

async fn connect(
    name: &str,
    spec: &ServerSpec,
    handler: UpstreamClient,
) -> Result<Service, String> {
    match spec {
        ServerSpec::Stdio {
            command,
            args,
            env,
            cwd,
        } => {
            let mut cmd = tokio::process::Command::new(command);
            cmd.args(args).env_clear().envs(child_env(env));
            if let Some(cwd) = cwd {
                cmd.current_dir(cwd);
            }
            let (transport, stderr) = TokioChildProcess::builder(cmd)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot start `{command}`: {e}"))?;
            if let Some(stderr) = stderr {
                tokio::spawn(log_stderr(name.to_owned(), stderr));
            }
            handler
                .serve(transport)
                .await
                .map_err(|e| format!("initialize failed: {e}"))
        }
        ServerSpec::Remote { url, headers } => {
            let mut map = HashMap::new();
            for (key, value) in headers {
                let key = HeaderName::try_from(key.as_str())
                    .map_err(|e| format!("bad header name `{key}`: {e}"))?;
                let value = HeaderValue::try_from(value.as_str())
                    .map_err(|_| format!("bad value for header `{key}`"))?;
                map.insert(key, value);
            }
            let config =
                StreamableHttpClientTransportConfig::with_uri(url.as_str()).custom_headers(map);
            let transport = StreamableHttpClientTransport::from_config(config);
            handler
                .serve(transport)
                .await
                .map_err(|e| format!("initialize failed: {e}"))
        }
    }
}

/// The environment of a stdio upstream: the allowlist (and `LC_*`) from the engine, then the
/// configured variables on top.
pub fn child_env(configured: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = std::env::vars()
        .filter(|(k, _)| ENV_ALLOWLIST.contains(&k.as_str()) || k.starts_with("LC_"))
        .collect();
    env.extend(configured.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

async fn log_stderr(name: String, stderr: tokio::process::ChildStderr) {
    use tokio::io::AsyncReadExt;
    let mut stderr = stderr;
    let mut buf = vec![0u8; 8192];
    let mut line = Vec::new();
    loop {
        let n = match stderr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &byte in buf.get(..n).unwrap_or_default() {
            if byte == b'\n' || line.len() >= 8192 {
                tracing::info!(server = %name, "stderr: {}", String::from_utf8_lossy(&line));
                line.clear();
            }
            if byte != b'\n' {
                line.push(byte);
            }
        }
    }
    if !line.is_empty() {
        tracing::info!(server = %name, "stderr: {}", String::from_utf8_lossy(&line));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_names() {
        assert_eq!(split_tool_name("fs__read_file"), Some(("fs", "read_file")));
        assert_eq!(split_tool_name("fs__a__b"), Some(("fs", "a__b")));
        assert_eq!(split_tool_name("fs_read"), None);
        assert_eq!(split_tool_name("__x"), None);
        assert_eq!(split_tool_name("x__"), None);
    }

    #[test]
    fn child_env_is_an_allowlist() {
        // The test process has PATH; it has no reason to have this name.
        let configured = BTreeMap::from([("FOO".to_owned(), "bar".to_owned())]);
        let env = child_env(&configured);
        assert_eq!(env.get("FOO").map(String::as_str), Some("bar"));
        for key in env.keys() {
            assert!(
                key == "FOO" || ENV_ALLOWLIST.contains(&key.as_str()) || key.starts_with("LC_"),
                "{key} leaked into the child environment"
            );
        }
    }
}
