//! The agents page: which coding agents are on this machine, whether each is governed, drift
//! warnings, and install/uninstall, via cordon-agents.

use std::path::{Path, PathBuf};

use cordon_agents::{Agent, Bases, Options};
use serde::{Deserialize, Serialize};

use crate::AdminError;

/// One row of the agents page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct AgentEntry {
    /// `claude-code`, `cursor`, `codex`, `vscode`, `windsurf`.
    pub name: String,
    /// For people.
    pub display_name: String,
    /// Its config directory or binary is present.
    pub detected: bool,
    /// Its MCP configuration file.
    pub config_path: Option<String>,
    /// Cordon's entry is in its configuration (so it can be uninstalled), even if something
    /// else bypasses it (see `drift`).
    pub installed: bool,
    /// It routes through Cordon and nothing bypasses it.
    pub governed: bool,
    /// Cordon's native-tool hooks are set up (false for agents without hooks).
    pub hooks: bool,
    /// Drift and read problems, one sentence each.
    pub drift: Vec<String>,
}

/// The prefix of cordon-agents' combined "servers bypass Cordon" sentence, replaced here by one
/// sentence per server.
const BYPASS_PREFIX: &str = "drift: MCP server(s) bypass Cordon";

fn display_name(agent: Agent) -> &'static str {
    match agent {
        Agent::ClaudeCode => "Claude Code",
        Agent::Cursor => "Cursor",
        Agent::Codex => "Codex CLI",
        Agent::Gemini => "Gemini CLI",
        Agent::Vscode => "VS Code",
        Agent::Windsurf => "Windsurf",
    }
}

/// The user's real home, config directory and PATH.
pub fn system_bases() -> Result<Bases, AdminError> {
    let home = dirs::home_dir()
        .ok_or_else(|| AdminError::NotFound("cannot find the home directory".to_owned()))?;
    let config_dir = dirs::config_dir().unwrap_or_else(|| home.join(".config"));
    Ok(Bases {
        home,
        config_dir,
        path: std::env::var_os("PATH"),
    })
}

/// The `cordon` binary agents should launch: next to the running executable, else on PATH.
pub fn find_cordon_binary() -> Option<PathBuf> {
    let name = if cfg!(windows) {
        "cordon.exe"
    } else {
        "cordon"
    };
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(name)))
        .filter(|p| p.is_file());
    beside
        .or_else(|| {
            std::env::var_os("PATH").and_then(|path| {
                std::env::split_paths(&path)
                    .map(|d| d.join(name))
                    .find(|p| p.is_file())
            })
        })
        .map(|p| p.canonicalize().unwrap_or(p))
}

/// Every supported agent's state.
pub fn list(bases: &Bases) -> Vec<AgentEntry> {
    Agent::ALL
        .into_iter()
        .map(|agent| {
            let status = cordon_agents::status(agent, bases);
            let mut drift = Vec::new();
            if status.onboarded || status.routes_through_cordon {
                for server in &status.ungoverned {
                    drift.push(format!("server `{server}` bypasses Cordon"));
                }
            }
            drift.extend(
                status
                    .problems
                    .iter()
                    .filter(|p| !p.starts_with(BYPASS_PREFIX))
                    .cloned(),
            );
            AgentEntry {
                name: agent.name().to_owned(),
                display_name: display_name(agent).to_owned(),
                detected: status.installed,
                config_path: Some(status.config.display().to_string()),
                installed: status.onboarded || status.routes_through_cordon,
                governed: status.governed,
                hooks: status.hooks.unwrap_or(false),
                drift,
            }
        })
        .collect()
}

fn options(cordon: &Path) -> Result<Options, AdminError> {
    if !cordon.is_absolute() {
        return Err(AdminError::Invalid(format!(
            "the cordon binary path must be absolute, got {}",
            cordon.display()
        )));
    }
    Ok(Options {
        cordon: cordon.to_path_buf(),
        import: false,
        dry_run: false,
    })
}

/// Routes an agent through Cordon (idempotent; a malformed agent config is refused untouched).
pub fn install(bases: &Bases, cordon: &Path, name: &str) -> Result<Vec<AgentEntry>, AdminError> {
    let agent = Agent::parse(name)?;
    let report = cordon_agents::install(agent, bases, &options(cordon)?)?;
    tracing::info!(
        agent = name,
        files = report.changes.len(),
        "agent routed through Cordon"
    );
    Ok(list(bases))
}

/// Takes an agent out from under Cordon (restores its files byte for byte when unchanged).
pub fn uninstall(bases: &Bases, cordon: &Path, name: &str) -> Result<Vec<AgentEntry>, AdminError> {
    let agent = Agent::parse(name)?;
    let report = cordon_agents::uninstall(agent, bases, &options(cordon)?)?;
    tracing::info!(
        agent = name,
        files = report.changes.len(),
        "agent no longer routed through Cordon"
    );
    Ok(list(bases))
}
