//! Native notifications for held calls, with Approve / Deny / View where the platform shows
//! buttons; a click on the notification itself opens the approval window.
//!
//! - Linux: XDG notifications over D-Bus (notify-rust), the actions as buttons.
//! - Windows: a toast under the app's AppUserModelID (its bundle identifier, which the installer
//!   registers), the actions as toast buttons (notify-rust's WinRT backend).
//! - macOS: UNUserNotificationCenter with a notification category carrying the three actions
//!   (objc2-user-notifications, pure Rust). It needs a bundled, signed app; run outside a bundle
//!   (`cargo run`), where macOS refuses notifications, the approval window opens instead.

#[cfg(target_os = "macos")]
#[path = "notify_macos.rs"]
mod macos;
#[cfg(not(target_os = "macos"))]
#[path = "notify_xdg_toast.rs"]
mod xdg_toast;

use tauri::{AppHandle, Manager};

use crate::core::Core;
use crate::watch::Notice;

/// The summary and body of a notice, kept apart from D-Bus so it can be tested: the engine's
/// plain-words summary ("Claude Code wants to change src/a.rs (+1 −1)") and the rule's reason
/// ([`cordon_gateway::summary::summarize`], the one owner of that wording; the topic and tool
/// stay in the window's details). Everything the agent chose is made visible (control
/// characters, escapes, bidi overrides, newlines) by the summary and then markup-escaped here:
/// some daemons render `<b>` and `&amp;` in bodies.
pub fn text(notice: &Notice) -> (String, String) {
    match notice {
        Notice::One(p) => {
            let summary = cordon_gateway::summary::summarize(p, None);
            (
                markup_escape(&summary.headline),
                markup_escape(&summary.reason),
            )
        }
        Notice::Many { waiting } => (
            format!("{waiting} calls waiting for approval"),
            "Open Cordon to review them.".to_owned(),
        ),
    }
}

fn markup_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Shows the notice; the user's action comes back to [`act`].
pub fn show(app: &AppHandle, notice: Notice) {
    #[cfg(target_os = "macos")]
    macos::show(app, notice);
    #[cfg(not(target_os = "macos"))]
    xdg_toast::show(app, notice);
}

/// Withdraws the bubble of a decided call (`None`: the group bubble).
pub fn withdraw(id: Option<&str>) {
    #[cfg(target_os = "macos")]
    macos::withdraw(id);
    #[cfg(not(target_os = "macos"))]
    xdg_toast::withdraw(id);
}

/// Carries out a notification action. Approve/Deny name the exact call the bubble showed.
fn act(app: &AppHandle, action: &str, id: Option<&str>) {
    let Some(core) = app.try_state::<Core>() else {
        return;
    };
    let outcome = match (action, id) {
        ("approve", Some(id)) => core
            .approve_via(id, false, cordon_gateway::approvals::Channel::Notification)
            .map(|_| ()),
        ("deny", Some(id)) => core
            .deny(id, Some("denied from the desktop notification"))
            .map(|_| ()),
        ("view" | "default", id) => {
            crate::windows::open_approval(app, id);
            Ok(())
        }
        _ => Ok(()), // closed or dismissed: the call stays pending until its timeout
    };
    match outcome {
        Ok(()) => crate::refresh_tray(app, core.inner()),
        Err(error) => tracing::warn!(action, "notification action failed: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_call_is_said_in_words_with_the_reason() {
        let pending: cordon_gateway::PendingApproval = serde_json::from_value(serde_json::json!({
            "id": "abc", "agent": "claude-code", "session_id": "s", "server": "filesystem",
            "tool": "write_file", "action": "job.mcp-bridge.write.file", "target": "/w/src/a.rs",
            "risk_tags": [], "rule_id": null, "reason": "File writes need review",
            "diff": "--- a/src/a.rs\n+++ b/src/a.rs\n@@ -1 +1 @@\n-x\n+y\n",
            "args": {"path": "/w/src/a.rs", "content": "y\n"}, "root": "/w",
            "args_sha256": "", "policy_version": "v", "created_at": "", "expires_at": ""
        }))
        .unwrap_or_else(|e| panic!("fixture: {e}"));
        let (summary, body) = text(&Notice::One(Box::new(pending)));
        assert_eq!(
            summary,
            "Claude Code wants to change src/a.rs (+1 \u{2212}1)"
        );
        assert_eq!(body, "File writes need review");
        assert!(
            !body.contains("write_file") && !summary.contains("job."),
            "{body}"
        );
    }

    #[test]
    fn hostile_text_is_shown_not_interpreted() {
        let pending: cordon_gateway::PendingApproval = serde_json::from_value(serde_json::json!({
            "id": "abc", "agent": "claude", "session_id": "s", "server": "fs",
            "tool": "write\u{1b}[2K", "action": "job.mcp-bridge.write.file",
            "target": "a\n+++ b/ok <b>x</b> \u{202e}txt.exe", "risk_tags": [], "rule_id": null,
            "reason": "r", "diff": null, "args": {}, "args_sha256": "", "policy_version": "v",
            "created_at": "", "expires_at": ""
        }))
        .unwrap_or_else(|e| panic!("fixture: {e}"));
        let (summary, body) = text(&Notice::One(Box::new(pending)));
        let hidden = cordon_gateway::text::is_hidden;
        assert!(!summary.chars().any(hidden), "{summary}");
        assert!(!body.chars().any(hidden), "{body}");
        assert!(
            summary.contains("a\\n+++ b/ok &lt;b&gt;x&lt;/b&gt; \\u{202e}txt.exe"),
            "{summary}"
        );
        assert_eq!(body, "r");
    }

    #[test]
    fn a_burst_is_one_count() {
        let (summary, _) = text(&Notice::Many { waiting: 4 });
        assert_eq!(summary, "4 calls waiting for approval");
    }
}
