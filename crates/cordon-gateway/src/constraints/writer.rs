//! The counters writer: a thread that stores limit counters behind the calls, so charging a
//! call never waits for the disk.
//!
//! Updates are coalesced (the last state of each counter in a burst is written once); a
//! [`CounterWriter::flush`] waits until everything sent so far is stored. A counter that cannot
//! be stored is logged; the in-memory counter stays authoritative while the engine runs.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use cordon_evidence::RuntimeState;

use super::lock;

enum WriterMsg {
    Save(String, String, String),
    Flush(std::sync::mpsc::Sender<()>),
}

/// The sending side of the writer thread.
pub(super) struct CounterWriter {
    tx: Mutex<std::sync::mpsc::Sender<WriterMsg>>,
}

impl CounterWriter {
    /// Starts the writer thread storing into `state` (None if the thread cannot start: the
    /// counters then stay in memory).
    pub(super) fn start(state: RuntimeState) -> Option<CounterWriter> {
        let log = state;
        let (tx, rx) = std::sync::mpsc::channel::<WriterMsg>();
        let spawned = std::thread::Builder::new()
            .name("cordon-counters".into())
            .spawn(move || counter_writer(&log, &rx));
        match spawned {
            Ok(_) => Some(CounterWriter { tx: Mutex::new(tx) }),
            Err(e) => {
                tracing::error!("cannot start the counters writer ({e}): counters stay in memory");
                None
            }
        }
    }

    /// Queues one counter's new state (JSON) for storing.
    pub(super) fn save(&self, scope: &str, limit: &str, state: String) {
        let _ = lock(&self.tx).send(WriterMsg::Save(scope.to_owned(), limit.to_owned(), state));
    }

    /// Waits (up to `wait`) until every counter update so far is stored.
    pub(super) fn flush(&self, wait: Duration) {
        let (tx, rx) = std::sync::mpsc::channel();
        if lock(&self.tx).send(WriterMsg::Flush(tx)).is_ok() {
            let _ = rx.recv_timeout(wait);
        }
    }
}

fn counter_writer(log: &RuntimeState, rx: &std::sync::mpsc::Receiver<WriterMsg>) {
    while let Ok(first) = rx.recv() {
        let mut pending: BTreeMap<(String, String), String> = BTreeMap::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                WriterMsg::Save(scope, limit, state) => {
                    pending.insert((scope, limit), state);
                }
                WriterMsg::Flush(done) => flushes.push(done),
            }
            next = rx.try_recv().ok();
        }
        for ((scope, limit), state) in pending {
            if let Err(e) = log.save_counter(&scope, &limit, &state) {
                tracing::error!(%scope, %limit, "cannot store counters: {e}");
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}
