//! `--import`: the agent's other MCP servers as upstreams for Cordon's config (its `servers:`
//! section), credential-looking values replaced by `${keychain:NAME}` references.
//!
//! The snippet is serialised from typed structs that mirror the gateway's `servers:` entries
//! (`command`, `args`, `cwd`, `env`, `url`, `headers`), so quoting and escaping are the YAML
//! library's, never hand-made: a server name, path or value with quotes, colons or newlines
//! cannot break out of its field.

use serde::{Serialize, Serializer, ser::SerializeMap};
use serde_json::Value;

use crate::{AgentError, Server};

/// What `--import` prints for Cordon's config.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Imported {
    /// The `servers:` YAML.
    pub yaml: String,
    /// Secret-looking values: `(server, variable, keychain name)`.
    pub secrets: Vec<(String, String, String)>,
    /// Servers with neither `command` nor `url`: their entries must be filled in by hand.
    pub incomplete: Vec<String>,
}

/// Cordon's config as far as the import fills it in.
#[derive(Serialize)]
struct Snippet {
    servers: Ordered<Upstream>,
}

/// One `servers:` entry (the gateway's `RawServer`, in the agent's key order).
#[derive(Serialize, Default)]
struct Upstream {
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    args: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cwd: Option<String>,
    #[serde(skip_serializing_if = "Ordered::is_empty")]
    env: Ordered<String>,
    #[serde(skip_serializing_if = "Ordered::is_empty")]
    headers: Ordered<String>,
}

/// A map that keeps insertion order (the agent's order of servers and variables).
struct Ordered<V>(Vec<(String, V)>);

impl<V> Default for Ordered<V> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<V> Ordered<V> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn contains(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }
}

impl<V: Serialize> Serialize for Ordered<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A JSON value as config text: a string as is, anything else as its JSON.
fn text_of(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

/// The `servers:` YAML snippet for Cordon's config, and the secrets to move to the keychain.
pub(crate) fn import_yaml(servers: &[Server]) -> Result<Imported, AgentError> {
    let mut entries = Ordered::default();
    let mut secrets = Vec::new();
    let mut incomplete = Vec::new();
    for server in servers {
        let mut name = cordon_name(&server.name);
        let mut n = 2;
        while entries.contains(&name) {
            name = format!("{}-{n}", cordon_name(&server.name));
            n += 1;
        }
        let spec = &server.spec;
        let mut entry = Upstream::default();
        let url = ["url", "serverUrl", "httpUrl"]
            .iter()
            .find_map(|k| spec.get(*k).and_then(Value::as_str));
        if let Some(url) = url {
            entry.url = Some(url.to_owned());
        } else if let Some(command) = spec.get("command").and_then(Value::as_str) {
            entry.command = Some(command.to_owned());
            if let Some(args) = spec.get("args").and_then(Value::as_array) {
                entry.args = args.iter().map(text_of).collect();
            }
            entry.cwd = spec.get("cwd").and_then(Value::as_str).map(str::to_owned);
        } else {
            incomplete.push(name.clone());
        }
        // Claude-style `headers` and Codex's `http_headers` both become `headers` (the first
        // occurrence of a name wins).
        for (key, is_env) in [("env", true), ("headers", false), ("http_headers", false)] {
            let Some(map) = spec.get(key).and_then(Value::as_object) else {
                continue;
            };
            let section = if is_env {
                &mut entry.env
            } else {
                &mut entry.headers
            };
            for (var, value) in map {
                if section.contains(var) {
                    continue;
                }
                let text = text_of(value);
                if cordon_secrets::looks_secret(var, &text) {
                    let secret = format!("{name}-{}", cordon_name(var));
                    section
                        .0
                        .push((var.clone(), format!("${{keychain:{secret}}}")));
                    secrets.push((server.name.clone(), var.clone(), secret));
                } else {
                    section.0.push((var.clone(), text));
                }
            }
        }
        entries.0.push((name, entry));
    }
    let yaml = yaml_serde::to_string(&Snippet { servers: entries })
        .map_err(|e| AgentError::Internal(format!("cannot write the import as YAML: {e}")))?;
    Ok(Imported {
        yaml,
        secrets,
        incomplete,
    })
}

/// A Cordon server name (`[a-z0-9-]+`) for an agent's server name.
pub(crate) fn cordon_name(name: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_names_become_cordon_names() {
        assert_eq!(cordon_name("My Server_1"), "my-server-1");
        assert_eq!(cordon_name("!!!"), "server");
    }

    fn server(name: &str, spec: Value) -> Server {
        Server {
            name: name.to_owned(),
            spec,
        }
    }

    #[test]
    fn hostile_names_and_values_stay_inside_their_fields() {
        let imported = import_yaml(&[
            server(
                "a\"b: c\nservers:",
                json!({"command": "x\n  evil: 1", "args": ["--a: b", 3, "'q'"],
                       "env": {"K: V\nX": "line\nbreak", "LOG": "a #comment"}}),
            ),
            server("a b", json!({"url": "https://h/?a=1#frag"})),
        ])
        .unwrap();
        let parsed: Value = yaml_serde::from_str(&imported.yaml).unwrap();
        assert_eq!(
            parsed,
            json!({"servers": {
                "a-b-c-servers": {"command": "x\n  evil: 1", "args": ["--a: b", "3", "'q'"],
                                  "env": {"K: V\nX": "line\nbreak", "LOG": "a #comment"}},
                "a-b": {"url": "https://h/?a=1#frag"},
            }})
        );
        assert!(imported.secrets.is_empty() && imported.incomplete.is_empty());
    }

    #[test]
    fn duplicate_names_headers_and_incomplete_entries() {
        let imported = import_yaml(&[
            server(
                "Srv",
                json!({"url": "https://a", "headers": {"X-Api-Key": "k"},
                                 "http_headers": {"X-Api-Key": "other", "Accept": "json"}}),
            ),
            server("srv", json!({"type": "sse"})),
        ])
        .unwrap();
        let parsed: Value = yaml_serde::from_str(&imported.yaml).unwrap();
        assert_eq!(
            parsed,
            json!({"servers": {
                "srv": {"url": "https://a",
                        "headers": {"X-Api-Key": "${keychain:srv-x-api-key}", "Accept": "json"}},
                "srv-2": {},
            }})
        );
        assert_eq!(
            imported.secrets,
            [(
                "Srv".to_owned(),
                "X-Api-Key".to_owned(),
                "srv-x-api-key".to_owned()
            )]
        );
        assert_eq!(imported.incomplete, ["srv-2"]);
    }
}
