//! `cordon status`: is an engine answering, and on what control channel.
//!
//! On Windows it also reads the control pipe's security descriptor back from the engine's pipe
//! and says whether it admits the current user only (the Wine tests and a cautious user check it
//! this way); on Unix the socket's and its directory's ownership are checked before connecting.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use cordon_gateway::Config;
use cordon_gateway::control::{self, Request};
use serde_json::{Value, json};

/// Arguments of `cordon status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON (`running`, `version`, `control`, and on Windows `pipe`, `sddl`, `only_user`).
    #[arg(long)]
    pub json: bool,
    /// Config file (default: $CORDON_CONFIG, else ~/.config/cordon/config.yaml).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Prints the engine's status; exit 1 when no engine answers (or its channel is not trusted).
pub fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let config = Config::resolve(args.config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut status = json!({"control": config.socket.display().to_string()});
    let reply = runtime.block_on(control::request(&config.socket, &Request::Ping));
    let running = match &reply {
        Ok(reply) => {
            status["version"] = reply.get("version").cloned().unwrap_or(Value::Null);
            true
        }
        Err(error) => {
            status["error"] = json!(error.to_string());
            false
        }
    };
    status["running"] = json!(running);
    #[cfg(windows)]
    if running {
        status["pipe"] = json!(control::pipe_name(&config.socket));
        let (sddl, only) = runtime.block_on(control::pipe_security(&config.socket))?;
        status["sddl"] = json!(sddl);
        status["only_user"] = json!(only);
    }
    if args.json {
        println!("{status}");
    } else if running {
        println!(
            "engine running (version {}) on {}",
            status["version"].as_str().unwrap_or("?"),
            config.socket.display()
        );
        #[cfg(windows)]
        println!(
            "control pipe {}\nsecurity {}\nadmits only the current user: {}",
            status["pipe"].as_str().unwrap_or("?"),
            status["sddl"].as_str().unwrap_or("?"),
            if status["only_user"] == json!(true) {
                "yes"
            } else {
                "NO"
            }
        );
    } else {
        println!(
            "not running: {}",
            status["error"].as_str().unwrap_or("no answer")
        );
    }
    let trusted = status.get("only_user").is_none_or(|v| v == &json!(true));
    Ok(if running && trusted {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_FINDING)
    })
}
