//! The agent connection's writes, in order, started the moment rmcp hands a message over.
//!
//! rmcp's serve loop does not write an answer itself: it spawns a task that serializes and
//! writes it, so every answer waits for the runtime to schedule that task (on a 2-core machine
//! busy with the agent, the bridge and the upstream: 27 µs at the median, measured between the
//! hand-over and the write). [`Eager`] serializes the message and writes it to the socket at
//! once, in the hand-over itself; only what the socket does not take then is left to one writer
//! task per connection, which alone waits for the socket to drain. Everything written to the
//! connection goes through one [`Outbox`] (rmcp's own writes too, through [`Outbox::writer`]),
//! so messages never interleave or overtake one another.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};

use rmcp::service::{RoleServer, RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use tokio::io::AsyncWrite;
use tokio::sync::{Notify, watch};

/// Where the bytes handed to an [`Outbox`] stand: how many are written, or why writing stopped.
#[derive(Debug, Clone, Default)]
struct Written {
    bytes: u64,
    failed: Option<(io::ErrorKind, String)>,
}

struct State<W> {
    sink: W,
    /// Bytes handed over and not yet written, from `start`.
    queue: Vec<u8>,
    start: usize,
    /// Bytes handed over since the connection opened (the end offset of the last message).
    handed: u64,
    written: Written,
    /// The writer task, while it waits for the sink.
    drain_waker: Option<Waker>,
}

impl<W> State<W> {
    /// Says how far writing got, to every message waiting (under the lock, so what is said never
    /// goes back).
    fn publish(&self, progress: &watch::Sender<Written>) {
        progress.send_replace(self.written.clone());
    }
}

struct Shared<W> {
    state: Mutex<State<W>>,
    progress: watch::Sender<Written>,
    wake_writer: Arc<Notify>,
}

impl<W> Drop for Shared<W> {
    fn drop(&mut self) {
        // Every handle is gone: the writer task ends, whatever it was waiting for.
        self.wake_writer.notify_one();
        if let Some(waker) = lock(&self.state).drain_waker.take() {
            waker.wake();
        }
    }
}

/// One connection's ordered writes (see the module documentation). Cloned handles share it; its
/// writer task ends, and the sink is closed, once every handle is gone.
pub struct Outbox<W> {
    shared: Arc<Shared<W>>,
}

impl<W> Clone for Outbox<W> {
    fn clone(&self) -> Self {
        Outbox {
            shared: self.shared.clone(),
        }
    }
}

fn lock<W>(state: &Mutex<State<W>>) -> MutexGuard<'_, State<W>> {
    match state.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl<W: AsyncWrite + Unpin + Send + 'static> Outbox<W> {
    /// Writes to `sink`; spawns the connection's writer task on the current runtime.
    pub fn new(sink: W) -> Outbox<W> {
        let (progress, _) = watch::channel(Written::default());
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                sink,
                queue: Vec::new(),
                start: 0,
                handed: 0,
                written: Written::default(),
                drain_waker: None,
            }),
            progress,
            wake_writer: Arc::new(Notify::new()),
        });
        tokio::spawn(drain(Arc::downgrade(&shared), shared.wake_writer.clone()));
        Outbox { shared }
    }

    /// Hands `bytes` over: written now as far as the sink takes them, the rest by the writer
    /// task after everything handed over before. Resolves once they are all written.
    pub fn send(&self, bytes: &[u8]) -> impl Future<Output = io::Result<()>> + Send + use<W> {
        let mut progress = self.shared.progress.subscribe();
        let end = {
            let mut state = lock(&self.shared.state);
            state.handed = state.handed.saturating_add(bytes.len() as u64);
            let end = state.handed;
            if state.written.failed.is_none() && state.start == state.queue.len() {
                // Nothing waits before it: try the sink now, without waiting.
                let waker = futures::task::noop_waker();
                let mut cx = Context::from_waker(&waker);
                let taken = write_now(&mut state, &mut cx, bytes);
                if taken < bytes.len() {
                    state
                        .queue
                        .extend_from_slice(bytes.get(taken..).unwrap_or_default());
                }
            } else if state.written.failed.is_none() {
                state.queue.extend_from_slice(bytes);
            }
            // (Once writing failed nothing is kept: every message fails at once.)
            state.publish(&self.shared.progress);
            if state.start < state.queue.len() {
                self.shared.wake_writer.notify_one();
            }
            end
        };
        async move {
            let reached = progress
                .wait_for(|w| w.bytes >= end || w.failed.is_some())
                .await
                .map(|w| w.clone());
            match reached {
                Ok(w) if w.bytes >= end => Ok(()),
                Ok(Written {
                    failed: Some((kind, why)),
                    ..
                }) => Err(io::Error::new(kind, why)),
                _ => Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "the connection's writer stopped",
                )),
            }
        }
    }

    /// An [`AsyncWrite`] into this outbox, for writers that need one (rmcp's transport writes
    /// its own rare error answers): what it writes is handed over like any message.
    pub fn writer(&self) -> OutboxWriter<W> {
        OutboxWriter {
            outbox: self.clone(),
            sending: None,
        }
    }
}

/// Writes what the sink takes of `bytes` now (none once writing failed); returns how many.
fn write_now<W: AsyncWrite + Unpin>(
    state: &mut State<W>,
    cx: &mut Context<'_>,
    bytes: &[u8],
) -> usize {
    let mut taken = 0;
    while taken < bytes.len() && state.written.failed.is_none() {
        match Pin::new(&mut state.sink).poll_write(cx, bytes.get(taken..).unwrap_or_default()) {
            Poll::Ready(Ok(0)) => {
                state.written.failed = Some((
                    io::ErrorKind::WriteZero,
                    "the connection took no bytes".into(),
                ));
            }
            Poll::Ready(Ok(n)) => {
                taken += n;
                state.written.bytes = state.written.bytes.saturating_add(n as u64);
            }
            Poll::Ready(Err(e)) => state.written.failed = Some((e.kind(), e.to_string())),
            Poll::Pending => break,
        }
    }
    taken
}

/// The writer task: writes what the sink did not take at hand-over, in order, waiting for the
/// sink as long as it needs; ends when the outbox is gone or writing failed.
async fn drain<W: AsyncWrite + Unpin + Send + 'static>(shared: Weak<Shared<W>>, wake: Arc<Notify>) {
    loop {
        wake.notified().await;
        let done = std::future::poll_fn(|cx| {
            // Not held between polls: the handles going away closes the sink even while the
            // peer reads nothing (a Drop of the shared state wakes this task to end).
            let Some(shared) = shared.upgrade() else {
                return Poll::Ready(false);
            };
            let mut guard = lock(&shared.state);
            let state = &mut *guard;
            let queued = std::mem::take(&mut state.queue);
            let taken = write_now(state, cx, queued.get(state.start..).unwrap_or_default());
            state.start += taken;
            state.queue = queued;
            if state.start == state.queue.len() {
                state.queue.clear();
                state.start = 0;
            } else if state.start > state.queue.len() / 2 {
                // Keep the queue from growing with what is already written.
                state.queue.drain(..state.start);
                state.start = 0;
            }
            state.publish(&shared.progress);
            let failed = state.written.failed.is_some();
            if failed || state.queue.is_empty() {
                state.drain_waker = None;
                Poll::Ready(!failed)
            } else {
                state.drain_waker = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
        if !done {
            return;
        }
    }
}

/// An [`AsyncWrite`] handing what is written to an [`Outbox`] (see [`Outbox::writer`]).
pub struct OutboxWriter<W> {
    outbox: Outbox<W>,
    /// The last write, until it is written (what `poll_flush` waits for).
    sending: Option<Pin<Box<dyn Future<Output = io::Result<()>> + Send>>>,
}

impl<W: AsyncWrite + Unpin + Send + 'static> AsyncWrite for OutboxWriter<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        // One write in flight at a time, so nothing handed over is left unwaited.
        if let Some(sending) = self.sending.as_mut() {
            match sending.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(result) => {
                    self.sending = None;
                    result?;
                }
            }
        }
        self.sending = Some(Box::pin(self.outbox.send(buf)));
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.sending.as_mut() {
            None => Poll::Ready(Ok(())),
            Some(sending) => {
                let result = std::task::ready!(sending.as_mut().poll(cx));
                self.sending = None;
                Poll::Ready(result)
            }
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

/// An agent transport whose messages are written by [`Outbox::send`] the moment rmcp hands them
/// over; reading is `inner`'s.
pub struct Eager<T, W> {
    inner: T,
    outbox: Outbox<W>,
}

impl<T, W> Eager<T, W> {
    /// Reads through `inner`, writes through `outbox` (the one `inner` writes to as well).
    pub fn new(inner: T, outbox: Outbox<W>) -> Eager<T, W> {
        Eager { inner, outbox }
    }
}

impl<T, W> Transport<RoleServer> for Eager<T, W>
where
    T: Transport<RoleServer, Error = io::Error>,
    W: AsyncWrite + Unpin + Send + 'static,
{
    type Error = io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        // One JSON text and a newline: the framing rmcp's own transport writes.
        let framed = serde_json::to_vec(&item).map(|mut bytes| {
            bytes.push(b'\n');
            bytes
        });
        let sending = framed.map(|bytes| self.outbox.send(&bytes));
        async move {
            match sending {
                Ok(sending) => sending.await,
                Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
        }
    }

    fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleServer>>> + Send {
        self.inner.receive()
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncReadExt;
    use tokio::net::UnixStream;

    use super::*;

    fn message(i: usize, len: usize) -> Vec<u8> {
        let mut bytes = format!("{i:08}:").into_bytes();
        bytes.resize(len, b'a' + (i % 26) as u8);
        bytes.push(b'\n');
        bytes
    }

    #[tokio::test]
    async fn a_message_is_on_the_socket_before_anyone_awaits_it() {
        let (engine, mut agent) = UnixStream::pair().unwrap();
        let (_read, write) = engine.into_split();
        let outbox = Outbox::new(write);
        let sending = outbox.send(b"{\"id\":1}\n");
        // Not polled yet: the bytes were written in the hand-over itself.
        let mut got = [0u8; 9];
        tokio::time::timeout(Duration::from_secs(5), agent.read_exact(&mut got))
            .await
            .expect("written without being awaited")
            .unwrap();
        assert_eq!(&got, b"{\"id\":1}\n");
        sending.await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn messages_the_socket_cannot_take_yet_follow_in_order_once_it_drains() {
        let (engine, mut agent) = UnixStream::pair().unwrap();
        let (_read, write) = engine.into_split();
        let outbox = Outbox::new(write);
        let writer_side = outbox.clone();
        let mut rmcp_writer = outbox.writer();
        // Far more than a socket buffer, while the agent reads nothing: most must wait.
        let sent: Vec<Vec<u8>> = (0..200).map(|i| message(i, 16 * 1024)).collect();
        let mut waiting = Vec::new();
        for (i, bytes) in sent.iter().enumerate() {
            if i % 50 == 7 {
                // rmcp's own writes go through the same outbox, in their turn (handed over
                // when written, waited for when flushed).
                use futures::FutureExt;
                use tokio::io::AsyncWriteExt;
                let mut writer = outbox.writer();
                let handed = writer.write(bytes).now_or_never().unwrap().unwrap();
                assert_eq!(handed, bytes.len());
                waiting.push(tokio::spawn(async move { writer.flush().await }));
            } else {
                waiting.push(tokio::spawn(writer_side.send(bytes)));
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiting.iter().all(|w| w.is_finished()),
            "every message resolved though the agent read nothing"
        );
        let expected: Vec<u8> = sent.concat();
        let mut got = vec![0u8; expected.len()];
        tokio::time::timeout(Duration::from_secs(20), agent.read_exact(&mut got))
            .await
            .expect("everything written once the agent reads")
            .unwrap();
        assert!(got == expected, "messages interleaved or out of order");
        for w in waiting {
            w.await.unwrap().unwrap();
        }
        use tokio::io::AsyncWriteExt;
        rmcp_writer.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn a_closed_connection_fails_what_waits_and_dropping_the_outbox_closes_the_socket() {
        let (engine, agent) = UnixStream::pair().unwrap();
        let (_read, write) = engine.into_split();
        let outbox = Outbox::new(write);
        let big = message(1, 1 << 20);
        let sending = outbox.send(&big);
        drop(agent);
        let failed = tokio::time::timeout(Duration::from_secs(5), sending)
            .await
            .expect("a send to a closed connection ends");
        assert!(failed.is_err());
        // And once every handle is gone, the engine's side of the socket is closed.
        let (engine, mut agent) = UnixStream::pair().unwrap();
        let (_read, write) = engine.into_split();
        let outbox = Outbox::new(write);
        let queued = outbox.send(&message(2, 1 << 20));
        drop(outbox);
        drop(queued);
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), agent.read_to_end(&mut rest))
            .await
            .expect("the socket is closed once the outbox is gone")
            .unwrap();
    }
}
