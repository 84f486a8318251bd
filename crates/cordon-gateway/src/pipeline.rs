//! The governed path of one call: classify → policy → allow / deny / hold for a human →
//! forward → one durable evidence record → answer.
//!
//! Invariants: nothing is forwarded unless the policy allowed it or a human approved it; every
//! call leaves exactly one evidence record; the agent gets its answer only after that record is
//! durable, and if it cannot be written the answer is a refusal (fail closed).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use cordon_classify::FsResolver;
use cordon_evidence::{NewRecord, Outcome};
use cordon_policy::{Decision, Policy, ToolCall, Verdict};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, JsonObject,
    ProgressNotificationParam, ProgressToken,
};
use rmcp::service::{Peer, RoleServer};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::approvals::{ApprovalBroker, ApprovalDecision, ApprovalRequest};
use crate::recorder::Recorder;
use crate::upstream::Upstreams;

/// Interval of keep-alive progress notifications while a call waits for a human.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);

/// Who is calling: the agent, its session, and how to reach it while the call is held.
#[derive(Clone)]
pub struct CallContext {
    /// The agent's name.
    pub agent: String,
    /// The session (`sess_<ULID>` or the MCP session id).
    pub session_id: String,
    /// Where to send keep-alive progress (the client's progress token), if it asked for any.
    pub progress: Option<(Peer<RoleServer>, ProgressToken)>,
    /// Cancelled when the agent cancels the request or goes away.
    pub cancel: CancellationToken,
}

/// The engine's shared state for the governed path.
pub struct Pipeline {
    policy: RwLock<Arc<Policy>>,
    recorder: Recorder,
    broker: Arc<ApprovalBroker>,
    upstreams: Arc<Upstreams>,
    /// Working directories of stdio upstreams (to resolve relative paths in diffs).
    cwds: BTreeMap<String, PathBuf>,
    /// One clone per call currently held for approval (shutdown waits for them to record).
    held: Arc<()>,
}

/// A call the policy (or a human) let through, still to be forwarded and recorded.
pub struct Admission {
    call: ToolCall,
    verdict: Verdict,
    outcome: Outcome,
    reviewer: Option<String>,
    diff: Option<String>,
    started: Instant,
    session_id: String,
}

/// The gate's answer: forward, or the refusal to return (already recorded).
pub enum Gate {
    /// Forward the call, then [`Pipeline::finish`] it.
    Pass(Box<Admission>),
    /// Refused; the text says why.
    Refused(String),
}

impl Pipeline {
    /// Assembles the pipeline.
    pub fn new(
        policy: Arc<Policy>,
        recorder: Recorder,
        broker: Arc<ApprovalBroker>,
        upstreams: Arc<Upstreams>,
        cwds: BTreeMap<String, PathBuf>,
    ) -> Pipeline {
        Pipeline {
            policy: RwLock::new(policy),
            recorder,
            broker,
            upstreams,
            cwds,
            held: Arc::new(()),
        }
    }

    /// How many calls are held for approval right now.
    pub fn held_calls(&self) -> usize {
        Arc::strong_count(&self.held).saturating_sub(1)
    }

    /// The policy in force now.
    pub fn policy(&self) -> Arc<Policy> {
        match self.policy.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the policy (hot reload; the caller validated it and recorded its snapshot).
    pub fn set_policy(&self, policy: Arc<Policy>) {
        match self.policy.write() {
            Ok(mut p) => *p = policy,
            Err(poisoned) => *poisoned.into_inner() = policy,
        }
    }

    /// The upstreams.
    pub fn upstreams(&self) -> &Arc<Upstreams> {
        &self.upstreams
    }

    /// The approval broker.
    pub fn broker(&self) -> &Arc<ApprovalBroker> {
        &self.broker
    }

    /// The evidence recorder.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Governs and forwards one `tools/call` for `<server>__<tool>`; the result is what the agent
    /// gets (the upstream's own answer on allow).
    pub async fn call_tool(
        &self,
        ctx: &CallContext,
        server: &str,
        tool: &str,
        arguments: Option<JsonObject>,
    ) -> CallToolResponse {
        let args = arguments.clone().map(Value::Object).unwrap_or(Value::Null);
        let admission = match self.admit(ctx, server, tool, args).await {
            Gate::Pass(admission) => admission,
            Gate::Refused(text) => return refusal(text),
        };
        let forwarded = match self.upstreams.peer(server) {
            Err(error) => Err(error.to_string()),
            Ok(peer) => {
                let mut params = CallToolRequestParams::new(tool.to_owned());
                params.arguments = arguments;
                tokio::select! {
                    result = peer.call_tool_once(params) => {
                        result.map_err(|e| format!("upstream {server} failed: {e}"))
                    }
                    _ = ctx.cancel.cancelled() => Err("cancelled by the agent".to_owned()),
                }
            }
        };
        let (response, error) = match forwarded {
            Ok(response) => {
                let error = match &response {
                    CallToolResponse::Complete(r) if r.is_error == Some(true) => {
                        Some("the tool returned an error result".to_owned())
                    }
                    _ => None,
                };
                (Ok(response), error)
            }
            Err(message) => (Err(message.clone()), Some(message)),
        };
        let failed = response.is_err();
        match self.finish(*admission, failed, error).await {
            Err(text) => refusal(text),
            Ok(()) => match response {
                Ok(response) => response,
                Err(message) => refusal(message),
            },
        }
    }

    /// Classifies and judges a call, holding it for a human if the policy says so. Refusals are
    /// recorded here; a pass must be completed with [`Pipeline::finish`].
    pub async fn admit(&self, ctx: &CallContext, server: &str, tool: &str, args: Value) -> Gate {
        let started = Instant::now();
        let call = ToolCall {
            agent: ctx.agent.clone(),
            server: server.to_owned(),
            tool: tool.to_owned(),
            args,
        };
        let verdict = {
            // Paths are resolved on disk (symlinks, `..`, `~`) against the server's working
            // directory, so a link named `notes.txt` pointing at `.env` is still a secret.
            let policy = self.policy();
            let root = self
                .cwds
                .get(server)
                .cloned()
                .or_else(|| std::env::current_dir().ok())
                .unwrap_or_else(|| PathBuf::from("/"));
            let mut resolver = FsResolver::new(root);
            if let Some(home) = dirs::home_dir() {
                resolver = resolver.with_home(home);
            }
            let classification = policy.classifier().classify_with(&call, &resolver);
            policy.judge(&call, classification)
        };
        let admission = Admission {
            call,
            verdict,
            outcome: Outcome::Allowed,
            reviewer: None,
            diff: None,
            started,
            session_id: ctx.session_id.clone(),
        };
        if !self.upstreams.has_server(server) {
            let text = format!("unknown tool `{server}__{tool}`: no server named `{server}`");
            return self
                .refuse(admission, Outcome::Error, Some(text.clone()), text)
                .await;
        }
        match admission.verdict.decision {
            Decision::Allow => Gate::Pass(Box::new(admission)),
            Decision::Deny => {
                let v = &admission.verdict;
                let text = format!(
                    "Cordon denied this call: rule {}: {} (policy {})",
                    v.rule_id.as_deref().unwrap_or("(default decision)"),
                    v.reason,
                    v.policy_version
                );
                self.refuse(admission, Outcome::Denied, None, text).await
            }
            Decision::RequireApproval => self.hold(ctx, admission).await,
        }
    }

    async fn hold(&self, ctx: &CallContext, mut admission: Admission) -> Gate {
        let _held = self.held.clone();
        let topic = admission.verdict.classification.topic.clone();
        let call = &admission.call;
        if let Some(reviewer) = self.broker.session_grant(
            &call.agent,
            &ctx.session_id,
            &call.server,
            &call.tool,
            &topic,
        ) {
            admission.outcome = Outcome::Approved;
            admission.reviewer = Some(reviewer);
            return Gate::Pass(Box::new(admission));
        }
        let base = self.cwds.get(&call.server).cloned();
        let (tool, args) = (call.tool.clone(), call.args.clone());
        admission.diff = tokio::task::spawn_blocking(move || {
            crate::diff::proposed_diff(&tool, &args, base.as_deref())
        })
        .await
        .unwrap_or(None);
        let v = &admission.verdict;
        let request = ApprovalRequest {
            agent: call.agent.clone(),
            session_id: ctx.session_id.clone(),
            server: call.server.clone(),
            tool: call.tool.clone(),
            action: topic,
            target: v.classification.target.clone(),
            risk_tags: v.classification.risk_tags.iter().cloned().collect(),
            rule_id: v.rule_id.clone(),
            reason: v.reason.clone(),
            diff: admission.diff.clone(),
            args: call.args.clone(),
            policy_version: v.policy_version.clone(),
        };
        let Some((info, ticket)) = self.broker.hold(request) else {
            let text = "Cordon refused this call: the engine is shutting down".to_owned();
            return self
                .refuse(admission, Outcome::Error, Some(text.clone()), text)
                .await;
        };
        tracing::info!(id = %info.id, agent = %info.agent, server = %info.server, tool = %info.tool, "call held for approval");
        // If the agent goes away while we wait, the guard still records the call.
        let mut guard = HeldGuard {
            recorder: &self.recorder,
            broker: &self.broker,
            id: info.id.clone(),
            record: Some(record_of(
                &admission,
                Outcome::Error,
                Some("the agent cancelled the call while it awaited approval".into()),
            )),
        };
        let decision = {
            let wait = ticket.wait(&self.broker);
            tokio::pin!(wait);
            let mut ticks = 0u32;
            loop {
                tokio::select! {
                    decision = &mut wait => break Some(decision),
                    _ = ctx.cancel.cancelled() => break None,
                    _ = tokio::time::sleep(KEEPALIVE_INTERVAL) => {
                        ticks = ticks.saturating_add(1);
                        if let Some((peer, token)) = &ctx.progress {
                            let note = ProgressNotificationParam::new(token.clone(), f64::from(ticks))
                                .with_message(format!("waiting for approval {} (cordon approve {})", info.id, info.id));
                            let _ = peer.notify_progress(note).await;
                        }
                    }
                }
            }
        };
        let Some(decision) = decision else {
            // Dropping the guard records the cancellation.
            return Gate::Refused("cancelled".to_owned());
        };
        guard.record = None;
        drop(guard);
        match decision {
            ApprovalDecision::Approved { reviewer, .. } => {
                admission.outcome = Outcome::Approved;
                admission.reviewer = Some(reviewer);
                Gate::Pass(Box::new(admission))
            }
            ApprovalDecision::Rejected { reviewer, reason } => {
                let text = format!(
                    "Cordon denied this call: rejected by reviewer {reviewer}{} (approval {})",
                    reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default(),
                    info.id
                );
                admission.reviewer = Some(reviewer);
                self.refuse(admission, Outcome::Rejected, reason, text)
                    .await
            }
            ApprovalDecision::TimedOut { after } => {
                let text = format!(
                    "Cordon denied this call: approval timed out after {} with no decision (approval {}, rule {})",
                    human(after),
                    info.id,
                    info.rule_id.as_deref().unwrap_or("(default decision)")
                );
                self.refuse(
                    admission,
                    Outcome::TimedOut,
                    Some("approval timed out".into()),
                    text,
                )
                .await
            }
            ApprovalDecision::Shutdown => {
                let text =
                    "Cordon denied this call: the engine shut down while the call awaited approval"
                        .to_owned();
                self.refuse(admission, Outcome::Error, Some(text.clone()), text)
                    .await
            }
        }
    }

    async fn refuse(
        &self,
        admission: Admission,
        outcome: Outcome,
        error: Option<String>,
        text: String,
    ) -> Gate {
        match self
            .recorder
            .record(record_of(&admission, outcome, error))
            .await
        {
            Ok(()) => Gate::Refused(text),
            Err(e) => Gate::Refused(format!("{text} (and the evidence log failed: {e})")),
        }
    }

    /// Records a forwarded call's outcome. Err = the record failed: return that text instead of
    /// the result.
    pub async fn finish(
        &self,
        admission: Admission,
        failed: bool,
        error: Option<String>,
    ) -> Result<(), String> {
        let outcome = if failed {
            Outcome::Error
        } else {
            admission.outcome
        };
        self.recorder
            .record(record_of(&admission, outcome, error))
            .await
            .map_err(|e| {
                format!("Cordon refused this call: it could not be recorded in the evidence log ({e}); the result is withheld")
            })
    }
}

/// Records a held call whose agent went away (the future was dropped or cancelled).
struct HeldGuard<'a> {
    recorder: &'a Recorder,
    broker: &'a ApprovalBroker,
    id: String,
    record: Option<NewRecord>,
}

impl Drop for HeldGuard<'_> {
    fn drop(&mut self) {
        if let Some(record) = self.record.take() {
            self.broker.forget(&self.id);
            self.recorder.record_detached(record);
        }
    }
}

fn record_of(admission: &Admission, outcome: Outcome, error: Option<String>) -> NewRecord {
    let v = &admission.verdict;
    NewRecord {
        agent: admission.call.agent.clone(),
        session_id: admission.session_id.clone(),
        server: admission.call.server.clone(),
        tool: admission.call.tool.clone(),
        action: v.classification.topic.clone(),
        target: v.classification.target.clone(),
        risk_tags: v.classification.risk_tags.iter().cloned().collect(),
        decision: v.decision.as_str().to_owned(),
        rule_id: v.rule_id.clone(),
        reason: v.reason.clone(),
        policy_version: v.policy_version.clone(),
        reviewer: admission.reviewer.clone(),
        outcome,
        args: admission.call.args.clone(),
        diff: admission.diff.clone(),
        duration_ms: u64::try_from(admission.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        error,
    }
}

/// A tool result with `isError: true` and one text block.
pub fn refusal(text: String) -> CallToolResponse {
    CallToolResponse::Complete(CallToolResult::error(vec![ContentBlock::text(text)]))
}

/// `5m`, `30s`, `500ms`.
pub fn human(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}
