//! `cordon approvals`, `cordon approve ID`, `cordon deny ID`: headless approvals.
//!
//! Approving needs a human, proven twice: the command must run on an interactive terminal
//! (stdin and stdout are TTYs), and the user types the one-time code the engine drew for that
//! call, which it shows only on its own channel (the terminal running `cordon serve`, or the
//! desktop app's approval window). Anything the agent runs can reach the control socket and can
//! fake a terminal (`script -qc`), but it never sees the code; wrong codes are bounded by the
//! engine. Denying needs neither: a denial can only refuse.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use cordon_gateway::control::{self, Guarded, Request};
use cordon_gateway::{Config, PendingApproval};
use cordon_text::{visible, visible_lines};
use serde_json::Value;

/// Arguments of `cordon approvals`.
#[derive(Debug, Args)]
pub struct ApprovalsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Show each call's proposed change: the diff against the file on disk (a new file all
    /// added, a binary or huge file summarised), a push's commits or a command.
    #[arg(long)]
    pub diff: bool,
    /// Config file (default: $CORDON_CONFIG, else ~/.config/cordon/config.yaml).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Arguments of `cordon approve`.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The pending approval's id.
    pub id: String,
    /// Let the same action by this agent session on the same target (file, command) pass
    /// without asking again.
    #[arg(long, conflicts_with = "session_prefix")]
    pub session: bool,
    /// Let the same action by this agent session on targets under this path pass without
    /// asking again (it must contain this call's target).
    #[arg(long, value_name = "PATH")]
    pub session_prefix: Option<String>,
    /// The one-time code Cordon showed for this call (asked for on the terminal when omitted).
    #[arg(long)]
    pub code: Option<String>,
    /// Config file (default: $CORDON_CONFIG, else ~/.config/cordon/config.yaml).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Arguments of `cordon deny`.
#[derive(Debug, Args)]
pub struct DenyArgs {
    /// The pending approval's id.
    pub id: String,
    /// Why, shown to the agent and recorded.
    #[arg(long)]
    pub reason: Option<String>,
    /// Config file (default: $CORDON_CONFIG, else ~/.config/cordon/config.yaml).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn ask(config: Option<PathBuf>, request: Request) -> anyhow::Result<Value> {
    let config = Config::resolve(config)?;
    Ok(runtime()?.block_on(control::request(&config.socket, &request))?)
}

/// Refuses unless stdin and stdout are terminals: a first, weak filter (a process can allocate
/// a pseudo-terminal), which keeps scripts and pipes from even trying; the code is the proof.
pub(crate) fn require_terminal(what: &str) -> anyhow::Result<()> {
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        return Ok(());
    }
    anyhow::bail!(
        "{what} needs a human at an interactive terminal (stdin and stdout must be a TTY) and \
         the one-time code Cordon shows on its own channel; it cannot be scripted"
    )
}

/// The code from `--code`, else asked for on the terminal (not echoed).
pub(crate) fn read_code(given: Option<String>, prompt: &str) -> anyhow::Result<String> {
    if let Some(code) = given {
        return Ok(code);
    }
    let code = rpassword::prompt_password(prompt).context("cannot read the code")?;
    if code.trim().is_empty() {
        anyhow::bail!("no code typed: nothing approved");
    }
    Ok(code)
}

/// Runs a request that loosens governance (resume, tool approval): asks the engine to show a
/// one-time code on its own channel, reads it from the human's terminal, then sends `build(code)`.
pub(crate) fn guarded(
    socket: &std::path::Path,
    action: Guarded,
    code: Option<String>,
    build: impl FnOnce(String) -> Request,
) -> anyhow::Result<Value> {
    let what = action.describe();
    let runtime = runtime()?;
    // An engine that is not running is said first, before asking anything of the human.
    runtime.block_on(control::ping(socket))?;
    require_terminal(&what)?;
    if code.is_none() {
        runtime.block_on(control::request(socket, &Request::Challenge { action }))?;
    }
    let code = read_code(
        code,
        &format!(
            "Cordon showed a one-time code to {} (in the desktop app, or on the terminal running \
             `cordon serve`). Code: ",
            visible(&what)
        ),
    )?;
    Ok(runtime.block_on(control::request(socket, &build(code)))?)
}

/// Lists pending approvals; every text the agent could have chosen is shown escaped.
pub fn list(args: ApprovalsArgs) -> anyhow::Result<ExitCode> {
    let reply = ask(args.config, Request::Approvals)?;
    let approvals: Vec<PendingApproval> = serde_json::from_value(
        reply
            .get("approvals")
            .cloned()
            .unwrap_or(Value::Array(vec![])),
    )
    .context("the engine sent a malformed approvals list")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&approvals)?);
        return Ok(ExitCode::SUCCESS);
    }
    if approvals.is_empty() {
        println!("no calls are waiting for approval");
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render(&approvals, args.diff));
    Ok(ExitCode::SUCCESS)
}

/// The table `cordon approvals` prints (kept apart for tests): each call in plain words (the
/// summary the desktop's notifications show), its rule's reason, the taxonomy, and with `diff`
/// the proposed change.
fn render(approvals: &[PendingApproval], diff: bool) -> String {
    let mut out = String::new();
    for raw in approvals {
        let review = cordon_gateway::summary::review(raw);
        let a = &review.approval; // every agent-chosen text made visible
        out.push_str(&format!("{}  {}\n", visible(&a.id), review.headline));
        out.push_str(&format!("    reason: {}\n", visible(&a.reason)));
        out.push_str(&format!(
            "    {} · target: {} · expires: {}\n",
            review.details,
            visible(a.target.as_deref().unwrap_or("-")),
            visible(&a.expires_at)
        ));
        if let Some(note) = &review.changed_on_disk {
            out.push_str(&format!("    WARNING: {note}\n"));
        }
        if !diff {
            continue;
        }
        // A built-in tool's preview (a push's commits, a command) when there is no file diff;
        // a preview that is not the diff (an upstream retry's answers) after it.
        let extra = a.preview.as_ref().filter(|p| a.diff.as_ref() != Some(*p));
        match a.diff.as_ref().or(a.preview.as_ref()) {
            Some(shown) => {
                for line in visible_lines(shown).lines() {
                    out.push_str(&format!("    {line}\n"));
                }
                if let Some(extra) = extra.filter(|e| *e != shown) {
                    for line in visible_lines(extra).lines() {
                        out.push_str(&format!("    {line}\n"));
                    }
                }
            }
            None => out.push_str(&format!("    args: {}\n", visible(&a.args.to_string()))),
        }
    }
    if !diff && !approvals.is_empty() {
        out.push_str("show the proposed changes with `cordon approvals --diff`\n");
    }
    out.push_str(
        "approve with `cordon approve ID` on your terminal and the code Cordon shows for the \
         call; deny with `cordon deny ID`\n",
    );
    out
}

fn describe(reply: &Value) -> String {
    let a = reply.get("approval");
    let field = |k: &str| {
        visible(
            a.and_then(|a| a.get(k))
                .and_then(Value::as_str)
                .unwrap_or("?"),
        )
        .into_owned()
    };
    format!(
        "{}__{} by {} on {}",
        field("server"),
        field("tool"),
        field("agent"),
        field("target")
    )
}

/// Approves a pending call: on a terminal, with its one-time code.
pub fn approve(args: ApproveArgs) -> anyhow::Result<ExitCode> {
    let config = Config::resolve(args.config)?;
    runtime()?.block_on(control::ping(&config.socket))?;
    require_terminal("approving a call")?;
    let code = read_code(
        args.code,
        &format!(
            "Cordon shows a one-time code for approval {} (in the desktop approval window, or on \
             the terminal running `cordon serve`). Code: ",
            visible(&args.id)
        ),
    )?;
    // A relative prefix means one under this terminal's directory (targets are absolute).
    let prefix = match args.session_prefix.as_deref() {
        Some(p) if std::path::Path::new(p).is_relative() => Some(
            std::env::current_dir()
                .context("cannot resolve a relative --session-prefix")?
                .join(p)
                .to_string_lossy()
                .into_owned(),
        ),
        other => other.map(str::to_owned),
    };
    let request = Request::Approve {
        id: args.id.clone(),
        session: args.session,
        prefix: prefix.clone(),
        code: Some(code),
    };
    let reply = runtime()?.block_on(control::request(&config.socket, &request))?;
    let scope = match (&prefix, args.session) {
        (Some(prefix), _) => format!(
            " (and the same action under {} for the rest of the session)",
            visible(prefix)
        ),
        (None, true) => {
            " (and the same action on the same target for the rest of the session)".to_owned()
        }
        (None, false) => String::new(),
    };
    println!(
        "approved {}: {}{scope}",
        visible(&args.id),
        describe(&reply)
    );
    Ok(ExitCode::SUCCESS)
}

/// Denies a pending call (no proof needed: a denial only refuses).
pub fn deny(args: DenyArgs) -> anyhow::Result<ExitCode> {
    let reply = ask(
        args.config,
        Request::Deny {
            id: args.id.clone(),
            reason: args.reason,
        },
    )?;
    println!("denied {}: {}", visible(&args.id), describe(&reply));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_list_shows_hostile_text_escaped() {
        let a: PendingApproval = serde_json::from_value(json!({
            "id": "abc", "agent": "claude-code", "session_id": "s", "server": "fs",
            "tool": "write\u{1b}[2K_file", "action": "job.mcp-bridge.write.file",
            "target": "/w/a\n+++ b/harmless", "risk_tags": [], "rule_id": null,
            "reason": "writes \u{202e}txt.exe", "args": {"path": "/w/a\n"},
            "diff": "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\r+fake\n+\u{1b}[31mnew\n",
            "args_sha256": "", "policy_version": "v", "created_at": "", "expires_at": ""
        }))
        .unwrap();
        let shown = render(&[a], true);
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\r'),
            "{shown}"
        );
        assert!(!shown.contains('\u{202e}'), "{shown}");
        assert!(shown.contains("write\\x1b[2K_file"), "{shown}");
        assert!(shown.contains("target: /w/a\\n+++ b/harmless"), "{shown}");
        assert!(
            shown.contains("abc  Claude Code wants to change /w/a\\n (+1 \u{2212}1)"),
            "{shown}"
        );
        assert!(shown.contains("writes \\u{202e}txt.exe"), "{shown}");
        assert!(shown.contains("-old\\r+fake"), "{shown}");
        // The only lines starting with +++ are the diff's own header.
        let fake = shown
            .lines()
            .filter(|l| l.trim_start().starts_with("+++"))
            .count();
        assert_eq!(fake, 1, "{shown}");
    }

    #[test]
    fn a_preview_beside_a_diff_is_shown_after_it_and_a_duplicate_once() {
        let base = json!({
            "id": "abc", "agent": "claude-code", "session_id": "s", "server": "era",
            "tool": "write", "action": "job.mcp-bridge.write.file", "target": null,
            "risk_tags": [], "rule_id": null, "reason": "r", "args": {},
            "diff": "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new\n",
            "args_sha256": "", "policy_version": "v", "created_at": "", "expires_at": ""
        });
        let with = |preview: &str| {
            let mut raw = base.clone();
            raw["preview"] = json!(preview);
            serde_json::from_value::<PendingApproval>(raw).unwrap()
        };
        let retry = with("This call retries an earlier round: answers {\"ok\": true}");
        let shown = render(&[retry], true);
        let (diff_at, retry_at) = (shown.find("+new"), shown.find("retries an earlier round"));
        assert!(diff_at.is_some() && retry_at > diff_at, "{shown}");
        let same = with("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new\n");
        let shown = render(&[same], true);
        assert_eq!(shown.matches("+new").count(), 1, "{shown}");
    }

    #[test]
    fn without_diff_the_list_is_words_and_with_it_the_change() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("login.ts");
        std::fs::write(&file, "a\nb\n").unwrap();
        let path = file.to_str().unwrap();
        let args = json!({"file_path": path, "content": "a\nB\n"});
        let diff = cordon_gateway::diff::proposed_diff("Write", &args, None);
        let a: PendingApproval = serde_json::from_value(json!({
            "id": "abc", "agent": "claude-code", "session_id": "s", "server": "native",
            "tool": "Write", "action": "job.mcp-bridge.write.file", "target": path,
            "risk_tags": [], "rule_id": "approve-code-write", "reason": "File writes need review",
            "args": args, "diff": diff, "args_sha256": "", "policy_version": "v",
            "created_at": "", "expires_at": "2026-01-01T00:05:00Z"
        }))
        .unwrap();
        let short = render(std::slice::from_ref(&a), false);
        assert!(
            short.contains(&format!(
                "abc  Claude Code wants to change {path} (+1 \u{2212}1)"
            )),
            "{short}"
        );
        assert!(short.contains("reason: File writes need review"), "{short}");
        assert!(
            short.contains("native__Write · job.mcp-bridge.write.file"),
            "{short}"
        );
        assert!(!short.contains("+B"), "{short}");
        let long = render(std::slice::from_ref(&a), true);
        assert!(long.contains("    -b\n    +B\n"), "{long}");
        assert!(!long.contains("content"), "{long}");
        // The file changes under the reviewer: the listing says so.
        std::fs::write(&file, "a\nsomething else\n").unwrap();
        let warned = render(&[a], false);
        assert!(
            warned.contains("WARNING: the file changed on disk"),
            "{warned}"
        );
    }
}
