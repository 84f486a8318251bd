//! `cordon log list|show|export|verify|session`.

use std::process::ExitCode;

use clap::Subcommand;

/// Evidence log subcommands.
#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// List records.
    List,
}

/// Runs a log subcommand.
pub fn run(command: LogCommand) -> anyhow::Result<ExitCode> {
    let _ = command;
    anyhow::bail!("`cordon log` is not built yet")
}
