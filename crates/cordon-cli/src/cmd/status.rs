//! `cordon status`: is an engine answering, and on what control channel.
//!
//! On Windows it also reads the control pipe's security descriptor back from the engine's pipe
//! and says whether it admits the current user only (the Wine tests and a cautious user check it
//! this way), and the evidence directory's ACL likewise; on Unix the socket's and its directory's ownership are checked before connecting.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use cordon_gateway::Config;
use cordon_gateway::control::{self, Request};
use serde_json::Value;

/// Arguments of `cordon status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON (`running`, `version`, `control`, and on Windows `pipe`, `sddl`, `only_user`,
    /// `data_sddl`, `data_private`).
    #[arg(long)]
    pub json: bool,
    /// Config file (default: $CORDON_CONFIG, else ~/.config/cordon/config.yaml).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// What `cordon status --json` prints.
#[derive(Debug, Default, serde::Serialize)]
struct Status {
    control: String,
    running: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// The policy version in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_version: Option<String>,
    /// The organisation policy's state (`repo`, `reference`, `commit`, `signer`, `version`,
    /// `last_pull`, `last_error`), when the config names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    org_policy: Option<Value>,
    /// Whether the evidence log can be written (`ok`, `error`, `since`, `failed_appends`):
    /// while it cannot, every call is refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence: Option<Value>,
    /// Why the engine stands by instead of serving (it could not write the evidence log at
    /// start and tries again by itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    standby: Option<String>,
    /// Windows: the control pipe's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pipe: Option<String>,
    /// Windows: its owner and DACL in SDDL, read back from the engine's pipe.
    #[serde(skip_serializing_if = "Option::is_none")]
    sddl: Option<String>,
    /// Windows: whether that descriptor admits the current user only.
    #[serde(skip_serializing_if = "Option::is_none")]
    only_user: Option<bool>,
    /// Windows: the evidence directory's owner and DACL in SDDL.
    #[serde(skip_serializing_if = "Option::is_none")]
    data_sddl: Option<String>,
    /// Windows: whether that DACL keeps other users out (you, SYSTEM, Administrators only).
    #[serde(skip_serializing_if = "Option::is_none")]
    data_private: Option<bool>,
}

/// Prints the engine's status; exit 1 when no engine answers (or its channel is not trusted).
pub fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let config = Config::resolve(args.config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut status = Status {
        control: config.socket.display().to_string(),
        ..Status::default()
    };
    match runtime.block_on(control::request(&config.socket, &Request::Ping)) {
        Ok(reply) => {
            status.running = true;
            status.version = reply
                .get("version")
                .and_then(Value::as_str)
                .map(str::to_owned);
            status.policy_version = reply
                .get("policy_version")
                .and_then(Value::as_str)
                .map(str::to_owned);
            status.org_policy = reply.get("org_policy").filter(|v| !v.is_null()).cloned();
            status.evidence = reply.get("evidence").cloned();
            status.standby = reply
                .get("standby")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        Err(error) => status.error = Some(error.to_string()),
    }
    #[cfg(windows)]
    if status.running {
        status.pipe = Some(control::pipe_name(&config.socket));
        let (sddl, only) = runtime.block_on(control::pipe_security(&config.socket))?;
        status.sddl = Some(sddl);
        status.only_user = Some(only);
    }
    #[cfg(windows)]
    if let Some(dir) = config.evidence.parent().filter(|d| d.is_dir()) {
        let (sddl, private) = cordon_gateway::private::path_security(dir)?;
        status.data_sddl = Some(sddl);
        status.data_private = Some(private);
    }
    if args.json {
        println!("{}", serde_json::to_string(&status)?);
    } else if status.running {
        println!(
            "engine running (version {}) on {}",
            status.version.as_deref().unwrap_or("?"),
            status.control
        );
        if let Some(version) = &status.policy_version {
            println!("policy {version}");
        }
        if let Some(org) = &status.org_policy {
            print_org_policy(org);
        }
        if let Some(why) = &status.standby {
            println!("STANDING BY: {}", cordon_text::visible(why));
        } else if let Some(error) = evidence_fault(status.evidence.as_ref()) {
            println!("evidence log NOT WRITABLE, every call is refused: {error}");
        }
        if let (Some(pipe), Some(sddl), Some(only)) = (&status.pipe, &status.sddl, status.only_user)
        {
            println!(
                "control pipe {pipe}\nsecurity {sddl}\nadmits only the current user: {}",
                if only { "yes" } else { "NO" }
            );
        }
        if let (Some(sddl), Some(private)) = (&status.data_sddl, status.data_private) {
            println!(
                "data directory security {sddl}\nprivate to you (SYSTEM and Administrators aside): {}",
                if private { "yes" } else { "NO" }
            );
        }
    } else {
        println!(
            "not running: {}",
            status.error.as_deref().unwrap_or("no answer")
        );
    }
    let evidence_ok = evidence_fault(status.evidence.as_ref()).is_none();
    Ok(
        if status.running && status.only_user != Some(false) && evidence_ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(super::EXIT_FINDING)
        },
    )
}

/// The evidence fault an engine reports (`since` and the error, made visible), if any.
fn evidence_fault(health: Option<&Value>) -> Option<String> {
    let health = health?;
    if health.get("ok").and_then(Value::as_bool) != Some(false) {
        return None;
    }
    let error = health
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("unknown error");
    Some(match health.get("since").and_then(Value::as_str) {
        Some(since) => format!("since {since}: {}", cordon_text::visible(error)),
        None => cordon_text::visible(error).into_owned(),
    })
}

/// The organisation policy's lines: what is in force, and why the last pull did not apply.
fn print_org_policy(org: &Value) {
    let text = |key: &str| org.get(key).and_then(Value::as_str).unwrap_or("");
    match org.get("commit").and_then(Value::as_str) {
        Some(commit) => println!(
            "organisation policy {} ({}): commit {commit}, signed by {}",
            text("repo"),
            text("reference"),
            text("signer"),
        ),
        None => println!(
            "organisation policy {} ({}): NONE VERIFIED YET, every call is refused",
            text("repo"),
            text("reference"),
        ),
    }
    if !text("last_pull").is_empty() {
        println!("last pull {}", text("last_pull"));
    }
    if !text("last_error").is_empty() {
        println!("last pull not applied: {}", text("last_error"));
    }
}
