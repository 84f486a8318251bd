//! How many connections a listener serves at once, and which one gives way when it is full.
//!
//! Both of the engine's listeners (the control socket, the HTTP port) bound their connections:
//! each costs a file descriptor and a task. A bound alone lets whoever fills it lock everyone
//! else out, and connections that send nothing cost an attacker nothing (the HTTP port needs no
//! token to connect). So a connection that is waiting for a request can be evicted: when every
//! place is taken, a newcomer closes the one that has waited longest, preferring connections that
//! were never served over kept-alive ones that were. A connection busy with a request (an MCP
//! session, a held call, a streamed answer) is never evicted; when every connection is busy the
//! newcomer is refused.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

/// The places of one listener, shared by its accept loop and its connections.
#[derive(Debug)]
pub struct Places {
    max: usize,
    state: Mutex<State>,
}

/// Who holds a place: a count, and the connections now waiting for a request, in the order they
/// give way (never served before kept-alive, then oldest first).
#[derive(Debug, Default)]
struct State {
    open: usize,
    next: u64,
    waiting: BTreeMap<(Kind, u64), CancellationToken>,
}

/// Which waiting connections give way first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// Never served a request: what a flood of idle connections is made of.
    Fresh,
    /// Served before and kept alive for the next request.
    Kept,
}

impl Places {
    /// Room for `max` connections (at least one).
    pub fn new(max: usize) -> Arc<Places> {
        Arc::new(Places {
            max: max.max(1),
            state: Mutex::default(),
        })
    }

    /// How many connections hold a place now (evicted ones until their task ends).
    #[cfg(test)]
    fn open(&self) -> usize {
        self.lock().open
    }

    /// Takes a place for a new connection, evicting the waiting connection that gives way first
    /// when every place is taken. `None`: every connection is busy, so the newcomer is refused.
    /// The new place starts out waiting for its first request.
    pub fn take(self: &Arc<Self>) -> Option<Place> {
        let mut state = self.lock();
        let full = state.open >= self.max;
        if full {
            let first = *state.waiting.keys().next()?;
            if let Some(token) = state.waiting.remove(&first) {
                token.cancel();
            }
            // The evicted connection frees its place when its task ends; the new one counts now.
        }
        state.open += 1;
        state.next += 1;
        let place = Place {
            places: self.clone(),
            id: state.next,
            kind: Mutex::new(Kind::Fresh),
            evict: CancellationToken::new(),
            evicted_another: full,
        };
        state
            .waiting
            .insert((Kind::Fresh, place.id), place.evict.clone());
        Some(place)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One connection's place; freed on drop.
#[derive(Debug)]
pub struct Place {
    places: Arc<Places>,
    id: u64,
    kind: Mutex<Kind>,
    evict: CancellationToken,
    evicted_another: bool,
}

impl Place {
    /// Whether taking this place evicted another connection (the listener was full).
    pub fn evicted_another(&self) -> bool {
        self.evicted_another
    }

    /// The connection is waiting for its next request: a newcomer may evict it.
    pub fn waiting(&self) {
        let kind = *self.kind.lock().unwrap_or_else(PoisonError::into_inner);
        let mut state = self.places.lock();
        // Checked under the lock a newcomer evicts under: an evicted connection never waits again.
        if !self.evict.is_cancelled() {
            state.waiting.insert((kind, self.id), self.evict.clone());
        }
    }

    /// The connection is busy with a request: nobody may evict it until it waits again.
    pub fn busy(&self) {
        let kind = *self.kind.lock().unwrap_or_else(PoisonError::into_inner);
        self.places.lock().waiting.remove(&(kind, self.id));
    }

    /// The connection served a request its client was entitled to: from now on it gives way
    /// only after every connection that was never served.
    pub fn served(&self) {
        let mut kind = self.kind.lock().unwrap_or_else(PoisonError::into_inner);
        if *kind == Kind::Kept {
            return;
        }
        let mut state = self.places.lock();
        if let Some(token) = state.waiting.remove(&(*kind, self.id)) {
            state.waiting.insert((Kind::Kept, self.id), token);
        }
        *kind = Kind::Kept;
    }

    /// Resolves when a newcomer evicted this connection: it should close.
    pub fn evicted(&self) -> WaitForCancellationFuture<'_> {
        self.evict.cancelled()
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let kind = *self.kind.get_mut().unwrap_or_else(PoisonError::into_inner);
        let mut state = self.places.lock();
        state.waiting.remove(&(kind, self.id));
        state.open = state.open.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_evicted(place: &Place) -> bool {
        place.evict.is_cancelled()
    }

    #[test]
    fn a_full_listener_evicts_the_connection_that_has_waited_longest() {
        let places = Places::new(2);
        let first = places.take().unwrap();
        let second = places.take().unwrap();
        assert!(!first.evicted_another() && !second.evicted_another());
        let third = places.take().unwrap();
        assert!(third.evicted_another());
        assert!(is_evicted(&first) && !is_evicted(&second) && !is_evicted(&third));
        // The evicted place counts until its connection ends.
        assert_eq!(places.open(), 3);
        drop(first);
        assert_eq!(places.open(), 2);
    }

    #[test]
    fn busy_connections_are_never_evicted_and_a_newcomer_is_refused_when_all_are() {
        let places = Places::new(2);
        let first = places.take().unwrap();
        let second = places.take().unwrap();
        first.busy();
        second.busy();
        assert!(places.take().is_none(), "every connection is busy: refused");
        assert!(!is_evicted(&first) && !is_evicted(&second));
        second.waiting();
        let third = places.take().unwrap();
        assert!(is_evicted(&second) && !is_evicted(&first));
        drop((first, second, third));
        assert_eq!(places.open(), 0);
    }

    #[test]
    fn connections_never_served_give_way_before_kept_alive_ones() {
        let places = Places::new(3);
        let agent = places.take().unwrap();
        agent.busy();
        agent.served();
        agent.waiting();
        let idle = places.take().unwrap();
        let idle_too = places.take().unwrap();
        let newcomer = places.take().unwrap();
        assert!(
            is_evicted(&idle),
            "the oldest connection never served gives way first"
        );
        let another = places.take().unwrap();
        assert!(is_evicted(&idle_too));
        assert!(
            !is_evicted(&agent),
            "the served connection gives way only when no fresh one waits"
        );
        newcomer.busy();
        another.busy();
        let last = places.take().unwrap();
        assert!(is_evicted(&agent));
        drop((idle, idle_too, agent, newcomer, another, last));
        assert_eq!(places.open(), 0);
    }

    #[test]
    fn an_evicted_connection_does_not_wait_again() {
        let places = Places::new(1);
        let first = places.take().unwrap();
        let second = places.take().unwrap();
        assert!(is_evicted(&first));
        first.busy();
        first.waiting();
        second.busy();
        assert!(
            places.take().is_none(),
            "the evicted connection is not offered twice"
        );
    }
}
