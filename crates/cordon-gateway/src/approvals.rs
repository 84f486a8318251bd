//! The approval broker: calls that wait for a human, and the decisions that release them.
//!
//! An approval is bound to one exact held call (agent, session, server, tool, canonical argument
//! hash, policy version) and is used once: the decision travels over that call's own oneshot
//! channel and the pending entry is removed as it is decided. Expiry refuses (fail closed).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::oneshot;

use crate::error::GatewayError;

/// A call waiting for a human decision, as shown by `cordon approvals` and the desktop app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingApproval {
    /// Short id used by `cordon approve ID`.
    pub id: String,
    /// The calling agent.
    pub agent: String,
    /// The agent's session.
    pub session_id: String,
    /// The upstream server.
    pub server: String,
    /// The tool (without the server prefix).
    pub tool: String,
    /// The topic the call was classified as.
    pub action: String,
    /// A short human-readable target.
    pub target: Option<String>,
    /// Risk tags.
    pub risk_tags: Vec<String>,
    /// The rule that required approval (None = the policy's default decision).
    pub rule_id: Option<String>,
    /// The rule's reason.
    pub reason: String,
    /// The unified diff of a file write, else None.
    pub diff: Option<String>,
    /// What a built-in tool would do, as prepared before review (the diff of a file change,
    /// the commits a push would send, the command to run); None for upstream calls.
    #[serde(default)]
    pub preview: Option<String>,
    /// The call's arguments.
    pub args: Value,
    /// SHA-256 of the canonical arguments: part of the binding.
    pub args_sha256: String,
    /// The policy version that asked: part of the binding.
    pub policy_version: String,
    /// When the call arrived (RFC 3339 UTC).
    pub created_at: String,
    /// When it will be refused if nobody decides (RFC 3339 UTC).
    pub expires_at: String,
}

/// What a reviewer (or the clock) decided about a held call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalDecision {
    /// Let it through.
    Approved {
        /// Who approved.
        reviewer: String,
        /// Whether the same action in this session passes without asking again.
        session: bool,
    },
    /// Refused by a reviewer.
    Rejected {
        /// Who refused.
        reviewer: String,
        /// Why (shown to the agent).
        reason: Option<String>,
    },
    /// Nobody decided within the timeout.
    TimedOut {
        /// The timeout that passed.
        after: Duration,
    },
    /// The engine shut down while the call was held.
    Shutdown,
}

/// How a held call that was not approved ends: one wording for MCP calls and native hook calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The evidence outcome.
    pub outcome: cordon_evidence::Outcome,
    /// The reviewer who refused, if a human did.
    pub reviewer: Option<String>,
    /// The evidence record's `error` field.
    pub error: Option<String>,
    /// What the agent is told.
    pub text: String,
}

impl ApprovalDecision {
    /// The refusal this decision means for approval `id` held under `rule_id`. An approval is not a
    /// refusal: callers handle it first, and if one reaches here anyway the call is refused.
    pub fn refusal(self, id: &str, rule_id: Option<&str>) -> Refusal {
        use cordon_evidence::Outcome;
        match self {
            ApprovalDecision::Rejected { reviewer, reason } => Refusal {
                outcome: Outcome::Rejected,
                text: format!(
                    "Cordon denied this call: rejected by reviewer {reviewer}{} (approval {id})",
                    reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default(),
                ),
                reviewer: Some(reviewer),
                error: reason,
            },
            ApprovalDecision::TimedOut { after } => Refusal {
                outcome: Outcome::TimedOut,
                reviewer: None,
                error: Some("approval timed out".to_owned()),
                text: format!(
                    "Cordon denied this call: approval timed out after {} with no decision (approval {id}, rule {})",
                    crate::pipeline::human(after),
                    rule_id.unwrap_or("(default decision)")
                ),
            },
            ApprovalDecision::Shutdown => {
                let text =
                    "Cordon denied this call: the engine shut down while the call awaited approval"
                        .to_owned();
                Refusal {
                    outcome: Outcome::Error,
                    reviewer: None,
                    error: Some(text.clone()),
                    text,
                }
            }
            ApprovalDecision::Approved { .. } => {
                let text = format!(
                    "Cordon denied this call: approval {id} reached the refusal path (internal error)"
                );
                Refusal {
                    outcome: Outcome::Error,
                    reviewer: None,
                    error: Some(text.clone()),
                    text,
                }
            }
        }
    }
}

/// What a new held call needs to describe itself.
#[derive(Debug, Clone)]
pub struct ApprovalRequest {
    /// The calling agent.
    pub agent: String,
    /// The agent's session.
    pub session_id: String,
    /// The upstream server.
    pub server: String,
    /// The tool.
    pub tool: String,
    /// The topic.
    pub action: String,
    /// A short target.
    pub target: Option<String>,
    /// Risk tags.
    pub risk_tags: Vec<String>,
    /// The rule that asked.
    pub rule_id: Option<String>,
    /// Its reason.
    pub reason: String,
    /// The proposed diff.
    pub diff: Option<String>,
    /// The arguments.
    pub args: Value,
    /// The policy version.
    pub policy_version: String,
}

/// Key of a `--session` grant: the same action by the same agent session.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GrantKey {
    agent: String,
    session_id: String,
    server: String,
    tool: String,
    action: String,
}

struct Entry {
    info: PendingApproval,
    wake: oneshot::Sender<ApprovalDecision>,
}

#[derive(Default)]
struct State {
    pending: HashMap<String, Entry>,
    grants: HashMap<GrantKey, String>,
    closed: bool,
}

/// Holds calls that need a human and hands out the decisions.
pub struct ApprovalBroker {
    timeout: Duration,
    state: Mutex<State>,
}

/// A held call's side of the broker: wait on it for the decision.
pub struct Ticket {
    id: String,
    timeout: Duration,
    wake: oneshot::Receiver<ApprovalDecision>,
}

impl Ticket {
    /// The approval id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Waits for the decision; after the timeout the call is refused and the entry removed.
    pub async fn wait(self, broker: &ApprovalBroker) -> ApprovalDecision {
        let mut wake = self.wake;
        match tokio::time::timeout(self.timeout, &mut wake).await {
            Ok(Ok(decision)) => decision,
            Ok(Err(_)) => ApprovalDecision::Shutdown,
            Err(_) => {
                // Remove first; if a decision raced the clock, it is already in the channel.
                let removed = broker.lock().pending.remove(&self.id).is_some();
                if removed {
                    ApprovalDecision::TimedOut {
                        after: self.timeout,
                    }
                } else {
                    wake.try_recv().unwrap_or(ApprovalDecision::TimedOut {
                        after: self.timeout,
                    })
                }
            }
        }
    }
}

impl ApprovalBroker {
    /// A broker whose held calls expire after `timeout`.
    pub fn new(timeout: Duration) -> ApprovalBroker {
        ApprovalBroker {
            timeout,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Holds a call: returns its ticket, or None when the broker is closed (shutting down).
    pub fn hold(&self, request: ApprovalRequest) -> Option<(PendingApproval, Ticket)> {
        self.hold_with_preview(request, None)
    }

    /// Holds a call whose reviewer also sees a prepared `preview` (built-in tools).
    pub fn hold_with_preview(
        &self,
        request: ApprovalRequest,
        preview: Option<String>,
    ) -> Option<(PendingApproval, Ticket)> {
        let now = OffsetDateTime::now_utc();
        let expires = now + self.timeout;
        let mut state = self.lock();
        if state.closed {
            return None;
        }
        let mut id = short_id();
        while state.pending.contains_key(&id) {
            id = short_id();
        }
        let info = PendingApproval {
            id: id.clone(),
            agent: request.agent,
            session_id: request.session_id,
            server: request.server,
            tool: request.tool,
            action: request.action,
            target: request.target,
            risk_tags: request.risk_tags,
            rule_id: request.rule_id,
            reason: request.reason,
            diff: request.diff,
            preview,
            args_sha256: args_sha256(&request.args),
            args: request.args,
            policy_version: request.policy_version,
            created_at: now.format(&Rfc3339).unwrap_or_default(),
            expires_at: expires.format(&Rfc3339).unwrap_or_default(),
        };
        let (tx, rx) = oneshot::channel();
        state.pending.insert(
            id.clone(),
            Entry {
                info: info.clone(),
                wake: tx,
            },
        );
        Some((
            info,
            Ticket {
                id,
                timeout: self.timeout,
                wake: rx,
            },
        ))
    }

    /// Drops a held call that no longer waits (its agent went away).
    pub fn forget(&self, id: &str) {
        self.lock().pending.remove(id);
    }

    /// The calls waiting now, oldest first.
    pub fn pending(&self) -> Vec<PendingApproval> {
        let state = self.lock();
        let mut list: Vec<_> = state
            .pending
            .values()
            .filter(|e| !e.wake.is_closed())
            .map(|e| e.info.clone())
            .collect();
        list.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        list
    }

    /// Approves a held call (once). With `session`, the same action by the same agent session
    /// later passes without asking.
    pub fn approve(
        &self,
        id: &str,
        session: bool,
        reviewer: &str,
    ) -> Result<PendingApproval, GatewayError> {
        let mut state = self.lock();
        let entry = take_live(&mut state, id)?;
        if session {
            state.grants.insert(
                GrantKey {
                    agent: entry.info.agent.clone(),
                    session_id: entry.info.session_id.clone(),
                    server: entry.info.server.clone(),
                    tool: entry.info.tool.clone(),
                    action: entry.info.action.clone(),
                },
                reviewer.to_owned(),
            );
        }
        let decision = ApprovalDecision::Approved {
            reviewer: reviewer.to_owned(),
            session,
        };
        entry
            .wake
            .send(decision)
            .map_err(|_| GatewayError::UnknownApproval(id.to_owned()))?;
        Ok(entry.info)
    }

    /// Refuses a held call.
    pub fn deny(
        &self,
        id: &str,
        reason: Option<String>,
        reviewer: &str,
    ) -> Result<PendingApproval, GatewayError> {
        let mut state = self.lock();
        let entry = take_live(&mut state, id)?;
        let decision = ApprovalDecision::Rejected {
            reviewer: reviewer.to_owned(),
            reason,
        };
        entry
            .wake
            .send(decision)
            .map_err(|_| GatewayError::UnknownApproval(id.to_owned()))?;
        Ok(entry.info)
    }

    /// The reviewer of the `--session` approval that covers this action, if any.
    pub fn session_grant(
        &self,
        agent: &str,
        session_id: &str,
        server: &str,
        tool: &str,
        action: &str,
    ) -> Option<String> {
        self.lock()
            .grants
            .get(&GrantKey {
                agent: agent.to_owned(),
                session_id: session_id.to_owned(),
                server: server.to_owned(),
                tool: tool.to_owned(),
                action: action.to_owned(),
            })
            .cloned()
    }

    /// Forgets the session grants of a session that ended.
    pub fn end_session(&self, session_id: &str) {
        self.lock().grants.retain(|g, _| g.session_id != session_id);
    }

    /// Refuses every held call and accepts no more (engine shutdown). Returns how many.
    pub fn close(&self) -> usize {
        let mut state = self.lock();
        state.closed = true;
        let entries: Vec<_> = state.pending.drain().collect();
        let count = entries.len();
        for (_, entry) in entries {
            let _ = entry.wake.send(ApprovalDecision::Shutdown);
        }
        count
    }
}

fn take_live(state: &mut State, id: &str) -> Result<Entry, GatewayError> {
    match state.pending.remove(id) {
        Some(entry) if !entry.wake.is_closed() => Ok(entry),
        _ => Err(GatewayError::UnknownApproval(id.to_owned())),
    }
}

/// A short, unguessable-enough approval id: the random tail of a ULID, lowercase.
fn short_id() -> String {
    let text = ulid::Ulid::new().to_string().to_lowercase();
    text.get(text.len().saturating_sub(12)..)
        .unwrap_or(&text)
        .to_owned()
}

/// SHA-256 (hex) of the arguments with object keys sorted: the same call always hashes the same.
pub fn args_sha256(args: &Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(canonical_json(args).as_bytes());
    hex::encode(hasher.finalize())
}

/// JSON text with object keys sorted recursively (key order must not change the binding).
pub fn canonical_json(value: &Value) -> String {
    fn sort(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let keys: BTreeSet<&String> = map.keys().collect();
                let mut out = serde_json::Map::new();
                for key in keys {
                    if let Some(v) = map.get(key) {
                        out.insert(key.clone(), sort(v));
                    }
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(value).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashSet;

    impl ApprovalBroker {
        fn has_grant(&self, a: &str, s: &str, srv: &str, t: &str, act: &str) -> bool {
            self.session_grant(a, s, srv, t, act).is_some()
        }
    }

    fn request(session: &str, args: Value) -> ApprovalRequest {
        ApprovalRequest {
            agent: "claude-code".into(),
            session_id: session.into(),
            server: "fs".into(),
            tool: "write_file".into(),
            action: "job.mcp-bridge.write.file".into(),
            target: Some("/w/a.txt".into()),
            risk_tags: vec!["code-change".into()],
            rule_id: Some("writes-need-approval".into()),
            reason: "writes need a human".into(),
            diff: None,
            args,
            policy_version: "v1-abc".into(),
        }
    }

    #[tokio::test]
    async fn approve_wakes_the_held_call_once() {
        let broker = ApprovalBroker::new(Duration::from_secs(3600));
        let (info, ticket) = broker.hold(request("s1", json!({"path": "a"}))).unwrap();
        assert_eq!(broker.pending().len(), 1);
        assert_eq!(info.args_sha256, args_sha256(&json!({"path": "a"})));
        broker.approve(&info.id, false, "dev").unwrap();
        assert_eq!(
            ticket.wait(&broker).await,
            ApprovalDecision::Approved {
                reviewer: "dev".into(),
                session: false
            }
        );
        // Used once: a second decision on the same id is refused.
        assert!(matches!(
            broker.approve(&info.id, false, "dev"),
            Err(GatewayError::UnknownApproval(_))
        ));
        assert!(broker.deny(&info.id, None, "dev").is_err());
        assert!(broker.pending().is_empty());
        assert!(!broker.has_grant(
            "claude-code",
            "s1",
            "fs",
            "write_file",
            "job.mcp-bridge.write.file"
        ));
    }

    #[tokio::test]
    async fn deny_carries_the_reason() {
        let broker = ApprovalBroker::new(Duration::from_secs(3600));
        let (info, ticket) = broker.hold(request("s1", json!({}))).unwrap();
        broker
            .deny(&info.id, Some("not now".into()), "dev")
            .unwrap();
        assert_eq!(
            ticket.wait(&broker).await,
            ApprovalDecision::Rejected {
                reviewer: "dev".into(),
                reason: Some("not now".into())
            }
        );
    }

    #[tokio::test]
    async fn timeout_refuses_and_removes_the_entry() {
        let broker = ApprovalBroker::new(Duration::from_millis(50));
        let (info, ticket) = broker.hold(request("s1", json!({}))).unwrap();
        let decision = ticket.wait(&broker).await;
        assert_eq!(
            decision,
            ApprovalDecision::TimedOut {
                after: Duration::from_millis(50)
            }
        );
        assert!(broker.approve(&info.id, false, "dev").is_err());
        assert!(broker.pending().is_empty());
    }

    #[tokio::test]
    async fn session_grant_is_scoped_to_agent_session_server_tool_and_topic() {
        let broker = ApprovalBroker::new(Duration::from_secs(3600));
        let (info, ticket) = broker.hold(request("s1", json!({}))).unwrap();
        broker.approve(&info.id, true, "dev").unwrap();
        let _ = ticket.wait(&broker).await;
        let topic = "job.mcp-bridge.write.file";
        assert!(broker.has_grant("claude-code", "s1", "fs", "write_file", topic));
        assert!(!broker.has_grant("claude-code", "s2", "fs", "write_file", topic));
        assert!(!broker.has_grant("cursor", "s1", "fs", "write_file", topic));
        assert!(!broker.has_grant("claude-code", "s1", "other", "write_file", topic));
        assert!(!broker.has_grant("claude-code", "s1", "fs", "edit_file", topic));
        assert!(!broker.has_grant(
            "claude-code",
            "s1",
            "fs",
            "write_file",
            "job.mcp-bridge.git.push"
        ));
        broker.end_session("s1");
        assert!(!broker.has_grant("claude-code", "s1", "fs", "write_file", topic));
    }

    #[tokio::test]
    async fn an_abandoned_call_cannot_be_approved() {
        let broker = ApprovalBroker::new(Duration::from_secs(3600));
        let (info, ticket) = broker.hold(request("s1", json!({}))).unwrap();
        drop(ticket);
        assert!(broker.pending().is_empty());
        assert!(broker.approve(&info.id, true, "dev").is_err());
        assert!(!broker.has_grant(
            "claude-code",
            "s1",
            "fs",
            "write_file",
            "job.mcp-bridge.write.file"
        ));
    }

    #[tokio::test]
    async fn close_refuses_everything_held_and_later() {
        let broker = ApprovalBroker::new(Duration::from_secs(3600));
        let (_, ticket) = broker.hold(request("s1", json!({}))).unwrap();
        assert_eq!(broker.close(), 1);
        assert_eq!(ticket.wait(&broker).await, ApprovalDecision::Shutdown);
        assert!(broker.hold(request("s1", json!({}))).is_none());
    }

    #[test]
    fn canonical_hash_ignores_key_order_but_not_values() {
        let a: Value =
            serde_json::from_str(r#"{"b":1,"a":{"y":2,"x":[3,{"q":1,"p":2}]}}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{"a":{"x":[3,{"p":2,"q":1}],"y":2},"b":1}"#).unwrap();
        assert_eq!(args_sha256(&a), args_sha256(&b));
        assert_ne!(args_sha256(&a), args_sha256(&json!({"b":2})));
        assert_ne!(args_sha256(&json!([1, 2])), args_sha256(&json!([2, 1])));
    }

    #[test]
    fn ids_are_short_and_distinct() {
        let ids: HashSet<String> = (0..1000).map(|_| short_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|id| id.len() == 12));
    }
}
