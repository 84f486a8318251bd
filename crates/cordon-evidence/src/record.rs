//! Record types and the canonical form the hash chain is computed over.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

use crate::EvidenceError;

/// The `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Version of the canonical hashed form of a record without a phase (a complete one-record call,
/// and every record written before write-ahead evidence).
pub(crate) const HASH_FORMAT_VERSION: u64 = 1;

/// Version of the canonical hashed form of a write-ahead record (with `phase` and `intent_id`).
pub(crate) const HASH_FORMAT_PHASED: u64 = 2;

const TIMESTAMP_FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// How a governed call ended. Kept small and closed so reviewers can filter on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The policy allowed the call and it ran.
    Allowed,
    /// The policy denied the call.
    #[default]
    Denied,
    /// A human approved the call and it ran.
    Approved,
    /// A human rejected the call.
    Rejected,
    /// Nobody answered the approval in time (refused: fail closed).
    TimedOut,
    /// Something failed (engine, upstream): the call was refused or failed.
    Error,
    /// Only on an intent: the call is held, waiting for a human.
    Pending,
    /// Only on an outcome: the engine stopped (crash, kill, power loss) after the intent was
    /// recorded and before the outcome was; the next start closed the intent with this. The
    /// call may or may not have run.
    Interrupted,
}

impl Outcome {
    /// The stored and exported spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Denied => "denied",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::TimedOut => "timed_out",
            Self::Error => "error",
            Self::Pending => "pending",
            Self::Interrupted => "interrupted",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "allowed" => Self::Allowed,
            "denied" => Self::Denied,
            "approved" => Self::Approved,
            "rejected" => Self::Rejected,
            "timed_out" => Self::TimedOut,
            "error" => Self::Error,
            "pending" => Self::Pending,
            "interrupted" => Self::Interrupted,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which half of a write-ahead pair a record is. A record without a phase is complete on its
/// own: a call refused before anything ran, or a record from before write-ahead evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Written (durably) before the call is forwarded, executed or, for a native hook,
    /// allowed: who, what, the decision, the rule and the approval. Its `outcome` says what is
    /// about to happen: `allowed`, `approved`, or `pending` while a human decides.
    Intent,
    /// Written after the call: how it ended. `intent_id` names the intent it closes.
    Outcome,
}

impl Phase {
    /// The stored and exported spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Intent => "intent",
            Self::Outcome => "outcome",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "intent" => Some(Self::Intent),
            "outcome" => Some(Self::Outcome),
            _ => None,
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The decisions a policy can take; anything else is refused at append time. `throttle` is a
/// call a rate limit (`calls_per_minute` with `on_limit: throttle`) delayed or refused.
pub const DECISIONS: [&str; 4] = ["allow", "deny", "require_approval", "throttle"];

/// What the gateway knows about one call; the log adds id, seq, timestamp and the chain.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ts_rs::TS)]
pub struct NewRecord {
    /// The agent that made the call (e.g. `claude-code`).
    pub agent: String,
    /// The agent's session.
    pub session_id: String,
    /// The upstream server (empty for built-in tools and hooks).
    pub server: String,
    /// The tool name.
    pub tool: String,
    /// The topic, e.g. `job.mcp-bridge.git.push`.
    pub action: String,
    /// What the action touches: a path, a remote/branch, a command.
    pub target: Option<String>,
    /// Risk tags from the classifier.
    pub risk_tags: Vec<String>,
    /// `allow`, `deny` or `require_approval`.
    pub decision: String,
    /// The rule that won, if any.
    pub rule_id: Option<String>,
    /// Why (the rule's reason or the engine's message).
    pub reason: String,
    /// The policy version in force (see [`crate::EvidenceLog::record_policy`]).
    pub policy_version: String,
    /// Who approved or rejected, for held calls.
    pub reviewer: Option<String>,
    /// How an approval reached the engine (`tray-window`, `notification`, `cli-code`, ...;
    /// `session-grant/<channel>` for a call passed under an earlier session approval): the
    /// proof a human approved. None when nothing was approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_channel: Option<String>,
    /// How the call ended.
    pub outcome: Outcome,
    /// The call's arguments (already redacted by the caller), stored whole.
    #[ts(type = "unknown")]
    pub args: serde_json::Value,
    /// The diff shown to the reviewer, stored whole.
    pub diff: Option<String>,
    /// Wall time of the call, including any wait for approval.
    pub duration_ms: u64,
    /// Error message when `outcome` is `error`.
    pub error: Option<String>,
    /// Intent or outcome of a write-ahead pair; None for a complete one-record call (absent
    /// from the JSON then, as in exports from before write-ahead evidence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// On an outcome: the intent it closes. On an intent that follows a held intent (the
    /// approval): that held intent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent_id: Option<String>,
}

/// One stored, chained evidence record: the appended [`NewRecord`] (its fields flattened in
/// place, so the JSON is flat) between what the log adds: id, seq and timestamp before, the
/// chain after. Serialises with the seed's key names, in the order exports have always had.
/// Reads of the call's fields go through [`std::ops::Deref`] (`record.agent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[ts(rename = "EvidenceRecord")]
pub struct Record {
    /// ULID, unique.
    pub id: String,
    /// Position in the chain: 1-based and contiguous.
    pub seq: u64,
    /// When the record was written, RFC 3339 UTC with milliseconds.
    pub timestamp: String,
    /// What the gateway appended: the one owner of the call's fields.
    #[serde(flatten)]
    pub call: NewRecord,
    /// Hash of the previous record (64 zeros for the first).
    pub prev_hash: String,
    /// sha256 of this record's canonical form (see the crate docs).
    pub hash: String,
}

impl std::ops::Deref for Record {
    type Target = NewRecord;

    fn deref(&self) -> &NewRecord {
        &self.call
    }
}

impl std::ops::DerefMut for Record {
    fn deref_mut(&mut self) -> &mut NewRecord {
        &mut self.call
    }
}

/// The exact text stored for (and hashed over) a record's args.
pub(crate) fn args_text(args: &serde_json::Value) -> Result<String, EvidenceError> {
    Ok(serde_json::to_string(args)?)
}

/// Lowercase hex sha256.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The hashed form of a record: every field except `hash`, with args and diff replaced by the
/// sha256 of their stored text. Fields are declared in sorted order and serialised by serde_json
/// without whitespace, which is RFC 8785 for this subset (strings, u64 integers, string arrays,
/// null: no floats, no duplicate keys; serde_json escapes strings as RFC 8785 asks).
#[derive(Serialize)]
pub(crate) struct HashInput<'a> {
    pub action: &'a str,
    pub agent: &'a str,
    /// Left out of the hashed form when None, so records from before the field keep their hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_channel: Option<&'a str>,
    pub args_sha256: &'a str,
    pub decision: &'a str,
    pub diff_sha256: Option<&'a str>,
    pub duration_ms: u64,
    pub error: Option<&'a str>,
    pub id: &'a str,
    /// Absent (not null) in the v1 form; present, possibly null, in the v2 form.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intent_id: Option<Option<&'a str>>,
    pub outcome: &'a str,
    /// Absent in the v1 form.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<&'a str>,
    pub policy_version: &'a str,
    pub prev_hash: &'a str,
    pub reason: &'a str,
    pub reviewer: Option<&'a str>,
    pub risk_tags: &'a [String],
    pub rule_id: Option<&'a str>,
    pub seq: u64,
    pub server: &'a str,
    pub session_id: &'a str,
    pub target: Option<&'a str>,
    pub timestamp: &'a str,
    pub tool: &'a str,
    pub v: u64,
}

/// The `intent_id`, `phase` and `v` of the hashed form: records without a phase keep the v1
/// form byte for byte (old logs verify unchanged); phased records use v2, which adds both.
pub(crate) fn phased<'a>(
    phase: Option<&'a str>,
    intent_id: Option<&'a str>,
) -> (Option<Option<&'a str>>, Option<&'a str>, u64) {
    match phase {
        Some(p) => (Some(intent_id), Some(p), HASH_FORMAT_PHASED),
        None => (None, None, HASH_FORMAT_VERSION),
    }
}

impl<'a> HashInput<'a> {
    /// The hashed form of `call` at its place in the chain (`id`, `seq`, `timestamp` and
    /// `prev_hash`), its args and diff given by the sha256 of their stored text: the one
    /// mapping from a call to its hash, for appending and for re-checking a record.
    pub(crate) fn of(
        call: &'a NewRecord,
        id: &'a str,
        seq: u64,
        timestamp: &'a str,
        prev_hash: &'a str,
        args_sha256: &'a str,
        diff_sha256: Option<&'a str>,
    ) -> Self {
        let (intent_id, phase, v) =
            phased(call.phase.map(Phase::as_str), call.intent_id.as_deref());
        HashInput {
            action: &call.action,
            agent: &call.agent,
            approval_channel: call.approval_channel.as_deref(),
            args_sha256,
            decision: &call.decision,
            diff_sha256,
            duration_ms: call.duration_ms,
            error: call.error.as_deref(),
            id,
            intent_id,
            outcome: call.outcome.as_str(),
            phase,
            policy_version: &call.policy_version,
            prev_hash,
            reason: &call.reason,
            reviewer: call.reviewer.as_deref(),
            risk_tags: &call.risk_tags,
            rule_id: call.rule_id.as_deref(),
            seq,
            server: &call.server,
            session_id: &call.session_id,
            target: call.target.as_deref(),
            timestamp,
            tool: &call.tool,
            v,
        }
    }

    /// sha256 (hex) of the canonical JSON.
    pub(crate) fn hash(&self) -> Result<String, EvidenceError> {
        // Streamed straight into the hasher: no intermediate buffer.
        let mut hasher = Sha256::new();
        serde_json::to_writer(&mut hasher, self)?;
        Ok(hex::encode(hasher.finalize()))
    }
}

impl Record {
    /// Recomputes this record's hash from its fields (what `verify` does for bundles).
    pub fn compute_hash(&self) -> Result<String, EvidenceError> {
        let args_sha = sha256_hex(args_text(&self.args)?.as_bytes());
        let diff_sha = self.diff.as_deref().map(|d| sha256_hex(d.as_bytes()));
        HashInput::of(
            &self.call,
            &self.id,
            self.seq,
            &self.timestamp,
            &self.prev_hash,
            &args_sha,
            diff_sha.as_deref(),
        )
        .hash()
    }
}

/// Formats a time the way records store it (`2026-04-01T10:41:55.123Z`); such strings sort
/// chronologically, which the `since`/`until` filters rely on.
pub fn format_timestamp(t: OffsetDateTime) -> Result<String, EvidenceError> {
    t.to_offset(time::UtcOffset::UTC)
        .format(TIMESTAMP_FORMAT)
        .map_err(|e| EvidenceError::Time(e.to_string()))
}

/// Now, formatted as a record timestamp.
pub(crate) fn now_timestamp() -> Result<String, EvidenceError> {
    format_timestamp(OffsetDateTime::now_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_input_keys_are_sorted_and_compact() {
        let tags = vec!["exec".to_string()];
        let input = HashInput {
            action: "a",
            agent: "b",
            args_sha256: "c",
            decision: "d",
            diff_sha256: None,
            duration_ms: 1,
            error: None,
            id: "e",
            intent_id: Some(None),
            outcome: "f",
            phase: Some("intent"),
            policy_version: "g",
            prev_hash: "h",
            reason: "i\n\"é",
            reviewer: None,
            approval_channel: None,
            risk_tags: &tags,
            rule_id: None,
            seq: 2,
            server: "j",
            session_id: "k",
            target: None,
            timestamp: "l",
            tool: "m",
            v: 1,
        };
        let text = serde_json::to_string(&input).unwrap();
        assert!(!text.contains(": ") && !text.contains(", "));
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "canonical form needs sorted keys");
        assert!(text.contains(r#""reason":"i\n\"é""#), "{text}");
    }

    /// Pins the canonical form so an independent auditor's tool can recompute hashes.
    #[test]
    fn known_answer_hash() {
        let record = Record {
            id: "01JTRX4WGN2TZJG4B99RGV8M2K".into(),
            seq: 7,
            timestamp: "2026-04-01T10:41:55.000Z".into(),
            call: NewRecord {
                agent: "claude-code".into(),
                session_id: "sess_01".into(),
                server: "git".into(),
                tool: "git_push".into(),
                action: "job.mcp-bridge.git.push".into(),
                target: Some("origin/main".into()),
                risk_tags: vec!["deploy".into()],
                decision: "require_approval".into(),
                rule_id: None,
                reason: "push".into(),
                policy_version: "v1.7.1".into(),
                reviewer: Some("alice@example.com".into()),
                approval_channel: None,
                outcome: Outcome::Approved,
                args: serde_json::json!({"remote": "origin"}),
                diff: None,
                duration_ms: 1200,
                error: None,
                phase: None,
                intent_id: None,
            },
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
        };
        let args_sha = sha256_hex(br#"{"remote":"origin"}"#);
        let canonical = format!(
            concat!(
                r#"{{"action":"job.mcp-bridge.git.push","agent":"claude-code","args_sha256":"{}","#,
                r#""decision":"require_approval","diff_sha256":null,"duration_ms":1200,"error":null,"#,
                r#""id":"01JTRX4WGN2TZJG4B99RGV8M2K","outcome":"approved","policy_version":"v1.7.1","#,
                r#""prev_hash":"{}","reason":"push","reviewer":"alice@example.com","#,
                r#""risk_tags":["deploy"],"rule_id":null,"seq":7,"server":"git","session_id":"sess_01","#,
                r#""target":"origin/main","timestamp":"2026-04-01T10:41:55.000Z","tool":"git_push","v":1}}"#
            ),
            args_sha, GENESIS_HASH
        );
        assert_eq!(
            record.compute_hash().unwrap(),
            sha256_hex(canonical.as_bytes())
        );
        // The v2 (write-ahead) form adds `intent_id` after `id` and `phase` after `outcome`.
        let mut outcome = record.clone();
        outcome.phase = Some(Phase::Outcome);
        outcome.intent_id = Some("01JTRX4WGN2TZJG4B99RGV8M2J".into());
        let v2 = canonical
            .replace(
                r#""id":"01JTRX4WGN2TZJG4B99RGV8M2K","#,
                r#""id":"01JTRX4WGN2TZJG4B99RGV8M2K","intent_id":"01JTRX4WGN2TZJG4B99RGV8M2J","#,
            )
            .replace(
                r#""outcome":"approved","#,
                r#""outcome":"approved","phase":"outcome","#,
            )
            .replace(r#""v":1}"#, r#""v":2}"#);
        assert_eq!(outcome.compute_hash().unwrap(), sha256_hex(v2.as_bytes()));
        // An intent has a null `intent_id`, not an absent one.
        let mut intent = record;
        intent.phase = Some(Phase::Intent);
        let v2 = canonical
            .replace(
                r#""id":"01JTRX4WGN2TZJG4B99RGV8M2K","#,
                r#""id":"01JTRX4WGN2TZJG4B99RGV8M2K","intent_id":null,"#,
            )
            .replace(
                r#""outcome":"approved","#,
                r#""outcome":"approved","phase":"intent","#,
            )
            .replace(r#""v":1}"#, r#""v":2}"#);
        assert_eq!(intent.compute_hash().unwrap(), sha256_hex(v2.as_bytes()));
    }

    /// The JSON of a record (exports, bundles, the desktop) is flat, in the order it always
    /// had, with `phase`, `intent_id` and `approval_channel` absent when None; and it reads back.
    #[test]
    fn record_json_is_flat_and_unchanged() {
        let mut record = Record {
            id: "01J".into(),
            seq: 3,
            timestamp: "2026-04-01T10:41:55.000Z".into(),
            call: NewRecord {
                agent: "a".into(),
                session_id: "s".into(),
                server: "git".into(),
                tool: "git_push".into(),
                action: "job.mcp-bridge.git.push".into(),
                risk_tags: vec!["deploy".into()],
                decision: "allow".into(),
                reason: "r".into(),
                policy_version: "v1".into(),
                outcome: Outcome::Allowed,
                args: serde_json::json!({"b": 1, "a": [true]}),
                duration_ms: 12,
                ..NewRecord::default()
            },
            prev_hash: GENESIS_HASH.into(),
            hash: "h".into(),
        };
        let text = serde_json::to_string(&record).unwrap();
        assert_eq!(
            text,
            format!(
                concat!(
                    r#"{{"id":"01J","seq":3,"timestamp":"2026-04-01T10:41:55.000Z","agent":"a","#,
                    r#""session_id":"s","server":"git","tool":"git_push","#,
                    r#""action":"job.mcp-bridge.git.push","target":null,"risk_tags":["deploy"],"#,
                    r#""decision":"allow","rule_id":null,"reason":"r","policy_version":"v1","#,
                    r#""reviewer":null,"outcome":"allowed","args":{{"b":1,"a":[true]}},"#,
                    r#""diff":null,"duration_ms":12,"error":null,"prev_hash":"{}","hash":"h"}}"#
                ),
                GENESIS_HASH
            )
        );
        assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), record);
        record.approval_channel = Some("tray-window".into());
        record.phase = Some(Phase::Outcome);
        record.intent_id = Some("01I".into());
        let text = serde_json::to_string(&record).unwrap();
        assert!(
            text.contains(
                r#""reviewer":null,"approval_channel":"tray-window","outcome":"allowed","#
            ) && text.contains(r#""error":null,"phase":"outcome","intent_id":"01I","prev_hash":"#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), record);
    }

    #[test]
    fn outcome_spellings_round_trip() {
        for o in [
            Outcome::Allowed,
            Outcome::Denied,
            Outcome::Approved,
            Outcome::Rejected,
            Outcome::TimedOut,
            Outcome::Error,
            Outcome::Pending,
            Outcome::Interrupted,
        ] {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
            assert_eq!(
                serde_json::to_string(&o).unwrap(),
                format!("\"{}\"", o.as_str())
            );
        }
        assert_eq!(Outcome::parse("ALLOWED"), None);
    }

    #[test]
    fn timestamps_have_millis_and_z() {
        let t = time::macros::datetime!(2026-04-01 10:41:55.123 UTC);
        assert_eq!(format_timestamp(t).unwrap(), "2026-04-01T10:41:55.123Z");
    }
}
