//! `cordon pause [--agent NAME]`, `cordon resume [--agent NAME]`: the kill switch.
//!
//! While an agent is paused every call it makes (MCP over stdio or HTTP, native hooks) is
//! refused with that reason and recorded, and its calls held for approval are denied. The engine
//! stores the state next to the evidence, so it survives a restart.
//!
//! Pausing needs nothing (it only makes things stricter). Resuming lifts governance, so it needs
//! a human at a terminal and the one-time code the engine shows on its own channel.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use cordon_gateway::control::{self, Guarded, Request};
use cordon_gateway::{Config, PauseState};

/// Arguments of `cordon pause` and `cordon resume`.
#[derive(Debug, Args)]
pub struct PauseArgs {
    /// Only this agent (default: every agent).
    #[arg(long)]
    pub agent: Option<String>,
    /// Only print the current state, change nothing.
    #[arg(long)]
    pub status: bool,
    /// Print JSON (`{"all": bool, "agents": [...]}`).
    #[arg(long)]
    pub json: bool,
    /// `resume` only: the one-time code Cordon showed (asked for on the terminal when omitted).
    #[arg(long)]
    pub code: Option<String>,
    /// Config file (default: $CORDON_CONFIG, else ~/.config/cordon/config.yaml).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

fn describe(state: &PauseState) -> String {
    match (state.all, state.agents.is_empty()) {
        (true, _) => "all agents are paused".to_owned(),
        (false, true) => "no agent is paused".to_owned(),
        (false, false) => format!("paused agents: {}", state.agents.join(", ")),
    }
}

/// Pauses (`pause = true`) or resumes agents, or prints the state with `--status`.
pub fn run(args: PauseArgs, pause: bool) -> anyhow::Result<ExitCode> {
    let config = Config::resolve(args.config)?;
    let reply = if !args.status && !pause {
        let agent = args.agent.clone();
        super::approvals::guarded(
            &config.socket,
            Guarded::Resume {
                agent: agent.clone(),
            },
            args.code,
            |code| Request::Resume {
                agent,
                code: Some(code),
            },
        )?
    } else {
        let request = if args.status {
            Request::PauseState
        } else {
            Request::Pause { agent: args.agent }
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        runtime.block_on(control::request(&config.socket, &request))?
    };
    let state: PauseState = serde_json::from_value(reply.get("pause").cloned().unwrap_or_default())
        .context("the engine sent a malformed pause state")?;
    if args.json {
        println!("{}", serde_json::to_string(&state)?);
    } else {
        println!("{}", describe(&state));
    }
    Ok(ExitCode::SUCCESS)
}
