//! A bound on the requests one agent connection has in flight (the control socket, which every
//! `cordon mcp` bridge uses).
//!
//! rmcp reads an agent's messages as fast as they come and runs each request in a task of its
//! own, with no limit: an agent that writes calls without reading the answers (or calls a slow
//! tool in a loop) made the engine hold every request and every answer not yet written. Measured:
//! 200 calls of 4 MB through `cordon mcp` took the engine to 1.6 GB. [`Bounded`] counts the
//! requests read and not yet answered; beyond [`MAX_IN_FLIGHT`] a request is answered at once with
//! an error and never reaches the gate (nothing of it is performed or recorded). Only so many of
//! those answers are written at once before reading waits, so an agent that does not read its
//! answers is not read either: its writes wait, and the engine's memory stays bounded.
//!
//! A request whose id is already in flight is refused the same way: JSON-RPC ids must be unique
//! among a client's pending requests, and rmcp would answer only one of the two (and a count keyed
//! by id could be cheated). A request the agent cancels (`notifications/cancelled`) stops counting:
//! rmcp sends no answer for it.
//!
//! The bytes of the requests held count too, against the budget every connection shares
//! ([`crate::budget`]): [`Metered`] counts what rmcp reads, so each request is charged its size.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use rmcp::model::{ClientNotification, ErrorCode, ErrorData, JsonRpcMessage, RequestId};
use rmcp::service::{RoleServer, RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use tokio::io::{AsyncRead, ReadBuf};

use crate::budget::{Claim, RequestBudget};

/// Requests one agent connection may have in flight. Above the 16 calls an agent may have held
/// for approval at once ([`crate::approvals::MAX_HELD_PER_AGENT`]), so held calls never starve
/// the others, and far above what agents run in parallel.
pub const MAX_IN_FLIGHT: usize = 32;

/// The JSON-RPC error code of a request refused for the limit (the implementation-defined
/// server error range).
pub const BUSY_CODE: ErrorCode = ErrorCode(-32000);

/// Refusals being written at once, at most; reading waits beyond.
const REFUSALS_WRITING: usize = 64;

/// An agent transport whose requests in flight are bounded (see the module documentation).
pub struct Bounded<T> {
    inner: T,
    open: Arc<Mutex<Open>>,
    limit: usize,
    refusals: Arc<tokio::sync::Semaphore>,
    /// A refusal was logged as a warning: the rest of this connection's go to debug (a flood
    /// must not flood the log too).
    warned: bool,
    /// The budget shared by every connection, and the bytes read from this one not yet charged
    /// to a request (see [`Metered`]).
    budget: Option<(Arc<RequestBudget>, Arc<AtomicU64>, String)>,
}

/// A reader that counts the bytes read through it, so the transport above can charge each
/// message its size (give or take what rmcp's buffer read ahead of it: a few KiB).
pub struct Metered<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R> Metered<R> {
    /// Counts what is read from `inner` into `read`.
    pub fn new(inner: R, read: Arc<AtomicU64>) -> Metered<R> {
        Metered { inner, read }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Metered<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let added = buf.filled().len().saturating_sub(before);
        self.read
            .fetch_add(u64::try_from(added).unwrap_or(u64::MAX), Ordering::Relaxed);
        polled
    }
}

/// Requests read and not yet answered, and answers not yet written: both take memory.
#[derive(Default)]
struct Open {
    /// Ids of the requests still running. An id leaves when its answer is handed over (not once
    /// written), so a client that reuses an id as soon as it reads the answer never finds it
    /// still here.
    ids: HashMap<RequestId, Option<Claim>>,
    /// Answers being written.
    writing: usize,
}

impl<T> Bounded<T> {
    /// Bounds `inner` to `limit` requests in flight.
    pub fn new(inner: T, limit: usize) -> Bounded<T> {
        Bounded {
            inner,
            open: Arc::default(),
            limit,
            refusals: Arc::new(tokio::sync::Semaphore::new(REFUSALS_WRITING)),
            warned: false,
            budget: None,
        }
    }

    /// Charges each request its size against `budget` (shared by every connection) and against
    /// `agent`'s share of it, as counted by the [`Metered`] reader below `inner` that adds to
    /// `read`.
    pub fn with_budget(
        mut self,
        budget: Arc<RequestBudget>,
        read: Arc<AtomicU64>,
        agent: String,
    ) -> Bounded<T> {
        self.budget = Some((budget, read, agent));
        self
    }

    /// What was read for a message that holds nothing once handled (a notification, an answer)
    /// is charged to nobody.
    fn forget_read(&self) {
        if let Some((_, read, _)) = &self.budget {
            read.store(0, Ordering::Relaxed);
        }
    }
}

fn lock(open: &Mutex<Open>) -> std::sync::MutexGuard<'_, Open> {
    match open.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Why a request may not start now, if it may not; else it is counted in, with `claim` (room in
/// the shared budget) held until it is answered.
fn refusal(
    open: &mut Open,
    id: &RequestId,
    limit: usize,
    claim: Option<Result<Claim, String>>,
) -> Option<String> {
    if open.ids.contains_key(id) {
        return Some(format!(
            "request id {id} is already in flight on this connection: ids must be unique among \
             pending requests"
        ));
    }
    if open.ids.len() + open.writing >= limit {
        return Some(format!(
            "too many requests in flight on this connection ({limit}, the limit): wait for \
             answers before sending more"
        ));
    }
    let claim = match claim {
        Some(Err(why)) => return Some(why),
        Some(Ok(claim)) => Some(claim),
        None => None,
    };
    open.ids.insert(id.clone(), claim);
    None
}

impl<T: Transport<RoleServer>> Transport<RoleServer> for Bounded<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let answered = match &item {
            JsonRpcMessage::Response(response) => Some(&response.id),
            JsonRpcMessage::Error(error) => error.id.as_ref(),
            _ => None,
        };
        // Called by rmcp's loop (the one that reads) before the answer can reach the agent.
        let writing = answered.is_some_and(|id| {
            let mut open = lock(&self.open);
            let was_open = open.ids.remove(id).is_some();
            open.writing += usize::from(was_open);
            was_open
        });
        let open = self.open.clone();
        let sending = self.inner.send(item);
        async move {
            let result = sending.await;
            // Counted until written: an answer the agent does not read still takes memory.
            if writing {
                let mut open = lock(&open);
                open.writing = open.writing.saturating_sub(1);
            }
            result
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        // rmcp polls `receive` in a `select!` and drops it whenever another branch is ready, so
        // nothing may be awaited once a message is read: a refusal is written by a task of its
        // own. Its place is taken before reading (dropping that wait loses nothing), so at most
        // [`REFUSALS_WRITING`] are being written: an agent that does not read is not read.
        loop {
            let place = self.refusals.clone().acquire_owned().await.ok()?;
            let message = self.inner.receive().await?;
            match &message {
                JsonRpcMessage::Request(request) => {
                    let claim = self.budget.as_ref().map(|(budget, read, agent)| {
                        budget.try_claim(agent, read.swap(0, Ordering::Relaxed))
                    });
                    let refused = refusal(&mut lock(&self.open), &request.id, self.limit, claim);
                    if let Some(why) = refused {
                        if self.warned {
                            tracing::debug!(id = %request.id, "agent request refused: {why}");
                        } else {
                            self.warned = true;
                            tracing::warn!(
                                id = %request.id,
                                "agent request refused: {why} (further refusals on this \
                                 connection are logged at debug level)"
                            );
                        }
                        let answer = JsonRpcMessage::error(
                            ErrorData::new(BUSY_CODE, why, None),
                            Some(request.id.clone()),
                        );
                        let writing = self.inner.send(answer);
                        tokio::spawn(async move {
                            let _ = writing.await;
                            drop(place);
                        });
                        continue;
                    }
                }
                JsonRpcMessage::Notification(notification) => {
                    if let ClientNotification::CancelledNotification(cancelled) =
                        &notification.notification
                        && let Some(id) = &cancelled.params.request_id
                    {
                        lock(&self.open).ids.remove(id);
                    }
                    self.forget_read();
                }
                _ => self.forget_read(),
            }
            return Some(message);
        }
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use std::time::Duration;

    use rmcp::model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
        ServerCapabilities, ServerConfig,
    };
    use rmcp::service::RequestContext;
    use rmcp::{ErrorData as McpError, ServerHandler, ServiceExt};
    use serde_json::{Value, json};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::sync::Semaphore;

    use super::*;

    /// A server whose `wait` tool answers only once the test adds a permit; `now` at once.
    #[derive(Clone)]
    struct Slow(Arc<Semaphore>);

    impl ServerHandler for Slow {
        fn get_info(&self) -> ServerConfig {
            ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
                .with_server_info(Implementation::new("slow", "0"))
        }

        async fn call_tool(
            &self,
            request: CallToolRequestParams,
            _context: RequestContext<RoleServer>,
        ) -> Result<CallToolResponse, McpError> {
            if request.name == "wait" {
                self.0.acquire().await.unwrap().forget();
            }
            Ok(CallToolResult::success(vec![ContentBlock::text(request.name.to_string())]).into())
        }
    }

    fn call(id: u64, tool: &str) -> String {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": tool, "arguments": {}}})
        .to_string()
            + "\n"
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_beyond_the_limit_or_reusing_an_id_are_refused_and_a_cancel_frees_one() {
        let (agent, engine) = tokio::io::duplex(1 << 20);
        let (engine_read, engine_write) = tokio::io::split(engine);
        let gate = Arc::new(Semaphore::new(0));
        let transport = Bounded::new(
            rmcp::transport::async_rw::AsyncRwTransport::new_server(engine_read, engine_write),
            3,
        );
        let server = tokio::spawn(async move {
            let running = Slow(gate.clone()).serve(transport).await.unwrap();
            (running, gate)
        });
        let (read, mut write) = tokio::io::split(agent);
        let mut lines = BufReader::new(read).lines();
        let mut next = async || -> Value {
            let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
                .await
                .expect("an answer")
                .unwrap()
                .unwrap();
            serde_json::from_str(&line).unwrap()
        };
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"}}});
        write
            .write_all(format!("{init}\n").as_bytes())
            .await
            .unwrap();
        assert_eq!(next().await["id"], 0);
        let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
        write
            .write_all(format!("{initialized}\n").as_bytes())
            .await
            .unwrap();
        let (_running, gate) = server.await.unwrap();

        for id in 1..=3 {
            write.write_all(call(id, "wait").as_bytes()).await.unwrap();
        }
        // The limit: a fourth is answered at once with an error, and so is a reused id.
        write.write_all(call(4, "now").as_bytes()).await.unwrap();
        let busy = next().await;
        assert_eq!(
            (busy["id"].clone(), busy["error"]["code"].clone()),
            (json!(4), json!(-32000))
        );
        assert!(
            busy["error"]["message"]
                .as_str()
                .unwrap()
                .contains("too many requests"),
            "{busy}"
        );
        write.write_all(call(2, "now").as_bytes()).await.unwrap();
        let reused = next().await;
        assert_eq!(reused["id"], 2);
        assert!(
            reused["error"]["message"]
                .as_str()
                .unwrap()
                .contains("already in flight"),
            "{reused}"
        );

        // A cancelled request stops counting: a new one is served.
        let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                            "params": {"requestId": 1}});
        write
            .write_all(format!("{cancel}\n").as_bytes())
            .await
            .unwrap();
        write.write_all(call(5, "now").as_bytes()).await.unwrap();
        let served = next().await;
        assert_eq!(served["id"], 5);
        assert!(served["result"].is_object(), "{served}");

        // Answers free their places too.
        gate.add_permits(3);
        let mut answered: Vec<_> = Vec::new();
        for _ in 0..2 {
            answered.push(next().await["id"].as_u64().unwrap());
        }
        answered.sort_unstable();
        assert_eq!(answered, [2, 3], "the cancelled call's answer is not sent");
        for id in 6..=8 {
            write.write_all(call(id, "now").as_bytes()).await.unwrap();
            assert!(next().await["result"].is_object());
        }
        // A client that reuses one id as soon as it has read the answer is always served.
        for _ in 0..200 {
            write.write_all(call(42, "now").as_bytes()).await.unwrap();
            let answer = next().await;
            assert!(answer["result"].is_object(), "{answer}");
        }
    }
}
