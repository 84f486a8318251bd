//! The evidence viewer: paged, filtered queries with a total count, one record, distinct agents,
//! activity over time, verification and exports.
//!
//! Everything goes through cordon-evidence's API: records, verification and exports through the
//! engine's log, the pages, agents and activity through its read-only [`Browser`] (this crate
//! runs no SQL of its own). What is here: checking the window's input, and shaping answers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cordon_evidence::browse::Browser;
use cordon_evidence::{EvidenceLog, ExportFormat, Filter, Outcome, Record, TrustSource};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::AdminError;
use crate::fsutil::replace_with;

/// Most records one page returns.
pub const MAX_PAGE: usize = 500;
/// Page size when the caller gives none.
pub const DEFAULT_PAGE: usize = 100;
/// Longest filter string accepted (agent, action pattern, text).
const MAX_FILTER: usize = 256;
/// Most (bucket, agent) rows one activity query returns.
const MAX_BUCKETS: usize = 100_000;

fn default_limit() -> usize {
    DEFAULT_PAGE
}

/// The viewer's filters; every field optional, set fields combine with AND.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct EvidenceQuery {
    /// Exact agent.
    #[serde(default)]
    pub agent: Option<String>,
    /// Topic pattern, NATS style (`git.*`, `write.>`), with or without `job.mcp-bridge.`.
    #[serde(default)]
    pub action: Option<String>,
    /// Exact decision (`allow`, `deny`, `require_approval`).
    #[serde(default)]
    pub decision: Option<String>,
    /// Exact outcome (`allowed`, `denied`, `approved`, `rejected`, `timed_out`, `error`).
    #[serde(default)]
    pub outcome: Option<String>,
    /// At or after (RFC 3339).
    #[serde(default)]
    pub since: Option<String>,
    /// Strictly before (RFC 3339).
    #[serde(default)]
    pub until: Option<String>,
    /// Case-insensitive substring of the tool, the target or the reason.
    #[serde(default)]
    pub text: Option<String>,
    /// Page cursor: records with a smaller seq (newest first).
    #[serde(default)]
    pub before_seq: Option<u64>,
    /// Page size, 1 to [`MAX_PAGE`].
    #[serde(default = "default_limit")]
    pub limit: usize,
}

impl Default for EvidenceQuery {
    fn default() -> Self {
        EvidenceQuery {
            agent: None,
            action: None,
            decision: None,
            outcome: None,
            since: None,
            until: None,
            text: None,
            before_seq: None,
            limit: DEFAULT_PAGE,
        }
    }
}

/// One table row (the evidence crate's shape, shared with the window).
pub use cordon_evidence::browse::RecordRow;

/// One page of results.
pub use cordon_evidence::browse::Page as EvidencePage;

/// Calls of one agent in one time bucket, by how they ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ActivityBucket {
    /// Bucket start (RFC 3339 UTC).
    pub start: String,
    /// The agent.
    pub agent: String,
    /// Allowed by the policy.
    pub allowed: u64,
    /// Approved by a human.
    pub approved: u64,
    /// Denied by the policy or rejected by a human.
    pub denied: u64,
    /// Timed out or failed.
    pub other: u64,
}

/// The chain and signature check, summarised for the viewer's badge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct VerifySummary {
    /// No problem found.
    pub ok: bool,
    /// Records checked.
    pub records: u64,
    /// Signed checkpoints checked.
    pub checkpoints: u64,
    /// Last seq covered by a valid signature.
    pub signed_through: Option<u64>,
    /// Records after the last checkpoint (chained, not yet signed).
    pub unsigned_tail: u64,
    /// The trusted signing key.
    pub key_fingerprint: Option<String>,
    /// What is wrong (and caveats about the trust), one sentence each.
    pub problems: Vec<String>,
}

/// Export formats the viewer offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ExportKind {
    /// JSON Lines, one record per line.
    Jsonl,
    /// CSV with a header row.
    Csv,
    /// A self-verifying bundle (`cordon log verify`).
    Bundle,
}

/// A finished export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Exported {
    /// The file written.
    pub path: String,
    /// Records written in full.
    pub records: u64,
}

/// A query checked and normalised for SQL.
struct Checked {
    agent: Option<String>,
    action: Option<String>,
    decision: Option<String>,
    outcome: Option<Outcome>,
    since: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
    text: Option<String>,
}

fn short(what: &str, value: &Option<String>) -> Result<Option<String>, AdminError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if v.chars().count() > MAX_FILTER || v.chars().any(char::is_control) => Err(
            AdminError::Invalid(format!("{what}: at most {MAX_FILTER} characters, one line")),
        ),
        Some(v) => Ok(Some(v.to_owned())),
    }
}

fn parse_time(what: &str, value: &Option<String>) -> Result<Option<OffsetDateTime>, AdminError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => OffsetDateTime::parse(v, &Rfc3339).map(Some).map_err(|e| {
            AdminError::Invalid(format!("{what}: `{v}` is not an RFC 3339 time ({e})"))
        }),
    }
}

impl EvidenceQuery {
    fn check(&self) -> Result<Checked, AdminError> {
        let decision = short("decision", &self.decision)?;
        if let Some(d) = &decision
            && !cordon_evidence::DECISIONS.contains(&d.as_str())
        {
            return Err(AdminError::Invalid(format!(
                "decision: `{d}` is not one of allow, deny, require_approval"
            )));
        }
        let outcome = match short("outcome", &self.outcome)? {
            None => None,
            Some(o) => Some(Outcome::parse(&o).ok_or_else(|| {
                AdminError::Invalid(format!(
                    "outcome: `{o}` is not one of allowed, denied, approved, rejected, timed_out, error"
                ))
            })?),
        };
        Ok(Checked {
            agent: short("agent", &self.agent)?,
            action: short("action", &self.action)?,
            decision,
            outcome,
            since: parse_time("since", &self.since)?,
            until: parse_time("until", &self.until)?,
            text: short("text", &self.text)?.map(|t| t.to_lowercase()),
        })
    }

    /// The equivalent cordon-evidence filter (everything but `text` and the page).
    fn filter(&self) -> Result<Filter, AdminError> {
        let c = self.check()?;
        Ok(Filter {
            agent: c.agent,
            action: c.action,
            decision: c.decision,
            outcome: c.outcome,
            since: c.since,
            until: c.until,
            oldest_first: true,
            ..Filter::default()
        })
    }
}

/// The viewer's access to one evidence log.
#[derive(Clone)]
pub struct Evidence {
    log: std::sync::Arc<EvidenceLog>,
}

impl std::fmt::Debug for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evidence").field("log", &self.log).finish()
    }
}

impl Evidence {
    /// The viewer over `log` (the running engine's).
    pub fn new(log: std::sync::Arc<EvidenceLog>) -> Evidence {
        Evidence { log }
    }

    /// The database file.
    pub fn path(&self) -> Result<PathBuf, AdminError> {
        self.log.path().map(Path::to_path_buf).ok_or_else(|| {
            AdminError::NotFound("the evidence log is in memory: no file to query".to_owned())
        })
    }

    /// The log's read-only browser (never writes, never waits on the engine's writer), opened
    /// after the journal is folded so it shows every record appended before it.
    fn browser(&self) -> Result<Browser, AdminError> {
        self.log.fold_journal()?;
        Ok(Browser::open(&self.path()?)?)
    }

    /// One page of records matching the filters, newest first, with the total count.
    pub fn query(&self, query: &EvidenceQuery) -> Result<EvidencePage, AdminError> {
        if query.limit == 0 || query.limit > MAX_PAGE {
            return Err(AdminError::Invalid(format!(
                "limit must be 1 to {MAX_PAGE}"
            )));
        }
        let filter = Filter {
            text: query.check()?.text,
            after_seq: query.before_seq,
            oldest_first: false,
            ..query.filter()?
        };
        Ok(self.browser()?.page(&filter, query.limit)?)
    }

    /// One full record (args, diff, hashes) by id or unique id prefix (at least 6 characters).
    pub fn record(&self, id: &str) -> Result<Record, AdminError> {
        let id = id.trim();
        if id.len() < 6 || id.len() > 26 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(AdminError::Invalid(format!(
                "malformed record id {:?}",
                id.chars().take(40).collect::<String>()
            )));
        }
        self.log
            .get(id)?
            .ok_or_else(|| AdminError::NotFound(format!("no evidence record {id}")))
    }

    /// Every agent that has a record, for the filter's list.
    pub fn agents(&self) -> Result<Vec<String>, AdminError> {
        Ok(self.browser()?.agents()?)
    }

    /// Calls per agent per time bucket since `since`, by how they ended.
    pub fn activity(
        &self,
        since: Option<&str>,
        bucket_secs: u64,
    ) -> Result<Vec<ActivityBucket>, AdminError> {
        if bucket_secs == 0 || bucket_secs > 366 * 24 * 3600 {
            return Err(AdminError::Invalid(
                "bucket_secs must be 1 second to 366 days".to_owned(),
            ));
        }
        let since = parse_time("since", &since.map(str::to_owned))?;
        let rows = self
            .browser()?
            .activity(since, bucket_secs, MAX_BUCKETS * 6)?;
        let mut buckets: BTreeMap<(i64, String), ActivityBucket> = BTreeMap::new();
        for cordon_evidence::browse::ActivityRow {
            start,
            agent,
            outcome,
            count,
        } in rows
        {
            // A timestamp SQLite cannot read has no bucket; it still counts in queries.
            let Some(start) = start else { continue };
            let entry = buckets
                .entry((start, agent.clone()))
                .or_insert_with(|| ActivityBucket {
                    start: OffsetDateTime::from_unix_timestamp(start)
                        .ok()
                        .and_then(|t| t.format(&Rfc3339).ok())
                        .unwrap_or_default(),
                    agent,
                    allowed: 0,
                    approved: 0,
                    denied: 0,
                    other: 0,
                });
            let n = count;
            match Outcome::parse(&outcome) {
                Some(Outcome::Allowed) => entry.allowed += n,
                Some(Outcome::Approved) => entry.approved += n,
                Some(Outcome::Denied | Outcome::Rejected) => entry.denied += n,
                _ => entry.other += n,
            }
            if buckets.len() > MAX_BUCKETS {
                return Err(AdminError::Invalid(format!(
                    "more than {MAX_BUCKETS} buckets: choose a larger bucket or a later start"
                )));
            }
        }
        Ok(buckets.into_values().collect())
    }

    /// Verifies the chain and the signed checkpoints (slow on big logs: run it off the UI thread).
    pub fn verify(&self) -> Result<VerifySummary, AdminError> {
        let report = self.log.verify()?;
        let mut problems = Vec::new();
        if let Some(failure) = &report.failure {
            problems.push(match failure.seq {
                Some(seq) => format!("record {seq}: {}", failure.message),
                None => failure.message.clone(),
            });
        }
        if report.trust == TrustSource::Recorded && report.checkpoints > 0 {
            problems.push(
                "checked against the key recorded in the log itself, not an independent copy"
                    .to_owned(),
            );
        }
        let signed = report.head_seq.saturating_sub(report.unsigned_tail);
        Ok(VerifySummary {
            ok: report.ok,
            records: report.records,
            checkpoints: report.checkpoints,
            signed_through: (report.checkpoints > 0 && signed > 0).then_some(signed),
            unsigned_tail: report.unsigned_tail,
            key_fingerprint: report
                .trusted_fingerprints
                .first()
                .cloned()
                .or_else(|| report.keys.first().map(|k| k.fingerprint.clone())),
            problems,
        })
    }

    /// Writes the records matching `query` (all pages, oldest first) to `path`, atomically.
    pub fn export(
        &self,
        kind: ExportKind,
        path: &Path,
        query: Option<&EvidenceQuery>,
    ) -> Result<Exported, AdminError> {
        if !path.is_absolute() {
            return Err(AdminError::Invalid(format!(
                "the export path must be absolute, got {}",
                path.display()
            )));
        }
        let filter = match query {
            None => Filter {
                oldest_first: true,
                ..Filter::default()
            },
            Some(q) => {
                if q.text.as_deref().is_some_and(|t| !t.trim().is_empty()) {
                    return Err(AdminError::Invalid(
                        "exports cannot apply the text search: clear it (the other filters apply)"
                            .to_owned(),
                    ));
                }
                q.filter()?
            }
        };
        if path.is_dir() {
            return Err(AdminError::Invalid(format!(
                "{} is a directory",
                path.display()
            )));
        }
        let format = match kind {
            ExportKind::Jsonl => ExportFormat::Jsonl,
            ExportKind::Csv => ExportFormat::Csv,
            ExportKind::Bundle => ExportFormat::Bundle,
        };
        let records = replace_with(path, 0o600, |file| {
            let mut out = std::io::BufWriter::new(file);
            let n = self.log.export(&filter, format, &mut out)?;
            std::io::Write::flush(&mut out)
                .map_err(|e| AdminError::io(format!("cannot write {}", path.display()), e))?;
            Ok(n)
        })?;
        Ok(Exported {
            path: path.display().to_string(),
            records,
        })
    }
}
