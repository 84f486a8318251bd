//! The approval broker: calls that wait for a human, and the decisions that release them.
//!
//! An approval is bound to one exact held call (agent, session, server, tool, canonical argument
//! hash, policy version) and is used once: the decision travels over that call's own oneshot
//! channel and the pending entry is removed as it is decided. Expiry refuses (fail closed).
//!
//! # The proof of a human
//!
//! Everything the agent runs (an allowed command, a git hook, a build script) runs as the same
//! OS user and can reach the control socket, so a request on the socket proves nothing. A call
//! is therefore released only through a [`Channel`] that an agent process cannot drive:
//!
//! - the desktop app's own approval window and notification actions, which call
//!   [`ApprovalBroker::approve`] in-process (never through the socket);
//! - `cordon approve ID` on the socket **with the one-time code** the broker drew for that call
//!   ([`ApprovalBroker::approve_with_code`]). The code is never part of [`PendingApproval`] (what
//!   the socket lists); it is handed only to the host's [`Announcer`] (`cordon serve` prints it
//!   on the engine's own stderr, the desktop shows it in the approval window) and to in-process
//!   callers ([`ApprovalBroker::code_of`]). Wrong codes are bounded: [`MAX_CODE_ATTEMPTS`] per
//!   call (then the call is refused as a possible forgery) and [`MAX_FAILED_CODES`] per engine
//!   (then code approvals stay locked until the engine restarts; the desktop still works).
//!
//! Denying needs no proof: it can only make things stricter. Resuming paused agents and
//! accepting a changed tool definition loosen governance, so on the socket they need a code too
//! ([`ApprovalBroker::challenge`] / [`ApprovalBroker::redeem`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::oneshot;

use crate::error::GatewayError;

/// A call waiting for a human decision, as shown by `cordon approvals` and the desktop app:
/// the [`ApprovalRequest`] (its fields flattened in place, so the JSON is flat) plus what the
/// broker adds. Reads of the request's fields go through [`std::ops::Deref`] (`pending.agent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct PendingApproval {
    /// Short id used by `cordon approve ID`.
    pub id: String,
    /// The held call as the pipeline described it: the one owner of those fields.
    #[serde(flatten)]
    pub request: ApprovalRequest,
    /// What a built-in tool would do, as prepared before review (the diff of a file change,
    /// the commits a push would send, the command to run); for an upstream call, only a
    /// multi-round-trip retry has one (its arguments and what it carries besides them).
    #[serde(default)]
    pub preview: Option<String>,
    /// SHA-256 of the canonical arguments: part of the binding.
    pub args_sha256: String,
    /// When the call arrived (RFC 3339 UTC).
    pub created_at: String,
    /// When it will be refused if nobody decides (RFC 3339 UTC).
    pub expires_at: String,
}

impl std::ops::Deref for PendingApproval {
    type Target = ApprovalRequest;

    fn deref(&self) -> &ApprovalRequest {
        &self.request
    }
}

impl std::ops::DerefMut for PendingApproval {
    fn deref_mut(&mut self) -> &mut ApprovalRequest {
        &mut self.request
    }
}

impl PendingApproval {
    /// A copy fit to show a human: every text the agent could have chosen (names, target,
    /// reason, every string in the arguments) made visible with [`cordon_text::visible`], the
    /// diff and preview line by line with [`cordon_text::visible_lines`]. Ids, hashes and
    /// times are Cordon's own and unchanged. Deciding still goes by `id`.
    pub fn for_display(&self) -> PendingApproval {
        use cordon_text::{visible, visible_lines};
        let v = |s: &str| visible(s).into_owned();
        PendingApproval {
            id: self.id.clone(),
            request: ApprovalRequest {
                agent: v(&self.agent),
                session_id: v(&self.session_id),
                server: v(&self.server),
                tool: v(&self.tool),
                action: v(&self.action),
                target: self.target.as_deref().map(v),
                risk_tags: self.risk_tags.iter().map(|t| v(t)).collect(),
                rule_id: self.rule_id.as_deref().map(v),
                reason: v(&self.reason),
                diff: self.diff.as_deref().map(|d| visible_lines(d).into_owned()),
                args: visible_json(&self.args),
                root: self.root.clone(),
                policy_version: v(&self.policy_version),
            },
            preview: self
                .preview
                .as_deref()
                .map(|d| visible_lines(d).into_owned()),
            args_sha256: self.args_sha256.clone(),
            created_at: self.created_at.clone(),
            expires_at: self.expires_at.clone(),
        }
    }
}

/// A JSON value with every string, object keys included, made visible (see
/// [`cordon_text::visible`]); numbers, booleans and the structure are unchanged.
pub fn visible_json(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(cordon_text::visible(s).into_owned()),
        Value::Array(items) => Value::Array(items.iter().map(visible_json).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (cordon_text::visible(k).into_owned(), visible_json(v)))
                .collect(),
        ),
        other => other.clone(),
    }
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
        /// How the approval reached the engine (recorded as `approval_channel`).
        channel: Channel,
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

/// How a decision reached the engine; recorded in the evidence as `approval_channel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    /// The desktop app's approval window (in-process).
    TrayWindow,
    /// An action button of the desktop notification (in-process).
    Notification,
    /// The desktop app's tray menu (in-process; e.g. resume).
    TrayMenu,
    /// `cordon approve` on the control socket with the call's one-time code.
    CliCode,
    /// An unproven control-socket request: only ever accepted for denials (they only refuse).
    Cli,
    /// A library caller holding the engine in-process (tests, embedders).
    InProcess,
}

impl Channel {
    /// The stable name stored in the evidence log.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::TrayWindow => "tray-window",
            Channel::Notification => "notification",
            Channel::TrayMenu => "tray-menu",
            Channel::CliCode => "cli-code",
            Channel::Cli => "cli",
            Channel::InProcess => "in-process",
        }
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an approval covers beyond the one call it releases.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "prefix")]
pub enum GrantScope {
    /// Only this call.
    #[default]
    Once,
    /// The rest of the session: the same agent session, server, tool and topic, on exactly the
    /// same target (the same file, the same command).
    SessionTarget,
    /// The rest of the session on targets under a path prefix the reviewer picked (it must
    /// contain this call's target and cannot be the file-system root or a home directory).
    SessionPrefix(String),
}

impl GrantScope {
    /// The scope for the old boolean `session` flag: the exact target.
    pub fn from_session(session: bool) -> GrantScope {
        if session {
            GrantScope::SessionTarget
        } else {
            GrantScope::Once
        }
    }

    /// Whether the approval reaches beyond the one call.
    pub fn is_session(&self) -> bool {
        !matches!(self, GrantScope::Once)
    }
}

/// Calls of one agent held at once; the next is refused until one is answered. Without it an
/// agent could bury the reviewer under notifications (the one it hopes is approved unread among
/// them) and make the engine hold every call's arguments (16 MiB each) until it runs out of memory.
pub const MAX_HELD_PER_AGENT: usize = 16;

/// The rule a call refused by [`MAX_HELD_PER_AGENT`] is recorded under (it needed an approval;
/// the policy rule that asked for it is in the refusal's reason).
pub const HELD_LIMIT_RULE: &str = "cordon:held-limit";

/// Why a call could not be held.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoldRefused {
    /// The engine is shutting down.
    #[error("the engine is shutting down")]
    Closed,
    /// The agent already has [`MAX_HELD_PER_AGENT`] calls awaiting approval.
    #[error(
        "agent {agent} already has {held} calls awaiting approval (the limit): answer or cancel those first"
    )]
    TooMany {
        /// The agent whose call it was.
        agent: String,
        /// Its calls held now.
        held: usize,
    },
}

/// Wrong codes one held call (or one challenge) tolerates; the next wrong one refuses it.
pub const MAX_CODE_ATTEMPTS: u32 = 3;
/// Wrong codes one engine tolerates in total; after that code approvals are locked until the
/// engine restarts (the desktop app's in-process channels keep working).
pub const MAX_FAILED_CODES: u32 = 20;
/// How long a challenge code (resume, tool approval) stays valid.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(300);
/// The reviewer recorded when the broker itself refuses a call after too many wrong codes.
pub const FORGERY_GUARD: &str = "cordon (forged-approval guard)";

/// Something the host must show the human on a channel no agent process can read.
#[derive(Debug, Clone, PartialEq)]
pub enum Announcement {
    /// A call is held; `code` approves it from `cordon approve`.
    Held {
        /// The held call.
        approval: Box<PendingApproval>,
        /// Its one-time code.
        code: String,
    },
    /// `cordon resume` / `cordon tools approve` asked for a code for `action`.
    Challenge {
        /// What the code allows, in words.
        action: String,
        /// The one-time code.
        code: String,
    },
    /// A code was wrong (a human typo or a forgery attempt): the human should know.
    WrongCode {
        /// The approval id or the challenged action.
        subject: String,
        /// Attempts left for it (0: refused).
        left: u32,
    },
}

impl Announcement {
    /// One line for a terminal, every untrusted part made visible ([`cordon_text::visible`]).
    pub fn line(&self) -> String {
        use cordon_text::visible;
        match self {
            Announcement::Held { approval: a, code } => format!(
                "cordon: approval {} waiting: {} wants {} via {}__{} on {}; to approve from a \
                 terminal run `cordon approve {}` and type code {code}",
                a.id,
                visible(&a.agent),
                visible(&a.action),
                visible(&a.server),
                visible(&a.tool),
                visible(a.target.as_deref().unwrap_or("(no target)")),
                a.id
            ),
            Announcement::Challenge { action, code } => format!(
                "cordon: one-time code {code} for: {} (valid {} minutes)",
                visible(action),
                CHALLENGE_TTL.as_secs() / 60
            ),
            Announcement::WrongCode { subject, left } => format!(
                "cordon: WARNING: wrong code for {} ({left} attempts left){}",
                visible(subject),
                if *left == 0 {
                    ": refused; if you did not type it, a process is trying to forge approvals"
                } else {
                    ""
                }
            ),
        }
    }
}

/// Where the host shows [`Announcement`]s: the engine's own stderr for `cordon serve`, the
/// desktop's window for the tray app. Never a log file the agent could read.
pub type Announcer = Arc<dyn Fn(&Announcement) + Send + Sync>;

/// Why a code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// No held call / challenge under this id.
    #[error("no pending approval or challenge for {0}")]
    Unknown(String),
    /// The code is wrong; `left` attempts remain (0: the call was refused).
    #[error("wrong code for {subject}: {}", if *left == 0 { "too many wrong codes, refused as a possible forgery".to_owned() } else { format!("{left} attempts left") })]
    Wrong {
        /// The approval id or challenged action.
        subject: String,
        /// Attempts left.
        left: u32,
    },
    /// Too many wrong codes in this engine: code approvals are locked.
    #[error(
        "{MAX_FAILED_CODES} wrong codes since the engine started: approvals by code are locked until it restarts (the desktop app still works)"
    )]
    Locked,
    /// The scope asked for is not allowed for this call.
    #[error("{0}")]
    Scope(String),
}

impl From<CodeError> for GatewayError {
    fn from(error: CodeError) -> Self {
        match error {
            CodeError::Unknown(id) => GatewayError::UnknownApproval(id),
            other => GatewayError::Control(other.to_string()),
        }
    }
}

/// A session grant found for a call: who approved it and through which channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionGrant {
    /// The reviewer of the approval that created the grant.
    pub reviewer: String,
    /// The channel that approval came through.
    pub channel: Channel,
}

/// What a new held call needs to describe itself (and, flattened, most of what a
/// [`PendingApproval`] shows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct ApprovalRequest {
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
    /// The call's arguments.
    #[ts(type = "unknown")]
    pub args: Value,
    /// The directory the call's paths resolve against (the upstream's or the agent's working
    /// directory), when known: the reviewer's view shows paths inside it relative to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// The policy version that asked: part of the binding.
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

/// Which targets a grant covers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Covers {
    /// Exactly this target (None: calls without a target).
    Exact(Option<String>),
    /// Paths equal to or under this prefix.
    Prefix(String),
}

impl Covers {
    fn covers(&self, target: Option<&str>) -> bool {
        match self {
            Covers::Exact(t) => t.as_deref() == target,
            Covers::Prefix(prefix) => target.is_some_and(|t| under_prefix(t, prefix)),
        }
    }
}

#[derive(Debug, Clone)]
struct Grant {
    covers: Covers,
    reviewer: String,
    channel: Channel,
    /// Grants die with their session, and at the latest [`SESSION_GRANT_LIFETIME`] after they
    /// were given: hook sessions have no reliable end (an agent may never say it stopped).
    given: Instant,
}

/// Longest life of a session grant, whatever its session does.
pub const SESSION_GRANT_LIFETIME: Duration = Duration::from_secs(8 * 60 * 60);

/// A one-time code and the wrong attempts made against it.
struct Code {
    value: String,
    failures: u32,
}

struct Challenge {
    code: Code,
    expires: Instant,
}

struct Entry {
    info: PendingApproval,
    wake: oneshot::Sender<ApprovalDecision>,
    code: Code,
}

#[derive(Default)]
struct State {
    pending: HashMap<String, Entry>,
    grants: HashMap<GrantKey, Vec<Grant>>,
    challenges: HashMap<String, Challenge>,
    failed_codes: u32,
    closed: bool,
}

/// Holds calls that need a human and hands out the decisions.
pub struct ApprovalBroker {
    timeout: Duration,
    state: Mutex<State>,
    announcer: Mutex<Option<Announcer>>,
    /// Bumped whenever the pending list changes (a call held, decided, timed out, withdrawn):
    /// the tray, the approval window and `watch` clients wake on it instead of polling.
    changes: tokio::sync::watch::Sender<u64>,
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
                broker.changed();
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
            announcer: Mutex::new(None),
            changes: tokio::sync::watch::Sender::new(0),
        }
    }

    /// A receiver that wakes each time the pending list changes (its value is a counter; read
    /// [`ApprovalBroker::pending`] for the list). Every subscriber sees the latest change: a
    /// slow one skips intermediate states, never the last.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Sets where codes are shown to the human (see [`Announcer`]). Without one, codes exist
    /// but nobody sees them: only in-process channels (the desktop app) can approve. Calls
    /// already held are announced at once, so none is missed between start and this call.
    pub fn set_announcer(&self, announcer: Announcer) {
        match self.announcer.lock() {
            Ok(mut slot) => *slot = Some(announcer),
            Err(poisoned) => *poisoned.into_inner() = Some(announcer),
        }
        let held: Vec<Announcement> = {
            let state = self.lock();
            let mut held: Vec<_> = state
                .pending
                .values()
                .map(|e| Announcement::Held {
                    approval: Box::new(e.info.clone()),
                    code: e.code.value.clone(),
                })
                .collect();
            held.sort_by(|a, b| match (a, b) {
                (
                    Announcement::Held { approval: x, .. },
                    Announcement::Held { approval: y, .. },
                ) => x.created_at.cmp(&y.created_at),
                _ => std::cmp::Ordering::Equal,
            });
            held
        };
        for announcement in &held {
            self.announce(announcement);
        }
    }

    fn announce(&self, announcement: &Announcement) {
        let announcer = match self.announcer.lock() {
            Ok(slot) => slot.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        if let Some(announcer) = announcer {
            announcer(announcement);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Holds a call: returns its ticket, or why it cannot be held (shutting down, or its agent
    /// has [`MAX_HELD_PER_AGENT`] calls held already).
    pub fn hold(&self, request: ApprovalRequest) -> Result<(PendingApproval, Ticket), HoldRefused> {
        self.hold_with_preview(request, None)
    }

    /// Holds a call whose reviewer also sees a prepared `preview` (built-in tools).
    pub fn hold_with_preview(
        &self,
        request: ApprovalRequest,
        preview: Option<String>,
    ) -> Result<(PendingApproval, Ticket), HoldRefused> {
        let now = OffsetDateTime::now_utc();
        let expires = now + self.timeout;
        let mut state = self.lock();
        if state.closed {
            return Err(HoldRefused::Closed);
        }
        // Held calls whose waiter is gone (its agent left) no longer count.
        let held = state
            .pending
            .values()
            .filter(|e| e.info.request.agent == request.agent && !e.wake.is_closed())
            .count();
        if held >= MAX_HELD_PER_AGENT {
            return Err(HoldRefused::TooMany {
                agent: request.agent,
                held,
            });
        }
        let mut id = short_id();
        while state.pending.contains_key(&id) {
            id = short_id();
        }
        let info = PendingApproval {
            id: id.clone(),
            args_sha256: args_sha256(&request.args),
            request,
            preview,
            created_at: now.format(&Rfc3339).unwrap_or_default(),
            expires_at: expires.format(&Rfc3339).unwrap_or_default(),
        };
        let (tx, rx) = oneshot::channel();
        let code = one_time_code();
        state.pending.insert(
            id.clone(),
            Entry {
                info: info.clone(),
                wake: tx,
                code: Code {
                    value: code.clone(),
                    failures: 0,
                },
            },
        );
        drop(state);
        self.changed();
        self.announce(&Announcement::Held {
            approval: Box::new(info.clone()),
            code,
        });
        Ok((
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
        let removed = self.lock().pending.remove(id).is_some();
        if removed {
            self.changed();
        }
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

    /// The one-time code of a held call, for in-process hosts that show it (the desktop's
    /// approval window). Never sent over the control socket.
    pub fn code_of(&self, id: &str) -> Option<String> {
        self.lock().pending.get(id).map(|e| e.code.value.clone())
    }

    /// Approves a held call (once) from an in-process channel (the desktop app, a library
    /// caller): being inside the engine's process is the proof. `scope` may extend it to later
    /// calls of the same session on the same target or under a path prefix.
    pub fn approve(
        &self,
        id: &str,
        scope: &GrantScope,
        reviewer: &str,
        channel: Channel,
    ) -> Result<PendingApproval, GatewayError> {
        let id = check_approval_id(id)?;
        let mut state = self.lock();
        let covers = match state.pending.get(id) {
            Some(entry) => covers_for(&entry.info, scope)?,
            None => return Err(GatewayError::UnknownApproval(id.to_owned())),
        };
        let entry = take_live(&mut state, id)?;
        let released = release(&mut state, entry, covers, reviewer, channel);
        drop(state);
        self.changed();
        released
    }

    /// Approves a held call from the control socket: only with its one-time code. A wrong code
    /// counts against the call ([`MAX_CODE_ATTEMPTS`], then the call is refused as a possible
    /// forgery) and against the engine ([`MAX_FAILED_CODES`], then code approvals lock).
    pub fn approve_with_code(
        &self,
        id: &str,
        code: &str,
        scope: &GrantScope,
        reviewer: &str,
    ) -> Result<PendingApproval, CodeError> {
        let id = check_approval_id(id).map_err(|_| CodeError::Unknown(id.to_owned()))?;
        let mut state = self.lock();
        if state.failed_codes >= MAX_FAILED_CODES {
            return Err(CodeError::Locked);
        }
        let Some(entry) = state.pending.get_mut(id).filter(|e| !e.wake.is_closed()) else {
            return Err(CodeError::Unknown(id.to_owned()));
        };
        if !codes_match(&entry.code.value, code) {
            entry.code.failures = entry.code.failures.saturating_add(1);
            let left = MAX_CODE_ATTEMPTS.saturating_sub(entry.code.failures);
            state.failed_codes = state.failed_codes.saturating_add(1);
            if left == 0
                && let Some(entry) = state.pending.remove(id)
            {
                let _ = entry.wake.send(ApprovalDecision::Rejected {
                    reviewer: FORGERY_GUARD.to_owned(),
                    reason: Some(format!(
                        "{MAX_CODE_ATTEMPTS} wrong approval codes: refused as a possible forged approval"
                    )),
                });
            }
            drop(state);
            self.changed();
            self.announce(&Announcement::WrongCode {
                subject: format!("approval {id}"),
                left,
            });
            return Err(CodeError::Wrong {
                subject: format!("approval {id}"),
                left,
            });
        }
        let covers = covers_for(&entry.info, scope).map_err(|e| CodeError::Scope(e.to_string()))?;
        let entry = take_live(&mut state, id).map_err(|_| CodeError::Unknown(id.to_owned()))?;
        let released = release(&mut state, entry, covers, reviewer, Channel::CliCode)
            .map_err(|_| CodeError::Unknown(id.to_owned()));
        drop(state);
        self.changed();
        released
    }

    /// Whether codes are shown anywhere (an [`Announcer`] is set).
    pub fn announces(&self) -> bool {
        match self.announcer.lock() {
            Ok(slot) => slot.is_some(),
            Err(poisoned) => poisoned.into_inner().is_some(),
        }
    }

    /// Draws a one-time code for a socket request that loosens governance (`action` names it,
    /// e.g. `resume all agents`) and announces it. A new challenge for the same action replaces
    /// the old one.
    pub fn challenge(&self, action: &str) {
        let code = one_time_code();
        {
            let mut state = self.lock();
            let now = Instant::now();
            state.challenges.retain(|_, c| c.expires > now);
            state.challenges.insert(
                action.to_owned(),
                Challenge {
                    code: Code {
                        value: code.clone(),
                        failures: 0,
                    },
                    expires: now + CHALLENGE_TTL,
                },
            );
        }
        self.announce(&Announcement::Challenge {
            action: action.to_owned(),
            code,
        });
    }

    /// Uses up the challenge code for `action` (once). Wrong codes are bounded like approvals'.
    pub fn redeem(&self, action: &str, code: &str) -> Result<(), CodeError> {
        let mut state = self.lock();
        if state.failed_codes >= MAX_FAILED_CODES {
            return Err(CodeError::Locked);
        }
        let now = Instant::now();
        state.challenges.retain(|_, c| c.expires > now);
        let Some(challenge) = state.challenges.get_mut(action) else {
            return Err(CodeError::Unknown(action.to_owned()));
        };
        if codes_match(&challenge.code.value, code) {
            state.challenges.remove(action);
            return Ok(());
        }
        challenge.code.failures = challenge.code.failures.saturating_add(1);
        let left = MAX_CODE_ATTEMPTS.saturating_sub(challenge.code.failures);
        if left == 0 {
            state.challenges.remove(action);
        }
        state.failed_codes = state.failed_codes.saturating_add(1);
        drop(state);
        self.announce(&Announcement::WrongCode {
            subject: action.to_owned(),
            left,
        });
        Err(CodeError::Wrong {
            subject: action.to_owned(),
            left,
        })
    }

    /// Refuses a held call.
    pub fn deny(
        &self,
        id: &str,
        reason: Option<String>,
        reviewer: &str,
    ) -> Result<PendingApproval, GatewayError> {
        let id = check_approval_id(id)?;
        let reason = clean_reason(reason.as_deref())?;
        let mut state = self.lock();
        let entry = take_live(&mut state, id);
        drop(state);
        self.changed();
        let entry = entry?;
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

    /// The `--session` approval that covers this call, if any: same agent session, server, tool
    /// and topic, and a target the grant covers (the same target, or one under the reviewer's
    /// prefix). Never any target.
    pub fn session_grant(
        &self,
        agent: &str,
        session_id: &str,
        server: &str,
        tool: &str,
        action: &str,
        target: Option<&str>,
    ) -> Option<SessionGrant> {
        self.lock()
            .grants
            .get(&GrantKey {
                agent: agent.to_owned(),
                session_id: session_id.to_owned(),
                server: server.to_owned(),
                tool: tool.to_owned(),
                action: action.to_owned(),
            })?
            .iter()
            .filter(|g| g.given.elapsed() < SESSION_GRANT_LIFETIME)
            .find(|g| g.covers.covers(target))
            .map(|g| SessionGrant {
                reviewer: g.reviewer.clone(),
                channel: g.channel,
            })
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
        drop(state);
        self.changed();
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

/// Longest denial reason a reviewer may give (it reaches the agent and the evidence).
pub const MAX_REASON_CHARS: usize = 2000;

/// Longest approval id accepted as input (ids the broker draws are far shorter).
const MAX_ID_CHARS: usize = 128;

/// An approval id as a reviewer sent it (window, notification, socket): trimmed, and refused when
/// empty or not `[A-Za-z0-9_-]` (such an id names no call, and must not reach logs or messages).
pub fn check_approval_id(id: &str) -> Result<&str, GatewayError> {
    let id = id.trim();
    if id.is_empty() {
        return Err(GatewayError::InvalidInput("empty approval id".to_owned()));
    }
    if id.chars().count() > MAX_ID_CHARS
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(GatewayError::InvalidInput(format!(
            "malformed approval id `{}`",
            crate::text::visible(&id.chars().take(40).collect::<String>())
        )));
    }
    Ok(id)
}

/// A denial reason as a reviewer gave it: trimmed (empty = none); over-long or with control
/// characters other than newline and tab it is refused (it is shown to the agent and recorded).
pub fn clean_reason(reason: Option<&str>) -> Result<Option<String>, GatewayError> {
    let Some(reason) = reason.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(GatewayError::InvalidInput(format!(
            "reason longer than {MAX_REASON_CHARS} characters"
        )));
    }
    if reason
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(GatewayError::InvalidInput(
            "reason contains control characters".to_owned(),
        ));
    }
    Ok(Some(reason.to_owned()))
}

/// Sends the approval and stores the grant, if any.
fn release(
    state: &mut State,
    entry: Entry,
    covers: Option<Covers>,
    reviewer: &str,
    channel: Channel,
) -> Result<PendingApproval, GatewayError> {
    let id = entry.info.id.clone();
    let session = covers.is_some();
    if let Some(covers) = covers {
        // Expired grants of sessions that never ended go when a new grant is given.
        state.grants.retain(|_, grants| {
            grants.retain(|g| g.given.elapsed() < SESSION_GRANT_LIFETIME);
            !grants.is_empty()
        });
        state
            .grants
            .entry(GrantKey {
                agent: entry.info.agent.clone(),
                session_id: entry.info.session_id.clone(),
                server: entry.info.server.clone(),
                tool: entry.info.tool.clone(),
                action: entry.info.action.clone(),
            })
            .or_default()
            .push(Grant {
                covers,
                reviewer: reviewer.to_owned(),
                channel,
                given: Instant::now(),
            });
    }
    entry
        .wake
        .send(ApprovalDecision::Approved {
            reviewer: reviewer.to_owned(),
            session,
            channel,
        })
        .map_err(|_| GatewayError::UnknownApproval(id))?;
    Ok(entry.info)
}

/// What a scope covers for this held call, or why it is refused.
fn covers_for(info: &PendingApproval, scope: &GrantScope) -> Result<Option<Covers>, GatewayError> {
    match scope {
        GrantScope::Once => Ok(None),
        GrantScope::SessionTarget => Ok(Some(Covers::Exact(info.target.clone()))),
        GrantScope::SessionPrefix(prefix) => {
            let prefix = prefix.trim_end_matches('/');
            let refuse = |why: &str| {
                Err(GatewayError::Control(format!(
                    "cannot approve for the session under `{}`: {why}",
                    cordon_text::visible(prefix)
                )))
            };
            if prefix.is_empty() || prefix == "~" || prefix.ends_with(':') {
                return refuse("that would cover every target");
            }
            if prefix.split(['/', '\\']).any(|c| c == "..") {
                return refuse("`..` is not allowed in a prefix");
            }
            if home_dir_like(prefix) {
                return refuse(
                    "a home directory covers too much; pick the project or a folder in it",
                );
            }
            match info.target.as_deref() {
                Some(target) if under_prefix(target, prefix) => {
                    Ok(Some(Covers::Prefix(prefix.to_owned())))
                }
                _ => refuse("this call's target is not under it"),
            }
        }
    }
}

/// Whether `target` is `prefix` or a path under it (component boundary: `/w/a` does not
/// cover `/w/ab`).
fn under_prefix(target: &str, prefix: &str) -> bool {
    if target.split(['/', '\\']).any(|c| c == "..") {
        return false;
    }
    match target.strip_prefix(prefix) {
        Some("") => true,
        Some(rest) => rest.starts_with('/') || rest.starts_with('\\'),
        None => false,
    }
}

/// `/home/NAME`, `/Users/NAME`, `/root`, `C:\Users\NAME` and the current user's home.
fn home_dir_like(prefix: &str) -> bool {
    let parts: Vec<&str> = prefix
        .split(['/', '\\'])
        .filter(|c| !c.is_empty())
        .collect();
    let generic = match parts.as_slice() {
        [] | ["root"] | ["home"] | ["Users"] | ["home", _] | ["Users", _] => true,
        [drive, rest @ ..] if drive.ends_with(':') => {
            rest.is_empty() || matches!(rest, ["Users"] | ["Users", _])
        }
        _ => false,
    };
    generic
        || dirs::home_dir().is_some_and(|home| {
            let home = home.to_string_lossy();
            home.trim_end_matches('/') == prefix
        })
}

/// Crockford base32 without I, L, O, U: nothing to misread.
const CODE_ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A fresh one-time code from the OS's random source: 8 symbols (40 bits), shown `XXXX-XXXX`.
fn one_time_code() -> String {
    use rand::Rng;
    let mut rng = rand::rngs::OsRng;
    let symbols: String = (0..8)
        .map(|_| {
            let i = rng.gen_range(0..CODE_ALPHABET.len());
            CODE_ALPHABET.get(i).copied().map(char::from).unwrap_or('0')
        })
        .collect();
    let (a, b) = symbols.split_at(4);
    format!("{a}-{b}")
}

/// Compares a typed code with the drawn one: case, dashes, spaces and the usual misreadings
/// (O/0, I/L/1) do not matter; every symbol is compared (no early exit on the first mismatch).
fn codes_match(expected: &str, typed: &str) -> bool {
    fn norm(text: &str) -> Vec<u8> {
        text.chars()
            .filter(|c| !matches!(c, '-' | ' ' | '\t'))
            .map(|c| match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                other => other,
            })
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(0xFF))
            .collect()
    }
    let (a, b) = (norm(expected), norm(typed));
    if a.len() != b.len() || a.is_empty() {
        return false;
    }
    a.iter().zip(&b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
            self.session_grant(a, s, srv, t, act, Some("/w/a.txt"))
                .is_some()
        }

        fn covers(&self, target: Option<&str>) -> bool {
            self.session_grant(
                "claude-code",
                "s1",
                "fs",
                "write_file",
                "job.mcp-bridge.write.file",
                target,
            )
            .is_some()
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
            root: None,
            policy_version: "v1-abc".into(),
        }
    }

    #[test]
    fn one_agent_holds_at_most_its_limit_and_a_gone_waiter_frees_a_place() {
        let broker = ApprovalBroker::new(Duration::from_secs(3600));
        let mut tickets: Vec<_> = (0..MAX_HELD_PER_AGENT)
            .map(|n| broker.hold(request("s1", json!({ "n": n }))).unwrap().1)
            .collect();
        assert_eq!(
            broker.hold(request("s2", json!({}))).err(),
            Some(HoldRefused::TooMany {
                agent: "claude-code".into(),
                held: MAX_HELD_PER_AGENT
            }),
            "a new session of the same agent is no way around it"
        );
        assert_eq!(
            broker.pending().len(),
            MAX_HELD_PER_AGENT,
            "nothing was held"
        );
        let mut other = request("s9", json!({}));
        other.agent = "codex".into();
        let _other = broker.hold(other).expect("another agent is not blocked");
        // A call whose agent went away (its ticket dropped) no longer counts.
        drop(tickets.pop());
        let _kept = broker.hold(request("s1", json!({}))).unwrap();
        assert!(broker.hold(request("s1", json!({}))).is_err());
    }

    #[tokio::test]
    async fn approve_wakes_the_held_call_once() {
        let broker = ApprovalBroker::new(Duration::from_secs(3600));
        let (info, ticket) = broker.hold(request("s1", json!({"path": "a"}))).unwrap();
        assert_eq!(broker.pending().len(), 1);
        assert_eq!(info.args_sha256, args_sha256(&json!({"path": "a"})));
        broker
            .approve(&info.id, &GrantScope::Once, "dev", Channel::InProcess)
            .unwrap();
        assert_eq!(
            ticket.wait(&broker).await,
            ApprovalDecision::Approved {
                reviewer: "dev".into(),
                session: false,
                channel: Channel::InProcess,
            }
        );
        // Used once: a second decision on the same id is refused.
        assert!(matches!(
            broker.approve(&info.id, &GrantScope::Once, "dev", Channel::InProcess),
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
        assert!(
            broker
                .approve(&info.id, &GrantScope::Once, "dev", Channel::InProcess)
                .is_err()
        );
        assert!(broker.pending().is_empty());
    }

    /// A broker holding one session grant for `claude-code` in session `s1` (`fs`/`write_file`).
    async fn granted() -> ApprovalBroker {
        let broker = ApprovalBroker::new(Duration::from_secs(3600));
        let (info, ticket) = broker.hold(request("s1", json!({}))).unwrap();
        broker
            .approve(
                &info.id,
                &GrantScope::SessionTarget,
                "dev",
                Channel::InProcess,
            )
            .unwrap();
        let _ = ticket.wait(&broker).await;
        broker
    }

    #[tokio::test]
    async fn session_grant_is_scoped_to_agent_session_server_tool_and_topic() {
        let broker = granted().await;
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
    async fn a_session_grant_dies_after_its_lifetime_even_if_the_session_never_ends() {
        let broker = granted().await;
        let topic = "job.mcp-bridge.write.file";
        assert!(broker.has_grant("claude-code", "s1", "fs", "write_file", topic));
        let age = |by: Duration| {
            let given = Instant::now().checked_sub(by).unwrap();
            for grants in broker.lock().grants.values_mut() {
                grants.iter_mut().for_each(|grant| grant.given = given);
            }
        };
        // A hook session that never said it ended: its grant dies at the lifetime.
        age(SESSION_GRANT_LIFETIME + Duration::from_secs(1));
        assert!(!broker.has_grant("claude-code", "s1", "fs", "write_file", topic));
        // One second younger than the lifetime, it still covers.
        age(SESSION_GRANT_LIFETIME - Duration::from_secs(1));
        assert!(broker.has_grant("claude-code", "s1", "fs", "write_file", topic));
    }

    #[tokio::test]
    async fn an_abandoned_call_cannot_be_approved() {
        let broker = ApprovalBroker::new(Duration::from_secs(3600));
        let (info, ticket) = broker.hold(request("s1", json!({}))).unwrap();
        drop(ticket);
        assert!(broker.pending().is_empty());
        assert!(
            broker
                .approve(
                    &info.id,
                    &GrantScope::SessionTarget,
                    "dev",
                    Channel::InProcess
                )
                .is_err()
        );
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
        assert_eq!(
            broker.hold(request("s1", json!({}))).err(),
            Some(HoldRefused::Closed)
        );
    }

    #[tokio::test]
    async fn reviewer_input_is_checked_by_the_broker_on_every_channel() {
        let broker = ApprovalBroker::new(Duration::from_secs(3600));
        let (info, _ticket) = broker.hold(request("s1", json!({}))).unwrap();
        // A reason with a terminal escape or over the limit is refused, and the call stays held.
        for bad in ["ok\u{1b}[31m", &"r".repeat(MAX_REASON_CHARS + 1)] {
            let refused = broker.deny(&info.id, Some(bad.to_owned()), "alice");
            assert!(
                matches!(refused, Err(GatewayError::InvalidInput(_))),
                "{bad:?}"
            );
        }
        assert_eq!(broker.pending().len(), 1);
        for bad in ["", " ", "../x", "a b", "id;rm", "é"] {
            assert!(matches!(
                broker.deny(bad, None, "alice"),
                Err(GatewayError::InvalidInput(_))
            ));
            assert!(matches!(
                broker.approve(bad, &GrantScope::Once, "alice", Channel::TrayWindow),
                Err(GatewayError::InvalidInput(_))
            ));
            assert!(matches!(
                broker.approve_with_code(bad, "AAAA-AAAA", &GrantScope::Once, "alice"),
                Err(CodeError::Unknown(_))
            ));
        }
        // A trimmed id and reason are accepted.
        let denied = broker.deny(
            &format!(" {} ", info.id),
            Some("  too risky \n".into()),
            "alice",
        );
        assert!(denied.is_ok());
        assert!(broker.pending().is_empty());
    }

    #[tokio::test]
    async fn every_change_of_the_pending_list_wakes_subscribers() {
        let broker = ApprovalBroker::new(Duration::from_millis(50));
        let mut feed = broker.subscribe();
        let changed = |feed: &mut tokio::sync::watch::Receiver<u64>| {
            let seen = feed.has_changed().unwrap();
            feed.borrow_and_update();
            seen
        };
        assert!(!changed(&mut feed));
        // Held, then denied elsewhere.
        let (a, ticket_a) = broker.hold(request("s1", json!({}))).unwrap();
        assert!(changed(&mut feed));
        broker.deny(&a.id, None, "alice").unwrap();
        assert!(changed(&mut feed));
        assert!(matches!(
            ticket_a.wait(&broker).await,
            ApprovalDecision::Rejected { .. }
        ));
        // Approved in process.
        let (b, _ticket_b) = broker.hold(request("s1", json!({}))).unwrap();
        assert!(changed(&mut feed));
        broker
            .approve(&b.id, &GrantScope::Once, "alice", Channel::TrayWindow)
            .unwrap();
        assert!(changed(&mut feed));
        // Timed out.
        let (_, ticket_c) = broker.hold(request("s1", json!({}))).unwrap();
        assert!(changed(&mut feed));
        assert!(matches!(
            ticket_c.wait(&broker).await,
            ApprovalDecision::TimedOut { .. }
        ));
        assert!(changed(&mut feed));
        // Withdrawn (the agent went away).
        let (d, _ticket_d) = broker.hold(request("s1", json!({}))).unwrap();
        assert!(changed(&mut feed));
        broker.forget(&d.id);
        assert!(changed(&mut feed));
        assert!(broker.pending().is_empty());
        // Nothing changed: nobody is woken.
        broker.forget("no-such-id");
        assert!(!changed(&mut feed));
    }

    fn held(broker: &ApprovalBroker, target: &str) -> (PendingApproval, Ticket) {
        let mut req = request("s1", json!({"path": target}));
        req.target = Some(target.to_owned());
        broker.hold(req).unwrap()
    }

    #[tokio::test]
    async fn a_session_grant_covers_the_same_target_only() {
        let broker = ApprovalBroker::new(Duration::from_secs(3600));
        let (info, ticket) = held(&broker, "/w/a.txt");
        broker
            .approve(
                &info.id,
                &GrantScope::SessionTarget,
                "dev",
                Channel::TrayWindow,
            )
            .unwrap();
        assert!(matches!(
            ticket.wait(&broker).await,
            ApprovalDecision::Approved { session: true, .. }
        ));
        assert!(broker.covers(Some("/w/a.txt")));
        // Approved once for file A: file B, a sibling with a longer name, no target: held again.
        assert!(!broker.covers(Some("/w/b.txt")));
        assert!(!broker.covers(Some("/w/a.txt2")));
        assert!(!broker.covers(Some("/w/a.txt/../b.txt")));
        assert!(!broker.covers(None));
        let grant = broker.session_grant(
            "claude-code",
            "s1",
            "fs",
            "write_file",
            "job.mcp-bridge.write.file",
            Some("/w/a.txt"),
        );
        assert_eq!(
            grant,
            Some(SessionGrant {
                reviewer: "dev".into(),
                channel: Channel::TrayWindow
            })
        );
    }

    #[tokio::test]
    async fn a_prefix_grant_covers_the_folder_and_nothing_beside_it() {
        let broker = ApprovalBroker::new(Duration::from_secs(3600));
        let (info, ticket) = held(&broker, "/w/src/a.rs");
        let prefix = GrantScope::SessionPrefix("/w/src/".into());
        broker
            .approve(&info.id, &prefix, "dev", Channel::TrayWindow)
            .unwrap();
        let _ = ticket.wait(&broker).await;
        assert!(broker.covers(Some("/w/src/b.rs")));
        assert!(broker.covers(Some("/w/src/deep/c.rs")));
        assert!(!broker.covers(Some("/w/srcx/b.rs")));
        assert!(!broker.covers(Some("/w/src/../.git/config")));
        assert!(!broker.covers(Some("/w/README.md")));
        assert!(!broker.covers(None));
    }

    #[tokio::test]
    async fn a_prefix_must_contain_the_target_and_not_be_everything() {
        let broker = ApprovalBroker::new(Duration::from_secs(3600));
        let (info, _ticket) = held(&broker, "/home/dev/p/a.rs");
        for bad in [
            "",
            "/",
            "~",
            "/home",
            "/home/dev",
            "/home/dev/q",
            "/home/dev/p/..",
            "C:",
        ] {
            let scope = GrantScope::SessionPrefix(bad.into());
            assert!(
                broker
                    .approve(&info.id, &scope, "dev", Channel::TrayWindow)
                    .is_err(),
                "{bad:?}"
            );
        }
        // A refused scope decides nothing: the call still waits and can be approved properly.
        assert_eq!(broker.pending().len(), 1);
        let scope = GrantScope::SessionPrefix("/home/dev/p".into());
        assert!(
            broker
                .approve(&info.id, &scope, "dev", Channel::TrayWindow)
                .is_ok()
        );
    }

    #[tokio::test]
    async fn the_code_is_never_in_what_the_socket_lists() {
        let broker = ApprovalBroker::new(Duration::from_secs(3600));
        let (info, _ticket) = held(&broker, "/w/a.txt");
        let code = broker.code_of(&info.id).unwrap();
        let listed = serde_json::to_string(&broker.pending()).unwrap();
        assert!(!listed.contains(&code), "{listed}");
        assert!(!listed.contains(&code.replace('-', "")), "{listed}");
        assert_eq!(code.len(), 9);
    }

    #[tokio::test]
    async fn the_right_code_approves_through_the_cli_channel() {
        let broker = ApprovalBroker::new(Duration::from_secs(3600));
        let (info, ticket) = held(&broker, "/w/a.txt");
        let code = broker.code_of(&info.id).unwrap();
        let typed = code.to_lowercase().replace('-', " ");
        broker
            .approve_with_code(&info.id, &typed, &GrantScope::Once, "dev")
            .unwrap();
        assert_eq!(
            ticket.wait(&broker).await,
            ApprovalDecision::Approved {
                reviewer: "dev".into(),
                session: false,
                channel: Channel::CliCode
            }
        );
        // Used once.
        assert_eq!(
            broker.approve_with_code(&info.id, &code, &GrantScope::Once, "dev"),
            Err(CodeError::Unknown(info.id.clone()))
        );
    }

    #[tokio::test]
    async fn wrong_codes_are_bounded_then_the_call_is_refused() {
        let broker = ApprovalBroker::new(Duration::from_secs(3600));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        broker.set_announcer(Arc::new(move |a: &Announcement| {
            if let Ok(mut v) = sink.lock() {
                v.push(a.clone());
            }
        }));
        let (info, ticket) = held(&broker, "/w/a.txt");
        let code = broker.code_of(&info.id).unwrap();
        // The host was told the code with the call.
        assert!(matches!(
            seen.lock().unwrap().first(),
            Some(Announcement::Held { code: c, .. }) if *c == code
        ));
        for left in (0..MAX_CODE_ATTEMPTS).rev() {
            assert_eq!(
                broker.approve_with_code(&info.id, "0000-0000", &GrantScope::Once, "agent"),
                Err(CodeError::Wrong {
                    subject: format!("approval {}", info.id),
                    left
                })
            );
        }
        // The right code is too late now: the call was refused as a possible forgery.
        assert!(
            broker
                .approve_with_code(&info.id, &code, &GrantScope::Once, "dev")
                .is_err()
        );
        match ticket.wait(&broker).await {
            ApprovalDecision::Rejected { reviewer, reason } => {
                assert_eq!(reviewer, FORGERY_GUARD);
                assert!(reason.unwrap_or_default().contains("wrong approval codes"));
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let warnings = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|a| matches!(a, Announcement::WrongCode { .. }))
            .count();
        assert_eq!(warnings, MAX_CODE_ATTEMPTS as usize);
    }

    #[tokio::test]
    async fn too_many_wrong_codes_lock_code_approvals_but_not_the_desktop() {
        let broker = ApprovalBroker::new(Duration::from_secs(3600));
        let mut failures = 0;
        while failures < MAX_FAILED_CODES {
            let (info, _ticket) = held(&broker, "/w/a.txt");
            for _ in 0..MAX_CODE_ATTEMPTS {
                if failures < MAX_FAILED_CODES {
                    let _ = broker.approve_with_code(&info.id, "bad", &GrantScope::Once, "x");
                    failures += 1;
                }
            }
        }
        let (info, ticket) = held(&broker, "/w/a.txt");
        let code = broker.code_of(&info.id).unwrap();
        assert_eq!(
            broker.approve_with_code(&info.id, &code, &GrantScope::Once, "dev"),
            Err(CodeError::Locked)
        );
        assert_eq!(
            broker.redeem("resume all agents", &code),
            Err(CodeError::Locked)
        );
        broker
            .approve(&info.id, &GrantScope::Once, "dev", Channel::TrayWindow)
            .unwrap();
        assert!(matches!(
            ticket.wait(&broker).await,
            ApprovalDecision::Approved {
                channel: Channel::TrayWindow,
                ..
            }
        ));
    }

    #[test]
    fn challenges_are_one_time_and_bounded() {
        let broker = ApprovalBroker::new(Duration::from_secs(3600));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        broker.set_announcer(Arc::new(move |a: &Announcement| {
            if let Announcement::Challenge { code, .. } = a
                && let Ok(mut v) = sink.lock()
            {
                v.push(code.clone());
            }
        }));
        // No challenge asked: nothing to redeem.
        assert!(matches!(
            broker.redeem("resume all agents", "AAAA-AAAA"),
            Err(CodeError::Unknown(_))
        ));
        broker.challenge("resume all agents");
        let code = seen.lock().unwrap().last().cloned().unwrap();
        // A code for another action does not work.
        assert!(broker.redeem("approve tool x", &code).is_err());
        assert!(broker.redeem("resume all agents", &code).is_ok());
        assert!(broker.redeem("resume all agents", &code).is_err());
        broker.challenge("resume all agents");
        let code = seen.lock().unwrap().last().cloned().unwrap();
        for _ in 0..MAX_CODE_ATTEMPTS {
            assert!(matches!(
                broker.redeem("resume all agents", "ZZZZ-ZZZZ"),
                Err(CodeError::Wrong { .. })
            ));
        }
        assert!(matches!(
            broker.redeem("resume all agents", &code),
            Err(CodeError::Unknown(_))
        ));
    }

    #[test]
    fn codes_compare_forgivingly_but_exactly() {
        assert!(codes_match("AB1C-0XYZ", "ab1c0xyz"));
        assert!(codes_match("AB1C-0XYZ", "AB1C 0XYZ"));
        assert!(codes_match("AB1C-0XYZ", "abic-oxyz"));
        assert!(!codes_match("AB1C-0XYZ", "AB1C-0XY"));
        assert!(!codes_match("AB1C-0XYZ", "AB1C-0XYY"));
        assert!(!codes_match("AB1C-0XYZ", ""));
        assert!(!codes_match("", ""));
        let codes: HashSet<String> = (0..1000).map(|_| one_time_code()).collect();
        assert_eq!(codes.len(), 1000);
    }

    #[test]
    fn announcements_show_hostile_text_escaped() {
        let line = Announcement::Held {
            approval: Box::new(PendingApproval {
                id: "abc".into(),
                request: ApprovalRequest {
                    agent: "a\x1b[2K".into(),
                    session_id: "s".into(),
                    server: "fs".into(),
                    tool: "w\nrite".into(),
                    action: "job.mcp-bridge.write.file".into(),
                    target: Some("x\u{202e}txt.exe".into()),
                    risk_tags: vec![],
                    rule_id: None,
                    reason: String::new(),
                    diff: None,
                    args: json!({}),
                    root: None,
                    policy_version: String::new(),
                },
                preview: None,
                args_sha256: String::new(),
                created_at: String::new(),
                expires_at: String::new(),
            }),
            code: "AAAA-BBBB".into(),
        }
        .line();
        assert!(!line.chars().any(cordon_text::is_hidden), "{line}");
        assert!(
            line.contains("a\\x1b[2K") && line.contains("w\\nrite"),
            "{line}"
        );
        assert!(line.contains("x\\u{202e}txt.exe"), "{line}");
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
