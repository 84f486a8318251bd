//! The engine status both windows and the tray show.

use cordon_gateway::{Config, Engine};
use serde::{Deserialize, Serialize};

/// What the tray and the windows show about the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Status {
    /// An engine is running in this app.
    pub running: bool,
    /// Why the engine is standing by instead of running: it could not write its evidence log
    /// at start (a full disk, say, or a locked keychain) and tries again by itself; every call
    /// is refused meanwhile (None: it runs, or is stopped).
    pub standby: Option<String>,
    /// Why the engine could not start (at launch or on Restart: a broken policy, a config other
    /// users can read); nothing runs and every call is refused until the cause is fixed and the
    /// engine restarted (None: it runs, stands by, or was stopped).
    pub start_error: Option<String>,
    /// Every agent is paused (calls refused until resumed).
    pub paused: bool,
    /// Agents paused one by one.
    pub paused_agents: Vec<String>,
    /// Calls waiting for a human.
    pub pending: usize,
    /// The policy version in force ("" when not running).
    pub policy_version: String,
    /// The policy file or directory (None: the shipped default).
    pub policy_path: Option<String>,
    /// The config file (None: built-in defaults).
    pub config_path: Option<String>,
    /// The evidence database.
    pub evidence_path: String,
    /// Why the evidence log cannot be written, and since when (None: it can, or no engine
    /// runs). While there is one every call is refused; it clears by itself.
    pub evidence_fault: Option<String>,
    /// The reviewer identity recorded on approvals.
    pub reviewer: String,
    /// How long a held call waits.
    pub approval_timeout_secs: u64,
    /// The Streamable HTTP address, when enabled.
    pub http_addr: Option<String>,
    /// The app starts at login.
    pub autostart: bool,
}

/// What the desktop shell knows that the engine's library API does not (pause state lives in
/// the engine once issue 9 lands; autostart is an OS setting the shell manages).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShellState {
    /// Every agent is paused.
    pub paused: bool,
    /// Agents paused one by one.
    pub paused_agents: Vec<String>,
    /// The app starts at login.
    pub autostart: bool,
}

impl Status {
    /// The status of a running engine. `policy_path`: where the policy now lives (it can move
    /// from the shipped default to a file while the engine runs).
    pub fn running(engine: &Engine, policy_path: Option<String>, shell: &ShellState) -> Status {
        let config = engine.config();
        Status {
            running: true,
            standby: None,
            start_error: None,
            paused: shell.paused,
            paused_agents: shell.paused_agents.clone(),
            pending: engine.pending_approvals().len(),
            policy_version: engine.pipeline().policy().version().to_owned(),
            policy_path,
            config_path: config.source.as_ref().map(|p| p.display().to_string()),
            evidence_path: config.evidence.display().to_string(),
            evidence_fault: evidence_fault(&engine.evidence_health()),
            reviewer: config.reviewer.clone(),
            approval_timeout_secs: config.approval_timeout.as_secs(),
            http_addr: engine.http_addr().map(|a| a.to_string()),
            autostart: shell.autostart,
        }
    }

    /// The status when no engine runs (stopped, restarting), from its config.
    pub fn stopped(config: &Config, policy_path: Option<String>, shell: &ShellState) -> Status {
        Status {
            running: false,
            standby: None,
            start_error: None,
            paused: shell.paused,
            paused_agents: shell.paused_agents.clone(),
            pending: 0,
            policy_version: String::new(),
            policy_path,
            config_path: config.source.as_ref().map(|p| p.display().to_string()),
            evidence_path: config.evidence.display().to_string(),
            evidence_fault: None,
            reviewer: config.reviewer.clone(),
            approval_timeout_secs: config.approval_timeout.as_secs(),
            http_addr: None,
            autostart: shell.autostart,
        }
    }
}

/// The evidence fault as the windows say it: the error and since when (None while healthy).
fn evidence_fault(health: &cordon_gateway::recorder::EvidenceHealth) -> Option<String> {
    if health.ok {
        return None;
    }
    let error = health.error.as_deref().unwrap_or("unknown error");
    Some(match &health.since {
        Some(since) => format!("{error} (since {since})"),
        None => error.to_owned(),
    })
}
