//! Durable evidence writes off the async runtime, with group commit.
//!
//! SQLite appends block and a durable commit costs a sync; one dedicated thread drains every
//! queued record into one transaction (`append_batch`), and each caller learns when *its* record
//! is durable. A call's answer is released only after that, so "record before answer" holds
//! without serialising every call behind its own sync.

use std::sync::Arc;

use cordon_evidence::{EvidenceLog, NewRecord};
use tokio::sync::{mpsc, oneshot};

/// Most records committed in one transaction.
const MAX_BATCH: usize = 256;

type Job = (NewRecord, oneshot::Sender<Result<(), String>>);

/// Handle to the evidence writer thread.
#[derive(Clone)]
pub struct Recorder {
    queue: mpsc::UnboundedSender<Job>,
    log: Arc<EvidenceLog>,
}

impl Recorder {
    /// Starts the writer thread for `log`.
    pub fn start(log: Arc<EvidenceLog>) -> Recorder {
        let (queue, mut rx) = mpsc::unbounded_channel::<Job>();
        let writer = log.clone();
        let spawned = std::thread::Builder::new()
            .name("cordon-evidence".into())
            .spawn(move || {
                while let Some(first) = rx.blocking_recv() {
                    let mut jobs = vec![first];
                    while jobs.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(job) => jobs.push(job),
                            Err(_) => break,
                        }
                    }
                    let (records, waiters): (Vec<_>, Vec<_>) = jobs.into_iter().unzip();
                    let result = writer
                        .append_batch(records)
                        .map(|_| ())
                        .map_err(|e| e.to_string());
                    if let Err(error) = &result {
                        tracing::error!("evidence append failed: {error}");
                    }
                    for waiter in waiters {
                        let _ = waiter.send(result.clone());
                    }
                }
            });
        if let Err(error) = spawned {
            // Without a writer every record fails, so every call is refused (fail closed).
            tracing::error!("cannot start the evidence writer thread: {error}");
        }
        Recorder { queue, log }
    }

    /// Appends one record durably; Err means it was NOT recorded and the call must be refused.
    pub async fn record(&self, record: NewRecord) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.queue
            .send((record, tx))
            .map_err(|_| "the evidence writer is not running".to_owned())?;
        rx.await
            .map_err(|_| "the evidence writer stopped".to_owned())?
    }

    /// Appends without waiting (for records of calls whose agent already went away).
    pub fn record_detached(&self, record: NewRecord) {
        let (tx, _rx) = oneshot::channel();
        if self.queue.send((record, tx)).is_err() {
            tracing::error!("evidence writer not running: a record was lost");
        }
    }

    /// The underlying log (for checkpoints and policy snapshots).
    pub fn log(&self) -> &Arc<EvidenceLog> {
        &self.log
    }
}
