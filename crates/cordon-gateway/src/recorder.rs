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
//! to serve. A batch holding an intent (or a refusal) is fsynced before anyone is told;
//! a batch of outcomes only is committed to the write-ahead log (it survives the engine being
//! killed) and fsynced by the next synced batch, or by the writer after [`SYNC_AFTER`] idle.
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

use cordon_evidence::{Durability, EvidenceLog, NewRecord, format_timestamp};
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
fn writer(
    log: Arc<EvidenceLog>,
    rx: mpsc::Receiver<Msg>,
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
                left.committed(durability);
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
    if left.unsynced.load(Ordering::Acquire) {
        let _ = log.sync();
    }
}

impl Recorder {
    /// Starts the writer thread for `log`.
    pub fn start(log: Arc<EvidenceLog>) -> Recorder {
        let (queue, rx) = mpsc::channel::<Msg>();
        let leftovers = Arc::new(Leftovers::new());
        let health = Arc::new(Mutex::new(EvidenceHealth {
            ok: true,
            ..EvidenceHealth::default()
        }));
        let spawned = std::thread::Builder::new()
            .name("cordon-evidence".into())
            .spawn({
                let (log, health, left) = (log.clone(), health.clone(), leftovers.clone());
                move || writer(log, rx, health, left)
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
            && let Some(id) = self.append_here(&record, durability)
        {
            return Ok(id);
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
    /// it did not append (the writer thread then tries, and reports a fault it finds).
    fn append_here(&self, record: &NewRecord, durability: Durability) -> Option<String> {
        let spare_worker = tokio::runtime::Handle::try_current().is_ok_and(|h| {
            h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
                && h.metrics().num_workers() >= 2
        });
        if !spare_worker || !self.health().ok {
            return None;
        }
        match self
            .log
            .try_append_batch_now(vec![record.clone()], durability)?
        {
            Ok(mut written) => {
                if self.leftovers.committed(durability) {
                    // The writer may be asleep with nothing to do: it has now.
                    let _ = self.queue.send(Msg::Wake);
                }
                written.pop().map(|r| r.id)
            }
            Err(error) => {
                tracing::debug!("evidence append on the caller's thread failed, queued: {error}");
                None
            }
        }
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

    fn recorder(dir: &std::path::Path) -> (Recorder, std::path::PathBuf) {
        let path = dir.join("e.db");
        let log = EvidenceLog::open(&path, KeyStore::File(dir.join("k"))).unwrap();
        (Recorder::start(Arc::new(log)), path)
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
