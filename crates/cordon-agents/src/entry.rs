//! Recognising Cordon in an agent's files: its server entry (`cordon mcp --agent NAME`), its
//! hook command lines, and the other servers a file lists.

use std::path::Path;

use serde_json::Value;

use crate::{
    AgentError, Server,
    agent::{Agent, Format, GEMINI_MCP},
    codex, json,
};

/// The args of Cordon's entry for `agent`.
pub(crate) fn entry_args(agent: Agent) -> [&'static str; 3] {
    ["mcp", "--agent", agent.name()]
}

/// Whether a server entry launches `cordon mcp --agent NAME` for this agent.
pub(crate) fn is_cordon_entry(spec: &Value, agent: Agent) -> bool {
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
pub(crate) fn is_enabled(spec: &Value) -> bool {
    spec.get("disabled").and_then(Value::as_bool) != Some(true)
        && spec.get("enabled").and_then(Value::as_bool) != Some(false)
}

/// A command line for a hook: the binary path, shell-quoted when needed, and its arguments.
pub(crate) fn shell_command(cordon: &Path, rest: &str) -> String {
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
pub(crate) fn is_cordon_hook(command: &str, agent: Agent) -> bool {
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
pub(crate) fn list_servers(
    format: Format,
    text: &str,
    what: &str,
) -> Result<Vec<Server>, AgentError> {
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

pub(crate) fn hook_commands(hooks: Option<&Value>) -> Vec<&str> {
    hooks
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|h| h.get("command").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
