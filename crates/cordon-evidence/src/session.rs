//! The incident reviewer's view of one agent session.

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::filter::TOPIC_PREFIX;
use crate::{EvidenceError, EvidenceLog, Filter, Outcome, Phase, Record};

/// One line of a session trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrailEntry {
    /// Record seq.
    pub seq: u64,
    /// Record id.
    pub id: String,
    /// When.
    pub timestamp: String,
    /// Topic.
    pub action: String,
    /// Path, remote or command.
    pub target: Option<String>,
    /// Tool name.
    pub tool: String,
    /// Policy decision.
    pub decision: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Who approved or rejected.
    pub reviewer: Option<String>,
    /// The winning rule.
    pub rule_id: Option<String>,
    /// Why.
    pub reason: String,
}

/// What one session did, grouped the way an incident review reads it. Calls that did not run
/// (denied, rejected, timed out, failed) are listed only under `denials`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SessionTrail {
    /// The session.
    pub session_id: String,
    /// Agents seen in it.
    pub agents: Vec<String>,
    /// Number of records (a call that ran has two: its intent and its outcome).
    pub records: u64,
    /// `read.*` topics except `read.web`.
    pub files_read: Vec<TrailEntry>,
    /// `write.*` topics, with the approver in `reviewer`.
    pub files_written: Vec<TrailEntry>,
    /// `exec.*`, `infra.*`, `k8s.*`, `cloud.*`, `db.*`, `deps.*`, `git.commit`,
    /// `git.history-rewrite`.
    pub commands: Vec<TrailEntry>,
    /// `git.push`, `git.force-push`.
    pub pushes: Vec<TrailEntry>,
    /// Everything that ran and fits none of the above.
    pub other: Vec<TrailEntry>,
    /// Calls refused or ended otherwise: denied, rejected, timed out, failed or interrupted.
    pub denials: Vec<TrailEntry>,
    /// Intents with no outcome yet: calls in flight or held for a human right now (the
    /// engine closes those a crash left as `interrupted` when it starts).
    pub in_flight: Vec<TrailEntry>,
    /// Policy versions in force, in order of first use.
    pub policy_versions: Vec<String>,
    /// First record's timestamp.
    pub first_timestamp: Option<String>,
    /// Last record's timestamp.
    pub last_timestamp: Option<String>,
    /// Sum of the calls' durations.
    pub total_call_ms: u64,
    /// Time from the first to the last record.
    pub wall_ms: u64,
}

enum Group {
    Read,
    Write,
    Command,
    Push,
    Other,
}

fn group(action: &str) -> Group {
    let topic = action.strip_prefix(TOPIC_PREFIX).unwrap_or(action);
    let class = topic.split('.').next().unwrap_or("");
    match (class, topic) {
        (_, "read.web") => Group::Other,
        ("read", _) => Group::Read,
        ("write", _) => Group::Write,
        (_, "git.push" | "git.force-push") => Group::Push,
        (_, "git.commit" | "git.history-rewrite") => Group::Command,
        ("exec" | "infra" | "k8s" | "cloud" | "db" | "deps", _) => Group::Command,
        _ => Group::Other,
    }
}

fn entry(r: &Record) -> TrailEntry {
    TrailEntry {
        seq: r.seq,
        id: r.id.clone(),
        timestamp: r.timestamp.clone(),
        action: r.action.clone(),
        target: r.target.clone(),
        tool: r.tool.clone(),
        decision: r.decision.clone(),
        outcome: r.outcome,
        reviewer: r.reviewer.clone(),
        rule_id: r.rule_id.clone(),
        reason: r.reason.clone(),
    }
}

fn parse_ms(ts: &str) -> Option<i128> {
    OffsetDateTime::parse(ts, &Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp_nanos() / 1_000_000)
}

impl EvidenceLog {
    /// The audit trail of one agent session, oldest first.
    pub fn session(&self, session_id: &str) -> Result<SessionTrail, EvidenceError> {
        let records = self.query(&Filter {
            session: Some(session_id.to_string()),
            oldest_first: true,
            ..Filter::default()
        })?;
        let mut trail = SessionTrail {
            session_id: session_id.to_string(),
            ..SessionTrail::default()
        };
        // A call is listed once, by the record that closes it; an intent stands for its call
        // only while nothing closes it.
        let closed: std::collections::HashSet<&str> = records
            .iter()
            .filter_map(|r| r.intent_id.as_deref())
            .collect();
        for r in &records {
            trail.records += 1;
            if r.phase != Some(Phase::Intent) {
                trail.total_call_ms = trail.total_call_ms.saturating_add(r.duration_ms);
            }
            if !trail.agents.contains(&r.agent) {
                trail.agents.push(r.agent.clone());
            }
            if !trail.policy_versions.contains(&r.policy_version) {
                trail.policy_versions.push(r.policy_version.clone());
            }
            if trail.first_timestamp.is_none() {
                trail.first_timestamp = Some(r.timestamp.clone());
            }
            trail.last_timestamp = Some(r.timestamp.clone());
            if r.phase == Some(Phase::Intent) {
                if !closed.contains(r.id.as_str()) {
                    trail.in_flight.push(entry(r));
                }
                continue;
            }
            if !matches!(r.outcome, Outcome::Allowed | Outcome::Approved) {
                trail.denials.push(entry(r));
                continue;
            }
            let list = match group(&r.action) {
                Group::Read => &mut trail.files_read,
                Group::Write => &mut trail.files_written,
                Group::Command => &mut trail.commands,
                Group::Push => &mut trail.pushes,
                Group::Other => &mut trail.other,
            };
            list.push(entry(r));
        }
        if let (Some(first), Some(last)) = (
            trail.first_timestamp.as_deref().and_then(parse_ms),
            trail.last_timestamp.as_deref().and_then(parse_ms),
        ) {
            trail.wall_ms = u64::try_from(last.saturating_sub(first)).unwrap_or(0);
        }
        Ok(trail)
    }
}
