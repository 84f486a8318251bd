//! `cordon approvals`, `cordon approve ID`, `cordon deny ID`: headless approvals.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use cordon_gateway::control::{self, Request};
use cordon_gateway::{Config, PendingApproval};
use serde_json::Value;

/// Arguments of `cordon approvals`.
#[derive(Debug, Args)]
pub struct ApprovalsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Config file (default: $CORDON_CONFIG, else ~/.config/cordon/config.yaml).
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
    /// Config file (default: $CORDON_CONFIG, else ~/.config/cordon/config.yaml).
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
    /// Config file (default: $CORDON_CONFIG, else ~/.config/cordon/config.yaml).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

fn ask(config: Option<PathBuf>, request: Request) -> anyhow::Result<Value> {
    let config = Config::resolve(config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(runtime.block_on(control::request(&config.socket, &request))?)
}

/// Lists pending approvals.
pub fn list(args: ApprovalsArgs) -> anyhow::Result<ExitCode> {
    let reply = ask(args.config, Request::Approvals)?;
    let approvals: Vec<PendingApproval> = serde_json::from_value(
        reply
            .get("approvals")
            .cloned()
            .unwrap_or(Value::Array(vec![])),
    )
    .context("the engine sent a malformed approvals list")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&approvals)?);
        return Ok(ExitCode::SUCCESS);
    }
    if approvals.is_empty() {
        println!("no calls are waiting for approval");
        return Ok(ExitCode::SUCCESS);
    }
    for a in &approvals {
        println!(
            "{}  {} {}__{}  {}  target: {}  rule: {}  expires: {}",
            a.id,
            a.agent,
            a.server,
            a.tool,
            a.action,
            a.target.as_deref().unwrap_or("-"),
            a.rule_id.as_deref().unwrap_or("(default)"),
            a.expires_at
        );
        println!("    {}", a.reason);
        // A built-in tool's preview (a push's commits, a command) when there is no file diff.
        if let Some(shown) = a.diff.as_ref().or(a.preview.as_ref()) {
            for line in shown.lines() {
                println!("    {line}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(reply: &Value) -> String {
    let a = reply.get("approval");
    let field = |k: &str| {
        a.and_then(|a| a.get(k))
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned()
    };
    format!(
        "{}__{} by {}",
        field("server"),
        field("tool"),
        field("agent")
    )
}

/// Approves a pending call.
pub fn approve(args: ApproveArgs) -> anyhow::Result<ExitCode> {
    let reply = ask(
        args.config,
        Request::Approve {
            id: args.id.clone(),
            session: args.session,
        },
    )?;
    let scope = if args.session {
        " (and the same action for the rest of the session)"
    } else {
        ""
    };
    println!("approved {}: {}{scope}", args.id, describe(&reply));
    Ok(ExitCode::SUCCESS)
}

/// Denies a pending call.
pub fn deny(args: DenyArgs) -> anyhow::Result<ExitCode> {
    let reply = ask(
        args.config,
        Request::Deny {
            id: args.id.clone(),
            reason: args.reason,
        },
    )?;
    println!("denied {}: {}", args.id, describe(&reply));
    Ok(ExitCode::SUCCESS)
}
