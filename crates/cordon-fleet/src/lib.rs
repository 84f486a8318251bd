//! The team side of Cordon: one evidence trail for a team's machines.
//!
//! Each engine ships its evidence — records with their hash chain, signed checkpoints and public
//! keys, exactly as the local log holds them (secrets were redacted before the record was
//! written) — to stores a team already runs:
//!
//! - PostgreSQL ([`postgres`]): append-only tables (a trigger refuses UPDATE, DELETE and
//!   TRUNCATE; the shipping role is granted INSERT and SELECT only), queried and verified across
//!   machines by `cordon log list|session|verify --store postgres://…`;
//! - OpenTelemetry logs over OTLP/HTTP ([`otlp`]) for the SIEMs teams already run.
//!
//! Delivery is at least once: a durable cursor per sink ([`outbox`]) advances only after the sink
//! acknowledged a batch, so a restart or an outage resends from the last acknowledged record, and
//! the store deduplicates by record id. Shipping reads the log through its own read-only
//! connection and runs beside the engine: it never slows or blocks a call.
//!
//! It also pulls the organisation's policy from a git repository ([`orgpolicy`]), applying only
//! commits signed by keys the team trusts.
//!
//! Knows nothing of policy evaluation, MCP or Tauri; depends on `cordon-evidence` only.

pub mod orgpolicy;
pub mod otlp;
pub mod outbox;
pub mod postgres;
pub mod shipper;
pub mod source;

use std::time::Duration;

pub use shipper::{ShipReport, Shipper, Status};
pub use source::{Batch, Source};

/// Why shipping or a fleet query failed. Every variant says which sink and what to do.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The local evidence log could not be read.
    #[error("reading the local evidence log: {0}")]
    Evidence(#[from] cordon_evidence::EvidenceError),
    /// The outbox cursor could not be read or written.
    #[error("fleet outbox {path}: {source}")]
    Outbox {
        /// The outbox database.
        path: String,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// The PostgreSQL store refused or could not be reached.
    #[error("postgres store: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// The store holds a different record at a position this machine is shipping: its log was
    /// reset or replaced. Shipping stops for this sink rather than mixing two chains.
    #[error(
        "the team store already holds a different record for machine `{machine}` at seq {seq} \
         (stored hash {stored}, local hash {local}): this machine's evidence log was reset or \
         replaced; give it a new `fleet.machine` name to ship the new chain"
    )]
    Fork {
        /// The machine name.
        machine: String,
        /// The position.
        seq: u64,
        /// The hash in the store.
        stored: String,
        /// The local hash.
        local: String,
    },
    /// The OTLP receiver refused or could not be reached.
    #[error("otlp endpoint {endpoint}: {message}")]
    Otlp {
        /// The URL.
        endpoint: String,
        /// What happened.
        message: String,
    },
    /// A value in the store or the log could not be decoded.
    #[error("malformed data: {0}")]
    Malformed(String),
    /// A configuration value is unusable.
    #[error("fleet configuration: {0}")]
    Config(String),
}

/// Where a machine's evidence goes, and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetConfig {
    /// This machine's name in the team store (unique per evidence chain).
    pub machine: String,
    /// PostgreSQL connection string of the team store, if any.
    pub postgres: Option<String>,
    /// OTLP/HTTP logs endpoint (`http(s)://host:4318/v1/logs`), if any.
    pub otlp: Option<String>,
    /// Extra headers for the OTLP endpoint (e.g. an API key).
    pub otlp_headers: Vec<(String, String)>,
    /// How often to look for new records.
    pub interval: Duration,
    /// Records per batch.
    pub batch: usize,
}

/// Default polling interval: new records reach the store within about this long.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(500);

/// Default batch size.
pub const DEFAULT_BATCH: usize = 500;

/// The default machine name: the host name, or `unknown-host`.
pub fn default_machine_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".to_string())
}
