//! The gate: the one place a governed operation's fate is decided, whatever the transport.
//!
//! Every `tools/call` (upstream or built-in), `resources/read`, `prompts/get` and native hook
//! goes admit (classify, policy, exfiltration, constraints, pins) → hold for a human if the
//! policy says so → record the intent → perform → record the outcome. Transports (the MCP
//! server, the control socket's hook op) only adapt requests and answers.
//!
//! Invariants (write-ahead evidence):
//! - nothing is forwarded, executed or (for a hook) allowed unless the policy allowed it or a
//!   human approved it, AND its intent record (agent, session, call, decision, rule, approval) is
//!   fsynced; a call whose intent cannot be recorded is refused and never performed;
//! - a held call leaves a `pending` intent before it waits; the approval is a second intent;
//! - the outcome record (closing the intent) is committed before the agent gets its answer; if
//!   it cannot be written the result is withheld (the intent stays open and the next start
//!   closes it as `interrupted`); an admission dropped without its outcome (the agent went away
//!   mid-call) records an `error` outcome on its own;
//! - a call refused before anything ran leaves one complete record (no phase);
//! - the policy changes only through [`Pipeline::apply_policy`], which records it first.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use cordon_classify::{Classification, FsResolver};
use cordon_evidence::{Durability, NewRecord, Outcome, Phase};
use cordon_policy::{Decision, Policy, ToolCall, Verdict};
use cordon_secrets::{
    CREDENTIALS_TAG, EXFILTRATION_RULE, EXFILTRATION_TOPIC, Redactor, ToolPins, exfiltration_reason,
};
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResponse, CallToolResult,
    CancelledNotificationParam, ClientRequest, ContentBlock, JsonObject, ProgressNotificationParam,
    ProgressToken, RequestId, ServerResult,
};
use rmcp::service::{Peer, PeerRequestOptions, RoleClient, RoleServer};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::approvals::{ApprovalBroker, ApprovalDecision, ApprovalRequest, HoldRefused};
use crate::builtin::Builtin;
use crate::config::BUILTIN_SERVER;
use crate::constraints::{Constraints, Governed, PauseState, THROTTLE_DECISION};
use crate::recorder::Recorder;
use crate::retry::Retry;
use crate::upstream::Upstreams;

/// Longest an upstream's answer waits for the progress it sent before it to reach the agent (an
/// agent that reads nothing must not hold answers longer).
const PROGRESS_ORDER_PATIENCE: Duration = Duration::from_secs(1);

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

/// The policy in force, shared by the gate and the upstreams' tool pinning (whose records
/// cite it). Read by anyone; replaced only by [`Pipeline::apply_policy`].
#[derive(Clone)]
pub struct PolicyCell(Arc<RwLock<Arc<Policy>>>);

impl PolicyCell {
    /// A cell holding `policy` (which the caller recorded in the evidence log).
    pub fn new(policy: Arc<Policy>) -> PolicyCell {
        PolicyCell(Arc::new(RwLock::new(policy)))
    }

    /// The policy in force now.
    pub fn get(&self) -> Arc<Policy> {
        match self.0.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace(&self, policy: Arc<Policy>) {
        match self.0.write() {
            Ok(mut p) => *p = policy,
            Err(poisoned) => *poisoned.into_inner() = policy,
        }
    }
}

impl From<Arc<Policy>> for PolicyCell {
    fn from(policy: Arc<Policy>) -> PolicyCell {
        PolicyCell::new(policy)
    }
}

/// The engine's shared state for the governed path.
pub struct Pipeline {
    policy: PolicyCell,
    recorder: Recorder,
    broker: Arc<ApprovalBroker>,
    upstreams: Arc<Upstreams>,
    /// Working directories of stdio upstreams (to resolve relative paths in diffs).
    cwds: BTreeMap<String, PathBuf>,
    /// One clone per call currently held for approval (shutdown waits for them to record).
    held: Arc<()>,
    /// Cordon's own workspace tools (the `cordon` server).
    builtin: Arc<Builtin>,
    /// Every secret an upstream received: redacted from what leaves, refused in what comes in.
    redactor: Arc<Redactor>,
    /// The tool pins (for approvals made through the control socket).
    pins: Option<Arc<ToolPins>>,
    /// The kill switch, blast radius and limits (issue 9).
    constraints: Arc<Constraints>,
    /// The organisation policy (issue 18), when the config names one: local policy changes
    /// are layered on it.
    org_policy: std::sync::OnceLock<Arc<crate::orgpolicy::OrgPolicy>>,
    /// The bytes of agents' requests every transport may hold at once, together.
    request_budget: Arc<crate::budget::RequestBudget>,
}

/// A call on its way through the gate. Once passed, its intent is durable (`intent_id`), and
/// it must be completed with [`Pipeline::finish`]; dropped without that (the agent went away
/// mid-call), it records an `error` outcome on its own.
pub struct Admission {
    call: ToolCall,
    verdict: Verdict,
    outcome: Outcome,
    reviewer: Option<String>,
    /// How the approval reached the engine (the evidence's `approval_channel`).
    approval_channel: Option<String>,
    diff: Option<String>,
    started: Instant,
    session_id: String,
    governed: Governed,
    /// The held (`pending`) intent, while or after the call waited for a human.
    held_intent: Option<String>,
    /// The approval id, if a human was asked.
    approval_id: Option<String>,
    /// The durable intent of a passed call.
    intent_id: Option<String>,
    /// Set while the intent is open: records the outcome if the admission is dropped.
    open: Option<Recorder>,
    /// What a multi-round-trip retry carries besides the arguments: a reviewer sees it.
    carried: Option<Value>,
}

impl Admission {
    /// The rule that decided.
    pub fn rule_id(&self) -> Option<&str> {
        self.verdict.rule_id.as_deref()
    }

    /// The policy's reason.
    pub fn reason(&self) -> &str {
        &self.verdict.reason
    }

    /// `allowed`, or `approved` when a human (or a session grant) let it through.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// Who approved it, if a human did.
    pub fn reviewer(&self) -> Option<&str> {
        self.reviewer.as_deref()
    }

    /// The approval id, if a human was asked.
    pub fn approval_id(&self) -> Option<&str> {
        self.approval_id.as_deref()
    }

    /// The id of its durable intent record (set once passed).
    pub fn intent_id(&self) -> Option<&str> {
        self.intent_id.as_deref()
    }

    /// The upstream time limit the policy sets for it.
    pub fn timeout(&self) -> Option<Duration> {
        self.governed.timeout
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some(recorder) = self.open.take() {
            let error = "the agent went away before the call's outcome was known".to_owned();
            let record = outcome_record(self, Outcome::Error, Some(error));
            recorder.record_detached(record);
        }
    }
}

/// Why the gate refused a call (already recorded).
#[derive(Debug, Clone)]
pub struct Refused {
    /// What the agent is told.
    pub text: String,
    /// How the call ended in the evidence.
    pub outcome: Outcome,
    /// The rule that decided, if any.
    pub rule_id: Option<String>,
    /// The approval id, if a human was asked.
    pub approval_id: Option<String>,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// The gate's answer: perform, or the refusal to return (already recorded).
pub enum Gate {
    /// Its intent is durable: perform the call, then [`Pipeline::finish`] it.
    Pass(Box<Admission>),
    /// Refused; nothing may run.
    Refused(Refused),
}

/// What the gate is asked to judge, besides who asks ([`CallContext`]).
pub struct Subject<'a> {
    /// The server (`native` for hooks, `cordon` for built-in tools).
    pub server: &'a str,
    /// The tool (or `resources/read`, `prompts/get`).
    pub tool: &'a str,
    /// The arguments.
    pub args: Value,
    /// Where relative paths resolve (default: the server's working directory).
    pub base: Option<PathBuf>,
    /// The blast radius when the config names none for the agent (hooks: their cwd).
    pub roots: Option<Vec<PathBuf>>,
    /// The gateway's own classification (requests that are not tool calls).
    pub classification: Option<Classification>,
    /// Apply the runtime constraints (kill switch, blast radius, limits).
    pub constrained: bool,
    /// What a multi-round-trip retry carries to the upstream besides the arguments
    /// ([`Retry::carried`]): checked for secrets like the arguments, not classified.
    pub carried: Option<Value>,
}

/// What the reviewer of a held call sees besides the arguments.
pub enum Review {
    /// An upstream call: a file write's diff is computed from its arguments.
    Upstream,
    /// A native hook's call: a write's diff is computed against the file under the agent's
    /// working directory.
    Native {
        /// The agent's working directory.
        cwd: PathBuf,
    },
    /// Prepared by the caller: the diff (file changes, pushes) and a preview.
    Prepared {
        /// The diff shown.
        diff: Option<String>,
        /// A preview (e.g. a push's commits).
        preview: Option<String>,
    },
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
            policy: PolicyCell::new(policy),
            recorder,
            broker,
            upstreams,
            cwds,
            held: Arc::new(()),
            builtin: Arc::new(Builtin::disabled()),
            redactor: Arc::new(Redactor::empty()),
            pins: None,
            constraints: Arc::new(Constraints::default()),
            org_policy: std::sync::OnceLock::new(),
            request_budget: crate::budget::RequestBudget::new(crate::budget::DEFAULT_MIB),
        }
    }

    /// The budget every transport charges requests to (`requests_in_flight_mib`).
    pub fn with_request_budget(mut self, mib: u32) -> Pipeline {
        self.request_budget = crate::budget::RequestBudget::new(mib);
        self
    }

    /// The bytes of agents' requests every transport may hold at once (see [`crate::budget`]).
    pub fn request_budget(&self) -> &Arc<crate::budget::RequestBudget> {
        &self.request_budget
    }

    /// The kill switch, blast radius and limits state (persisted with the evidence).
    pub fn with_constraints(mut self, constraints: Arc<Constraints>) -> Pipeline {
        self.constraints = constraints;
        self
    }

    /// The runtime constraints.
    pub fn constraints(&self) -> &Arc<Constraints> {
        &self.constraints
    }

    /// Pauses every agent (None) or one: from now on their calls are refused (and recorded),
    /// and their calls held for approval are denied. The state is stored before it returns.
    pub fn pause(&self, agent: Option<&str>) -> Result<PauseState, String> {
        if let Some(a) = agent
            && !crate::config::is_valid_name(a)
        {
            return Err(format!("invalid agent name `{a}`: use [a-z0-9-]+"));
        }
        let state = self.constraints.pause(agent)?;
        for pending in self.broker.pending() {
            if agent.is_none_or(|a| a == pending.agent) {
                let _ = self.broker.deny(
                    &pending.id,
                    Some("Cordon was paused (kill switch)".to_owned()),
                    "kill-switch",
                );
            }
        }
        tracing::warn!(agent = agent.unwrap_or("(all)"), "paused");
        Ok(state)
    }

    /// Resumes every agent (None) or one.
    pub fn resume(&self, agent: Option<&str>) -> Result<PauseState, String> {
        let state = self.constraints.resume(agent)?;
        tracing::info!(agent = agent.unwrap_or("(all)"), "resumed");
        Ok(state)
    }

    /// The tool pins approvals go to (the same file the upstreams check).
    pub fn with_pins(mut self, pins: Arc<ToolPins>) -> Pipeline {
        self.pins = Some(pins);
        self
    }

    /// The tool pins, if pinning is on.
    pub fn pins(&self) -> Option<&Arc<ToolPins>> {
        self.pins.as_ref()
    }

    /// Redacts these secrets from every answer and refuses calls whose arguments carry one.
    /// (Give the [`Recorder`] the same redactor so evidence records are clean too.)
    pub fn with_redactor(mut self, redactor: Arc<Redactor>) -> Pipeline {
        self.redactor = redactor;
        self
    }

    /// The redactor of the secrets upstreams received.
    pub fn redactor(&self) -> &Arc<Redactor> {
        &self.redactor
    }

    /// The exfiltration check, after the policy: arguments carrying a known secret (in any
    /// form) are denied whatever the policy said, under their own topic and the `credentials`
    /// tag. The record is redacted by the recorder, so the value is never stored.
    pub fn check_exfiltration(&self, call: &ToolCall, verdict: &mut Verdict) {
        self.deny_secrets_in(&call.args, verdict);
    }

    /// The exfiltration check's verdict on anything the agent sends on (arguments, or what a
    /// retry carries).
    fn deny_secrets_in(&self, sent: &Value, verdict: &mut Verdict) {
        if let Some(name) = self.redactor.contains_secret(sent) {
            verdict.decision = Decision::Deny;
            verdict.rule_id = Some(EXFILTRATION_RULE.to_owned());
            verdict.reason = exfiltration_reason(&name);
            verdict.classification.topic = EXFILTRATION_TOPIC.to_owned();
            verdict
                .classification
                .risk_tags
                .insert(CREDENTIALS_TAG.to_owned());
        }
    }

    /// The answer with every known secret redacted (a result that cannot be redacted is
    /// withheld).
    pub fn redact_response(&self, response: CallToolResponse) -> CallToolResponse {
        let redacted = match response {
            CallToolResponse::Complete(r) => {
                crate::secrets::redact_message(&self.redactor, r).map(CallToolResponse::Complete)
            }
            CallToolResponse::InputRequired(r) => crate::secrets::redact_message(&self.redactor, r)
                .map(CallToolResponse::InputRequired),
            CallToolResponse::Task(r) => {
                crate::secrets::redact_message(&self.redactor, r).map(CallToolResponse::Task)
            }
            // A kind of answer Cordon cannot inspect is not passed on.
            _ if self.redactor.is_empty() => Ok(response),
            _ => Err("an answer of an unknown kind cannot be checked for secrets".to_owned()),
        };
        redacted.unwrap_or_else(|error| refusal(format!("Cordon withheld this result: {error}")))
    }

    /// Serves Cordon's built-in workspace tools too (the `cordon` server).
    pub fn with_builtin(mut self, builtin: Builtin) -> Pipeline {
        self.builtin = Arc::new(builtin);
        self
    }

    /// The built-in tools.
    pub fn builtin(&self) -> &Builtin {
        &self.builtin
    }

    /// How many calls are held for approval right now.
    pub fn held_calls(&self) -> usize {
        Arc::strong_count(&self.held).saturating_sub(1)
    }

    /// The policy in force now.
    pub fn policy(&self) -> Arc<Policy> {
        self.policy.get()
    }

    /// Attaches the organisation policy (once, at start).
    pub fn set_org_policy(&self, org: Arc<crate::orgpolicy::OrgPolicy>) {
        let _ = self.org_policy.set(org);
    }

    /// The organisation policy, when the config names one.
    pub fn org_policy(&self) -> Option<&Arc<crate::orgpolicy::OrgPolicy>> {
        self.org_policy.get()
    }

    /// Shares the policy cell with whoever must cite the policy in force (tool pinning).
    pub fn with_policy_cell(mut self, cell: PolicyCell) -> Pipeline {
        cell.replace(self.policy.get());
        self.policy = cell;
        self
    }

    /// The one way to change the policy (hot reload): its snapshot is recorded in the evidence
    /// log first, so no record can cite a version the log does not hold; then it is in force.
    /// Returns the version. Blocking (one SQLite write).
    pub fn apply_policy(&self, policy: Policy) -> Result<String, cordon_evidence::EvidenceError> {
        // Cordon's own paths (from the engine's config) stay protected whatever the new policy
        // says: they belong to the engine, not to a policy file, and a reload must not drop them.
        let protect = self.policy.get().classifier().cordon_paths().clone();
        let policy = policy.with_cordon_paths(protect);
        let sources: Vec<(String, String)> = policy
            .sources()
            .iter()
            .map(|s| (s.name.clone(), s.text.clone()))
            .collect();
        let version = policy.version().to_owned();
        self.recorder.log().record_policy(&version, &sources)?;
        self.policy.replace(Arc::new(policy));
        tracing::info!(%version, "policy in force");
        Ok(version)
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

    /// Governs and forwards one `tools/call` for `<server>__<tool>` (with what a
    /// multi-round-trip `retry` carries); the result is what the agent gets (the upstream's own
    /// answer on allow).
    pub async fn call_tool(
        &self,
        ctx: &CallContext,
        server: &str,
        tool: &str,
        arguments: Option<JsonObject>,
        retry: Retry,
    ) -> CallToolResponse {
        let response = self
            .call_tool_unredacted(ctx, server, tool, arguments, retry)
            .await;
        self.redact_response(response)
    }

    async fn call_tool_unredacted(
        &self,
        ctx: &CallContext,
        server: &str,
        tool: &str,
        arguments: Option<JsonObject>,
        retry: Retry,
    ) -> CallToolResponse {
        let args = arguments.clone().map(Value::Object).unwrap_or(Value::Null);
        if let Some(why) = self.upstreams.withheld(server, tool) {
            // A tool whose definition changed since the user approved it (rug pull): refused
            // and recorded, whatever the policy says.
            // Refused whatever happens: the constraints need not count it.
            let mut admission = self.assess(ctx, Subject::upstream(server, tool, args, false));
            let v = &mut admission.verdict;
            v.decision = Decision::Deny;
            v.rule_id = Some(crate::upstream::TOOL_PIN_RULE.to_owned());
            v.reason = why.clone();
            let text = format!("Cordon refused this call: {why}");
            return gate_refusal(self.refuse(admission, Outcome::Denied, None, text).await);
        }
        let admission = match self.admit(ctx, server, tool, args, &retry).await {
            Gate::Pass(admission) => admission,
            Gate::Refused(refused) => return refusal(refused.text),
        };
        let forwarded = match self.upstreams.peer(server) {
            Err(error) => Err(error.to_string()),
            Ok(peer) => {
                let mut params = retry.onto_call(CallToolRequestParams::new(tool.to_owned()));
                params.arguments = arguments;
                self.forward(ctx, server, peer, params, admission.governed.timeout)
                    .await
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

    /// Sends an allowed call upstream: the agent's progress notifications are relayed back, and
    /// if the agent cancels (or goes away) the upstream gets `notifications/cancelled`.
    async fn forward(
        &self,
        ctx: &CallContext,
        server: &str,
        peer: Peer<RoleClient>,
        params: CallToolRequestParams,
        timeout: Option<Duration>,
    ) -> Result<CallToolResponse, String> {
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        let failed = |e: rmcp::service::ServiceError| format!("upstream {server} failed: {e}");
        let handle = peer
            .send_request_with_option(request, PeerRequestOptions::no_options())
            .await
            .map_err(failed)?;
        let route = ctx.progress.clone().map(|(agent, token)| {
            self.upstreams
                .route_progress(server, handle.progress_token.clone(), agent, token)
        });
        let mut abandon = CancelUpstream {
            peer: Some(peer),
            id: handle.id.clone(),
        };
        let deadline = async {
            match timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending::<()>().await,
            }
        };
        // On a timeout `abandon` stays armed: the upstream is told to stop.
        let result = tokio::select! {
            result = handle.await_response() => result.map_err(failed),
            _ = ctx.cancel.cancelled() => return Err("cancelled by the agent".to_owned()),
            _ = deadline => {
                let limit = timeout.map(human).unwrap_or_default();
                return Err(format!(
                    "Cordon cut this call: upstream `{server}` did not answer within {limit} (policy limit upstream_timeout); the upstream was told to cancel it"
                ));
            }
        };
        // Progress the upstream sent before its answer reaches the agent first.
        if let Some(route) = &route {
            route.settled(PROGRESS_ORDER_PATIENCE).await;
        }
        abandon.peer = None;
        match result? {
            ServerResult::CallToolResult(result) => Ok(CallToolResponse::Complete(result)),
            ServerResult::InputRequiredResult(result) => {
                Ok(CallToolResponse::InputRequired(result))
            }
            ServerResult::CreateTaskResult(result) => Ok(CallToolResponse::Task(result)),
            ServerResult::EmptyResult(_) => Ok(CallToolResponse::Complete(
                CallToolResult::success(Vec::new()),
            )),
            _ => Err(format!(
                "upstream {server} answered tools/call with something that is not a tool result"
            )),
        }
    }

    /// Governs and runs one call of a built-in tool (`tool` is its own name, e.g. `file_write`):
    /// judged like any call; file changes and pushes are prepared first so the reviewer sees
    /// the diff or push preview, and the very prepared change is what runs after approval.
    pub async fn call_builtin(
        self: &Arc<Self>,
        ctx: &CallContext,
        tool: &str,
        arguments: Option<JsonObject>,
    ) -> CallToolResponse {
        // In a task of its own: file work cannot be interrupted (a command or git is stopped,
        // but only once it notices), and the one evidence record must be written even if the
        // agent stops waiting for the answer. A
        // held call still notices the agent's cancellation through `ctx.cancel`.
        let Some(slot) = self.builtin.running_slot(&ctx.agent) else {
            return self.redact_response(self.refuse_running_limit(ctx, tool, arguments).await);
        };
        let (pipeline, ctx, tool) = (self.clone(), ctx.clone(), tool.to_owned());
        let response = tokio::spawn(async move {
            let response = pipeline.run_builtin(&ctx, &tool, arguments).await;
            drop(slot);
            response
        })
        .await
        .unwrap_or_else(|e| {
            refusal(format!(
                "Cordon: the {BUILTIN_SERVER} tool task failed: {e}"
            ))
        });
        self.redact_response(response)
    }

    /// A built-in call as the gate judges it: relative paths resolve against the workspace.
    fn builtin_subject<'a>(&self, tool: &'a str, args: Value) -> Subject<'a> {
        let usable = self.builtin.workspace().is_ok();
        Subject {
            base: self.builtin.first_root(),
            ..Subject::upstream(BUILTIN_SERVER, tool, args, usable)
        }
    }

    /// Refuses (and records) a built-in call beyond the agent's running calls.
    async fn refuse_running_limit(
        &self,
        ctx: &CallContext,
        tool: &str,
        arguments: Option<JsonObject>,
    ) -> CallToolResponse {
        let args = arguments.map(Value::Object).unwrap_or(Value::Null);
        let mut admission = self.assess(ctx, self.builtin_subject(tool, args));
        let v = &mut admission.verdict;
        v.decision = Decision::Deny;
        v.rule_id = Some(crate::builtin::RUNNING_LIMIT_RULE.to_owned());
        v.reason = format!(
            "agent `{}` already has {} built-in calls running (calls it cancelled count until \
             they end): wait for them",
            cordon_text::visible(&ctx.agent),
            crate::builtin::MAX_RUNNING_PER_AGENT
        );
        let text = format!(
            "Cordon denied this call: rule {}: {}",
            crate::builtin::RUNNING_LIMIT_RULE,
            v.reason
        );
        gate_refusal(self.refuse(admission, Outcome::Denied, None, text).await)
    }

    async fn run_builtin(
        &self,
        ctx: &CallContext,
        tool: &str,
        arguments: Option<JsonObject>,
    ) -> CallToolResponse {
        let args = arguments.map(Value::Object).unwrap_or(Value::Null);
        let mut admission = self.assess(ctx, self.builtin_subject(tool, args.clone()));
        let workspace = match self.builtin.workspace() {
            Ok(ws) => ws.clone(),
            Err(reason) => {
                let text = format!("Cordon refused this call: {reason}");
                return gate_refusal(
                    self.refuse(admission, Outcome::Error, Some(reason.to_owned()), text)
                        .await,
                );
            }
        };
        if admission.verdict.decision == Decision::Deny {
            return gate_refusal(self.decide(ctx, admission, Review::Upstream).await);
        }
        let prepared = {
            let (ws, tool, args) = (workspace.clone(), tool.to_owned(), args);
            tokio::task::spawn_blocking(move || ws.prepare(&tool, &args)).await
        };
        let prepared = match prepared {
            Ok(Ok(prepared)) => prepared,
            Ok(Err(error)) => {
                let text = format!("Cordon refused this call: {tool}: {error}");
                return gate_refusal(
                    self.refuse(admission, Outcome::Error, Some(error.to_string()), text)
                        .await,
                );
            }
            Err(join) => {
                let text =
                    format!("Cordon refused this call: {tool} could not be prepared ({join})");
                return gate_refusal(
                    self.refuse(admission, Outcome::Error, Some(text.clone()), text)
                        .await,
                );
            }
        };
        let preview = prepared.preview().map(str::to_owned);
        let diff = match tool {
            "file_write" | "file_edit" | "git_push" => preview.clone(),
            _ => None,
        };
        if let Some(target) = prepared.target()
            && admission.verdict.classification.target.is_none()
        {
            admission.verdict.classification.target = Some(target.display().to_string());
        }
        let admission = match self
            .decide(ctx, admission, Review::Prepared { diff, preview })
            .await
        {
            Gate::Pass(admission) => admission,
            Gate::Refused(refused) => return refusal(refused.text),
        };
        let cancel = ctx.cancel.clone();
        let ran = tokio::task::spawn_blocking(move || {
            workspace.execute_unless(prepared, Some(&move || cancel.is_cancelled()))
        })
        .await;
        let (response, failed, error) = match ran {
            Ok(Ok(output)) => {
                let error = output
                    .is_error
                    .then(|| "the tool returned an error result".to_owned());
                let mut result = if output.is_error {
                    CallToolResult::error(vec![ContentBlock::text(output.text)])
                } else {
                    CallToolResult::success(vec![ContentBlock::text(output.text)])
                };
                result.structured_content = output.structured;
                (CallToolResponse::Complete(result), false, error)
            }
            Ok(Err(error)) => (
                refusal(format!("{tool}: {error}")),
                true,
                Some(error.to_string()),
            ),
            Err(join) => {
                let text = format!("{tool} failed: {join}");
                (refusal(text.clone()), true, Some(text))
            }
        };
        match self.finish(*admission, failed, error).await {
            Err(text) => refusal(text),
            Ok(()) => response,
        }
    }

    /// Classifies and judges a call, holding it for a human if the policy says so, and records
    /// its intent. Refusals are recorded here; a pass must be completed with
    /// [`Pipeline::finish`].
    pub async fn admit(
        &self,
        ctx: &CallContext,
        server: &str,
        tool: &str,
        args: Value,
        retry: &Retry,
    ) -> Gate {
        self.admit_as(ctx, server, tool, args, None, retry).await
    }

    /// Like [`Pipeline::admit`], with the gateway's own classification of a request that is not
    /// a tool call (e.g. `prompts/get`) instead of the classifier's.
    pub async fn admit_as(
        &self,
        ctx: &CallContext,
        server: &str,
        tool: &str,
        args: Value,
        classification: Option<Classification>,
        retry: &Retry,
    ) -> Gate {
        let known = self.upstreams.has_server(server);
        let admission = self.assess(
            ctx,
            Subject {
                classification,
                carried: retry.carried(),
                ..Subject::upstream(server, tool, args, known)
            },
        );
        if !known {
            let text = format!("unknown tool `{server}__{tool}`: no server named `{server}`");
            return self
                .refuse(admission, Outcome::Error, Some(text.clone()), text)
                .await;
        }
        self.decide(ctx, admission, Review::Upstream).await
    }

    /// The whole gate for any subject: assess, then [`Pipeline::decide`].
    pub async fn gate(&self, ctx: &CallContext, subject: Subject<'_>, review: Review) -> Gate {
        let admission = self.assess(ctx, subject);
        self.decide(ctx, admission, review).await
    }

    /// Records a call to a tool that does not exist (`text` says why) and returns the refusal
    /// text: a probe for tools leaves evidence like any call.
    pub async fn refuse_unknown(
        &self,
        ctx: &CallContext,
        server: &str,
        tool: &str,
        args: Value,
        text: String,
    ) -> String {
        let admission = self.assess(ctx, Subject::upstream(server, tool, args, false));
        match self
            .refuse(admission, Outcome::Error, Some(text.clone()), text)
            .await
        {
            Gate::Refused(refused) => refused.text,
            Gate::Pass(_) => "Cordon refused this call".to_owned(),
        }
    }

    fn base(&self, server: &str, base: Option<PathBuf>) -> PathBuf {
        base.or_else(|| self.cwds.get(server).cloned())
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| PathBuf::from("/"))
    }

    fn resolver(&self, base: PathBuf) -> FsResolver {
        let resolver = FsResolver::new(base);
        match dirs::home_dir() {
            Some(home) => resolver.with_home(home),
            None => resolver,
        }
    }

    /// Assesses one call before the gate acts on it: classifies it (unless a classification is
    /// given), evaluates the policy, checks exfiltration and applies the runtime constraints
    /// when the subject asks for them.
    fn assess(&self, ctx: &CallContext, subject: Subject<'_>) -> Admission {
        let started = Instant::now();
        let call = ToolCall {
            agent: ctx.agent.clone(),
            server: subject.server.to_owned(),
            tool: subject.tool.to_owned(),
            args: subject.args,
        };
        let (verdict, governed) = {
            // Paths are resolved on disk (symlinks, `..`, `~`) against the server's working
            // directory, so a link named `notes.txt` pointing at `.env` is still a secret.
            let policy = self.policy();
            let base = self.base(subject.server, subject.base);
            let classification = subject.classification.unwrap_or_else(|| {
                policy
                    .classifier()
                    .classify_with(&call, &self.resolver(base.clone()))
            });
            let mut verdict = policy.evaluate_classified(&call, classification);
            self.check_exfiltration(&call, &mut verdict);
            if let Some(carried) = &subject.carried {
                self.deny_secrets_in(carried, &mut verdict);
            }
            // A call refused before it could run (a withheld tool, an unknown server, no
            // workspace) is not counted against budgets.
            let governed = if subject.constrained {
                self.constraints.govern(
                    &policy,
                    &call,
                    &mut verdict,
                    &ctx.session_id,
                    &base,
                    subject.roots,
                )
            } else {
                Governed::default()
            };
            (verdict, governed)
        };
        Admission {
            call,
            verdict,
            outcome: Outcome::Allowed,
            reviewer: None,
            approval_channel: None,
            diff: None,
            started,
            session_id: ctx.session_id.clone(),
            governed,
            held_intent: None,
            approval_id: None,
            intent_id: None,
            open: None,
            carried: subject.carried,
        }
    }

    /// Acts on the verdict: pass (intent recorded), refuse (recorded) or hold for a human.
    pub(crate) async fn decide(
        &self,
        ctx: &CallContext,
        mut admission: Admission,
        review: Review,
    ) -> Gate {
        if let Review::Prepared { diff, .. } = &review {
            admission.diff = diff.clone();
        }
        match admission.verdict.decision {
            Decision::Allow => {
                if let Some(wait) = admission.governed.throttle {
                    // A rate limit with `on_limit: throttle`: the slot is reserved; wait for it.
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = ctx.cancel.cancelled() => {
                            let text = "cancelled by the agent while throttled".to_owned();
                            return self
                                .refuse(admission, Outcome::Error, Some(text.clone()), text)
                                .await;
                        }
                    }
                    // The kill switch may have been pulled while the call waited.
                    let policy = self.policy();
                    if let Some(reason) = self.constraints.paused(&admission.call.agent, &policy) {
                        let v = &mut admission.verdict;
                        v.decision = Decision::Deny;
                        v.rule_id = Some(crate::constraints::PAUSE_RULE.to_owned());
                        v.reason = reason.clone();
                        let text = format!("Cordon denied this call: rule pause: {reason}");
                        return self.refuse(admission, Outcome::Denied, None, text).await;
                    }
                }
                self.pass(admission).await
            }
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
            Decision::RequireApproval => self.hold(ctx, admission, review).await,
        }
    }

    /// Write-ahead: the intent is fsynced before the call may run; if it cannot be, the call
    /// is refused.
    async fn pass(&self, mut admission: Admission) -> Gate {
        let mut intent = record_of(&admission, admission.outcome, None);
        intent.phase = Some(Phase::Intent);
        intent.intent_id = admission.held_intent.clone();
        match self.recorder.append(intent, Durability::Synced).await {
            Ok(id) => {
                admission.intent_id = Some(id);
                admission.open = Some(self.recorder.clone());
                Gate::Pass(Box::new(admission))
            }
            Err(error) => {
                let text = format!(
                    "Cordon refused this call: its intent could not be recorded in the evidence log ({error}); nothing was run"
                );
                self.refuse(admission, Outcome::Error, Some(text.clone()), text)
                    .await
            }
        }
    }

    async fn hold(&self, ctx: &CallContext, mut admission: Admission, review: Review) -> Gate {
        let _held = self.held.clone();
        let topic = admission.verdict.classification.topic.clone();
        let call = &admission.call;
        if let Some(grant) = self.broker.session_grant(
            &call.agent,
            &ctx.session_id,
            &call.server,
            &call.tool,
            &topic,
            admission.verdict.classification.target.as_deref(),
        ) {
            admission.outcome = Outcome::Approved;
            admission.reviewer = Some(grant.reviewer);
            admission.approval_channel = Some(format!("session-grant/{}", grant.channel));
            self.constraints.charge(&admission.governed);
            return self.pass(admission).await;
        }
        // The directory the call's paths resolve against: the reviewer sees paths relative to it.
        let mut root: Option<String> = None;
        let preview = match review {
            Review::Upstream => {
                let base = self.cwds.get(&call.server).cloned();
                root = base.as_ref().map(|b| b.display().to_string());
                let (tool, args) = (call.tool.clone(), call.args.clone());
                admission.diff = tokio::task::spawn_blocking(move || {
                    crate::diff::proposed_diff(&tool, &args, base.as_deref())
                })
                .await
                .unwrap_or(None);
                let args = &admission.call.args;
                admission.carried.as_ref().map(|c| retry_preview(args, c))
            }
            Review::Native { cwd } => {
                root = Some(cwd.display().to_string());
                let (tool, args) = (call.tool.clone(), call.args.clone());
                admission.diff = tokio::task::spawn_blocking(move || {
                    crate::native::native_diff(&tool, &args, &cwd)
                })
                .await
                .unwrap_or(None);
                None
            }
            Review::Prepared { preview, .. } => preview,
        };
        // The held call is in the evidence before anyone is asked: a crash while it waits
        // leaves a `pending` intent, closed as `interrupted` at the next start.
        let mut pending = record_of(&admission, Outcome::Pending, None);
        pending.phase = Some(Phase::Intent);
        match self.recorder.append(pending, Durability::Synced).await {
            Ok(id) => admission.held_intent = Some(id),
            Err(error) => {
                let text = format!(
                    "Cordon refused this call: it needs an approval, and the held call could not be recorded in the evidence log ({error})"
                );
                return self
                    .refuse(admission, Outcome::Error, Some(text.clone()), text)
                    .await;
            }
        }
        let call = &admission.call;
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
            root,
            policy_version: v.policy_version.clone(),
        };
        let (info, ticket) = match self.broker.hold_with_preview(request, preview) {
            Ok(held) => held,
            Err(HoldRefused::Closed) => {
                let text = "Cordon refused this call: the engine is shutting down".to_owned();
                return self
                    .refuse(admission, Outcome::Error, Some(text.clone()), text)
                    .await;
            }
            Err(why @ HoldRefused::TooMany { .. }) => {
                let v = &mut admission.verdict;
                let asked_by = v.rule_id.as_deref().unwrap_or("the policy").to_owned();
                v.decision = Decision::Deny;
                v.rule_id = Some(crate::approvals::HELD_LIMIT_RULE.to_owned());
                v.reason = format!("{why} (rule {asked_by} asks for an approval)");
                let text = format!(
                    "Cordon denied this call: rule {}: {}",
                    crate::approvals::HELD_LIMIT_RULE,
                    v.reason
                );
                return self.refuse(admission, Outcome::Denied, None, text).await;
            }
        };
        admission.approval_id = Some(info.id.clone());
        tracing::info!(id = %info.id, agent = %info.agent, server = %info.server, tool = %info.tool, "call held for approval");
        // If the agent goes away while we wait, the guard still records the call.
        let mut guard = HeldGuard {
            recorder: &self.recorder,
            broker: &self.broker,
            id: info.id.clone(),
            record: Some(outcome_record(
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
                            // Never the approval id: the agent has no business addressing it.
                            let note = ProgressNotificationParam::new(token.clone(), f64::from(ticks))
                                .with_message("waiting for a human to review this call in Cordon".to_owned());
                            let _ = peer.notify_progress(note).await;
                        }
                    }
                }
            }
        };
        let Some(decision) = decision else {
            // Dropping the guard records the cancellation.
            drop(guard);
            return Gate::Refused(Refused {
                text: "cancelled".to_owned(),
                outcome: Outcome::Error,
                rule_id: admission.verdict.rule_id.clone(),
                approval_id: Some(info.id),
            });
        };
        guard.record = None;
        drop(guard);
        match decision {
            ApprovalDecision::Approved {
                reviewer, channel, ..
            } => {
                admission.outcome = Outcome::Approved;
                admission.reviewer = Some(reviewer);
                admission.approval_channel = Some(channel.to_string());
                self.constraints.charge(&admission.governed);
                self.pass(admission).await
            }
            refused => {
                let refusal = refused.refusal(&info.id, info.rule_id.as_deref());
                admission.reviewer = refusal.reviewer;
                self.refuse(admission, refusal.outcome, refusal.error, refusal.text)
                    .await
            }
        }
    }

    /// Records a refusal (closing the held intent, if the call was held) and says why. A
    /// refusal is fsynced: it is the only record of the call.
    async fn refuse(
        &self,
        admission: Admission,
        outcome: Outcome,
        error: Option<String>,
        text: String,
    ) -> Gate {
        let record = outcome_record(&admission, outcome, error);
        let mut refused = Refused {
            text,
            outcome,
            rule_id: admission.verdict.rule_id.clone(),
            approval_id: admission.approval_id.clone(),
        };
        if let Err(e) = self.recorder.record(record).await {
            refused.text = format!("{} (and the evidence log failed: {e})", refused.text);
        }
        Gate::Refused(refused)
    }

    /// Records a performed call's outcome, closing its intent. Committed (it survives the
    /// engine being killed) before this returns; fsynced with the next synced commit. Err = the
    /// record failed: return that text instead of the result.
    pub async fn finish(
        &self,
        mut admission: Admission,
        failed: bool,
        error: Option<String>,
    ) -> Result<(), String> {
        let outcome = if failed {
            Outcome::Error
        } else {
            admission.outcome
        };
        admission.open = None;
        let record = outcome_record(&admission, outcome, error);
        self.recorder
            .append(record, Durability::Committed)
            .await
            .map(|_| ())
            .map_err(|e| {
                format!("Cordon refused this call: its outcome could not be recorded in the evidence log ({e}); the result is withheld")
            })
    }

    /// Runs `perform` (a call that passed the gate) under the policy's upstream time limit and
    /// the agent's cancellation: the one timeout and cancellation every transport shares.
    pub async fn perform<T>(
        &self,
        ctx: &CallContext,
        server: &str,
        admission: &Admission,
        perform: impl std::future::Future<Output = Result<T, String>>,
    ) -> Result<T, String> {
        let timeout = admission.timeout();
        let deadline = async {
            match timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            result = perform => result,
            _ = ctx.cancel.cancelled() => Err("cancelled by the agent".to_owned()),
            _ = deadline => {
                let limit = timeout.map(human).unwrap_or_default();
                Err(format!(
                    "Cordon cut this call: upstream `{server}` did not answer within {limit} (policy limit upstream_timeout)"
                ))
            }
        }
    }
}

/// Tells the upstream to stop a forwarded call the agent abandoned (cancelled, or the agent's
/// request future was dropped); disarmed once the answer arrived.
struct CancelUpstream {
    peer: Option<Peer<RoleClient>>,
    id: RequestId,
}

impl Drop for CancelUpstream {
    fn drop(&mut self) {
        if let Some(peer) = self.peer.take() {
            let note = CancelledNotificationParam::new(
                Some(self.id.clone()),
                Some("cancelled by the agent".to_owned()),
            );
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = peer.notify_cancelled(note).await;
                });
            }
        }
    }
}

/// What the reviewer of a held retry is shown: everything it sends on, its arguments (a preview
/// takes their place in the approval window) and what the retry carries besides them.
fn retry_preview(args: &Value, carried: &Value) -> String {
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    format!(
        "Arguments:\n{}\n\nThis call retries an earlier round: it also sends the upstream the client's answers and the upstream's echoed state:\n{}",
        pretty(args),
        pretty(carried)
    )
}

fn gate_refusal(gate: Gate) -> CallToolResponse {
    match gate {
        Gate::Refused(refused) => refusal(refused.text),
        // Never reached by its callers (they pass only refusing admissions); refuse anyway.
        Gate::Pass(_) => refusal("Cordon refused this call".to_owned()),
    }
}

impl<'a> Subject<'a> {
    /// A call to `server`'s `tool`, classified by the classifier, paths resolved against the
    /// server's working directory.
    pub fn upstream(server: &'a str, tool: &'a str, args: Value, constrained: bool) -> Self {
        Subject {
            server,
            tool,
            args,
            base: None,
            roots: None,
            classification: None,
            constrained,
            carried: None,
        }
    }
}

/// Records a held call whose agent went away (the future was dropped or cancelled): withdraws
/// the approval and writes `record`. Disarm it by taking `record` once the call was decided.
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

/// The record that ends a call: an outcome closing its intent (the passed one, else the held
/// one), or a complete record without a phase when no intent was written.
fn outcome_record(admission: &Admission, outcome: Outcome, error: Option<String>) -> NewRecord {
    let mut record = record_of(admission, outcome, error);
    if let Some(intent) = admission
        .intent_id
        .as_ref()
        .or(admission.held_intent.as_ref())
    {
        record.phase = Some(Phase::Outcome);
        record.intent_id = Some(intent.clone());
    }
    record
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
        decision: if admission.governed.throttled {
            THROTTLE_DECISION.to_owned()
        } else {
            v.decision.as_str().to_owned()
        },
        rule_id: v.rule_id.clone(),
        reason: v.reason.clone(),
        policy_version: v.policy_version.clone(),
        reviewer: admission.reviewer.clone(),
        approval_channel: admission.approval_channel.clone(),
        outcome,
        args: admission.call.args.clone(),
        diff: admission.diff.clone(),
        duration_ms: u64::try_from(admission.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        error,
        phase: None,
        intent_id: None,
    }
}

/// A tool result with `isError: true` and one text block.
pub fn refusal(text: String) -> CallToolResponse {
    CallToolResponse::Complete(CallToolResult::error(vec![ContentBlock::text(text)]))
}

/// `5m`, `30s`, `500ms`: the policy's formatter (one owner for the duration syntax), under the
/// name the gateway's messages use.
pub use cordon_policy::human_duration as human;
