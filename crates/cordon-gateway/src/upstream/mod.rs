//! Upstream MCP servers: the servers Cordon forwards allowed calls to, as one set.
//!
//! Each configured server gets a supervisor task (`supervise`): a crashed server is restarted
//! with exponential backoff (0.5 s doubling to 30 s); meanwhile its calls fail with a clear
//! message rather than hang. Stdio children get a minimal environment and their stderr is
//! logged redacted (`child`). The servers' tools are offered to agents as one list
//! (`aggregate`); a tool whose definition changed since it was approved is withheld and
//! recorded (`pins`); progress an upstream reports is relayed to the agent that made the call
//! (`progress`). This module holds the set itself: each server's state, start, lookup of the
//! peer to forward to, and shutdown.

mod aggregate;
mod child;
mod pins;
mod progress;
mod supervise;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rmcp::model::Tool;
use rmcp::service::{Peer, RoleClient};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use cordon_secrets::Redactor;

use crate::config::ServerSpec;

pub use aggregate::{LIST_WAIT, TOOL_SEPARATOR, split_tool_name};
pub use child::{ENV_ALLOWLIST, StderrLines, WINDOWS_ENV_ALLOWLIST, allowed_env, child_env};
pub use pins::{PinGuard, TOOL_PIN_RULE, TOOL_PIN_TOPIC, WITHHELD_HINT};
pub use progress::ProgressRoute;
use progress::ProgressRoutes;
pub use supervise::UpstreamClient;

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

/// Installs the process-wide TLS provider (rustls with `ring`) used by https:// upstreams.
/// Idempotent; an already installed provider is kept.
pub fn install_tls_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
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
            handles.push(tokio::spawn(supervise::supervise(
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

    /// Stops every upstream (children get the MCP stdio shutdown sequence).
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        let handles: Vec<_> = self.tasks.lock().await.drain(..).collect();
        for handle in handles {
            let _ = handle.await;
        }
    }
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
