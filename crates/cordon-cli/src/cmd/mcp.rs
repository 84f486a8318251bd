//! `cordon mcp --agent NAME`: the stdio entry point agents launch.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

/// Arguments of `cordon mcp`.
#[derive(Debug, Args)]
pub struct McpArgs {
    /// The agent's name, recorded in every evidence record.
    #[arg(long)]
    pub agent: String,
    /// Config file (default: ~/.config/cordon/config.yaml).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Bridges stdio to the engine; fails closed when no engine is running.
pub fn run(args: McpArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("`cordon mcp` is not built yet")
}
