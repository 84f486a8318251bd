//! MCP Streamable HTTP at `/mcp`: loopback only, a bearer token per agent, Origin checked.
//!
//! The middleware runs before rmcp sees the request: a foreign `Origin` (DNS rebinding) is 403,
//! a missing or unknown token is 401, a body over 16 MiB is 413. The token maps to the agent
//! name, which travels to the handler as an [`AgentIdentity`] request extension.
//!
//! Sessions (protocol 2025-11-25 and older) are bound to the agent whose token opened them:
//! another token on that session id is answered 404 as if the session did not exist, and records
//! nothing. An unknown, closed or expired session is 404 (clients then re-initialize); `DELETE`
//! answers 204. A session with no request in flight and none for `http.session_idle_timeout` is
//! closed and its approval grants and roots are dropped. One agent keeps at most
//! [`MAX_SESSIONS_PER_AGENT`] sessions (each costs the engine ~140 KiB): a new one beyond that
//! closes the agent's least recently used session with nothing in flight, and is refused with a
//! JSON-RPC error when every one has a request in flight. Without the limit one token opened
//! 20,000 sessions in 18 s and the engine grew to 2.8 GiB. One agent also has at most
//! [`MAX_POSTS_IN_FLIGHT_PER_AGENT`] POSTs in flight (each may hold a 16 MiB body): beyond, 429.
//!
//! The accept loop is Cordon's own (not `axum::serve`): `TCP_NODELAY` on every connection (an
//! SSE answer leaves in several small writes; with Nagle's algorithm and a client's delayed ACK a
//! kept-alive connection paid ~40 ms per call), a connection cap below the open-file limit (the
//! control socket and the evidence log keep their descriptors) at which a newcomer evicts the
//! connection that has waited longest for a request (connecting needs no token: idle connections
//! must not lock the agents out, see [`crate::places`]), a header timeout that is also the idle
//! limit of a kept-alive connection, and accept errors that back off and are logged once.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use rmcp::model::{ClientJsonRpcMessage, GetExtensions, ServerJsonRpcMessage};
use rmcp::transport::WorkerTransport;
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError, LocalSessionWorker,
};
use rmcp::transport::streamable_http_server::session::{
    ServerSseMessage, SessionId, SessionManager,
};
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::config::HttpSpec;
use crate::pipeline::Pipeline;
use crate::places::{Place, Places};
use crate::server::{AgentIdentity, AgentServer};

/// The MCP session header.
const SESSION_HEADER: &str = "mcp-session-id";

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How long an evicted connection may finish a request that arrived as it was evicted.
const EVICTED_GRACE: Duration = Duration::from_secs(1);

/// Agent tokens, checked in constant time.
#[derive(Clone)]
pub struct Auth {
    agents: Arc<Vec<(String, Vec<u8>)>>,
}

impl Auth {
    /// From `agents` (name → token).
    pub fn new(agents: &BTreeMap<String, crate::config::AgentSpec>) -> Auth {
        Auth {
            agents: Arc::new(
                agents
                    .iter()
                    .map(|(name, spec)| (name.clone(), spec.token.as_bytes().to_vec()))
                    .collect(),
            ),
        }
    }

    /// The agent whose token this is. Compares against every token without early exit.
    pub fn agent_for(&self, token: &[u8]) -> Option<String> {
        let mut found = None;
        for (name, expected) in self.agents.iter() {
            if constant_time_eq(token, expected) && !expected.is_empty() {
                found = Some(name.clone());
            }
        }
        found
    }
}

/// Equality whose time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for (i, x) in a.iter().enumerate() {
        let y = b.get(i % b.len().max(1)).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    diff == 0
}

/// Whether an `Origin` header value names this machine (http(s)://localhost|127.0.0.1|[::1]).
pub fn origin_is_local(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = if let Some(v6) = rest.strip_prefix('[') {
        match v6.split_once(']') {
            Some((addr, tail)) => (format!("[{addr}]"), tail),
            None => return false,
        }
    } else {
        match rest.find(':') {
            Some(at) => (
                rest.get(..at).unwrap_or("").to_owned(),
                rest.get(at..).unwrap_or(""),
            ),
            None => (rest.to_owned(), ""),
        }
    };
    let (host, tail) = host;
    let port_ok = tail.is_empty()
        || tail.strip_prefix(':').is_some_and(|p| {
            !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
        });
    port_ok
        && matches!(
            host.to_ascii_lowercase().as_str(),
            "localhost" | "127.0.0.1" | "[::1]"
        )
}

/// The most HTTP sessions one agent keeps open (see the module documentation): generous for many
/// windows and subagents sharing one agent's token, and a bound on what a token can make the
/// engine hold.
pub const MAX_SESSIONS_PER_AGENT: usize = 128;

/// Which agent opened each HTTP session, and when it was last used. Shared by the session
/// manager (which binds and frees sessions) and the middleware (which checks every request).
#[derive(Default)]
struct Bindings {
    sessions: Mutex<HashMap<SessionId, Binding>>,
}

struct Binding {
    agent: String,
    /// The last time a request came in or an answer stream ended.
    last_used: Instant,
    /// Requests whose answer stream is still open (a held call is not idle).
    inflight: Arc<AtomicUsize>,
}

impl Bindings {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Binding>> {
        match self.sessions.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The agent a session belongs to (None: no such session).
    fn agent_of(&self, id: &str) -> Option<String> {
        self.lock().get(id).map(|b| b.agent.clone())
    }

    /// Marks a session used now and returns its in-flight counter.
    fn touch(&self, id: &str) -> Option<Arc<AtomicUsize>> {
        let mut sessions = self.lock();
        let binding = sessions.get_mut(id)?;
        binding.last_used = Instant::now();
        Some(binding.inflight.clone())
    }

    /// Binds session `id` to `agent`, making room first: with `limit` sessions of that agent
    /// open, its least recently used one with nothing in flight is unbound and returned, to be
    /// closed. `Err(open)` when every one of them has a request in flight (nothing is bound).
    fn bind(&self, id: SessionId, agent: String, limit: usize) -> Result<Option<SessionId>, usize> {
        let mut sessions = self.lock();
        let mut open = 0;
        let mut idlest: Option<(&SessionId, Instant)> = None;
        for (sid, binding) in sessions.iter().filter(|(_, b)| b.agent == agent) {
            open += 1;
            if binding.inflight.load(Ordering::Acquire) == 0
                && idlest.is_none_or(|(_, used)| binding.last_used < used)
            {
                idlest = Some((sid, binding.last_used));
            }
        }
        let evicted = if open >= limit {
            let Some((victim, _)) = idlest else {
                return Err(open);
            };
            let victim = victim.clone();
            sessions.remove(&victim);
            Some(victim)
        } else {
            None
        };
        sessions.insert(
            id,
            Binding {
                agent,
                last_used: Instant::now(),
                inflight: Arc::new(AtomicUsize::new(0)),
            },
        );
        Ok(evicted)
    }

    /// Sessions idle (nothing in flight) for longer than `idle`.
    fn expired(&self, idle: Duration) -> Vec<SessionId> {
        let now = Instant::now();
        self.lock()
            .iter()
            .filter(|(_, b)| {
                b.inflight.load(Ordering::Acquire) == 0
                    && now.saturating_duration_since(b.last_used) > idle
            })
            .map(|(id, _)| id.clone())
            .collect()
    }
}

/// The session manager behind `/mcp`: rmcp's in-memory sessions, bound to agents, expired when
/// idle, and cleaned up in the pipeline (session approval grants, client roots) when they end.
pub struct Sessions {
    inner: LocalSessionManager,
    bindings: Arc<Bindings>,
    pipeline: Arc<Pipeline>,
    /// Agents whose session limit was logged as a warning (later evictions go to debug).
    limited: Mutex<std::collections::HashSet<String>>,
}

impl Sessions {
    fn new(pipeline: Arc<Pipeline>, bindings: Arc<Bindings>) -> Sessions {
        let mut inner = LocalSessionManager::default();
        // Idle expiry is ours (it knows a held call is not idle); rmcp's would cut one.
        inner.session_config.keep_alive = None;
        Sessions {
            inner,
            bindings,
            pipeline,
            limited: Mutex::default(),
        }
    }

    /// How many sessions are open (tests: an expired session's resources are gone).
    pub async fn open(&self) -> usize {
        self.inner.sessions.read().await.len()
    }

    /// Closes every session idle for longer than `idle`.
    async fn expire(&self, idle: Duration) {
        for id in self.bindings.expired(idle) {
            tracing::info!(session = %id, "HTTP session expired after {idle:?} idle");
            if let Err(error) = self.close_session(&id).await {
                tracing::debug!(session = %id, "closing an expired session: {error}");
            }
        }
    }

    /// Closes rmcp's session `id` and, if it was bound to an agent (`bound`), drops what the
    /// pipeline keeps for it (session approval grants, client roots).
    async fn end(&self, id: &SessionId, bound: bool) -> Result<(), LocalSessionManagerError> {
        let closed = self.inner.close_session(id).await;
        if bound {
            self.pipeline.broker().end_session(id);
            self.pipeline.constraints().end_session(id);
        }
        closed
    }

    fn tracked<S>(&self, id: &SessionId, stream: S) -> Tracked<S> {
        let inflight = self.bindings.touch(id);
        if let Some(counter) = &inflight {
            counter.fetch_add(1, Ordering::AcqRel);
        }
        Tracked {
            inner: stream,
            inflight,
            bindings: self.bindings.clone(),
            id: id.clone(),
        }
    }
}

/// An answer stream that counts as activity of its session until it ends.
struct Tracked<S> {
    inner: S,
    inflight: Option<Arc<AtomicUsize>>,
    bindings: Arc<Bindings>,
    id: SessionId,
}

impl<S: Stream + Unpin> Stream for Tracked<S> {
    type Item = S::Item;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

impl<S> Drop for Tracked<S> {
    fn drop(&mut self) {
        if let Some(counter) = self.inflight.take() {
            counter.fetch_sub(1, Ordering::AcqRel);
            self.bindings.touch(&self.id);
        }
    }
}

fn agent_of_message(message: &ClientJsonRpcMessage) -> Option<String> {
    let ClientJsonRpcMessage::Request(request) = message else {
        return None;
    };
    request
        .request
        .extensions()
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<AgentIdentity>())
        .map(|agent| agent.0.clone())
}

impl SessionManager for Sessions {
    type Error = LocalSessionManagerError;
    type Transport = WorkerTransport<LocalSessionWorker>;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        self.inner.create_session().await
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        // Bound before the answer (and so the id) reaches the client.
        let Some(agent) = agent_of_message(&message) else {
            let _ = self.inner.close_session(id).await;
            return Err(LocalSessionManagerError::SessionNotFound(id.clone()));
        };
        match self
            .bindings
            .bind(id.clone(), agent.clone(), MAX_SESSIONS_PER_AGENT)
        {
            Ok(None) => {}
            Ok(Some(evicted)) => {
                let first = match self.limited.lock() {
                    Ok(mut limited) => limited.insert(agent.clone()),
                    Err(poisoned) => poisoned.into_inner().insert(agent.clone()),
                };
                if first {
                    tracing::warn!(
                        session = %evicted,
                        "HTTP session closed: agent {agent} opened a new one beyond \
                         {MAX_SESSIONS_PER_AGENT}, and this was its least recently used (later \
                         ones are logged at debug level)"
                    );
                } else {
                    tracing::debug!(
                        session = %evicted,
                        "HTTP session closed: agent {agent} opened a new one beyond \
                         {MAX_SESSIONS_PER_AGENT}, and this was its least recently used"
                    );
                }
                let _ = self.end(&evicted, true).await;
            }
            Err(open) => {
                let _ = self.inner.close_session(id).await;
                tracing::warn!(
                    "HTTP session refused: agent {agent} has {open} open, each with a request \
                     in flight"
                );
                let request_id = match &message {
                    ClientJsonRpcMessage::Request(request) => Some(request.id.clone()),
                    _ => None,
                };
                return Ok(ServerJsonRpcMessage::error(
                    rmcp::model::ErrorData::invalid_request(
                        format!(
                            "too many open sessions: agent {agent} has {open} (the limit), each \
                             with a request in flight; close one (HTTP DELETE) or wait for one \
                             to finish"
                        ),
                        None,
                    ),
                    request_id,
                ));
            }
        }
        self.inner.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.inner.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        let known = self.bindings.lock().remove(id).is_some();
        self.end(id, known).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let stream = self.inner.create_stream(id, message).await?;
        Ok(self.tracked(id, Box::pin(stream)))
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.bindings.touch(id);
        self.inner.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        // The standing GET stream is not activity: a session that only listens still expires.
        self.bindings.touch(id);
        self.inner.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.bindings.touch(id);
        self.inner.resume(id, last_event_id).await
    }
}

/// What the middleware needs: tokens, session bindings, each agent's requests in flight, and
/// the bytes of requests held.
#[derive(Clone)]
struct Guard {
    auth: Auth,
    bindings: Arc<Bindings>,
    posts: Arc<PostsInFlight>,
    swaps: Arc<SwapsInFlight>,
    /// The bytes of requests every transport holds (see [`crate::budget`]).
    budget: Arc<crate::budget::RequestBudget>,
}

/// The requests in flight on a session whose id travels as a token (session, the agent's id
/// text → the token), so a `notifications/cancelled` naming the agent's id reaches the request.
#[derive(Default)]
struct SwapsInFlight(Mutex<HashMap<(String, String), String>>);

impl SwapsInFlight {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), String>> {
        match self.0.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Notes a swapped request until the returned entry (held with its answer) is dropped.
    fn enter(self: &Arc<Self>, session: &str, raw: &str, token: &str) -> SwapEntry {
        let key = (session.to_owned(), raw.to_owned());
        self.lock().insert(key.clone(), token.to_owned());
        SwapEntry {
            swaps: self.clone(),
            key,
            token: token.to_owned(),
        }
    }

    fn token_for(&self, session: &str, raw: &str) -> Option<String> {
        self.lock()
            .get(&(session.to_owned(), raw.to_owned()))
            .cloned()
    }
}

/// A swapped request in flight; forgotten when its answer is done (unless a later request on
/// the session reused the id: the entry is then that one's).
struct SwapEntry {
    swaps: Arc<SwapsInFlight>,
    key: (String, String),
    token: String,
}

impl Drop for SwapEntry {
    fn drop(&mut self) {
        let mut swaps = self.swaps.lock();
        if swaps.get(&self.key) == Some(&self.token) {
            swaps.remove(&self.key);
        }
    }
}

/// The most POSTs one agent has in flight over HTTP (a request counts until its answer, a stream
/// for a held call included, has been sent or dropped). Each may carry a 16 MiB body the engine
/// holds while it runs; beyond, a POST is answered 429 before its body is read.
pub const MAX_POSTS_IN_FLIGHT_PER_AGENT: usize = 64;

/// POSTs in flight, per agent, and whether a refusal was logged as a warning since the agent last
/// had none in flight (the rest of a flood goes to debug).
#[derive(Default)]
struct PostsInFlight(Mutex<HashMap<String, (usize, bool)>>);

/// One POST in flight; its agent's count goes down when it is dropped (with the answer's body).
struct PostSlot {
    posts: Arc<PostsInFlight>,
    agent: String,
}

impl PostsInFlight {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (usize, bool)>> {
        match self.0.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// A slot for one more POST of `agent`, unless it has `limit` in flight; then whether this
    /// is the first refusal of the burst (to be logged as a warning).
    fn enter(self: &Arc<Self>, agent: &str, limit: usize) -> Result<PostSlot, bool> {
        let mut counts = self.lock();
        let (count, warned) = counts.entry(agent.to_owned()).or_default();
        if *count >= limit {
            return Err(!std::mem::replace(warned, true));
        }
        *count += 1;
        Ok(PostSlot {
            posts: self.clone(),
            agent: agent.to_owned(),
        })
    }
}

impl Drop for PostSlot {
    fn drop(&mut self) {
        let mut counts = self.posts.lock();
        if let Some((count, _)) = counts.get_mut(&self.agent) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.agent);
            }
        }
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found: Session not found\n").into_response()
}

/// `bytes` with every occurrence of `from` replaced by `to`.
pub fn replace_bytes(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while !from.is_empty() {
        let Some(at) = rest.windows(from.len()).position(|w| w == from) else {
            break;
        };
        out.extend_from_slice(rest.get(..at).unwrap_or_default());
        out.extend_from_slice(to);
        rest = rest.get(at + from.len()..).unwrap_or_default();
    }
    out.extend_from_slice(rest);
    out
}

async fn guard(State(guard): State<Guard>, mut request: Request, next: Next) -> Response {
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let local = origin.to_str().map(origin_is_local).unwrap_or(false);
        if !local {
            return (StatusCode::FORBIDDEN, "Cordon: foreign Origin refused\n").into_response();
        }
    }
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(agent) = token.and_then(|t| guard.auth.agent_for(t.as_bytes())) else {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "Cordon: missing or wrong bearer token\n",
        )
            .into_response();
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return (StatusCode::PAYLOAD_TOO_LARGE, "Cordon: body over 16 MiB\n").into_response();
    }
    // A session belongs to the agent that opened it: to any other token it does not exist.
    let session = request
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(session) = &session
        && guard.bindings.agent_of(session).as_deref() != Some(agent.as_str())
    {
        if guard.bindings.agent_of(session).is_some() {
            tracing::warn!(%agent, %session, "refused a request on another agent's HTTP session");
        }
        // Read the (authenticated, bounded) body so the connection stays usable for the client's
        // next request, typically its new initialize.
        let _ = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES).await;
        return not_found();
    }
    let method = request.method().clone();
    let mut restore = None;
    let mut slot = None;
    let mut swapped_entry = None;
    let mut claim = None;
    if method == Method::POST {
        let entered = guard.posts.enter(&agent, MAX_POSTS_IN_FLIGHT_PER_AGENT);
        if let Err(first) = entered {
            if first {
                tracing::warn!(
                    %agent,
                    "HTTP requests refused: {MAX_POSTS_IN_FLIGHT_PER_AGENT} in flight (the \
                     rest of this burst is logged at debug level)"
                );
            } else {
                tracing::debug!(%agent, "HTTP request refused: {MAX_POSTS_IN_FLIGHT_PER_AGENT} in flight");
            }
            // Closed rather than drained: the body (up to 16 MiB) is never read.
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "1"), (header::CONNECTION, "close")],
                format!(
                    "Cordon: agent {agent} has {MAX_POSTS_IN_FLIGHT_PER_AGENT} requests in \
                     flight (the limit): wait for answers before sending more\n"
                ),
            )
                .into_response();
        }
        slot = entered.ok();
        let (parts, body) = request.into_parts();
        let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
            Ok(bytes) => bytes,
            Err(_) => {
                return (StatusCode::PAYLOAD_TOO_LARGE, "Cordon: body over 16 MiB\n")
                    .into_response();
            }
        };
        // Charged to the budget every transport shares until the answer is written.
        match guard
            .budget
            .try_claim(&agent, u64::try_from(bytes.len()).unwrap_or(u64::MAX))
        {
            Ok(taken) => claim = Some(taken),
            Err(why) => {
                tracing::warn!(%agent, "HTTP request refused: {why}");
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, "1")],
                    format!("Cordon: {why}\n"),
                )
                    .into_response();
            }
        }
        let bytes = match crate::ids::swap_request_id(&bytes) {
            Some(swapped) => {
                swapped_entry = session
                    .as_deref()
                    .map(|s| guard.swaps.enter(s, &swapped.raw, &swapped.token));
                restore = Some((swapped.token, swapped.raw));
                Bytes::from(swapped.message)
            }
            // A cancellation names the request by the agent's id; rmcp knows a swapped one
            // only by its token (kept per session: without one, nothing is in flight to name).
            None => match crate::ids::swap_cancelled_id(&bytes, |raw| {
                session
                    .as_deref()
                    .and_then(|s| guard.swaps.token_for(s, raw))
            }) {
                crate::ids::Cancellation::Rewritten(rewritten) => Bytes::from(rewritten),
                crate::ids::Cancellation::AsIs => bytes,
                // Nothing to cancel: accepted, as any notification (rmcp would answer 415).
                crate::ids::Cancellation::Stale => return StatusCode::ACCEPTED.into_response(),
            },
        };
        request = Request::from_parts(parts, Body::from(bytes));
    }
    request.extensions_mut().insert(AgentIdentity(agent));
    let mut response = next.run(request).await;
    if method == Method::DELETE && response.status() == StatusCode::ACCEPTED {
        // The session is gone: clients expect 200 or 204 here (202 made the SDKs warn).
        *response.status_mut() = StatusCode::NO_CONTENT;
        *response.body_mut() = Body::empty();
        response.headers_mut().remove(header::CONTENT_LENGTH);
    }
    if restore.is_some() || slot.is_some() {
        if restore.is_some() {
            response.headers_mut().remove(header::CONTENT_LENGTH);
        }
        let (parts, body) = response.into_parts();
        let restore = restore.map(|(token, raw)| (Bytes::from(token), Bytes::from(raw)));
        // One pass over the answer's body: the id put back as sent, and the POST's slot held
        // until the body (an SSE stream while a call is held) is done.
        let stream = futures::StreamExt::map(body.into_data_stream(), move |chunk| {
            let _in_flight = (&slot, &swapped_entry, &claim);
            match &restore {
                Some((token, raw)) => {
                    chunk.map(|data| Bytes::from(replace_bytes(&data, token, raw)))
                }
                None => chunk,
            }
        });
        response = Response::from_parts(parts, Body::from_stream(stream));
    }
    response
}

/// The `/mcp` router for `pipeline`, authenticating with `auth`, and its session manager.
pub fn router(
    pipeline: Arc<Pipeline>,
    auth: Auth,
    listen: SocketAddr,
    spec: &HttpSpec,
    cancel: CancellationToken,
) -> (Router, Arc<Sessions>) {
    let mut config = StreamableHttpServerConfig::default();
    config.cancellation_token = cancel.clone();
    config.max_request_body_bytes = MAX_BODY_BYTES;
    // 2026-07-28 (stateless) answers go out as one JSON body when they are a single message.
    config.json_response = true;
    let ip = listen.ip().to_string();
    if !config.allowed_hosts.contains(&ip) {
        config.allowed_hosts.push(ip);
    }
    let bindings = Arc::new(Bindings::default());
    let sessions = Arc::new(Sessions::new(pipeline.clone(), bindings.clone()));
    let idle = spec.session_idle_timeout;
    tokio::spawn({
        let sessions = sessions.clone();
        async move {
            let every = (idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(30));
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tick.tick() => sessions.expire(idle).await,
                }
            }
        }
    });
    let budget = pipeline.request_budget().clone();
    let service = StreamableHttpService::new(
        move || Ok(AgentServer::new(pipeline.clone(), None)),
        sessions.clone(),
        config,
    );
    let router = Router::new()
        .nest_service("/mcp", service)
        .layer(middleware::from_fn_with_state(
            Guard {
                auth,
                bindings,
                posts: Arc::default(),
                swaps: Arc::default(),
                budget,
            },
            guard,
        ));
    (router, sessions)
}

/// Raises this process's soft open-file limit to its hard limit where the OS allows it (every
/// HTTP connection, upstream pipe and the evidence log need a descriptor); returns the soft
/// limit in force afterwards (None where it cannot be read).
#[cfg(unix)]
pub fn raise_open_file_limit() -> Option<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft < hard {
        // macOS refuses more than OPEN_MAX (10240) even when the hard limit is "unlimited".
        for target in [hard, hard.min(10_240)] {
            if setrlimit(Resource::RLIMIT_NOFILE, target, hard).is_ok() {
                tracing::debug!(from = soft, to = target, "raised the open-file limit");
                return Some(target);
            }
        }
        tracing::warn!(soft, hard, "could not raise the open-file limit");
    }
    Some(soft)
}

/// Windows has no per-process descriptor limit to raise.
#[cfg(not(unix))]
pub fn raise_open_file_limit() -> Option<u64> {
    None
}

/// The connection cap for an open-file limit: the configured cap, but always leaving a quarter
/// of the descriptors (at least 64) to the control socket, upstreams and the evidence log.
pub fn connection_cap(configured: usize, open_files: Option<u64>) -> usize {
    match open_files {
        None => configured,
        Some(limit) => {
            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
            let reserve = (limit / 4).max(64);
            configured.min(limit.saturating_sub(reserve)).max(1)
        }
    }
}

/// Accept errors that concern one connection only (the peer left before we took it).
fn is_connection_error(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// What the accept loop reports once per spell: a condition that keeps recurring (accept
/// failing, a newcomer refused or evicting a connection, while a flood goes on) is one spell
/// until it has not recurred for [`Spell::QUIET`], however its events interleave with others.
#[derive(Default)]
struct Spell {
    count: u64,
    last: Option<Instant>,
}

impl Spell {
    /// How long a spell must be quiet to be over.
    const QUIET: Duration = Duration::from_secs(10);

    /// Counts one event; true for the first of a spell (the one to log).
    fn hit(&mut self, now: Instant) -> bool {
        let first = self
            .last
            .is_none_or(|last| now.duration_since(last) > Self::QUIET);
        if first {
            self.count = 0;
        }
        self.count += 1;
        self.last = Some(now);
        first
    }

    /// The number of events of a spell that is now over (once).
    fn ended(&mut self, now: Instant) -> Option<u64> {
        let last = self.last?;
        if now.duration_since(last) <= Self::QUIET {
            return None;
        }
        self.last = None;
        Some(std::mem::take(&mut self.count))
    }
}

/// Binds `listen` and serves until `cancel`.
pub async fn serve(
    pipeline: Arc<Pipeline>,
    auth: Auth,
    listen: SocketAddr,
    spec: HttpSpec,
    cancel: CancellationToken,
) -> Result<(tokio::task::JoinHandle<()>, SocketAddr), crate::GatewayError> {
    let listener = bind(listen).await?;
    serve_on(listener, pipeline, auth, spec, cancel).await
}

/// Binds the HTTP port (the standby holds it before the engine can serve on it).
pub async fn bind(listen: SocketAddr) -> Result<tokio::net::TcpListener, crate::GatewayError> {
    tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| crate::GatewayError::io(format!("cannot listen on {listen}"), e))
}

/// [`serve`] on a port already bound.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    pipeline: Arc<Pipeline>,
    auth: Auth,
    spec: HttpSpec,
    cancel: CancellationToken,
) -> Result<(tokio::task::JoinHandle<()>, SocketAddr), crate::GatewayError> {
    let bound = listener
        .local_addr()
        .map_err(|e| crate::GatewayError::io("listener address", e))?;
    let (app, _sessions) = router(pipeline, auth, bound, &spec, cancel.clone());
    let cap = connection_cap(spec.max_connections, raise_open_file_limit());
    tracing::debug!(cap, header_timeout = ?spec.header_timeout, "HTTP limits");
    let handle = tokio::spawn(accept_loop(listener, app, cap, spec.header_timeout, cancel));
    Ok((handle, bound))
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: Router,
    cap: usize,
    header_timeout: Duration,
    cancel: CancellationToken,
) {
    let places = Places::new(cap);
    let mut failures = Spell::default();
    let mut refused = Spell::default();
    let mut evicting = Spell::default();
    let mut backoff = Duration::from_millis(5);
    let connections = tokio_util::task::TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) if is_connection_error(&error) => continue,
            Err(error) => {
                // Out of descriptors, typically: wait for some to free up instead of spinning.
                if failures.hit(Instant::now()) {
                    tracing::warn!(
                        "HTTP accept failed: {error}; retrying with back-off (further failures are counted, not logged)"
                    );
                }
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let now = Instant::now();
        if let Some(failed) = failures.ended(now) {
            tracing::info!(failed, "HTTP accept works again");
        }
        backoff = Duration::from_millis(5);
        // At the cap a newcomer evicts the connection that has waited longest for a request
        // (see `places`): idle connections, which need no token, cannot lock the agents out.
        let Some(place) = places.take() else {
            // Every connection is busy with a request: refused at once, saying why, rather than
            // left hanging in the backlog. One non-blocking write (a fresh socket's buffer takes
            // it whole), so a flood costs no task and no wait.
            if refused.hit(now) {
                tracing::warn!(
                    cap,
                    "HTTP connection limit reached with every connection busy: new connections \
                     are refused until one ends or waits"
                );
            }
            let _ = stream.try_write(busy_refusal(cap).as_bytes());
            drop(stream);
            continue;
        };
        if let Some(dropped) = refused.ended(now) {
            tracing::info!(dropped, "HTTP connections accepted again");
        }
        if place.evicted_another() {
            if evicting.hit(now) {
                tracing::warn!(
                    cap,
                    "HTTP connection limit reached: the connections waiting longest for a request \
                     are closed for newcomers (further ones are counted, not logged)"
                );
            }
        } else if let Some(evicted) = evicting.ended(now) {
            tracing::info!(evicted, "HTTP connections fit again");
        }
        // Every answer leaves as soon as it is written (see the module docs).
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY: {error}");
        }
        let app = app.clone();
        let cancel = cancel.clone();
        connections.spawn(async move {
            let place = Arc::new(place);
            let service = watched(app, place.clone());
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(true);
            let connection =
                builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::trace!("HTTP connection ended: {error}");
                    }
                }
                _ = place.evicted() => {
                    // Evicted while waiting for a request: nothing is in flight, so this closes
                    // at once (a request that raced in gets a moment to be answered).
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(EVICTED_GRACE, connection).await;
                }
                _ = cancel.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), connection).await;
                }
            }
        });
    }
    connections.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), connections.wait()).await;
}

/// What a connection refused because every other one is busy reads before it is closed.
fn busy_refusal(cap: usize) -> String {
    let body = format!(
        "Cordon: all {cap} HTTP connections are busy with requests (`http.max_connections`): \
         retry shortly\n"
    );
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// The router as one connection's service, telling the connection's place when it is busy with a
/// request (from its headers until its answer's body has been written or dropped) and when it
/// waits for the next; a connection that got a successful answer counts as served (see
/// [`Place::served`]), one refused for its token does not.
fn watched(
    app: Router,
    place: Arc<Place>,
) -> impl hyper::service::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<Response, std::convert::Infallible>> + Send,
> + Clone {
    let inner = hyper_util::service::TowerToHyperService::new(app);
    let inner = Arc::new(inner);
    hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        place.busy();
        let answer = hyper::service::Service::call(&*inner, request);
        let place = place.clone();
        async move {
            let response = answer.await?;
            if response.status().is_success() {
                place.served();
            }
            Ok(response.map(|body| Body::new(Watched { inner: body, place })))
        }
    })
}

/// An answer's body that marks its connection as waiting again once the body is gone.
struct Watched {
    inner: Body,
    place: Arc<Place>,
}

impl hyper::body::Body for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.place.waiting();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_connection_reads_a_whole_http_answer_saying_why() {
        let answer = busy_refusal(32);
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{head}"
        );
        assert!(
            body.contains("all 32 HTTP connections are busy")
                && body.contains("http.max_connections")
        );
    }

    #[test]
    fn a_spell_is_logged_once_however_its_events_interleave() {
        let mut spell = Spell::default();
        let start = Instant::now();
        assert!(spell.hit(start));
        assert_eq!(spell.ended(start + Duration::from_secs(1)), None);
        assert!(!spell.hit(start + Duration::from_secs(2)));
        assert!(!spell.hit(start + Duration::from_secs(11)));
        assert_eq!(spell.ended(start + Duration::from_secs(12)), None);
        assert_eq!(spell.ended(start + Duration::from_secs(22)), Some(3));
        assert_eq!(
            spell.ended(start + Duration::from_secs(40)),
            None,
            "reported once"
        );
        assert!(spell.hit(start + Duration::from_secs(41)), "a new spell");
        assert!(
            spell.hit(start + Duration::from_secs(60)),
            "quiet long enough: another"
        );
    }

    fn sid(n: usize) -> SessionId {
        SessionId::from(format!("s{n}"))
    }

    #[test]
    fn posts_in_flight_are_counted_per_agent_until_their_slot_is_dropped() {
        let posts = Arc::new(PostsInFlight::default());
        let held: Vec<_> = (0..2).map(|_| posts.enter("a", 2).unwrap()).collect();
        assert_eq!(
            posts.enter("a", 2).err(),
            Some(true),
            "a third is refused, logged loud"
        );
        assert_eq!(
            posts.enter("a", 2).err(),
            Some(false),
            "the rest of the burst quietly"
        );
        let other = posts
            .enter("b", 2)
            .expect("another agent has its own count");
        drop(held);
        // Once the burst is over, the next refusal is logged loud again.
        let again: Vec<_> = (0..2).map(|_| posts.enter("a", 2).unwrap()).collect();
        assert_eq!(posts.enter("a", 2).err(), Some(true));
        drop((again, other));
        assert!(posts.lock().is_empty(), "no count is left behind");
    }

    #[test]
    fn an_agent_at_its_session_limit_loses_its_idlest_session_never_a_busy_or_anothers() {
        let bindings = Bindings::default();
        // Another agent's session, the oldest of all: never a victim of this agent's new ones.
        assert_eq!(bindings.bind(sid(0), "other".into(), 3), Ok(None));
        for n in 1..=3 {
            std::thread::sleep(Duration::from_millis(2));
            assert_eq!(bindings.bind(sid(n), "a".into(), 3), Ok(None));
        }
        // s1 is the idlest of "a" but has a request in flight; s2 is next.
        let busy = bindings.touch("s1").unwrap();
        busy.fetch_add(1, Ordering::AcqRel);
        std::thread::sleep(Duration::from_millis(2));
        bindings.touch("s3");
        assert_eq!(bindings.bind(sid(4), "a".into(), 3), Ok(Some(sid(2))));
        assert_eq!(
            bindings.agent_of("s2"),
            None,
            "the evicted session is unbound"
        );
        assert_eq!(bindings.bind(sid(5), "a".into(), 3), Ok(Some(sid(3))));
        // Every session of "a" busy: the new one is refused and nothing is bound.
        for n in [4, 5] {
            bindings
                .touch(&format!("s{n}"))
                .unwrap()
                .fetch_add(1, Ordering::AcqRel);
        }
        assert_eq!(bindings.bind(sid(6), "a".into(), 3), Err(3));
        assert_eq!(bindings.agent_of("s6"), None);
        assert_eq!(bindings.agent_of("s0").as_deref(), Some("other"));
        // Below its limit another agent is unaffected.
        assert_eq!(bindings.bind(sid(7), "other".into(), 3), Ok(None));
    }

    #[test]
    fn origins() {
        for ok in [
            "http://localhost",
            "http://localhost:3000",
            "https://127.0.0.1:7766",
            "http://[::1]:80",
            "http://LOCALHOST:1",
        ] {
            assert!(origin_is_local(ok), "{ok}");
        }
        for bad in [
            "null",
            "http://evil.com",
            "http://localhost.evil.com",
            "http://127.0.0.1.evil.com",
            "http://localhost:80@evil.com",
            "http://localhost:abc",
            "ftp://localhost",
            "http://[::1",
            "http://evil.com#localhost",
            "",
        ] {
            assert!(!origin_is_local(bad), "{bad}");
        }
    }

    #[test]
    fn replace_bytes_replaces_every_occurrence_and_nothing_else() {
        assert_eq!(replace_bytes(b"a-tok-b-tok", b"tok", b"X"), b"a-X-b-X");
        assert_eq!(replace_bytes(b"no match", b"tok", b"X"), b"no match");
        assert_eq!(replace_bytes(b"", b"tok", b"X"), b"");
        assert_eq!(replace_bytes(b"abc", b"", b"X"), b"abc");
    }

    #[test]
    fn the_connection_cap_leaves_descriptors_to_the_rest_of_the_engine() {
        assert_eq!(connection_cap(1024, None), 1024);
        assert_eq!(connection_cap(1024, Some(20_000)), 1024);
        assert_eq!(connection_cap(1024, Some(1024)), 768);
        assert_eq!(connection_cap(1024, Some(256)), 192);
        assert_eq!(connection_cap(1024, Some(10)), 1);
        assert_eq!(connection_cap(5, Some(u64::MAX)), 5);
    }

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"abcdef", b"abcdef"));
        assert!(!constant_time_eq(b"abcdef", b"abcdeg"));
        assert!(!constant_time_eq(b"abc", b"abcdef"));
        assert!(!constant_time_eq(b"abcdef", b"abc"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(!constant_time_eq(b"a", b""));
    }
}
