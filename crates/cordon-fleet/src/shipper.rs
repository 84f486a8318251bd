//! The shipping loop: for each sink, read what it has not acknowledged, send, advance its cursor.
//!
//! Runs beside the engine on its own connections; a sink that is down only delays that sink
//! (with exponential backoff, logged once per distinct error), never a call and never another
//! sink.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_postgres::Client;

use crate::otlp::OtlpSink;
use crate::outbox::{Cursor, Outbox, path_for};
use crate::source::Source;
use crate::{FleetConfig, FleetError, postgres};

/// Longest wait between retries of a failing sink.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

enum SinkKind {
    Postgres { url: String, client: Option<Client> },
    Otlp(OtlpSink),
}

struct Sink {
    name: &'static str,
    kind: SinkKind,
    backoff: Duration,
    last_error: Option<String>,
}

/// What one sink did in one pass.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ShipReport {
    /// `postgres` or `otlp`.
    pub sink: String,
    /// Records acknowledged in this pass.
    pub records: u64,
    /// Checkpoints acknowledged in this pass.
    pub checkpoints: u64,
    /// Seq of the last record the sink has acknowledged overall.
    pub acknowledged_seq: u64,
    /// The error that stopped this pass, if any.
    pub error: Option<String>,
}

/// The latest state of each sink, for status displays (`cordon fleet status`, the tray).
pub type Status = Arc<Mutex<Vec<ShipReport>>>;

/// Ships one machine's evidence to the configured sinks.
pub struct Shipper {
    config: FleetConfig,
    source: Source,
    outbox: Outbox,
    sinks: Vec<Sink>,
    status: Status,
}

impl Shipper {
    /// Prepares shipping of the evidence database at `evidence` (nothing is sent yet).
    pub fn new(config: FleetConfig, evidence: &Path) -> Result<Shipper, FleetError> {
        if config.machine.trim().is_empty() {
            return Err(FleetError::Config(
                "`fleet.machine` must not be empty".into(),
            ));
        }
        let mut sinks = Vec::new();
        if let Some(url) = &config.postgres {
            sinks.push(Sink {
                name: "postgres",
                kind: SinkKind::Postgres {
                    url: url.clone(),
                    client: None,
                },
                backoff: Duration::ZERO,
                last_error: None,
            });
        }
        if let Some(endpoint) = &config.otlp {
            sinks.push(Sink {
                name: "otlp",
                kind: SinkKind::Otlp(OtlpSink::new(endpoint, &config.otlp_headers)?),
                backoff: Duration::ZERO,
                last_error: None,
            });
        }
        if sinks.is_empty() {
            return Err(FleetError::Config(
                "the `fleet` section names no store: set `postgres` and/or `otlp`".into(),
            ));
        }
        Ok(Shipper {
            source: Source::open(evidence)?,
            outbox: Outbox::open(&path_for(evidence))?,
            config,
            sinks,
            status: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// A handle on the latest per-sink state.
    pub fn status(&self) -> Status {
        Arc::clone(&self.status)
    }

    /// Ships everything not yet acknowledged, sink by sink, and reports what each did. Errors
    /// are reported per sink, not returned: one failing sink does not stop the others.
    pub async fn ship_once(&mut self) -> Vec<ShipReport> {
        let mut reports = Vec::new();
        for i in 0..self.sinks.len() {
            let report = self.ship_sink(i).await;
            reports.push(report);
        }
        if let Ok(mut status) = self.status.lock() {
            status.clone_from(&reports);
        }
        reports
    }

    async fn ship_sink(&mut self, index: usize) -> ShipReport {
        let name = self.sinks.get(index).map_or("?", |s| s.name);
        let mut report = ShipReport {
            sink: name.to_string(),
            records: 0,
            checkpoints: 0,
            acknowledged_seq: 0,
            error: None,
        };
        let mut cursor = match self.outbox.get(name) {
            Ok(c) => c,
            Err(e) => {
                report.error = Some(e.to_string());
                return report;
            }
        };
        report.acknowledged_seq = cursor.record_seq;
        loop {
            let batch = match self.source.batch(
                &self.config.machine,
                (cursor.record_seq, &cursor.record_hash),
                self.config.batch,
                cursor.checkpoints,
                cursor.keys,
            ) {
                Ok(b) => b,
                Err(e) => {
                    report.error = Some(e.to_string());
                    break;
                }
            };
            if batch.is_empty() {
                break;
            }
            let full = batch.records.len() >= self.config.batch;
            let machine = self.config.machine.clone();
            let Some(sink) = self.sinks.get_mut(index) else {
                break;
            };
            let sent = match &mut sink.kind {
                SinkKind::Postgres { url, client } => {
                    send_postgres(url, client, &machine, &batch).await
                }
                SinkKind::Otlp(otlp) => otlp.ship(&machine, &batch).await,
            };
            if let Err(e) = sent {
                report.error = Some(e.to_string());
                break;
            }
            let (record_seq, record_hash) = batch.records.last().map_or_else(
                || (cursor.record_seq, cursor.record_hash.clone()),
                |r| (r.record.seq, r.record.hash.clone()),
            );
            let next = Cursor {
                record_seq,
                record_hash,
                checkpoints: cursor.checkpoints + count(batch.checkpoints.len()),
                keys: cursor.keys + count(batch.keys.len()),
            };
            if let Err(e) = self.outbox.set(name, &next) {
                report.error = Some(e.to_string());
                break;
            }
            report.records += count(batch.records.len());
            report.checkpoints += count(batch.checkpoints.len());
            report.acknowledged_seq = next.record_seq;
            cursor = next;
            if !full && batch.checkpoints.is_empty() && batch.keys.is_empty() {
                break;
            }
        }
        if let Some(sink) = self.sinks.get_mut(index) {
            match &report.error {
                Some(error) => {
                    if sink.last_error.as_ref() != Some(error) {
                        tracing::warn!(sink = sink.name, %error, "fleet: shipping failed; will retry");
                    }
                    sink.last_error = Some(error.clone());
                    sink.backoff = (sink.backoff * 2).clamp(Duration::from_secs(1), MAX_BACKOFF);
                }
                None => {
                    if sink.last_error.take().is_some() {
                        tracing::info!(sink = sink.name, "fleet: shipping recovered");
                    }
                    sink.backoff = Duration::ZERO;
                }
            }
        }
        report
    }

    /// Ships until `stop` resolves: every `interval`, or after a failing sink's backoff.
    pub async fn run(mut self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            self.ship_once().await;
            let wait = self
                .sinks
                .iter()
                .map(|s| s.backoff)
                .max()
                .unwrap_or_default()
                .max(self.config.interval);
            tokio::select! {
                () = &mut stop => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        // A last pass so records written just before shutdown leave the machine.
        self.ship_once().await;
    }
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

async fn send_postgres(
    url: &str,
    client: &mut Option<Client>,
    machine: &str,
    batch: &crate::Batch,
) -> Result<(), FleetError> {
    if client.as_ref().is_none_or(Client::is_closed) {
        *client = Some(postgres::connect(url).await?);
    }
    let Some(c) = client.as_mut() else {
        return Err(FleetError::Config("no postgres connection".into()));
    };
    let result = postgres::ship(c, machine, batch).await;
    if result.is_err() {
        // Reconnect next time: the connection may be half-dead after a server restart.
        *client = None;
    }
    result
}
