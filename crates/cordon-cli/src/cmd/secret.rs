//! `cordon secret set|list|rm NAME`: upstream credentials in the OS keychain.

use std::process::ExitCode;

use clap::Subcommand;

/// Secret subcommands.
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Store a secret (value from a hidden prompt or stdin, never from argv).
    Set {
        /// The secret's name, as referenced by `${keychain:NAME}` in the config.
        name: String,
    },
}

/// Runs a secret subcommand.
pub fn run(command: SecretCommand) -> anyhow::Result<ExitCode> {
    let _ = command;
    anyhow::bail!("`cordon secret` is not built yet")
}
