//! Runtime constraints (issue 9), applied after the policy's rules: the kill switch, the blast
//! radius (workspace roots) and the policy's `limits:` (budgets, rate limits, upstream
//! timeouts).
//!
//! - **Kill switch.** [`Constraints::pause`] / [`Constraints::resume`] (the engine's, the
//!   control socket's `pause`/`resume`, `cordon pause`), or `paused`/`paused_agents` in the
//!   policy: every call of a paused agent is refused (rule `pause`) and recorded. The engine's
//!   pause state is stored in the evidence database (`engine_state`), so it survives a restart.
//! - **Blast radius.** A call that writes, moves or removes a path outside the agent's
//!   workspace roots, or a shell command whose working directory is outside them, gets the
//!   policy's `blast_radius.outside_roots` decision (default deny, rule
//!   `blast-radius:outside-roots`). Paths are resolved physically: `..`, symlinks (also
//!   symlinked parents of a file about to be created). Roots, first found wins:
//!   `agents.<name>.roots` in the config; the roots the agent's MCP client announced
//!   (`roots/list`); `workspace.roots`; for native hooks, the agent's working directory. With
//!   none known, writes get `blast_radius.unknown_roots` (default require_approval: a human
//!   sees every write, rule `blast-radius:unknown-roots`).
//! - **Limits.** Counters per (session or agent, limit id), charged when a call is let through,
//!   kept in memory and written behind to the evidence database (`counters`), loaded back the
//!   first time a session is seen after a restart.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cordon_classify::within_roots;
use cordon_evidence::EvidenceLog;
use cordon_policy::{
    Breach, Classification, Cost, Decision, LimitAction, LimitScope, Policy, ToolCall, Usage,
    Verdict, cost_of,
};
use serde::{Deserialize, Serialize};

/// Rule id of a call refused because its agent is paused.
pub const PAUSE_RULE: &str = "pause";
/// Rule id of a write (or shell working directory) outside the workspace roots.
pub const OUTSIDE_ROOTS_RULE: &str = "blast-radius:outside-roots";
/// Rule id of a write when no workspace roots are known for the agent.
pub const UNKNOWN_ROOTS_RULE: &str = "blast-radius:unknown-roots";
/// The recorded decision of a call a rate limit delayed.
pub const THROTTLE_DECISION: &str = "throttle";
/// Key, among a scope's counters, marking that its stored counters could not be read: every limit
/// of that scope then starts from [`exhausted`] instead of zero (fail closed).
const UNREADABLE: &str = "\u{0}unreadable";
/// Key of the pause state in the evidence database's `engine_state`.
const PAUSE_KEY: &str = "pause";
/// Most sessions whose client roots are remembered at once.
const MAX_CLIENT_ROOT_SESSIONS: usize = 10_000;
/// Argument names of a shell tool's working directory (as the classifier reads them).
const CWD_KEYS: &[&str] = &["cwd", "workdir", "working_directory", "directory"];

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

enum WriterMsg {
    Save(String, String, String),
    Flush(std::sync::mpsc::Sender<()>),
}

/// The engine's runtime constraints state.
pub struct Constraints {
    log: Option<Arc<EvidenceLog>>,
    pause: RwLock<PauseState>,
    /// scope → limit id → counters.
    counters: Mutex<HashMap<String, HashMap<String, Usage>>>,
    writer: Option<Mutex<std::sync::mpsc::Sender<WriterMsg>>>,
    agent_roots: BTreeMap<String, Vec<PathBuf>>,
    workspace_roots: Vec<PathBuf>,
    /// Roots announced by MCP clients, by session id.
    client_roots: Mutex<HashMap<String, Vec<PathBuf>>>,
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

/// Milliseconds since the Unix epoch (wall clock: counters outlive the process).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl Constraints {
    /// Constraints backed by `log` (counters and pause state persist there; None = memory
    /// only), with the config's per-agent and workspace roots. Loads the stored pause state.
    pub fn new(
        log: Option<Arc<EvidenceLog>>,
        agent_roots: BTreeMap<String, Vec<PathBuf>>,
        workspace_roots: Vec<PathBuf>,
    ) -> Constraints {
        let pause = log
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
        let writer = log.clone().and_then(|log| {
            let (tx, rx) = std::sync::mpsc::channel::<WriterMsg>();
            let spawned = std::thread::Builder::new()
                .name("cordon-counters".into())
                .spawn(move || counter_writer(&log, &rx));
            match spawned {
                Ok(_) => Some(Mutex::new(tx)),
                Err(e) => {
                    tracing::error!(
                        "cannot start the counters writer ({e}): counters stay in memory"
                    );
                    None
                }
            }
        });
        Constraints {
            log,
            pause: RwLock::new(pause),
            counters: Mutex::new(HashMap::new()),
            writer,
            agent_roots,
            workspace_roots,
            client_roots: Mutex::new(HashMap::new()),
        }
    }

    /// The engine's pause state (the policy file's own `paused` is separate).
    pub fn pause_state(&self) -> PauseState {
        match self.pause.read() {
            Ok(p) => p.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn store_pause(&self, state: PauseState) -> Result<PauseState, String> {
        if let Some(log) = &self.log {
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
    pub fn pause(&self, agent: Option<&str>) -> Result<PauseState, String> {
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
    pub fn resume(&self, agent: Option<&str>) -> Result<PauseState, String> {
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
    pub fn paused(&self, agent: &str, policy: &Policy) -> Option<String> {
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

    /// Stores the roots an MCP client announced for its session (`file://` URIs).
    pub fn set_client_roots(&self, session: &str, uris: &[String]) {
        let roots: Vec<PathBuf> = uris
            .iter()
            .filter_map(|u| u.strip_prefix("file://"))
            .map(percent_decode)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .collect();
        if roots.is_empty() {
            return;
        }
        let mut map = lock(&self.client_roots);
        // HTTP sessions have no end the engine hears of: bound the map (a session whose roots
        // were dropped falls back to the configured roots, or to "unknown": fail closed).
        if map.len() >= MAX_CLIENT_ROOT_SESSIONS && !map.contains_key(session) {
            map.clear();
        }
        map.insert(session.to_owned(), roots);
    }

    /// Forgets a closed session's client roots.
    pub fn end_session(&self, session: &str) {
        lock(&self.client_roots).remove(session);
    }

    /// The workspace roots of `agent` in `session`: config, then client, then `workspace.roots`.
    pub fn roots_for(&self, agent: &str, session: &str) -> Option<Vec<PathBuf>> {
        if let Some(r) = self.agent_roots.get(agent) {
            return Some(r.clone());
        }
        if let Some(r) = lock(&self.client_roots).get(session) {
            return Some(r.clone());
        }
        (!self.workspace_roots.is_empty()).then(|| self.workspace_roots.clone())
    }

    /// The blast-radius decision for a call, if it needs one: `(decision, rule, reason)`.
    /// `base` is where relative paths (and a shell command without `cwd`) run; `fallback`
    /// are roots to use when none are configured or announced (native hooks: their cwd).
    pub fn blast_radius(
        &self,
        policy: &Policy,
        call: &ToolCall,
        c: &Classification,
        session: &str,
        base: &Path,
        fallback: Option<Vec<PathBuf>>,
    ) -> Option<(Decision, &'static str, String)> {
        let rules = policy.blast_radius();
        let write_prefix = format!("{}write.", cordon_classify::TOPIC_PREFIX);
        let mut checked: Vec<(String, &'static str)> = Vec::new();
        for part in &c.parts {
            let writes = if !part.writes.is_empty() {
                &part.writes
            } else if part.topic.starts_with(&write_prefix) {
                &part.paths
            } else {
                continue;
            };
            for p in writes {
                checked.push((p.clone(), "write to"));
            }
        }
        let shell = c.parts.iter().any(|p| p.command.is_some());
        if shell {
            let explicit = CWD_KEYS
                .iter()
                .find_map(|k| call.args.get(*k).and_then(serde_json::Value::as_str));
            let cwd = explicit.map_or_else(|| base.to_string_lossy().into_owned(), str::to_owned);
            checked.push((cwd, "shell working directory"));
            for part in &c.parts {
                if let Some(argv) = &part.command
                    && let Some(i) = argv.iter().position(|w| {
                        let name = w.rsplit('/').next().unwrap_or(w);
                        name == "cd" || name == "pushd"
                    })
                    && let Some(dir) = argv.get(i + 1).filter(|d| !d.starts_with('-'))
                {
                    checked.push((dir.clone(), "shell working directory"));
                }
            }
        }
        if checked.is_empty() {
            return None;
        }
        let Some(roots) = self.roots_for(&call.agent, session).or(fallback) else {
            if rules.unknown_roots == Decision::Allow {
                return None;
            }
            return Some((
                rules.unknown_roots,
                UNKNOWN_ROOTS_RULE,
                format!(
                    "no workspace roots are known for agent `{}`, so this change cannot be confined (set `agents.{}.roots` or `workspace.roots` in the config)",
                    call.agent, call.agent
                ),
            ));
        };
        if rules.outside_roots == Decision::Allow {
            return None;
        }
        for (path, what) in checked {
            // `~` is the user's home, never a root's child unless the root says so.
            let path = match (path.strip_prefix("~/"), dirs::home_dir()) {
                (Some(rest), Some(home)) => home.join(rest).to_string_lossy().into_owned(),
                _ => path,
            };
            if !within_roots(base, &path, &roots) {
                let shown: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
                return Some((
                    rules.outside_roots,
                    OUTSIDE_ROOTS_RULE,
                    format!(
                        "{what} `{path}` is outside the workspace roots of agent `{}` ({})",
                        call.agent,
                        shown.join(", ")
                    ),
                ));
            }
        }
        None
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
            if let Some(log) = &self.log {
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
            let _ = lock(writer).send(WriterMsg::Save(scope.to_owned(), limit.to_owned(), text));
        }
    }

    /// Waits (up to `wait`) until every counter update so far is stored.
    pub fn flush(&self, wait: Duration) {
        let Some(writer) = &self.writer else { return };
        let (tx, rx) = std::sync::mpsc::channel();
        if lock(writer).send(WriterMsg::Flush(tx)).is_ok() {
            let _ = rx.recv_timeout(wait);
        }
    }

    /// The counters of one scope and limit (for tests and the UI).
    pub fn usage(&self, scope: &str, limit: &str) -> Option<Usage> {
        let mut counters = lock(&self.counters);
        self.load_scope(&mut counters, scope).get(limit).cloned()
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
        if let Some((decision, rule, reason)) = self.blast_radius(
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
        let limits: Vec<_> = policy.limits_for(call, &verdict.classification).collect();
        if limits.is_empty() {
            return governed;
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
                        return governed;
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
                        return governed;
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
        governed
    }

    /// Charges a call a human let through after it was held.
    pub fn charge(&self, governed: &Governed) {
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

fn counter_writer(log: &EvidenceLog, rx: &std::sync::mpsc::Receiver<WriterMsg>) {
    while let Ok(first) = rx.recv() {
        let mut pending: BTreeMap<(String, String), String> = BTreeMap::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                WriterMsg::Save(scope, limit, state) => {
                    pending.insert((scope, limit), state);
                }
                WriterMsg::Flush(done) => flushes.push(done),
            }
            next = rx.try_recv().ok();
        }
        for ((scope, limit), state) in pending {
            if let Err(e) = log.save_counter(&scope, &limit, &state) {
                tracing::error!(%scope, %limit, "cannot store counters: {e}");
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let (Some(h), Some(l)) = (bytes.get(i + 1), bytes.get(i + 2))
            && let (Some(h), Some(l)) = ((*h as char).to_digit(16), (*l as char).to_digit(16))
        {
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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
    use cordon_policy::Source;

    fn policy(extra: &str) -> Policy {
        Policy::from_sources(&[Source {
            name: "p.yaml".into(),
            text: format!("version: t\ndefault_decision: allow\nrules: []\n{extra}"),
        }])
        .unwrap()
    }

    fn call(agent: &str, tool: &str, args: serde_json::Value) -> ToolCall {
        ToolCall {
            agent: agent.into(),
            server: "s".into(),
            tool: tool.into(),
            args,
        }
    }

    fn blast(c: &Constraints, p: &Policy, call: &ToolCall, base: &Path) -> Option<String> {
        let cls = p.classifier().classify(call);
        c.blast_radius(p, call, &cls, "sess", base, None)
            .map(|(d, rule, reason)| format!("{d} {rule} {reason}"))
    }

    #[test]
    fn roots_come_from_config_then_client_then_workspace() {
        let mut agents = BTreeMap::new();
        agents.insert("a".to_owned(), vec![PathBuf::from("/cfg")]);
        let c = Constraints::new(None, agents, vec![PathBuf::from("/ws")]);
        c.set_client_roots(
            "s1",
            &[
                "file:///client/my%20dir".to_owned(),
                "file://relative".to_owned(),
                "https://example.com/x".to_owned(),
            ],
        );
        assert_eq!(c.roots_for("a", "s1"), Some(vec![PathBuf::from("/cfg")]));
        assert_eq!(
            c.roots_for("b", "s1"),
            Some(vec![PathBuf::from("/client/my dir")])
        );
        assert_eq!(c.roots_for("b", "s2"), Some(vec![PathBuf::from("/ws")]));
        c.end_session("s1");
        assert_eq!(c.roots_for("b", "s1"), Some(vec![PathBuf::from("/ws")]));
        // Announced roots that are not local absolute paths are ignored entirely.
        c.set_client_roots("s3", &["file://relative".to_owned()]);
        assert_eq!(c.roots_for("b", "s3"), Some(vec![PathBuf::from("/ws")]));
        assert_eq!(Constraints::default().roots_for("b", "s"), None);
    }

    #[test]
    fn blast_radius_covers_writes_moves_and_shell_working_directories() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().canonicalize().unwrap();
        let mut agents = BTreeMap::new();
        agents.insert("a".to_owned(), vec![ws.clone()]);
        let c = Constraints::new(None, agents, Vec::new());
        let p = policy("");
        let w = |path: &str| {
            call(
                "a",
                "write_file",
                serde_json::json!({"path": path, "content": "x"}),
            )
        };
        assert_eq!(blast(&c, &p, &w("src/new.rs"), &ws), None);
        let out = blast(&c, &p, &w("../x"), &ws).unwrap();
        assert!(
            out.starts_with("deny blast-radius:outside-roots write to"),
            "{out}"
        );
        assert!(blast(&c, &p, &w("~/x"), &ws).is_some());
        // Reads are never confined.
        let read = call("a", "read_file", serde_json::json!({"path": "/etc/hosts"}));
        assert_eq!(blast(&c, &p, &read, &ws), None);
        let sh = |cmd: &str| call("a", "run_command", serde_json::json!({"command": cmd}));
        assert_eq!(blast(&c, &p, &sh("ls && cat a"), &ws), None);
        let out = blast(&c, &p, &sh("cd .. && ls"), &ws).unwrap();
        assert!(out.contains("shell working directory `..`"), "{out}");
        assert!(blast(&c, &p, &sh("rm -rf /tmp/x"), &ws).is_some());
        assert!(
            blast(&c, &p, &sh("ls"), Path::new("/")).is_some(),
            "server cwd outside"
        );
        let mv = call(
            "a",
            "move_file",
            serde_json::json!({"source": "a", "destination": "/tmp/a"}),
        );
        assert!(blast(&c, &p, &mv, &ws).is_some());
        // Unknown roots: require_approval by default, as configured otherwise.
        let out = blast(
            &c,
            &p,
            &call("nobody", "write_file", serde_json::json!({"path": "a"})),
            &ws,
        )
        .unwrap();
        assert!(
            out.starts_with("require_approval blast-radius:unknown-roots"),
            "{out}"
        );
        let lax = policy("blast_radius: {unknown_roots: allow, outside_roots: require_approval}\n");
        assert_eq!(
            blast(
                &c,
                &lax,
                &call("nobody", "write_file", serde_json::json!({"path": "a"})),
                &ws
            ),
            None
        );
        let out = blast(&c, &lax, &w("/etc/x"), &ws).unwrap();
        assert!(out.starts_with("require_approval"), "{out}");
    }

    #[test]
    fn pause_and_resume_are_stored_and_fail_closed() {
        let dir = tempfile::tempdir().unwrap();
        let open = || {
            Arc::new(
                EvidenceLog::open(
                    &dir.path().join("e.db"),
                    cordon_evidence::KeyStore::File(dir.path().join("k")),
                )
                .unwrap(),
            )
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
