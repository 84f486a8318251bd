//! `cordon serve`: the engine without a GUI.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use cordon_gateway::approvals::Announcement;
use cordon_gateway::{Config, Engine};

/// Arguments of `cordon serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Config file (default: $CORDON_CONFIG, else ~/.config/cordon/config.yaml).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Runs the engine until SIGINT/SIGTERM; then refuses held calls, stops upstreams and writes an
/// evidence checkpoint.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = Config::resolve(args.config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let engine = Engine::start(config).await?;
        // One-time approval codes go to this process's own stderr: the terminal running
        // `cordon serve` is the headless engine's channel to the human (see `cordon approve`).
        engine.set_announcer(std::sync::Arc::new(|a: &Announcement| {
            eprintln!("{}", a.line());
        }));
        let http = engine
            .http_addr()
            .map(|a| format!(", MCP HTTP at http://{a}/mcp"))
            .unwrap_or_default();
        eprintln!(
            "cordon: engine running (control socket {}{http}); Ctrl-C to stop",
            engine.config().socket.display()
        );
        eprintln!(
            "cordon: approvals are recorded as reviewer `{}` (from {}; set `reviewer:` in the \
             config to change it). Approval codes are shown here: keep this terminal's output \
             away from the agent (not in a file it can read)",
            cordon_text::visible(&engine.config().reviewer),
            engine.config().reviewer_origin
        );
        let builtin = engine.pipeline().builtin();
        if builtin.enabled() {
            match builtin.workspace() {
                Ok(ws) => {
                    let roots: Vec<String> =
                        ws.roots().iter().map(|r| r.display().to_string()).collect();
                    eprintln!(
                        "cordon: built-in tools (cordon__*) confined to {}",
                        roots.join(", ")
                    );
                }
                Err(reason) => eprintln!("cordon: warning: {reason}"),
            }
        }
        wait_for_signal().await?;
        eprintln!("cordon: shutting down");
        engine.shutdown().await?;
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(unix)]
async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("cannot listen for SIGINT")?,
        _ = term.recv() => {}
    }
    Ok(())
}

#[cfg(not(unix))]
async fn wait_for_signal() -> anyhow::Result<()> {
    tokio::signal::ctrl_c()
        .await
        .context("cannot listen for Ctrl-C")
}
