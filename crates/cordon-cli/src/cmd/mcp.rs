//! `cordon mcp --agent NAME`: the stdio entry point agents launch.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use cordon_gateway::Config;

/// Arguments of `cordon mcp`.
#[derive(Debug, Args)]
pub struct McpArgs {
    /// The agent's name, recorded in every evidence record.
    #[arg(long)]
    pub agent: String,
    /// Config file (default: $CORDON_CONFIG, else ~/.config/cordon/config.yaml).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Bridges stdio to the engine; fails closed when no engine is running. With an unusable config
/// it still speaks MCP (the agent would otherwise show a crashed server), refusing every call
/// with the config error.
pub fn run(args: McpArgs) -> anyhow::Result<ExitCode> {
    let config = Config::resolve(args.config);
    // One thread: the bridge relays one agent's messages in order, and every hop between
    // worker threads of a multi-threaded runtime cost a wake-up per message (measured: 4.6
    // context switches and 117 us of CPU per call, 3.2 and 89 us on one thread).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match config {
        Ok(config) => runtime.block_on(cordon_gateway::bridge::run_stdio(
            &config.socket,
            &args.agent,
        ))?,
        Err(error) => {
            eprintln!("cordon mcp: {error}; refusing every call until the config is fixed");
            let message = cordon_gateway::bridge::bad_config_message(&error.to_string());
            runtime.block_on(cordon_gateway::bridge::run_offline_stdio(message))?;
        }
    }
    // Tokio's stdin reader may still block in a thread; do not wait for it.
    runtime.shutdown_background();
    Ok(ExitCode::SUCCESS)
}
