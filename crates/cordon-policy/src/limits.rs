//! Runtime constraints: budgets per session or per agent, rate limits, upstream timeouts, the
//! blast radius (workspace roots) and the policy's kill switch.
//!
//! This module is pure: it decides whether a call would cross a limit given the counters the
//! caller keeps ([`Usage`]), and how a call changes them ([`Cost`]). The gateway stores the
//! counters with the evidence so they survive a restart.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Decision;
use crate::classify::{Classification, TOPIC_PREFIX, ToolCall};
use crate::duration::human_duration;
use crate::eval::{CompiledRule, Unit};

/// Rule id prefix of a decision a limit made: `limit:max_file_writes`.
pub const LIMIT_RULE_PREFIX: &str = "limit:";
/// The window of `calls_per_minute`.
pub const RATE_WINDOW: Duration = Duration::from_secs(60);

/// Which counter a limit caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// Calls let through.
    MaxToolCalls,
    /// Calls that write, move, remove or create files.
    MaxFileWrites,
    /// Bytes of content written by calls that say what they write.
    MaxBytesWritten,
    /// Distinct files written, moved or removed.
    MaxFilesChanged,
    /// Time since the first call of the session (or of the agent, `per: agent`).
    MaxSessionDuration,
    /// Calls in any 60-second window.
    CallsPerMinute,
}

impl LimitKind {
    /// The policy key (and the `limit:<key>` rule id).
    pub fn key(self) -> &'static str {
        match self {
            LimitKind::MaxToolCalls => "max_tool_calls",
            LimitKind::MaxFileWrites => "max_file_writes",
            LimitKind::MaxBytesWritten => "max_bytes_written",
            LimitKind::MaxFilesChanged => "max_files_changed",
            LimitKind::MaxSessionDuration => "max_session_duration",
            LimitKind::CallsPerMinute => "calls_per_minute",
        }
    }

    /// The rule id recorded when this limit decides: `limit:<key>`.
    pub fn rule_id(self) -> String {
        format!("{LIMIT_RULE_PREFIX}{}", self.key())
    }
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// What happens to a call that would cross a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitAction {
    /// Refused.
    Deny,
    /// Held for a human, who may let it through (and it then counts).
    RequireApproval,
    /// `calls_per_minute` only: the call waits until the window has room (at most a minute),
    /// then passes; recorded with the decision `throttle`.
    Throttle,
}

impl LimitAction {
    /// The spelling in policies and evidence.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitAction::Deny => "deny",
            LimitAction::RequireApproval => "require_approval",
            LimitAction::Throttle => "throttle",
        }
    }
}

/// Whose calls share one set of counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitScope {
    /// Each agent session has its own counters (the default).
    Session,
    /// All sessions of one agent share the counters.
    Agent,
}

/// One `limits:` entry, compiled.
#[derive(Debug, Clone)]
pub struct Limit {
    /// Its id (unique among the limits), the key of its counters.
    pub id: String,
    /// Whose calls share counters.
    pub per: LimitScope,
    /// Most calls let through.
    pub max_tool_calls: Option<u64>,
    /// Most file-writing calls.
    pub max_file_writes: Option<u64>,
    /// Most bytes written.
    pub max_bytes_written: Option<u64>,
    /// Most distinct files changed.
    pub max_files_changed: Option<u64>,
    /// Longest session (from its first call).
    pub max_session_duration: Option<Duration>,
    /// Most calls in any 60 seconds.
    pub calls_per_minute: Option<u64>,
    /// Longest an upstream may take to answer one call.
    pub upstream_timeout: Option<Duration>,
    /// What happens at a limit.
    pub on_limit: LimitAction,
    /// Extra text for the reason, if the author gave one.
    pub reason: Option<String>,
    pub(crate) matcher: CompiledRule,
}

/// The counters of one limit for one session (or agent). Serialisable: the gateway stores it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Calls let through.
    #[serde(default)]
    pub calls: u64,
    /// File-writing calls let through.
    #[serde(default)]
    pub writes: u64,
    /// Bytes written.
    #[serde(default)]
    pub bytes: u64,
    /// Distinct files changed.
    #[serde(default)]
    pub files: BTreeSet<String>,
    /// When the first call was seen (ms since the Unix epoch).
    #[serde(default)]
    pub started_ms: Option<u64>,
    /// When the calls of the last minute passed (ms since the Unix epoch), oldest first. Not
    /// stored: a rate window is at most a minute old, and storing it would make every call pay
    /// for serialising it.
    #[serde(skip)]
    pub recent_ms: VecDeque<u64>,
}

/// What one call adds to the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cost {
    /// Whether the call writes, moves, removes or creates files.
    pub writes: bool,
    /// Bytes of content it writes (what its arguments carry; 0 when unknowable).
    pub bytes: u64,
    /// The files it changes.
    pub files: Vec<String>,
}

/// A limit the call would cross.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Breach {
    /// Which counter.
    pub kind: LimitKind,
    /// The `limits:` entry.
    pub limit_id: String,
    /// `limit:<key>`, recorded as the rule.
    pub rule_id: String,
    /// The numbers: what the limit is and where the counter stands.
    pub reason: String,
    /// What happens now.
    pub action: LimitAction,
    /// For a throttle: how long until the window has room.
    pub retry_after: Option<Duration>,
}

fn saturating(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Usage {
    /// Drops rate entries older than the window before `now_ms`.
    fn prune(&mut self, now_ms: u64) {
        let window = saturating(RATE_WINDOW);
        while self
            .recent_ms
            .front()
            .is_some_and(|t| now_ms.saturating_sub(*t) >= window)
        {
            self.recent_ms.pop_front();
        }
    }

    /// Marks the scope as started at `now_ms` if it was not yet.
    pub fn start(&mut self, now_ms: u64) {
        if self.started_ms.is_none() {
            self.started_ms = Some(now_ms);
        }
    }

    /// Counts a call that was let through.
    pub fn charge(&mut self, cost: &Cost, now_ms: u64, rate: bool) {
        self.start(now_ms);
        self.calls = self.calls.saturating_add(1);
        if cost.writes {
            self.writes = self.writes.saturating_add(1);
        }
        self.bytes = self.bytes.saturating_add(cost.bytes);
        for f in &cost.files {
            self.files.insert(f.clone());
        }
        if rate {
            self.prune(now_ms);
            self.recent_ms.push_back(now_ms);
        }
    }
}

impl Limit {
    /// Whether this limit counts `call`: its `match` (read the way a deny rule reads it: any
    /// path or command) holds for the whole call or one of its parts. No `match` = every call.
    pub fn applies(&self, call: &ToolCall, c: &Classification) -> bool {
        let whole = Unit {
            topic: &c.topic,
            tags: &c.risk_tags,
            paths: c
                .parts
                .iter()
                .flat_map(|p| p.paths.iter().map(String::as_str))
                .collect(),
            commands: c
                .parts
                .iter()
                .filter_map(|p| p.command.as_ref().map(|argv| argv.join(" ")))
                .collect(),
        };
        if self.matcher.matches(call, &whole) {
            return true;
        }
        c.parts.iter().any(|part| {
            let unit = Unit {
                topic: &part.topic,
                tags: &part.risk_tags,
                paths: part.paths.iter().map(String::as_str).collect(),
                commands: part.command.iter().map(|argv| argv.join(" ")).collect(),
            };
            self.matcher.matches(call, &unit)
        })
    }

    /// Whether the call (costing `cost`) would cross a limit, given `usage` (which the check
    /// prunes of stale rate entries). The first limit crossed, in the order of [`LimitKind`].
    /// "Cross" means: with `max_tool_calls: 3`, calls 1 to 3 pass and the 4th is stopped.
    pub fn check(&self, usage: &mut Usage, cost: &Cost, now_ms: u64) -> Option<Breach> {
        usage.prune(now_ms);
        let breach = |kind: LimitKind, reason: String| {
            let extra = self
                .reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            Some(Breach {
                kind,
                limit_id: self.id.clone(),
                rule_id: kind.rule_id(),
                reason: format!("limit `{}` {kind} reached: {reason}{extra}", self.id),
                action: if self.on_limit == LimitAction::Throttle
                    && kind != LimitKind::CallsPerMinute
                {
                    LimitAction::Deny
                } else {
                    self.on_limit
                },
                retry_after: None,
            })
        };
        let scope = match self.per {
            LimitScope::Session => "this session",
            LimitScope::Agent => "this agent",
        };
        if let Some(max) = self.max_session_duration
            && let Some(start) = usage.started_ms
        {
            let elapsed = Duration::from_millis(now_ms.saturating_sub(start));
            if elapsed >= max {
                return breach(
                    LimitKind::MaxSessionDuration,
                    format!(
                        "{scope} started {} ago; the limit is {}",
                        human_duration(Duration::from_secs(elapsed.as_secs())),
                        human_duration(max)
                    ),
                );
            }
        }
        if let Some(max) = self.max_tool_calls
            && usage.calls.saturating_add(1) > max
        {
            return breach(
                LimitKind::MaxToolCalls,
                format!(
                    "{} of {max} tool calls already made in {scope}",
                    usage.calls
                ),
            );
        }
        if cost.writes
            && let Some(max) = self.max_file_writes
            && usage.writes.saturating_add(1) > max
        {
            return breach(
                LimitKind::MaxFileWrites,
                format!(
                    "{} of {max} file writes already made in {scope}",
                    usage.writes
                ),
            );
        }
        if let Some(max) = self.max_bytes_written
            && cost.bytes > 0
            && usage.bytes.saturating_add(cost.bytes) > max
        {
            return breach(
                LimitKind::MaxBytesWritten,
                format!(
                    "{} bytes written in {scope}, this call writes {} more; the limit is {max} bytes",
                    usage.bytes, cost.bytes
                ),
            );
        }
        if let Some(max) = self.max_files_changed {
            let new: BTreeSet<&String> = cost
                .files
                .iter()
                .filter(|f| !usage.files.contains(*f))
                .collect();
            let total =
                u64::try_from(usage.files.len().saturating_add(new.len())).unwrap_or(u64::MAX);
            if !new.is_empty() && total > max {
                return breach(
                    LimitKind::MaxFilesChanged,
                    format!(
                        "{} of {max} distinct files already changed in {scope}; this call changes {} more",
                        usage.files.len(),
                        new.len()
                    ),
                );
            }
        }
        if let Some(max) = self.calls_per_minute {
            let in_window = u64::try_from(usage.recent_ms.len()).unwrap_or(u64::MAX);
            if in_window.saturating_add(1) > max {
                // Room frees up when the oldest call that must leave the window does.
                let excess = usize::try_from(in_window.saturating_add(1).saturating_sub(max))
                    .unwrap_or(usize::MAX);
                let leaving = usage
                    .recent_ms
                    .get(excess.saturating_sub(1))
                    .copied()
                    .unwrap_or(now_ms);
                // (`leaving` may lie in the future: a throttled call's reserved slot.)
                let retry = leaving
                    .saturating_add(saturating(RATE_WINDOW))
                    .saturating_sub(now_ms)
                    .max(1);
                let mut b = breach(
                    LimitKind::CallsPerMinute,
                    format!("{in_window} calls in the last minute; the limit is {max} per minute"),
                )?;
                b.retry_after = Some(Duration::from_millis(retry));
                return Some(b);
            }
        }
        None
    }
}

/// Argument keys whose string values are content a call writes.
const CONTENT_KEYS: &[&str] = &[
    "content",
    "contents",
    "new_string",
    "newText",
    "new_text",
    "new_str",
    "file_text",
    "text",
    "data",
    "patch",
    "diff",
];

fn content_bytes(value: &Value, depth: usize) -> u64 {
    if depth > 16 {
        return 0;
    }
    match value {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) if CONTENT_KEYS.contains(&k.as_str()) => {
                    u64::try_from(s.len()).unwrap_or(u64::MAX)
                }
                Value::Array(_) | Value::Object(_) => content_bytes(v, depth + 1),
                _ => 0,
            })
            .fold(0u64, u64::saturating_add),
        Value::Array(items) => items
            .iter()
            .map(|v| content_bytes(v, depth + 1))
            .fold(0u64, u64::saturating_add),
        _ => 0,
    }
}

/// What a classified call adds to the counters: whether it writes (a part with a `write.*`
/// topic), the content bytes its arguments carry (`content`, `new_string`, `edits[].newText`...;
/// a shell redirection's size is unknowable and counts 0), and the files it changes.
pub fn cost_of(call: &ToolCall, c: &Classification) -> Cost {
    let write_prefix = format!("{TOPIC_PREFIX}write.");
    let mut cost = Cost::default();
    for part in &c.parts {
        let writes = part.topic.starts_with(&write_prefix) || !part.writes.is_empty();
        if !writes {
            continue;
        }
        cost.writes = true;
        let files = if part.writes.is_empty() {
            &part.paths
        } else {
            &part.writes
        };
        for f in files {
            if !cost.files.contains(f) {
                cost.files.push(f.clone());
            }
        }
    }
    if cost.writes {
        cost.bytes = content_bytes(&call.args, 0);
    }
    cost
}

/// What the policy says about writes outside the workspace roots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BlastRadius {
    /// A write, move or remove outside the roots (or a shell command whose working directory
    /// is outside them). Default `deny`.
    pub outside_roots: Decision,
    /// A write when no roots are known for the agent. Default `require_approval`: fail closed
    /// (a human sees it), yet usable.
    pub unknown_roots: Decision,
}

impl Default for BlastRadius {
    fn default() -> Self {
        BlastRadius {
            outside_roots: Decision::Deny,
            unknown_roots: Decision::RequireApproval,
        }
    }
}

/// The policy file's kill switch: `paused: true` and `paused_agents: [...]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PolicyPause {
    /// Every agent is paused.
    pub all: bool,
    /// These agents are paused (globs).
    pub agents: Vec<String>,
}

impl PolicyPause {
    /// Whether `agent` is paused by the policy.
    pub fn pauses(&self, agent: &str) -> bool {
        self.all
            || self.agents.iter().any(|pattern| {
                globset::Glob::new(pattern)
                    .map(|g| g.compile_matcher().is_match(agent))
                    // A glob that does not compile was refused at load; pause anyway.
                    .unwrap_or(true)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DiagnosticKind, Policy, Source};

    fn load(text: &str) -> Result<Policy, crate::PolicyError> {
        Policy::from_sources(&[Source {
            name: "p.yaml".into(),
            text: text.into(),
        }])
    }

    fn policy(text: &str) -> Policy {
        match load(text) {
            Ok(p) => p,
            Err(e) => panic!("policy should load:\n{e}"),
        }
    }

    /// The first error's (line, column, message).
    fn error(text: &str) -> (usize, usize, String) {
        match load(text) {
            Ok(_) => panic!("policy should not load:\n{text}"),
            Err(e) => {
                let d = e.diagnostics.first().cloned().unwrap();
                (d.line, d.column, d.message)
            }
        }
    }

    fn call(agent: &str, tool: &str, args: serde_json::Value) -> ToolCall {
        ToolCall {
            agent: agent.into(),
            server: "fs".into(),
            tool: tool.into(),
            args,
        }
    }

    const BASE: &str = "version: v1\nrules: []\n";

    fn one_limit(body: &str) -> Limit {
        let p = policy(&format!("{BASE}limits:\n  - id: budget\n{body}"));
        p.limits().first().cloned().unwrap()
    }

    /// Runs `n` identical calls through `limit`, charging those that pass; returns the breach
    /// of the first call that is stopped and its 1-based number.
    fn cross(limit: &Limit, c: &ToolCall, n: usize) -> Option<(usize, Breach)> {
        let classification = Policy::shipped_default().classifier().classify(c);
        let cost = cost_of(c, &classification);
        let mut usage = Usage::default();
        usage.start(1_000);
        for i in 1..=n {
            let now = 1_000 + u64::try_from(i).unwrap();
            if let Some(b) = limit.check(&mut usage, &cost, now) {
                return Some((i, b));
            }
            usage.charge(&cost, now, limit.calls_per_minute.is_some());
        }
        None
    }

    fn write(path: &str, content: &str) -> ToolCall {
        call(
            "claude-code",
            "write_file",
            serde_json::json!({"path": path, "content": content}),
        )
    }

    #[test]
    fn each_count_limit_is_crossed_by_exactly_one() {
        let read = call("a", "read_file", serde_json::json!({"path": "x"}));
        let l = one_limit("    max_tool_calls: 3\n");
        let (n, b) = cross(&l, &read, 10).unwrap();
        assert_eq!(n, 4);
        assert_eq!(b.rule_id, "limit:max_tool_calls");
        assert_eq!(b.action, LimitAction::Deny);
        assert!(b.reason.contains("3 of 3 tool calls"), "{}", b.reason);

        let l = one_limit("    max_file_writes: 2\n");
        assert!(cross(&l, &read, 10).is_none(), "reads are not writes");
        let (n, b) = cross(&l, &write("a.txt", "x"), 10).unwrap();
        assert_eq!((n, b.kind), (3, LimitKind::MaxFileWrites));
        assert!(b.reason.contains("2 of 2 file writes"), "{}", b.reason);

        let l = one_limit("    max_bytes_written: 10\n");
        let (n, b) = cross(&l, &write("a.txt", "12345"), 10).unwrap();
        assert_eq!((n, b.kind), (3, LimitKind::MaxBytesWritten));
        assert!(b.reason.contains("10 bytes written"), "{}", b.reason);

        let l = one_limit("    calls_per_minute: 2\n    on_limit: throttle\n");
        let (n, b) = cross(&l, &read, 10).unwrap();
        assert_eq!(
            (n, b.kind, b.action),
            (3, LimitKind::CallsPerMinute, LimitAction::Throttle)
        );
        // The oldest call (at t=1001) leaves the window at t=61001; now is 1003.
        assert_eq!(b.retry_after, Some(Duration::from_millis(59_998)));
    }

    #[test]
    fn distinct_files_count_once_each() {
        let l = one_limit("    max_files_changed: 2\n    on_limit: require_approval\n");
        let p = Policy::shipped_default();
        let mut usage = Usage::default();
        for (path, stopped) in [
            ("a", false),
            ("b", false),
            ("a", false),
            ("b", false),
            ("c", true),
        ] {
            let c = write(path, "x");
            let cost = cost_of(&c, &p.classifier().classify(&c));
            let breach = l.check(&mut usage, &cost, 5);
            assert_eq!(breach.is_some(), stopped, "{path}");
            if let Some(b) = breach {
                assert_eq!(b.action, LimitAction::RequireApproval);
                assert_eq!(b.rule_id, "limit:max_files_changed");
                assert!(b.reason.contains("2 of 2 distinct files"), "{}", b.reason);
            } else {
                usage.charge(&cost, 5, false);
            }
        }
    }

    #[test]
    fn session_duration_counts_from_the_first_call() {
        let l = one_limit("    max_session_duration: 1m\n");
        let mut usage = Usage::default();
        let cost = Cost::default();
        assert!(
            l.check(&mut usage, &cost, 0).is_none(),
            "a new session is not over"
        );
        usage.start(1_000);
        assert!(l.check(&mut usage, &cost, 60_999).is_none());
        let b = l.check(&mut usage, &cost, 61_000).unwrap();
        assert_eq!(b.rule_id, "limit:max_session_duration");
        assert!(
            b.reason.contains("started 1m ago; the limit is 1m"),
            "{}",
            b.reason
        );
    }

    #[test]
    fn zero_allows_none_and_huge_limits_never_overflow() {
        let l = one_limit("    max_file_writes: 0\n");
        let (n, _) = cross(&l, &write("a", "x"), 3).unwrap();
        assert_eq!(n, 1);
        let l =
            one_limit("    max_tool_calls: 18446744073709551615\n    max_bytes_written: 16GiB\n");
        assert_eq!(l.max_tool_calls, Some(u64::MAX));
        assert_eq!(l.max_bytes_written, Some(16 << 30));
        let mut usage = Usage {
            calls: u64::MAX,
            bytes: u64::MAX,
            ..Usage::default()
        };
        // Saturating: a full counter is at the limit, never wrapped back to zero.
        let b = l.check(
            &mut usage,
            &Cost {
                writes: true,
                bytes: 1,
                files: vec![],
            },
            0,
        );
        // u64::MAX calls + 1 saturates at the call limit of u64::MAX (no wrap to 0), and the
        // byte counter, saturated too, is over its 16 GiB.
        assert_eq!(b.map(|b| b.kind), Some(LimitKind::MaxBytesWritten));
        usage.charge(
            &Cost {
                writes: true,
                bytes: u64::MAX,
                files: vec![],
            },
            0,
            true,
        );
        assert_eq!(usage.calls, u64::MAX);
    }

    #[test]
    fn match_scopes_a_limit_to_some_calls() {
        let p = policy(&format!(
            "{BASE}limits:\n  - id: pushes\n    match: {{agents: [cursor], topics: [job.mcp-bridge.git.push]}}\n    max_tool_calls: 1\n"
        ));
        let push = call(
            "cursor",
            "run_command",
            serde_json::json!({"command": "git push origin dev"}),
        );
        let c = p.classifier().classify(&push);
        assert_eq!(p.limits_for(&push, &c).count(), 1);
        let other = call(
            "claude-code",
            "run_command",
            serde_json::json!({"command": "git push origin dev"}),
        );
        assert_eq!(
            p.limits_for(&other, &p.classifier().classify(&other))
                .count(),
            0
        );
        // A compound command is counted when one part matches.
        let compound = call(
            "cursor",
            "run_command",
            serde_json::json!({"command": "ls && git push"}),
        );
        assert_eq!(
            p.limits_for(&compound, &p.classifier().classify(&compound))
                .count(),
            1
        );
    }

    #[test]
    fn upstream_timeout_is_the_shortest_that_applies() {
        let p = policy(&format!(
            "{BASE}limits:\n  - id: all\n    upstream_timeout: 2m\n  - id: slow-tools\n    match: {{tools: [slow_*]}}\n    upstream_timeout: 500ms\n"
        ));
        let slow = call("a", "slow_op", serde_json::json!({}));
        let c = p.classifier().classify(&slow);
        assert_eq!(
            p.upstream_timeout(&slow, &c),
            Some(Duration::from_millis(500))
        );
        let fast = call("a", "echo", serde_json::json!({}));
        let c = p.classifier().classify(&fast);
        assert_eq!(
            p.upstream_timeout(&fast, &c),
            Some(Duration::from_secs(120))
        );
    }

    #[test]
    fn bad_limits_are_load_errors_with_positions() {
        let at = |body: &str| error(&format!("{BASE}limits:\n  - id: x\n{body}"));
        let (l, c, m) = at("    max_tool_calls: -1\n");
        assert_eq!((l, c), (5, 21));
        assert!(m.contains("must not be negative"), "{m}");
        let (_, _, m) = at("    max_tool_calls: 1.5\n");
        assert!(m.contains("whole number"), "{m}");
        let (_, _, m) = at("    max_tool_calls: 99999999999999999999999\n");
        assert!(m.contains("too large"), "{m}");
        let (_, _, m) = at("    max_bytes_written: 99999999999GB\n");
        assert!(m.contains("too large"), "{m}");
        let (_, _, m) = at("    max_bytes_written: 10 parsecs\n");
        assert!(m.contains("invalid size"), "{m}");
        let (_, _, m) = at("    max_session_duration: 0s\n");
        assert!(m.contains("greater than zero"), "{m}");
        let (_, _, m) = at("    max_session_duration: 30\n");
        assert!(m.contains("no valid unit"), "{m}");
        let (_, _, m) = at("    upstream_timeout: 99999999d\n");
        assert!(m.contains("too long"), "{m}");
        let (_, _, m) = at("    calls_per_minute: 0\n");
        assert!(m.contains("at least 1"), "{m}");
        let (l, c, m) = at("    max_tool_calls: 3\n    max_tool_call: 3\n");
        assert_eq!((l, c), (6, 5));
        assert!(m.contains("unknown key `max_tool_call`"), "{m}");
        let (_, _, m) = at("    max_tool_calls: 3\n    on_limit: ask\n");
        assert!(m.contains("on_limit"), "{m}");
        let (_, _, m) = at("    max_tool_calls: 3\n    on_limit: throttle\n");
        assert!(m.contains("needs `calls_per_minute`"), "{m}");
        let (_, _, m) =
            at("    calls_per_minute: 3\n    max_file_writes: 1\n    on_limit: throttle\n");
        assert!(m.contains("applies to `calls_per_minute` only"), "{m}");
        let (_, _, m) = at("    per: user\n    max_tool_calls: 1\n");
        assert!(m.contains("`per` must be"), "{m}");
        let (_, _, m) = at("    description: nothing\n");
        assert!(m.contains("sets no limit"), "{m}");
        let (_, _, m) = at("    max_tool_calls: 1\n    match: {risk_tags: [prod]}\n");
        assert!(m.contains("unknown risk tag"), "{m}");
        let (_, _, m) = error(&format!(
            "{BASE}limits:\n  - id: x\n    max_tool_calls: 1\n  - id: x\n    max_tool_calls: 2\n"
        ));
        assert!(m.contains("duplicate limit id"), "{m}");
        let e = load(&format!("{BASE}limits:\n  - max_tool_calls: 1\n")).unwrap_err();
        assert_eq!(
            e.diagnostics.first().map(|d| d.kind),
            Some(DiagnosticKind::MissingField)
        );
    }

    #[test]
    fn blast_radius_pause_and_production_keys() {
        let p = policy(&format!(
            "{BASE}blast_radius: {{outside_roots: require_approval, unknown_roots: deny}}\npaused_agents: [cursor, \"ci-*\"]\nproduction:\n  kube_contexts: [prod]\n  git_branches: [main]\n"
        ));
        assert_eq!(p.blast_radius().outside_roots, Decision::RequireApproval);
        assert_eq!(p.blast_radius().unknown_roots, Decision::Deny);
        assert!(!p.pause().all);
        assert!(p.pause().pauses("cursor") && p.pause().pauses("ci-7"));
        assert!(!p.pause().pauses("claude-code"));
        let prod = call(
            "a",
            "run_command",
            serde_json::json!({"command": "kubectl --context prod delete pod x"}),
        );
        let c = p.classifier().classify(&prod);
        assert!(c.risk_tags.contains("production"), "{c:?}");
        let staging = call(
            "a",
            "run_command",
            serde_json::json!({"command": "kubectl --context staging delete pod x"}),
        );
        assert!(
            !p.classifier()
                .classify(&staging)
                .risk_tags
                .contains("production")
        );
        assert!(
            policy(&format!("{BASE}paused: true\n"))
                .pause()
                .pauses("anyone")
        );
        assert_eq!(
            Policy::shipped_default().blast_radius(),
            BlastRadius::default()
        );
        let (_, _, m) = error(&format!("{BASE}paused: yes-please\n"));
        assert!(m.contains("true or false"), "{m}");
        let (_, _, m) = error(&format!("{BASE}production:\n  kube_context: [prod]\n"));
        assert!(m.contains("unknown key `kube_context`"), "{m}");
        let (_, _, m) = error(&format!("{BASE}production:\n  git_branches: [\"[\"]\n"));
        assert!(m.contains("invalid glob"), "{m}");
        let (_, _, m) = error(&format!("{BASE}blast_radius: {{outside_roots: maybe}}\n"));
        assert!(m.contains("unknown decision"), "{m}");
    }

    #[test]
    fn costs_of_writes() {
        let p = Policy::shipped_default();
        let edit = call(
            "a",
            "edit_file",
            serde_json::json!({"path": "a.rs", "edits": [{"oldText": "x", "newText": "hello"}]}),
        );
        let cost = cost_of(&edit, &p.classifier().classify(&edit));
        assert!(cost.writes);
        assert_eq!(cost.bytes, 5);
        assert_eq!(cost.files, vec!["a.rs".to_owned()]);
        let shell = call(
            "a",
            "run_command",
            serde_json::json!({"command": "echo hi > out.txt && rm old.txt"}),
        );
        let cost = cost_of(&shell, &p.classifier().classify(&shell));
        assert!(cost.writes);
        assert_eq!(cost.files, vec!["out.txt".to_owned(), "old.txt".to_owned()]);
        let read = call(
            "a",
            "read_file",
            serde_json::json!({"path": "a.rs", "content": "zzz"}),
        );
        assert_eq!(
            cost_of(&read, &p.classifier().classify(&read)),
            Cost::default()
        );
    }
}
