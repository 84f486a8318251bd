//! Putting coding agents under Cordon: find each agent's MCP configuration, route it through
//! `cordon mcp --agent NAME`, set up native-tool hooks, and undo it all byte for byte.
//!
//! Pure logic and file I/O, no engine. Every path derives from a [`Bases`] (home and config
//! directories) so tests run against a temporary home. Edits are minimal: JSON files are edited
//! as text (key order, indentation and comments stay), Codex's TOML with `toml_edit`. Before the
//! first change a file is backed up to `<file>.cordon-backup` (or, if Cordon created it, marked
//! by `<file>.cordon-created`); a malformed file is refused and left untouched.
//!
//! Where each agent keeps its configuration (the documentation followed is cited per agent in
//! [`Agent::mcp_config`] and [`Agent::hooks_config`]).

//!
//! Modules by job: [`agent`](Agent) (where each agent keeps what), `entry` (recognising
//! Cordon's entries and hooks), `edit` (putting them in and taking them out of one file's text),
//! `onboard` (install and uninstall: plan, back up, write), `status` (`cordon agents list` and
//! drift), `import` (the agent's other servers as YAML for Cordon's config); `json` and `codex`
//! edit the two file formats in place.

mod agent;
mod codex;
mod edit;
mod entry;
mod import;
mod json;
mod onboard;
mod status;

use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

pub use agent::{Agent, Bases};
pub use onboard::{FileChange, Options, Report, install, uninstall};
pub use status::{Status, status, status_for};
/// The name of Cordon's entry in every agent's server list.
pub const ENTRY_NAME: &str = "cordon";

/// Suffix of the backup of a file's original bytes.
pub const BACKUP_SUFFIX: &str = ".cordon-backup";

/// Suffix of the marker of a file Cordon created (nothing to restore: uninstall deletes it).
pub const CREATED_SUFFIX: &str = ".cordon-created";

/// The hook matcher Cordon installs: every tool. A list of tool names goes stale as agents add
/// tools (Claude Code's Agent, Skill...), and an unlisted tool would run unjudged; Cordon's own
/// MCP tools reach the hook too and are let through there (the gateway judges them).
pub const HOOK_MATCHER_ALL: &str = "*";

/// Seconds Claude Code and Codex let the hook run: longer than Cordon's default approval timeout
/// (5m), because a hook killed by its timeout is a non-blocking error that would let the tool run.
pub const CLAUDE_HOOK_TIMEOUT_SECS: u64 = 600;

/// Claude Code's permission rule that lets Cordon's MCP tools through its own prompt: Cordon is
/// the gate for them (and in `-p` mode an ungranted tool is refused before Cordon sees it).
pub const CLAUDE_ALLOW_RULE: &str = "mcp__cordon";

/// Cursor hook events Cordon answers before the action (each installed with `failClosed`).
pub const CURSOR_HOOK_EVENTS: &[&str] = &[
    "beforeShellExecution",
    "beforeReadFile",
    "beforeMCPExecution",
];

/// The environment variables Codex must pass to `cordon mcp` (Codex starts MCP servers with a
/// scrubbed environment: without this a non-default Cordon config would be ignored).
pub const CODEX_ENV_VARS: &[&str] = &["CORDON_CONFIG"];

/// What can go wrong; every error leaves the agent's files untouched.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The name is not one of the supported agents.
    #[error("unknown agent `{0}` (known: claude-code, cursor, codex, gemini, vscode, windsurf)")]
    UnknownAgent(String),
    /// The file cannot be parsed: Cordon refuses to edit it.
    #[error("{what} is malformed ({reason}); fix it first: Cordon changed nothing")]
    Malformed {
        /// The file.
        what: String,
        /// The parser's complaint.
        reason: String,
    },
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A bug: an edit produced something unexpected.
    #[error("internal error: {0}")]
    Internal(String),
}

/// One MCP server found in an agent's configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Server {
    /// Its name in the agent's config.
    pub name: String,
    /// Its entry as JSON.
    pub spec: Value,
}
