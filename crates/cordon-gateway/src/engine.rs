//! The engine: config, policy, evidence, upstreams, approvals and transports, owned together.
//!
//! The desktop app and `cordon serve` both run one [`Engine`]; everything else talks to it over
//! the control socket.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cordon_evidence::{EvidenceError, EvidenceLog, KeyStore};
use cordon_policy::Policy;
use tokio_util::sync::CancellationToken;

use crate::approvals::{ApprovalBroker, PendingApproval};
use crate::config::{Config, ServerSpec, SigningKey};
use crate::constraints::{Constraints, PauseState};
use crate::error::GatewayError;
use crate::pipeline::{Pipeline, PolicyCell};
use crate::recorder::{EvidenceHealth, Recorder};
use crate::standby::NotReady;
use crate::upstream::{PinGuard, UpstreamOptions, Upstreams};
use cordon_secrets::ToolPins;

/// How long `start` waits for upstreams to come up before serving anyway.
const UPSTREAM_START_WAIT: Duration = Duration::from_secs(30);
/// How long shutdown waits for refused held calls to record themselves.
const DRAIN_WAIT: Duration = Duration::from_secs(5);
/// The error of the outcome that closes an intent a previous run left open.
pub const INTERRUPTED: &str = "the engine stopped (crash, kill or power loss) after this call's intent was recorded and before its outcome was: the call may or may not have run";

/// A running engine.
pub struct Engine {
    config: Config,
    pipeline: Arc<Pipeline>,
    cancel: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    http_addr: Option<SocketAddr>,
    /// Evidence shipping (`fleet:`): stopped after the shutdown checkpoint so it ships that too.
    shipping: Option<(CancellationToken, tokio::task::JoinHandle<()>)>,
}

/// Loads the policy the config names: a file/directory, else the shipped default. The policy's
/// classifier protects Cordon's own paths as this config names them ([`cordon_paths`]).
pub fn load_policy(config: &Config) -> Result<Policy, GatewayError> {
    // Rules another local user could rewrite are no rules (see `private::check_trusted_input`).
    if let Some(path) = &config.policy {
        crate::private::check_trusted_input(path, "policy")?;
    }
    let policy = match &config.policy {
        Some(path) => Policy::load(path).map_err(|e| GatewayError::Policy {
            path: path.display().to_string(),
            message: e.to_string(),
        })?,
        None => Policy::shipped_default(),
    };
    Ok(policy.with_cordon_paths(cordon_paths(config)))
}

/// Cordon's own state as `config` names it (config file, policy, evidence database, signing
/// key file, pins, control socket) plus the platform's standard locations: calls touching
/// any of them are `cordon.state` (issue 14: Cordon governs itself).
pub fn cordon_paths(config: &Config) -> cordon_policy::CordonPaths {
    let text = |p: Option<std::path::PathBuf>| p.map(|p| p.display().to_string());
    let mut paths = cordon_policy::CordonPaths::standard(
        text(dirs::config_dir()).as_deref(),
        text(dirs::data_dir()).as_deref(),
        text(dirs::runtime_dir()).as_deref(),
    );
    let mut add = |p: &std::path::Path| {
        paths = std::mem::take(&mut paths).with_path(&p.display().to_string());
    };
    if let Some(source) = &config.source {
        add(source);
    }
    if let Some(policy) = &config.policy {
        add(policy);
    }
    if let Some(org) = &config.org_policy {
        add(&org.source.cache);
    }
    add(&config.evidence);
    add(&config.pins);
    if let SigningKey::File(key) = &config.signing_key {
        add(key);
    }
    // The socket itself (its standard directory is known by its components; a configured
    // directory may be shared with other files, so only the socket is added).
    add(&config.socket);
    paths
}

/// Opens the evidence log the config names, telling a fault that may clear (stand by and
/// retry) from a fatal error.
fn open_log(config: &Config) -> Result<EvidenceLog, NotReady> {
    if config.evidence.as_os_str() != ":memory:" {
        // 0700 directory, 0600 database before SQLite touches it (its -wal/-shm copy the
        // database's mode): nothing of the evidence is ever readable by another user.
        if let Some(dir) = config.evidence.parent() {
            crate::private::ensure_dir(dir).map_err(not_ready)?;
        }
        crate::private::precreate_file(&config.evidence).map_err(not_ready)?;
    }
    let keys = match &config.signing_key {
        SigningKey::Keychain => KeyStore::Keychain {
            service: config.keychain_service.clone(),
        },
        SigningKey::File(path) => KeyStore::File(path.clone()),
    };
    EvidenceLog::open(&config.evidence, keys).map_err(evidence_not_ready)
}

/// A start's evidence error: a fault that can clear by itself stands by (a storage fault; no OS
/// keychain yet, as at a login whose Secret Service starts after the tray app; a locked one,
/// retried slowly), anything else fails the start.
fn evidence_not_ready(error: EvidenceError) -> NotReady {
    if matches!(error, EvidenceError::KeychainLocked { .. }) {
        NotReady::Locked(error.to_string())
    } else if error.is_storage_fault() || matches!(error, EvidenceError::KeychainUnavailable { .. })
    {
        NotReady::Fault(error.to_string())
    } else {
        NotReady::Fatal(GatewayError::Evidence(error.to_string()))
    }
}

/// A start's file error: the storage refusing writes stands by, anything else (an insecure
/// directory, say) fails the start.
fn not_ready(error: GatewayError) -> NotReady {
    match &error {
        GatewayError::Io { source, .. } if cordon_evidence::is_storage_io_fault(source) => {
            NotReady::Fault(error.to_string())
        }
        _ => NotReady::Fatal(error),
    }
}

/// A storage fault's reason, with the room left on the evidence's disk when there is almost none:
/// SQLite says only "disk I/O error" when a full disk keeps it from creating its index file.
fn with_room(not_ready: NotReady, evidence: &std::path::Path) -> NotReady {
    let NotReady::Fault(reason) = not_ready else {
        return not_ready;
    };
    #[cfg(unix)]
    if let Some(dir) = evidence.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(stat) = nix::sys::statvfs::statvfs(dir)
    {
        // A u32 count on macOS, u64 on Linux.
        #[allow(clippy::useless_conversion)]
        let free = u64::from(stat.blocks_available()).saturating_mul(stat.fragment_size());
        if free < 1024 * 1024 {
            return NotReady::Fault(format!(
                "{reason} (the disk holding {} is full: {free} bytes free)",
                dir.display()
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = evidence;
    NotReady::Fault(reason)
}

/// Everything the engine writes to the evidence log before it may serve: the log opened, the
/// policy it will enforce recorded, and the intents an earlier run left open closed.
async fn ready_evidence(
    config: &Config,
    version: &str,
    sources: &[(String, String)],
) -> Result<EvidenceLog, NotReady> {
    let (config, version, sources) = (config.clone(), version.to_owned(), sources.to_vec());
    tokio::task::spawn_blocking(move || {
        let log = open_log(&config).map_err(|e| with_room(e, &config.evidence))?;
        log.record_policy(&version, &sources)
            .map_err(|e| with_room(evidence_not_ready(e), &config.evidence))?;
        // Write-ahead evidence: a call whose intent is recorded but whose outcome is not was
        // cut by a crash, a kill or a power loss; say so before serving anything.
        let interrupted = log
            .close_open_intents(INTERRUPTED)
            .map_err(|e| with_room(evidence_not_ready(e), &config.evidence))?;
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "closed the intents a previous run left open as interrupted"
            );
        }
        Ok(log)
    })
    .await
    .map_err(|e| NotReady::Fatal(GatewayError::Evidence(e.to_string())))?
}

impl Engine {
    /// Starts everything: refuses to start on an invalid policy, an unusable evidence log or a
    /// control socket another engine holds.
    pub async fn start(config: Config) -> Result<Engine, GatewayError> {
        // Every connection, upstream pipe and the evidence log need a descriptor.
        crate::http::raise_open_file_limit();
        // The config names the policy, the agents' tokens and the upstream commands: another
        // local user able to rewrite it could change all of them, and one able to read it could
        // call as any agent with a token.
        if let Some(source) = &config.source {
            crate::private::check_trusted_input(source, "config file")?;
            if !config.agents.is_empty() {
                crate::private::check_unreadable_by_others(
                    source,
                    "holds the agents' HTTP tokens",
                )?;
            }
        }
        // An organisation policy (issue 18) is pulled and verified first; without one that
        // verifies, every call is refused until a pull succeeds.
        let org_policy = crate::orgpolicy::OrgPolicy::from_config(&config);
        let policy = match &org_policy {
            Some(org) => org.initial().await?,
            None => load_policy(&config)?,
        };
        for warning in policy.warnings() {
            tracing::warn!("policy: {warning}");
        }
        let sources: Vec<(String, String)> = policy
            .sources()
            .iter()
            .map(|s| (s.name.clone(), s.text.clone()))
            .collect();
        // The socket first: an engine already running here must be found before this one
        // writes to the log they share (closing its open intents as interrupted, say).
        let mut listener = crate::control::bind(&config.socket).await?;
        // An evidence log the storage will not write (a full disk at login, say) does not stop
        // the engine: it stands by on its socket, refusing everything and saying why, until
        // the log can be written (see `standby.rs`).
        // The HTTP port a standby holds (and answers on), for the engine to serve on after.
        let mut held_http = None;
        let ready = match ready_evidence(&config, policy.version(), &sources).await {
            Ok(log) => Ok(log),
            Err(NotReady::Fatal(error)) => Err(error),
            Err(waiting) => {
                let http = match config.listen {
                    Some(listen) => crate::http::bind(listen).await.map(Some),
                    None => Ok(None),
                };
                match http {
                    Ok(http) => {
                        let waited = crate::standby::until_ready(
                            &mut listener,
                            http.as_ref(),
                            waiting,
                            policy.version(),
                            || ready_evidence(&config, policy.version(), &sources),
                        )
                        .await;
                        held_http = http;
                        waited
                    }
                    Err(error) => Err(error),
                }
            }
        };
        let log = match ready {
            Ok(log) => log,
            Err(error) => {
                crate::control::release(listener);
                return Err(error);
            }
        };
        tracing::info!(version = policy.version(), "policy loaded");

        // Secrets are resolved per server (a server missing one never starts) and every value
        // handed to an upstream is redacted from whatever leaves the engine.
        let resolved = tokio::task::spawn_blocking({
            let (servers, service) = (config.servers.clone(), config.keychain_service.clone());
            move || crate::secrets::resolve_servers(&servers, &service)
        })
        .await
        .map_err(|e| GatewayError::Io {
            what: "cannot resolve the keychain references".to_owned(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let redactor = Arc::new(resolved.redactor);
        let policy = PolicyCell::new(Arc::new(policy));
        let log = Arc::new(log);
        // The kill switch and limit counters live next to the evidence (restart-proof).
        let constraints = Arc::new(Constraints::new(
            Some(cordon_evidence::RuntimeState::new(log.clone())),
            config.agent_roots.clone(),
            config.workspace.roots.clone(),
        ));
        let paused = constraints.pause_state();
        if paused.all || !paused.agents.is_empty() {
            tracing::warn!(all = paused.all, agents = ?paused.agents, "engine starts paused (kill switch stored)");
        }
        let recorder = Recorder::start(log).with_redactor(redactor.clone());
        let broker = Arc::new(ApprovalBroker::new(config.approval_timeout));
        // One pin store: the upstream supervisor screens with it, approvals over the socket
        // update it, and both see the same state.
        let pins = Arc::new(ToolPins::open(&config.pins));
        let upstreams = Upstreams::start_with(
            &resolved.specs,
            UpstreamOptions {
                failed: resolved.failed,
                redactor: redactor.clone(),
                pins: Some(PinGuard {
                    pins: pins.clone(),
                    recorder: recorder.clone(),
                    policy: policy.clone(),
                }),
            },
        );
        let cwds: BTreeMap<_, _> = config
            .servers
            .iter()
            .filter_map(|(name, spec)| match spec {
                ServerSpec::Stdio { cwd: Some(cwd), .. } => Some((name.clone(), cwd.clone())),
                _ => None,
            })
            .collect();
        let builtin = crate::builtin::Builtin::new(&config.workspace);
        let pipeline = Arc::new(
            Pipeline::new(policy.get(), recorder, broker, upstreams.clone(), cwds)
                .with_policy_cell(policy)
                .with_builtin(builtin)
                .with_redactor(redactor)
                .with_pins(pins)
                .with_constraints(constraints)
                .with_request_budget(config.requests_in_flight_mib),
        );
        let cancel = CancellationToken::new();
        let mut tasks = Vec::new();
        if let Some(org) = org_policy {
            pipeline.set_org_policy(org.clone());
            tasks.push(crate::orgpolicy::spawn(
                org,
                pipeline.clone(),
                cancel.clone(),
            ));
        }
        tasks.push(tokio::spawn(crate::control::serve(
            listener,
            pipeline.clone(),
            config.reviewer.clone(),
            cancel.clone(),
        )));
        let mut http_addr = None;
        if let Some(listen) = config.listen {
            let auth = crate::http::Auth::new(&config.agents);
            let served = match held_http {
                Some(held) => {
                    crate::http::serve_on(
                        held,
                        pipeline.clone(),
                        auth,
                        config.http.clone(),
                        cancel.clone(),
                    )
                    .await
                }
                None => {
                    crate::http::serve(
                        pipeline.clone(),
                        auth,
                        listen,
                        config.http.clone(),
                        cancel.clone(),
                    )
                    .await
                }
            };
            let (handle, bound) = match served {
                Ok(bound) => bound,
                Err(error) => {
                    // Leave nothing running behind a failed start (the control socket goes
                    // with its accept loop).
                    cancel.cancel();
                    drain(tasks).await;
                    upstreams.shutdown().await;
                    return Err(error);
                }
            };
            tracing::info!("MCP Streamable HTTP at http://{bound}/mcp");
            tasks.push(handle);
            http_addr = Some(bound);
        }
        let shipping = match &config.fleet {
            Some(spec) => {
                let stop = CancellationToken::new();
                match crate::fleet::spawn(
                    spec,
                    &config.keychain_service,
                    &config.evidence,
                    stop.clone(),
                ) {
                    Ok(handle) => Some((stop, handle)),
                    Err(error) => {
                        cancel.cancel();
                        drain(tasks).await;
                        upstreams.shutdown().await;
                        return Err(error);
                    }
                }
            }
            None => None,
        };
        upstreams.wait_ready(UPSTREAM_START_WAIT).await;
        tracing::info!(socket = %config.socket.display(), "engine running");
        Ok(Engine {
            config,
            pipeline,
            cancel,
            tasks,
            http_addr,
            shipping,
        })
    }

    /// The config it runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The governed pipeline (for in-process transports and tests).
    pub fn pipeline(&self) -> &Arc<Pipeline> {
        &self.pipeline
    }

    /// The bound HTTP address (useful with port 0).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// Whether the evidence log can be written now: while it cannot, every call is refused;
    /// the fault clears by itself when the log is writable again.
    pub fn evidence_health(&self) -> EvidenceHealth {
        self.pipeline.recorder().health()
    }

    /// The calls waiting for a human.
    pub fn pending_approvals(&self) -> Vec<PendingApproval> {
        self.pipeline.broker().pending()
    }

    /// Approves a held call from an in-process `channel` (the desktop app's window or
    /// notification): `scope` may extend it to the same target or a path prefix for the rest of
    /// the session. Socket clients go through [`crate::approvals::ApprovalBroker::approve_with_code`].
    pub fn approve(
        &self,
        id: &str,
        scope: &crate::approvals::GrantScope,
        reviewer: Option<&str>,
        channel: crate::approvals::Channel,
    ) -> Result<PendingApproval, GatewayError> {
        let reviewer = reviewer.unwrap_or(&self.config.reviewer);
        self.pipeline.broker().approve(id, scope, reviewer, channel)
    }

    /// The one-time code of a held call, for the desktop's approval window (it lets the user
    /// approve from a terminal instead). Never sent over the control socket.
    pub fn approval_code(&self, id: &str) -> Option<String> {
        self.pipeline.broker().code_of(id)
    }

    /// Sets where one-time codes are shown to the human (see
    /// [`crate::approvals::Announcer`]): `cordon serve` prints them on its own stderr.
    pub fn set_announcer(&self, announcer: crate::approvals::Announcer) {
        self.pipeline.broker().set_announcer(announcer);
    }

    /// Denies a held call.
    pub fn deny(&self, id: &str, reason: Option<String>) -> Result<PendingApproval, GatewayError> {
        self.pipeline
            .broker()
            .deny(id, reason, &self.config.reviewer)
    }

    /// Kill switch: pauses every agent (`None`) or one. Their calls are refused (and
    /// recorded) until [`Engine::resume`], calls they have held for approval are denied, and
    /// the state is stored in the evidence database, so it survives a restart.
    pub fn pause(&self, agent: Option<&str>) -> Result<PauseState, GatewayError> {
        self.pipeline.pause(agent).map_err(GatewayError::Control)
    }

    /// Lifts the kill switch for every agent (`None`) or one (stored, like [`Engine::pause`]).
    /// Resuming one agent while all are paused is refused: resume all, then pause others.
    pub fn resume(&self, agent: Option<&str>) -> Result<PauseState, GatewayError> {
        self.pipeline.resume(agent).map_err(GatewayError::Control)
    }

    /// The engine's kill switch (the policy file's `paused`/`paused_agents` are separate and
    /// shown by the policy).
    pub fn pause_state(&self) -> PauseState {
        self.pipeline.constraints().pause_state()
    }

    /// Stops: refuses held calls (recorded), stops transports and upstreams, writes a checkpoint.
    pub async fn shutdown(self) -> Result<(), GatewayError> {
        let refused = self.pipeline.broker().close();
        if refused > 0 {
            tracing::info!(refused, "refused the calls awaiting approval");
        }
        // Give the refused calls time to record themselves and answer.
        let deadline = tokio::time::Instant::now() + DRAIN_WAIT;
        while self.pipeline.held_calls() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.cancel.cancel();
        // The control socket goes with its accept loop, if it is still this engine's.
        drain(self.tasks).await;
        self.pipeline.upstreams().shutdown().await;
        let constraints = self.pipeline.constraints().clone();
        let _ = tokio::task::spawn_blocking(move || constraints.flush(DRAIN_WAIT)).await;
        let log = self.pipeline.recorder().log().clone();
        let checkpoint = tokio::task::spawn_blocking(move || log.checkpoint())
            .await
            .map_err(|e| GatewayError::Evidence(e.to_string()))?
            .map_err(|e| GatewayError::Evidence(e.to_string()));
        if let Some((stop, handle)) = self.shipping {
            // The shipper's last pass sends the records and the checkpoint just written.
            stop.cancel();
            let _ = tokio::time::timeout(DRAIN_WAIT, handle).await;
        }
        checkpoint
    }
}

/// Waits for the engine's tasks to end after their cancellation, each for at most [`DRAIN_WAIT`].
async fn drain(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for task in tasks {
        let _ = tokio::time::timeout(DRAIN_WAIT, task).await;
    }
}
