//! Mutable runtime state kept beside the evidence: limit counters and engine settings (the
//! kill switch), so budgets and a pause survive an engine restart.
//!
//! Why a type of its own: [`EvidenceLog`] is the append-only log (records are only appended and
//! read); these rows are working state, updated in place, outside the hash chain (every call a
//! counter accounts for has its own record in `records`). Keeping them on a separate type keeps
//! "what happened" and "what the engine is doing now" apart in the API, so the log type only
//! appends and reads.
//!
//! Same database file and tables (`counters`, `engine_state`, created by the log's migrations)
//! and the *same connection*: a [`RuntimeState`] holds the log it lives beside and uses its
//! connection. A second connection was the alternative; it was not taken because an in-memory
//! log (`:memory:`) has no file a second connection could open, because every use of the
//! connection goes through the log's guard of the `-shm` file (a truncated one would kill the
//! process with SIGBUS), and because the writes stay exactly as they were (one writer per
//! process for SQLite's lock, the same fsyncs).
//!
//! `engine_state` is shared with the log's own bookkeeping ([`EvidenceLog::close_open_intents`]
//! remembers there how far every intent is known to be closed; [`EvidenceLog::probe`] writes a
//! probe row): those keys ([`LOG_KEYS`]) are refused here.

use std::sync::Arc;

use rusqlite::OptionalExtension;

use crate::record::now_timestamp;
use crate::store::{HEALTH_PROBE, INTENTS_CLOSED_THROUGH, WAL_RESTARTED};
use crate::{EvidenceError, EvidenceLog};

/// Keys of `engine_state` the evidence log writes for itself; [`RuntimeState`] refuses them.
pub const LOG_KEYS: &[&str] = &[INTENTS_CLOSED_THROUGH, HEALTH_PROBE, WAL_RESTARTED];

/// The engine's mutable runtime state (limit counters, engine settings), stored in the evidence
/// database beside the log. Cheap to share in an `Arc`.
#[derive(Debug, Clone)]
pub struct RuntimeState {
    log: Arc<EvidenceLog>,
}

impl RuntimeState {
    /// The runtime state stored beside `log` (same file, same connection).
    pub fn new(log: Arc<EvidenceLog>) -> RuntimeState {
        RuntimeState { log }
    }

    /// The stored limit counters of one scope (a session id or `agent:<name>`): `(limit id,
    /// state JSON)` pairs. Kept with the evidence so budgets survive an engine restart.
    pub fn load_counters(&self, scope: &str) -> Result<Vec<(String, String)>, EvidenceError> {
        let conn = self.log.lock()?;
        let mut stmt = conn
            .prepare("SELECT limit_id, state FROM counters WHERE scope = ?1 ORDER BY limit_id")?;
        let rows = stmt.query_map([scope], |row| Ok((row.get(0)?, row.get(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row?);
        }
        Ok(out)
    }

    /// Stores (replaces) one limit counter's state, durably.
    pub fn save_counter(
        &self,
        scope: &str,
        limit_id: &str,
        state: &str,
    ) -> Result<(), EvidenceError> {
        let conn = self.log.lock()?;
        conn.execute(
            "INSERT INTO counters (scope, limit_id, state, updated_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (scope, limit_id) DO UPDATE SET state = excluded.state, \
             updated_at = excluded.updated_at",
            rusqlite::params![scope, limit_id, state, now_timestamp()?],
        )?;
        Ok(())
    }

    /// One engine setting (e.g. the kill switch), if set.
    pub fn engine_state(&self, key: &str) -> Result<Option<String>, EvidenceError> {
        let conn = self.log.lock()?;
        Ok(conn
            .query_row(
                "SELECT value FROM engine_state WHERE key = ?1",
                [key],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Stores (replaces) one engine setting, durably. The log's own bookkeeping keys (see
    /// [`LOG_KEYS`]) are refused: they are the log's, not the engine's, to change.
    pub fn set_engine_state(&self, key: &str, value: &str) -> Result<(), EvidenceError> {
        if LOG_KEYS.contains(&key) {
            return Err(EvidenceError::InvalidRecord(format!(
                "engine_state key `{key}` belongs to the evidence log"
            )));
        }
        let conn = self.log.lock()?;
        conn.execute(
            "INSERT INTO engine_state (key, value, updated_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            rusqlite::params![key, value, now_timestamp()?],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{KeyStore, NewRecord, Outcome};

    #[test]
    fn counters_and_engine_state_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.db");
        let keys = KeyStore::File(dir.path().join("k"));
        let open = || Arc::new(EvidenceLog::open(&path, keys.clone()).unwrap());
        {
            let state = RuntimeState::new(open());
            state
                .save_counter("sess_1", "budget", r#"{"calls":1}"#)
                .unwrap();
            state
                .save_counter("sess_1", "budget", r#"{"calls":2}"#)
                .unwrap();
            state
                .save_counter("sess_2", "budget", r#"{"calls":9}"#)
                .unwrap();
            state.set_engine_state("pause", r#"{"all":true}"#).unwrap();
            assert_eq!(state.engine_state("nope").unwrap(), None);
        }
        let log = open();
        let state = RuntimeState::new(log.clone());
        assert_eq!(
            state.load_counters("sess_1").unwrap(),
            vec![("budget".to_owned(), r#"{"calls":2}"#.to_owned())]
        );
        assert!(state.load_counters("sess_3").unwrap().is_empty());
        assert_eq!(
            state.engine_state("pause").unwrap().as_deref(),
            Some(r#"{"all":true}"#)
        );
        // The chain is untouched by runtime state.
        log.append(NewRecord {
            agent: "claude-code".into(),
            session_id: "s1".into(),
            action: "job.mcp-bridge.read.file".into(),
            decision: "allow".into(),
            outcome: Outcome::Allowed,
            ..NewRecord::default()
        })
        .unwrap();
        assert!(log.verify().unwrap().ok);
    }

    #[test]
    fn the_logs_own_keys_cannot_be_written_as_runtime_state() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(
            EvidenceLog::open(
                std::path::Path::new(":memory:"),
                KeyStore::File(dir.path().join("k")),
            )
            .unwrap(),
        );
        let state = RuntimeState::new(log.clone());
        for key in LOG_KEYS {
            assert!(state.set_engine_state(key, "999999").is_err(), "{key}");
        }
        // An intent left open is still closed at the next start: the bookkeeping is intact.
        let intent = log
            .append(NewRecord {
                agent: "a".into(),
                session_id: "s".into(),
                action: "job.mcp-bridge.read.file".into(),
                decision: "allow".into(),
                outcome: Outcome::Allowed,
                phase: Some(crate::Phase::Intent),
                ..NewRecord::default()
            })
            .unwrap();
        assert_eq!(log.close_open_intents("engine stopped").unwrap(), 1);
        assert_eq!(log.close_open_intents("engine stopped").unwrap(), 0);
        assert!(log.get(&intent.id).unwrap().is_some());
    }
}
