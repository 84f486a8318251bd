//! Limits: the policy's `limits:` (budgets, rate limits, upstream timeouts) applied to a call.
//!
//! Counters per (session or agent, limit id), charged when a call is let through (under the same
//! lock as its check, so concurrent calls cannot overshoot a budget), kept in memory and written
//! behind to the runtime state (`counters`) by [`super::writer`], loaded back the first time a
//! scope is seen after a restart. Counters that cannot be read count as spent (fail closed).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cordon_evidence::RuntimeState;
use cordon_policy::{
    Breach, Decision, LimitAction, LimitScope, Policy, ToolCall, Usage, Verdict, cost_of,
};

use super::writer::CounterWriter;
use super::{Governed, lock};

/// The recorded decision of a call a rate limit delayed.
pub const THROTTLE_DECISION: &str = "throttle";
/// Key, among a scope's counters, marking that its stored counters could not be read: every limit
/// of that scope then starts from [`exhausted`] instead of zero (fail closed).
const UNREADABLE: &str = "\u{0}unreadable";

/// Milliseconds since the Unix epoch (wall clock: counters outlive the process).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The limit counters of every scope, and where they are stored.
pub(super) struct LimitCounters {
    state: Option<RuntimeState>,
    /// scope → limit id → counters.
    counters: Mutex<HashMap<String, HashMap<String, Usage>>>,
    writer: Option<CounterWriter>,
}

impl LimitCounters {
    /// Counters stored in `state` (None = memory only), written behind by a writer thread.
    pub(super) fn new(state: Option<RuntimeState>) -> LimitCounters {
        let writer = state.clone().and_then(CounterWriter::start);
        LimitCounters {
            state,
            counters: Mutex::new(HashMap::new()),
            writer,
        }
    }

    fn scope(limit_per: LimitScope, agent: &str, session: &str) -> String {
        match limit_per {
            LimitScope::Session => session.to_owned(),
            LimitScope::Agent => format!("agent:{agent}"),
        }
    }

    /// Loads a scope's stored counters the first time it is seen (counters survive restarts).
    fn load_scope<'a>(
        &self,
        counters: &'a mut HashMap<String, HashMap<String, Usage>>,
        scope: &str,
    ) -> &'a mut HashMap<String, Usage> {
        counters.entry(scope.to_owned()).or_insert_with(|| {
            let mut loaded = HashMap::new();
            if let Some(log) = &self.state {
                match log.load_counters(scope) {
                    Ok(rows) => {
                        for (limit, state) in rows {
                            match serde_json::from_str::<Usage>(&state) {
                                Ok(u) => {
                                    loaded.insert(limit, u);
                                }
                                Err(e) => {
                                    // Fail closed: a budget we cannot read may be spent.
                                    tracing::error!(%scope, %limit, "stored counters unreadable ({e}): the limit counts as reached");
                                    loaded.insert(limit, exhausted());
                                }
                            }
                        }
                    }
                    Err(e) => {
                        tracing::error!(%scope, "cannot load stored counters ({e}): every limit of this scope counts as reached");
                        loaded.insert(UNREADABLE.to_owned(), exhausted());
                    }
                }
            }
            loaded
        })
    }

    fn persist(&self, scope: &str, limit: &str, usage: &Usage) {
        let Some(writer) = &self.writer else { return };
        if let Ok(text) = serde_json::to_string(usage) {
            writer.save(scope, limit, text);
        }
    }

    /// Waits (up to `wait`) until every counter update so far is stored.
    pub(super) fn flush(&self, wait: Duration) {
        let Some(writer) = &self.writer else { return };
        writer.flush(wait);
    }

    /// The counters of one scope and limit (for tests and the UI).
    pub(super) fn usage(&self, scope: &str, limit: &str) -> Option<Usage> {
        let mut counters = lock(&self.counters);
        self.load_scope(&mut counters, scope).get(limit).cloned()
    }

    /// Applies the limits that match a call to its verdict (stricter only) and, for an allowed
    /// call, charges it; a call held for a human keeps its charges in `governed.pending`.
    pub(super) fn govern(
        &self,
        policy: &Policy,
        call: &ToolCall,
        verdict: &mut Verdict,
        session: &str,
        governed: &mut Governed,
    ) {
        let limits: Vec<_> = policy.limits_for(call, &verdict.classification).collect();
        if limits.is_empty() {
            return;
        }
        governed.timeout = limits.iter().filter_map(|l| l.upstream_timeout).min();
        governed.cost = cost_of(call, &verdict.classification);
        let now = now_ms();
        let mut counters = lock(&self.counters);
        let mut breach: Option<Breach> = None;
        for limit in &limits {
            let scope = Self::scope(limit.per, &call.agent, session);
            let usage = usage_of(self.load_scope(&mut counters, &scope), &limit.id);
            usage.start(now);
            if let Some(b) = limit.check(usage, &governed.cost, now) {
                let stricter = breach
                    .as_ref()
                    .is_none_or(|old| rank(b.action) > rank(old.action));
                if stricter {
                    breach = Some(b);
                }
            }
        }
        let mut throttle_at: Option<u64> = None;
        if let Some(b) = breach {
            match b.action {
                LimitAction::Throttle => {
                    let wait = b.retry_after.unwrap_or(Duration::from_secs(1));
                    if wait > cordon_policy::RATE_WINDOW {
                        // More calls are queued than a minute's wait can absorb: refuse.
                        governed.throttled = true;
                        verdict.decision = Decision::Deny;
                        verdict.rule_id = Some(b.rule_id);
                        verdict.reason = format!(
                            "{}; the wait for a free slot ({}) exceeds a minute",
                            b.reason,
                            crate::pipeline::human(Duration::from_secs(wait.as_secs()))
                        );
                        return;
                    }
                    if verdict.decision == Decision::Allow {
                        governed.throttled = true;
                        governed.throttle = Some(wait);
                        throttle_at = Some(
                            now.saturating_add(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)),
                        );
                        verdict.rule_id = Some(b.rule_id);
                        verdict.reason =
                            format!("{}; delayed {}", b.reason, crate::pipeline::human(wait));
                    }
                }
                LimitAction::Deny | LimitAction::RequireApproval => {
                    let decision = if b.action == LimitAction::Deny {
                        Decision::Deny
                    } else {
                        Decision::RequireApproval
                    };
                    if decision >= verdict.decision {
                        verdict.decision = decision;
                        verdict.rule_id = Some(b.rule_id);
                        verdict.reason = b.reason;
                    }
                    if decision == Decision::Deny {
                        return;
                    }
                }
            }
        }
        let charges: Vec<(String, String, bool)> = limits
            .iter()
            .map(|l| {
                (
                    Self::scope(l.per, &call.agent, session),
                    l.id.clone(),
                    l.calls_per_minute.is_some(),
                )
            })
            .collect();
        if verdict.decision == Decision::Allow {
            for (scope, limit, rate) in &charges {
                let usage = usage_of(self.load_scope(&mut counters, scope), limit);
                usage.charge(&governed.cost, now, false);
                if *rate {
                    let at = throttle_at.unwrap_or(now);
                    let idx = usage.recent_ms.partition_point(|t| *t <= at);
                    usage.recent_ms.insert(idx, at);
                }
                self.persist(scope, limit, usage);
            }
        } else {
            governed.pending = charges;
        }
    }

    /// Charges a call a human let through after it was held.
    pub(super) fn charge(&self, governed: &Governed) {
        if governed.pending.is_empty() {
            return;
        }
        let now = now_ms();
        let mut counters = lock(&self.counters);
        for (scope, limit, rate) in &governed.pending {
            let usage = usage_of(self.load_scope(&mut counters, scope), limit);
            usage.charge(&governed.cost, now, *rate);
            self.persist(scope, limit, usage);
        }
    }
}

fn rank(action: LimitAction) -> u8 {
    match action {
        LimitAction::Throttle => 0,
        LimitAction::RequireApproval => 1,
        LimitAction::Deny => 2,
    }
}

/// A limit's usage in a scope, created on first use: from zero, or already exhausted when the
/// scope's stored counters could not be read.
fn usage_of<'a>(scope: &'a mut HashMap<String, Usage>, limit: &str) -> &'a mut Usage {
    let fallback = scope.get(UNREADABLE).cloned();
    scope
        .entry(limit.to_owned())
        .or_insert_with(|| fallback.unwrap_or_default())
}

/// Counters that every limit considers reached: what an unreadable budget is taken to be.
fn exhausted() -> Usage {
    Usage {
        calls: u64::MAX,
        writes: u64::MAX,
        bytes: u64::MAX,
        started_ms: Some(0),
        ..Usage::default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::constraints::Constraints;
    use crate::constraints::testing::{call, policy};
    use cordon_policy::Source;
    use std::path::Path;

    #[test]
    fn a_denied_call_is_not_charged_and_an_approved_one_is() {
        let p =
            policy("limits:\n  - id: l\n    max_tool_calls: 1\n    on_limit: require_approval\n");
        let c = Constraints::default();
        let x = call("a", "echo", serde_json::json!({}));
        let mut v = p.evaluate(&x);
        let g = c.govern(&p, &x, &mut v, "s", Path::new("/"), None);
        assert_eq!(v.decision, Decision::Allow);
        assert!(g.pending.is_empty(), "an allow is charged at once");
        let mut v = p.evaluate(&x);
        let g = c.govern(&p, &x, &mut v, "s", Path::new("/"), None);
        assert_eq!(v.decision, Decision::RequireApproval);
        assert_eq!(v.rule_id.as_deref(), Some("limit:max_tool_calls"));
        assert_eq!(c.usage("s", "l").unwrap().calls, 1);
        c.charge(&g);
        assert_eq!(c.usage("s", "l").unwrap().calls, 2);
        // A rule's deny stays the rule's, and costs nothing.
        let deny = Policy::from_sources(&[Source {
            name: "p.yaml".into(),
            text: "version: t\nrules:\n  - id: no\n    decision: deny\n    reason: no\nlimits:\n  - id: l\n    max_tool_calls: 5\n".into(),
        }])
        .unwrap();
        let c = Constraints::default();
        let mut v = deny.evaluate(&x);
        c.govern(&deny, &x, &mut v, "s", Path::new("/"), None);
        assert_eq!(v.rule_id.as_deref(), Some("no"));
        assert_eq!(c.usage("s", "l"), None);
    }
}
