//! One bound on the bytes of agent requests the engine holds at once, every connection and
//! transport together.
//!
//! Each connection bounds its own requests in flight ([`crate::inflight::MAX_IN_FLIGHT`] over the
//! control socket, one per POST over HTTP), but connections are many: 512 control connections of
//! 32 requests of 16 MiB each is 256 GiB, so any local process could make the engine run out of
//! memory and be killed, and every agent lose its governed tools with it. A request is read only
//! into room left in this budget; beyond it the request is refused at once, with an error naming
//! the limit, and the engine keeps serving the rest.

use std::sync::Arc;

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
}

/// Room taken by one request until it is answered (dropped: the room is free again).
#[derive(Debug)]
pub struct Claim(#[allow(dead_code)] OwnedSemaphorePermit);

impl RequestBudget {
    /// A budget of `mib` MiB.
    pub fn new(mib: u32) -> Arc<RequestBudget> {
        let kib = usize::try_from(mib)
            .unwrap_or(usize::MAX)
            .saturating_mul(1024);
        Arc::new(RequestBudget {
            kib: Arc::new(Semaphore::new(kib.min(Semaphore::MAX_PERMITS))),
            mib,
        })
    }

    /// Room for a request of `bytes`, if the budget has it now (never waits: a request that does
    /// not fit is refused, not queued).
    pub fn try_claim(&self, bytes: u64) -> Result<Claim, String> {
        let kib = u32::try_from(bytes.div_ceil(1024).max(1)).unwrap_or(u32::MAX);
        self.kib
            .clone()
            .try_acquire_many_owned(kib)
            .map(Claim)
            .map_err(|_| self.refusal())
    }

    /// Why a request was refused for this budget.
    pub fn refusal(&self) -> String {
        format!(
            "Cordon is holding {} MiB of agents' requests, its limit (`requests_in_flight_mib`): \
             this request was not read; retry once earlier calls are answered",
            self.mib
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
        assert!(budget.try_claim(largest + 64 * 1024).is_ok());
    }

    #[test]
    fn claims_take_room_until_dropped_and_refuse_beyond_it() {
        let budget = RequestBudget::new(1);
        let big = budget.try_claim(700 * 1024);
        assert!(big.is_ok());
        let refused = budget.try_claim(400 * 1024);
        assert!(refused.is_err_and(|why| why.contains("1 MiB")));
        // A small request still fits beside the big one.
        let small = budget.try_claim(10);
        assert!(small.is_ok());
        drop(big);
        assert!(budget.try_claim(900 * 1024).is_ok());
    }
}
