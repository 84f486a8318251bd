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
use rmcp::ClientHandler;
use rmcp::model::{
    ClientCapabilities, ClientConfig, Implementation, ProgressNotificationParam, ProgressToken,
    Tool,
};
use rmcp::service::{NotificationContext, Peer, RoleClient, RoleServer, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use cordon_evidence::{NewRecord, Outcome};
use cordon_secrets::{PinStatus, PinnedTool, Redactor, ToolPins, definition_diff};
use serde_json::Value;

use crate::config::ServerSpec;
use crate::recorder::Recorder;

/// Separator between server and tool in aggregated tool names.
pub const TOOL_SEPARATOR: &str = "__";

/// Environment variables a stdio upstream inherits from the engine (plus `LC_*`).
pub const ENV_ALLOWLIST: &[&str] = &[
    "PATH", "HOME", "LANG", "TMPDIR", "USER", "LOGNAME", "SHELL", "TERM",
];

/// Windows variables a child needs to run at all (matched case-insensitively there).
pub const WINDOWS_ENV_ALLOWLIST: &[&str] = &[
    "SystemRoot",
    "windir",
    "APPDATA",
    "LOCALAPPDATA",
    "USERPROFILE",
    "TEMP",
    "TMP",
    "PATHEXT",
    "COMSPEC",
    "ProgramData",
];

/// The rule id of evidence records about changed (withheld) tool definitions.
pub const TOOL_PIN_RULE: &str = "cordon:tool-pin";

/// The evidence topic of those records.
pub const TOOL_PIN_TOPIC: &str = "job.mcp-bridge.tool-pin.changed";

/// What the agent is told when it calls a withheld tool.
pub const WITHHELD_HINT: &str =
    "tool changed since you approved it; review with `cordon tools changes`";

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

/// Longest a `tools/list` waits for upstream servers that are still starting (their first
/// attempt; a server that fails it is listed as down and does not hold the list up).
pub const LIST_WAIT: Duration = Duration::from_secs(30);

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
    /// Never started (a secret could not be resolved): no restart either.
    Failed {
        reason: String,
    },
}

/// One configured upstream server and its current state.
struct Upstream {
    name: String,
    spec: ServerSpec,
    status: RwLock<Status>,
    /// Tools withheld because their definition changed since it was approved: name → why.
    withheld: RwLock<BTreeMap<String, (String, String)>>,
}

/// How upstreams are started besides their specs: servers that must not start, the redactor
/// of the secrets they received, and the tool pins.
#[derive(Clone, Default)]
pub struct UpstreamOptions {
    /// Servers that are not started, with the reason (e.g. a missing secret).
    pub failed: BTreeMap<String, String>,
    /// Redacts secrets from stderr logs, failure reasons, tool lists and relayed progress.
    pub redactor: Arc<Redactor>,
    /// The tool pins and where to record changed definitions (None: no pinning).
    pub pins: Option<PinGuard>,
}

/// Tool pinning as the upstreams apply it.
#[derive(Clone)]
pub struct PinGuard {
    /// The pin file.
    pub pins: Arc<ToolPins>,
    /// Where a changed definition is recorded.
    pub recorder: Recorder,
    /// The policy in force (its version is cited by those records).
    pub policy: crate::pipeline::PolicyCell,
}

/// All upstream servers: where the pipeline forwards allowed calls.
pub struct Upstreams {
    servers: BTreeMap<String, Arc<Upstream>>,
    events: broadcast::Sender<UpstreamEvent>,
    shutdown: CancellationToken,
    tasks: tokio::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    progress: ProgressRoutes,
    options: Arc<UpstreamOptions>,
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
        /// `starting`, `restarting` or `stopped`.
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
    redactor: Arc<Redactor>,
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
                if let Some(message) = &mut note.message {
                    *message = self.redactor.redact(message).into_owned();
                }
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
        Upstreams::start_with(specs, UpstreamOptions::default())
    }

    /// Like [`Upstreams::start`], with failed servers (listed as down, never spawned), a
    /// redactor and tool pins.
    pub fn start_with(
        specs: &BTreeMap<String, ServerSpec>,
        options: UpstreamOptions,
    ) -> Arc<Upstreams> {
        install_tls_provider();
        let options = Arc::new(options);
        let failed = options.failed.iter().map(|(name, reason)| {
            (
                name.clone(),
                Arc::new(Upstream {
                    name: name.clone(),
                    // Never started: the placeholder is never run.
                    spec: ServerSpec::Remote {
                        url: String::new(),
                        headers: BTreeMap::new(),
                    },
                    status: RwLock::new(Status::Failed {
                        reason: options.redactor.redact(reason).into_owned(),
                    }),
                    withheld: RwLock::new(BTreeMap::new()),
                }),
            )
        });
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
                            withheld: RwLock::new(BTreeMap::new()),
                        }),
                    )
                })
                .chain(failed)
                .collect(),
            events,
            shutdown: CancellationToken::new(),
            tasks: tokio::sync::Mutex::new(Vec::new()),
            progress: ProgressRoutes::default(),
            options: options.clone(),
        });
        let mut handles = Vec::new();
        for upstream in upstreams.servers.values() {
            if matches!(read(&upstream.status), Status::Failed { .. }) {
                continue;
            }
            handles.push(tokio::spawn(supervise(
                upstream.clone(),
                upstreams.events.clone(),
                upstreams.shutdown.clone(),
                upstreams.progress.clone(),
                options.clone(),
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
            Status::Failed { reason } => Err(UpstreamError::NotRunning {
                name: server.to_owned(),
                state: "stopped",
                reason,
            }),
        }
    }

    /// Why `server`'s `tool` is withheld (its definition changed since it was approved), if it
    /// is.
    pub fn withheld(&self, server: &str, tool: &str) -> Option<String> {
        let upstream = self.servers.get(server)?;
        let map = match upstream.withheld.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.get(tool).map(|(why, _)| why.clone())
    }

    /// Every withheld tool: (server, tool, why).
    pub fn withheld_tools(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for upstream in self.servers.values() {
            let map = match upstream.withheld.read() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            for (tool, (why, _)) in map.iter() {
                out.push((upstream.name.clone(), tool.clone(), why.clone()));
            }
        }
        out
    }

    /// Re-lists `server`'s tools (after a pin approval): the server's tools are checked
    /// against the pins again and agents hear `tools/list_changed`.
    pub async fn relist(&self, server: &str) -> Result<(), UpstreamError> {
        let upstream = self
            .servers
            .get(server)
            .ok_or_else(|| UpstreamError::UnknownServer(server.to_owned()))?;
        let peer = self.peer(server)?;
        match peer.list_all_tools().await {
            Ok(tools) => {
                let tools = screen(upstream, tools, &self.options).await;
                write(
                    &upstream.status,
                    Status::Running {
                        peer: peer.clone(),
                        tools: Arc::new(tools),
                    },
                );
                let _ = self.events.send(UpstreamEvent::ToolsChanged);
                Ok(())
            }
            Err(error) => Err(UpstreamError::NotRunning {
                name: server.to_owned(),
                state: "restarting",
                reason: self
                    .options
                    .redactor
                    .redact(&format!("tools/list failed: {error}"))
                    .into_owned(),
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

    /// [`Upstreams::tools`] once no server is still starting (at most [`LIST_WAIT`]): an agent
    /// that connects while the engine starts (a desktop login, an agent launched with the
    /// engine) would otherwise see none of the upstream tools, and agents list tools once.
    pub async fn tools_when_ready(&self) -> Vec<Tool> {
        self.wait_ready(LIST_WAIT).await;
        self.tools()
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
    options: Arc<UpstreamOptions>,
) {
    let redactor = options.redactor.clone();
    let mut backoff = BACKOFF_START;
    loop {
        let (changed_tx, mut changed_rx) = tokio::sync::mpsc::unbounded_channel();
        let handler = UpstreamClient {
            name: upstream.name.clone(),
            changed: changed_tx,
            progress: progress.clone(),
            redactor: redactor.clone(),
        };
        let attempt = tokio::select! {
            _ = shutdown.cancelled() => return,
            attempt = tokio::time::timeout(CONNECT_TIMEOUT, connect(&upstream.name, &upstream.spec, handler, &redactor)) => {
                attempt.unwrap_or_else(|_| Err(format!("no answer to initialize within {}s", CONNECT_TIMEOUT.as_secs())))
            }
        };
        let failure = match attempt {
            Ok(service) => {
                let started = tokio::time::Instant::now();
                let reason = run(
                    &upstream,
                    service,
                    &events,
                    &shutdown,
                    &mut changed_rx,
                    &options,
                )
                .await;
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
        let failure = redactor.redact(&failure).into_owned();
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
    options: &UpstreamOptions,
) -> Option<String> {
    let peer = service.peer().clone();
    let tools = match peer.list_all_tools().await {
        Ok(tools) => screen(upstream, tools, options).await,
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
                        Ok(tools) => write(&upstream.status, Status::Running { peer: peer.clone(), tools: Arc::new(screen(upstream, tools, options).await) }),
                        Err(error) => tracing::warn!(server = %upstream.name, "tools/list after list_changed failed: {}", options.redactor.redact(&error.to_string())),
                    }
                }
                let _ = events.send(event);
            }
        }
    }
}

/// Redacts a server's tool list, then checks it against the pins: trusted tools are returned,
/// changed ones are withheld (one evidence record per newly seen pending definition). If the pin
/// file cannot be used (corrupt, writable by others), every tool of the server is withheld.
async fn screen(upstream: &Upstream, tools: Vec<Tool>, options: &UpstreamOptions) -> Vec<Tool> {
    let redactor = &options.redactor;
    let tools: Vec<Tool> = tools
        .into_iter()
        .filter_map(
            |tool| match crate::secrets::redact_message(redactor, tool) {
                Ok(tool) => Some(tool),
                Err(error) => {
                    tracing::warn!(server = %upstream.name, "tool withheld: {error}");
                    None
                }
            },
        )
        .collect();
    let Some(guard) = &options.pins else {
        return tools;
    };
    let values: Result<Vec<Value>, _> = tools.iter().map(serde_json::to_value).collect();
    let checked = match values {
        Err(error) => Err(format!("cannot read the tool list: {error}")),
        Ok(values) => {
            let (pins, server) = (guard.pins.clone(), upstream.name.clone());
            match tokio::task::spawn_blocking(move || pins.check_all(&server, &values)).await {
                Ok(Ok(statuses)) => Ok(statuses),
                Ok(Err(error)) => Err(error.to_string()),
                Err(join) => Err(format!("the pin check failed: {join}")),
            }
        }
    };
    let previous = match upstream.withheld.read() {
        Ok(guard) => guard.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    let mut withheld = BTreeMap::new();
    let mut trusted = Vec::new();
    match checked {
        Err(error) => {
            tracing::error!(server = %upstream.name, "every tool withheld: tool pins: {error}");
            for tool in &tools {
                withheld.insert(
                    tool.name.to_string(),
                    (
                        format!("tool pins unusable ({error}); no tool of this server is served"),
                        String::new(),
                    ),
                );
            }
        }
        Ok(statuses) => {
            for (tool, (name, status)) in tools.into_iter().zip(statuses) {
                match status {
                    PinStatus::Changed { old, new } => {
                        let reason = format!(
                            "{WITHHELD_HINT} (server `{}`, tool `{name}`, new definition {})",
                            upstream.name,
                            new.hash.get(..12).unwrap_or(&new.hash)
                        );
                        let seen = previous.get(&name).is_some_and(|(_, h)| *h == new.hash);
                        if !seen {
                            tracing::warn!(server = %upstream.name, tool = %name, "tool definition changed since it was approved: withheld");
                            let record =
                                pin_record(guard, &upstream.name, &name, &reason, &old, &new);
                            if let Err(error) = guard.recorder.record(record).await {
                                tracing::error!("cannot record the withheld tool: {error}");
                            }
                        }
                        withheld.insert(name, (reason, new.hash));
                    }
                    PinStatus::New(_) | PinStatus::Unchanged => trusted.push(tool),
                }
            }
        }
    }
    match upstream.withheld.write() {
        Ok(mut guard) => *guard = withheld,
        Err(poisoned) => *poisoned.into_inner() = withheld,
    }
    trusted
}

fn pin_record(
    guard: &PinGuard,
    server: &str,
    tool: &str,
    reason: &str,
    old: &PinnedTool,
    new: &PinnedTool,
) -> NewRecord {
    NewRecord {
        agent: "cordon".to_owned(),
        session_id: "tool-pins".to_owned(),
        server: server.to_owned(),
        tool: tool.to_owned(),
        action: TOOL_PIN_TOPIC.to_owned(),
        target: Some(format!("{server}/{tool}")),
        risk_tags: Vec::new(),
        decision: "deny".to_owned(),
        rule_id: Some(TOOL_PIN_RULE.to_owned()),
        reason: reason.to_owned(),
        policy_version: guard.policy.get().version().to_owned(),
        reviewer: None,
        approval_channel: None,
        outcome: Outcome::Denied,
        args: serde_json::json!({"approved_hash": old.hash, "new_hash": new.hash}),
        diff: Some(definition_diff(old, new)),
        duration_ms: 0,
        error: None,
        phase: None,
        intent_id: None,
    }
}

async fn connect(
    name: &str,
    spec: &ServerSpec,
    handler: UpstreamClient,
    redactor: &Arc<Redactor>,
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
            let cmd = process_wrap::tokio::CommandWrap::from(cmd);
            // Windows: the server and everything it starts (an `npx` shim's node, say) run in a
            // kill-on-close job object, started suspended until it is in the job, so stopping
            // the server or the engine ends them all (Unix: the server itself is signalled).
            #[cfg(windows)]
            let cmd = {
                let mut cmd = cmd;
                cmd.wrap(process_wrap::tokio::JobObject)
                    .wrap(process_wrap::tokio::KillOnDrop);
                cmd
            };
            let (transport, stderr) = TokioChildProcess::builder(cmd)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot start `{command}`: {e}"))?;
            if let Some(stderr) = stderr {
                tokio::spawn(log_stderr(name.to_owned(), stderr, redactor.clone()));
            }
            let changed = list_changed_sender(&handler);
            crate::eras::connect(name, handler, transport, changed).await
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
            let changed = list_changed_sender(&handler);
            crate::eras::connect(name, handler, transport, changed).await
        }
    }
}

/// Where a 2026-07-28 upstream's list changes go: the same events the 2025 callbacks send.
fn list_changed_sender(
    handler: &UpstreamClient,
) -> impl Fn(crate::eras::ListChanged) + Send + Sync + 'static {
    let changed = handler.changed.clone();
    move |list| {
        let event = match list {
            crate::eras::ListChanged::Tools => UpstreamEvent::ToolsChanged,
            crate::eras::ListChanged::Resources => UpstreamEvent::ResourcesChanged,
            crate::eras::ListChanged::Prompts => UpstreamEvent::PromptsChanged,
        };
        let _ = changed.send(event);
    }
}

/// The environment of a stdio upstream: the allowlist (and `LC_*`) from the engine, then the
/// configured variables on top.
pub fn child_env(configured: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> =
        std::env::vars().filter(|(k, _)| allowed_env(k)).collect();
    env.extend(configured.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// Whether the engine's variable `key` is passed to a stdio upstream.
pub fn allowed_env(key: &str) -> bool {
    if ENV_ALLOWLIST.contains(&key) || key.starts_with("LC_") {
        return true;
    }
    cfg!(windows)
        && WINDOWS_ENV_ALLOWLIST
            .iter()
            .chain(ENV_ALLOWLIST)
            .any(|k| k.eq_ignore_ascii_case(key))
}

/// Longest stderr line logged in one piece.
const STDERR_LINE: usize = 8192;

/// Splits an upstream's stderr into redacted log lines. A line longer than [`STDERR_LINE`] is
/// flushed in pieces; each piece is redacted whole and its last `max_pattern_len() - 1` bytes
/// are carried into the next piece (and logged again there), so a secret split across the
/// boundary is still redacted whole.
pub struct StderrLines {
    redactor: Arc<Redactor>,
    line: Vec<u8>,
}

impl StderrLines {
    /// A splitter redacting with `redactor`.
    pub fn new(redactor: Arc<Redactor>) -> StderrLines {
        StderrLines {
            redactor,
            line: Vec::new(),
        }
    }

    /// Feeds bytes; returns the finished (redacted) lines.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let keep = self.redactor.max_pattern_len().saturating_sub(1);
        let mut out = Vec::new();
        for &byte in bytes {
            if byte == b'\n' {
                out.push(self.take());
                continue;
            }
            self.line.push(byte);
            if self.line.len() >= STDERR_LINE + keep {
                let redacted = self.redactor.redact_bytes(&self.line).into_owned();
                let split = redacted.len().saturating_sub(keep);
                let (head, tail) = redacted.split_at(split);
                out.push(String::from_utf8_lossy(head).into_owned());
                self.line = tail.to_vec();
            }
        }
        out
    }

    /// The redacted rest (at end of stream), if any.
    pub fn finish(&mut self) -> Option<String> {
        (!self.line.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> String {
        let line = std::mem::take(&mut self.line);
        String::from_utf8_lossy(&self.redactor.redact_bytes(&line)).into_owned()
    }
}

async fn log_stderr(name: String, stderr: tokio::process::ChildStderr, redactor: Arc<Redactor>) {
    use tokio::io::AsyncReadExt;
    let mut stderr = stderr;
    let mut buf = vec![0u8; 8192];
    let mut lines = StderrLines::new(redactor);
    loop {
        let n = match stderr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for line in lines.push(buf.get(..n).unwrap_or_default()) {
            tracing::info!(server = %name, "stderr: {line}");
        }
    }
    if let Some(line) = lines.finish() {
        tracing::info!(server = %name, "stderr: {line}");
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
    fn stderr_lines_are_redacted_even_across_forced_flushes() {
        use cordon_secrets::{Secret, SecretName};
        let secret = Secret::new(SecretName::new("K").unwrap(), "s3cr3t-v4lue-xyz".to_owned());
        let redactor = Arc::new(Redactor::new([&secret]).unwrap());
        let keep = redactor.max_pattern_len();
        // Every offset of the secret around the forced-flush boundary.
        for offset in 0..keep + 20 {
            let mut lines = StderrLines::new(redactor.clone());
            let mut text = vec![b'a'; STDERR_LINE + keep - 1 - offset.min(STDERR_LINE)];
            text.extend_from_slice(b"s3cr3t-v4lue-xyz and czNjcjN0LXY0bHVlLXh5eg== tail");
            text.extend(std::iter::repeat_n(b'b', STDERR_LINE * 2));
            text.push(b'\n');
            let mut out = Vec::new();
            // Fed in odd-sized chunks.
            for chunk in text.chunks(777) {
                out.extend(lines.push(chunk));
            }
            out.extend(lines.finish());
            let all = out.join("");
            assert!(!all.contains("s3cr3t"), "offset {offset}");
            assert!(!all.contains("czNjcjN0"), "offset {offset}");
            assert!(all.contains("[REDACTED:K]"), "offset {offset}");
        }
    }

    #[test]
    fn child_env_is_an_allowlist() {
        // The test process has PATH; it has no reason to have this name.
        let configured = BTreeMap::from([("FOO".to_owned(), "bar".to_owned())]);
        let env = child_env(&configured);
        assert_eq!(env.get("FOO").map(String::as_str), Some("bar"));
        for key in env.keys() {
            assert!(
                key == "FOO" || allowed_env(key),
                "{key} leaked into the child environment"
            );
        }
    }
}
