//! Native-tool hooks: an agent's built-in tools (Claude Code's Bash, Write, Read...; Cursor's
//! shell and file reads) judged by the same policy as MCP calls.
//!
//! `cordon hook` sends one [`HookCall`] over the control socket; this adapter passes it through
//! the same gate as MCP calls ([`crate::pipeline`]): classified, judged, held for a human when
//! the policy says so (listed by `cordon approvals`, with a diff for file writes computed against
//! the file on disk), its intent recorded (server [`NATIVE_SERVER`]) before the allow is
//! answered, its outcome after. Nothing is executed here: after an allow the agent runs its own
//! tool. Every failure answers deny (fail closed).

use std::path::{Path, PathBuf};

use cordon_evidence::Outcome;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

use crate::pipeline::{CallContext, Gate, Pipeline, Review, Subject};

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
    let judged = gate_hook(pipeline, call, cancel.clone());
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

/// Passes one native call through the gate: classified against the agent's working directory,
/// judged, held if required, its intent recorded before the allow is handed back, its outcome
/// after. "Performing" a hook call is answering allow: the agent runs its own tool.
pub async fn gate_hook(
    pipeline: &Pipeline,
    call: HookCall,
    cancel: CancellationToken,
) -> HookVerdict {
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
    let ctx = CallContext {
        agent: call.agent,
        session_id,
        progress: None,
        cancel,
    };
    let subject = Subject {
        base: Some(cwd.clone()),
        // With no roots configured for the agent, its working directory is its workspace.
        roots: Some(vec![cwd.clone()]),
        ..Subject::upstream(NATIVE_SERVER, &call.tool, call.args, true)
    };
    match pipeline.gate(&ctx, subject, Review::Native { cwd }).await {
        Gate::Refused(refused) => HookVerdict {
            allow: false,
            reason: refused.text,
            rule_id: refused.rule_id,
            approval_id: refused.approval_id,
            outcome: refused.outcome.as_str().to_owned(),
        },
        Gate::Pass(admission) => {
            let outcome = admission.outcome();
            let rule_id = admission.rule_id().map(str::to_owned);
            let approval_id = admission.approval_id().map(str::to_owned);
            let reason = match (admission.reviewer(), &approval_id) {
                (Some(reviewer), Some(id)) => format!("approved by {reviewer} (approval {id})"),
                (Some(reviewer), None) => format!("approved for this session by {reviewer}"),
                _ => admission.reason().to_owned(),
            };
            match pipeline.finish(*admission, false, None).await {
                Ok(()) => HookVerdict {
                    allow: true,
                    reason,
                    rule_id,
                    approval_id,
                    outcome: outcome.as_str().to_owned(),
                },
                Err(text) => HookVerdict {
                    allow: false,
                    reason: text,
                    rule_id,
                    approval_id,
                    outcome: Outcome::Error.as_str().to_owned(),
                },
            }
        }
    }
}

/// The diff a native write would make, against the file on disk: Claude Code's `Write`,
/// `Edit`, `MultiEdit` and `NotebookEdit` (the Gemini CLI's `write_file`/`replace` arrive under
/// these names), Codex's `apply_patch`; see [`crate::diff::proposed_diff`], the one owner of
/// these shapes. None for other tools.
pub fn native_diff(tool: &str, args: &Value, base: &Path) -> Option<String> {
    crate::diff::proposed_diff(tool, args, Some(base))
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
