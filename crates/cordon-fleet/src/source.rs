//! Reading what to ship from the local evidence log.
//!
//! The source opens its own read-only handle on the evidence database: SQLite in WAL mode lets
//! it read while the engine appends, and it shares no lock with the engine's appends.

use std::path::Path;

use cordon_evidence::{
    Checkpoint, EvidenceLog, ExportFormat, Filter, KeyStore, Record, RecordedKey,
};

use crate::FleetError;

/// One record as shipped: its exact JSON text (what the chain hash was computed over, field for
/// field) and the parsed record for the store's index columns.
#[derive(Debug, Clone)]
pub struct ShippedRecord {
    /// The record's JSON line, as `cordon log export --format jsonl` writes it.
    pub line: String,
    /// The same record, parsed.
    pub record: Record,
}

/// What a sink has not acknowledged yet.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// Records after the cursor, oldest first, contiguous.
    pub records: Vec<ShippedRecord>,
    /// Checkpoints after the cursor.
    pub checkpoints: Vec<Checkpoint>,
    /// Public keys not yet shipped.
    pub keys: Vec<RecordedKey>,
}

impl Batch {
    /// Nothing to ship.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.checkpoints.is_empty() && self.keys.is_empty()
    }
}

/// The local evidence log, read for shipping.
pub struct Source {
    log: EvidenceLog,
}

impl Source {
    /// Opens the evidence database at `path` read-only (no signing key is loaded).
    pub fn open(path: &Path) -> Result<Source, FleetError> {
        Ok(Source {
            log: EvidenceLog::open(path, KeyStore::ReadOnly)?,
        })
    }

    /// Records with seq greater than `after`, oldest first, at most `limit`; then the
    /// checkpoints beyond the first `checkpoints` (in the log's order) that cover only shipped or
    /// batched records (a checkpoint never reaches a store before the records it signs), and the
    /// keys beyond the first `keys`.
    ///
    /// `anchor` is the hash the sink acknowledged at seq `after`: if the local chain no longer
    /// has that record there (the database was replaced), nothing is returned but
    /// [`FleetError::Fork`], so an old chain in a store is never continued by a new one.
    pub fn batch(
        &self,
        machine: &str,
        (after, anchor): (u64, &str),
        limit: usize,
        checkpoints: u64,
        keys: u64,
    ) -> Result<Batch, FleetError> {
        let from = if after > 0 { after - 1 } else { 0 };
        let filter = Filter {
            after_seq: Some(from),
            oldest_first: true,
            limit: Some(limit.max(1).saturating_add(usize::from(after > 0))),
            ..Filter::default()
        };
        let mut out = Vec::new();
        self.log.export(&filter, ExportFormat::Jsonl, &mut out)?;
        let text = String::from_utf8(out)
            .map_err(|e| FleetError::Malformed(format!("export is not UTF-8: {e}")))?;
        let mut records = Vec::new();
        let mut expected = after.saturating_add(1);
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        if after > 0 {
            let first: Option<Record> = lines
                .next()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| FleetError::Malformed(format!("local record: {e}")))?;
            let found = first.filter(|r| r.seq == after).map(|r| r.hash);
            if found.as_deref() != Some(anchor) {
                return Err(FleetError::Fork {
                    machine: machine.to_string(),
                    seq: after,
                    stored: anchor.to_string(),
                    local: found.unwrap_or_else(|| "none".to_string()),
                });
            }
        }
        for line in lines {
            let record: Record = serde_json::from_str(line)
                .map_err(|e| FleetError::Malformed(format!("local record: {e}")))?;
            if record.seq != expected {
                // A gap in the local chain: ship up to it and let `log verify` report it.
                break;
            }
            expected = expected.saturating_add(1);
            records.push(ShippedRecord {
                line: line.to_string(),
                record,
            });
        }
        let covered = records.last().map_or(after, |r| r.record.seq);
        let checkpoints = self
            .log
            .checkpoints()?
            .into_iter()
            .skip(usize::try_from(checkpoints).unwrap_or(usize::MAX))
            .take_while(|c| c.seq <= covered)
            .collect();
        let keys = self
            .log
            .recorded_keys()?
            .into_iter()
            .skip(usize::try_from(keys).unwrap_or(usize::MAX))
            .collect();
        Ok(Batch {
            records,
            checkpoints,
            keys,
        })
    }
}
