//! Native-tool hooks: an agent's built-in tools (Claude Code's Bash, Write, Read...; Cursor's
//! shell and file reads) judged by the same policy as MCP calls.
//!
//! `cordon hook` sends one [`HookCall`] over the control socket; the engine classifies it, holds
//! it for a human when the policy says so (listed by `cordon approvals`, with a diff for file
//! writes computed against the file on disk), writes exactly one evidence record (server
//! [`NATIVE_SERVER`]) and answers allow or deny. Nothing is executed here: after an allow the
//! agent runs its own tool. Every failure answers deny (fail closed).

use std::path::{Path, PathBuf};
use std::time::Instant;

use cordon_classify::FsResolver;
use cordon_evidence::{NewRecord, Outcome};
use cordon_policy::{Decision, ToolCall, Verdict};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

use crate::approvals::{ApprovalDecision, ApprovalRequest};
use crate::constraints::{Governed, THROTTLE_DECISION};
use crate::pipeline::{HeldGuard, Pipeline};
use crate::recorder::Recorder;

/// The server name native calls are recorded under (never a configured upstream name: those
/// cannot be chosen freely, see `config::is_valid_name`, but `native` is reserved by convention).
pub const NATIVE_SERVER: &str = "native";

/// Longest accepted session id (agents send UUIDs; anything huge is hostile).
const MAX_SESSION_CHARS: usize = 200;

/// One built-in tool call reported by an agent's hook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookCall {
    /// The agent (`claude-code`, `cursor`).
    pub agent: String,
    /// The agent's session (Claude Code `session_id`, Cursor `conversation_id`).
    pub session_id: String,
    /// The tool as the classifier knows it (`Bash`, `Read`, `Write`, `Edit`...).
    pub tool: String,
    /// The tool's input.
    pub args: Value,
    /// The agent's working directory: relative paths and diffs resolve against it.
    pub cwd: Option<String>,
}

/// The engine's answer to a hook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookVerdict {
    /// Whether the agent may run its tool.
    pub allow: bool,
    /// Why (shown to the agent on deny).
    pub reason: String,
    /// The rule that decided, if any.
    pub rule_id: Option<String>,
    /// The approval id when the call was held for a human.
    pub approval_id: Option<String>,
    /// The evidence outcome (`allowed`, `denied`, `approved`, ...).
    pub outcome: String,
}

impl HookVerdict {
    fn deny(reason: String, outcome: Outcome) -> HookVerdict {
        HookVerdict {
            allow: false,
            reason,
            rule_id: None,
            approval_id: None,
            outcome: outcome.as_str().to_owned(),
        }
    }
}

/// Answers one hook request on a control connection: judges the call while watching `watch`
/// (the connection's read side); if the hook process goes away while the call is held, the
/// approval is withdrawn and the call recorded as an error.
pub async fn serve<R: AsyncRead + Unpin>(pipeline: &Pipeline, call: HookCall, watch: R) -> Value {
    let mut watch = watch;
    let cancel = CancellationToken::new();
    let judged = judge(pipeline, call, cancel.clone());
    tokio::pin!(judged);
    let mut buf = [0u8; 64];
    let mut watching = true;
    let verdict = loop {
        tokio::select! {
            verdict = &mut judged => break verdict,
            read = watch.read(&mut buf), if watching => {
                if matches!(read, Ok(0) | Err(_)) {
                    watching = false;
                    cancel.cancel();
                }
            }
        }
    };
    json!({
        "ok": true,
        "decision": if verdict.allow { "allow" } else { "deny" },
        "reason": verdict.reason,
        "rule_id": verdict.rule_id,
        "approval_id": verdict.approval_id,
        "outcome": verdict.outcome,
    })
}

/// Classifies, judges, holds (if required) and records one native call.
pub async fn judge(pipeline: &Pipeline, call: HookCall, cancel: CancellationToken) -> HookVerdict {
    let started = Instant::now();
    if !crate::config::is_valid_name(&call.agent) {
        return HookVerdict::deny(
            format!(
                "Cordon denied this call: invalid agent name `{}`",
                call.agent
            ),
            Outcome::Error,
        );
    }
    let session_id = if call.session_id.is_empty() {
        "hook-unknown-session".to_owned()
    } else {
        call.session_id.chars().take(MAX_SESSION_CHARS).collect()
    };
    let cwd = call
        .cwd
        .as_deref()
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("/"));
    let tool_call = ToolCall {
        agent: call.agent.clone(),
        server: NATIVE_SERVER.to_owned(),
        tool: call.tool.clone(),
        args: call.args.clone(),
    };
    let (verdict, governed) = {
        let policy = pipeline.policy();
        let mut resolver = FsResolver::new(cwd.clone());
        if let Some(home) = dirs::home_dir() {
            resolver = resolver.with_home(home);
        }
        let classification = policy.classifier().classify_with(&tool_call, &resolver);
        let mut verdict = policy.judge(&tool_call, classification);
        pipeline.check_exfiltration(&tool_call, &mut verdict);
        // With no roots configured for the agent, its working directory is its workspace.
        let governed = pipeline.constraints().govern(
            &policy,
            &tool_call,
            &mut verdict,
            &session_id,
            &cwd,
            Some(vec![cwd.clone()]),
        );
        (verdict, governed)
    };
    let mut held = Held {
        call: tool_call,
        session_id,
        verdict,
        reviewer: None,
        approval_channel: None,
        diff: None,
        started,
        governed,
    };
    match held.verdict.decision {
        Decision::Allow => {
            if let Some(wait) = held.governed.throttle {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = cancel.cancelled() => {
                        let text = "Cordon denied this call: the hook went away while throttled".to_owned();
                        return finish(pipeline.recorder(), &held, Outcome::Error, Some(text.clone()), false, text).await;
                    }
                }
            }
            let reason = held.verdict.reason.clone();
            finish(
                pipeline.recorder(),
                &held,
                Outcome::Allowed,
                None,
                true,
                reason,
            )
            .await
        }
        Decision::Deny => {
            let v = &held.verdict;
            let text = format!(
                "Cordon denied this call: rule {}: {} (policy {})",
                v.rule_id.as_deref().unwrap_or("(default decision)"),
                v.reason,
                v.policy_version
            );
            finish(
                pipeline.recorder(),
                &held,
                Outcome::Denied,
                None,
                false,
                text,
            )
            .await
        }
        Decision::RequireApproval => {
            held.diff = {
                let (tool, args, base) = (held.call.tool.clone(), held.call.args.clone(), cwd);
                tokio::task::spawn_blocking(move || native_diff(&tool, &args, &base))
                    .await
                    .unwrap_or(None)
            };
            hold(pipeline, held, cancel).await
        }
    }
}

/// A native call on its way to its one evidence record.
struct Held {
    call: ToolCall,
    session_id: String,
    verdict: Verdict,
    reviewer: Option<String>,
    /// How the approval reached the engine (the evidence's `approval_channel`).
    approval_channel: Option<String>,
    diff: Option<String>,
    started: Instant,
    governed: Governed,
}

async fn hold(pipeline: &Pipeline, mut held: Held, cancel: CancellationToken) -> HookVerdict {
    let broker = pipeline.broker();
    let recorder = pipeline.recorder();
    let topic = held.verdict.classification.topic.clone();
    if let Some(grant) = broker.session_grant(
        &held.call.agent,
        &held.session_id,
        NATIVE_SERVER,
        &held.call.tool,
        &topic,
        held.verdict.classification.target.as_deref(),
    ) {
        let reviewer = grant.reviewer;
        held.reviewer = Some(reviewer.clone());
        held.approval_channel = Some(format!("session-grant/{}", grant.channel));
        pipeline.constraints().charge(&held.governed);
        let text = format!("approved for this session by {reviewer}");
        return finish(recorder, &held, Outcome::Approved, None, true, text).await;
    }
    let v = &held.verdict;
    let request = ApprovalRequest {
        agent: held.call.agent.clone(),
        session_id: held.session_id.clone(),
        server: NATIVE_SERVER.to_owned(),
        tool: held.call.tool.clone(),
        action: topic,
        target: v.classification.target.clone(),
        risk_tags: v.classification.risk_tags.iter().cloned().collect(),
        rule_id: v.rule_id.clone(),
        reason: v.reason.clone(),
        diff: held.diff.clone(),
        args: held.call.args.clone(),
        policy_version: v.policy_version.clone(),
    };
    let Some((info, ticket)) = broker.hold(request) else {
        let text = "Cordon denied this call: the engine is shutting down".to_owned();
        return finish(
            recorder,
            &held,
            Outcome::Error,
            Some(text.clone()),
            false,
            text,
        )
        .await;
    };
    tracing::info!(id = %info.id, agent = %info.agent, tool = %info.tool, "native call held for approval");
    let mut guard = HeldGuard {
        recorder,
        broker,
        id: info.id.clone(),
        record: Some(record_of(
            &held,
            Outcome::Error,
            Some("the hook went away while the call awaited approval".into()),
        )),
    };
    let decision = tokio::select! {
        decision = ticket.wait(broker) => Some(decision),
        _ = cancel.cancelled() => None,
    };
    let Some(decision) = decision else {
        // Dropping the guard withdraws the approval and records the call.
        drop(guard);
        return HookVerdict::deny(
            "Cordon denied this call: the hook went away".to_owned(),
            Outcome::Error,
        );
    };
    guard.record = None;
    drop(guard);
    let mut verdict = match decision {
        ApprovalDecision::Approved {
            reviewer, channel, ..
        } => {
            held.reviewer = Some(reviewer.clone());
            held.approval_channel = Some(channel.to_string());
            pipeline.constraints().charge(&held.governed);
            let text = format!("approved by {reviewer} (approval {})", info.id);
            finish(recorder, &held, Outcome::Approved, None, true, text).await
        }
        refused => {
            let refusal = refused.refusal(&info.id, info.rule_id.as_deref());
            held.reviewer = refusal.reviewer;
            finish(
                recorder,
                &held,
                refusal.outcome,
                refusal.error,
                false,
                refusal.text,
            )
            .await
        }
    };
    verdict.approval_id = Some(info.id);
    verdict
}

/// Writes the one record; the verdict is an allow only if the record is durable.
async fn finish(
    recorder: &Recorder,
    held: &Held,
    outcome: Outcome,
    error: Option<String>,
    allow: bool,
    reason: String,
) -> HookVerdict {
    let rule_id = held.verdict.rule_id.clone();
    match recorder.record(record_of(held, outcome, error)).await {
        Ok(()) => HookVerdict {
            allow,
            reason,
            rule_id,
            approval_id: None,
            outcome: outcome.as_str().to_owned(),
        },
        Err(e) => HookVerdict {
            allow: false,
            reason: format!(
                "Cordon denied this call: it could not be recorded in the evidence log ({e})"
            ),
            rule_id,
            approval_id: None,
            outcome: Outcome::Error.as_str().to_owned(),
        },
    }
}

fn record_of(held: &Held, outcome: Outcome, error: Option<String>) -> NewRecord {
    let v = &held.verdict;
    NewRecord {
        agent: held.call.agent.clone(),
        session_id: held.session_id.clone(),
        server: NATIVE_SERVER.to_owned(),
        tool: held.call.tool.clone(),
        action: v.classification.topic.clone(),
        target: v.classification.target.clone(),
        risk_tags: v.classification.risk_tags.iter().cloned().collect(),
        decision: if held.governed.throttled {
            THROTTLE_DECISION.to_owned()
        } else {
            v.decision.as_str().to_owned()
        },
        rule_id: v.rule_id.clone(),
        reason: v.reason.clone(),
        policy_version: v.policy_version.clone(),
        reviewer: held.reviewer.clone(),
        approval_channel: held.approval_channel.clone(),
        outcome,
        args: held.call.args.clone(),
        diff: held.diff.clone(),
        duration_ms: u64::try_from(held.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        error,
    }
}

/// The diff a native write would make: Claude Code's `Write {file_path, content}`,
/// `Edit {file_path, old_string, new_string, replace_all}` and
/// `MultiEdit {file_path, edits: [{old_string, new_string, replace_all}]}`, rendered against the
/// file on disk. None for other tools.
pub fn native_diff(tool: &str, args: &Value, base: &Path) -> Option<String> {
    let path = args.get("file_path")?.as_str()?;
    let content = match tool {
        "Write" => args.get("content")?.as_str()?.to_owned(),
        "Edit" => {
            let current = match current_text(path, base) {
                Ok(text) => text,
                Err(note) => return Some(note),
            };
            match apply_edit(&current, args) {
                Ok(text) => text,
                Err(note) => return Some(note),
            }
        }
        "MultiEdit" => {
            let mut text = match current_text(path, base) {
                Ok(text) => text,
                Err(note) => return Some(note),
            };
            for edit in args.get("edits")?.as_array()? {
                text = match apply_edit(&text, edit) {
                    Ok(next) => next,
                    Err(note) => return Some(note),
                };
            }
            text
        }
        _ => return None,
    };
    crate::diff::proposed_diff(
        "write_file",
        &json!({"path": path, "content": content}),
        Some(base),
    )
}

fn current_text(path: &str, base: &Path) -> Result<String, String> {
    let full = base.join(path);
    match std::fs::metadata(&full) {
        Ok(meta) if meta.len() > crate::diff::MAX_DIFF_FILE_BYTES => {
            return Err(format!("(cannot diff {path}: file too large)"));
        }
        Ok(meta) if !meta.is_file() => {
            return Err(format!("(cannot diff {path}: not a regular file)"));
        }
        Ok(_) => {}
        Err(e) => return Err(format!("(cannot diff {path}: {e})")),
    }
    std::fs::read_to_string(&full).map_err(|e| format!("(cannot diff {path}: {e})"))
}

fn apply_edit(current: &str, edit: &Value) -> Result<String, String> {
    let old = edit.get("old_string").and_then(Value::as_str);
    let new = edit.get("new_string").and_then(Value::as_str);
    let (Some(old), Some(new)) = (old, new) else {
        return Err("(cannot diff: the edit lacks old_string/new_string)".to_owned());
    };
    if old.is_empty() || !current.contains(old) {
        return Err("(cannot diff: old_string not found in the file)".to_owned());
    }
    if edit.get("replace_all").and_then(Value::as_bool) == Some(true) {
        Ok(current.replace(old, new))
    } else {
        Ok(current.replacen(old, new, 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_diffs_against_the_file_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "one\ntwo\n").unwrap();
        let diff = native_diff(
            "Write",
            &json!({"file_path": "a.txt", "content": "one\n2\n"}),
            dir.path(),
        )
        .unwrap();
        assert!(diff.contains("-two\n+2\n"), "{diff}");
    }

    #[test]
    fn edit_and_multiedit_apply_replacements() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.rs");
        std::fs::write(&file, "a a\nb\n").unwrap();
        let path = file.to_str().unwrap();
        let diff = native_diff(
            "Edit",
            &json!({"file_path": path, "old_string": "a", "new_string": "x", "replace_all": true}),
            dir.path(),
        )
        .unwrap();
        assert!(diff.contains("-a a\n+x x\n"), "{diff}");
        let diff = native_diff(
            "MultiEdit",
            &json!({"file_path": path, "edits": [
                {"old_string": "a", "new_string": "y"},
                {"old_string": "b", "new_string": "c"}
            ]}),
            dir.path(),
        )
        .unwrap();
        assert!(diff.contains("+y a\n"), "{diff}");
        assert!(diff.contains("+c\n"), "{diff}");
        let note = native_diff(
            "Edit",
            &json!({"file_path": path, "old_string": "zzz", "new_string": "x"}),
            dir.path(),
        )
        .unwrap();
        assert!(note.contains("not found"), "{note}");
        assert_eq!(
            native_diff("Read", &json!({"file_path": path}), dir.path()),
            None
        );
    }
}
