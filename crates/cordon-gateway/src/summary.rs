//! A held call in plain words: "Claude Code wants to change src/auth/login.ts (+1 −1)".
//!
//! One owner for what a reviewer reads first: the desktop's notifications and the CLI's
//! `cordon approvals` both call [`summarize`]. The taxonomy (topic, server, tool, rule) stays in
//! [`Summary::details`], for the window's details pane. Every text the agent chose is made
//! visible with [`cordon_text::visible`] (a file name cannot forge a second line or hide an
//! escape sequence); markup escaping is the caller's (only some displays need it).

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::approvals::PendingApproval;

/// A held call as a reviewer is shown it (the approval window, `cordon approvals --json`): the
/// call made fit to show ([`PendingApproval::for_display`]) plus its summary in words and,
/// when the file changed on disk since the hold, a warning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct Review {
    /// The held call, every agent-chosen text made visible.
    #[serde(flatten)]
    pub approval: PendingApproval,
    /// [`Summary::headline`].
    pub headline: String,
    /// [`Summary::details`].
    pub details: String,
    /// Set when the file the call writes changed on disk since the call was held (see
    /// [`crate::diff::changed_since_hold`]).
    #[serde(default)]
    pub changed_on_disk: Option<String>,
}

/// The reviewer's view of a raw held call (as the broker holds it): the file is checked against
/// the diff computed at the hold, then everything is made fit to show.
pub fn review(raw: &PendingApproval) -> Review {
    let base = raw.root.as_deref().map(Path::new);
    let changed_on_disk =
        crate::diff::changed_since_hold(&raw.tool, &raw.args, raw.diff.as_deref(), base);
    let summary = summarize(raw, None);
    Review {
        approval: raw.for_display(),
        headline: summary.headline,
        details: summary.details,
        changed_on_disk,
    }
}

/// Commands longer than this are cut (with `…`) in the headline; the window shows them whole.
pub const MAX_COMMAND_CHARS: usize = 80;
/// Paths longer than this keep their end (the file name) in the headline.
pub const MAX_PATH_CHARS: usize = 80;

/// What a notification or a listing says about one held call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Who wants to do what, in words: "Claude Code wants to run `terraform apply`".
    pub headline: String,
    /// The rule's reason ("(default decision)" rules say so).
    pub reason: String,
    /// The taxonomy for the details pane: server__tool, topic, rule.
    pub details: String,
}

/// The name people know an agent by (`claude-code` → "Claude Code"); unknown names are shown
/// as given, escaped.
pub fn agent_name(agent: &str) -> String {
    match agent {
        "claude-code" | "claude" => "Claude Code".to_owned(),
        "codex" => "Codex".to_owned(),
        "gemini" | "gemini-cli" => "Gemini CLI".to_owned(),
        "cursor" => "Cursor".to_owned(),
        "vscode" => "VS Code".to_owned(),
        "windsurf" => "Windsurf".to_owned(),
        "copilot" => "GitHub Copilot".to_owned(),
        other => cordon_text::visible(other).into_owned(),
    }
}

/// Lines added and removed by a unified diff (headers not counted); None when the text is not
/// a diff (a "(cannot diff …)" note).
pub fn diff_stats(diff: &str) -> Option<(usize, usize)> {
    if !diff.lines().any(|l| l.starts_with("@@")) {
        return None;
    }
    let mut added = 0;
    let mut removed = 0;
    for line in diff.lines() {
        if line.starts_with("+++") || line.starts_with("---") {
            continue;
        }
        if line.starts_with('+') {
            added += 1;
        } else if line.starts_with('-') {
            removed += 1;
        }
    }
    Some((added, removed))
}

/// The plain-words summary of a held call. `root` is the agent session's root (its working
/// directory): paths inside it are shown relative to it.
pub fn summarize(p: &PendingApproval, root: Option<&Path>) -> Summary {
    let who = agent_name(&p.agent);
    let what = action_words(p, root);
    let reason = if p.reason.trim().is_empty() {
        "(no reason given)".to_owned()
    } else {
        cordon_text::visible(&p.reason).into_owned()
    };
    let details = format!(
        "{}__{} · {} · rule {}",
        cordon_text::visible(&p.server),
        cordon_text::visible(&p.tool),
        cordon_text::visible(&p.action),
        cordon_text::visible(p.rule_id.as_deref().unwrap_or("(default decision)")),
    );
    Summary {
        headline: format!("{who} wants to {what}"),
        reason,
        details,
    }
}

fn action_words(p: &PendingApproval, root: Option<&Path>) -> String {
    let topic = p
        .action
        .strip_prefix(cordon_classify::TOPIC_PREFIX)
        .unwrap_or(&p.action);
    // Codex's patches change files whatever topic an unknown tool name was given.
    let topic = if p.tool == "apply_patch" {
        "write.file"
    } else {
        topic
    };
    let root = root.or(p.root.as_deref().map(Path::new));
    let path = || file_of(p).map(|f| shown_path(&f, root));
    let command = || command_of(&p.args).map(|c| format!("`{}`", cut(&c, MAX_COMMAND_CHARS)));
    let stats = p
        .diff
        .as_deref()
        .or(p.preview.as_deref())
        .and_then(diff_stats);
    let created = p
        .diff
        .as_deref()
        .or(p.preview.as_deref())
        .is_some_and(|d| d.starts_with("--- /dev/null"));
    match topic {
        "write.file" => {
            let verb = if created { "create" } else { "change" };
            let what = path().unwrap_or_else(|| "a file".to_owned());
            match stats {
                Some((a, _)) if created => format!("{verb} {what} (+{a})"),
                Some((a, r)) => format!("{verb} {what} (+{a} \u{2212}{r})"),
                None => format!("{verb} {what}"),
            }
        }
        "write.move" => format!("move {}", path().unwrap_or_else(|| "a file".to_owned())),
        "write.remove" => format!("delete {}", path().unwrap_or_else(|| target(p, root))),
        "write.mkdir" => format!(
            "create the folder {}",
            path().unwrap_or_else(|| target(p, root))
        ),
        "git.push" | "git.force-push" => {
            let verb = if topic == "git.force-push" {
                "force-push"
            } else {
                "push"
            };
            match push_of(&p.args) {
                (Some(branch), Some(remote)) => format!("{verb} {branch} to {remote}"),
                (None, Some(remote)) => format!("{verb} to {remote}"),
                (Some(branch), None) => format!("{verb} {branch}"),
                (None, None) => command()
                    .map(|c| format!("run {c}"))
                    .unwrap_or_else(|| format!("{verb} {}", target(p, root))),
            }
        }
        "read.file" | "read.env" | "read.secrets" => {
            format!(
                "read {}",
                path().unwrap_or_else(|| command().unwrap_or_else(|| target(p, root)))
            )
        }
        "read.dir" => format!("list {}", path().unwrap_or_else(|| target(p, root))),
        "read.web" | "net.fetch" if command().is_none() => {
            format!("fetch {}", target(p, root))
        }
        _ => match command() {
            Some(c) => format!("run {c}"),
            None => {
                let tool = cordon_text::visible(&p.tool);
                match p.target.as_deref() {
                    Some(_) => format!("use {tool} on {}", target(p, root)),
                    None => format!("use {tool}"),
                }
            }
        },
    }
}

/// The target Cordon classified, shown (paths relative to the root when inside it).
fn target(p: &PendingApproval, root: Option<&Path>) -> String {
    match p.target.as_deref() {
        Some(t) if t.starts_with('/') || t.starts_with('~') => shown_path(t, root),
        Some(t) => cut(&cordon_text::visible(t), MAX_COMMAND_CHARS),
        None => "(no target)".to_owned(),
    }
}

/// The file a write-like call names, from the argument shapes agents and servers use.
fn file_of(p: &PendingApproval) -> Option<String> {
    let args = p.args.as_object()?;
    for key in [
        "file_path",
        "path",
        "notebook_path",
        "absolute_path",
        "filePath",
        "source",
    ] {
        if let Some(Value::String(s)) = args.get(key)
            && !s.is_empty()
        {
            return Some(s.clone());
        }
    }
    // Codex's apply_patch and other patch-shaped calls: the first file the patch names.
    if let Some(patch) = args
        .get("input")
        .or_else(|| args.get("patch"))
        .and_then(Value::as_str)
    {
        return crate::diff::patch_files(patch).into_iter().next();
    }
    p.target.clone()
}

/// A path as shown: relative to `root` when inside it, escaped, its end kept when long.
pub fn shown_path(path: &str, root: Option<&Path>) -> String {
    let rel = root
        .and_then(|r| Path::new(path).strip_prefix(r).ok())
        .filter(|r| !r.as_os_str().is_empty())
        .map(|r| r.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_owned());
    let shown = cordon_text::visible(&rel).into_owned();
    let count = shown.chars().count();
    if count <= MAX_PATH_CHARS {
        return shown;
    }
    let tail: String = shown.chars().skip(count - (MAX_PATH_CHARS - 1)).collect();
    format!("…{tail}")
}

/// The command of a shell-like call (`command`, `cmd`, `argv` as a string or a word list).
pub fn command_of(args: &Value) -> Option<String> {
    let a = args.as_object()?;
    for key in ["command", "cmd", "argv"] {
        match a.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => return Some(s.clone()),
            Some(Value::Array(words)) if !words.is_empty() => {
                let words: Vec<&str> = words.iter().filter_map(Value::as_str).collect();
                let mut all: Vec<String> = words.iter().map(|w| quote(w)).collect();
                if let Some(Value::Array(extra)) = a.get("args") {
                    all.extend(extra.iter().filter_map(Value::as_str).map(quote));
                }
                return Some(all.join(" "));
            }
            _ => {}
        }
    }
    None
}

fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=@%+-,".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The branch and remote a push names: Cordon's `git_push {remote, branch}` or a shell
/// `git push [options] REMOTE BRANCH`.
fn push_of(args: &Value) -> (Option<String>, Option<String>) {
    let field = |k: &str| {
        args.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(|s| cordon_text::visible(s).into_owned())
    };
    if field("remote").is_some() || field("branch").is_some() {
        return (field("branch"), field("remote"));
    }
    let Some(command) = command_of(args) else {
        return (None, None);
    };
    let words: Vec<&str> = command.split_whitespace().collect();
    let Some(at) = words
        .windows(2)
        .position(|w| w.first() == Some(&"git") && w.get(1) == Some(&"push"))
    else {
        return (None, None);
    };
    let rest: Vec<&str> = words
        .iter()
        .skip(at + 2)
        .take_while(|w| !matches!(**w, "&&" | "||" | ";" | "|"))
        .filter(|w| !w.starts_with('-'))
        .copied()
        .collect();
    let shown = |s: &&str| cordon_text::visible(s).into_owned();
    (rest.get(1).map(shown), rest.first().map(shown))
}

fn cut(text: &str, max: usize) -> String {
    let visible = cordon_text::visible(text);
    if visible.chars().count() <= max {
        return visible.into_owned();
    }
    let head: String = visible.chars().take(max.saturating_sub(1)).collect();
    format!("{head}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn held(agent: &str, action: &str, tool: &str, args: Value) -> PendingApproval {
        serde_json::from_value(json!({
            "id": "abc", "agent": agent, "session_id": "s", "server": "native", "tool": tool,
            "action": format!("job.mcp-bridge.{action}"), "target": null, "risk_tags": [],
            "rule_id": "approve-code-write", "reason": "File writes need review", "diff": null,
            "args": args, "args_sha256": "", "policy_version": "v", "created_at": "",
            "expires_at": ""
        }))
        .unwrap()
    }

    #[test]
    fn a_change_names_the_file_relative_to_the_root_with_its_counts() {
        let mut p = held(
            "claude-code",
            "write.file",
            "Edit",
            json!({"file_path": "/work/app/src/auth/login.ts", "old_string": "a", "new_string": "b"}),
        );
        p.diff = Some("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n".to_owned());
        let s = summarize(&p, Some(Path::new("/work/app")));
        assert_eq!(
            s.headline,
            "Claude Code wants to change src/auth/login.ts (+1 \u{2212}1)"
        );
        assert_eq!(s.reason, "File writes need review");
        assert_eq!(
            s.details,
            "native__Edit · job.mcp-bridge.write.file · rule approve-code-write"
        );
        // Outside the root the path stays whole.
        let s = summarize(&p, Some(Path::new("/elsewhere")));
        assert!(s.headline.contains("/work/app/src/auth/login.ts"), "{s:?}");
    }

    #[test]
    fn a_new_file_is_created_and_counts_only_additions() {
        let mut p = held(
            "codex",
            "write.file",
            "write_file",
            json!({"path": "/w/new.txt", "content": "a\nb\n"}),
        );
        p.diff = Some("--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1,2 @@\n+a\n+b\n".to_owned());
        assert_eq!(
            summarize(&p, Some(Path::new("/w"))).headline,
            "Codex wants to create new.txt (+2)"
        );
    }

    #[test]
    fn pushes_and_commands_are_said_in_words() {
        let p = held(
            "gemini",
            "git.push",
            "run_shell_command",
            json!({"command": "git push -u origin fix/auth-bug"}),
        );
        assert_eq!(
            summarize(&p, None).headline,
            "Gemini CLI wants to push fix/auth-bug to origin"
        );
        let p = held(
            "claude-code",
            "git.force-push",
            "git_push",
            json!({"remote": "origin", "branch": "main", "force": true}),
        );
        assert_eq!(
            summarize(&p, None).headline,
            "Claude Code wants to force-push main to origin"
        );
        let p = held(
            "claude-code",
            "exec.shell",
            "Bash",
            json!({"command": "terraform apply"}),
        );
        assert_eq!(
            summarize(&p, None).headline,
            "Claude Code wants to run `terraform apply`"
        );
        let p = held(
            "codex",
            "infra.destroy",
            "shell",
            json!({"command": ["bash", "-lc", "terraform destroy -auto-approve"]}),
        );
        assert_eq!(
            summarize(&p, None).headline,
            "Codex wants to run `bash -lc 'terraform destroy -auto-approve'`"
        );
    }

    #[test]
    fn hostile_names_cannot_add_lines_or_escapes() {
        let mut p = held(
            "evil\u{1b}[2K\nagent",
            "write.file",
            "Write",
            json!({"file_path": "/w/a\n+++ b/ok\u{202e}txt.exe", "content": "x"}),
        );
        p.reason = "fine\u{1b}[8m".to_owned();
        let s = summarize(&p, Some(Path::new("/w")));
        for text in [&s.headline, &s.reason, &s.details] {
            assert!(!text.chars().any(cordon_text::is_hidden), "{text:?}");
        }
        assert!(
            s.headline
                .starts_with("evil\\x1b[2K\\nagent wants to change a\\n+++ b/ok\\u{202e}txt.exe"),
            "{s:?}"
        );
    }

    #[test]
    fn long_commands_and_paths_are_cut_and_unknown_tools_named() {
        let long = format!("echo {}", "x".repeat(200));
        let p = held("cursor", "exec.shell", "run", json!({"command": long}));
        let s = summarize(&p, None);
        assert!(s.headline.ends_with("…`"), "{s:?}");
        assert!(s.headline.chars().count() < 120, "{s:?}");
        let mut p = held("some-agent", "tool.other", "frobnicate", json!({}));
        assert_eq!(
            summarize(&p, None).headline,
            "some-agent wants to use frobnicate"
        );
        p.target = Some("prod-db".into());
        assert_eq!(
            summarize(&p, None).headline,
            "some-agent wants to use frobnicate on prod-db"
        );
    }

    #[test]
    fn stats_ignore_headers_and_notes() {
        assert_eq!(
            diff_stats("--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n-x\n+y\n+z\n"),
            Some((2, 1))
        );
        assert_eq!(diff_stats("(cannot diff f: not UTF-8 text)"), None);
    }
}
