//! Starting evidence shipping (`fleet:` in the config) beside the engine.
//!
//! The shipper reads the evidence database through its own connection and never sits on a
//! call's path; a store that is down delays shipping only. `${keychain:NAME}` references in the
//! store's URL and headers are expanded here, once, from the engine's keychain service.

use std::collections::BTreeMap;
use std::path::Path;

use cordon_fleet::{FleetConfig, Shipper};
use cordon_secrets::{Expander, SecretSource};
use tokio_util::sync::CancellationToken;

use crate::config::FleetSpec;
use crate::error::GatewayError;

/// Builds the shipper's configuration, expanding keychain references.
pub fn fleet_config(spec: &FleetSpec, keychain_service: &str) -> Result<FleetConfig, GatewayError> {
    let texts: Vec<&str> = spec
        .postgres
        .iter()
        .chain(spec.otlp.iter())
        .chain(spec.otlp_headers.values())
        .map(String::as_str)
        .collect();
    let needs_keychain = texts
        .iter()
        .any(|t| cordon_secrets::references(t).map_or(true, |r| !r.is_empty()));
    let empty: BTreeMap<cordon_secrets::SecretName, String> = BTreeMap::new();
    let store;
    let source: &dyn SecretSource = if needs_keychain {
        store = cordon_secrets::SecretStore::new(keychain_service)
            .map_err(|e| GatewayError::Fleet(e.to_string()))?;
        &store
    } else {
        &empty
    };
    let mut expander = Expander::new(source);
    let mut expand = |text: &Option<String>| -> Result<Option<String>, GatewayError> {
        text.as_deref()
            .map(|t| expander.expand(t))
            .transpose()
            .map_err(|e| GatewayError::Fleet(e.to_string()))
    };
    let postgres = expand(&spec.postgres)?;
    let otlp = expand(&spec.otlp)?;
    let mut otlp_headers = Vec::new();
    for (name, value) in &spec.otlp_headers {
        let value = expander
            .expand(value)
            .map_err(|e| GatewayError::Fleet(format!("otlp_headers.{name}: {e}")))?;
        otlp_headers.push((name.clone(), value));
    }
    Ok(FleetConfig {
        machine: spec
            .machine
            .clone()
            .unwrap_or_else(cordon_fleet::default_machine_name),
        postgres,
        otlp,
        otlp_headers,
        interval: spec.interval.unwrap_or(cordon_fleet::DEFAULT_INTERVAL),
        batch: spec.batch.unwrap_or(cordon_fleet::DEFAULT_BATCH),
    })
}

/// Starts shipping the evidence database at `evidence`; stops (after a last pass) when `stop`
/// is cancelled. A configuration that cannot be used is an error: the engine refuses to start
/// rather than silently not shipping.
pub fn spawn(
    spec: &FleetSpec,
    keychain_service: &str,
    evidence: &Path,
    stop: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, GatewayError> {
    let config = fleet_config(spec, keychain_service)?;
    let shipper = Shipper::new(config, evidence).map_err(|e| GatewayError::Fleet(e.to_string()))?;
    Ok(tokio::spawn(async move {
        shipper.run(stop.cancelled_owned()).await;
    }))
}
