//! The edits themselves: Cordon's server entry and hooks put into (`transform`) or taken out of
//! (`strip`) one file's text, each format edited in place so everything else stays as it was.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::{
    AgentError, CLAUDE_ALLOW_RULE, CLAUDE_HOOK_TIMEOUT_SECS, CURSOR_HOOK_EVENTS, ENTRY_NAME,
    HOOK_MATCHER_ALL, Server,
    agent::{Agent, Bases, Format, GEMINI_HOOK_TIMEOUT_MS, GEMINI_MCP},
    codex,
    entry::{
        entry_args, hook_commands, is_cordon_entry, is_cordon_hook, is_enabled, list_servers,
        shell_command,
    },
    json,
    onboard::Options,
};

/// Cordon's `{matcher, hooks: [...]}` entry for `event` of a Claude-style hooks file.
pub(crate) fn matcher_hook_entry(agent: Agent, opts: &Options) -> Value {
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
pub(crate) fn matcher_event(agent: Agent) -> &'static str {
    if agent == Agent::Gemini {
        "BeforeTool"
    } else {
        "PreToolUse"
    }
}

/// Makes `hooks.<event>` hold exactly one Cordon entry, `entry` (stale Cordon entries, e.g. an
/// old matcher or binary path, are replaced); other entries stay as they are.
pub(crate) fn set_matcher_hook(
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
pub(crate) fn strip_matcher_hook(
    doc: &mut json::Doc,
    agent: Agent,
    event: &str,
) -> Result<(), AgentError> {
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
pub(crate) fn transform_mcp_json(
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
pub(crate) fn transform(
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

/// Removes only Cordon's entries from a file's text (uninstall when the file changed since).
pub(crate) fn strip(
    agent: Agent,
    format: Format,
    text: &str,
    what: &str,
) -> Result<String, AgentError> {
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
pub(crate) fn files(agent: Agent, bases: &Bases) -> Vec<(PathBuf, Format)> {
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
