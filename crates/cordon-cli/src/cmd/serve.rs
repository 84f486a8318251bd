//! `cordon serve`: the engine without a GUI.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

/// Arguments of `cordon serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Config file (default: ~/.config/cordon/config.yaml).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Runs the engine until interrupted.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("`cordon serve` is not built yet")
}
