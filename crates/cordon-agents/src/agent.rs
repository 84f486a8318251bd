//! The supported agents: their names, where each keeps its MCP and hook configuration (with
//! the documentation followed), how each file is edited, and what each cannot make fail closed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::{AgentError, CLAUDE_HOOK_TIMEOUT_SECS};

/// The coding agents Cordon can onboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Agent {
    /// Anthropic's Claude Code.
    ClaudeCode,
    /// Cursor.
    Cursor,
    /// OpenAI's Codex CLI.
    Codex,
    /// Google's Gemini CLI.
    Gemini,
    /// Visual Studio Code (Copilot agent mode).
    Vscode,
    /// Windsurf (Cascade).
    Windsurf,
}

/// Where an agent's files live: the user's home and the platform config directory.
#[derive(Debug, Clone)]
pub struct Bases {
    /// The home directory.
    pub home: PathBuf,
    /// The platform config directory (`~/.config`, `~/Library/Application Support`, `%APPDATA%`).
    pub config_dir: PathBuf,
    /// `PATH`, to tell whether an agent's binary is installed (None: do not look).
    pub path: Option<OsString>,
}

impl Bases {
    /// Bases inside `home`, with the platform's config directory layout under it (tests, and
    /// `CORDON_AGENTS_HOME`).
    pub fn for_home(home: &Path) -> Bases {
        let config_dir = if cfg!(target_os = "macos") {
            home.join("Library").join("Application Support")
        } else if cfg!(windows) {
            home.join("AppData").join("Roaming")
        } else {
            home.join(".config")
        };
        Bases {
            home: home.to_path_buf(),
            config_dir,
            path: None,
        }
    }
}

/// How a file is edited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// A JSON file with servers under `key`; `comments`: JSONC accepted; `typed`: entries carry
    /// `"type": "stdio"`.
    McpJson {
        key: &'static str,
        comments: bool,
        typed: bool,
    },
    /// Codex's TOML.
    McpToml,
    /// Claude Code's settings.json: `hooks.PreToolUse` and `permissions.allow`.
    ClaudeHooks,
    /// Codex's hooks.json: Claude-compatible `hooks.PreToolUse`.
    CodexHooks,
    /// Gemini CLI's settings.json: `mcpServers` (with `trust`) and `hooks.BeforeTool`.
    GeminiSettings,
    /// Cursor's hooks.json.
    CursorHooks,
}

/// The Gemini CLI's server list key.
pub(crate) const GEMINI_MCP: Format = Format::McpJson {
    key: "mcpServers",
    comments: true,
    typed: false,
};

/// Milliseconds the Gemini CLI lets the hook run (its `timeout` is in ms).
pub(crate) const GEMINI_HOOK_TIMEOUT_MS: u64 = CLAUDE_HOOK_TIMEOUT_SECS * 1000;

impl Agent {
    /// Every supported agent.
    pub const ALL: [Agent; 6] = [
        Agent::ClaudeCode,
        Agent::Cursor,
        Agent::Codex,
        Agent::Gemini,
        Agent::Vscode,
        Agent::Windsurf,
    ];

    /// The agent's name (also the `--agent` name recorded in evidence).
    pub fn name(self) -> &'static str {
        match self {
            Agent::ClaudeCode => "claude-code",
            Agent::Cursor => "cursor",
            Agent::Codex => "codex",
            Agent::Gemini => "gemini",
            Agent::Vscode => "vscode",
            Agent::Windsurf => "windsurf",
        }
    }

    /// Where Cordon cannot make this agent fail closed, in one sentence (None: it can). Said by
    /// `cordon agents install` and `list` so that nobody assumes more than the agent gives.
    ///
    /// Measured with the pinned CLIs (tests/agents/test_fail_open.py): Claude Code 2.1.197, Codex
    /// 0.171 and the Gemini CLI 0.61 run the tool when the hook process crashes (killed, binary
    /// missing, a non-2 exit status) or times out; Claude Code's `onFailure: "block"`, which
    /// Cordon installs, is honoured only from 2.1.295. Cordon's own hook never relies on that: it
    /// answers deny on every error, and before the agent's timeout. Cursor fails closed with the
    /// `failClosed: true` Cordon installs. VS Code and Windsurf get no native-tool hooks.
    pub fn fail_open(self) -> Option<&'static str> {
        match self {
            Agent::ClaudeCode => Some(
                "fail-open limit: Claude Code before 2.1.295 ignores `onFailure: \"block\"` \
                 (2.1.197 checked): if the hook process is killed, its binary is missing or it \
                 times out, the tool runs wherever Claude Code's own permissions allow it \
                 (bypass mode, allow rules); upgrade Claude Code to close this",
            ),
            Agent::Codex => Some(
                "fail-open limit: Codex (0.171 checked) runs the tool when its PreToolUse hook \
                 is killed, missing or times out, and has no setting to refuse instead; \
                 Cordon's hook itself refuses on every error",
            ),
            Agent::Gemini => Some(
                "fail-open limit: the Gemini CLI (0.61 checked) runs the tool when its \
                 BeforeTool hook is killed or times out, and has no setting to refuse instead; \
                 Cordon's hook itself refuses on every error",
            ),
            Agent::Cursor => None,
            Agent::Vscode | Agent::Windsurf => Some(
                "not governed: its built-in tools (terminal, file edits); it has no hooks \
                 Cordon can install, so only its MCP calls go through Cordon",
            ),
        }
    }

    /// Parses an agent name.
    pub fn parse(name: &str) -> Result<Agent, AgentError> {
        Agent::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| AgentError::UnknownAgent(name.to_owned()))
    }

    /// The user-level MCP configuration file.
    ///
    /// - Claude Code: `~/.claude.json`, top-level `mcpServers` = user scope (Claude Code docs,
    ///   "MCP installation scopes", docs.claude.com/en/docs/claude-code/mcp; project scope is
    ///   `.mcp.json` in a repository, local scope `projects.<path>.mcpServers` in `~/.claude.json`).
    /// - Cursor: `~/.cursor/mcp.json`, `mcpServers` (cursor.com/docs/context/mcp, "Configuration
    ///   locations": global `~/.cursor/mcp.json`, project `.cursor/mcp.json`).
    /// - Codex CLI: `~/.codex/config.toml`, `[mcp_servers.NAME]` (github.com/openai/codex
    ///   docs/config.md; developers.openai.com/codex/mcp).
    /// - Gemini CLI: `~/.gemini/settings.json`, `mcpServers` (geminicli.com/docs/tools/mcp-server;
    ///   the entry carries `"trust": true`, without which headless runs hide the server's tools).
    /// - VS Code: `<user config>/Code/User/mcp.json`, `servers` with `"type": "stdio"`
    ///   (code.visualstudio.com/docs/copilot/reference/mcp-configuration).
    /// - Windsurf: `~/.codeium/windsurf/mcp_config.json`, `mcpServers` (docs.windsurf.com
    ///   /windsurf/cascade/mcp).
    pub fn mcp_config(self, bases: &Bases) -> PathBuf {
        match self {
            Agent::ClaudeCode => bases.home.join(".claude.json"),
            Agent::Cursor => bases.home.join(".cursor").join("mcp.json"),
            Agent::Codex => bases.home.join(".codex").join("config.toml"),
            Agent::Gemini => bases.home.join(".gemini").join("settings.json"),
            Agent::Vscode => bases.config_dir.join("Code").join("User").join("mcp.json"),
            Agent::Windsurf => bases
                .home
                .join(".codeium")
                .join("windsurf")
                .join("mcp_config.json"),
        }
    }

    /// The file where the agent's native-tool hooks are configured, for agents that have them.
    ///
    /// - Claude Code: `~/.claude/settings.json`, `hooks.PreToolUse: [{matcher, hooks: [{type:
    ///   "command", command, timeout, onFailure}]}]` (docs.claude.com/en/docs/claude-code/hooks;
    ///   `onFailure: "block"` from 2.1.295, ignored by older releases) and `permissions.allow`.
    /// - Codex CLI: `~/.codex/hooks.json`, the same `hooks.PreToolUse` shape; Codex runs a hook
    ///   only once the user trusted it (`/hooks` in the TUI).
    /// - Gemini CLI: `~/.gemini/settings.json` (the same file as its MCP servers),
    ///   `hooks.BeforeTool: [{matcher, hooks: [{type, command, timeout (ms)}]}]`.
    /// - Cursor: `~/.cursor/hooks.json`, `{"version": 1, "hooks": {"beforeShellExecution":
    ///   [{"command": ..., "failClosed": true}], ...}}` (cursor.com/docs/agent/hooks).
    pub fn hooks_config(self, bases: &Bases) -> Option<PathBuf> {
        match self {
            Agent::ClaudeCode => Some(bases.home.join(".claude").join("settings.json")),
            Agent::Cursor => Some(bases.home.join(".cursor").join("hooks.json")),
            Agent::Codex => Some(bases.home.join(".codex").join("hooks.json")),
            Agent::Gemini => Some(self.mcp_config(bases)),
            Agent::Vscode | Agent::Windsurf => None,
        }
    }

    pub(crate) fn mcp_format(self) -> Format {
        match self {
            Agent::ClaudeCode => Format::McpJson {
                key: "mcpServers",
                comments: false,
                typed: false,
            },
            // Cursor is a VS Code fork and reads its JSON files as JSONC.
            Agent::Cursor => Format::McpJson {
                key: "mcpServers",
                comments: true,
                typed: false,
            },
            Agent::Codex => Format::McpToml,
            Agent::Gemini => Format::GeminiSettings,
            // VS Code's mcp.json is JSON with comments.
            Agent::Vscode => Format::McpJson {
                key: "servers",
                comments: true,
                typed: true,
            },
            Agent::Windsurf => Format::McpJson {
                key: "mcpServers",
                comments: false,
                typed: false,
            },
        }
    }

    /// Directories whose presence means the agent is installed.
    pub(crate) fn markers(self, bases: &Bases) -> Vec<PathBuf> {
        match self {
            Agent::ClaudeCode => vec![bases.home.join(".claude"), bases.home.join(".claude.json")],
            Agent::Cursor => vec![bases.home.join(".cursor")],
            Agent::Codex => vec![bases.home.join(".codex")],
            Agent::Gemini => vec![bases.home.join(".gemini")],
            Agent::Vscode => vec![bases.config_dir.join("Code")],
            Agent::Windsurf => vec![bases.home.join(".codeium").join("windsurf")],
        }
    }

    pub(crate) fn binary(self) -> &'static str {
        match self {
            Agent::ClaudeCode => "claude",
            Agent::Cursor => "cursor",
            Agent::Codex => "codex",
            Agent::Gemini => "gemini",
            Agent::Vscode => "code",
            Agent::Windsurf => "windsurf",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_is_an_error() {
        for agent in Agent::ALL {
            assert_eq!(Agent::parse(agent.name()).unwrap(), agent);
        }
        assert!(matches!(
            Agent::parse("emacs"),
            Err(AgentError::UnknownAgent(_))
        ));
    }
}
