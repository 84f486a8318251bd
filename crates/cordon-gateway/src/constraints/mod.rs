//! Runtime constraints (issue 9), applied after the policy's rules: they can only make a
//! verdict stricter, never more permissive.
//!
//! [`Constraints`] composes them in the order a call meets them ([`Constraints::govern`]); each
//! lives in a module of its own:
//!
//! - `pause`: the kill switch (the engine's, stored in the runtime state, and the policy's).
//! - `roots`: where an agent's workspace is (config, client-announced, `workspace.roots`).
//! - `blast`: the blast radius: writes (and shell working directories) outside those roots
//!   (`base` is where relative paths run; native hooks add their cwd as fallback roots).
//! - `limits`: the policy's `limits:` (budgets, rate limits, upstream timeouts) and their
//!   counters;
//! - `writer`: the thread that stores the counters behind the calls.
//!
//! The kill switch and the counters are kept in the evidence database's runtime state
//! ([`RuntimeState`], outside the hash chain), so a restart keeps them.

mod blast;
mod limits;
mod pause;
mod roots;
mod writer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use cordon_evidence::RuntimeState;
use cordon_policy::{Cost, Decision, Policy, ToolCall, Usage, Verdict};

pub use blast::{OUTSIDE_ROOTS_RULE, UNKNOWN_ROOTS_RULE};
pub use limits::{THROTTLE_DECISION, now_ms};
pub use pause::{PAUSE_RULE, PauseState};

/// What the constraints decided for one call, besides the verdict they may have changed.
#[derive(Debug, Clone, Default)]
pub struct Governed {
    /// Limits to charge if the call is let through later (after an approval). Empty when the
    /// call was already charged (an allow) or refused.
    pub pending: Vec<(String, String, bool)>,
    /// What the call costs.
    pub cost: Cost,
    /// For an allowed call a rate limit delays: how long to wait before forwarding.
    pub throttle: Option<Duration>,
    /// The longest the upstream may take (the shortest `upstream_timeout` that applies).
    pub timeout: Option<Duration>,
    /// A rate limit with `on_limit: throttle` delayed (or, when the wait would exceed a
    /// minute, refused) the call: recorded with the decision `throttle`.
    pub throttled: bool,
}

/// The engine's runtime constraints state: the kill switch, the workspace roots and the limit
/// counters.
pub struct Constraints {
    kill_switch: pause::KillSwitch,
    roots: roots::WorkspaceRoots,
    limits: limits::LimitCounters,
}

impl Default for Constraints {
    fn default() -> Self {
        Constraints::new(None, BTreeMap::new(), Vec::new())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Constraints {
    /// Constraints backed by `state` (counters and pause state persist there; None = memory
    /// only), with the config's per-agent and workspace roots. Loads the stored pause state.
    pub fn new(
        state: Option<RuntimeState>,
        agent_roots: BTreeMap<String, Vec<PathBuf>>,
        workspace_roots: Vec<PathBuf>,
    ) -> Constraints {
        Constraints {
            kill_switch: pause::KillSwitch::load(state.clone()),
            roots: roots::WorkspaceRoots::new(agent_roots, workspace_roots),
            limits: limits::LimitCounters::new(state),
        }
    }

    /// The engine's pause state (the policy file's own `paused` is separate).
    pub fn pause_state(&self) -> PauseState {
        self.kill_switch.pause_state()
    }

    /// Pauses every agent (None) or one. Stored before it is reported.
    pub fn pause(&self, agent: Option<&str>) -> Result<PauseState, String> {
        self.kill_switch.pause(agent)
    }

    /// Resumes every agent (None: clears the whole pause) or one.
    pub fn resume(&self, agent: Option<&str>) -> Result<PauseState, String> {
        self.kill_switch.resume(agent)
    }

    /// Why `agent` is paused, if it is (the engine's switch or the policy's).
    pub fn paused(&self, agent: &str, policy: &Policy) -> Option<String> {
        self.kill_switch.paused(agent, policy)
    }

    /// Stores the roots an MCP client announced for its session (`file://` URIs).
    pub fn set_client_roots(&self, session: &str, uris: &[String]) {
        self.roots.set_client_roots(session, uris);
    }

    /// Forgets a closed session's client roots.
    pub fn end_session(&self, session: &str) {
        self.roots.end_session(session);
    }

    /// The workspace roots of `agent` in `session`: config, then client, then `workspace.roots`.
    pub fn roots_for(&self, agent: &str, session: &str) -> Option<Vec<PathBuf>> {
        self.roots.roots_for(agent, session)
    }

    /// Waits (up to `wait`) until every counter update so far is stored.
    pub fn flush(&self, wait: Duration) {
        self.limits.flush(wait);
    }

    /// The counters of one scope and limit (for tests and the UI).
    pub fn usage(&self, scope: &str, limit: &str) -> Option<Usage> {
        self.limits.usage(scope, limit)
    }

    /// Applies the kill switch, the blast radius and the limits to a judged call: the verdict
    /// may become stricter (never more permissive). An allowed call is charged here, under the
    /// same lock as its check, so concurrent calls cannot overshoot a budget.
    #[allow(clippy::too_many_arguments)]
    pub fn govern(
        &self,
        policy: &Policy,
        call: &ToolCall,
        verdict: &mut Verdict,
        session: &str,
        base: &Path,
        fallback_roots: Option<Vec<PathBuf>>,
    ) -> Governed {
        let mut governed = Governed::default();
        if let Some(reason) = self.paused(&call.agent, policy) {
            verdict.decision = Decision::Deny;
            verdict.rule_id = Some(PAUSE_RULE.to_owned());
            verdict.reason = reason;
            return governed;
        }
        if verdict.decision == Decision::Deny {
            return governed;
        }
        if let Some((decision, rule, reason)) = blast::blast_radius(
            &self.roots,
            policy,
            call,
            &verdict.classification,
            session,
            base,
            fallback_roots,
        ) && decision > verdict.decision
        {
            verdict.decision = decision;
            verdict.rule_id = Some(rule.to_owned());
            verdict.reason = reason;
            if decision == Decision::Deny {
                return governed;
            }
        }
        self.limits
            .govern(policy, call, verdict, session, &mut governed);
        governed
    }

    /// Charges a call a human let through after it was held.
    pub fn charge(&self, governed: &Governed) {
        self.limits.charge(governed);
    }
}

/// What the tests of every constraint build their calls and policies from.
#[cfg(test)]
mod testing {
    #![allow(clippy::unwrap_used)]
    use cordon_policy::{Policy, Source, ToolCall};

    pub(super) fn policy(extra: &str) -> Policy {
        Policy::from_sources(&[Source {
            name: "p.yaml".into(),
            text: format!("version: t\ndefault_decision: allow\nrules: []\n{extra}"),
        }])
        .unwrap()
    }

    pub(super) fn call(agent: &str, tool: &str, args: serde_json::Value) -> ToolCall {
        ToolCall {
            agent: agent.into(),
            server: "s".into(),
            tool: tool.into(),
            args,
        }
    }
}
