//! Codex CLI's `config.toml`, edited with `toml_edit` so comments and layout stay.
//!
//! Format followed: Codex's config reference (github.com/openai/codex `docs/config.md`, "MCP
//! servers"; developers.openai.com/codex/mcp): each stdio server is a `[mcp_servers.NAME]` table
//! with `command`, optional `args` (array of strings) and `env` (table); remote servers use `url`.

use serde_json::{Map, Value};
use toml_edit::{Array, DocumentMut, Item, Table};

use crate::AgentError;

const KEY: &str = "mcp_servers";
/// Codex's per-server approval mode that leaves every decision to Cordon.
pub(crate) const APPROVAL_MODE: &str = "approve";

/// Parses the file (empty text is an empty document).
pub(crate) fn parse(text: &str, what: &str) -> Result<DocumentMut, AgentError> {
    text.parse::<DocumentMut>()
        .map_err(|e| AgentError::Malformed {
            what: what.to_owned(),
            reason: e.to_string().trim().to_owned(),
        })
}

/// The configured servers as JSON values (`{command, args, env}` / `{url}`).
pub(crate) fn servers(doc: &DocumentMut, what: &str) -> Result<Vec<(String, Value)>, AgentError> {
    let Some(item) = doc.as_table().get(KEY) else {
        return Ok(Vec::new());
    };
    let Some(table) = item.as_table_like() else {
        return Err(AgentError::Malformed {
            what: what.to_owned(),
            reason: format!("`{KEY}` is not a table"),
        });
    };
    Ok(table
        .iter()
        .map(|(name, item)| (name.to_owned(), item_to_json(item)))
        .collect())
}

/// Sets `[mcp_servers.NAME]` to `{command, args, env_vars, default_tools_approval_mode}`;
/// false when it already was exactly that.
///
/// - `env_vars = ["CORDON_CONFIG"]`: Codex starts MCP servers with a scrubbed environment, so
///   the variable naming Cordon's config must be passed through by name.
/// - `default_tools_approval_mode = "approve"`: Codex would otherwise refuse (in `exec`) or
///   prompt for every tool not annotated read-only; Cordon judges each call itself.
pub(crate) fn set_server(
    doc: &mut DocumentMut,
    name: &str,
    command: &str,
    args: &[&str],
    what: &str,
) -> Result<bool, AgentError> {
    let env_vars = crate::CODEX_ENV_VARS;
    let wanted = serde_json::json!({
        "command": command,
        "args": args,
        "env_vars": env_vars,
        "default_tools_approval_mode": APPROVAL_MODE,
    });
    let root = doc.as_table_mut();
    if !root.contains_key(KEY) {
        let mut table = Table::new();
        table.set_implicit(true);
        root.insert(KEY, Item::Table(table));
    }
    let malformed = || AgentError::Malformed {
        what: what.to_owned(),
        reason: format!("`{KEY}` is not a table"),
    };
    let inline = root.get(KEY).is_some_and(Item::is_inline_table);
    let servers = root
        .get_mut(KEY)
        .and_then(Item::as_table_like_mut)
        .ok_or_else(malformed)?;
    if servers.get(name).map(item_to_json) == Some(wanted) {
        return Ok(false);
    }
    let array: Array = args.iter().copied().collect();
    let vars: Array = env_vars.iter().copied().collect();
    if inline {
        let mut entry = toml_edit::InlineTable::new();
        entry.insert("command", command.into());
        entry.insert("args", toml_edit::Value::Array(array));
        entry.insert("env_vars", toml_edit::Value::Array(vars));
        entry.insert("default_tools_approval_mode", APPROVAL_MODE.into());
        servers.insert(name, Item::Value(toml_edit::Value::InlineTable(entry)));
    } else {
        let mut entry = Table::new();
        entry.insert("command", toml_edit::value(command));
        entry.insert("args", toml_edit::value(array));
        entry.insert("env_vars", toml_edit::value(vars));
        entry.insert(
            "default_tools_approval_mode",
            toml_edit::value(APPROVAL_MODE),
        );
        servers.insert(name, Item::Table(entry));
    }
    Ok(true)
}

/// Removes `[mcp_servers.NAME]`; false when absent.
pub(crate) fn remove_server(doc: &mut DocumentMut, name: &str) -> bool {
    doc.as_table_mut()
        .get_mut(KEY)
        .and_then(Item::as_table_like_mut)
        .and_then(|t| t.remove(name))
        .is_some()
}

fn item_to_json(item: &Item) -> Value {
    match item {
        Item::None => Value::Null,
        Item::Value(v) => value_to_json(v),
        Item::Table(t) => {
            let mut map = Map::new();
            for (k, v) in t.iter() {
                map.insert(k.to_owned(), item_to_json(v));
            }
            Value::Object(map)
        }
        Item::ArrayOfTables(a) => Value::Array(
            a.iter()
                .map(|t| item_to_json(&Item::Table(t.clone())))
                .collect(),
        ),
    }
}

fn value_to_json(v: &toml_edit::Value) -> Value {
    use toml_edit::Value as V;
    match v {
        V::String(s) => Value::String(s.value().clone()),
        V::Integer(i) => Value::from(*i.value()),
        V::Float(f) => serde_json::Number::from_f64(*f.value()).map_or(Value::Null, Value::Number),
        V::Boolean(b) => Value::Bool(*b.value()),
        V::Datetime(d) => Value::String(d.value().to_string()),
        V::Array(a) => Value::Array(a.iter().map(value_to_json).collect()),
        V::InlineTable(t) => {
            let mut map = Map::new();
            for (k, v) in t.iter() {
                map.insert(k.to_owned(), value_to_json(v));
            }
            Value::Object(map)
        }
    }
}
