//! `cordon tools pins|changes|approve|forget`: the tool pins (rug-pull defence).
//!
//! A tool whose name, description or schema changed since it was first seen is withheld by
//! the engine until the user reads the diff (`cordon tools changes`) and approves exactly that
//! definition (`cordon tools approve SERVER TOOL --hash PREFIX`). With an engine running the
//! approval goes through it, so the tool is served again at once; otherwise the pin file is
//! updated directly and the next engine start picks it up.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use cordon_gateway::Config;
use cordon_gateway::control::{self, Guarded, Request};
use cordon_secrets::ToolPins;
use serde_json::json;

/// The `cordon tools` subcommands.
#[derive(Debug, Subcommand)]
pub enum ToolsCommand {
    /// List the pinned (approved) tool definitions.
    Pins {
        /// Only this server's tools.
        #[arg(long)]
        server: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Show every changed tool definition awaiting approval, as a diff.
    Changes {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Approve the changed definition of a tool you reviewed with `cordon tools changes`.
    Approve {
        /// The server.
        server: String,
        /// The tool's name on that server.
        tool: String,
        /// The new definition's hash as shown by `cordon tools changes` (at least 8 hex
        /// digits): refused if the definition changed again since.
        #[arg(long)]
        hash: String,
        /// The one-time code Cordon showed for this approval (asked for on the terminal when
        /// omitted).
        #[arg(long)]
        code: Option<String>,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Forget a server's pins (or one tool's): re-pinned on next sight.
    Forget {
        /// The server.
        server: String,
        /// Only this tool.
        tool: Option<String>,
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// Which config (for the pin file and the control socket).
#[derive(Debug, Args)]
pub struct ConfigArg {
    /// Config file (default: $CORDON_CONFIG, else ~/.config/cordon/config.yaml).
    #[arg(long)]
    config: Option<PathBuf>,
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// Runs a tools subcommand.
pub fn run(command: ToolsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ToolsCommand::Pins {
            server,
            json,
            config,
        } => {
            let config = Config::resolve(config.config)?;
            let pins = ToolPins::open(&config.pins);
            let list: Vec<_> = pins
                .list()?
                .into_iter()
                .filter(|(s, ..)| server.as_deref().is_none_or(|want| want == s))
                .collect();
            if json {
                let rows: Vec<_> = list
                    .iter()
                    .map(|(server, tool, pinned, pending)| {
                        json!({"server": server, "tool": tool, "hash": pinned.hash,
                               "seen_at": pinned.seen_at, "pending_change": pending})
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if list.is_empty() {
                println!("no pinned tools in {}", config.pins.display());
            } else {
                for (server, tool, pinned, pending) in &list {
                    let flag = if *pending {
                        "  CHANGED: withheld until approved"
                    } else {
                        ""
                    };
                    println!(
                        "{server}__{tool}  {}  since {}{flag}",
                        short(&pinned.hash),
                        pinned.seen_at
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ToolsCommand::Changes { json, config } => {
            let config = Config::resolve(config.config)?;
            let changes = ToolPins::open(&config.pins).pending_changes()?;
            if json {
                let rows: Vec<_> = changes
                    .iter()
                    .map(|c| {
                        json!({"server": c.server, "tool": c.tool, "approved_hash": c.old.hash,
                               "new_hash": c.new.hash, "diff": c.diff()})
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(ExitCode::SUCCESS);
            }
            if changes.is_empty() {
                println!("no changed tool definitions are waiting for approval");
                return Ok(ExitCode::SUCCESS);
            }
            for c in &changes {
                println!(
                    "{}__{}: approved {} → new {} (withheld until approved)",
                    c.server,
                    c.tool,
                    short(&c.old.hash),
                    short(&c.new.hash)
                );
                println!("{}", c.diff());
                println!(
                    "approve with: cordon tools approve {} {} --hash {}\n",
                    c.server,
                    c.tool,
                    short(&c.new.hash)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ToolsCommand::Approve {
            server,
            tool,
            hash,
            code,
            config,
        } => {
            let config = Config::resolve(config.config)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            let running = runtime.block_on(control::ping(&config.socket)).is_ok();
            if running {
                // Through the engine: a human at a terminal with the engine's one-time code.
                // (Offline, the pin file is edited directly: it is only a file of this user's,
                // which the policy's self-protection rules keep the agent away from.)
                let action = Guarded::ApproveTool {
                    server: server.clone(),
                    tool: tool.clone(),
                    hash: hash.clone(),
                };
                let (s, t) = (server.clone(), tool.clone());
                let reply = super::approvals::guarded(&config.socket, action, code, |code| {
                    Request::ApproveTool {
                        server: s,
                        tool: t,
                        hash,
                        code: Some(code),
                    }
                })?;
                let approved = reply.get("hash").and_then(|h| h.as_str()).unwrap_or("");
                println!(
                    "approved {server}__{tool} ({}); the engine serves it again",
                    short(approved)
                );
            } else {
                let pinned =
                    ToolPins::open(&config.pins).approve_change(&server, &tool, Some(&hash))?;
                println!(
                    "approved {server}__{tool} ({}); served from the next engine start",
                    short(&pinned.hash)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ToolsCommand::Forget {
            server,
            tool,
            config,
        } => {
            let config = Config::resolve(config.config)?;
            let removed = ToolPins::open(&config.pins).forget(&server, tool.as_deref())?;
            if removed {
                println!("forgotten: re-pinned the next time the server lists them");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("cordon: no such pin");
                Ok(ExitCode::from(super::EXIT_FINDING))
            }
        }
    }
}
