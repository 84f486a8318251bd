//! Credentials in the gateway: `${keychain:NAME}` references resolved when the engine starts,
//! for each server alone, and the one [`Redactor`] built from every secret in use.
//!
//! A server whose references cannot be resolved (a missing secret, no keychain) never starts:
//! it is marked down with an error naming the secret, and the other servers run normally.

use std::collections::BTreeMap;

use cordon_secrets::{Expander, Redactor, Secret, SecretError, SecretSource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::ServerSpec;

/// The servers ready to start (with secrets expanded), those that must not start, and the
/// redactor of every secret handed to an upstream.
pub struct ResolvedServers {
    /// Servers to start, with their references replaced by the secret values.
    pub specs: BTreeMap<String, ServerSpec>,
    /// Servers that must not start, with the reason (naming the secret, never its value).
    pub failed: BTreeMap<String, String>,
    /// Redacts every secret any started server received.
    pub redactor: Redactor,
}

/// Whether any configured value references the keychain (so the keychain is opened only when
/// needed: a config without references runs on machines without a keyring).
pub fn has_references(servers: &BTreeMap<String, ServerSpec>) -> bool {
    let refers = |text: &str| cordon_secrets::references(text).map_or(true, |r| !r.is_empty());
    servers.values().any(|spec| match spec {
        ServerSpec::Stdio { args, env, .. } => {
            args.iter().any(|a| refers(a)) || env.values().any(|v| refers(v))
        }
        ServerSpec::Remote { headers, .. } => headers.values().any(|v| refers(v)),
    })
}

/// Resolves every server's references from the keychain service `service`.
pub fn resolve_servers(servers: &BTreeMap<String, ServerSpec>, service: &str) -> ResolvedServers {
    if !has_references(servers) {
        return resolve_with(servers, Ok(&BTreeMap::new()));
    }
    match cordon_secrets::SecretStore::new(service) {
        Ok(store) => resolve_with(servers, Ok(&store)),
        Err(error) => resolve_with(servers, Err(error)),
    }
}

/// Resolves with a given secret source (or the error opening it, which stops every server that
/// references a secret).
pub fn resolve_with(
    servers: &BTreeMap<String, ServerSpec>,
    source: Result<&dyn SecretSource, SecretError>,
) -> ResolvedServers {
    let mut specs = BTreeMap::new();
    let mut failed = BTreeMap::new();
    let mut secrets: Vec<Secret> = Vec::new();
    for (name, spec) in servers {
        let resolved = match &source {
            Ok(source) => resolve_one(spec, *source),
            Err(error) if has_references(&BTreeMap::from([(name.clone(), spec.clone())])) => {
                Err(error.to_string())
            }
            Err(_) => Ok((spec.clone(), Vec::new())),
        };
        match resolved {
            Ok((spec, used)) => {
                specs.insert(name.clone(), spec);
                secrets.extend(used);
            }
            Err(reason) => {
                tracing::error!(server = %name, "not starting: {reason}");
                failed.insert(name.clone(), format!("not started: {reason}"));
            }
        }
    }
    let redactor = match Redactor::new(&secrets) {
        Ok(redactor) => redactor,
        Err(error) => {
            // Unreachable (each server's secrets built a redactor); fail closed anyway: start
            // no server that received a secret.
            let reason = format!("not started: {error}");
            let with: Vec<String> = specs
                .iter()
                .filter(|(name, _)| has_references(&servers_named(servers, name)))
                .map(|(name, _)| name.clone())
                .collect();
            for name in with {
                specs.remove(&name);
                failed.insert(name, reason.clone());
            }
            Redactor::empty()
        }
    };
    ResolvedServers {
        specs,
        failed,
        redactor,
    }
}

fn servers_named(
    servers: &BTreeMap<String, ServerSpec>,
    name: &str,
) -> BTreeMap<String, ServerSpec> {
    servers
        .get(name)
        .map(|spec| BTreeMap::from([(name.to_owned(), spec.clone())]))
        .unwrap_or_default()
}

/// Expands one server's args, env and headers; its secrets must also build a redactor (a value
/// too short to redact safely stops the server).
fn resolve_one(
    spec: &ServerSpec,
    source: &dyn SecretSource,
) -> Result<(ServerSpec, Vec<Secret>), String> {
    let mut expander = Expander::new(source);
    let spec = match spec {
        ServerSpec::Stdio {
            command,
            args,
            env,
            cwd,
        } => ServerSpec::Stdio {
            command: command.clone(),
            args: expander.expand_list(args).map_err(|e| e.to_string())?,
            env: expander.expand_map(env).map_err(|e| e.to_string())?,
            cwd: cwd.clone(),
        },
        ServerSpec::Remote { url, headers } => ServerSpec::Remote {
            url: url.clone(),
            headers: expander.expand_map(headers).map_err(|e| e.to_string())?,
        },
    };
    let secrets = expander.into_secrets();
    Redactor::new(&secrets).map_err(|e| e.to_string())?;
    Ok((spec, secrets))
}

/// A redacted copy of any serializable MCP message (tool results, tool lists, resources,
/// prompts): every string in it is redacted. Err when the redacted value no longer parses as
/// `T` (the caller refuses rather than passing the original on).
pub fn redact_message<T: Serialize + DeserializeOwned>(
    redactor: &Redactor,
    message: T,
) -> Result<T, String> {
    if redactor.is_empty() {
        return Ok(message);
    }
    let mut value =
        serde_json::to_value(&message).map_err(|e| format!("cannot redact the message: {e}"))?;
    if redactor.contains_secret(&value).is_none() {
        return Ok(message);
    }
    redactor.redact_value(&mut value);
    serde_json::from_value(value).map_err(|e| format!("cannot redact the message: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cordon_secrets::SecretName;

    fn source() -> BTreeMap<SecretName, String> {
        BTreeMap::from([(
            SecretName::new("GH_TOKEN").unwrap(),
            "ghp_supersecretvalue123".to_owned(),
        )])
    }

    fn stdio(arg: &str, env: &str) -> ServerSpec {
        ServerSpec::Stdio {
            command: "x".into(),
            args: vec![arg.into()],
            env: BTreeMap::from([("T".to_owned(), env.to_owned())]),
            cwd: None,
        }
    }

    #[test]
    fn resolves_each_server_and_stops_only_the_one_missing_a_secret() {
        let servers = BTreeMap::from([
            (
                "good".to_owned(),
                stdio("--t=${keychain:GH_TOKEN}", "${keychain:GH_TOKEN}"),
            ),
            ("bad".to_owned(), stdio("a", "${keychain:NOPE}")),
            ("plain".to_owned(), stdio("a", "b")),
        ]);
        let source = source();
        let resolved = resolve_with(&servers, Ok(&source));
        assert_eq!(
            resolved.specs.get("good"),
            Some(&stdio(
                "--t=ghp_supersecretvalue123",
                "ghp_supersecretvalue123"
            ))
        );
        assert!(resolved.specs.contains_key("plain"));
        assert!(!resolved.specs.contains_key("bad"));
        let reason = resolved.failed.get("bad").unwrap();
        assert!(reason.contains("NOPE"), "{reason}");
        assert_eq!(
            resolved.redactor.redact("x ghp_supersecretvalue123 y"),
            "x [REDACTED:GH_TOKEN] y"
        );
    }

    #[test]
    fn a_keychain_that_cannot_open_stops_only_servers_with_references() {
        let servers = BTreeMap::from([
            ("good".to_owned(), stdio("a", "${keychain:GH_TOKEN}")),
            ("plain".to_owned(), stdio("a", "b")),
        ]);
        let error = SecretError::Missing {
            name: "GH_TOKEN".into(),
        };
        let resolved = resolve_with(&servers, Err(error));
        assert!(resolved.specs.contains_key("plain"));
        assert!(resolved.failed.get("good").unwrap().contains("GH_TOKEN"));
        assert!(resolved.redactor.is_empty());
    }

    #[test]
    fn a_too_short_secret_stops_its_server() {
        let servers = BTreeMap::from([("s".to_owned(), stdio("${keychain:K}", "x"))]);
        let source = BTreeMap::from([(SecretName::new("K").unwrap(), "short".to_owned())]);
        let resolved = resolve_with(&servers, Ok(&source));
        assert!(resolved.specs.is_empty());
        assert!(resolved.failed.contains_key("s"));
    }

    #[test]
    fn messages_are_redacted_in_every_string() {
        let source = source();
        let servers = BTreeMap::from([("s".to_owned(), stdio("${keychain:GH_TOKEN}", "x"))]);
        let redactor = resolve_with(&servers, Ok(&source)).redactor;
        let message = serde_json::json!({"content": [{"type": "text", "text": "Z2hwX3N1cGVyc2VjcmV0dmFsdWUxMjM="}], "structuredContent": {"k": "ghp_supersecretvalue123"}});
        let out: serde_json::Value = redact_message(&redactor, message).unwrap();
        let text = out.to_string();
        assert!(
            !text.contains("ghp_super") && !text.contains("Z2hwX3N1cGVy"),
            "{text}"
        );
        assert!(text.contains("[REDACTED:GH_TOKEN]"));
    }
}
