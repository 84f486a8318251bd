//! The durable outbox cursor: how far each sink has acknowledged this machine's chain.
//!
//! Kept in its own small SQLite file beside the evidence database (not in it), so advancing a
//! cursor never takes the evidence log's write lock and shipping cannot delay an append. A
//! cursor moves only after its sink acknowledged a batch (at least once delivery); the sinks
//! deduplicate by record id.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use crate::FleetError;

/// Positions a sink has acknowledged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Seq of the last record acknowledged (0: none).
    pub record_seq: u64,
    /// Hash of that record: shipping resumes only if the local chain still has it there (a
    /// replaced evidence database must not continue an old chain in the store).
    pub record_hash: String,
    /// Number of checkpoints acknowledged (in the log's order).
    pub checkpoints: u64,
    /// Number of public keys acknowledged.
    pub keys: u64,
}

/// The outbox database.
pub struct Outbox {
    conn: Connection,
    path: PathBuf,
}

/// The outbox file that belongs to an evidence database (`evidence.db` → `evidence.db-fleet`).
pub fn path_for(evidence: &Path) -> PathBuf {
    let mut name = evidence.as_os_str().to_os_string();
    name.push("-fleet");
    PathBuf::from(name)
}

impl Outbox {
    /// Opens (creating if needed, readable only by the user) the outbox at `path`.
    pub fn open(path: &Path) -> Result<Outbox, FleetError> {
        let err = |source| FleetError::Outbox {
            path: path.display().to_string(),
            source,
        };
        let conn = Connection::open(path).map_err(err)?;
        restrict(path);
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS cursors (
                sink TEXT PRIMARY KEY,
                record_seq INTEGER NOT NULL DEFAULT 0,
                checkpoints INTEGER NOT NULL DEFAULT 0,
                keys INTEGER NOT NULL DEFAULT 0,
                record_hash TEXT NOT NULL DEFAULT ''
            )",
        )
        .map_err(err)?;
        Ok(Outbox {
            conn,
            path: path.to_path_buf(),
        })
    }

    fn err(&self, source: rusqlite::Error) -> FleetError {
        FleetError::Outbox {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// The cursor of `sink` (all zero for a new sink).
    pub fn get(&self, sink: &str) -> Result<Cursor, FleetError> {
        let row = self
            .conn
            .query_row(
                "SELECT record_seq, checkpoints, keys, record_hash FROM cursors WHERE sink = ?1",
                params![sink],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let to_u64 = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(row.map_or_else(Cursor::default, |(r, c, k, h)| Cursor {
            record_seq: to_u64(r),
            record_hash: h,
            checkpoints: to_u64(c),
            keys: to_u64(k),
        }))
    }

    /// Durably records that `sink` acknowledged everything up to `cursor`.
    pub fn set(&self, sink: &str, cursor: &Cursor) -> Result<(), FleetError> {
        let to_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.conn
            .execute(
                "INSERT INTO cursors (sink, record_seq, checkpoints, keys, record_hash)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(sink) DO UPDATE SET record_seq = ?2, checkpoints = ?3, keys = ?4,
                 record_hash = ?5",
                params![
                    sink,
                    to_i64(cursor.record_seq),
                    to_i64(cursor.checkpoints),
                    to_i64(cursor.keys),
                    cursor.record_hash
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

#[cfg(unix)]
fn restrict(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    // Best effort: the cursor holds no secret, but Cordon's data files are private by rule.
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

#[cfg(not(unix))]
fn restrict(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_survives_reopen_and_is_per_sink() -> Result<(), FleetError> {
        let dir = tempfile::tempdir().map_err(|e| FleetError::Config(e.to_string()))?;
        let path = dir.path().join("evidence.db-fleet");
        {
            let outbox = Outbox::open(&path)?;
            assert_eq!(outbox.get("postgres")?, Cursor::default());
            let c = Cursor {
                record_seq: 42,
                record_hash: "ab".repeat(32),
                checkpoints: 1,
                keys: 1,
            };
            outbox.set("postgres", &c)?;
        }
        let outbox = Outbox::open(&path)?;
        assert_eq!(outbox.get("postgres")?.record_seq, 42);
        assert_eq!(outbox.get("postgres")?.record_hash, "ab".repeat(32));
        assert_eq!(outbox.get("otlp")?, Cursor::default());
        Ok(())
    }

    #[test]
    fn outbox_path_sits_beside_the_database() {
        assert_eq!(
            path_for(Path::new("/d/evidence.db")),
            PathBuf::from("/d/evidence.db-fleet")
        );
    }
}
