//! `cordon agents list`: whether each agent is installed, routed through Cordon and governed,
//! and the drift that would let it bypass Cordon or fail open (missing fail-closed settings,
//! stale binary paths, servers added beside Cordon).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::{
    BACKUP_SUFFIX, CLAUDE_ALLOW_RULE, CLAUDE_HOOK_TIMEOUT_SECS, CODEX_ENV_VARS, CREATED_SUFFIX,
    CURSOR_HOOK_EVENTS, Server,
    agent::{Agent, Bases, GEMINI_HOOK_TIMEOUT_MS},
    codex,
    edit::{files, matcher_event},
    entry::{hook_commands, is_cordon_entry, is_cordon_hook, is_enabled, list_servers},
    json,
    onboard::{as_text, read_opt, sidecar},
};

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
pub(crate) fn claude_project_servers(text: &str) -> Vec<Server> {
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
pub(crate) fn read_json(path: &Path) -> Option<Value> {
    let bytes = read_opt(path).ok()??;
    let text = std::str::from_utf8(&bytes).ok()?;
    json::Doc::parse(text, true, "hooks")
        .ok()
        .map(|doc| doc.root.to_value())
}

/// Cordon's hook entries (`{matcher, hooks}` items) for `agent` under `hooks.<event>`.
pub(crate) fn matcher_hooks(doc: &Value, agent: Agent, event: &str) -> Vec<Value> {
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
pub(crate) fn cursor_hooks(doc: &Value, agent: Agent, event: &str) -> Vec<Value> {
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

pub(crate) fn hooks_present(agent: Agent, path: &Path) -> bool {
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
pub(crate) fn hook_program(command: &str, agent: Agent) -> String {
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
pub(crate) fn stale_binary(program: &str, cordon: Option<&Path>) -> Option<String> {
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
pub(crate) fn fail_closed_drift(
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

pub(crate) fn on_path(path: &OsString, binary: &str) -> bool {
    std::env::split_paths(path)
        .any(|dir| dir.join(binary).is_file() || dir.join(format!("{binary}.exe")).is_file())
}
