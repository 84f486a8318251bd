//! `cordon approvals`, `cordon approve ID`, `cordon deny ID`: headless approvals.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

/// Arguments of `cordon approvals`.
#[derive(Debug, Args)]
pub struct ApprovalsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Config file (default: ~/.config/cordon/config.yaml).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Arguments of `cordon approve`.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The pending approval's id.
    pub id: String,
    /// Let the same action by this agent session pass without asking again.
    #[arg(long)]
    pub session: bool,
    /// Config file (default: ~/.config/cordon/config.yaml).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Arguments of `cordon deny`.
#[derive(Debug, Args)]
pub struct DenyArgs {
    /// The pending approval's id.
    pub id: String,
    /// Why, shown to the agent and recorded.
    #[arg(long)]
    pub reason: Option<String>,
    /// Config file (default: ~/.config/cordon/config.yaml).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Lists pending approvals.
pub fn list(args: ApprovalsArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("`cordon approvals` is not built yet")
}

/// Approves a pending call.
pub fn approve(args: ApproveArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("`cordon approve` is not built yet")
}

/// Denies a pending call.
pub fn deny(args: DenyArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("`cordon deny` is not built yet")
}
