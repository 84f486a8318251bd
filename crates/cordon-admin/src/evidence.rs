//! The evidence viewer: paged, filtered queries with a total count, one record, distinct agents,
//! activity over time, verification and exports.
//!
//! Records, verification and exports go through cordon-evidence's API. The page query, the
//! total count, text search, distinct agents and activity buckets need SQL that crate does not
//! expose: they run here on a separate READ-ONLY SQLite connection (`SQLITE_OPEN_READ_ONLY` and
//! `PRAGMA query_only`), which can never write to the log.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cordon_evidence::{EvidenceLog, ExportFormat, Filter, Outcome, Record, TrustSource};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags};
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
/// How long a read waits for a writer's lock.
const BUSY: Duration = Duration::from_secs(10);

fn default_limit() -> usize {
    DEFAULT_PAGE
}

/// The viewer's filters; every field optional, set fields combine with AND.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// One table row (the full record is fetched on demand).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordRow {
    /// ULID.
    pub id: String,
    /// Position in the chain.
    pub seq: u64,
    /// When (RFC 3339 UTC).
    pub timestamp: String,
    /// The agent.
    pub agent: String,
    /// The session.
    pub session_id: String,
    /// The upstream server.
    pub server: String,
    /// The tool.
    pub tool: String,
    /// The topic.
    pub action: String,
    /// The target.
    pub target: Option<String>,
    /// The policy decision.
    pub decision: String,
    /// How the call ended.
    pub outcome: String,
    /// The rule that won.
    pub rule_id: Option<String>,
    /// Who approved or rejected.
    pub reviewer: Option<String>,
    /// Duration of the call.
    pub duration_ms: u64,
    /// A reviewed diff is attached.
    pub has_diff: bool,
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidencePage {
    /// Records matching the filters (all pages).
    pub total: u64,
    /// This page, newest first.
    pub records: Vec<RecordRow>,
    /// Cursor of the next page (None: this is the last page).
    pub next_before_seq: Option<u64>,
}

/// Calls of one agent in one time bucket, by how they ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// A WHERE clause with numbered parameters.
#[derive(Default)]
struct Where {
    clauses: Vec<String>,
    params: Vec<SqlValue>,
}

impl Where {
    /// Adds a clause whose `?` marks are numbered after the existing parameters.
    fn push(&mut self, clause: &str, values: Vec<SqlValue>) {
        let mut numbered = String::new();
        let mut n = self.params.len();
        for c in clause.chars() {
            numbered.push(c);
            if c == '?' {
                n += 1;
                numbered.push_str(&n.to_string());
            }
        }
        self.params.extend(values);
        self.clauses.push(numbered);
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
}

fn sql_error(error: rusqlite::Error) -> AdminError {
    AdminError::io_other("evidence database (read-only query)", error)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
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

    /// A read-only connection: this module never writes the log.
    fn read_only(&self) -> Result<Connection, AdminError> {
        let path = self.path()?;
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql_error)?;
        conn.busy_timeout(BUSY).map_err(sql_error)?;
        conn.pragma_update(None, "query_only", true)
            .map_err(sql_error)?;
        Ok(conn)
    }

    /// The WHERE clause of `q` (None: the action pattern matches no stored topic).
    fn conditions(conn: &Connection, q: &Checked) -> Result<Option<Where>, AdminError> {
        let mut w = Where::default();
        if let Some(agent) = &q.agent {
            w.push("agent = ?", vec![SqlValue::Text(agent.clone())]);
        }
        if let Some(decision) = &q.decision {
            w.push("decision = ?", vec![SqlValue::Text(decision.clone())]);
        }
        if let Some(outcome) = q.outcome {
            w.push(
                "outcome = ?",
                vec![SqlValue::Text(outcome.as_str().to_owned())],
            );
        }
        for (op, bound) in [(">=", q.since), ("<", q.until)] {
            if let Some(t) = bound {
                let text = cordon_evidence::format_timestamp(t)?;
                w.push(&format!("timestamp {op} ?"), vec![SqlValue::Text(text)]);
            }
        }
        if let Some(text) = &q.text {
            let v = || SqlValue::Text(text.clone());
            w.push(
                "(instr(lower(tool), ?) > 0 OR instr(lower(coalesce(target, '')), ?) > 0 \
                 OR instr(lower(reason), ?) > 0)",
                vec![v(), v(), v()],
            );
        }
        if let Some(pattern) = &q.action {
            let mut stmt = conn
                .prepare("SELECT DISTINCT action FROM records")
                .map_err(sql_error)?;
            let actions: Vec<String> = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(sql_error)?
                .filter_map(Result::ok)
                .filter(|a| cordon_evidence::action_matches(pattern, a))
                .collect();
            if actions.is_empty() {
                return Ok(None);
            }
            let marks = vec!["?"; actions.len()].join(", ");
            w.push(
                &format!("action IN ({marks})"),
                actions.into_iter().map(SqlValue::Text).collect(),
            );
        }
        Ok(Some(w))
    }

    /// One page of records matching the filters, newest first, with the total count.
    pub fn query(&self, query: &EvidenceQuery) -> Result<EvidencePage, AdminError> {
        if query.limit == 0 || query.limit > MAX_PAGE {
            return Err(AdminError::Invalid(format!(
                "limit must be 1 to {MAX_PAGE}"
            )));
        }
        let checked = query.check()?;
        let conn = self.read_only()?;
        let Some(mut w) = Self::conditions(&conn, &checked)? else {
            return Ok(EvidencePage {
                total: 0,
                records: Vec::new(),
                next_before_seq: None,
            });
        };
        let total: i64 = conn
            .query_row(
                &format!("SELECT count(*) FROM records{}", w.sql()),
                rusqlite::params_from_iter(w.params.iter()),
                |r| r.get(0),
            )
            .map_err(sql_error)?;
        if let Some(before) = query.before_seq {
            let before = i64::try_from(before).unwrap_or(i64::MAX);
            w.push("seq < ?", vec![SqlValue::Integer(before)]);
        }
        let sql = format!(
            "SELECT seq, id, timestamp, agent, session_id, server, tool, action, target, decision, \
             outcome, rule_id, reviewer, duration_ms, diff_sha256 IS NOT NULL FROM records{} \
             ORDER BY seq DESC LIMIT {}",
            w.sql(),
            query.limit + 1
        );
        let mut stmt = conn.prepare(&sql).map_err(sql_error)?;
        let mut records: Vec<RecordRow> = stmt
            .query_map(rusqlite::params_from_iter(w.params.iter()), |r| {
                Ok(RecordRow {
                    seq: to_u64(r.get(0)?),
                    id: r.get(1)?,
                    timestamp: r.get(2)?,
                    agent: r.get(3)?,
                    session_id: r.get(4)?,
                    server: r.get(5)?,
                    tool: r.get(6)?,
                    action: r.get(7)?,
                    target: r.get(8)?,
                    decision: r.get(9)?,
                    outcome: r.get(10)?,
                    rule_id: r.get(11)?,
                    reviewer: r.get(12)?,
                    duration_ms: to_u64(r.get(13)?),
                    has_diff: r.get(14)?,
                })
            })
            .map_err(sql_error)?
            .collect::<Result<_, _>>()
            .map_err(sql_error)?;
        let next_before_seq = if records.len() > query.limit {
            records.truncate(query.limit);
            records.last().map(|r| r.seq)
        } else {
            None
        };
        Ok(EvidencePage {
            total: to_u64(total),
            records,
            next_before_seq,
        })
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
        let conn = self.read_only()?;
        let mut stmt = conn
            .prepare("SELECT DISTINCT agent FROM records ORDER BY agent")
            .map_err(sql_error)?;
        let agents = stmt
            .query_map([], |r| r.get(0))
            .map_err(sql_error)?
            .collect::<Result<_, _>>()
            .map_err(sql_error)?;
        Ok(agents)
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
        let conn = self.read_only()?;
        let bucket = i64::try_from(bucket_secs).unwrap_or(i64::MAX);
        let mut params = vec![SqlValue::Integer(bucket)];
        // A call that ran has an intent and an outcome: count it once, by the record that
        // closes it (intents still open are in flight, not yet an outcome).
        let mut sql = "SELECT (unixepoch(timestamp) / ?1) * ?1 AS b, agent, outcome, count(*) \
                       FROM records WHERE phase IS NOT 'intent'"
            .to_owned();
        if let Some(t) = since {
            sql.push_str(" AND timestamp >= ?2");
            params.push(SqlValue::Text(cordon_evidence::format_timestamp(t)?));
        }
        sql.push_str(&format!(
            " GROUP BY b, agent, outcome ORDER BY b, agent LIMIT {}",
            MAX_BUCKETS * 6 + 1
        ));
        let mut stmt = conn.prepare(&sql).map_err(sql_error)?;
        let rows: Vec<(Option<i64>, String, String, i64)> = stmt
            .query_map(rusqlite::params_from_iter(params.iter()), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(sql_error)?
            .collect::<Result<_, _>>()
            .map_err(sql_error)?;
        let mut buckets: BTreeMap<(i64, String), ActivityBucket> = BTreeMap::new();
        for (start, agent, outcome, count) in rows {
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
            let n = to_u64(count);
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
        let records = replace_with(
            path,
            0o600,
            |file| {
                let mut out = std::io::BufWriter::new(file);
                let n = self.log.export(&filter, format, &mut out)?;
                std::io::Write::flush(&mut out)
                    .map_err(|e| AdminError::io(format!("cannot write {}", path.display()), e))?;
                Ok(n)
            },
            |_| Ok(()),
        )?;
        Ok(Exported {
            path: path.display().to_string(),
            records,
        })
    }
}
