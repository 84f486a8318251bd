//! Durable evidence writes off the async runtime, with group commit, and the evidence health
//! the tray and `cordon` show.
//!
//! SQLite appends block and a durable commit costs a sync; one dedicated thread drains every
//! queued record into one transaction (`append_batch_with`), and each caller learns when *its*
//! record is written. A batch holding an intent (or a refusal) is fsynced before anyone is told;
//! a batch of outcomes only is committed to the write-ahead log (it survives the engine being
//! killed) and fsynced by the next synced batch, or by the writer after [`SYNC_AFTER`] idle.
//! Idle is also when the writer folds SQLite's write-ahead log into the database
//! ([`EvidenceLog::fold_wal`]): otherwise a call's append would, every thousand pages.
//!
//! When the log cannot be written (disk full, read-only file system, unwritable files) every
//! append fails, so every call is refused; the writer remembers the fault ([`Recorder::health`]),
//! probes the log every [`PROBE_EVERY`] while idle and clears the fault by itself once a write
//! works again.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cordon_evidence::{Durability, EvidenceLog, NewRecord, format_timestamp};
use cordon_secrets::Redactor;
use serde::Serialize;
use tokio::sync::oneshot;

/// Most records committed in one transaction.
const MAX_BATCH: usize = 256;

/// How long outcomes may stay committed but not fsynced while the writer is idle.
pub const SYNC_AFTER: Duration = Duration::from_millis(20);

/// How often a faulted log is probed while no call tries it.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);

/// How long a probe of a faulted log waits for another process's lock: calls arriving during a
/// fault are refused within this, not after the database's usual 30 s busy wait each.
pub const PROBE_PATIENCE: Duration = Duration::from_millis(100);

struct Job {
    record: NewRecord,
    durability: Durability,
    reply: oneshot::Sender<Result<String, String>>,
}

/// Whether the evidence log can be written: what the tray and `cordon status` show.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EvidenceHealth {
    /// True while appends succeed (every governed call needs one).
    pub ok: bool,
    /// The last error, while faulted.
    pub error: Option<String>,
    /// When the fault started (RFC 3339 UTC), while faulted.
    pub since: Option<String>,
    /// Appends refused since the fault started (each one a refused call, or a lost outcome).
    pub failed_appends: u64,
}

/// Handle to the evidence writer thread.
#[derive(Clone)]
pub struct Recorder {
    queue: mpsc::Sender<Job>,
    log: Arc<EvidenceLog>,
    redactor: Arc<Redactor>,
    health: Arc<Mutex<EvidenceHealth>>,
}

fn now_text() -> Option<String> {
    format_timestamp(time::OffsetDateTime::now_utc()).ok()
}

fn set_health(health: &Mutex<EvidenceHealth>, result: Result<(), &str>, appends: u64) {
    let mut h = match health.lock() {
        Ok(h) => h,
        Err(poisoned) => poisoned.into_inner(),
    };
    match result {
        Ok(()) => {
            if !h.ok {
                tracing::info!("evidence log writable again: calls are served");
            }
            *h = EvidenceHealth {
                ok: true,
                ..EvidenceHealth::default()
            };
        }
        Err(error) => {
            if h.ok {
                tracing::error!(
                    "evidence log fault: every call is refused until it clears: {error}"
                );
                h.since = now_text();
            }
            h.ok = false;
            h.error = Some(error.to_owned());
            h.failed_appends = h.failed_appends.saturating_add(appends);
        }
    }
}

/// The writer thread: batches, commits, syncs lazily, probes while faulted.
fn writer(log: Arc<EvidenceLog>, rx: mpsc::Receiver<Job>, health: Arc<Mutex<EvidenceHealth>>) {
    // Outcomes committed but not yet fsynced.
    let mut unsynced = false;
    // Commits not yet folded from the write-ahead log into the database.
    let mut unfolded = false;
    loop {
        let faulted = health.lock().map(|h| !h.ok).unwrap_or(true);
        let wait = if unsynced || unfolded {
            Some(SYNC_AFTER)
        } else if faulted {
            Some(PROBE_EVERY)
        } else {
            None
        };
        let first = match wait {
            None => match rx.recv() {
                Ok(job) => job,
                Err(_) => break,
            },
            Some(timeout) => match rx.recv_timeout(timeout) {
                Ok(job) => job,
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    if unsynced || unfolded {
                        if unsynced {
                            match log.sync() {
                                Ok(()) => unsynced = false,
                                Err(e) => set_health(&health, Err(&e.to_string()), 0),
                            }
                        }
                        // Idle: fold the write-ahead log now, so no call's append has to.
                        // A failure is not a fault of the log (appends still work); retried
                        // after the next commit.
                        if let Err(e) = log.fold_wal() {
                            tracing::debug!("folding the evidence write-ahead log: {e}");
                        }
                        unfolded = false;
                    } else if let Err(e) = log.probe(PROBE_PATIENCE) {
                        set_health(&health, Err(&e.to_string()), 0);
                    } else {
                        set_health(&health, Ok(()), 0);
                    }
                    continue;
                }
            },
        };
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        // While faulted, a quick probe decides: still faulted, and these calls are refused now.
        if faulted && let Err(error) = log.probe(PROBE_PATIENCE) {
            let error = error.to_string();
            let n = u64::try_from(jobs.len()).unwrap_or(u64::MAX);
            set_health(&health, Err(&error), n);
            for job in jobs {
                let _ = job.reply.send(Err(error.clone()));
            }
            continue;
        }
        let durability = if jobs.iter().any(|j| j.durability == Durability::Synced) {
            Durability::Synced
        } else {
            Durability::Committed
        };
        let (records, replies): (Vec<_>, Vec<_>) =
            jobs.into_iter().map(|j| (j.record, j.reply)).unzip();
        let n = u64::try_from(records.len()).unwrap_or(u64::MAX);
        match log.append_batch_with(records, durability) {
            Ok(written) => {
                set_health(&health, Ok(()), 0);
                unsynced = durability == Durability::Committed;
                unfolded = true;
                for (record, reply) in written.into_iter().zip(replies) {
                    let _ = reply.send(Ok(record.id));
                }
            }
            Err(error) => {
                let error = error.to_string();
                set_health(&health, Err(&error), n);
                for reply in replies {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }
    if unsynced {
        let _ = log.sync();
    }
}

impl Recorder {
    /// Starts the writer thread for `log`.
    pub fn start(log: Arc<EvidenceLog>) -> Recorder {
        let (queue, rx) = mpsc::channel::<Job>();
        let health = Arc::new(Mutex::new(EvidenceHealth {
            ok: true,
            ..EvidenceHealth::default()
        }));
        let spawned = std::thread::Builder::new()
            .name("cordon-evidence".into())
            .spawn({
                let (log, health) = (log.clone(), health.clone());
                move || writer(log, rx, health)
            });
        if let Err(error) = spawned {
            // Without a writer every record fails, so every call is refused (fail closed).
            tracing::error!("cannot start the evidence writer thread: {error}");
            set_health(
                &health,
                Err("the evidence writer thread could not start"),
                0,
            );
        }
        Recorder {
            queue,
            log,
            redactor: Arc::new(Redactor::empty()),
            health,
        }
    }

    /// Redacts every record with `redactor` before it is written, so the database and every
    /// export of it are free of the secrets the upstreams received.
    pub fn with_redactor(mut self, redactor: Arc<Redactor>) -> Recorder {
        self.redactor = redactor;
        self
    }

    /// The redactor records pass through.
    pub fn redactor(&self) -> &Arc<Redactor> {
        &self.redactor
    }

    /// Whether the evidence log is writable now (and since when it is not).
    pub fn health(&self) -> EvidenceHealth {
        match self.health.lock() {
            Ok(h) => h.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn clean(&self, mut record: NewRecord) -> NewRecord {
        let r = &self.redactor;
        if r.is_empty() {
            return record;
        }
        let text = |s: &mut String| {
            if let std::borrow::Cow::Owned(clean) = r.redact(s) {
                *s = clean;
            }
        };
        for field in [
            &mut record.agent,
            &mut record.session_id,
            &mut record.server,
            &mut record.tool,
            &mut record.action,
            &mut record.decision,
            &mut record.reason,
            &mut record.policy_version,
        ] {
            text(field);
        }
        for field in [
            &mut record.target,
            &mut record.rule_id,
            &mut record.reviewer,
            &mut record.diff,
            &mut record.error,
        ]
        .into_iter()
        .flatten()
        {
            text(field);
        }
        record.risk_tags.iter_mut().for_each(text);
        r.redact_value(&mut record.args);
        record
    }

    /// Appends one record, fsynced before it returns; Err means it was NOT recorded and the
    /// call must be refused. Ok carries the record's id.
    pub async fn record(&self, record: NewRecord) -> Result<String, String> {
        self.append(record, Durability::Synced).await
    }

    /// Appends one record with the given durability (see [`Durability`]); Ok carries its id.
    pub async fn append(
        &self,
        record: NewRecord,
        durability: Durability,
    ) -> Result<String, String> {
        let (tx, rx) = oneshot::channel();
        let record = self.clean(record);
        self.queue
            .send(Job {
                record,
                durability,
                reply: tx,
            })
            .map_err(|_| "the evidence writer is not running".to_owned())?;
        rx.await
            .map_err(|_| "the evidence writer stopped".to_owned())?
    }

    /// Appends without waiting (for records of calls whose agent already went away).
    pub fn record_detached(&self, record: NewRecord) {
        let (tx, _rx) = oneshot::channel();
        let record = self.clean(record);
        let job = Job {
            record,
            durability: Durability::Synced,
            reply: tx,
        };
        if self.queue.send(job).is_err() {
            tracing::error!("evidence writer not running: a record was lost");
        }
    }

    /// The underlying log (for checkpoints and policy snapshots).
    pub fn log(&self) -> &Arc<EvidenceLog> {
        &self.log
    }
}
