//! Progress routing: an upstream's progress notifications for a forwarded call are relayed
//! (redacted) to the agent that made it, under the agent's own progress token, for as long as
//! the call runs (plus a short grace). A token Cordon did not hand out goes nowhere.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cordon_secrets::Redactor;
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::service::{Peer, RoleServer};

use super::Upstreams;

/// Where an upstream's progress notifications go: (server, upstream token) → the agent's peer and
/// its own token. One entry per forwarded call whose agent asked for progress, removed when the
/// call ends (see [`ProgressRoute`]).
pub(super) type ProgressRoutes = Arc<std::sync::Mutex<RouteMap>>;
type RouteMap = HashMap<(String, ProgressToken), (Peer<RoleServer>, ProgressToken, u64)>;

/// How long a finished call's progress route outlives it: rmcp handles each incoming
/// notification in a task of its own, so progress the upstream sent just before its answer can
/// be processed just after it.
const PROGRESS_GRACE: Duration = Duration::from_millis(1000);

/// Keeps one progress route alive for the duration of a forwarded call (plus a short grace).
pub struct ProgressRoute {
    routes: ProgressRoutes,
    key: (String, ProgressToken),
    generation: u64,
}

impl Drop for ProgressRoute {
    fn drop(&mut self) {
        let (routes, key, generation) = (self.routes.clone(), self.key.clone(), self.generation);
        let remove = move || {
            let mut map = lock_routes(&routes);
            if map.get(&key).is_some_and(|(_, _, g)| *g == generation) {
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

fn lock_routes(routes: &ProgressRoutes) -> std::sync::MutexGuard<'_, RouteMap> {
    match routes.lock() {
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
        lock_routes(&self.progress).insert(key.clone(), (agent, agent_token, generation));
        ProgressRoute {
            routes: self.progress.clone(),
            key,
            generation,
        }
    }
}

/// Relays one progress notification of `server` to the agent whose call it belongs to.
pub(super) fn relay<'a>(
    routes: &ProgressRoutes,
    redactor: &'a Redactor,
    server: &str,
    params: ProgressNotificationParam,
) -> impl Future<Output = ()> + Send + 'a {
    let route = lock_routes(routes)
        .get(&(server.to_owned(), params.progress_token.clone()))
        .map(|(peer, token, _)| (peer.clone(), token.clone()));
    async move {
        // A token Cordon did not hand out (or of a call that ended) goes nowhere.
        if let Some((agent, token)) = route {
            let mut note = params;
            note.progress_token = token;
            if let Some(message) = &mut note.message {
                *message = redactor.redact(message).into_owned();
            }
            let _ = agent.notify_progress(note).await;
        }
    }
}
