//! `cordon agents list|install|uninstall`: onboarding coding agents.

use std::process::ExitCode;

use clap::Subcommand;

/// Agent onboarding subcommands.
#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// Which agents are installed here and whether each is governed.
    List,
}

/// Runs an agents subcommand.
pub fn run(command: AgentsCommand) -> anyhow::Result<ExitCode> {
    let _ = command;
    anyhow::bail!("`cordon agents` is not built yet")
}
