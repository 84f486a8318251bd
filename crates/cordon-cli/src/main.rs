//! `cordon`: one governed MCP server in front of every coding agent's tools.
//!
//! This binary is the edge of the engine: it parses the command line, calls the engine crates,
//! and maps their results to exit codes (0 success, 1 a finding, 2 usage error).

mod cmd;

/// mimalloc on Linux: under load glibc's allocator cost the engine a tenth of its time.
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Cordon governs the tool calls of AI coding agents: reads pass, risky writes and pushes wait
/// for a human, destructive and secret-reading actions are refused, and every call leaves a
/// verifiable evidence record.
#[derive(Debug, Parser)]
#[command(name = "cordon", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the engine without a GUI (for servers, CI and headless machines).
    Serve(cmd::serve::ServeArgs),
    /// Stdio MCP entry point that an agent launches; forwards to the running engine.
    Mcp(cmd::mcp::McpArgs),
    /// Validate, test and explain policies.
    #[command(subcommand)]
    Policy(cmd::policy::PolicyCommand),
    /// Query, export and verify the evidence log.
    #[command(subcommand)]
    Log(cmd::log::LogCommand),
    /// List the calls waiting for a human decision.
    Approvals(cmd::approvals::ApprovalsArgs),
    /// Approve a held call.
    Approve(cmd::approvals::ApproveArgs),
    /// Deny a held call.
    Deny(cmd::approvals::DenyArgs),
    /// Keychain entries for upstream credentials (values are never printed).
    #[command(subcommand)]
    Secret(cmd::secret::SecretCommand),
    /// Put coding agents under Cordon: list, install, uninstall.
    #[command(subcommand)]
    Agents(cmd::agents::AgentsCommand),
    /// Native-tool hook adapter an agent runs before and after its built-in tools.
    Hook(cmd::hook::HookArgs),
    /// Kill switch: refuse every call of all agents (or of one, `--agent`) until resumed.
    Pause(cmd::pause::PauseArgs),
    /// Lift the kill switch for all agents (or one, `--agent`).
    Resume(cmd::pause::PauseArgs),
    /// Whether an engine answers, and on which control channel (on Windows: the pipe's
    /// security descriptor, read back).
    Status(cmd::status::StatusArgs),
    /// Tool pins: changed upstream tool definitions are withheld until approved.
    #[command(subcommand)]
    Tools(cmd::tools::ToolsCommand),
    /// A team's evidence trail: set up the store, ship now, shipping status.
    #[command(subcommand)]
    Fleet(cmd::fleet::FleetCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let result = match cli.command {
        Command::Serve(args) => cmd::serve::run(args),
        Command::Mcp(args) => cmd::mcp::run(args),
        Command::Policy(command) => cmd::policy::run(command),
        Command::Log(command) => cmd::log::run(command),
        Command::Approvals(args) => cmd::approvals::list(args),
        Command::Approve(args) => cmd::approvals::approve(args),
        Command::Deny(args) => cmd::approvals::deny(args),
        Command::Secret(command) => cmd::secret::run(command),
        Command::Agents(command) => cmd::agents::run(command),
        Command::Hook(args) => cmd::hook::run(args),
        Command::Tools(command) => cmd::tools::run(command),
        Command::Status(args) => cmd::status::run(args),
        Command::Fleet(command) => cmd::fleet::run(command),
        Command::Pause(args) => cmd::pause::run(args, true),
        Command::Resume(args) => cmd::pause::run(args, false),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("cordon: error: {}", error_text(&error));
            ExitCode::from(cmd::EXIT_FINDING)
        }
    }
}

/// The error and its causes, each cause once: many library errors already quote their source in
/// their own message, and printing the chain again would repeat it.
fn error_text(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
    }
    text
}

/// Logs go to stderr (stdout belongs to MCP on `cordon mcp`), filtered by `CORDON_LOG`.
///
/// rmcp is capped at `warn` whatever `CORDON_LOG` says: at `debug` it prints every JSON-RPC
/// message raw, which would put an agent's arguments (and any secret in them) into the log, and
/// at `info` it prints each client's self-description (untrusted text) three times per stateless
/// HTTP request, which cost a tenth of the engine's time under load. Cordon logs the lifecycle
/// events that matter (upstreams starting and stopping, agents connecting) itself.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CORDON_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let filter = match "rmcp=warn".parse() {
        Ok(cap) => filter.add_directive(cap),
        Err(_) => filter,
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

#[cfg(test)]
mod tests {
    use super::error_text;

    #[test]
    fn a_cause_already_quoted_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let quoted = anyhow::Error::new(std::io::Error::other(format!("cannot read x: {io}")))
            .context("loading the config");
        assert_eq!(
            error_text(&quoted),
            "loading the config: cannot read x: No such file"
        );
        let chained = anyhow::Error::new(io).context("cannot read x");
        assert_eq!(error_text(&chained), "cannot read x: No such file");
    }
}
