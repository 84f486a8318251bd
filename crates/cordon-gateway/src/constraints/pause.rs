//! The kill switch: every agent, or the named ones, are paused; each of their calls is refused
//! (rule `pause`) and recorded.
//!
//! Two switches, either of which pauses: the engine's ([`KillSwitch::pause`] /
//! [`KillSwitch::resume`]: the control socket's `pause`/`resume`, `cordon pause`), stored in the
//! runtime state (`engine_state`) so it survives a restart, and the policy's own `paused` /
//! `paused_agents`. A stored state that cannot be read pauses every agent (fail closed).

use std::sync::RwLock;

use cordon_evidence::RuntimeState;
use cordon_policy::Policy;
use serde::{Deserialize, Serialize};

/// Rule id of a call refused because its agent is paused.
pub const PAUSE_RULE: &str = "pause";
/// Key of the pause state in the runtime state's `engine_state`.
const PAUSE_KEY: &str = "pause";

/// The engine's kill switch: every agent, or the named ones, are paused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseState {
    /// Every agent is paused.
    pub all: bool,
    /// These agents are paused (sorted, unique).
    pub agents: Vec<String>,
}

impl PauseState {
    /// Whether `agent` is paused.
    pub fn pauses(&self, agent: &str) -> bool {
        self.all || self.agents.iter().any(|a| a == agent)
    }
}

/// The engine's kill switch and where it is stored.
pub(super) struct KillSwitch {
    state: Option<RuntimeState>,
    pause: RwLock<PauseState>,
}

impl KillSwitch {
    /// The switch stored in `state` (None = memory only), as it was last stored.
    pub(super) fn load(state: Option<RuntimeState>) -> KillSwitch {
        let pause = state
            .as_ref()
            .and_then(|l| match l.engine_state(PAUSE_KEY) {
                Ok(v) => v,
                Err(e) => {
                    // Fail closed: a pause we cannot read may have been on.
                    tracing::error!("cannot read the stored pause state ({e}): pausing all agents");
                    Some(r#"{"all":true,"agents":[]}"#.to_owned())
                }
            })
            .map(|text| {
                serde_json::from_str::<PauseState>(&text).unwrap_or(PauseState {
                    all: true,
                    agents: Vec::new(),
                })
            })
            .unwrap_or_default();
        KillSwitch {
            state,
            pause: RwLock::new(pause),
        }
    }

    /// The engine's pause state (the policy file's own `paused` is separate).
    pub(super) fn pause_state(&self) -> PauseState {
        match self.pause.read() {
            Ok(p) => p.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn store_pause(&self, state: PauseState) -> Result<PauseState, String> {
        if let Some(log) = &self.state {
            let text = serde_json::to_string(&state).map_err(|e| e.to_string())?;
            log.set_engine_state(PAUSE_KEY, &text)
                .map_err(|e| format!("cannot store the pause state: {e}"))?;
        }
        match self.pause.write() {
            Ok(mut p) => *p = state.clone(),
            Err(p) => *p.into_inner() = state.clone(),
        }
        Ok(state)
    }

    /// Pauses every agent (None) or one. Stored before it is reported.
    pub(super) fn pause(&self, agent: Option<&str>) -> Result<PauseState, String> {
        let mut state = self.pause_state();
        match agent {
            None => state.all = true,
            Some(a) => {
                if !state.agents.iter().any(|x| x == a) {
                    state.agents.push(a.to_owned());
                    state.agents.sort();
                }
            }
        }
        self.store_pause(state)
    }

    /// Resumes every agent (None: clears the whole pause) or one.
    pub(super) fn resume(&self, agent: Option<&str>) -> Result<PauseState, String> {
        let mut state = self.pause_state();
        match agent {
            None => state = PauseState::default(),
            Some(a) => {
                if state.all {
                    return Err(format!(
                        "all agents are paused: `cordon resume` resumes them all (then pause others by name); `{a}` alone cannot be resumed"
                    ));
                }
                state.agents.retain(|x| x != a);
            }
        }
        self.store_pause(state)
    }

    /// Why `agent` is paused, if it is (the engine's switch or the policy's).
    pub(super) fn paused(&self, agent: &str, policy: &Policy) -> Option<String> {
        let state = self.pause_state();
        if state.all {
            return Some(
                "Cordon is paused for all agents (kill switch; `cordon resume` lifts it)"
                    .to_owned(),
            );
        }
        if state.pauses(agent) {
            return Some(format!(
                "Cordon is paused for agent `{agent}` (kill switch; `cordon resume --agent {agent}` lifts it)"
            ));
        }
        let p = policy.pause();
        if p.all {
            return Some("Cordon is paused by the policy (`paused: true`)".to_owned());
        }
        if p.pauses(agent) {
            return Some(format!(
                "Cordon is paused for agent `{agent}` by the policy (`paused_agents`)"
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::constraints::Constraints;
    use crate::constraints::testing::policy;
    use cordon_evidence::EvidenceLog;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    #[test]
    fn pause_and_resume_are_stored_and_fail_closed() {
        let dir = tempfile::tempdir().unwrap();
        let open = || {
            RuntimeState::new(Arc::new(
                EvidenceLog::open(
                    &dir.path().join("e.db"),
                    cordon_evidence::KeyStore::File(dir.path().join("k")),
                )
                .unwrap(),
            ))
        };
        let c = Constraints::new(Some(open()), BTreeMap::new(), Vec::new());
        let p = policy("");
        assert_eq!(c.paused("a", &p), None);
        c.pause(Some("b")).unwrap();
        c.pause(Some("a")).unwrap();
        c.pause(Some("a")).unwrap();
        assert_eq!(c.pause_state().agents, vec!["a", "b"]);
        assert!(c.paused("a", &p).unwrap().contains("agent `a`"));
        c.resume(Some("a")).unwrap();
        assert_eq!(c.paused("a", &p), None);
        c.pause(None).unwrap();
        assert!(c.resume(Some("b")).is_err());
        drop(c);
        let log = open();
        let c = Constraints::new(Some(log.clone()), BTreeMap::new(), Vec::new());
        assert_eq!(
            c.pause_state(),
            PauseState {
                all: true,
                agents: vec!["b".into()]
            }
        );
        c.resume(None).unwrap();
        // A stored state that cannot be read pauses everything.
        log.set_engine_state(PAUSE_KEY, "garbage").unwrap();
        let c = Constraints::new(Some(log), BTreeMap::new(), Vec::new());
        assert!(c.pause_state().all);
    }
}
