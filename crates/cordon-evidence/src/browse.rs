//! Browsing the log for viewers (the desktop's evidence window): pages of short rows with a
//! total count, the agents that have records, and activity over time.
//!
//! A [`Browser`] has its own READ-ONLY connection (`SQLITE_OPEN_READ_ONLY` and `PRAGMA
//! query_only`): browsing never writes, never waits on the engine's writer mutex, and the filter
//! is translated to SQL by the same code as every other query ([`crate::store::Where`]).

use std::path::Path;
use std::time::Duration;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::EvidenceError;
use crate::filter::Filter;
use crate::record::{Phase, format_timestamp};
use crate::store::{Where, to_i64, to_u64};

/// How long a read waits for a writer's lock.
const BUSY: Duration = Duration::from_secs(10);

/// One record as a table row (the full record is fetched on demand with
/// [`crate::EvidenceLog::get`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
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
    /// Which half of a write-ahead pair the row is (None: complete on its own). Viewers mark
    /// intents, so that one call's intent and outcome do not read as two calls.
    pub phase: Option<Phase>,
}

/// One page of rows, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(rename = "EvidencePage")]
pub struct Page {
    /// Records matching the filter (all pages).
    pub total: u64,
    /// This page, newest first.
    pub records: Vec<RecordRow>,
    /// Cursor of the next page (None: this is the last page).
    pub next_before_seq: Option<u64>,
}

/// Calls of one agent in one time bucket with one outcome ([`Browser::activity`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityRow {
    /// Bucket start, Unix seconds (None: a timestamp SQLite cannot read).
    pub start: Option<i64>,
    /// The agent.
    pub agent: String,
    /// How the calls ended (the stored text).
    pub outcome: String,
    /// How many.
    pub count: u64,
}

/// A read-only view of one evidence database for viewers.
pub struct Browser {
    conn: Connection,
}

impl Browser {
    /// Opens `path` read-only (it must exist: a viewer never creates a log). It reads folded
    /// records only: a viewer beside a writer folds the journal first
    /// ([`crate::EvidenceLog::fold_journal`]).
    pub fn open(path: &Path) -> Result<Browser, EvidenceError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY)?;
        conn.pragma_update(None, "query_only", true)?;
        Ok(Browser { conn })
    }

    /// Records matching `filter` (its `after_seq` read as "before this seq", newest first), at
    /// most `limit` of them, with the total count over all pages. `filter.limit` and
    /// `filter.oldest_first` are ignored.
    pub fn page(&self, filter: &Filter, limit: usize) -> Result<Page, EvidenceError> {
        let unpaged = Filter {
            after_seq: None,
            limit: None,
            oldest_first: false,
            ..filter.clone()
        };
        let Some(mut w) = Where::of(&self.conn, &unpaged)? else {
            return Ok(Page {
                total: 0,
                records: Vec::new(),
                next_before_seq: None,
            });
        };
        let total: i64 = self.conn.query_row(
            &format!("SELECT count(*) FROM records r{}", w.sql()),
            rusqlite::params_from_iter(w.params.iter()),
            |r| r.get(0),
        )?;
        if let Some(before) = filter.after_seq {
            w.push("r.seq < ?", vec![SqlValue::Integer(to_i64(before)?)]);
        }
        let sql = format!(
            "SELECT r.seq, r.id, r.timestamp, r.agent, r.session_id, r.server, r.tool, r.action, \
             r.target, r.decision, r.outcome, r.rule_id, r.reviewer, r.duration_ms, \
             r.diff_sha256 IS NOT NULL, r.phase FROM records r{} ORDER BY r.seq DESC LIMIT {}",
            w.sql(),
            limit.saturating_add(1)
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(w.params.iter()), |r| {
            Ok((
                r.get::<_, i64>(0)?,
                RecordRow {
                    seq: 0,
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
                    duration_ms: 0,
                    has_diff: r.get(14)?,
                    // An unknown spelling shows as no phase here; `verify` reports it.
                    phase: r
                        .get::<_, Option<String>>(15)?
                        .as_deref()
                        .and_then(Phase::parse),
                },
                r.get::<_, i64>(13)?,
            ))
        })?;
        let mut records = Vec::new();
        for row in rows {
            let (seq, mut record, duration) = row?;
            record.seq = to_u64(seq)?;
            record.duration_ms = to_u64(duration).unwrap_or(0);
            records.push(record);
        }
        let next_before_seq = if records.len() > limit {
            records.truncate(limit);
            records.last().map(|r| r.seq)
        } else {
            None
        };
        Ok(Page {
            total: to_u64(total)?,
            records,
            next_before_seq,
        })
    }

    /// Every agent that has a record, sorted.
    pub fn agents(&self) -> Result<Vec<String>, EvidenceError> {
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT agent FROM records ORDER BY agent")?;
        let agents = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(agents)
    }

    /// Calls per agent per `bucket_secs` bucket since `since`, by outcome, at most `max_rows`
    /// rows (one more is returned when there are more). A call that ran has an intent and an
    /// outcome: it counts once, by the record that closes it (open intents are in flight).
    pub fn activity(
        &self,
        since: Option<OffsetDateTime>,
        bucket_secs: u64,
        max_rows: usize,
    ) -> Result<Vec<ActivityRow>, EvidenceError> {
        let bucket = to_i64(bucket_secs.max(1))?;
        let mut params = vec![SqlValue::Integer(bucket)];
        let mut sql = "SELECT (unixepoch(timestamp) / ?1) * ?1 AS b, agent, outcome, count(*) \
                       FROM records WHERE phase IS NOT 'intent'"
            .to_owned();
        if let Some(t) = since {
            sql.push_str(" AND timestamp >= ?2");
            params.push(SqlValue::Text(format_timestamp(t)?));
        }
        sql.push_str(&format!(
            " GROUP BY b, agent, outcome ORDER BY b, agent LIMIT {}",
            max_rows.saturating_add(1)
        ));
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(params.iter()), |r| {
            let row = ActivityRow {
                start: r.get(0)?,
                agent: r.get(1)?,
                outcome: r.get(2)?,
                count: 0,
            };
            Ok((row, r.get::<_, i64>(3)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (mut row, count) = row?;
            row.count = to_u64(count)?;
            out.push(row);
        }
        Ok(out)
    }
}
