//! Exports (JSON Lines, CSV, signed bundle) and offline bundle verification.

use std::collections::HashSet;
use std::io::{BufRead, Write};

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::record::now_timestamp;
use crate::store::{
    Checkpoint, RAW_SELECT, RawRecord, RecordedKey, for_each_record, read_checkpoints, read_keys,
    read_policies,
};
use crate::verify::{ChainVerifier, FailureKind, TrustSource, VerifyOptions, VerifyReport};
use crate::{EvidenceError, EvidenceLog, Filter, NewRecord, Outcome, Phase, Record};

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One record (JSON object, seed key names) per line.
    Jsonl,
    /// A header row and one row per record; `risk_tags` and `args` are JSON texts. Cells that a
    /// spreadsheet would run as a formula (leading `=`, `+`, `-`, `@`, tab, CR) or that start
    /// with `'` are prefixed with `'`.
    Csv,
    /// Everything an offline auditor needs in one JSON Lines file: public keys, policy snapshots,
    /// the whole chain (records outside the filter as hash-only stubs) and the checkpoints.
    Bundle,
}

/// Version of the bundle format.
pub const BUNDLE_FORMAT: u64 = 1;

/// First line of a bundle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleHeader {
    /// Always [`BUNDLE_FORMAT`].
    pub cordon_evidence_bundle: u64,
    /// When it was written.
    pub exported_at: String,
    /// Seq of the last record in the bundle.
    pub head_seq: u64,
    /// Records included in full.
    pub full_records: u64,
}

/// A record present only by its chain position (outside the export filter).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElidedRecord {
    /// Its seq.
    pub seq: u64,
    /// Its id.
    pub id: String,
    /// Its prev_hash.
    pub prev_hash: String,
    /// Its hash.
    pub hash: String,
}

/// A stored policy version and its sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySnapshot {
    /// The policy version label.
    pub version: String,
    /// `(file name, text)` pairs.
    pub sources: Vec<(String, String)>,
}

/// One line of a bundle after the header.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BundleLine {
    /// A public key.
    Key(RecordedKey),
    /// A policy snapshot.
    Policy(PolicySnapshot),
    /// A full record.
    Record(Box<Record>),
    /// A hash-only record.
    Elided(ElidedRecord),
    /// A signed checkpoint.
    Checkpoint(Checkpoint),
}

const CSV_HEADER: [&str; 25] = [
    "id",
    "seq",
    "timestamp",
    "agent",
    "session_id",
    "server",
    "tool",
    "action",
    "target",
    "risk_tags",
    "decision",
    "rule_id",
    "reason",
    "policy_version",
    "reviewer",
    "outcome",
    "args",
    "diff",
    "duration_ms",
    "error",
    "prev_hash",
    "hash",
    "phase",
    "intent_id",
    "approval_channel",
];

/// Spreadsheets run cells that start with these as formulas (CSV injection): such cells, and
/// cells that start with `'`, get a leading `'`, which [`read_csv`] removes again.
fn defuse(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r', '\'']) {
        format!("'{cell}")
    } else {
        cell
    }
}

fn undefuse(cell: &str) -> &str {
    cell.strip_prefix('\'').unwrap_or(cell)
}

fn csv_row(r: &Record) -> Result<[String; 25], EvidenceError> {
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    Ok([
        r.id.clone(),
        r.seq.to_string(),
        r.timestamp.clone(),
        r.agent.clone(),
        r.session_id.clone(),
        r.server.clone(),
        r.tool.clone(),
        r.action.clone(),
        opt(&r.target),
        serde_json::to_string(&r.risk_tags)?,
        r.decision.clone(),
        opt(&r.rule_id),
        r.reason.clone(),
        r.policy_version.clone(),
        opt(&r.reviewer),
        r.outcome.as_str().to_string(),
        serde_json::to_string(&r.args)?,
        opt(&r.diff),
        r.duration_ms.to_string(),
        opt(&r.error),
        r.prev_hash.clone(),
        r.hash.clone(),
        r.phase.map(|p| p.as_str().to_owned()).unwrap_or_default(),
        opt(&r.intent_id),
        opt(&r.approval_channel),
    ])
}

/// Reads a CSV export back. Empty cells become `None` for optional fields (CSV cannot tell an
/// empty string from an absent one; JSON Lines and bundles can).
pub fn read_csv(reader: impl std::io::Read) -> Result<Vec<Record>, EvidenceError> {
    let mut csv = csv::Reader::from_reader(reader);
    let mut out = Vec::new();
    for (i, row) in csv.records().enumerate() {
        let row = row?;
        let line = u64::try_from(i).unwrap_or(u64::MAX).saturating_add(2);
        let bad = |reason: &str| EvidenceError::Bundle {
            line,
            reason: reason.to_string(),
        };
        let cell = |n: usize| undefuse(row.get(n).unwrap_or("")).to_string();
        let opt = |n: usize| Some(cell(n)).filter(|s| !s.is_empty());
        out.push(Record {
            id: cell(0),
            seq: cell(1).parse().map_err(|_| bad("seq is not a number"))?,
            timestamp: cell(2),
            call: NewRecord {
                agent: cell(3),
                session_id: cell(4),
                server: cell(5),
                tool: cell(6),
                action: cell(7),
                target: opt(8),
                risk_tags: serde_json::from_str(&cell(9)).map_err(|_| bad("risk_tags"))?,
                decision: cell(10),
                rule_id: opt(11),
                reason: cell(12),
                policy_version: cell(13),
                reviewer: opt(14),
                approval_channel: opt(24),
                outcome: Outcome::parse(&cell(15)).ok_or_else(|| bad("outcome"))?,
                args: serde_json::from_str(&cell(16)).map_err(|_| bad("args"))?,
                diff: opt(17),
                duration_ms: cell(18).parse().map_err(|_| bad("duration_ms"))?,
                error: opt(19),
                // Absent in exports made before write-ahead evidence.
                phase: match opt(22) {
                    None => None,
                    Some(p) => Some(Phase::parse(&p).ok_or_else(|| bad("phase"))?),
                },
                intent_id: opt(23),
            },
            prev_hash: cell(20),
            hash: cell(21),
        });
    }
    Ok(out)
}

/// Reads a JSON Lines export back.
pub fn read_jsonl(reader: impl BufRead) -> Result<Vec<Record>, EvidenceError> {
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(EvidenceError::Write)?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(&line).map_err(|e| EvidenceError::Bundle {
                line: u64::try_from(i).unwrap_or(u64::MAX).saturating_add(1),
                reason: e.to_string(),
            })?,
        );
    }
    Ok(out)
}

fn write_json_line(out: &mut dyn Write, value: &impl Serialize) -> Result<(), EvidenceError> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n").map_err(EvidenceError::Write)
}

impl EvidenceLog {
    /// Writes the records matching `filter` in `format`; returns how many were written in full.
    pub fn export(
        &self,
        filter: &Filter,
        format: ExportFormat,
        out: &mut dyn Write,
    ) -> Result<u64, EvidenceError> {
        let mut n = 0u64;
        match format {
            ExportFormat::Jsonl => self.with_snapshot(|conn| {
                for_each_record(conn, filter, |r| {
                    write_json_line(out, &r)?;
                    n += 1;
                    Ok(true)
                })
            })?,
            ExportFormat::Csv => {
                let mut writer = csv::Writer::from_writer(&mut *out);
                writer.write_record(CSV_HEADER)?;
                self.with_snapshot(|conn| {
                    for_each_record(conn, filter, |r| {
                        writer.write_record(csv_row(&r)?.map(defuse))?;
                        n += 1;
                        Ok(true)
                    })
                })?;
                writer.flush().map_err(EvidenceError::Write)?;
            }
            ExportFormat::Bundle => {
                n = self.with_snapshot(|conn| export_bundle(conn, filter, out))?
            }
        }
        out.flush().map_err(EvidenceError::Write)?;
        Ok(n)
    }
}

fn export_bundle(
    conn: &rusqlite::Connection,
    filter: &Filter,
    out: &mut dyn Write,
) -> Result<u64, EvidenceError> {
    let everything = Filter {
        limit: None,
        after_seq: None,
        oldest_first: true,
        ..Filter::default()
    };
    let selected: Option<HashSet<u64>> = if *filter == everything || *filter == Filter::default() {
        None
    } else {
        let mut set = HashSet::new();
        for_each_record(conn, filter, |r| {
            set.insert(r.seq);
            Ok(true)
        })?;
        Some(set)
    };
    let head_seq: i64 = conn.query_row("SELECT coalesce(max(seq), 0) FROM records", [], |r| {
        r.get(0)
    })?;
    let head_seq = u64::try_from(head_seq).unwrap_or(0);
    let full_records = selected
        .as_ref()
        .map_or(head_seq, |s| u64::try_from(s.len()).unwrap_or(u64::MAX));
    write_json_line(
        out,
        &BundleHeader {
            cordon_evidence_bundle: BUNDLE_FORMAT,
            exported_at: now_timestamp()?,
            head_seq,
            full_records,
        },
    )?;
    for key in read_keys(conn)? {
        write_json_line(out, &BundleLine::Key(key))?;
    }
    for (version, sources) in read_policies(conn)? {
        write_json_line(
            out,
            &BundleLine::Policy(PolicySnapshot { version, sources }),
        )?;
    }
    let mut stmt = conn.prepare(&format!("{RAW_SELECT} ORDER BY r.seq"))?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let raw = RawRecord::from_row(row)?;
        let seq = u64::try_from(raw.seq).unwrap_or(0);
        let line = if selected.as_ref().is_none_or(|s| s.contains(&seq)) {
            BundleLine::Record(Box::new(raw.into_record()?))
        } else {
            BundleLine::Elided(ElidedRecord {
                seq,
                id: raw.id,
                prev_hash: raw.prev_hash,
                hash: raw.hash,
            })
        };
        write_json_line(out, &line)?;
    }
    for cp in read_checkpoints(conn)? {
        write_json_line(out, &BundleLine::Checkpoint(cp))?;
    }
    Ok(full_records)
}

/// Verifies a bundle offline, trusting the first key it records (see [`TrustSource::Recorded`]):
/// compare the reported fingerprint with a known one, or use [`verify_bundle_with`].
pub fn verify_bundle(reader: impl BufRead) -> Result<VerifyReport, EvidenceError> {
    verify_bundle_with(reader, &VerifyOptions::default())
}

/// Verifies a bundle offline against the given trusted keys.
pub fn verify_bundle_with(
    reader: impl BufRead,
    options: &VerifyOptions,
) -> Result<VerifyReport, EvidenceError> {
    let mut verifier = ChainVerifier::new();
    let mut keys: Vec<RecordedKey> = Vec::new();
    let mut checkpoints: Vec<Checkpoint> = Vec::new();
    let mut header_seen = false;
    for (i, line) in reader.lines().enumerate() {
        let number = u64::try_from(i).unwrap_or(u64::MAX).saturating_add(1);
        let line = line.map_err(|e| EvidenceError::Bundle {
            line: number,
            reason: e.to_string(),
        })?;
        if line.trim().is_empty() {
            continue;
        }
        if !header_seen {
            let header: BundleHeader =
                serde_json::from_str(&line).map_err(|e| EvidenceError::Bundle {
                    line: number,
                    reason: format!("not a Cordon evidence bundle header: {e}"),
                })?;
            if header.cordon_evidence_bundle != BUNDLE_FORMAT {
                return Err(EvidenceError::Bundle {
                    line: number,
                    reason: format!(
                        "unsupported bundle format {}",
                        header.cordon_evidence_bundle
                    ),
                });
            }
            header_seen = true;
            continue;
        }
        let parsed: BundleLine = match serde_json::from_str(&line) {
            Ok(p) => p,
            Err(e) => {
                let seq = verifier.expected_seq();
                verifier.fail(
                    FailureKind::Malformed,
                    Some(seq),
                    None,
                    format!("bundle line {number} is malformed ({e})"),
                );
                break;
            }
        };
        match parsed {
            BundleLine::Key(k) => keys.push(k),
            BundleLine::Policy(_) => {}
            BundleLine::Record(r) => {
                let content = r
                    .compute_hash()
                    .map_err(|e| (FailureKind::Malformed, e.to_string()));
                verifier.feed(r.seq, &r.id, &r.prev_hash, &r.hash, Some(content));
                verifier.pair(
                    r.seq,
                    &r.id,
                    r.phase.map(Phase::as_str),
                    r.intent_id.as_deref(),
                );
            }
            BundleLine::Elided(e) => verifier.feed(e.seq, &e.id, &e.prev_hash, &e.hash, None),
            BundleLine::Checkpoint(c) => checkpoints.push(c),
        }
    }
    if !header_seen {
        return Err(EvidenceError::Bundle {
            line: 1,
            reason: "empty file: not a Cordon evidence bundle".into(),
        });
    }
    let trusted: Vec<VerifyingKey> = options.trusted_keys.clone();
    let trust = if trusted.is_empty() {
        TrustSource::Recorded
    } else {
        TrustSource::Pinned
    };
    Ok(verifier.finish(&checkpoints, &keys, &trusted, trust))
}
