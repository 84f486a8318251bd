//! Durable evidence writes off the async runtime, with group commit.
//!
//! SQLite appends block and a durable commit costs a sync; one dedicated thread drains every
//! queued record into one transaction (`append_batch`), and each caller learns when *its* record
//! is durable. A call's answer is released only after that, so "record before answer" holds
//! without serialising every call behind its own sync.

use std::sync::Arc;

use cordon_evidence::{EvidenceLog, NewRecord};
use cordon_secrets::Redactor;
use tokio::sync::{mpsc, oneshot};

/// Most records committed in one transaction.
const MAX_BATCH: usize = 256;

type Job = (NewRecord, oneshot::Sender<Result<(), String>>);

/// Handle to the evidence writer thread.
#[derive(Clone)]
pub struct Recorder {
    queue: mpsc::UnboundedSender<Job>,
    log: Arc<EvidenceLog>,
    redactor: Arc<Redactor>,
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
        Recorder {
            queue,
            log,
            redactor: Arc::new(Redactor::empty()),
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

    /// Appends one record durably; Err means it was NOT recorded and the call must be refused.
    pub async fn record(&self, record: NewRecord) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        let record = self.clean(record);
        self.queue
            .send((record, tx))
            .map_err(|_| "the evidence writer is not running".to_owned())?;
        rx.await
            .map_err(|_| "the evidence writer stopped".to_owned())?
    }

    /// Appends without waiting (for records of calls whose agent already went away).
    pub fn record_detached(&self, record: NewRecord) {
        let (tx, _rx) = oneshot::channel();
        let record = self.clean(record);
        if self.queue.send((record, tx)).is_err() {
            tracing::error!("evidence writer not running: a record was lost");
        }
    }

    /// The underlying log (for checkpoints and policy snapshots).
    pub fn log(&self) -> &Arc<EvidenceLog> {
        &self.log
    }
}
