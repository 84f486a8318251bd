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

mod codex;
mod json;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Value, json};

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
enum Format {
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
const GEMINI_MCP: Format = Format::McpJson {
    key: "mcpServers",
    comments: true,
    typed: false,
};
/// Milliseconds the Gemini CLI lets the hook run (its `timeout` is in ms).
const GEMINI_HOOK_TIMEOUT_MS: u64 = CLAUDE_HOOK_TIMEOUT_SECS * 1000;

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

    fn mcp_format(self) -> Format {
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
    fn markers(self, bases: &Bases) -> Vec<PathBuf> {
        match self {
            Agent::ClaudeCode => vec![bases.home.join(".claude"), bases.home.join(".claude.json")],
            Agent::Cursor => vec![bases.home.join(".cursor")],
            Agent::Codex => vec![bases.home.join(".codex")],
            Agent::Gemini => vec![bases.home.join(".gemini")],
            Agent::Vscode => vec![bases.config_dir.join("Code")],
            Agent::Windsurf => vec![bases.home.join(".codeium").join("windsurf")],
        }
    }

    fn binary(self) -> &'static str {
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

/// Options of install and uninstall.
#[derive(Debug, Clone)]
pub struct Options {
    /// Absolute path of the `cordon` binary the agent should launch.
    pub cordon: PathBuf,
    /// Move the agent's other MCP servers out of its config (printed as Cordon upstreams).
    pub import: bool,
    /// Compute the change without writing anything.
    pub dry_run: bool,
}

/// One MCP server found in an agent's configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Server {
    /// Its name in the agent's config.
    pub name: String,
    /// Its entry as JSON.
    pub spec: Value,
}

/// One file's change.
#[derive(Debug, Clone, PartialEq)]
pub struct FileChange {
    /// The file.
    pub path: PathBuf,
    /// Its bytes now (None: absent).
    pub before: Option<Vec<u8>>,
    /// Its bytes after (None: deleted).
    pub after: Option<Vec<u8>>,
}

impl FileChange {
    /// A unified diff of the change, for `--print`.
    pub fn diff(&self) -> String {
        let text = |b: &Option<Vec<u8>>| {
            b.as_deref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        let (old, new) = (text(&self.before), text(&self.after));
        let name = self.path.display().to_string();
        let from = if self.before.is_some() {
            format!("a{name}")
        } else {
            "/dev/null".to_owned()
        };
        let to = if self.after.is_some() {
            format!("b{name}")
        } else {
            "/dev/null".to_owned()
        };
        similar::TextDiff::from_lines(&old, &new)
            .unified_diff()
            .context_radius(3)
            .header(&from, &to)
            .to_string()
    }
}

/// What install or uninstall did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Files changed (empty: nothing to do).
    pub changes: Vec<FileChange>,
    /// MCP servers of the agent that do not go through Cordon (left in place).
    pub ungoverned: Vec<Server>,
    /// Servers moved out of the agent's config by `--import`.
    pub imported: Vec<Server>,
    /// The `servers:` YAML for Cordon's config, for the imported servers.
    pub import_yaml: Option<String>,
    /// Secret-looking env/header values of imported servers: `(server, variable, keychain name)`.
    pub secrets: Vec<(String, String, String)>,
    /// Things the user should know.
    pub notes: Vec<String>,
}

/// An agent's state on this machine, for `cordon agents list`.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The agent.
    pub agent: Agent,
    /// Its config directory or binary is present.
    pub installed: bool,
    /// Its MCP configuration file.
    pub config: PathBuf,
    /// It routes through `cordon mcp --agent NAME`.
    pub routes_through_cordon: bool,
    /// It routes through Cordon and has no other (enabled) MCP server.
    pub governed: bool,
    /// Its MCP servers that bypass Cordon.
    pub ungoverned: Vec<String>,
    /// Whether Cordon's native-tool hooks are set up (None: the agent has no hooks).
    pub hooks: Option<bool>,
    /// Cordon installed itself here (a backup or creation marker exists).
    pub onboarded: bool,
    /// Drift and read problems, one sentence each.
    pub problems: Vec<String>,
    /// Where Cordon cannot make this agent fail closed ([`Agent::fail_open`]).
    pub fail_open: Option<&'static str>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AgentError + '_ {
    move |source| AgentError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn read_opt(path: &Path) -> Result<Option<Vec<u8>>, AgentError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn as_text<'a>(bytes: &'a [u8], path: &Path) -> Result<&'a str, AgentError> {
    std::str::from_utf8(bytes).map_err(|_| AgentError::Malformed {
        what: path.display().to_string(),
        reason: "not UTF-8 text".into(),
    })
}

/// The args of Cordon's entry for `agent`.
fn entry_args(agent: Agent) -> [&'static str; 3] {
    ["mcp", "--agent", agent.name()]
}

/// Whether a server entry launches `cordon mcp --agent NAME` for this agent.
fn is_cordon_entry(spec: &Value, agent: Agent) -> bool {
    let program_is_cordon = spec
        .get("command")
        .and_then(Value::as_str)
        .and_then(|c| Path::new(c).file_name())
        .and_then(|n| n.to_str())
        .is_some_and(|n| n == "cordon" || n == "cordon.exe");
    let args: Vec<&str> = spec
        .get("args")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    program_is_cordon && args.get(..3) == Some(&entry_args(agent)[..])
}

/// Disabled servers (Windsurf `disabled: true`, Codex `enabled = false`) bypass nothing.
fn is_enabled(spec: &Value) -> bool {
    spec.get("disabled").and_then(Value::as_bool) != Some(true)
        && spec.get("enabled").and_then(Value::as_bool) != Some(false)
}

/// A command line for a hook: the binary path, shell-quoted when needed, and its arguments.
fn shell_command(cordon: &Path, rest: &str) -> String {
    let path = cordon.display().to_string();
    let plain = path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:\\".contains(c));
    if plain {
        format!("{path} {rest}")
    } else {
        format!("'{}' {rest}", path.replace('\'', "'\\''"))
    }
}

/// Whether a hook command line is Cordon's hook for `agent` (any cordon binary path).
fn is_cordon_hook(command: &str, agent: Agent) -> bool {
    let suffix = format!(" hook {}", agent.name());
    let Some(program) = command.strip_suffix(&suffix) else {
        return false;
    };
    let program = program.trim().trim_matches('\'');
    Path::new(program)
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n == "cordon" || n == "cordon.exe")
}

/// The servers configured in a file of `format` (with `text` already read).
fn list_servers(format: Format, text: &str, what: &str) -> Result<Vec<Server>, AgentError> {
    let pairs = match format {
        Format::GeminiSettings => return list_servers(GEMINI_MCP, text, what),
        Format::McpJson { key, comments, .. } => {
            let doc = json::Doc::parse(text, comments, what)?;
            match doc.get(&[key]) {
                None => Vec::new(),
                Some(node) => match node.to_value() {
                    Value::Object(map) => map.into_iter().collect(),
                    _ => {
                        return Err(AgentError::Malformed {
                            what: what.to_owned(),
                            reason: format!("`{key}` is not a JSON object"),
                        });
                    }
                },
            }
        }
        Format::McpToml => codex::servers(&codex::parse(text, what)?, what)?,
        Format::ClaudeHooks | Format::CodexHooks | Format::CursorHooks => Vec::new(),
    };
    Ok(pairs
        .into_iter()
        .map(|(name, spec)| Server { name, spec })
        .collect())
}

/// Cordon's `{matcher, hooks: [...]}` entry for `event` of a Claude-style hooks file.
fn matcher_hook_entry(agent: Agent, opts: &Options) -> Value {
    let command = shell_command(&opts.cordon, &format!("hook {}", agent.name()));
    match agent {
        // `onFailure: "block"`: a hook that crashes or times out refuses the call (Claude Code
        // 2.1.295+; older releases accept and ignore the key).
        Agent::ClaudeCode => json!({
            "matcher": HOOK_MATCHER_ALL,
            "hooks": [{"type": "command", "command": command, "timeout": CLAUDE_HOOK_TIMEOUT_SECS, "onFailure": "block"}]
        }),
        Agent::Gemini => json!({
            "matcher": HOOK_MATCHER_ALL,
            "hooks": [{"name": "cordon", "type": "command", "command": command, "timeout": GEMINI_HOOK_TIMEOUT_MS}]
        }),
        _ => json!({
            "matcher": HOOK_MATCHER_ALL,
            "hooks": [{"type": "command", "command": command, "timeout": CLAUDE_HOOK_TIMEOUT_SECS}]
        }),
    }
}

/// The hook event Cordon registers in a Claude-style hooks file.
fn matcher_event(agent: Agent) -> &'static str {
    if agent == Agent::Gemini {
        "BeforeTool"
    } else {
        "PreToolUse"
    }
}

/// Makes `hooks.<event>` hold exactly one Cordon entry, `entry` (stale Cordon entries, e.g. an
/// old matcher or binary path, are replaced); other entries stay as they are.
fn set_matcher_hook(
    doc: &mut json::Doc,
    agent: Agent,
    event: &str,
    entry: &Value,
    what: &str,
) -> Result<(), AgentError> {
    let items = match doc.get(&["hooks", event]).map(json::Node::to_value) {
        None => return doc.set(&["hooks", event], &json!([entry])),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(AgentError::Malformed {
                what: what.to_owned(),
                reason: format!("`hooks.{event}` is not an array"),
            });
        }
    };
    let ours: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, item)| {
            hook_commands(item.get("hooks"))
                .iter()
                .any(|c| is_cordon_hook(c, agent))
        })
        .map(|(i, _)| i)
        .collect();
    if ours.len() == 1 && ours.first().and_then(|i| items.get(*i)) == Some(entry) {
        return Ok(());
    }
    for index in ours.into_iter().rev() {
        doc.remove_item(&["hooks", event], index)?;
    }
    doc.push(&["hooks", event], entry)
}

/// Removes Cordon's entries from `hooks.<event>`.
fn strip_matcher_hook(doc: &mut json::Doc, agent: Agent, event: &str) -> Result<(), AgentError> {
    if let Some(Value::Array(items)) = doc.get(&["hooks", event]).map(json::Node::to_value) {
        for (index, item) in items.iter().enumerate().rev() {
            if hook_commands(item.get("hooks"))
                .iter()
                .any(|c| is_cordon_hook(c, agent))
            {
                doc.remove_item(&["hooks", event], index)?;
            }
        }
    }
    Ok(())
}

/// Sets Cordon's server entry in a JSON MCP file; returns the new text and the other servers.
fn transform_mcp_json(
    agent: Agent,
    format: Format,
    text: &str,
    opts: &Options,
    what: &str,
) -> Result<(String, Vec<Server>), AgentError> {
    let Format::McpJson {
        key,
        comments,
        typed,
    } = format
    else {
        return Err(AgentError::Internal("not a JSON MCP file".into()));
    };
    let command = opts.cordon.display().to_string();
    let args = entry_args(agent);
    let mut doc = json::Doc::parse(text, comments, what)?;
    let others: Vec<Server> = list_servers(format, text, what)?
        .into_iter()
        .filter(|s| s.name != ENTRY_NAME && !is_cordon_entry(&s.spec, agent))
        .collect();
    let entry = if typed {
        json!({"type": "stdio", "command": command, "args": args})
    } else if agent == Agent::Gemini {
        // Without `trust` the Gemini CLI hides the server's tools in headless runs and asks
        // before each call in the TUI: Cordon is the gate, its tools are judged there.
        json!({"command": command, "args": args, "trust": true})
    } else {
        json!({"command": command, "args": args})
    };
    doc.set(&[key, ENTRY_NAME], &entry)?;
    if opts.import {
        for server in others.iter().filter(|s| is_enabled(&s.spec)) {
            doc.remove(&[key], &server.name)?;
        }
    }
    Ok((doc.text, others))
}

/// Applies Cordon's change to one file's text. Returns the new text and the other servers.
fn transform(
    agent: Agent,
    format: Format,
    original: Option<&str>,
    opts: &Options,
    what: &str,
) -> Result<(String, Vec<Server>), AgentError> {
    let text = original.unwrap_or("");
    let command = opts.cordon.display().to_string();
    let args = entry_args(agent);
    match format {
        Format::McpJson { .. } => transform_mcp_json(agent, format, text, opts, what),
        Format::GeminiSettings => {
            let (text, others) = transform_mcp_json(agent, GEMINI_MCP, text, opts, what)?;
            let mut doc = json::Doc::parse(&text, true, what)?;
            let entry = matcher_hook_entry(agent, opts);
            set_matcher_hook(&mut doc, agent, matcher_event(agent), &entry, what)?;
            // Hooks switched off would leave the native tools unjudged.
            if doc
                .get(&["hooksConfig", "enabled"])
                .map(json::Node::to_value)
                == Some(json!(false))
            {
                doc.set(&["hooksConfig", "enabled"], &json!(true))?;
            }
            Ok((doc.text, others))
        }
        Format::McpToml => {
            let others: Vec<Server> = list_servers(format, text, what)?
                .into_iter()
                .filter(|s| s.name != ENTRY_NAME && !is_cordon_entry(&s.spec, agent))
                .collect();
            let mut doc = codex::parse(text, what)?;
            if !codex::set_server(&mut doc, ENTRY_NAME, &command, &args, what)? {
                // Unchanged entry: keep the text exactly (toml_edit may normalise nothing, but
                // be certain).
                if !opts.import {
                    return Ok((text.to_owned(), others));
                }
            }
            if opts.import {
                for server in others.iter().filter(|s| is_enabled(&s.spec)) {
                    codex::remove_server(&mut doc, &server.name);
                }
            }
            Ok((doc.to_string(), others))
        }
        Format::ClaudeHooks | Format::CodexHooks => {
            let mut doc = json::Doc::parse(text, false, what)?;
            let entry = matcher_hook_entry(agent, opts);
            set_matcher_hook(&mut doc, agent, matcher_event(agent), &entry, what)?;
            // Claude Code's switch for every hook: on, or nothing is judged.
            if format == Format::ClaudeHooks
                && doc.get(&["disableAllHooks"]).map(json::Node::to_value) == Some(json!(true))
            {
                doc.set(&["disableAllHooks"], &json!(false))?;
            }
            if format == Format::ClaudeHooks {
                match doc.get(&["permissions", "allow"]).map(json::Node::to_value) {
                    None => doc.set(&["permissions", "allow"], &json!([CLAUDE_ALLOW_RULE]))?,
                    Some(Value::Array(rules)) => {
                        if !rules.iter().any(|r| r.as_str() == Some(CLAUDE_ALLOW_RULE)) {
                            doc.push(&["permissions", "allow"], &json!(CLAUDE_ALLOW_RULE))?;
                        }
                    }
                    Some(_) => {
                        return Err(AgentError::Malformed {
                            what: what.to_owned(),
                            reason: "`permissions.allow` is not an array".into(),
                        });
                    }
                }
            }
            Ok((doc.text, Vec::new()))
        }
        Format::CursorHooks => {
            let mut doc = json::Doc::parse(text, true, what)?;
            if doc.get(&["version"]).is_none() {
                doc.set(&["version"], &json!(1))?;
            }
            let hook = shell_command(&opts.cordon, "hook cursor");
            // `failClosed`: Cursor lets the action through when a hook fails or times out
            // unless the entry says otherwise.
            let entry = json!({"command": hook, "failClosed": true});
            for event in CURSOR_HOOK_EVENTS {
                let items = match doc.get(&["hooks", event]).map(json::Node::to_value) {
                    None => {
                        doc.set(&["hooks", event], &json!([entry]))?;
                        continue;
                    }
                    Some(Value::Array(items)) => items,
                    Some(_) => {
                        return Err(AgentError::Malformed {
                            what: what.to_owned(),
                            reason: format!("`hooks.{event}` is not an array"),
                        });
                    }
                };
                let ours: Vec<usize> = items
                    .iter()
                    .enumerate()
                    .filter(|(_, i)| {
                        i.get("command")
                            .and_then(Value::as_str)
                            .is_some_and(|c| is_cordon_hook(c, agent))
                    })
                    .map(|(i, _)| i)
                    .collect();
                if ours.len() == 1 && ours.first().and_then(|i| items.get(*i)) == Some(&entry) {
                    continue;
                }
                for index in ours.into_iter().rev() {
                    doc.remove_item(&["hooks", event], index)?;
                }
                doc.push(&["hooks", event], &entry)?;
            }
            Ok((doc.text, Vec::new()))
        }
    }
}

fn hook_commands(hooks: Option<&Value>) -> Vec<&str> {
    hooks
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|h| h.get("command").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

/// Removes only Cordon's entries from a file's text (uninstall when the file changed since).
fn strip(agent: Agent, format: Format, text: &str, what: &str) -> Result<String, AgentError> {
    match format {
        Format::McpJson { key, comments, .. } => {
            let mut doc = json::Doc::parse(text, comments, what)?;
            let ours: Vec<String> = list_servers(format, text, what)?
                .into_iter()
                .filter(|s| is_cordon_entry(&s.spec, agent))
                .map(|s| s.name)
                .collect();
            for name in ours {
                doc.remove(&[key], &name)?;
            }
            Ok(doc.text)
        }
        Format::GeminiSettings => {
            let text = strip(agent, GEMINI_MCP, text, what)?;
            let mut doc = json::Doc::parse(&text, true, what)?;
            strip_matcher_hook(&mut doc, agent, matcher_event(agent))?;
            Ok(doc.text)
        }
        Format::McpToml => {
            let ours: Vec<String> = list_servers(format, text, what)?
                .into_iter()
                .filter(|s| is_cordon_entry(&s.spec, agent))
                .map(|s| s.name)
                .collect();
            if ours.is_empty() {
                return Ok(text.to_owned());
            }
            let mut doc = codex::parse(text, what)?;
            for name in ours {
                codex::remove_server(&mut doc, &name);
            }
            Ok(doc.to_string())
        }
        Format::ClaudeHooks | Format::CodexHooks => {
            let mut doc = json::Doc::parse(text, false, what)?;
            strip_matcher_hook(&mut doc, agent, matcher_event(agent))?;
            if format == Format::ClaudeHooks
                && let Some(Value::Array(rules)) =
                    doc.get(&["permissions", "allow"]).map(json::Node::to_value)
            {
                for (index, rule) in rules.iter().enumerate().rev() {
                    if rule.as_str() == Some(CLAUDE_ALLOW_RULE) {
                        doc.remove_item(&["permissions", "allow"], index)?;
                    }
                }
            }
            Ok(doc.text)
        }
        Format::CursorHooks => {
            let mut doc = json::Doc::parse(text, true, what)?;
            for event in CURSOR_HOOK_EVENTS {
                if let Some(Value::Array(items)) =
                    doc.get(&["hooks", event]).map(json::Node::to_value)
                {
                    for (index, item) in items.iter().enumerate().rev() {
                        let ours = item
                            .get("command")
                            .and_then(Value::as_str)
                            .is_some_and(|c| is_cordon_hook(c, agent));
                        if ours {
                            doc.remove_item(&["hooks", event], index)?;
                        }
                    }
                }
            }
            Ok(doc.text)
        }
    }
}

/// The files Cordon edits for `agent`, with their formats.
fn files(agent: Agent, bases: &Bases) -> Vec<(PathBuf, Format)> {
    let mut files = vec![(agent.mcp_config(bases), agent.mcp_format())];
    let hooks_format = match agent {
        Agent::ClaudeCode => Some(Format::ClaudeHooks),
        Agent::Codex => Some(Format::CodexHooks),
        Agent::Cursor => Some(Format::CursorHooks),
        // Gemini's hooks live in its MCP file (one format edits both).
        Agent::Gemini | Agent::Vscode | Agent::Windsurf => None,
    };
    if let (Some(hooks), Some(format)) = (agent.hooks_config(bases), hooks_format) {
        files.push((hooks, format));
    }
    files
}

/// Routes `agent` through Cordon (and sets up its native-tool hooks). Idempotent; refuses a
/// malformed file without touching any file.
pub fn install(agent: Agent, bases: &Bases, opts: &Options) -> Result<Report, AgentError> {
    let mut report = Report::default();
    let mut plans = Vec::new();
    for (path, format) in files(agent, bases) {
        let before = read_opt(&path)?;
        let what = path.display().to_string();
        let text = before.as_deref().map(|b| as_text(b, &path)).transpose()?;
        let (after, others) = transform(agent, format, text, opts, &what)?;
        if matches!(
            format,
            Format::McpJson { .. } | Format::McpToml | Format::GeminiSettings
        ) {
            if opts.import {
                let (moved, kept): (Vec<_>, Vec<_>) =
                    others.into_iter().partition(|s| is_enabled(&s.spec));
                report.imported = moved;
                report.ungoverned = Vec::new();
                if !kept.is_empty() {
                    report.notes.push(format!(
                        "left disabled server(s) in place: {}",
                        names(&kept)
                    ));
                }
            } else {
                report.ungoverned = others.into_iter().filter(|s| is_enabled(&s.spec)).collect();
            }
        }
        if Some(after.as_bytes()) != before.as_deref() {
            plans.push(FileChange {
                path,
                before,
                after: Some(after.into_bytes()),
            });
        }
    }
    if !report.imported.is_empty() {
        let (yaml, secrets) = import_yaml(&report.imported);
        report.import_yaml = Some(yaml);
        report.secrets = secrets;
    }
    if !opts.dry_run {
        for change in &plans {
            backup(change)?;
            write(&change.path, change.after.as_deref())?;
        }
    }
    report.changes = plans;
    Ok(report)
}

fn names(servers: &[Server]) -> String {
    servers
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Saves the original bytes once (the first install's original is the one to restore).
fn backup(change: &FileChange) -> Result<(), AgentError> {
    let backup = sidecar(&change.path, BACKUP_SUFFIX);
    let created = sidecar(&change.path, CREATED_SUFFIX);
    if backup.exists() || created.exists() {
        return Ok(());
    }
    if let Some(dir) = change.path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    match &change.before {
        Some(bytes) => write(&backup, Some(bytes)),
        None => write(&created, Some(b"")),
    }
}

/// Writes (atomically, keeping the permissions) or deletes a file.
fn write(path: &Path, bytes: Option<&[u8]>) -> Result<(), AgentError> {
    let Some(bytes) = bytes else {
        return match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(path)(e)),
            _ => Ok(()),
        };
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    // A unique temp name and fsyncs (`cordon-atomic`): an agent rewriting its own config at the
    // same moment never shares a temp file with us, and a power loss leaves old or new bytes.
    cordon_atomic::write(path, bytes, cordon_atomic::Permissions::KeepOrDefault)
        .map_err(|e| io(path)(e.source))
}

/// Takes `agent` out from under Cordon: restores each file's backup byte for byte, or, when the
/// file changed since install in other ways, removes only Cordon's entries (and says so).
pub fn uninstall(agent: Agent, bases: &Bases, opts: &Options) -> Result<Report, AgentError> {
    let mut report = Report::default();
    let mut plans = Vec::new();
    let mut cleanup = Vec::new();
    for (path, format) in files(agent, bases) {
        let what = path.display().to_string();
        let current = read_opt(&path)?;
        let backup_path = sidecar(&path, BACKUP_SUFFIX);
        let created_path = sidecar(&path, CREATED_SUFFIX);
        let original = read_opt(&backup_path)?;
        let created = created_path.exists();
        let Some(current_bytes) = current.clone() else {
            if original.is_some() || created {
                report.notes.push(format!(
                    "{what} no longer exists; {} kept",
                    if original.is_some() {
                        format!("its backup {} is", backup_path.display())
                    } else {
                        "nothing".to_owned()
                    }
                ));
            }
            continue;
        };
        let current_text = as_text(&current_bytes, &path)?;
        // What install would have produced from the original (with and without --import).
        let matches_install = |orig: Option<&str>| -> bool {
            [false, true].iter().any(|import| {
                let o = Options {
                    import: *import,
                    ..opts.clone()
                };
                transform(agent, format, orig, &o, &what)
                    .is_ok_and(|(text, _)| text == current_text)
            })
        };
        if let Some(orig) = &original {
            let orig_text = std::str::from_utf8(orig).ok();
            if orig_text.is_some() && matches_install(orig_text) {
                plans.push(FileChange {
                    path: path.clone(),
                    before: current,
                    after: Some(orig.clone()),
                });
                cleanup.push(backup_path);
                continue;
            }
        } else if created && matches_install(None) {
            plans.push(FileChange {
                path: path.clone(),
                before: current,
                after: None,
            });
            cleanup.push(created_path);
            continue;
        }
        let stripped = strip(agent, format, current_text, &what)?;
        if stripped != current_text {
            if original.is_some() {
                report.notes.push(format!(
                    "{what} changed since install: removed only Cordon's entry; the original is kept at {}",
                    backup_path.display()
                ));
            } else if created {
                report.notes.push(format!(
                    "{what} changed since Cordon created it: removed only Cordon's entry"
                ));
                cleanup.push(created_path);
            }
            plans.push(FileChange {
                path,
                before: current,
                after: Some(stripped.into_bytes()),
            });
        } else if created {
            cleanup.push(created_path);
        }
    }
    if !opts.dry_run {
        for change in &plans {
            write(&change.path, change.after.as_deref())?;
        }
        for path in &cleanup {
            write(path, None)?;
        }
    }
    report.changes = plans;
    Ok(report)
}

/// The agent's state: installed, governed, ungoverned servers, hooks, drift.
pub fn status(agent: Agent, bases: &Bases) -> Status {
    status_for(agent, bases, None)
}

/// [`status`], also reporting as drift a Cordon entry or hook that names a binary other than
/// `cordon` (the running one): after an upgrade or a move the agent would start a stale or
/// missing binary, or whichever `cordon` comes first on PATH.
pub fn status_for(agent: Agent, bases: &Bases, cordon: Option<&Path>) -> Status {
    let config = agent.mcp_config(bases);
    let installed = agent.markers(bases).iter().any(|p| p.exists())
        || bases
            .path
            .as_ref()
            .is_some_and(|path| on_path(path, agent.binary()));
    let mut problems = Vec::new();
    let onboarded = files(agent, bases)
        .iter()
        .any(|(p, _)| sidecar(p, BACKUP_SUFFIX).exists() || sidecar(p, CREATED_SUFFIX).exists());
    let what = config.display().to_string();
    let mut servers = Vec::new();
    match read_opt(&config) {
        Err(e) => problems.push(e.to_string()),
        Ok(None) => {}
        Ok(Some(bytes)) => match as_text(&bytes, &config)
            .and_then(|text| list_servers(agent.mcp_format(), text, &what).map(|s| (s, text)))
        {
            Err(e) => problems.push(e.to_string()),
            Ok((list, text)) => {
                servers = list;
                if agent == Agent::ClaudeCode {
                    servers.extend(claude_project_servers(text));
                }
            }
        },
    }
    let routes = servers.iter().any(|s| is_cordon_entry(&s.spec, agent));
    let ungoverned: Vec<String> = servers
        .iter()
        .filter(|s| !is_cordon_entry(&s.spec, agent) && is_enabled(&s.spec))
        .map(|s| s.name.clone())
        .collect();
    let hooks = agent
        .hooks_config(bases)
        .map(|path| hooks_present(agent, &path));
    let cordon_entry = servers.iter().find(|s| is_cordon_entry(&s.spec, agent));
    if routes || onboarded {
        problems.extend(fail_closed_drift(agent, bases, cordon_entry, cordon));
    }
    if onboarded && !routes {
        problems.push("drift: the configuration no longer routes through Cordon".to_owned());
    }
    if (onboarded || routes) && !ungoverned.is_empty() {
        problems.push(format!(
            "drift: MCP server(s) bypass Cordon: {} (`cordon agents install {} --import` moves them under Cordon)",
            ungoverned.join(", "),
            agent.name()
        ));
    }
    if (onboarded || routes) && hooks == Some(false) {
        problems.push("drift: Cordon's native-tool hooks are no longer set up".to_owned());
    }
    Status {
        agent,
        installed,
        config,
        routes_through_cordon: routes,
        governed: routes && ungoverned.is_empty(),
        ungoverned,
        hooks,
        onboarded,
        problems,
        fail_open: agent.fail_open(),
    }
}

/// Claude Code's local-scope servers (`projects.<path>.mcpServers` in `~/.claude.json`).
fn claude_project_servers(text: &str) -> Vec<Server> {
    let Ok(doc) = json::Doc::parse(text, false, "~/.claude.json") else {
        return Vec::new();
    };
    let Some(Value::Object(projects)) = doc.get(&["projects"]).map(json::Node::to_value) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (project, value) in projects {
        if let Some(Value::Object(servers)) = value.get("mcpServers") {
            for (name, spec) in servers {
                out.push(Server {
                    name: format!("{name} (project {project})"),
                    spec: spec.clone(),
                });
            }
        }
    }
    out
}

/// Reads a JSON(C) file as a value (None: absent or unreadable).
fn read_json(path: &Path) -> Option<Value> {
    let bytes = read_opt(path).ok()??;
    let text = std::str::from_utf8(&bytes).ok()?;
    json::Doc::parse(text, true, "hooks")
        .ok()
        .map(|doc| doc.root.to_value())
}

/// Cordon's hook entries (`{matcher, hooks}` items) for `agent` under `hooks.<event>`.
fn matcher_hooks(doc: &Value, agent: Agent, event: &str) -> Vec<Value> {
    doc.pointer(&format!("/hooks/{event}"))
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter(|item| {
                    hook_commands(item.get("hooks"))
                        .iter()
                        .any(|c| is_cordon_hook(c, agent))
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// Cursor's Cordon entries under `hooks.<event>`.
fn cursor_hooks(doc: &Value, agent: Agent, event: &str) -> Vec<Value> {
    doc.pointer(&format!("/hooks/{event}"))
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter(|i| {
                    i.get("command")
                        .and_then(Value::as_str)
                        .is_some_and(|c| is_cordon_hook(c, agent))
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

fn hooks_present(agent: Agent, path: &Path) -> bool {
    let Some(doc) = read_json(path) else {
        return false;
    };
    match agent {
        Agent::Cursor => CURSOR_HOOK_EVENTS
            .iter()
            .all(|event| !cursor_hooks(&doc, agent, event).is_empty()),
        _ => !matcher_hooks(&doc, agent, matcher_event(agent)).is_empty(),
    }
}

/// The program of a hook command line written by [`shell_command`].
fn hook_program(command: &str, agent: Agent) -> String {
    let program = command
        .strip_suffix(&format!(" hook {}", agent.name()))
        .unwrap_or(command)
        .trim();
    match program
        .strip_prefix('\'')
        .and_then(|p| p.strip_suffix('\''))
    {
        Some(quoted) => quoted.replace("'\\''", "'"),
        None => program.to_owned(),
    }
}

/// Why `program` (as an entry or hook names it) is not the Cordon binary to run, if it is not.
fn stale_binary(program: &str, cordon: Option<&Path>) -> Option<String> {
    let path = Path::new(program);
    if !path.is_absolute() {
        return Some(format!(
            "`{program}` is not an absolute path: the agent would run whichever `cordon` comes first on PATH"
        ));
    }
    if !path.is_file() {
        return Some(format!("`{program}` does not exist"));
    }
    let current = cordon?;
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    (!same(path, current)).then(|| {
        format!(
            "`{program}` is not this Cordon ({}); run `cordon agents install {{agent}}` again",
            current.display()
        )
    })
}

/// The fail-closed settings Cordon installs that are missing now, and stale binary paths.
fn fail_closed_drift(
    agent: Agent,
    bases: &Bases,
    entry: Option<&Server>,
    cordon: Option<&Path>,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut programs: Vec<String> = Vec::new();
    if let Some(command) = entry
        .and_then(|e| e.spec.get("command"))
        .and_then(Value::as_str)
    {
        programs.push(command.to_owned());
    }
    let hooks = agent.hooks_config(bases).and_then(|p| read_json(&p));
    let all_tools = |m: Option<&str>| matches!(m, None | Some("*" | "" | ".*"));
    match agent {
        Agent::ClaudeCode | Agent::Codex | Agent::Gemini => {
            let event = matcher_event(agent);
            let items = hooks
                .as_ref()
                .map(|d| matcher_hooks(d, agent, event))
                .unwrap_or_default();
            for item in &items {
                let matcher = item.get("matcher").and_then(Value::as_str);
                if !all_tools(matcher) {
                    out.push(format!(
                        "drift: the {event} hook's matcher `{}` does not cover every tool (install sets `*`)",
                        matcher.unwrap_or_default()
                    ));
                }
                for hook in item
                    .get("hooks")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let Some(command) = hook.get("command").and_then(Value::as_str) else {
                        continue;
                    };
                    if !is_cordon_hook(command, agent) {
                        continue;
                    }
                    programs.push(hook_program(command, agent));
                    let timeout = hook.get("timeout").and_then(Value::as_u64);
                    let wanted = if agent == Agent::Gemini {
                        GEMINI_HOOK_TIMEOUT_MS
                    } else {
                        CLAUDE_HOOK_TIMEOUT_SECS
                    };
                    if timeout.is_some_and(|t| t < wanted) {
                        out.push(format!(
                            "drift: the hook's timeout ({}) is shorter than an approval can take ({wanted}): a hook killed by its timeout lets the call through",
                            timeout.unwrap_or_default()
                        ));
                    }
                    if agent == Agent::ClaudeCode
                        && hook.get("onFailure").and_then(Value::as_str) != Some("block")
                    {
                        out.push("drift: the hook lost `onFailure: \"block\"`: a crashed or timed-out hook would let the call through".to_owned());
                    }
                }
            }
            if agent == Agent::ClaudeCode
                && hooks
                    .as_ref()
                    .and_then(|d| d.get("disableAllHooks"))
                    .and_then(Value::as_bool)
                    == Some(true)
            {
                out.push("drift: `disableAllHooks` is true: Claude Code runs no hook, its native tools go unjudged".to_owned());
            }
            if agent == Agent::ClaudeCode {
                let allowed = hooks
                    .as_ref()
                    .and_then(|d| d.pointer("/permissions/allow"))
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.iter().any(|r| r.as_str() == Some(CLAUDE_ALLOW_RULE)));
                if !allowed {
                    out.push(format!(
                        "drift: `permissions.allow` lacks `{CLAUDE_ALLOW_RULE}`: Claude Code asks (or, headless, refuses) before Cordon sees its tools"
                    ));
                }
            }
            if agent == Agent::Gemini {
                if entry
                    .and_then(|e| e.spec.get("trust"))
                    .and_then(Value::as_bool)
                    != Some(true)
                {
                    out.push("drift: Cordon's server entry lost `\"trust\": true`: headless runs hide Cordon's tools".to_owned());
                }
                if hooks
                    .as_ref()
                    .and_then(|d| d.pointer("/hooksConfig/enabled"))
                    .and_then(Value::as_bool)
                    == Some(false)
                {
                    out.push("drift: `hooksConfig.enabled` is false: the Gemini CLI runs no hook, its native tools go unjudged".to_owned());
                }
            }
            if agent == Agent::Codex
                && let Some(spec) = entry.map(|e| &e.spec)
            {
                let passes = spec
                    .get("env_vars")
                    .and_then(Value::as_array)
                    .is_some_and(|v| {
                        CODEX_ENV_VARS
                            .iter()
                            .all(|w| v.iter().any(|x| x.as_str() == Some(w)))
                    });
                if !passes {
                    out.push("drift: Cordon's server entry lost `env_vars = [\"CORDON_CONFIG\"]`: a non-default Cordon config is not passed to `cordon mcp`".to_owned());
                }
                if spec
                    .get("default_tools_approval_mode")
                    .and_then(Value::as_str)
                    != Some(codex::APPROVAL_MODE)
                {
                    out.push("drift: Cordon's server entry lost `default_tools_approval_mode = \"approve\"`: Codex refuses or prompts before Cordon judges".to_owned());
                }
            }
        }
        Agent::Cursor => {
            for event in CURSOR_HOOK_EVENTS {
                let items = hooks
                    .as_ref()
                    .map(|d| cursor_hooks(d, agent, event))
                    .unwrap_or_default();
                for item in &items {
                    if let Some(command) = item.get("command").and_then(Value::as_str) {
                        programs.push(hook_program(command, agent));
                    }
                    if item.get("failClosed").and_then(Value::as_bool) != Some(true) {
                        out.push(format!(
                            "drift: the {event} hook lost `failClosed: true`: Cursor lets the action through when the hook fails"
                        ));
                    }
                }
            }
        }
        Agent::Vscode | Agent::Windsurf => {}
    }
    programs.sort();
    programs.dedup();
    for program in programs {
        if let Some(why) = stale_binary(&program, cordon) {
            out.push(format!(
                "drift: stale Cordon path: {}",
                why.replace("{agent}", agent.name())
            ));
        }
    }
    out
}

fn on_path(path: &OsString, binary: &str) -> bool {
    std::env::split_paths(path)
        .any(|dir| dir.join(binary).is_file() || dir.join(format!("{binary}.exe")).is_file())
}

/// A Cordon server name (`[a-z0-9-]+`) for an agent's server name.
fn cordon_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_owned();
    if out.is_empty() {
        "server".to_owned()
    } else {
        out
    }
}

fn yaml_str(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// The `servers:` YAML snippet for Cordon's config, and the secrets to move to the keychain.
fn import_yaml(servers: &[Server]) -> (String, Vec<(String, String, String)>) {
    let mut out = String::from("servers:\n");
    let mut secrets = Vec::new();
    let mut used: Vec<String> = Vec::new();
    for server in servers {
        let mut name = cordon_name(&server.name);
        let mut n = 2;
        while used.contains(&name) {
            name = format!("{}-{n}", cordon_name(&server.name));
            n += 1;
        }
        used.push(name.clone());
        let spec = &server.spec;
        out.push_str(&format!("  {name}:\n"));
        let url = ["url", "serverUrl", "httpUrl"]
            .iter()
            .find_map(|k| spec.get(*k).and_then(Value::as_str));
        if let Some(url) = url {
            out.push_str(&format!("    url: {}\n", yaml_str(url)));
        } else if let Some(command) = spec.get("command").and_then(Value::as_str) {
            out.push_str(&format!("    command: {}\n", yaml_str(command)));
            if let Some(args) = spec.get("args").and_then(Value::as_array) {
                let args: Vec<String> = args
                    .iter()
                    .map(|a| a.as_str().map_or_else(|| a.to_string(), yaml_str))
                    .collect();
                out.push_str(&format!("    args: [{}]\n", args.join(", ")));
            }
            if let Some(cwd) = spec.get("cwd").and_then(Value::as_str) {
                out.push_str(&format!("    cwd: {}\n", yaml_str(cwd)));
            }
        } else {
            out.push_str("    # no command or url found: fill this entry in by hand\n");
        }
        for (section, key) in [
            ("env", "env"),
            ("headers", "headers"),
            ("headers", "http_headers"),
        ] {
            let Some(map) = spec.get(key).and_then(Value::as_object) else {
                continue;
            };
            if map.is_empty() {
                continue;
            }
            out.push_str(&format!("    {section}:\n"));
            for (var, value) in map {
                let text = value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned);
                if cordon_secrets::looks_secret(var, &text) {
                    let secret = format!("{name}-{}", cordon_name(var));
                    out.push_str(&format!(
                        "      {}: \"${{keychain:{secret}}}\"   # run: cordon secret set {secret}\n",
                        yaml_str(var)
                    ));
                    secrets.push((server.name.clone(), var.clone(), secret));
                } else {
                    out.push_str(&format!("      {}: {}\n", yaml_str(var), yaml_str(&text)));
                }
            }
        }
    }
    (out, secrets)
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

    #[test]
    fn cordon_entries_and_hooks_are_recognised() {
        let spec = json!({"command": "/opt/bin/cordon", "args": ["mcp", "--agent", "cursor"]});
        assert!(is_cordon_entry(&spec, Agent::Cursor));
        assert!(!is_cordon_entry(&spec, Agent::Codex));
        assert!(!is_cordon_entry(
            &json!({"command": "/opt/bin/not-cordon", "args": ["mcp", "--agent", "cursor"]}),
            Agent::Cursor
        ));
        assert!(is_cordon_hook("/x/cordon hook cursor", Agent::Cursor));
        assert!(is_cordon_hook(
            "'/my dir/cordon' hook claude-code",
            Agent::ClaudeCode
        ));
        assert!(!is_cordon_hook("/x/evil hook cursor", Agent::Cursor));
        assert_eq!(
            shell_command(Path::new("/my dir/cordon"), "hook cursor"),
            "'/my dir/cordon' hook cursor"
        );
    }

    #[test]
    fn server_names_become_cordon_names() {
        assert_eq!(cordon_name("My Server_1"), "my-server-1");
        assert_eq!(cordon_name("!!!"), "server");
    }
}
