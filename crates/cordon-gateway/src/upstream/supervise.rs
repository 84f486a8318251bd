//! Supervision: one task per configured server connects it (a stdio child or a remote HTTP
//! server), serves the live connection, and restarts it with exponential backoff (0.5 s doubling
//! to 30 s) when it ends; the connection's client handler turns list-changed notifications into
//! [`UpstreamEvent`]s.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use rmcp::ClientHandler;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation, ProgressNotificationParam};
use rmcp::service::{NotificationContext, RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{IntoTransport, StreamableHttpClientTransport, TokioChildProcess, Transport};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use cordon_secrets::Redactor;

use super::child::{child_env, log_stderr};
use super::pins::screen;
use super::progress::{self, ProgressRoutes};
use super::{Status, Upstream, UpstreamEvent, UpstreamOptions, write};
use crate::config::ServerSpec;

const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A server that does not finish `initialize` in this time is treated as crashed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(120);

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
        progress::relay(&self.progress, &self.redactor, &self.name, params)
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("cordon", env!("CARGO_PKG_VERSION")),
        )
    }
}

type Service = RunningService<RoleClient, UpstreamClient>;

/// One server's supervisor: connects it, serves the connection until it ends, and restarts it
/// with backoff until the engine shuts down.
pub(super) async fn supervise(
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
            let transport = counted(transport, &handler);
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
            let transport = counted(StreamableHttpClientTransport::from_config(config), &handler);
            let changed = list_changed_sender(&handler);
            crate::eras::connect(name, handler, transport, changed).await
        }
    }
}

/// The server's transport, noting the progress it reads (so a call's answer waits for the
/// progress sent before it: see [`progress::Counted`]).
fn counted<T, E, A>(
    transport: T,
    handler: &UpstreamClient,
) -> progress::Counted<impl Transport<RoleClient, Error = E> + 'static>
where
    T: IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    progress::Counted::new(
        transport.into_transport(),
        handler.progress.clone(),
        &handler.name,
    )
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
