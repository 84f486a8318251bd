//! The secrets page: names, where the config uses them, whether the keychain holds them; set and
//! remove. Values only travel front end → keychain; nothing here returns or logs one.

use cordon_gateway::Config;
use cordon_gateway::config::ServerSpec;
use cordon_secrets::{SecretName, SecretStore, SecretUsage, record_usage};
use serde::{Deserialize, Serialize};

use crate::AdminError;

/// One row of the secrets page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct SecretEntry {
    /// The name used in `${keychain:NAME}`.
    pub name: String,
    /// Config places that reference it, e.g. `github (env GITHUB_TOKEN)`.
    pub used_by: Vec<String>,
    /// The keychain holds it (false: referenced but missing, the server will not start).
    pub stored: bool,
}

/// Where each secret is referenced in the config (malformed references are skipped: the
/// config loader refuses them anyway).
pub fn usage(config: &Config) -> SecretUsage {
    let mut usage = SecretUsage::new();
    let mut note = |text: &str, place: String| {
        let _ = record_usage(&mut usage, text, &place);
    };
    for (server, spec) in &config.servers {
        match spec {
            ServerSpec::Stdio { args, env, .. } => {
                for (i, arg) in args.iter().enumerate() {
                    note(arg, format!("{server} (args[{i}])"));
                }
                for (key, value) in env {
                    note(value, format!("{server} (env {key})"));
                }
            }
            ServerSpec::Remote { headers, .. } => {
                for (key, value) in headers {
                    note(value, format!("{server} (header {key})"));
                }
            }
        }
    }
    usage
}

/// Every stored or referenced secret.
pub fn list(store: &SecretStore, config: &Config) -> Result<Vec<SecretEntry>, AdminError> {
    Ok(store
        .list(&usage(config))?
        .into_iter()
        .map(|info| SecretEntry {
            name: info.name.to_string(),
            used_by: info.used_by,
            stored: info.stored,
        })
        .collect())
}

/// Stores (or replaces) a secret.
pub fn set(
    store: &SecretStore,
    config: &Config,
    name: &str,
    value: &str,
) -> Result<Vec<SecretEntry>, AdminError> {
    let name = SecretName::new(name)?;
    cordon_secrets::check_value(&name, value)?;
    store.set(&name, value)?;
    tracing::info!(secret = %name, "secret stored in the keychain");
    list(store, config)
}

/// Deletes a secret.
pub fn remove(
    store: &SecretStore,
    config: &Config,
    name: &str,
) -> Result<Vec<SecretEntry>, AdminError> {
    let name = SecretName::new(name)?;
    store.remove(&name)?;
    tracing::info!(secret = %name, "secret removed from the keychain");
    list(store, config)
}
