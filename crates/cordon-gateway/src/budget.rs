//! One bound on the bytes of agent requests the engine holds at once, every connection and
//! transport together, and a share of it per agent.
//!
//! Each connection bounds its own requests in flight ([`crate::inflight::MAX_IN_FLIGHT`] over the
//! control socket, one per POST over HTTP), but connections are many: 512 control connections of
//! 32 requests of 16 MiB each is 256 GiB, so any local process could make the engine run out of
//! memory and be killed, and every agent lose its governed tools with it. A request (MCP over
//! either transport, or a native hook call) is held only in room left in this budget; beyond it
//! the request is refused at once, with an error naming the limit, and the engine keeps serving
//! the rest.
//!
//! One agent alone could still take the whole budget (16 calls held for approval of 16 MiB each
//! are 256 MiB), and every other agent's calls would be refused until those were answered. So an
//! agent holds at most half of the budget (at least one largest message): the other half stays
//! for everyone else. Over HTTP the agent is the one its token names; over the control socket
//! it is the name the bridge gave, which any process of the user can choose, so there the share
//! bounds a runaway agent, not a process set on taking the budget.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The default budget: far above what agents hold (a file write of a few MiB, held for
/// approval, is the large case), far below what takes a machine's memory.
pub const DEFAULT_MIB: u32 = 256;

/// The smallest budget a config may set: one message of the largest size agents may send (16
/// MiB, rmcp's line limit and the HTTP body limit) must fit with what the reader read ahead of
/// it (a few KiB, charged to it too), or it could never be served.
pub const MIN_MIB: u32 = 17;

/// Bytes of requests read and not yet answered, counted in KiB, shared by every transport.
#[derive(Debug)]
pub struct RequestBudget {
    kib: Arc<Semaphore>,
    mib: u32,
    /// The KiB each agent holds now (agents holding nothing are absent).
    held: Arc<Mutex<HashMap<String, u64>>>,
    /// The most one agent may hold, in KiB.
    share_kib: u64,
}

/// Room taken by one request until it is answered (dropped: the room is free again, in the
/// budget and in its agent's share).
#[derive(Debug)]
pub struct Claim {
    _permit: OwnedSemaphorePermit,
    held: Arc<Mutex<HashMap<String, u64>>>,
    agent: String,
    kib: u64,
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(kib) = held.get_mut(&self.agent) {
            *kib = kib.saturating_sub(self.kib);
            if *kib == 0 {
                held.remove(&self.agent);
            }
        }
    }
}

impl RequestBudget {
    /// A budget of `mib` MiB.
    pub fn new(mib: u32) -> Arc<RequestBudget> {
        let kib = usize::try_from(mib)
            .unwrap_or(usize::MAX)
            .saturating_mul(1024)
            .min(Semaphore::MAX_PERMITS);
        let total = u64::try_from(kib).unwrap_or(u64::MAX);
        Arc::new(RequestBudget {
            kib: Arc::new(Semaphore::new(kib)),
            mib,
            held: Arc::default(),
            share_kib: (total / 2).max(u64::from(MIN_MIB) * 1024).min(total),
        })
    }

    /// Room for a request of `bytes` sent by `agent`, if the budget and the agent's share have it
    /// now (never waits: a request that does not fit is refused, not queued).
    pub fn try_claim(&self, agent: &str, bytes: u64) -> Result<Claim, String> {
        let kib = u32::try_from(bytes.div_ceil(1024).max(1)).unwrap_or(u32::MAX);
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let holding = held.get(agent).copied().unwrap_or(0);
        if holding.saturating_add(u64::from(kib)) > self.share_kib {
            return Err(self.share_refusal(agent));
        }
        let permit = self
            .kib
            .clone()
            .try_acquire_many_owned(kib)
            .map_err(|_| self.refusal())?;
        *held.entry(agent.to_owned()).or_default() += u64::from(kib);
        Ok(Claim {
            _permit: permit,
            held: self.held.clone(),
            agent: agent.to_owned(),
            kib: u64::from(kib),
        })
    }

    /// Why a request was refused for this budget.
    pub fn refusal(&self) -> String {
        format!(
            "Cordon is holding {} MiB of agents' requests, its limit (`requests_in_flight_mib`): \
             this request was not read; retry once earlier calls are answered",
            self.mib
        )
    }

    /// Why a request was refused for its agent's share of this budget.
    fn share_refusal(&self, agent: &str) -> String {
        format!(
            "Cordon is holding {} MiB of agent {}'s requests, the most one agent may hold (half \
             of `requests_in_flight_mib`): this request was not read; retry once its earlier \
             calls are answered",
            self.share_kib / 1024,
            cordon_text::visible(agent)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The least budget holds the largest message with a read-ahead buffer charged to it.
    #[test]
    fn the_least_budget_holds_one_largest_message() {
        let largest = u64::try_from(rmcp::transport::async_rw::DEFAULT_MAX_LINE_LENGTH).unwrap();
        let budget = RequestBudget::new(MIN_MIB);
        assert!(budget.try_claim("agent", largest + 64 * 1024).is_ok());
    }

    #[test]
    fn claims_take_room_until_dropped_and_refuse_beyond_it() {
        let budget = RequestBudget::new(40);
        let big = budget.try_claim("one", 15 * 1024 * 1024);
        assert!(big.is_ok());
        let other = budget.try_claim("two", 15 * 1024 * 1024);
        assert!(other.is_ok());
        let refused = budget.try_claim("three", 11 * 1024 * 1024);
        assert!(refused.is_err_and(|why| why.contains("40 MiB") && why.contains("agents'")));
        // A small request still fits beside the big ones.
        let small = budget.try_claim("three", 10);
        assert!(small.is_ok());
        drop(big);
        assert!(budget.try_claim("three", 14 * 1024 * 1024).is_ok());
    }

    #[test]
    fn one_agent_holds_at_most_half_and_the_rest_stays_for_the_others() {
        let budget = RequestBudget::new(64);
        let mib = |n: u64| n * 1024 * 1024;
        let first = budget.try_claim("runaway", mib(16)).unwrap();
        let second = budget.try_claim("runaway", mib(15)).unwrap();
        let refused = budget.try_claim("runaway", mib(2));
        assert!(
            refused.is_err_and(|why| why.contains("agent runaway's") && why.contains("32 MiB")),
            "beyond half of the budget for one agent"
        );
        // Another agent still has the other half.
        let other = budget.try_claim("other", mib(30)).unwrap();
        drop((first, second));
        // The runaway's room comes back as its requests end, and agents holding nothing are
        // forgotten.
        assert!(budget.try_claim("runaway", mib(16)).is_ok());
        drop(other);
        assert!(budget.held.lock().unwrap().is_empty());
    }

    #[test]
    fn an_agent_may_always_send_one_largest_message() {
        let largest = u64::try_from(rmcp::transport::async_rw::DEFAULT_MAX_LINE_LENGTH).unwrap();
        let budget = RequestBudget::new(20);
        assert!(
            budget.try_claim("agent", largest + 64 * 1024).is_ok(),
            "half of 20 MiB is less"
        );
    }
}
