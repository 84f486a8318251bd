//! Progress routing: an upstream's progress notifications for a forwarded call are relayed
//! (redacted) to the agent that made it, under the agent's own progress token, for as long as
//! the call runs (plus a short grace). A token Cordon did not hand out goes nowhere.
//!
//! Order: progress an upstream sent before its answer reaches the agent before the answer.
//! rmcp handles each incoming notification in a task of its own and writes each outgoing message
//! from a task of its own, so nothing orders them by itself (the agent's SDK then drops progress
//! that comes after the answer). The upstream's transport ([`Counted`]) notes each progress
//! notification as it is read, in the order the upstream wrote it, before the answer is read;
//! the relay notes it once written to the agent; the call's answer waits until every progress
//! read before it is written ([`ProgressRoute::settled`]).
//!
//! Early progress: a call's route is registered once its request is queued, so a fast upstream's
//! first progress can be read before the route exists; it waits (briefly, and only so many at a
//! time: a hostile upstream's stray tokens cost little) for the route instead of being dropped,
//! and is counted as read once it has one (an answer that has not settled yet waits for it).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use cordon_secrets::Redactor;
use rmcp::model::{JsonRpcMessage, ProgressNotificationParam, ProgressToken, ServerNotification};
use rmcp::service::{Peer, RoleClient, RoleServer, RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use tokio::sync::Notify;

use super::Upstreams;

/// Where an upstream's progress notifications go: (server, upstream token) → the agent's peer and
/// its own token. One entry per forwarded call whose agent asked for progress, removed when the
/// call ends (see [`ProgressRoute`]).
pub(super) type ProgressRoutes = Arc<RouteTable>;
pub(super) type RouteMap = HashMap<(String, ProgressToken), Route>;

/// The routes, and the early progress waiting for one.
#[derive(Default)]
pub(super) struct RouteTable {
    map: std::sync::Mutex<RouteMap>,
    /// Woken whenever a route is added.
    added: Notify,
    /// Early progress notifications waiting for their route now.
    waiting: AtomicUsize,
}

/// How long a progress notification whose route does not exist yet waits for it.
const EARLY_PROGRESS_PATIENCE: Duration = Duration::from_millis(250);

/// How many progress notifications may wait for their route at once; more go nowhere.
const EARLY_PROGRESS_WAITING: usize = 64;

/// One routed call: the agent to relay to, under its own token.
pub(super) struct Route {
    agent: Peer<RoleServer>,
    token: ProgressToken,
    generation: u64,
    relays: Arc<Relays>,
}

/// One call's progress notifications: how many the upstream's transport read, how many were
/// written to the agent.
#[derive(Default)]
pub(super) struct Relays {
    read: AtomicU64,
    written: AtomicU64,
    progressed: Notify,
}

/// How long a finished call's progress route outlives it: rmcp handles each incoming
/// notification in a task of its own, so progress the upstream sent just before its answer can
/// be processed just after it.
const PROGRESS_GRACE: Duration = Duration::from_millis(1000);

/// Keeps one progress route alive for the duration of a forwarded call (plus a short grace).
pub struct ProgressRoute {
    routes: ProgressRoutes,
    key: (String, ProgressToken),
    generation: u64,
    relays: Arc<Relays>,
}

impl ProgressRoute {
    /// Waits (at most `patience`: an agent that reads nothing must not hold the answer) until
    /// every progress notification the upstream's transport read so far is written to the
    /// agent; called once the answer is read, so that is all the progress sent before it.
    pub async fn settled(&self, patience: Duration) {
        let relays = &self.relays;
        let caught_up = async {
            loop {
                let progressed = relays.progressed.notified();
                tokio::pin!(progressed);
                progressed.as_mut().enable();
                if relays.written.load(Ordering::Acquire) >= relays.read.load(Ordering::Acquire) {
                    return;
                }
                progressed.await;
            }
        };
        let _ = tokio::time::timeout(patience, caught_up).await;
    }
}

impl Drop for ProgressRoute {
    fn drop(&mut self) {
        let (routes, key, generation) = (self.routes.clone(), self.key.clone(), self.generation);
        let remove = move || {
            let mut map = lock_routes(&routes);
            if map
                .get(&key)
                .is_some_and(|route| route.generation == generation)
            {
                map.remove(&key);
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    tokio::time::sleep(PROGRESS_GRACE).await;
                    remove();
                });
            }
            Err(_) => remove(),
        }
    }
}

fn lock_routes(routes: &RouteTable) -> std::sync::MutexGuard<'_, RouteMap> {
    match routes.map.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Upstreams {
    /// Relays `server`'s progress notifications for `upstream_token` to `agent` (as
    /// `agent_token`) until the returned route is dropped.
    pub fn route_progress(
        &self,
        server: &str,
        upstream_token: ProgressToken,
        agent: Peer<RoleServer>,
        agent_token: ProgressToken,
    ) -> ProgressRoute {
        static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let generation = GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let key = (server.to_owned(), upstream_token);
        let relays = Arc::new(Relays::default());
        let route = Route {
            agent,
            token: agent_token,
            generation,
            relays: relays.clone(),
        };
        add_route(&self.progress, key.clone(), route);
        ProgressRoute {
            routes: self.progress.clone(),
            key,
            generation,
            relays,
        }
    }
}

/// Adds a route and wakes the early progress waiting for one.
fn add_route(routes: &RouteTable, key: (String, ProgressToken), route: Route) {
    lock_routes(routes).insert(key, route);
    routes.added.notify_waiters();
}

type Target = (Peer<RoleServer>, ProgressToken, Arc<Relays>);

fn target(routes: &RouteTable, key: &(String, ProgressToken)) -> Option<Target> {
    lock_routes(routes).get(key).map(|route| {
        (
            route.agent.clone(),
            route.token.clone(),
            route.relays.clone(),
        )
    })
}

/// The route of an early progress notification, once it is added (within
/// [`EARLY_PROGRESS_PATIENCE`], and while fewer than [`EARLY_PROGRESS_WAITING`] wait).
async fn route_added(routes: ProgressRoutes, key: (String, ProgressToken)) -> Option<Target> {
    /// Counts one waiter for as long as it lives (also when its task is dropped mid-wait).
    struct Waiting<'a>(&'a AtomicUsize);
    impl Drop for Waiting<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::AcqRel);
        }
    }
    let already = routes.waiting.fetch_add(1, Ordering::AcqRel);
    let _waiting = Waiting(&routes.waiting);
    if already >= EARLY_PROGRESS_WAITING {
        return None;
    }
    let wait = async {
        loop {
            let added = routes.added.notified();
            tokio::pin!(added);
            added.as_mut().enable();
            if let Some(found) = target(&routes, &key) {
                return found;
            }
            added.await;
        }
    };
    tokio::time::timeout(EARLY_PROGRESS_PATIENCE, wait)
        .await
        .ok()
}

/// Relays one progress notification of `server` to the agent whose call it belongs to.
pub(super) fn relay<'a>(
    routes: &ProgressRoutes,
    redactor: &'a Redactor,
    server: &str,
    params: ProgressNotificationParam,
) -> impl Future<Output = ()> + Send + 'a {
    let key = (server.to_owned(), params.progress_token.clone());
    let found = target(routes, &key);
    let routes = routes.clone();
    async move {
        let route = match found {
            Some(found) => Some(found),
            // Not counted as read when it was read (no route then): counted now, so an
            // answer that has not settled yet waits for it too.
            None => route_added(routes, key).await.inspect(|(_, _, relays)| {
                relays.read.fetch_add(1, Ordering::AcqRel);
            }),
        };
        // A token Cordon did not hand out (or of a call that ended) goes nowhere.
        if let Some((agent, token, relays)) = route {
            let mut note = params;
            note.progress_token = token;
            if let Some(message) = &mut note.message {
                *message = redactor.redact(message).into_owned();
            }
            // Resolves once written to the agent's transport (or failed: counted all the same).
            let _ = agent.notify_progress(note).await;
            relays.written.fetch_add(1, Ordering::AcqRel);
            relays.progressed.notify_waiters();
        }
    }
}

/// An upstream's transport that notes each progress notification for a routed call as it is
/// read: reads are sequential, so one read before the call's answer is noted before the answer
/// is seen (see the module doc).
pub(super) struct Counted<T> {
    inner: T,
    routes: ProgressRoutes,
    server: String,
}

impl<T> Counted<T> {
    pub(super) fn new(inner: T, routes: ProgressRoutes, server: &str) -> Counted<T> {
        Counted {
            inner,
            routes,
            server: server.to_owned(),
        }
    }

    fn note(&self, message: &RxJsonRpcMessage<RoleClient>) {
        if let JsonRpcMessage::Notification(notification) = message
            && let ServerNotification::ProgressNotification(progress) = &notification.notification
            && let Some(route) = lock_routes(&self.routes)
                .get(&(self.server.clone(), progress.params.progress_token.clone()))
        {
            route.relays.read.fetch_add(1, Ordering::AcqRel);
        }
    }
}

impl<T: Transport<RoleClient>> Transport<RoleClient> for Counted<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.inner.send(item)
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        let message = self.inner.receive().await;
        if let Some(message) = &message {
            self.note(message);
        }
        message
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::NumberOrString;
    use rmcp::service::{NotificationContext, RunningService};
    use rmcp::{ClientHandler, ServerHandler, ServiceExt};

    /// An agent (a real rmcp client) that keeps the progress it hears.
    #[derive(Clone, Default)]
    struct Heard(Arc<std::sync::Mutex<Vec<ProgressNotificationParam>>>);

    impl ClientHandler for Heard {
        fn on_progress(
            &self,
            params: ProgressNotificationParam,
            _context: NotificationContext<RoleClient>,
        ) -> impl Future<Output = ()> + Send + '_ {
            self.0.lock().unwrap().push(params);
            std::future::ready(())
        }
    }

    struct Cordon;
    impl ServerHandler for Cordon {}

    /// Cordon's side of an agent connection (its peer is what progress is relayed to), and
    /// the agent's.
    async fn connected() -> (
        RunningService<RoleServer, Cordon>,
        RunningService<RoleClient, Heard>,
        Heard,
    ) {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let cordon = tokio::spawn(async move { Cordon.serve(ours).await.unwrap() });
        let heard = Heard::default();
        let agent = heard.clone().serve(theirs).await.unwrap();
        (cordon.await.unwrap(), agent, heard)
    }

    fn token(n: i64) -> ProgressToken {
        ProgressToken(NumberOrString::Number(n))
    }

    fn progress(upstream_token: i64) -> ProgressNotificationParam {
        ProgressNotificationParam::new(token(upstream_token), 1.0)
    }

    async fn heard_within(heard: &Heard, limit: Duration) -> Vec<ProgressNotificationParam> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let got = heard.0.lock().unwrap().clone();
            if !got.is_empty() || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn progress_read_before_its_route_was_added_still_reaches_the_agent() {
        let (cordon, _agent, heard) = connected().await;
        let routes = ProgressRoutes::default();
        let redactor = Redactor::empty();
        let key = ("s".to_owned(), token(7));
        // The upstream's first progress is relayed before Cordon added the call's route.
        let relayed = relay(&routes, &redactor, "s", progress(7));
        let add = async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            let route = Route {
                agent: cordon.peer().clone(),
                token: token(42),
                generation: 0,
                relays: Arc::default(),
            };
            add_route(&routes, key.clone(), route);
        };
        tokio::join!(relayed, add);
        let relays = lock_routes(&routes)
            .get(&key)
            .map(|r| r.relays.clone())
            .unwrap();
        // Counted as read and as written: the call's answer would have waited for it.
        assert_eq!(relays.read.load(Ordering::Acquire), 1);
        assert_eq!(relays.written.load(Ordering::Acquire), 1);
        let got = heard_within(&heard, Duration::from_secs(10)).await;
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(
            got[0].progress_token,
            token(42),
            "relayed under the agent's token"
        );
        assert_eq!(routes.waiting.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn progress_whose_route_never_comes_goes_nowhere_and_waits_only_so_long() {
        let (_cordon, _agent, heard) = connected().await;
        let routes = ProgressRoutes::default();
        let redactor = Redactor::empty();
        tokio::time::timeout(
            Duration::from_secs(30),
            relay(&routes, &redactor, "s", progress(9)),
        )
        .await
        .expect("stray progress waited past its patience");
        assert_eq!(routes.waiting.load(Ordering::Acquire), 0);
        // A waiter whose task is dropped mid-wait frees its place.
        let dropped = tokio::spawn({
            let routes = routes.clone();
            async move {
                let redactor = Redactor::empty();
                relay(&routes, &redactor, "s", progress(11)).await;
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(routes.waiting.load(Ordering::Acquire), 1);
        dropped.abort();
        let _ = dropped.await;
        assert_eq!(routes.waiting.load(Ordering::Acquire), 0);
        // Beyond the number allowed to wait, stray progress is dropped at once.
        routes
            .waiting
            .store(EARLY_PROGRESS_WAITING, Ordering::Release);
        tokio::time::timeout(
            EARLY_PROGRESS_PATIENCE / 2,
            relay(&routes, &redactor, "s", progress(10)),
        )
        .await
        .expect("a stray progress beyond the limit waited");
        assert_eq!(
            routes.waiting.load(Ordering::Acquire),
            EARLY_PROGRESS_WAITING
        );
        assert!(
            heard_within(&heard, Duration::from_millis(50))
                .await
                .is_empty()
        );
    }

    fn route(relays: &Arc<Relays>) -> ProgressRoute {
        ProgressRoute {
            routes: ProgressRoutes::default(),
            key: ("s".to_owned(), ProgressToken(NumberOrString::Number(1))),
            generation: 0,
            relays: relays.clone(),
        }
    }

    #[tokio::test]
    async fn an_answer_waits_until_the_progress_read_before_it_is_written() {
        let relays = Arc::new(Relays::default());
        let route = route(&relays);
        relays.read.fetch_add(2, Ordering::AcqRel);
        let writer = tokio::spawn({
            let relays = relays.clone();
            async move {
                for _ in 0..2 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    relays.written.fetch_add(1, Ordering::AcqRel);
                    relays.progressed.notify_waiters();
                }
            }
        });
        route.settled(Duration::from_secs(60)).await;
        assert_eq!(relays.written.load(Ordering::Acquire), 2);
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn an_agent_that_reads_nothing_holds_the_answer_only_so_long() {
        let relays = Arc::new(Relays::default());
        let route = route(&relays);
        relays.read.fetch_add(1, Ordering::AcqRel);
        // Returns (after its patience) though the progress was never written.
        tokio::time::timeout(
            Duration::from_secs(30),
            route.settled(Duration::from_millis(50)),
        )
        .await
        .expect("the answer was held past its patience");
        assert_eq!(relays.written.load(Ordering::Acquire), 0);
    }
}
