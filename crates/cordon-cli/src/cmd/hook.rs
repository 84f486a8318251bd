//! `cordon hook claude-code|cursor`: native-tool hooks judged by the same policy.

use std::process::ExitCode;

use clap::Args;

/// Arguments of `cordon hook`.
#[derive(Debug, Args)]
pub struct HookArgs {
    /// The agent whose hook protocol to speak (claude-code or cursor).
    pub agent: String,
}

/// Answers one hook invocation (reads the agent's JSON on stdin).
pub fn run(args: HookArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("`cordon hook` is not built yet")
}
