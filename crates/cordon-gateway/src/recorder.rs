//! Durable evidence writes off the async runtime, with group commit, and the evidence health
//! the tray and `cordon` show.
//!
//! SQLite appends block and a durable commit costs a sync; one dedicated thread drains every
//! queued record into one transaction (`append_batch_with`), and each caller learns when *its*
//! record is written. When appends come one at a time (none overlapped another for
//! [`ALONE_AFTER`], and no other process is writing) a caller on a runtime with two or more
//! workers appends on its own thread instead (`try_append_batch_now`, which never waits): the two
//! thread hand-offs of the queue cost more than the append of one record. Concurrent appends take
//! the queue (one transaction and one fsync for many, which is what sustains thousands of calls a
//! second), and so does a busy log, so a worker never waits on a lock and another always remains
//! to serve. The writer commits each batch to the write-ahead log (it survives the engine being
//! killed) and answers its outcomes at once; its intents and refusals go to a second thread, the
//! flusher, and are answered only once a flush of the disk that began after their commit ends
//! (the writer commits the next batch meanwhile: pipelined group commit). Outcomes are fsynced
//! by the next flush, or by the writer after [`SYNC_AFTER`] idle.
//! Idle is also when the writer folds the log's journal into its indexed tables
//! ([`EvidenceLog::fold_journal`]) and SQLite's write-ahead log into the database
//! ([`EvidenceLog::fold_wal`]): otherwise a call's append would, every few hundred records and
//! every thousand pages.
//!
//! When the log cannot be written (disk full, read-only file system, unwritable files) every
//! append fails, so every call is refused; the writer remembers the fault ([`Recorder::health`]),
//! probes the log every [`PROBE_EVERY`] while idle and clears the fault by itself once a write
//! works again.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cordon_evidence::{Durability, EvidenceLog, NewRecord, Outcome, Phase, format_timestamp};
use cordon_secrets::Redactor;
use serde::Serialize;
use tokio::sync::oneshot;

/// Most records committed in one transaction.
const MAX_BATCH: usize = 256;

/// How long outcomes may stay committed but not fsynced while the writer is idle.
pub const SYNC_AFTER: Duration = Duration::from_millis(20);

/// How long after two appends overlapped every append takes the queue (see the module doc).
pub const ALONE_AFTER: Duration = Duration::from_millis(100);

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

/// What the writer thread is sent.
enum Msg {
    /// A record to append.
    Append(Box<Job>),
    /// A caller committed on its own thread and left work for the writer's idle time.
    Wake,
}

/// Work a commit leaves for the writer's idle time, whoever committed (the writer or a caller
/// on its own thread).
struct Leftovers {
    /// Outcomes committed but not yet fsynced.
    unsynced: AtomicBool,
    /// Commits not yet folded from the write-ahead log into the database.
    unfolded: AtomicBool,
    /// When the last commit was made, in milliseconds since `epoch`: the log is idle only
    /// [`SYNC_AFTER`] after it.
    last_commit_ms: AtomicU64,
    epoch: Instant,
}

impl Leftovers {
    fn new() -> Leftovers {
        Leftovers {
            unsynced: AtomicBool::new(false),
            unfolded: AtomicBool::new(false),
            last_commit_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Notes a commit; true if the writer may be asleep without a timer (it found nothing to
    /// do), so it must be woken. Every commit leaves a fold to do, and the writer sleeps without
    /// a timer only after finding none: a commit that finds one already noted needs no wake
    /// (one wake per idle spell, not one per record), whether or not it leaves a sync too.
    fn committed(&self, durability: Durability) -> bool {
        self.last_commit_ms.store(self.now_ms(), Ordering::Release);
        if durability == Durability::Committed {
            self.unsynced.store(true, Ordering::Release);
        }
        !self.unfolded.swap(true, Ordering::AcqRel)
    }

    fn dirty(&self) -> bool {
        self.unsynced.load(Ordering::Acquire) || self.unfolded.load(Ordering::Acquire)
    }

    fn idle_for(&self) -> Duration {
        let last = self.last_commit_ms.load(Ordering::Acquire);
        Duration::from_millis(self.now_ms().saturating_sub(last))
    }
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

/// Appends in flight, and when two last overlapped (milliseconds on the leftovers' clock;
/// `u64::MAX`: never).
struct InFlightCount {
    now: AtomicUsize,
    last_overlap_ms: AtomicU64,
}

impl Default for InFlightCount {
    fn default() -> InFlightCount {
        InFlightCount {
            now: AtomicUsize::new(0),
            last_overlap_ms: AtomicU64::new(u64::MAX),
        }
    }
}

/// Counts one append in flight for as long as it lives.
struct InFlight<'a> {
    count: &'a InFlightCount,
    /// No append overlapped another for [`ALONE_AFTER`], this one included.
    alone: bool,
}

impl<'a> InFlight<'a> {
    fn enter(count: &'a InFlightCount, now_ms: u64) -> InFlight<'a> {
        let before = count.now.fetch_add(1, Ordering::AcqRel);
        let alone = if before == 0 {
            let last = count.last_overlap_ms.load(Ordering::Acquire);
            last == u64::MAX
                || now_ms.saturating_sub(last) > u64::try_from(ALONE_AFTER.as_millis()).unwrap_or(0)
        } else {
            count.last_overlap_ms.store(now_ms, Ordering::Release);
            false
        };
        InFlight { count, alone }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.count.now.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Handle to the evidence writer thread.
#[derive(Clone)]
pub struct Recorder {
    queue: mpsc::Sender<Msg>,
    leftovers: Arc<Leftovers>,
    /// Appends in flight (waiting or being written), and when two last overlapped.
    in_flight: Arc<InFlightCount>,
    log: Arc<EvidenceLog>,
    /// How a committed record is made durable (shared with the flusher).
    flush: Arc<Flush>,
    redactor: Arc<Redactor>,
    health: Arc<Mutex<EvidenceHealth>>,
}

/// Now, as the evidence health states times (RFC 3339 UTC).
pub(crate) fn now_text() -> Option<String> {
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

/// Records committed by the writer that their callers may hear of only once they are durable.
type Unsynced = Vec<(
    cordon_evidence::Record,
    oneshot::Sender<Result<String, String>>,
)>;

/// How the flusher makes committed records durable: [`EvidenceLog::flush_committed`], or a
/// test's stand-in that watches or fails it.
type Flush = Box<dyn Fn(&EvidenceLog) -> Result<(), cordon_evidence::EvidenceError> + Send + Sync>;

/// The flusher thread: makes the writer's committed batches durable, one flush for all the
/// batches committed since the last one, and only then tells their callers. The writer commits
/// the next batch meanwhile, so under load a call waits for the disk's flush once, not for the
/// flushes of the batches ahead of it as well, and an outcome (which needs no flush) never waits
/// behind one. A flush that fails refuses every call it carried; their intents, committed but
/// perhaps not durable, are closed at once with an `error` outcome saying the call never ran
/// (or, if that cannot be written either, as `interrupted` at the next start).
fn flusher(
    log: Arc<EvidenceLog>,
    rx: mpsc::Receiver<Unsynced>,
    health: Arc<Mutex<EvidenceHealth>>,
    flush: Arc<Flush>,
) {
    while let Ok(mut batch) = rx.recv() {
        while let Ok(more) = rx.try_recv() {
            batch.extend(more);
        }
        match flush(&log) {
            Ok(()) => {
                for (record, reply) in batch {
                    let _ = reply.send(Ok(record.id));
                }
            }
            Err(error) => {
                let error = error.to_string();
                let n = u64::try_from(batch.len()).unwrap_or(u64::MAX);
                set_health(&health, Err(&error), n);
                let mut closing = Vec::new();
                for (record, reply) in batch {
                    let _ = reply.send(Err(error.clone()));
                    closing.extend(unflushed_outcome(record, &error));
                }
                if !closing.is_empty()
                    && let Err(e) = log.append_batch_with(closing, Durability::Committed)
                {
                    tracing::warn!("closing intents refused for want of a flush: {e}");
                }
            }
        }
    }
}

/// The outcome closing `record` when it was committed but the flush that should have made it
/// durable failed (`error`): its call was refused. None for a record that is not an intent.
fn unflushed_outcome(record: cordon_evidence::Record, error: &str) -> Option<NewRecord> {
    (record.call.phase == Some(Phase::Intent)).then(|| NewRecord {
        outcome: Outcome::Error,
        duration_ms: 0,
        error: Some(format!(
            "the intent could not be made durable ({error}): the call was refused and did not run"
        )),
        phase: Some(Phase::Outcome),
        intent_id: Some(record.id),
        ..record.call
    })
}

/// The writer thread: batches, commits, hands what needs a flush to the flusher, syncs
/// outcomes lazily, probes while faulted.
fn writer(
    log: Arc<EvidenceLog>,
    rx: mpsc::Receiver<Msg>,
    to_flusher: mpsc::Sender<Unsynced>,
    health: Arc<Mutex<EvidenceHealth>>,
    left: Arc<Leftovers>,
) {
    loop {
        let faulted = health.lock().map(|h| !h.ok).unwrap_or(true);
        let dirty = left.dirty();
        let wait = if dirty {
            Some(SYNC_AFTER)
        } else if faulted {
            Some(PROBE_EVERY)
        } else {
            None
        };
        let first = match wait {
            None => match rx.recv() {
                Ok(Msg::Append(job)) => *job,
                Ok(Msg::Wake) => continue,
                Err(_) => break,
            },
            Some(timeout) => match rx.recv_timeout(timeout) {
                Ok(Msg::Append(job)) => *job,
                Ok(Msg::Wake) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    if dirty {
                        // Callers may be committing on their own threads: idle means no
                        // commit anywhere for SYNC_AFTER.
                        if left.idle_for() < SYNC_AFTER {
                            continue;
                        }
                        // Cleared before the work: a commit racing it marks it again.
                        if left.unsynced.swap(false, Ordering::AcqRel)
                            && let Err(e) = log.sync()
                        {
                            left.unsynced.store(true, Ordering::Release);
                            set_health(&health, Err(&e.to_string()), 0);
                        }
                        // Idle: fold the journal into the indexed tables, then SQLite's
                        // write-ahead log into the database, so no call's append has to. A
                        // failure is not yet a fault (appends still work); retried after the
                        // next commit, and an append refuses once the journal is full.
                        left.unfolded.store(false, Ordering::Release);
                        if let Err(e) = log.fold_journal() {
                            tracing::warn!("folding the evidence journal: {e}");
                        }
                        if let Err(e) = log.fold_wal() {
                            tracing::debug!("folding the evidence write-ahead log: {e}");
                        }
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
                Ok(Msg::Append(job)) => jobs.push(*job),
                Ok(Msg::Wake) => {}
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
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
        // Committed, never synced here: the flusher makes the records that need it durable
        // while the next batch commits (see `flusher`).
        let (records, replies): (Vec<_>, Vec<_>) = jobs
            .into_iter()
            .map(|j| (j.record, (j.durability, j.reply)))
            .unzip();
        let n = u64::try_from(records.len()).unwrap_or(u64::MAX);
        match log.append_batch_with(records, Durability::Committed) {
            Ok(written) => {
                set_health(&health, Ok(()), 0);
                left.committed(Durability::Committed);
                let mut unsynced = Vec::new();
                for (record, (durability, reply)) in written.into_iter().zip(replies) {
                    match durability {
                        Durability::Committed => {
                            let _ = reply.send(Ok(record.id));
                        }
                        Durability::Synced => unsynced.push((record, reply)),
                    }
                }
                if !unsynced.is_empty()
                    && let Err(mpsc::SendError(lost)) = to_flusher.send(unsynced)
                {
                    // No flusher: nobody is told these records are durable (fail closed).
                    for (_, reply) in lost {
                        let _ = reply.send(Err("the evidence flusher is not running".to_owned()));
                    }
                }
            }
            Err(error) => {
                let error = error.to_string();
                set_health(&health, Err(&error), n);
                for (_, reply) in replies {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }
    if left.unsynced.load(Ordering::Acquire) {
        let _ = log.sync();
    }
}

impl Recorder {
    /// Starts the writer thread for `log`.
    pub fn start(log: Arc<EvidenceLog>) -> Recorder {
        Recorder::start_with(log, Box::new(EvidenceLog::flush_committed))
    }

    fn start_with(log: Arc<EvidenceLog>, flush: Flush) -> Recorder {
        let flush = Arc::new(flush);
        let (queue, rx) = mpsc::channel::<Msg>();
        let leftovers = Arc::new(Leftovers::new());
        let health = Arc::new(Mutex::new(EvidenceHealth {
            ok: true,
            ..EvidenceHealth::default()
        }));
        let (to_flusher, unsynced) = mpsc::channel::<Unsynced>();
        let spawned = std::thread::Builder::new()
            .name("cordon-evidence-flush".into())
            .spawn({
                let (log, health, flush) = (log.clone(), health.clone(), flush.clone());
                move || flusher(log, unsynced, health, flush)
            })
            .and_then(|_| {
                std::thread::Builder::new()
                    .name("cordon-evidence".into())
                    .spawn({
                        let (log, health, left) = (log.clone(), health.clone(), leftovers.clone());
                        move || writer(log, rx, to_flusher, health, left)
                    })
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
            leftovers,
            in_flight: Arc::new(InFlightCount::default()),
            log,
            flush,
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
        let record = self.clean(record);
        let in_flight = InFlight::enter(&self.in_flight, self.leftovers.now_ms());
        if in_flight.alone
            && let Some(appended) = self.append_here(&record, durability)
        {
            return appended;
        }
        let (tx, rx) = oneshot::channel();
        self.queue
            .send(Msg::Append(Box::new(Job {
                record,
                durability,
                reply: tx,
            })))
            .map_err(|_| "the evidence writer is not running".to_owned())?;
        rx.await
            .map_err(|_| "the evidence writer stopped".to_owned())?
    }

    /// Appends on the caller's thread when that cannot wait: the log is healthy and free, and
    /// the caller is a worker of a runtime with another worker to serve meanwhile. `None` when
    /// it did not append (the writer thread then tries, and reports a fault it finds). A record
    /// that needs a flush is committed, the connection released, then flushed here
    /// ([`EvidenceLog::flush_committed`]): another call's commit need not wait for this flush.
    fn append_here(
        &self,
        record: &NewRecord,
        durability: Durability,
    ) -> Option<Result<String, String>> {
        let spare_worker = tokio::runtime::Handle::try_current().is_ok_and(|h| {
            h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
                && h.metrics().num_workers() >= 2
        });
        if !spare_worker || !self.health().ok {
            return None;
        }
        let written = match self
            .log
            .try_append_batch_now(vec![record.clone()], Durability::Committed)?
        {
            Ok(mut written) => written.pop()?,
            Err(error) => {
                tracing::debug!("evidence append on the caller's thread failed, queued: {error}");
                return None;
            }
        };
        if self.leftovers.committed(Durability::Committed) {
            // The writer may be asleep with nothing to do: it has now.
            let _ = self.queue.send(Msg::Wake);
        }
        if durability == Durability::Synced
            && let Err(error) = (self.flush)(&self.log)
        {
            // Committed, so not retried through the queue: refused, and its intent closed.
            let error = error.to_string();
            set_health(&self.health, Err(&error), 1);
            if let Some(closing) = unflushed_outcome(written, &error) {
                self.record_detached_as(closing, Durability::Committed);
            }
            return Some(Err(error));
        }
        Some(Ok(written.id))
    }

    /// Appends without waiting (for records of calls whose agent already went away).
    pub fn record_detached(&self, record: NewRecord) {
        let record = self.clean(record);
        self.record_detached_as(record, Durability::Synced);
    }

    fn record_detached_as(&self, record: NewRecord, durability: Durability) {
        let (tx, _rx) = oneshot::channel();
        let job = Job {
            record,
            durability,
            reply: tx,
        };
        if self.queue.send(Msg::Append(Box::new(job))).is_err() {
            tracing::error!("evidence writer not running: a record was lost");
        }
    }

    /// The underlying log (for checkpoints and policy snapshots).
    pub fn log(&self) -> &Arc<EvidenceLog> {
        &self.log
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cordon_evidence::{KeyStore, Phase};

    fn intent(i: u64) -> NewRecord {
        NewRecord {
            agent: "claude-code".into(),
            session_id: "s1".into(),
            action: "job.mcp-bridge.read.file".into(),
            decision: "allow".into(),
            outcome: cordon_evidence::Outcome::Allowed,
            duration_ms: i,
            phase: Some(Phase::Intent),
            ..NewRecord::default()
        }
    }

    fn log_in(dir: &std::path::Path) -> Arc<EvidenceLog> {
        Arc::new(EvidenceLog::open(&dir.join("e.db"), KeyStore::File(dir.join("k"))).unwrap())
    }

    fn recorder(dir: &std::path::Path) -> (Recorder, std::path::PathBuf) {
        (Recorder::start(log_in(dir)), dir.join("e.db"))
    }

    /// Waits (up to 10 s) for the writer to finish the work commits left for its idle time.
    async fn idle_work_done(recorder: &Recorder) {
        let mut waited = Duration::ZERO;
        while recorder.leftovers.dirty() && waited < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(10)).await;
            waited += Duration::from_millis(10);
        }
    }

    #[test]
    fn overlapping_appends_take_the_queue_for_a_while() {
        let count = InFlightCount::default();
        assert!(InFlight::enter(&count, 0).alone, "none ever overlapped");
        {
            let first = InFlight::enter(&count, 1_000);
            assert!(first.alone);
            let second = InFlight::enter(&count, 1_001);
            assert!(!second.alone, "overlaps the first");
        }
        assert_eq!(count.now.load(Ordering::Acquire), 0);
        assert!(
            !InFlight::enter(&count, 1_050).alone,
            "too soon after an overlap"
        );
        assert!(InFlight::enter(&count, 1_200).alone);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_on_the_callers_thread_wakes_the_writer_to_sync_it() {
        let dir = tempfile::tempdir().unwrap();
        let (recorder, _) = recorder(dir.path());
        // Let the writer fall asleep with nothing to do.
        tokio::time::sleep(SYNC_AFTER * 3).await;
        assert!(!recorder.leftovers.dirty());
        recorder
            .append(intent(1), Durability::Committed)
            .await
            .unwrap();
        // Committed here, not by the writer: it must still sync and fold once idle.
        idle_work_done(&recorder).await;
        assert!(
            !recorder.leftovers.dirty(),
            "the writer never synced the outcome"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_outcome_after_its_intent_is_synced_though_only_the_intent_woke_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let (recorder, _) = recorder(dir.path());
        for round in 0..3 {
            tokio::time::sleep(SYNC_AFTER * 3).await;
            assert!(!recorder.leftovers.dirty(), "round {round}: left dirty");
            recorder
                .append(intent(2 * round), Durability::Synced)
                .await
                .unwrap();
            recorder
                .append(intent(2 * round + 1), Durability::Committed)
                .await
                .unwrap();
            idle_work_done(&recorder).await;
            assert!(
                !recorder.leftovers.unsynced.load(Ordering::Acquire),
                "round {round}: the outcome was never synced"
            );
        }
    }

    /// The writer's path (a current-thread runtime never appends on the caller's thread): an
    /// intent is answered only after a flush that began once it was committed, and an outcome
    /// without waiting for one.
    #[tokio::test]
    async fn a_queued_intent_is_answered_only_after_a_flush_that_saw_it() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_in(dir.path());
        // What each flush could see committed when it began.
        let seen = Arc::new(Mutex::new(Vec::<u64>::new()));
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        let recorder = Recorder::start_with(log, {
            let seen = seen.clone();
            Box::new(move |log: &EvidenceLog| {
                seen.lock().unwrap().push(log.count()?);
                // The test decides when this flush ends.
                let _ = gate.lock().unwrap().recv_timeout(Duration::from_secs(10));
                log.flush_committed()
            })
        });
        let first = tokio::spawn({
            let recorder = recorder.clone();
            async move { recorder.append(intent(1), Durability::Synced).await }
        });
        while seen.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(
            !first.is_finished(),
            "answered while its flush was still running"
        );
        // An outcome is committed and answered while the flush runs.
        let outcome = tokio::time::timeout(
            Duration::from_secs(10),
            recorder.append(intent(2), Durability::Committed),
        )
        .await
        .expect("an outcome waited for a flush")
        .unwrap();
        assert!(!outcome.is_empty());
        // An intent committed during that flush waits for the next one, which sees it.
        let second = tokio::spawn({
            let recorder = recorder.clone();
            async move { recorder.append(intent(3), Durability::Synced).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        release.send(()).unwrap();
        first.await.unwrap().unwrap();
        while seen.lock().unwrap().len() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(
            !second.is_finished(),
            "answered before the flush that covers it ended"
        );
        release.send(()).unwrap();
        second.await.unwrap().unwrap();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen[0], 1,
            "the first flush began once the first intent was committed"
        );
        assert!(
            seen[1] >= 3,
            "the second intent was answered after a flush that saw it: {seen:?}"
        );
    }

    /// A flush that fails refuses the calls it carried, faults the log, and closes their intents
    /// at once with an error outcome saying the call never ran.
    #[tokio::test]
    async fn a_failed_flush_refuses_its_calls_and_closes_their_intents() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_in(dir.path());
        let recorder = Recorder::start_with(
            log.clone(),
            Box::new(|_: &EvidenceLog| {
                Err(cordon_evidence::EvidenceError::Io {
                    path: "e.db-wal".into(),
                    source: std::io::Error::other("flush failed"),
                })
            }),
        );
        let refused = recorder.append(intent(1), Durability::Synced).await;
        assert!(refused.unwrap_err().contains("flush failed"));
        let health = recorder.health();
        assert!(!health.ok && health.failed_appends == 1, "{health:?}");
        let mut closed = None;
        for _ in 0..1_000 {
            closed = log
                .query(&cordon_evidence::Filter::default())
                .unwrap()
                .into_iter()
                .find(|r| r.call.phase == Some(Phase::Outcome));
            if closed.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let closed = closed.expect("the refused intent was never closed");
        assert_eq!(closed.call.outcome, cordon_evidence::Outcome::Error);
        assert!(
            closed
                .call
                .error
                .as_deref()
                .unwrap()
                .contains("did not run"),
            "{closed:?}"
        );
    }

    /// The same on the caller's own thread (a lone append on a runtime with a spare worker):
    /// committed, not flushed, so refused and closed, never retried through the queue.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lone_append_whose_flush_fails_is_refused_once_and_closed() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_in(dir.path());
        let flushes = Arc::new(AtomicUsize::new(0));
        let recorder = Recorder::start_with(log.clone(), {
            let flushes = flushes.clone();
            Box::new(move |_: &EvidenceLog| {
                flushes.fetch_add(1, Ordering::AcqRel);
                Err(cordon_evidence::EvidenceError::Io {
                    path: "e.db-wal".into(),
                    source: std::io::Error::other("flush failed"),
                })
            })
        });
        let refused = recorder.append(intent(1), Durability::Synced).await;
        assert!(refused.unwrap_err().contains("flush failed"));
        assert_eq!(
            flushes.load(Ordering::Acquire),
            1,
            "flushed on its own thread, once"
        );
        let mut records = Vec::new();
        for _ in 0..1_000 {
            records = log.query(&cordon_evidence::Filter::default()).unwrap();
            if records.len() >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            records.len(),
            2,
            "the intent once, and its closing outcome: {records:?}"
        );
        let (intent, outcome): (Vec<_>, Vec<_>) = records
            .iter()
            .partition(|r| r.call.phase == Some(Phase::Intent));
        assert_eq!(outcome[0].call.outcome, cordon_evidence::Outcome::Error);
        assert_eq!(
            outcome[0].call.intent_id.as_deref(),
            Some(intent[0].id.as_str())
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_append_behind_another_writer_waits_in_the_queue_and_lands() {
        let dir = tempfile::tempdir().unwrap();
        let (recorder, path) = recorder(dir.path());
        let other = rusqlite::Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let pending = tokio::spawn({
            let recorder = recorder.clone();
            async move { recorder.append(intent(1), Durability::Synced).await }
        });
        // The runtime keeps serving while the append waits for the other writer.
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            !pending.is_finished(),
            "appended through another process's lock?"
        );
        other.execute_batch("ROLLBACK").unwrap();
        let id = tokio::time::timeout(Duration::from_secs(30), pending)
            .await
            .expect("the append never finished")
            .unwrap()
            .unwrap();
        assert!(!id.is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn appends_from_many_tasks_keep_one_chain() {
        let dir = tempfile::tempdir().unwrap();
        let (recorder, _) = recorder(dir.path());
        let tasks: Vec<_> = (0..8u64)
            .map(|t| {
                let recorder = recorder.clone();
                tokio::spawn(async move {
                    for i in 0..50u64 {
                        let durability = if i % 2 == 0 {
                            Durability::Synced
                        } else {
                            Durability::Committed
                        };
                        recorder
                            .append(intent(t * 100 + i), durability)
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let report = recorder.log().verify().unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.records, 400);
    }
}
