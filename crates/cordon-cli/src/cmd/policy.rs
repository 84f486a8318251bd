//! `cordon policy check|test|explain`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

/// Policy subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate policy files or directories; errors name file:line:col.
    Check {
        /// Policy files or directories (all `*.yaml` in a directory form one policy).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Run the tests written inside the policies.
    Test {
        /// Policy files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Classify and judge one call; prints one JSON object.
    Explain {
        /// Policy file or directory (default: the user's policy directory, else the shipped default).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Tool name.
        #[arg(long)]
        tool: String,
        /// Upstream server name.
        #[arg(long, default_value = "")]
        server: String,
        /// Arguments as a JSON object.
        #[arg(long, default_value = "{}")]
        args: String,
        /// Agent name.
        #[arg(long, default_value = "")]
        agent: String,
    },
}

/// Runs a policy subcommand.
pub fn run(command: PolicyCommand) -> anyhow::Result<ExitCode> {
    let _ = command;
    anyhow::bail!("`cordon policy` is not built yet")
}
