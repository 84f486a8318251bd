//! The SQLite store: open, append, checkpoint, policy snapshots and queries.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior};
use serde::{Deserialize, Serialize};

use crate::filter::{Filter, action_matches};
use crate::keys::{fingerprint, public_key_hex};
use crate::placement::{Placement, with_suffix};
use crate::record::{
    DECISIONS, GENESIS_HASH, HashInput, NewRecord, Outcome, Phase, Record, args_text,
    format_timestamp, now_timestamp, phased, sha256_hex,
};
use crate::{EvidenceError, KeyStore};

/// Schema migrations, applied in order on open (timestamped `.sql` files).
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "20261125000000_init",
        include_str!("../migrations/20261125000000_init.sql"),
    ),
    (
        "20261125040000_runtime_state",
        include_str!("../migrations/20261125040000_runtime_state.sql"),
    ),
    (
        "20261206000000_write_ahead",
        include_str!("../migrations/20261206000000_write_ahead.sql"),
    ),
    (
        "20261206010000_approval_channel",
        include_str!("../migrations/20261206010000_approval_channel.sql"),
    ),
    (
        "20261207000000_journal",
        include_str!("../migrations/20261207000000_journal.sql"),
    ),
];

/// Journal rows past which a lone call's append folds the journal first, in its own
/// transaction, instead of leaving it to the engine's idle time: the bound when lone calls come
/// back to back and the engine is never idle, and what makes a journal that cannot be folded
/// refuse appends (fail closed).
pub const JOURNAL_FOLD_FALLBACK: u64 = 512;

/// Where an append writes its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// The journal: an append that came alone (nothing waits for the connection), where a
    /// call's latency is all that matters.
    Journal,
    /// Straight into `records` (after folding what waits, in the same transaction): a group
    /// commit of concurrent calls shares the indexes' pages, so the journal would only add a
    /// second write and a fold under load.
    Records,
}

/// How durable a committed append is when the call returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Written and fsynced (survives power loss). Intents: nothing runs before this.
    Synced,
    /// Written to the write-ahead log, not yet fsynced: survives the engine being killed (the
    /// kernel holds the data), is fsynced by the next synced commit or [`EvidenceLog::sync`].
    /// A power loss before that can lose it; an intent it closed is then closed as
    /// `interrupted` at the next start, so the log never claims something that did not happen.
    Committed,
}

/// The engine-state key holding the seq up to which every intent is known to be closed.
pub(crate) const INTENTS_CLOSED_THROUGH: &str = "intents_closed_through";

/// The engine-state key [`EvidenceLog::probe`] writes to find out whether the log is writable.
pub(crate) const HEALTH_PROBE: &str = "health_probe";

/// The engine-state key [`EvidenceLog::fold_wal`] writes to start SQLite's write-ahead log
/// afresh on idle time (its value: when).
pub(crate) const WAL_RESTARTED: &str = "wal_restarted";

/// How long a writer waits for another process's write transaction before failing (closed).
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Default number of records between automatic checkpoints.
pub const DEFAULT_CHECKPOINT_INTERVAL: u64 = 100;

/// Domain separation for checkpoint signatures.
pub(crate) const CHECKPOINT_TYPE: &str = "cordon-evidence-checkpoint/1";

/// A signed statement "the chain had `count` records and its head was `head_hash` at `seq`".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Seq of the head record at signing time.
    pub seq: u64,
    /// Hash of that record.
    pub head_hash: String,
    /// Number of records covered (equals `seq` for an intact chain).
    pub count: u64,
    /// When it was signed.
    pub timestamp: String,
    /// Fingerprint of the signing key (see [`crate::fingerprint`]).
    pub key_fingerprint: String,
    /// Base64 ed25519 signature over [`Checkpoint::signed_message`].
    pub signature: String,
}

/// The canonical (sorted keys, compact) JSON that a checkpoint signature covers.
#[derive(Serialize)]
struct CheckpointMessage<'a> {
    count: u64,
    head_hash: &'a str,
    key_fingerprint: &'a str,
    seq: u64,
    timestamp: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
}

impl Checkpoint {
    /// The bytes the signature covers.
    pub fn signed_message(&self) -> Result<Vec<u8>, EvidenceError> {
        Ok(serde_json::to_vec(&CheckpointMessage {
            count: self.count,
            head_hash: &self.head_hash,
            key_fingerprint: &self.key_fingerprint,
            seq: self.seq,
            timestamp: &self.timestamp,
            kind: CHECKPOINT_TYPE,
        })?)
    }
}

/// A public key recorded in the log (or a bundle) as having signed checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedKey {
    /// See [`crate::fingerprint`].
    pub fingerprint: String,
    /// Always `ed25519`.
    pub algorithm: String,
    /// Hex of the 32-byte public key.
    pub public_key: String,
    /// When the key was first recorded.
    pub added_at: String,
}

/// The append-only evidence log. Cheap to share in an `Arc`; appends from several threads and
/// several processes are serialised by SQLite's write lock so the chain never forks.
pub struct EvidenceLog {
    conn: Mutex<Connection>,
    /// The connection's synchronous mode (`MODE_*`): an append that needed no sync of its own
    /// ([`Durability::Committed`]) leaves it NORMAL; read and written only while holding `conn`.
    /// Appends in a row then switch nothing (each switch re-prepares its pragma: SQLite runs a
    /// pragma once per preparation), and [`EvidenceLog::lock`] puts FULL back for every other
    /// use of the connection.
    sync_mode: std::sync::atomic::AtomicU8,
    /// Appends waiting for the connection; whoever holds it commits them all in one transaction.
    queue: Mutex<Vec<(NewRecord, Slot)>>,
    path: Option<PathBuf>,
    signing: Option<SigningKey>,
    key_fingerprint: Option<String>,
    checkpoint_interval: u64,
    /// The largest size of the `-shm` file seen (see [`EvidenceLog::guard_shm`]).
    shm_len: std::sync::atomic::AtomicU64,
    /// Rows this process put in the journal since it last folded it (see
    /// [`JOURNAL_FOLD_FALLBACK`]).
    journaled: std::sync::atomic::AtomicU64,
    /// The highest seq this log has seen as its head (at open) or appended: the head never
    /// goes below it unless records were deleted (see [`EvidenceLog::checked_head`]).
    written_through: std::sync::atomic::AtomicU64,
    /// The files this log opened, checked before every use (see `placement.rs`).
    placement: Placement,
}

impl std::fmt::Debug for EvidenceLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvidenceLog")
            .field("path", &self.path)
            .field("key_fingerprint", &self.key_fingerprint)
            .field("checkpoint_interval", &self.checkpoint_interval)
            .finish_non_exhaustive()
    }
}

/// Where a queued append's result is handed back.
type Slot = Arc<Mutex<Option<Result<Record, EvidenceError>>>>;

/// The default database location: `<data dir>/cordon/evidence.db`.
pub fn default_path() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("cordon").join("evidence.db"))
}

/// Creates a directory (and parents) readable only by the user.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), EvidenceError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| EvidenceError::io(dir, e))?;
    // Windows: a protected DACL for the current user alone, inherited by the files inside.
    #[cfg(windows)]
    cordon_winsec::make_path_private(dir).map_err(|e| EvidenceError::io(dir, e))?;
    Ok(())
}

#[cfg(unix)]
fn make_private(path: &Path) -> Result<(), EvidenceError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| EvidenceError::io(path, e))?;
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| EvidenceError::io(path, e))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn make_private(_path: &Path) -> Result<(), EvidenceError> {
    Ok(())
}

/// Write-ahead-log pages (16 MiB) after which an append folds the log into the database
/// itself. Above SQLite's default (1,000 pages): the engine folds it while idle
/// ([`EvidenceLog::fold_wal`]), so an append pays for a fold only under sustained load, and then
/// less often (a fold writes each page once, however many commits changed it).
pub const WAL_FOLD_FALLBACK_PAGES: i64 = 4_096;

/// The connection's synchronous mode as [`EvidenceLog`] last set it (see its `sync_mode` field).
const MODE_FULL: u8 = 0;
const MODE_NORMAL: u8 = 1;
/// Not known: set at open (the mode is set there, but by another path) and after a failed
/// switch; the next use sets the mode it needs.
const MODE_UNKNOWN: u8 = 2;

fn configure(conn: &Connection) -> Result<(), EvidenceError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let _mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_FOLD_FALLBACK_PAGES)?;
    // Index pages stay in memory as the log grows, instead of being read back for each append.
    conn.pragma_update(None, "cache_size", -16_384_i64)?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<(), EvidenceError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)",
    )?;
    for (version, sql) in MIGRATIONS {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let applied: bool = tx
            .query_row(
                "SELECT 1 FROM schema_migrations WHERE version = ?1",
                [version],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if !applied {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                rusqlite::params![version, now_timestamp()?],
            )?;
        }
        tx.commit()?;
    }
    Ok(())
}

pub(crate) fn to_i64(n: u64) -> Result<i64, EvidenceError> {
    i64::try_from(n).map_err(|_| EvidenceError::InvalidRecord(format!("{n} is out of range")))
}

pub(crate) fn to_u64(n: i64) -> Result<u64, EvidenceError> {
    u64::try_from(n).map_err(|_| EvidenceError::Corrupt(format!("negative number {n}")))
}

/// A record row as stored: texts unparsed, so `verify` hashes exactly what is on disk.
pub(crate) struct RawRecord {
    pub seq: i64,
    pub id: String,
    pub timestamp: String,
    pub agent: String,
    pub session_id: String,
    pub server: String,
    pub tool: String,
    pub action: String,
    pub target: Option<String>,
    pub risk_tags: String,
    pub decision: String,
    pub rule_id: Option<String>,
    pub reason: String,
    pub policy_version: String,
    pub reviewer: Option<String>,
    pub outcome: String,
    pub args_sha256: String,
    pub diff_sha256: Option<String>,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub prev_hash: String,
    pub hash: String,
    pub args: Option<String>,
    pub diff: Option<String>,
    pub phase: Option<String>,
    pub intent_id: Option<String>,
    pub approval_channel: Option<String>,
}

pub(crate) const RAW_SELECT: &str = "SELECT r.seq, r.id, r.timestamp, r.agent, r.session_id, \
    r.server, r.tool, r.action, r.target, r.risk_tags, r.decision, r.rule_id, r.reason, \
    r.policy_version, r.reviewer, r.outcome, r.args_sha256, r.diff_sha256, r.duration_ms, \
    r.error, r.prev_hash, r.hash, a.content, d.content, r.phase, r.intent_id, r.approval_channel \
    FROM records r \
    LEFT JOIN blobs a ON a.sha256 = r.args_sha256 LEFT JOIN blobs d ON d.sha256 = r.diff_sha256";

impl RawRecord {
    pub(crate) fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            seq: row.get(0)?,
            id: row.get(1)?,
            timestamp: row.get(2)?,
            agent: row.get(3)?,
            session_id: row.get(4)?,
            server: row.get(5)?,
            tool: row.get(6)?,
            action: row.get(7)?,
            target: row.get(8)?,
            risk_tags: row.get(9)?,
            decision: row.get(10)?,
            rule_id: row.get(11)?,
            reason: row.get(12)?,
            policy_version: row.get(13)?,
            reviewer: row.get(14)?,
            outcome: row.get(15)?,
            args_sha256: row.get(16)?,
            diff_sha256: row.get(17)?,
            duration_ms: row.get(18)?,
            error: row.get(19)?,
            prev_hash: row.get(20)?,
            hash: row.get(21)?,
            args: row.get(22)?,
            diff: row.get(23)?,
            phase: row.get(24)?,
            intent_id: row.get(25)?,
            approval_channel: row.get(26)?,
        })
    }

    /// Recomputes the hash from the stored columns (`None` if a column is unparseable).
    pub(crate) fn compute_hash(&self, risk_tags: &[String]) -> Result<String, EvidenceError> {
        let (intent_id, phase, v) = phased(self.phase.as_deref(), self.intent_id.as_deref());
        HashInput {
            action: &self.action,
            agent: &self.agent,
            approval_channel: self.approval_channel.as_deref(),
            args_sha256: &self.args_sha256,
            decision: &self.decision,
            diff_sha256: self.diff_sha256.as_deref(),
            duration_ms: to_u64(self.duration_ms)?,
            error: self.error.as_deref(),
            id: &self.id,
            intent_id,
            outcome: &self.outcome,
            phase,
            policy_version: &self.policy_version,
            prev_hash: &self.prev_hash,
            reason: &self.reason,
            reviewer: self.reviewer.as_deref(),
            risk_tags,
            rule_id: self.rule_id.as_deref(),
            seq: to_u64(self.seq)?,
            server: &self.server,
            session_id: &self.session_id,
            target: self.target.as_deref(),
            timestamp: &self.timestamp,
            tool: &self.tool,
            v,
        }
        .hash()
    }

    pub(crate) fn into_record(self) -> Result<Record, EvidenceError> {
        let corrupt = |what: &str| EvidenceError::Corrupt(format!("record {}: {what}", self.seq));
        let args_text = self
            .args
            .as_deref()
            .ok_or_else(|| corrupt("args blob missing"))?;
        let args = serde_json::from_str(args_text).map_err(|_| corrupt("args are not JSON"))?;
        let risk_tags =
            serde_json::from_str(&self.risk_tags).map_err(|_| corrupt("risk_tags malformed"))?;
        let outcome = Outcome::parse(&self.outcome).ok_or_else(|| corrupt("unknown outcome"))?;
        if self.diff_sha256.is_some() && self.diff.is_none() {
            return Err(corrupt("diff blob missing"));
        }
        let phase = match self.phase.as_deref() {
            None => None,
            Some(p) => Some(Phase::parse(p).ok_or_else(|| corrupt("unknown phase"))?),
        };
        Ok(Record {
            id: self.id,
            seq: to_u64(self.seq)?,
            timestamp: self.timestamp,
            call: NewRecord {
                agent: self.agent,
                session_id: self.session_id,
                server: self.server,
                tool: self.tool,
                action: self.action,
                target: self.target,
                risk_tags,
                decision: self.decision,
                rule_id: self.rule_id,
                reason: self.reason,
                policy_version: self.policy_version,
                reviewer: self.reviewer,
                approval_channel: self.approval_channel,
                outcome,
                args,
                diff: self.diff,
                duration_ms: to_u64(self.duration_ms)?,
                error: self.error,
                phase,
                intent_id: self.intent_id,
            },
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

pub(crate) fn read_checkpoints(conn: &Connection) -> Result<Vec<Checkpoint>, EvidenceError> {
    let mut stmt = conn.prepare(
        "SELECT seq, head_hash, count, timestamp, key_fingerprint, signature FROM checkpoints ORDER BY seq, id",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, i64>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, String>(4)?,
            row.get::<_, String>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, head_hash, count, timestamp, key_fingerprint, signature) = row?;
        out.push(Checkpoint {
            seq: to_u64(seq)?,
            head_hash,
            count: to_u64(count)?,
            timestamp,
            key_fingerprint,
            signature,
        });
    }
    Ok(out)
}

pub(crate) fn read_keys(conn: &Connection) -> Result<Vec<RecordedKey>, EvidenceError> {
    let mut stmt = conn.prepare(
        "SELECT fingerprint, algorithm, public_key, added_at FROM signing_keys ORDER BY rowid",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok(RecordedKey {
            fingerprint: row.get(0)?,
            algorithm: row.get(1)?,
            public_key: row.get(2)?,
            added_at: row.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// A policy version and its `(name, text)` sources.
pub(crate) type PolicyRow = (String, Vec<(String, String)>);

pub(crate) fn read_policies(conn: &Connection) -> Result<Vec<PolicyRow>, EvidenceError> {
    let mut stmt = conn
        .prepare("SELECT version, sources FROM policy_snapshots ORDER BY recorded_at, version")?;
    let rows = stmt.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (version, sources) = row?;
        let sources = serde_json::from_str(&sources)
            .map_err(|_| EvidenceError::Corrupt(format!("policy snapshot {version} malformed")))?;
        out.push((version, sources));
    }
    Ok(out)
}

impl EvidenceLog {
    /// Opens (creating if needed) the log at `path` (`:memory:` for a private in-memory log),
    /// applies migrations, and loads or creates the signing key from `keys`. Fails closed when the
    /// key store is unreachable.
    pub fn open(path: &Path, keys: KeyStore) -> Result<Self, EvidenceError> {
        let signing = keys.load_or_create()?;
        let (mut conn, stored_path) = if path.as_os_str() == ":memory:" {
            (Connection::open_in_memory()?, None)
        } else {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                create_private_dir(parent)?;
            }
            let conn = Connection::open(path)?;
            (conn, Some(path.to_path_buf()))
        };
        configure(&conn)?;
        migrate(&mut conn)?;
        let placement = match &stored_path {
            Some(p) => {
                make_private(p)?;
                Placement::of(p)?
            }
            None => Placement::default(),
        };
        // The head as found: nothing this log sees later may end below it.
        let found = head(&conn)?.map_or(0, |(seq, _)| seq);
        let key_fingerprint = signing.as_ref().map(|k| fingerprint(&k.verifying_key()));
        if let (Some(key), Some(fp)) = (&signing, &key_fingerprint) {
            conn.execute(
                "INSERT OR IGNORE INTO signing_keys (fingerprint, algorithm, public_key, added_at) \
                 VALUES (?1, 'ed25519', ?2, ?3)",
                rusqlite::params![fp, public_key_hex(&key.verifying_key()), now_timestamp()?],
            )?;
        }
        Ok(Self {
            conn: Mutex::new(conn),
            sync_mode: std::sync::atomic::AtomicU8::new(MODE_UNKNOWN),
            queue: Mutex::new(Vec::new()),
            shm_len: std::sync::atomic::AtomicU64::new(0),
            journaled: std::sync::atomic::AtomicU64::new(0),
            written_through: std::sync::atomic::AtomicU64::new(found),
            placement,
            path: stored_path,
            signing,
            key_fingerprint,
            checkpoint_interval: DEFAULT_CHECKPOINT_INTERVAL,
        })
    }

    /// Checkpoint automatically every `n` records (0 turns automatic checkpoints off; explicit
    /// [`EvidenceLog::checkpoint`] calls still work).
    #[must_use]
    pub fn with_checkpoint_interval(mut self, n: u64) -> Self {
        self.checkpoint_interval = n;
        self
    }

    /// The public key this log signs with (None when opened read-only).
    pub fn public_key(&self) -> Option<VerifyingKey> {
        self.signing.as_ref().map(SigningKey::verifying_key)
    }

    /// The database file (None for an in-memory log).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, Connection>, EvidenceError> {
        let conn = self.lock_for_append()?;
        // Keys, checkpoints, policies, folds: every write but an append's commits fully synced.
        self.set_synchronous(&conn, Durability::Synced)?;
        Ok(conn)
    }

    /// The connection for [`EvidenceLog::append_on`], which sets the synchronous mode it needs.
    fn lock_for_append(&self) -> Result<MutexGuard<'_, Connection>, EvidenceError> {
        let conn = self.conn.lock().map_err(|_| EvidenceError::Poisoned)?;
        self.guard_files()?;
        Ok(conn)
    }

    /// Puts the held connection in the synchronous mode `durability` needs (FULL: every commit
    /// synced; NORMAL: not), running the pragma only when the mode changes. A switch that
    /// failed leaves the mode unknown, so the next use sets it again rather than trust it.
    fn set_synchronous(
        &self,
        conn: &Connection,
        durability: Durability,
    ) -> Result<(), EvidenceError> {
        use std::sync::atomic::Ordering;
        let (mode, sql) = match durability {
            Durability::Committed => (MODE_NORMAL, "PRAGMA synchronous = NORMAL"),
            Durability::Synced => (MODE_FULL, "PRAGMA synchronous = FULL"),
        };
        if self.sync_mode.load(Ordering::Relaxed) == mode {
            return Ok(());
        }
        self.sync_mode.store(MODE_UNKNOWN, Ordering::Relaxed);
        conn.execute_batch(sql)?;
        self.sync_mode.store(mode, Ordering::Relaxed);
        Ok(())
    }

    /// What every use of the connection checks first: the log's files are still where it
    /// opened them, and the `-shm` mapping is still backed.
    fn guard_files(&self) -> Result<(), EvidenceError> {
        self.placement.check()?;
        self.guard_shm()
    }

    /// SQLite maps the `-shm` file (the WAL index) into memory; a process that truncates it
    /// (the agent runs as the same user) would make the next access to the mapping kill the
    /// engine with SIGBUS. Before every use of the connection the file's size is checked and a
    /// shrunken file is grown back (with zeros: SQLite then sees an invalid index header and
    /// rebuilds the index from the WAL), so the mapping stays backed. A truncation racing the
    /// few microseconds between this check and SQLite's access is not covered.
    fn guard_shm(&self) -> Result<(), EvidenceError> {
        use std::sync::atomic::Ordering;
        let Some(path) = &self.path else {
            return Ok(());
        };
        let shm = with_suffix(path, "-shm");
        let known = self.shm_len.load(Ordering::Relaxed);
        match std::fs::symlink_metadata(&shm) {
            Ok(meta) if meta.len() < known => {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&shm)
                    .and_then(|f| f.set_len(known))
                    .map_err(|e| EvidenceError::io(&shm, e))?;
            }
            Ok(meta) => {
                self.shm_len.fetch_max(meta.len(), Ordering::Relaxed);
            }
            // Removed: the mapping keeps the old file alive; nothing to protect.
            Err(_) => {}
        }
        Ok(())
    }

    /// Runs `f` on a connection that sees one consistent snapshot: a separate read-only
    /// connection for file logs (so long reads do not block appends), the main one in memory.
    pub(crate) fn with_snapshot<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, EvidenceError>,
    ) -> Result<T, EvidenceError> {
        // The snapshot starts after the journal is folded: it holds every record appended
        // before the read.
        drop(self.lock_folded()?);
        match &self.path {
            Some(path) => {
                self.guard_files()?;
                let mut conn = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                conn.busy_timeout(BUSY_TIMEOUT)?;
                // Long scans (verify, export): a larger page cache. Never `mmap_size`: a mapped
                // file that another process truncates kills the reader with SIGBUS.
                conn.pragma_update(None, "cache_size", -65_536_i64)?;
                let tx = conn.transaction()?;
                // Start the read transaction now so every later query sees the same snapshot.
                tx.query_row("SELECT count(*) FROM records", [], |_| Ok(()))?;
                let out = f(&tx)?;
                tx.finish()?;
                Ok(out)
            }
            None => {
                let conn = self.lock()?;
                f(&conn)
            }
        }
    }

    /// Appends one record; durable (fsynced) before it returns.
    ///
    /// Concurrent callers share commits (group commit): each caller queues its record, and the
    /// thread that holds the connection commits everything queued in one transaction and one
    /// fsync. Every caller returns only after the transaction holding its record committed.
    pub fn append(&self, rec: NewRecord) -> Result<Record, EvidenceError> {
        if self.signing.is_none() {
            return Err(EvidenceError::ReadOnly);
        }
        validate(&rec)?;
        let slot: Slot = Arc::default();
        self.queue
            .lock()
            .map_err(|_| EvidenceError::Poisoned)?
            .push((rec, Arc::clone(&slot)));
        let mut conn = match self.lock() {
            Ok(conn) => conn,
            Err(error) => {
                // Refused: take the record back, or a later holder would commit it after its
                // caller was told it failed. `lock` fails while holding the connection or on a
                // poisoned one, so no holder is midway through committing the queue: the record
                // is either still queued or already committed (its slot then says so).
                self.queue
                    .lock()
                    .map_err(|_| EvidenceError::Poisoned)?
                    .retain(|(_, s)| !Arc::ptr_eq(s, &slot));
                return take_slot(&slot)?.unwrap_or(Err(error));
            }
        };
        if let Some(done) = take_slot(&slot)? {
            return done; // an earlier holder of the connection committed it
        }
        let jobs = std::mem::take(&mut *self.queue.lock().map_err(|_| EvidenceError::Poisoned)?);
        let (recs, slots): (Vec<NewRecord>, Vec<Slot>) = jobs.into_iter().unzip();
        match self.commit(&mut conn, recs, Route::Records) {
            Ok(records) => {
                for (record, s) in records.into_iter().zip(&slots) {
                    *s.lock().map_err(|_| EvidenceError::Poisoned)? = Some(Ok(record));
                }
            }
            Err(error) => {
                let message = error.to_string();
                let mut own = Some(error);
                for s in &slots {
                    let result = if Arc::ptr_eq(s, &slot) {
                        own.take()
                            .unwrap_or_else(|| EvidenceError::GroupCommit(message.clone()))
                    } else {
                        EvidenceError::GroupCommit(message.clone())
                    };
                    *s.lock().map_err(|_| EvidenceError::Poisoned)? = Some(Err(result));
                }
            }
        }
        drop(conn);
        take_slot(&slot)?.unwrap_or_else(|| {
            Err(EvidenceError::Corrupt(
                "group commit lost a queued record".into(),
            ))
        })
    }

    /// Appends several records in one transaction (one fsync): all or none.
    pub fn append_batch(&self, recs: Vec<NewRecord>) -> Result<Vec<Record>, EvidenceError> {
        self.append_batch_with(recs, Durability::Synced)
    }

    /// Appends several records in one transaction, all or none, durable as `durability` says
    /// when it returns (see [`Durability`]). Straight into `records`, after what waits in the
    /// journal (a group commit shares the indexes' pages).
    pub fn append_batch_with(
        &self,
        recs: Vec<NewRecord>,
        durability: Durability,
    ) -> Result<Vec<Record>, EvidenceError> {
        self.appendable(&recs)?;
        let mut conn = self.lock_for_append()?;
        self.append_on(&mut conn, recs, durability, Route::Records)
    }

    /// Whether `recs` may be appended at all: a log opened read-only takes none, and every
    /// record must be well formed.
    fn appendable(&self, recs: &[NewRecord]) -> Result<(), EvidenceError> {
        if self.signing.is_none() {
            return Err(EvidenceError::ReadOnly);
        }
        recs.iter().try_for_each(validate)
    }

    /// Appends `recs` on the calling thread only if that needs no waiting, into the journal
    /// (a lone call's path, where its latency is all that matters): `None` when the
    /// connection is in use in this process, or when another process holds SQLite's write lock
    /// (nothing was written; ask [`EvidenceLog::append_batch_with`], which waits). Lets a caller
    /// on an async runtime skip the hand-off to a writer thread when the log is free.
    pub fn try_append_batch_now(
        &self,
        recs: Vec<NewRecord>,
        durability: Durability,
    ) -> Option<Result<Vec<Record>, EvidenceError>> {
        if let Err(e) = self.appendable(&recs) {
            return Some(Err(e));
        }
        let mut conn = match self.conn.try_lock() {
            Ok(conn) => conn,
            Err(std::sync::TryLockError::WouldBlock) => return None,
            Err(std::sync::TryLockError::Poisoned(_)) => return Some(Err(EvidenceError::Poisoned)),
        };
        if let Err(e) = self.guard_files() {
            return Some(Err(e));
        }
        // Another process's write transaction: give up at once instead of waiting for it.
        if let Err(e) = conn.busy_timeout(Duration::ZERO) {
            return Some(Err(e.into()));
        }
        let result = self.append_on(&mut conn, recs, durability, Route::Journal);
        if let Err(e) = conn.busy_timeout(BUSY_TIMEOUT) {
            // Later writes then give up on a busy database instead of waiting: they refuse
            // their calls (closed), never pass them.
            tracing::error!("evidence log: cannot restore the busy timeout: {e}");
        }
        match result {
            Err(EvidenceError::Sqlite(e))
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) =>
            {
                None
            }
            other => Some(other),
        }
    }

    /// One append on a held connection, committed as durably as asked: the connection is put
    /// in the synchronous mode that needs first, so an intent is fsynced even if an earlier
    /// switch failed. A committed-only append leaves it in NORMAL for the next one (see
    /// [`EvidenceLog::lock`]).
    fn append_on(
        &self,
        conn: &mut Connection,
        recs: Vec<NewRecord>,
        durability: Durability,
        route: Route,
    ) -> Result<Vec<Record>, EvidenceError> {
        if recs.is_empty() {
            return Ok(Vec::new());
        }
        self.set_synchronous(conn, durability)?;
        self.commit(conn, recs, route)
    }

    /// Makes everything committed so far durable (fsyncs the write-ahead log): what a
    /// [`Durability::Committed`] append leaves for later.
    pub fn sync(&self) -> Result<(), EvidenceError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let wal = with_suffix(path, "-wal");
        // Hold the connection so no commit runs while we sync (and the file is not reset).
        let _conn = self.lock()?;
        match open_for_sync(&wal)? {
            Some(file) => file.sync_data().map_err(|e| EvidenceError::io(&wal, e)),
            None => Ok(()),
        }
    }

    /// Makes every commit made before this call durable, *without* holding the connection, so
    /// later commits go on while the disk flushes: the engine's writer commits a batch of intents
    /// unsynced ([`Durability::Committed`]), then one flush here covers that batch and every
    /// batch committed meanwhile (pipelined group commit: under load the disk's flush, not the
    /// connection, sets the pace). Sound without the lock: a commit's frames are in the
    /// write-ahead log's page cache when it returns, and SQLite reuses the log only after a
    /// checkpoint copied them into the database and synced it, so whatever this flush no longer
    /// finds in the log is already durable there. Fails, so its callers refuse their calls, when
    /// the log's files are not where they were opened.
    pub fn flush_committed(&self) -> Result<(), EvidenceError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let wal = with_suffix(path, "-wal");
        let Some(file) = open_for_sync(&wal)? else {
            // Not there: removed (the database check refuses it) or never written.
            return self.placement.check();
        };
        // The file flushed is the log SQLite writes, the one the next engine start reads.
        self.placement.check_opened(&wal, &file)?;
        file.sync_data().map_err(|e| EvidenceError::io(&wal, e))
    }

    /// Closes every intent that no later record closes with an outcome `interrupted` (the
    /// engine stopped between the two), in one synced transaction; returns how many. Run at
    /// engine start, before any call: at that moment no call of this log is in flight.
    pub fn close_open_intents(&self, why: &str) -> Result<u64, EvidenceError> {
        if self.signing.is_none() {
            return Err(EvidenceError::ReadOnly);
        }
        let mut conn = self.lock()?;
        // Intents and outcomes still in the journal count: fold them first.
        self.fold_on(&mut conn)?;
        let after: i64 = conn
            .query_row(
                "SELECT value FROM engine_state WHERE key = ?1",
                [INTENTS_CLOSED_THROUGH],
                |row| row.get::<_, String>(0),
            )
            .optional()?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let open: Vec<Record> = {
            let mut stmt = conn.prepare(&format!(
                "{RAW_SELECT} WHERE r.phase = 'intent' AND r.seq > ?1 AND NOT EXISTS \
                 (SELECT 1 FROM records o WHERE o.intent_id = r.id) ORDER BY r.seq"
            ))?;
            let rows = stmt.query_map([after], RawRecord::from_row)?;
            let mut out = Vec::new();
            for row in rows {
                out.push(row?.into_record()?);
            }
            out
        };
        let closing: Vec<NewRecord> = open
            .into_iter()
            .map(|r| NewRecord {
                outcome: Outcome::Interrupted,
                duration_ms: 0,
                error: Some(why.to_owned()),
                phase: Some(Phase::Outcome),
                intent_id: Some(r.id),
                ..r.call
            })
            .collect();
        let n = u64::try_from(closing.len()).unwrap_or(u64::MAX);
        let key = self.signing.as_ref().ok_or(EvidenceError::ReadOnly)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut written = Vec::new();
        if !closing.is_empty() {
            let start = self.checked_head(&tx)?;
            written = append_in(&tx, start, closing, Route::Records)?;
        }
        if let Some((seq, hash)) = records_head(&tx)? {
            if n > 0 && last_checkpoint_seq(&tx)? < seq {
                sign_checkpoint(&tx, key, self.fingerprint()?, seq, &hash)?;
            }
            tx.execute(
                "INSERT INTO engine_state (key, value, updated_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                rusqlite::params![INTENTS_CLOSED_THROUGH, seq.to_string(), now_timestamp()?],
            )?;
        }
        tx.commit()?;
        self.wrote(&written);
        Ok(n)
    }

    /// One write transaction: fold what waits in the journal first when going straight into
    /// `records` (order), or when it holds [`JOURNAL_FOLD_FALLBACK`] rows; append where `route`
    /// says; sign the checkpoints crossed; commit.
    fn commit(
        &self,
        conn: &mut Connection,
        recs: Vec<NewRecord>,
        route: Route,
    ) -> Result<Vec<Record>, EvidenceError> {
        use std::sync::atomic::Ordering;
        if self.signing.is_none() {
            return Err(EvidenceError::ReadOnly);
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let journaled = self.journaled.load(Ordering::Relaxed);
        // Straight into `records` keeps the order: what waits in the journal goes first.
        let fold_first = route == Route::Records || journaled >= JOURNAL_FOLD_FALLBACK;
        if fold_first {
            self.fold_in(&tx)?;
        }
        let start = self.checked_head(&tx)?;
        // Only what goes straight into `records` can cross a checkpoint now (the journal's
        // crossings are signed when it folds): the lone call's path skips the lookup.
        let signed_through = match route {
            Route::Records => Some(last_checkpoint_seq(&tx)?),
            Route::Journal => None,
        };
        let out = append_in(&tx, start, recs, route)?;
        if let Some(signed_through) = signed_through {
            self.sign_crossed(&tx, signed_through)?;
        }
        tx.commit()?;
        self.wrote(&out);
        let n = u64::try_from(out.len()).unwrap_or(u64::MAX);
        let waiting = match (route, fold_first) {
            (Route::Records, _) => 0,
            (Route::Journal, true) => n,
            (Route::Journal, false) => journaled.saturating_add(n),
        };
        self.journaled.store(waiting, Ordering::Relaxed);
        Ok(out)
    }

    /// The chain's head, refused if it is below one this log already saw or appended: records
    /// were deleted under the engine (the journal's rows, or the tail of `records` with its
    /// triggers dropped), and appending would reuse their numbers and hide that they existed.
    /// Fails every append (so every call is refused) until someone looks.
    fn checked_head(&self, tx: &Connection) -> Result<Option<(u64, String)>, EvidenceError> {
        let head = head(tx)?;
        let written = self
            .written_through
            .load(std::sync::atomic::Ordering::Relaxed);
        let at = head.as_ref().map_or(0, |(seq, _)| *seq);
        if at < written {
            return Err(EvidenceError::Corrupt(format!(
                "the log ends at record {at} but this engine already saw record {written}: \
                 records were deleted from it"
            )));
        }
        Ok(head)
    }

    /// Notes the records just committed (see [`EvidenceLog::checked_head`]).
    fn wrote(&self, records: &[Record]) {
        if let Some(last) = records.last() {
            self.written_through
                .fetch_max(last.seq, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Moves every journal row into `records` and `blobs` (as it is: numbered, chained and
    /// hashed at append) and deletes it from the journal, inside `tx`, by SQL alone; then signs
    /// the checkpoints the moved records crossed, if this log has the key. Returns how many rows
    /// moved.
    fn fold_in(&self, tx: &Transaction<'_>) -> Result<u64, EvidenceError> {
        if !journal_waits(tx)? {
            return Ok(0);
        }
        let signed_through = last_checkpoint_seq(tx)?;
        tx.prepare_cached(
            "INSERT OR IGNORE INTO blobs (sha256, content) SELECT args_sha256, args FROM journal \
             UNION ALL SELECT diff_sha256, diff FROM journal WHERE diff IS NOT NULL",
        )?
        .execute([])?;
        let moved = tx
            .prepare_cached(&format!(
                "INSERT INTO records ({RECORD_COLUMNS}) SELECT {RECORD_COLUMNS} FROM journal \
                 ORDER BY seq"
            ))?
            .execute([])?;
        tx.prepare_cached("DELETE FROM journal")?.execute([])?;
        self.sign_crossed(tx, signed_through)?;
        Ok(u64::try_from(moved).unwrap_or(u64::MAX))
    }

    /// Signs a checkpoint on every record of `records` `checkpoint_interval` past the last one
    /// signed (`signed_through`), up to the head, if this log has the key: checkpoints land on
    /// the same records whichever way they were written.
    fn sign_crossed(&self, tx: &Transaction<'_>, signed_through: u64) -> Result<(), EvidenceError> {
        let (Some(key), interval) = (&self.signing, self.checkpoint_interval) else {
            return Ok(());
        };
        if interval == 0 {
            return Ok(());
        }
        let Some((head, _)) = records_head(tx)? else {
            return Ok(());
        };
        let mut at = signed_through.saturating_add(interval);
        while at <= head {
            let hash: String = tx
                .prepare_cached("SELECT hash FROM records WHERE seq = ?1")?
                .query_row([to_i64(at)?], |row| row.get(0))?;
            sign_checkpoint(tx, key, self.fingerprint()?, at, &hash)?;
            at = at.saturating_add(interval);
        }
        Ok(())
    }

    /// Folds the journal on a held connection, in its own transaction, if it holds anything
    /// (an empty journal costs one read and takes no write lock). Returns how many rows moved.
    fn fold_on(&self, conn: &mut Connection) -> Result<u64, EvidenceError> {
        use std::sync::atomic::Ordering;
        if !journal_waits(conn)? {
            return Ok(0);
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = self.fold_in(&tx)?;
        tx.commit()?;
        self.journaled.store(0, Ordering::Relaxed);
        Ok(n)
    }

    /// Folds the journal into the indexed tables now (see the journal's migration): the
    /// engine's writer calls this when idle, so no call waits for it. Returns how many records
    /// moved.
    pub fn fold_journal(&self) -> Result<u64, EvidenceError> {
        let mut conn = self.lock()?;
        self.fold_on(&mut conn)
    }

    /// The connection, with the journal folded first: every read goes through here, so a read
    /// sees every record appended before it. A journal that cannot be folded (a read-only file,
    /// a full disk) fails the read rather than let it show a log without those records.
    pub(crate) fn lock_folded(&self) -> Result<MutexGuard<'_, Connection>, EvidenceError> {
        let mut conn = self.lock()?;
        if let Err(e) = self.fold_on(&mut conn) {
            let waiting: i64 = conn
                .query_row("SELECT count(*) FROM journal", [], |row| row.get(0))
                .unwrap_or(-1);
            return Err(EvidenceError::Unfolded {
                waiting: u64::try_from(waiting).unwrap_or(0),
                cause: e.to_string(),
            });
        }
        Ok(conn)
    }

    fn fingerprint(&self) -> Result<&str, EvidenceError> {
        self.key_fingerprint
            .as_deref()
            .ok_or(EvidenceError::ReadOnly)
    }

    /// Signs the current head now (no-op when the head is already checkpointed or the log is
    /// empty). The gateway calls this on shutdown so the tail is covered.
    pub fn checkpoint(&self) -> Result<(), EvidenceError> {
        let key = self.signing.as_ref().ok_or(EvidenceError::ReadOnly)?;
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        self.fold_in(&tx)?;
        if let Some((seq, hash)) = records_head(&tx)?
            && last_checkpoint_seq(&tx)? < seq
        {
            sign_checkpoint(&tx, key, self.fingerprint()?, seq, &hash)?;
        }
        tx.commit()?;
        self.journaled
            .store(0, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Stores the sources of a policy version once (idempotent). Recording the same version
    /// with different sources is refused: a version label must name one policy.
    pub fn record_policy(
        &self,
        version: &str,
        sources: &[(String, String)],
    ) -> Result<(), EvidenceError> {
        let text = serde_json::to_string(sources)?;
        let digest = sha256_hex(text.as_bytes());
        let conn = self.lock()?;
        let existing: Option<String> = conn
            .query_row(
                "SELECT sha256 FROM policy_snapshots WHERE version = ?1",
                [version],
                |row| row.get(0),
            )
            .optional()?;
        match existing {
            Some(d) if d == digest => Ok(()),
            Some(_) => Err(EvidenceError::InvalidRecord(format!(
                "policy version {version} is already recorded with different sources"
            ))),
            None => {
                conn.execute(
                    "INSERT OR IGNORE INTO policy_snapshots (version, sources, sha256, recorded_at) \
                     VALUES (?1, ?2, ?3, ?4)",
                    rusqlite::params![version, text, digest, now_timestamp()?],
                )?;
                Ok(())
            }
        }
    }

    /// Whether the log can be written now, found out quickly: a durable write that waits at
    /// most `patience` for another process's lock (instead of the usual 30 s). The recorder asks
    /// this while faulted, so calls are refused at once rather than each waiting out the lock.
    /// The journal is folded first: a journal that cannot be folded keeps the log faulted.
    pub fn probe(&self, patience: Duration) -> Result<(), EvidenceError> {
        let mut conn = self.lock()?;
        conn.busy_timeout(patience)?;
        let written = self.fold_on(&mut conn).and_then(|_| {
            conn.execute(
                "INSERT INTO engine_state (key, value, updated_at) VALUES (?1, 'ok', ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
                 updated_at = excluded.updated_at",
                rusqlite::params![HEALTH_PROBE, now_timestamp()?],
            )
            .map(|_| ())
            .map_err(EvidenceError::from)
        });
        conn.busy_timeout(BUSY_TIMEOUT)?;
        written
    }

    /// Copies what the write-ahead log holds into the database file (SQLite's passive
    /// checkpoint), so that no append has to: the engine's writer calls this when it is idle,
    /// and an append folds the log itself only once it holds [`WAL_FOLD_FALLBACK_PAGES`] pages
    /// (sustained load, never idle). On the writer's own connection, with the `-shm` guard
    /// before it: a second connection folding beside the writer would map the `-shm` file
    /// while another process may truncate it (SIGBUS, see [`EvidenceLog::guard_shm`]).
    /// A no-op for in-memory logs. Returns the number of log pages still not folded.
    ///
    /// A log folded whole is started afresh here too: SQLite does that at the first commit after
    /// a complete fold, writing and syncing a new log header before the commit's own sync, so
    /// the first intent after every idle spell (an agent's usual pace) would wait for two syncs.
    /// A small write of the log's own bookkeeping ([`WAL_RESTARTED`]) pays that here instead.
    pub fn fold_wal(&self) -> Result<u64, EvidenceError> {
        if self.path.is_none() {
            return Ok(0);
        }
        let conn = self.lock()?;
        // Passive: never waits, so a "busy" first column only means "some left for next time".
        let (busy, log, folded): (i64, i64, i64) = conn
            .prepare_cached("PRAGMA wal_checkpoint(PASSIVE)")?
            .query_row([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
        if busy == 0 && log > 0 && folded == log {
            // Never waits: another process writing now restarts the log itself.
            let now = now_timestamp()?;
            conn.busy_timeout(Duration::ZERO)?;
            let restarted = conn
                .prepare_cached(
                    "INSERT INTO engine_state (key, value, updated_at) VALUES (?1, ?2, ?2) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
                     updated_at = excluded.updated_at",
                )
                .and_then(|mut stmt| stmt.execute(rusqlite::params![WAL_RESTARTED, now]));
            conn.busy_timeout(BUSY_TIMEOUT)?;
            if let Err(e) = restarted
                && e.sqlite_error_code() != Some(rusqlite::ErrorCode::DatabaseBusy)
            {
                return Err(e.into());
            }
        }
        Ok(u64::try_from(log.saturating_sub(folded)).unwrap_or(0))
    }

    /// The sources recorded for a policy version.
    pub fn policy_snapshot(
        &self,
        version: &str,
    ) -> Result<Option<Vec<(String, String)>>, EvidenceError> {
        let conn = self.lock()?;
        let text: Option<String> = conn
            .query_row(
                "SELECT sources FROM policy_snapshots WHERE version = ?1",
                [version],
                |row| row.get(0),
            )
            .optional()?;
        text.map(|t| {
            serde_json::from_str(&t)
                .map_err(|_| EvidenceError::Corrupt(format!("policy snapshot {version} malformed")))
        })
        .transpose()
    }

    /// One record by id (a full ULID, or a unique prefix of at least 6 characters).
    pub fn get(&self, id: &str) -> Result<Option<Record>, EvidenceError> {
        let conn = self.lock_folded()?;
        let raw = if id.len() >= 26 {
            conn.query_row(
                &format!("{RAW_SELECT} WHERE r.id = ?1"),
                [id],
                RawRecord::from_row,
            )
            .optional()?
        } else if id.len() >= 6 {
            let mut stmt = conn.prepare(&format!(
                "{RAW_SELECT} WHERE r.id >= ?1 AND r.id < ?1 || char(1114111) LIMIT 2"
            ))?;
            let mut rows: Vec<RawRecord> = stmt
                .query_map([id.to_ascii_uppercase()], RawRecord::from_row)?
                .collect::<Result<_, _>>()?;
            if rows.len() > 1 {
                return Err(EvidenceError::InvalidRecord(format!(
                    "id prefix {id} is ambiguous: give more characters"
                )));
            }
            rows.pop()
        } else {
            None
        };
        raw.map(RawRecord::into_record).transpose()
    }

    /// Records matching `filter`, newest first unless `filter.oldest_first`.
    pub fn query(&self, filter: &Filter) -> Result<Vec<Record>, EvidenceError> {
        let mut out = Vec::new();
        let conn = self.lock_folded()?;
        for_each_record(&conn, filter, |r| {
            out.push(r);
            Ok(true)
        })?;
        Ok(out)
    }

    /// Number of records (the head's seq for an intact chain).
    pub fn count(&self) -> Result<u64, EvidenceError> {
        let conn = self.lock_folded()?;
        let n: i64 = conn.query_row("SELECT count(*) FROM records", [], |row| row.get(0))?;
        to_u64(n)
    }

    /// All checkpoints, oldest first.
    pub fn checkpoints(&self) -> Result<Vec<Checkpoint>, EvidenceError> {
        read_checkpoints(&*self.lock_folded()?)
    }

    /// The public keys recorded in this log.
    pub fn recorded_keys(&self) -> Result<Vec<RecordedKey>, EvidenceError> {
        read_keys(&*self.lock()?)
    }
}

/// The write-ahead log opened to be flushed: for writing, since Windows flushes only a handle
/// with write access. `None` when there is none: everything was checkpointed into the
/// database, synced.
fn open_for_sync(wal: &Path) -> Result<Option<std::fs::File>, EvidenceError> {
    match std::fs::OpenOptions::new().write(true).open(wal) {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(EvidenceError::io(wal, e)),
    }
}

fn validate(rec: &NewRecord) -> Result<(), EvidenceError> {
    let invalid = |why: String| Err(EvidenceError::InvalidRecord(why));
    if !DECISIONS.contains(&rec.decision.as_str()) {
        return invalid(format!(
            "decision {:?} is not one of {}",
            rec.decision,
            DECISIONS.join(", ")
        ));
    }
    match (rec.phase, rec.outcome) {
        (Some(Phase::Intent), Outcome::Allowed | Outcome::Approved | Outcome::Pending) => {}
        (Some(Phase::Intent), o) => {
            return invalid(format!(
                "an intent says what is about to happen (allowed, approved, pending), not {o}"
            ));
        }
        (_, Outcome::Pending) => return invalid("only an intent can be pending".into()),
        (Some(Phase::Outcome), _) if rec.intent_id.is_none() => {
            return invalid("an outcome must name the intent it closes".into());
        }
        (None, _) if rec.intent_id.is_some() => {
            return invalid("a record without a phase cannot name an intent".into());
        }
        _ => {}
    }
    Ok(())
}

fn take_slot(slot: &Slot) -> Result<Option<Result<Record, EvidenceError>>, EvidenceError> {
    Ok(slot.lock().map_err(|_| EvidenceError::Poisoned)?.take())
}

/// The chain's head: the journal's newest row, else the newest folded record.
fn head(tx: &Connection) -> Result<Option<(u64, String)>, EvidenceError> {
    // Cached: every append runs it, and parsing SQL cost more than running it.
    let row: Option<(i64, String)> = tx
        .prepare_cached("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1")?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    match row {
        Some((s, h)) => Ok(Some((to_u64(s)?, h))),
        None => records_head(tx),
    }
}

/// Whether any record waits in the journal (one read of its first page).
fn journal_waits(conn: &Connection) -> Result<bool, EvidenceError> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM journal)")?
        .query_row([], |row| row.get(0))?)
}

/// The newest folded record (what checkpoints sign: they never cover the journal).
fn records_head(tx: &Connection) -> Result<Option<(u64, String)>, EvidenceError> {
    let row: Option<(i64, String)> = tx
        .prepare_cached("SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1")?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    row.map(|(s, h)| Ok((to_u64(s)?, h))).transpose()
}

fn last_checkpoint_seq(tx: &Connection) -> Result<u64, EvidenceError> {
    let n: Option<i64> = tx
        .prepare_cached("SELECT max(seq) FROM checkpoints")?
        .query_row([], |row| row.get(0))?;
    to_u64(n.unwrap_or(0))
}

fn sign_checkpoint(
    tx: &Transaction<'_>,
    key: &SigningKey,
    key_fingerprint: &str,
    seq: u64,
    head_hash: &str,
) -> Result<(), EvidenceError> {
    use base64::Engine;
    let mut cp = Checkpoint {
        seq,
        head_hash: head_hash.to_string(),
        count: seq,
        timestamp: now_timestamp()?,
        key_fingerprint: key_fingerprint.to_string(),
        signature: String::new(),
    };
    let signature = key.sign(&cp.signed_message()?);
    cp.signature = base64::engine::general_purpose::STANDARD.encode(signature.to_bytes());
    tx.execute(
        "INSERT INTO checkpoints (seq, head_hash, count, timestamp, key_fingerprint, signature) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        rusqlite::params![
            to_i64(cp.seq)?,
            cp.head_hash,
            to_i64(cp.count)?,
            cp.timestamp,
            cp.key_fingerprint,
            cp.signature
        ],
    )?;
    Ok(())
}

/// The columns a record has in `records` and in the journal alike.
const RECORD_COLUMNS: &str = "seq, id, timestamp, agent, session_id, server, tool, action, \
    target, risk_tags, decision, rule_id, reason, policy_version, reviewer, outcome, args_sha256, \
    diff_sha256, duration_ms, error, prev_hash, hash, phase, intent_id, approval_channel";

/// Numbers, chains and hashes `recs` after `start`, the chain's head read inside `tx` (no other
/// writer can move it until commit), and writes them where `route` says, inside `tx`.
fn append_in(
    tx: &Transaction<'_>,
    start: Option<(u64, String)>,
    recs: Vec<NewRecord>,
    route: Route,
) -> Result<Vec<Record>, EvidenceError> {
    let (mut seq, mut prev) = start.unwrap_or((0, GENESIS_HASH.to_string()));
    let mut insert = match route {
        Route::Journal => tx.prepare_cached(&format!(
            "INSERT INTO journal ({RECORD_COLUMNS}, args, diff) VALUES (?1, ?2, ?3, ?4, ?5, ?6, \
             ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, \
             ?24, ?25, ?26, ?27)"
        ))?,
        Route::Records => tx.prepare_cached(&format!(
            "INSERT INTO records ({RECORD_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, \
             ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)"
        ))?,
    };
    let mut insert_blob =
        tx.prepare_cached("INSERT OR IGNORE INTO blobs (sha256, content) VALUES (?1, ?2)")?;
    let timestamp = now_timestamp()?;
    let mut out = Vec::with_capacity(recs.len());
    for rec in recs {
        seq = seq
            .checked_add(1)
            .ok_or_else(|| EvidenceError::Corrupt("seq overflow".into()))?;
        let args = args_text(&rec.args)?;
        let args_sha = sha256_hex(args.as_bytes());
        let diff_sha = rec.diff.as_deref().map(|d| sha256_hex(d.as_bytes()));
        let id = ulid::Ulid::new().to_string();
        let hash = HashInput::of(
            &rec,
            &id,
            seq,
            &timestamp,
            &prev,
            &args_sha,
            diff_sha.as_deref(),
        )
        .hash()?;
        let (seq_i64, risk_tags, duration) = (
            to_i64(seq)?,
            serde_json::to_string(&rec.risk_tags)?,
            to_i64(rec.duration_ms)?,
        );
        let mut row: Vec<&dyn rusqlite::ToSql> = vec![
            &seq_i64,
            &id,
            &timestamp,
            &rec.agent,
            &rec.session_id,
            &rec.server,
            &rec.tool,
            &rec.action,
            &rec.target,
            &risk_tags,
            &rec.decision,
            &rec.rule_id,
            &rec.reason,
            &rec.policy_version,
            &rec.reviewer,
        ];
        let (outcome, phase) = (rec.outcome.as_str(), rec.phase.map(Phase::as_str));
        row.extend([
            &outcome as &dyn rusqlite::ToSql,
            &args_sha,
            &diff_sha,
            &duration,
            &rec.error,
            &prev,
            &hash,
            &phase,
            &rec.intent_id,
            &rec.approval_channel,
        ]);
        match route {
            Route::Journal => {
                row.extend([&args as &dyn rusqlite::ToSql, &rec.diff]);
            }
            Route::Records => {
                insert_blob.execute(rusqlite::params![args_sha, args])?;
                if let (Some(sha), Some(diff)) = (&diff_sha, &rec.diff) {
                    insert_blob.execute(rusqlite::params![sha, diff])?;
                }
            }
        }
        insert.execute(&*row)?;
        drop(row);
        let record = Record {
            id,
            seq,
            timestamp: timestamp.clone(),
            call: rec,
            prev_hash: std::mem::take(&mut prev),
            hash: hash.clone(),
        };
        prev = hash;
        out.push(record);
    }
    Ok(out)
}

/// Rows beyond which a condition counts as "dense" (see [`for_each_record`]).
const DENSE_ROWS: i64 = 5_000;

/// Does `condition` (on `records`) match at least [`DENSE_ROWS`] rows? Counted on the index.
fn dense(conn: &Connection, condition: &str, values: &[SqlValue]) -> Result<bool, EvidenceError> {
    let sql = format!(
        "SELECT count(*) FROM (SELECT 1 FROM records WHERE {condition} LIMIT {DENSE_ROWS})"
    );
    let n: i64 = conn.query_row(&sql, rusqlite::params_from_iter(values), |r| r.get(0))?;
    Ok(n >= DENSE_ROWS)
}

/// The distinct stored actions matching a pattern, found by skipping through the action index
/// (one lookup per distinct topic).
fn matching_actions(conn: &Connection, pattern: &str) -> Result<Vec<String>, EvidenceError> {
    let mut first = conn.prepare_cached("SELECT action FROM records ORDER BY action LIMIT 1")?;
    let mut next = conn
        .prepare_cached("SELECT action FROM records WHERE action > ?1 ORDER BY action LIMIT 1")?;
    let mut out = Vec::new();
    let mut current: Option<String> = first.query_row([], |r| r.get(0)).optional()?;
    while let Some(action) = current {
        current = next.query_row([&action], |r| r.get(0)).optional()?;
        if action_matches(pattern, &action) {
            out.push(action);
        }
    }
    Ok(out)
}

/// A WHERE clause with `?N` parameters, built from a [`Filter`]: the one translation of the
/// filter into SQL (queries, exports, the viewers' pages and counts).
#[derive(Default)]
pub(crate) struct Where {
    clauses: Vec<String>,
    pub(crate) params: Vec<SqlValue>,
}

impl Where {
    /// Adds a clause whose `?` marks are numbered after the existing parameters.
    pub(crate) fn push(&mut self, clause: &str, values: Vec<SqlValue>) {
        let mut numbered = String::with_capacity(clause.len() + 4);
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

    /// ` WHERE …`, or nothing.
    pub(crate) fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// The conditions of `filter` on `records r` (None: its action pattern matches no stored
    /// topic, so nothing matches).
    pub(crate) fn of(conn: &Connection, filter: &Filter) -> Result<Option<Where>, EvidenceError> {
        let mut w = Where::default();
        if let Some(agent) = &filter.agent {
            w.push("r.agent = ?", vec![SqlValue::Text(agent.clone())]);
        }
        if let Some(session) = &filter.session {
            w.push("r.session_id = ?", vec![SqlValue::Text(session.clone())]);
        }
        if let Some(decision) = &filter.decision {
            w.push("r.decision = ?", vec![SqlValue::Text(decision.clone())]);
        }
        if let Some(outcome) = filter.outcome {
            w.push(
                "r.outcome = ?",
                vec![SqlValue::Text(outcome.as_str().into())],
            );
        }
        if let Some(text) = &filter.text {
            let v = || SqlValue::Text(text.to_lowercase());
            w.push(
                "(instr(lower(r.tool), ?) > 0 OR instr(lower(coalesce(r.target, '')), ?) > 0 \
                 OR instr(lower(r.reason), ?) > 0)",
                vec![v(), v(), v()],
            );
        }
        // A range that matches many rows is better served by walking seq order and testing each
        // row (`+col` hides the index from the planner) than by collecting and sorting them all.
        let time_bounds: Vec<(&str, SqlValue)> = [
            filter.since.map(|t| (">=", t)),
            filter.until.map(|t| ("<", t)),
        ]
        .into_iter()
        .flatten()
        .map(|(op, t)| Ok((op, SqlValue::Text(format_timestamp(t)?))))
        .collect::<Result<_, EvidenceError>>()?;
        if !time_bounds.is_empty() {
            let test = time_bounds
                .iter()
                .map(|(op, _)| format!("timestamp {op} ?"))
                .collect::<Vec<_>>()
                .join(" AND ");
            let values: Vec<SqlValue> = time_bounds.iter().map(|(_, v)| v.clone()).collect();
            let plus = if dense(conn, &test, &values)? {
                "+"
            } else {
                ""
            };
            let clause = time_bounds
                .iter()
                .map(|(op, _)| format!("{plus}r.timestamp {op} ?"))
                .collect::<Vec<_>>()
                .join(" AND ");
            w.push(&clause, values);
        }
        if let Some(after) = filter.after_seq {
            let op = if filter.oldest_first { ">" } else { "<" };
            w.push(
                &format!("r.seq {op} ?"),
                vec![SqlValue::Integer(to_i64(after)?)],
            );
        }
        if let Some(pattern) = &filter.action {
            // The distinct topics are few: resolve the pattern to an exact list first.
            let actions = matching_actions(conn, pattern)?;
            if actions.is_empty() {
                return Ok(None);
            }
            let marks = vec!["?"; actions.len()].join(", ");
            let values: Vec<SqlValue> = actions.into_iter().map(SqlValue::Text).collect();
            let plus = if dense(conn, &format!("action IN ({marks})"), &values)? {
                "+"
            } else {
                ""
            };
            w.push(&format!("{plus}r.action IN ({marks})"), values);
        }
        Ok(Some(w))
    }
}

/// Streams the records matching `filter` to `f` until it returns `false` or `limit` is reached.
pub(crate) fn for_each_record(
    conn: &Connection,
    filter: &Filter,
    mut f: impl FnMut(Record) -> Result<bool, EvidenceError>,
) -> Result<(), EvidenceError> {
    let Some(w) = Where::of(conn, filter)? else {
        return Ok(());
    };
    let mut sql = RAW_SELECT.to_string();
    sql.push_str(&w.sql());
    sql.push_str(if filter.oldest_first {
        " ORDER BY r.seq ASC"
    } else {
        " ORDER BY r.seq DESC"
    });
    if let Some(limit) = filter.limit {
        sql.push_str(&format!(" LIMIT {limit}"));
    }
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(w.params))?;
    while let Some(row) = rows.next()? {
        if !f(RawRecord::from_row(row)?.into_record()?)? {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> (tempfile::TempDir, EvidenceLog) {
        let dir = tempfile::tempdir().unwrap();
        let log = EvidenceLog::open(
            Path::new(":memory:"),
            KeyStore::File(dir.path().join("key.pem")),
        )
        .unwrap();
        (dir, log)
    }

    /// A log in a file (`e.db` in a fresh directory, its key beside it): what the engine runs.
    fn file_log() -> (tempfile::TempDir, PathBuf, EvidenceLog) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.db");
        let log = EvidenceLog::open(&path, KeyStore::File(dir.path().join("k"))).unwrap();
        (dir, path, log)
    }

    /// One integer the log's own connection answers (a pragma, a count).
    fn scalar(log: &EvidenceLog, sql: &str) -> i64 {
        log.lock()
            .unwrap()
            .query_row(sql, [], |r| r.get(0))
            .unwrap()
    }

    fn rec(i: u64) -> NewRecord {
        NewRecord {
            agent: "claude-code".into(),
            session_id: "s1".into(),
            action: "job.mcp-bridge.read.file".into(),
            decision: "allow".into(),
            outcome: Outcome::Allowed,
            duration_ms: i,
            ..NewRecord::default()
        }
    }

    #[test]
    fn appends_now_only_when_nothing_would_wait() {
        let (_dir, path, log) = file_log();
        // Free: appended at once.
        let now = log.try_append_batch_now(vec![intent(1)], Durability::Synced);
        assert!(matches!(now, Some(Ok(ref r)) if r.len() == 1), "{now:?}");
        // The connection in use in this process: not waited for.
        {
            let _held = log.lock().unwrap();
            assert!(
                log.try_append_batch_now(vec![intent(2)], Durability::Synced)
                    .is_none()
            );
        }
        // Another process's write transaction: not waited for either (no 30 s busy wait).
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let started = std::time::Instant::now();
        assert!(
            log.try_append_batch_now(vec![intent(3)], Durability::Committed)
                .is_none()
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        other.execute_batch("ROLLBACK").unwrap();
        // The patient way still waits for a writer (the busy timeout came back).
        let waits = scalar(&log, "PRAGMA busy_timeout");
        assert_eq!(waits, i64::try_from(BUSY_TIMEOUT.as_millis()).unwrap());
        log.append_batch_with(vec![intent(4)], Durability::Synced)
            .unwrap();
        let report = log.verify().unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.records, 2);
    }

    #[test]
    fn an_intent_is_synced_whatever_mode_the_connection_was_left_in() {
        use std::sync::atomic::Ordering;
        let (_dir, _, log) = file_log();
        // A switch that failed half way leaves the mode unknown: the next append sets its own.
        log.lock()
            .unwrap()
            .execute_batch("PRAGMA synchronous = OFF")
            .unwrap();
        log.sync_mode.store(MODE_UNKNOWN, Ordering::Relaxed);
        log.append_batch_with(vec![intent(1)], Durability::Synced)
            .unwrap();
        let sync: i64 = log
            .lock_for_append()
            .unwrap()
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "FULL");
    }

    /// A committed-only append leaves NORMAL for the next one (no pragma in between); a synced
    /// append and every other use of the connection get FULL back.
    #[test]
    fn appends_switch_the_synchronous_mode_only_when_it_changes() {
        let (_dir, _, log) = file_log();
        let mode = |log: &EvidenceLog| -> i64 {
            log.lock_for_append()
                .unwrap()
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .unwrap()
        };
        log.append_batch_with(vec![intent(1)], Durability::Committed)
            .unwrap();
        assert_eq!(mode(&log), 1, "NORMAL after a committed-only append");
        log.append_batch_with(vec![intent(2)], Durability::Committed)
            .unwrap();
        assert_eq!(mode(&log), 1);
        log.append_batch_with(vec![intent(3)], Durability::Synced)
            .unwrap();
        assert_eq!(mode(&log), 2, "FULL for a synced append");
        log.append_batch_with(vec![intent(4)], Durability::Committed)
            .unwrap();
        assert_eq!(
            scalar(&log, "PRAGMA synchronous"),
            2,
            "FULL for every other use"
        );
        assert!(log.verify().unwrap().ok);
    }

    #[test]
    fn file_logs_are_wal_and_fully_synchronous() {
        let dir = tempfile::tempdir().unwrap();
        let log = EvidenceLog::open(
            &dir.path().join("a/b/evidence.db"),
            KeyStore::File(dir.path().join("key.pem")),
        )
        .unwrap();
        let conn = log.lock().unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(sync, 2, "synchronous=FULL");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let m = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(m(&dir.path().join("a/b")), 0o700);
            assert_eq!(m(&dir.path().join("a/b/evidence.db")), 0o600);
        }
    }

    #[test]
    fn reopening_applies_migrations_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.db");
        let keys = KeyStore::File(dir.path().join("key.pem"));
        EvidenceLog::open(&path, keys.clone())
            .unwrap()
            .append(rec(1))
            .unwrap();
        let log = EvidenceLog::open(&path, keys).unwrap();
        assert_eq!(log.append(rec(2)).unwrap().seq, 2);
        let n = scalar(&log, "SELECT count(*) FROM schema_migrations");
        assert_eq!(n, i64::try_from(MIGRATIONS.len()).unwrap());
    }

    #[test]
    fn throttle_is_a_recordable_decision_and_unknown_ones_are_refused() {
        let (_d, log) = log();
        let mut rec = rec(1);
        rec.decision = "throttle".into();
        log.append(rec.clone()).unwrap();
        rec.decision = "maybe".into();
        assert!(log.append(rec).is_err());
    }

    #[test]
    fn chain_links_and_auto_checkpoints() {
        let (_d, log) = log();
        let log = log.with_checkpoint_interval(10);
        let first = log.append(rec(0)).unwrap();
        assert_eq!(first.seq, 1);
        assert_eq!(first.prev_hash, GENESIS_HASH);
        assert_eq!(first.compute_hash().unwrap(), first.hash);
        let rest = log.append_batch((1..25).map(rec).collect()).unwrap();
        assert_eq!(rest.first().unwrap().prev_hash, first.hash);
        assert_eq!(rest.last().unwrap().seq, 25);
        // Folding the journal (reads fold first) signs every interval the records crossed.
        let seqs = |log: &EvidenceLog| -> Vec<u64> {
            log.checkpoints().unwrap().iter().map(|c| c.seq).collect()
        };
        assert_eq!(seqs(&log), [10, 20]);
        log.checkpoint().unwrap();
        log.checkpoint().unwrap(); // idempotent at the same head
        assert_eq!(seqs(&log), [10, 20, 25]);
        log.append(rec(26)).unwrap();
        assert_eq!(log.verify().unwrap().unsigned_tail, 1);
        log.checkpoint().unwrap();
        let cps = log.checkpoints().unwrap();
        assert_eq!(cps.len(), 4);
        assert_eq!(cps.last().unwrap().seq, 26);
        let report = log.verify().unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.records, 26);
        assert_eq!(report.unsigned_tail, 0);
    }

    #[test]
    fn bad_decisions_and_read_only_appends_are_refused() {
        let (_d, log) = log();
        let mut bad = rec(1);
        bad.decision = "maybe".into();
        assert!(matches!(
            log.append(bad),
            Err(EvidenceError::InvalidRecord(_))
        ));
        assert_eq!(log.count().unwrap(), 0);
        let ro = EvidenceLog::open(Path::new(":memory:"), KeyStore::ReadOnly).unwrap();
        assert!(matches!(ro.append(rec(1)), Err(EvidenceError::ReadOnly)));
        assert!(matches!(ro.checkpoint(), Err(EvidenceError::ReadOnly)));
    }

    #[test]
    fn concurrent_appends_share_commits_and_keep_one_chain() {
        let (_d, log) = log();
        let log = std::sync::Arc::new(log.with_checkpoint_interval(7));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let log = std::sync::Arc::clone(&log);
                std::thread::spawn(move || {
                    (0..50)
                        .map(|i| log.append(rec(t * 100 + i)).unwrap().seq)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut seqs: Vec<u64> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=400).collect::<Vec<_>>());
        let report = log.verify().unwrap();
        assert!(report.ok, "{report:?}");
    }

    fn intent(i: u64) -> NewRecord {
        NewRecord {
            phase: Some(Phase::Intent),
            ..rec(i)
        }
    }

    fn outcome_of(intent: &Record, outcome: Outcome) -> NewRecord {
        NewRecord {
            phase: Some(Phase::Outcome),
            intent_id: Some(intent.id.clone()),
            outcome,
            ..rec(0)
        }
    }

    #[test]
    fn write_ahead_pairs_chain_and_verify_next_to_old_single_records() {
        let (_d, log) = log();
        // A record from before write-ahead (no phase: hash format v1), then pairs (v2).
        log.append(rec(1)).unwrap();
        let i1 = log.append(intent(2)).unwrap();
        let held = log
            .append(NewRecord {
                outcome: Outcome::Pending,
                decision: "require_approval".into(),
                ..intent(3)
            })
            .unwrap();
        let approved = log
            .append(NewRecord {
                outcome: Outcome::Approved,
                decision: "require_approval".into(),
                intent_id: Some(held.id.clone()),
                reviewer: Some("alice".into()),
                ..intent(4)
            })
            .unwrap();
        log.append(outcome_of(&i1, Outcome::Allowed)).unwrap();
        let report = log.verify().unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!((report.intents, report.open_intents), (3, 1));
        // The approved call is still open: a restart closes it, and only it.
        assert_eq!(log.close_open_intents("crash").unwrap(), 1);
        let last = log.query(&Filter::default()).unwrap().remove(0);
        assert_eq!(last.outcome, Outcome::Interrupted);
        assert_eq!(last.phase, Some(Phase::Outcome));
        assert_eq!(last.intent_id.as_deref(), Some(approved.id.as_str()));
        assert_eq!(last.reviewer.as_deref(), Some("alice"));
        assert_eq!(last.error.as_deref(), Some("crash"));
        assert_eq!(last.compute_hash().unwrap(), last.hash);
        assert_eq!(log.close_open_intents("crash").unwrap(), 0, "idempotent");
        let report = log.verify().unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.open_intents, 0);
        assert_eq!(report.unsigned_tail, 0, "closing signs a checkpoint");
        // A later intent is found past the watermark.
        log.append(intent(5)).unwrap();
        assert_eq!(log.close_open_intents("crash").unwrap(), 1);
    }

    #[test]
    fn malformed_pairs_are_refused_at_append() {
        let (_d, log) = log();
        let i = log.append(intent(1)).unwrap();
        let refused = [
            NewRecord {
                phase: Some(Phase::Outcome),
                ..rec(1)
            },
            NewRecord {
                outcome: Outcome::Denied,
                ..intent(1)
            },
            NewRecord {
                outcome: Outcome::Pending,
                ..rec(1)
            },
            NewRecord {
                intent_id: Some(i.id.clone()),
                ..rec(1)
            },
        ];
        for bad in refused {
            assert!(
                matches!(
                    log.append(bad.clone()),
                    Err(EvidenceError::InvalidRecord(_))
                ),
                "{bad:?}"
            );
        }
        assert_eq!(log.count().unwrap(), 1);
    }

    #[test]
    fn an_outcome_naming_no_open_intent_fails_verification() {
        let (_d, log) = log();
        let i = log.append(intent(1)).unwrap();
        log.append(outcome_of(&i, Outcome::Allowed)).unwrap();
        // Closed twice: forged or replayed.
        log.append(outcome_of(&i, Outcome::Error)).unwrap();
        let report = log.verify().unwrap();
        let failure = report.failure.unwrap();
        assert_eq!(failure.kind, crate::FailureKind::UnmatchedOutcome);
        assert_eq!(failure.seq, Some(3));
    }

    #[test]
    fn committed_appends_are_readable_at_once_and_sync_makes_them_durable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.db");
        let keys = KeyStore::File(dir.path().join("k"));
        let log = EvidenceLog::open(&path, keys.clone()).unwrap();
        let i = log.append(intent(1)).unwrap();
        log.append_batch_with(
            vec![outcome_of(&i, Outcome::Allowed)],
            Durability::Committed,
        )
        .unwrap();
        // Back to FULL for everything else.
        let sync = scalar(&log, "PRAGMA synchronous");
        assert_eq!(sync, 2);
        log.sync().unwrap();
        // Another connection (another process) sees it.
        let other = EvidenceLog::open(&path, KeyStore::ReadOnly).unwrap();
        assert_eq!(other.count().unwrap(), 2);
        assert!(other.verify().unwrap().ok);
    }

    /// Appends as a lone call does (the gate's path when nothing waits): into the journal.
    fn alone(log: &EvidenceLog, rec: NewRecord, durability: Durability) -> Record {
        log.try_append_batch_now(vec![rec], durability)
            .expect("nothing waits for the connection")
            .unwrap()
            .remove(0)
    }

    #[test]
    fn appends_wait_in_the_journal_and_every_read_folds_them_first() {
        let (_d, log) = log();
        let log = log.with_checkpoint_interval(4);
        let first = alone(&log, intent(1), Durability::Synced);
        log.try_append_batch_now(
            vec![outcome_of(&first, Outcome::Allowed), rec(2)],
            Durability::Committed,
        )
        .unwrap()
        .unwrap();
        // Nothing reached the indexed tables yet: a commit wrote one narrow row per record.
        assert_eq!(scalar(&log, "SELECT count(*) FROM records"), 0);
        assert_eq!(scalar(&log, "SELECT count(*) FROM journal"), 3);
        assert_eq!(scalar(&log, "SELECT count(*) FROM checkpoints"), 0);
        // A read folds first: it sees every record, numbered and hashed as appended.
        let all = log
            .query(&Filter {
                oldest_first: true,
                ..Filter::default()
            })
            .unwrap();
        assert_eq!(all.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(all.first().unwrap().hash, first.hash);
        assert_eq!(scalar(&log, "SELECT count(*) FROM journal"), 0);
        // The chain continues from the folded head whichever way records are written, and
        // checkpoints land on the interval.
        for i in 3..6 {
            alone(&log, rec(i), Durability::Synced);
        }
        log.append_batch((6..8).map(rec).collect()).unwrap();
        assert_eq!(scalar(&log, "SELECT count(*) FROM journal"), 0);
        assert_eq!(log.get(&first.id).unwrap().unwrap().seq, 1);
        let report = log.verify().unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.records, 8);
        let signed: Vec<u64> = log.checkpoints().unwrap().iter().map(|c| c.seq).collect();
        assert_eq!(signed, [4, 8]);
    }

    #[test]
    fn appends_that_wait_go_straight_on_into_records_after_the_journal() {
        let (_d, log) = log();
        alone(&log, rec(0), Durability::Synced);
        alone(&log, rec(1), Durability::Committed);
        assert_eq!(scalar(&log, "SELECT count(*) FROM journal"), 2);
        // A group commit (the writer's path): what waited goes first, in order, and the
        // journal is left empty.
        log.append_batch((2..5).map(rec).collect()).unwrap();
        assert_eq!(scalar(&log, "SELECT count(*) FROM journal"), 0);
        let seqs: Vec<i64> = log
            .lock()
            .unwrap()
            .prepare("SELECT seq FROM records ORDER BY seq")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(seqs, [1, 2, 3, 4, 5]);
        assert!(log.verify().unwrap().ok);
    }

    #[test]
    fn the_journal_is_bounded_under_load_without_idle_time() {
        let (_d, log) = log();
        let n = JOURNAL_FOLD_FALLBACK + 40;
        for i in 0..n {
            alone(&log, rec(i), Durability::Committed);
            let waiting = u64::try_from(scalar(&log, "SELECT count(*) FROM journal")).unwrap();
            assert!(waiting <= JOURNAL_FOLD_FALLBACK, "{waiting} rows wait");
        }
        // The append that found the journal full folded it first, in its own transaction.
        assert_eq!(scalar(&log, "SELECT count(*) FROM journal"), 40);
        assert_eq!(log.count().unwrap(), n);
        assert!(log.verify().unwrap().ok);
    }

    #[test]
    fn a_journal_that_cannot_be_folded_fails_reads_and_then_appends() {
        let (_d, log) = log();
        let first = alone(&log, rec(0), Durability::Synced);
        assert_eq!(log.count().unwrap(), 1);
        alone(&log, rec(1), Durability::Synced);
        // A row an attacker (or a bad disk) made collide with a folded record: folding it
        // would put two records under one id.
        log.lock()
            .unwrap()
            .execute("UPDATE journal SET id = ?1", [&first.id])
            .unwrap();
        let err = log.count().unwrap_err().to_string();
        assert!(
            err.contains("1 evidence records wait in the journal"),
            "{err}"
        );
        assert!(err.contains("UNIQUE"), "{err}");
        assert!(log.probe(Duration::from_millis(10)).is_err());
        // Appends go on into the journal until it is full, then are refused (fail closed).
        let mut refused = None;
        for i in 2..=JOURNAL_FOLD_FALLBACK + 2 {
            let result = log.try_append_batch_now(vec![rec(i)], Durability::Synced);
            if let Some(Err(e)) = result {
                refused = Some((i, e.to_string()));
                break;
            }
        }
        let (at, why) = refused.expect("a full journal that cannot be folded refuses appends");
        assert_eq!(at, JOURNAL_FOLD_FALLBACK + 1);
        assert!(why.contains("UNIQUE"), "{why}");
        assert_eq!(scalar(&log, "SELECT count(*) FROM records"), 1);
    }

    #[test]
    fn records_deleted_under_the_engine_refuse_its_next_append() {
        // From the journal: the engine's next append would reuse the deleted numbers.
        let (_d, log) = log();
        for i in 0..3 {
            alone(&log, rec(i), Durability::Synced);
        }
        log.lock()
            .unwrap()
            .execute("DELETE FROM journal WHERE seq = 3", [])
            .unwrap();
        let err = log.append(rec(3)).unwrap_err().to_string();
        assert!(
            err.contains("ends at record 2") && err.contains("record 3"),
            "{err}"
        );
        // From the tail of `records`, triggers dropped, behind a log opened after the fact:
        // what it found at open is what it holds the log to.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.db");
        let keys = KeyStore::File(dir.path().join("k"));
        let first = EvidenceLog::open(&path, keys.clone()).unwrap();
        for i in 0..3 {
            first.append(rec(i)).unwrap();
        }
        assert_eq!(first.count().unwrap(), 3);
        drop(first);
        let engine = EvidenceLog::open(&path, keys).unwrap();
        engine
            .lock()
            .unwrap()
            .execute_batch("DROP TRIGGER records_no_delete; DELETE FROM records WHERE seq = 3")
            .unwrap();
        let err = engine.append(rec(3)).unwrap_err().to_string();
        assert!(err.contains("records were deleted"), "{err}");
        assert_eq!(engine.count().unwrap(), 2);
    }

    #[test]
    fn another_process_folding_the_journal_keeps_one_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.db");
        let writer = EvidenceLog::open(&path, KeyStore::File(dir.path().join("k")))
            .unwrap()
            .with_checkpoint_interval(3);
        for i in 0..2 {
            alone(&writer, rec(i), Durability::Synced);
        }
        // A reader without the key (`cordon log`) folds what the engine journaled: it signs
        // nothing, and the writer's next append chains onto the folded head.
        let reader = EvidenceLog::open(&path, KeyStore::ReadOnly).unwrap();
        assert_eq!(reader.count().unwrap(), 2);
        assert!(reader.checkpoints().unwrap().is_empty());
        let third = alone(&writer, rec(2), Durability::Synced);
        assert_eq!(third.seq, 3);
        assert_eq!(
            third.prev_hash,
            reader
                .get(&writer.query(&Filter::default()).unwrap()[1].id)
                .unwrap()
                .unwrap()
                .hash
        );
        assert_eq!(writer.checkpoints().unwrap().len(), 1);
        // Journaled records survive the writer going away without folding (a kill).
        alone(&writer, rec(3), Durability::Synced);
        drop(writer);
        assert_eq!(scalar(&reader, "SELECT count(*) FROM journal"), 1);
        let report = reader.verify().unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!((report.records, report.unsigned_tail), (4, 1));
    }

    #[test]
    fn folding_the_wal_beside_appends_loses_nothing_and_keeps_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.db");
        let log = Arc::new(EvidenceLog::open(&path, KeyStore::File(dir.path().join("k"))).unwrap());
        let wal = dir.path().join("e.db-wal");
        let writer = {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for i in 0..300 {
                    let open = log.append(intent(i)).unwrap();
                    log.append_batch_with(
                        vec![outcome_of(&open, Outcome::Allowed)],
                        Durability::Committed,
                    )
                    .unwrap();
                }
            })
        };
        let mut folds = 0;
        while !writer.is_finished() {
            log.fold_wal().unwrap();
            folds += 1;
        }
        writer.join().unwrap();
        assert!(folds > 0);
        // Once folded with no append running, nothing is left in the write-ahead log.
        assert_eq!(log.fold_wal().unwrap(), 0);
        assert!(
            std::fs::metadata(&wal).unwrap().len() > 0,
            "the WAL is reused, not removed"
        );
        let other = EvidenceLog::open(&path, KeyStore::ReadOnly).unwrap();
        assert_eq!(other.count().unwrap(), 600);
        let report = other.verify().unwrap();
        assert!(report.ok, "{report:?}");
        // The database file alone (without its write-ahead log) now holds every record.
        drop(other);
        let copy = dir.path().join("copy.db");
        std::fs::copy(&path, &copy).unwrap();
        let alone = EvidenceLog::open(&copy, KeyStore::ReadOnly).unwrap();
        assert_eq!(alone.count().unwrap(), 600);
    }

    #[test]
    fn an_idle_fold_starts_the_write_ahead_log_afresh_so_the_next_intent_does_not() {
        // The header's checkpoint sequence number (bytes 12..16) counts the log's restarts.
        fn restarts(wal: &Path) -> u32 {
            let header = std::fs::read(wal).unwrap();
            u32::from_be_bytes(header[12..16].try_into().unwrap())
        }
        let (dir, _, log) = file_log();
        let wal = dir.path().join("e.db-wal");
        for i in 0..20 {
            log.append(intent(i)).unwrap();
        }
        let before = restarts(&wal);
        assert_eq!(log.fold_wal().unwrap(), 0);
        let after_fold = restarts(&wal);
        assert!(
            after_fold > before,
            "the fold left the restart to the next commit"
        );
        log.try_append_batch_now(vec![intent(20)], Durability::Synced)
            .expect("the log is free")
            .unwrap();
        assert_eq!(
            restarts(&wal),
            after_fold,
            "the intent restarted the write-ahead log itself (two syncs on its path)"
        );
        let report = log.verify().unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.records, 21);
    }

    #[test]
    fn an_idle_fold_never_waits_for_another_processs_write_lock() {
        let (_dir, path, log) = file_log();
        for i in 0..5 {
            log.append(intent(i)).unwrap();
        }
        let other = rusqlite::Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let started = std::time::Instant::now();
        assert_eq!(log.fold_wal().unwrap(), 0, "the fold itself needs no lock");
        assert!(
            started.elapsed() < BUSY_TIMEOUT / 2,
            "the restart waited for the other writer"
        );
        other.execute_batch("ROLLBACK").unwrap();
        log.append(intent(5)).unwrap();
        assert!(log.verify().unwrap().ok);
    }

    #[test]
    fn in_memory_logs_have_nothing_to_fold() {
        let dir = tempfile::tempdir().unwrap();
        let log =
            EvidenceLog::open(Path::new(":memory:"), KeyStore::File(dir.path().join("k"))).unwrap();
        log.append(rec(1)).unwrap();
        assert_eq!(log.fold_wal().unwrap(), 0);
    }

    #[test]
    fn the_log_can_be_shared_across_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<EvidenceLog>();
    }

    #[test]
    fn get_by_prefix() {
        let (_d, log) = log();
        let r = log.append(rec(1)).unwrap();
        assert_eq!(log.get(&r.id).unwrap().unwrap(), r);
        assert_eq!(
            log.get(&r.id[..10].to_ascii_lowercase()).unwrap().unwrap(),
            r
        );
        assert!(log.get("01").unwrap().is_none());
        assert!(log.get("ZZZZZZZZZZZZZZZZZZZZZZZZZZ").unwrap().is_none());
    }
}
