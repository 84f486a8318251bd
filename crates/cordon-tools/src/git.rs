//! git_status, git_diff, git_log, git_commit, git_push: thin, confined wrappers around the
//! user's own `git`, so the user's credential helper and config apply.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::command::GIT_REDIRECT_VARS;
use crate::exec::{self, Finished, Stop};
use crate::{Args, OUTPUT_CAP, Op, ToolError, ToolOutput, Workspace};

/// Time limits: reads are quick; a commit may run the user's hooks; a push talks to a
/// server. A git that hangs (a prompt, a dead network) is killed, never waited on forever.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
const COMMIT_TIMEOUT: Duration = Duration::from_secs(120);
const PUSH_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest commit message accepted.
const MAX_MESSAGE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub(crate) enum GitOp {
    Status {
        repo: PathBuf,
    },
    Diff {
        repo: PathBuf,
        staged: bool,
        rev: Option<String>,
        paths: Vec<PathBuf>,
    },
    Log {
        repo: PathBuf,
        max_count: u64,
        rev: Option<String>,
    },
    Commit {
        repo: PathBuf,
        message: String,
        paths: Vec<PathBuf>,
    },
    Push {
        repo: PathBuf,
        remote: String,
        branch: String,
        force: bool,
    },
}

impl GitOp {
    pub(crate) fn repo(&self) -> &Path {
        match self {
            GitOp::Status { repo }
            | GitOp::Diff { repo, .. }
            | GitOp::Log { repo, .. }
            | GitOp::Commit { repo, .. }
            | GitOp::Push { repo, .. } => repo,
        }
    }
}

/// Hide `user:password@` in URLs that git may echo (remote URLs with embedded tokens).
pub(crate) fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (before, after_scheme) = rest.split_at(pos + 3);
        out.push_str(before);
        let end = after_scheme
            .find(|c: char| c == '/' || c.is_whitespace())
            .unwrap_or(after_scheme.len());
        let authority = after_scheme.get(..end).unwrap_or_default();
        match authority.rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(authority.get(at..).unwrap_or_default());
            }
            None => out.push_str(authority),
        }
        rest = after_scheme.get(end..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

struct Run {
    finished: Finished,
}

impl Run {
    fn ok(&self) -> bool {
        self.finished.code == Some(0)
    }
    fn stdout(&self) -> String {
        redact(&self.finished.stdout.text())
    }
    fn stderr(&self) -> String {
        redact(self.finished.stderr.text().trim())
    }
}

/// Run git in `dir` with hardened options: no pager, no prompts, no fsmonitor hook and no
/// signature verification (both run configured programs, which a planted repository config
/// could abuse), no inherited repository redirection, the C locale (so messages can be
/// recognised).
fn git(
    ws: &Workspace,
    dir: &Path,
    pre: &[String],
    args: &[&str],
    extra: &[OsString],
    timeout: Duration,
    stop: Stop<'_>,
) -> Result<Run, ToolError> {
    let mut all: Vec<OsString> = vec![
        "--no-pager".into(),
        "-c".into(),
        "core.fsmonitor=false".into(),
        "-c".into(),
        "log.showSignature=false".into(),
    ];
    for p in pre {
        all.push("-c".into());
        all.push(p.into());
    }
    all.extend(args.iter().map(OsString::from));
    all.extend(extra.iter().cloned());
    let mut env: Vec<(OsString, OsString)> = vec![
        ("GIT_TERMINAL_PROMPT".into(), "0".into()),
        ("GIT_PAGER".into(), "cat".into()),
        ("PAGER".into(), "cat".into()),
        ("LC_ALL".into(), "C".into()),
        ("GIT_OPTIONAL_LOCKS".into(), "0".into()),
    ];
    env.extend(ws.git_env.iter().cloned());
    let finished = exec::run(exec::Spec {
        program: ws.git_program.as_os_str(),
        args: all,
        cwd: dir,
        env,
        env_remove: GIT_REDIRECT_VARS,
        base_env: ws.base_env.as_deref(),
        timeout,
        cap: OUTPUT_CAP,
        stop,
    })
    .map_err(|e| {
        if e.kind() == std::io::ErrorKind::Interrupted {
            // Stopped (SIGTERM first, so git could remove its lock files), not failed to start.
            ToolError::Git(e.to_string())
        } else if e.kind() == std::io::ErrorKind::NotFound {
            ToolError::Git(format!(
                "the git executable `{}` was not found; install git (https://git-scm.com) or \
                 configure its path",
                ws.git_program.display()
            ))
        } else {
            ToolError::Git(format!(
                "could not start `{}`: {e}",
                ws.git_program.display()
            ))
        }
    })?;
    if finished.timed_out {
        let partial = crate::command::render(&finished);
        return Err(ToolError::Timeout {
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            partial_output: redact(&partial),
        });
    }
    Ok(Run { finished })
}

fn failed(what: &str, run: &Run) -> ToolError {
    let stderr = run.stderr();
    let detail = if stderr.is_empty() {
        run.stdout().trim().to_owned()
    } else {
        stderr
    };
    ToolError::Git(format!(
        "`{what}` failed (exit {}): {detail}",
        run.finished
            .code
            .map_or_else(|| "by signal".to_owned(), |c| c.to_string())
    ))
}

/// Run git and return stdout, or a `Git` error carrying git's stderr.
fn git_ok(
    ws: &Workspace,
    dir: &Path,
    args: &[&str],
    timeout: Duration,
    stop: Stop<'_>,
) -> Result<String, ToolError> {
    let run = git(ws, dir, &[], args, &[], timeout, stop)?;
    if run.ok() {
        Ok(run.stdout())
    } else {
        Err(failed(&format!("git {}", args.join(" ")), &run))
    }
}

/// The repository top level for the `path` argument; it must lie inside the roots, so git
/// never works on a repository the user did not grant.
fn repo_top(ws: &Workspace, a: &Args<'_>) -> Result<PathBuf, ToolError> {
    let given = a.opt_str("path")?.unwrap_or(".");
    let dir = ws.resolve(given)?;
    if !dir.is_dir() {
        return Err(ToolError::NotFound {
            what: format!("directory `{given}`"),
        });
    }
    let run = git(
        ws,
        &dir,
        &[],
        &["rev-parse", "--show-toplevel"],
        &[],
        READ_TIMEOUT,
        None,
    )?;
    if !run.ok() {
        let err = run.stderr();
        if err.contains("not a git repository") {
            return Err(ToolError::Git(format!(
                "`{given}` is not inside a git repository; run `git init` there first"
            )));
        }
        return Err(failed("git rev-parse --show-toplevel", &run));
    }
    let top_text = run.stdout().trim().to_owned();
    let top = crate::paths::canonicalize(Path::new(&top_text))
        .map_err(|e| ToolError::io(&top_text, e))?;
    if !ws.roots().iter().any(|r| top.starts_with(r)) {
        return Err(ToolError::Git(format!(
            "the repository containing `{given}` has its top level at `{}`, outside the \
             workspace roots; add that directory as a workspace root to use git on it",
            top.display()
        )));
    }
    Ok(top)
}

/// A revision argument: refuse anything git could read as an option or that is not a
/// commit.
fn check_rev(ws: &Workspace, repo: &Path, tool: &str, rev: &str) -> Result<String, ToolError> {
    if rev.starts_with('-') || rev.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ToolError::invalid(format!(
            "{tool}: `ref` must be a commit, branch or tag name (no leading `-`, no spaces)"
        )));
    }
    let spec = format!("{rev}^{{commit}}");
    let run = git(
        ws,
        repo,
        &[],
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &spec,
        ],
        &[],
        READ_TIMEOUT,
        None,
    )?;
    if !run.ok() {
        return Err(ToolError::NotFound {
            what: format!("git revision `{rev}`"),
        });
    }
    Ok(rev.to_owned())
}

fn repo_paths(
    ws: &Workspace,
    repo: &Path,
    tool: &str,
    given: Option<Vec<&str>>,
) -> Result<Vec<PathBuf>, ToolError> {
    let mut out = Vec::new();
    for p in given.unwrap_or_default() {
        let real = ws.resolve(p)?;
        if !real.starts_with(repo) {
            return Err(ToolError::invalid(format!(
                "{tool}: path `{p}` is not inside the repository at `{}`",
                repo.display()
            )));
        }
        out.push(real);
    }
    Ok(out)
}

/// A branch or remote name that git cannot mistake for an option or a refspec.
fn plain_name(kind: &str, name: &str) -> Result<(), ToolError> {
    let bad = name.is_empty()
        || name.starts_with('-')
        || name.chars().any(|c| {
            c.is_control()
                || c.is_whitespace()
                || matches!(c, '+' | ':' | '\\' | '^' | '~' | '?' | '*' | '[')
        })
        || name.contains("@{")
        || name.contains("..");
    if bad {
        return Err(ToolError::invalid(format!(
            "git_push: `{name}` is not a valid {kind} name (no leading `-`, no `+`, `:`, spaces \
             or revision syntax){}",
            if kind == "remote" {
                "; give the name of a configured remote, not a URL"
            } else {
                "; to overwrite the remote branch use `force: true`"
            }
        )));
    }
    Ok(())
}

pub(crate) fn prepare(
    ws: &Workspace,
    tool: &str,
    a: &Args<'_>,
) -> Result<(Op, Option<String>), ToolError> {
    let op = match tool {
        "git_status" => {
            a.only(&["path"])?;
            GitOp::Status {
                repo: repo_top(ws, a)?,
            }
        }
        "git_diff" => {
            a.only(&["path", "staged", "ref", "paths"])?;
            let staged = a.opt_bool("staged")?.unwrap_or(false);
            let rev = a.opt_str("ref")?;
            let paths = a.opt_str_list("paths")?;
            let repo = repo_top(ws, a)?;
            let rev = rev.map(|r| check_rev(ws, &repo, tool, r)).transpose()?;
            let paths = repo_paths(ws, &repo, tool, paths)?;
            GitOp::Diff {
                repo,
                staged,
                rev,
                paths,
            }
        }
        "git_log" => {
            a.only(&["path", "max_count", "ref"])?;
            let max_count = a.opt_u64("max_count", 1, 1000)?.unwrap_or(20);
            let rev = a.opt_str("ref")?;
            let repo = repo_top(ws, a)?;
            let rev = rev.map(|r| check_rev(ws, &repo, tool, r)).transpose()?;
            GitOp::Log {
                repo,
                max_count,
                rev,
            }
        }
        "git_commit" => {
            a.only(&["path", "message", "paths"])?;
            let message = a.req_str("message")?;
            if message.trim().is_empty() {
                return Err(ToolError::invalid("git_commit: `message` is empty"));
            }
            if message.len() > MAX_MESSAGE_BYTES || message.contains('\0') {
                return Err(ToolError::invalid(format!(
                    "git_commit: `message` must be text of at most {MAX_MESSAGE_BYTES} bytes"
                )));
            }
            let paths = a.opt_str_list("paths")?;
            let repo = repo_top(ws, a)?;
            let paths = repo_paths(ws, &repo, tool, paths)?;
            GitOp::Commit {
                repo,
                message: message.to_owned(),
                paths,
            }
        }
        "git_push" => {
            a.only(&["path", "remote", "branch", "force"])?;
            let remote = a.opt_str("remote")?.unwrap_or("origin").to_owned();
            let branch = a.opt_str("branch")?.map(str::to_owned);
            let force = a.opt_bool("force")?.unwrap_or(false);
            let repo = repo_top(ws, a)?;
            prepare_push(ws, repo, remote, branch, force)?
        }
        other => {
            return Err(ToolError::invalid(format!("unknown git tool `{other}`")));
        }
    };
    let preview = match &op {
        GitOp::Push {
            repo,
            remote,
            branch,
            force,
        } => Some(push_preview(ws, repo, remote, branch, *force)),
        GitOp::Commit { message, paths, .. } => Some(format!(
            "git commit -m {message:?}{}",
            if paths.is_empty() {
                String::new()
            } else {
                format!(
                    "\nstaging: {}",
                    paths
                        .iter()
                        .map(|p| crate::display_path(ws, p))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        )),
        _ => None,
    };
    Ok((Op::Git(op), preview))
}

fn prepare_push(
    ws: &Workspace,
    repo: PathBuf,
    remote: String,
    branch: Option<String>,
    force: bool,
) -> Result<GitOp, ToolError> {
    plain_name("remote", &remote)?;
    let remotes = git_ok(ws, &repo, &["remote"], READ_TIMEOUT, None)?;
    if !remotes.lines().any(|l| l.trim() == remote) {
        let known: Vec<&str> = remotes.lines().map(str::trim).collect();
        return Err(ToolError::NotFound {
            what: format!(
                "git remote `{remote}` (configured remotes: {}; URLs are not accepted, add a \
                 remote with `git remote add`)",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ),
        });
    }
    let branch = match branch {
        Some(b) => b,
        None => {
            let run = git(
                ws,
                &repo,
                &[],
                &["symbolic-ref", "--quiet", "--short", "HEAD"],
                &[],
                READ_TIMEOUT,
                None,
            )?;
            if !run.ok() {
                return Err(ToolError::Git(
                    "HEAD is detached (not on a branch); pass `branch` to say which branch to push"
                        .to_owned(),
                ));
            }
            run.stdout().trim().to_owned()
        }
    };
    plain_name("branch", &branch)?;
    let local = format!("refs/heads/{branch}");
    let run = git(
        ws,
        &repo,
        &[],
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &local,
        ],
        &[],
        READ_TIMEOUT,
        None,
    )?;
    if !run.ok() {
        return Err(ToolError::NotFound {
            what: format!("local branch `{branch}`"),
        });
    }
    Ok(GitOp::Push {
        repo,
        remote,
        branch,
        force,
    })
}

/// Best-effort summary of what a push would send, from local refs only (no fetch).
fn push_preview(ws: &Workspace, repo: &Path, remote: &str, branch: &str, force: bool) -> String {
    let local = format!("refs/heads/{branch}");
    let tracking = format!("refs/remotes/{remote}/{branch}");
    let mut out = format!(
        "git push {}{remote} {branch}\n\
         Preview (best effort, from local refs as of the last fetch; the remote may differ):\n",
        if force { "--force-with-lease " } else { "" }
    );
    let has_tracking = git(
        ws,
        repo,
        &[],
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &tracking,
        ],
        &[],
        READ_TIMEOUT,
        None,
    )
    .is_ok_and(|r| r.ok());
    let section = |title: &str, args: &[&str]| -> String {
        match git_ok(ws, repo, args, READ_TIMEOUT, None) {
            Ok(text) if text.trim().is_empty() => format!("{title}: (none)\n"),
            Ok(text) => format!("{title}:\n{}\n", text.trim_end()),
            Err(e) => format!("{title}: (unavailable: {e})\n"),
        }
    };
    if has_tracking {
        let range = format!("{tracking}..{local}");
        out.push_str(&section(
            "Commits to push",
            &[
                "log",
                "--oneline",
                "--no-color",
                "--end-of-options",
                &range,
                "--",
            ],
        ));
        out.push_str(&section(
            "Changes (diff --stat)",
            &[
                "diff",
                "--stat",
                "--no-color",
                "--no-ext-diff",
                "--end-of-options",
                &tracking,
                &local,
                "--",
            ],
        ));
        if force {
            let lost = format!("{local}..{tracking}");
            out.push_str(&section(
                "Remote commits the force push would discard",
                &[
                    "log",
                    "--oneline",
                    "--no-color",
                    "--end-of-options",
                    &lost,
                    "--",
                ],
            ));
        }
    } else {
        out.push_str(&format!(
            "No remote-tracking branch {remote}/{branch}: a new branch on the remote (or never fetched).\n"
        ));
        out.push_str(&section(
            "Latest commits (up to 20)",
            &[
                "log",
                "--oneline",
                "--no-color",
                "-n",
                "20",
                "--end-of-options",
                &local,
                "--",
            ],
        ));
    }
    out
}

/// Runs a prepared git operation; `stop` ends it early (the agent cancelled), letting git
/// remove its lock files first (see [`crate::exec`]).
pub(crate) fn execute(ws: &Workspace, op: GitOp, stop: Stop<'_>) -> Result<ToolOutput, ToolError> {
    match op {
        GitOp::Status { repo } => {
            let text = git_ok(
                ws,
                &repo,
                &["status", "--short", "--branch"],
                READ_TIMEOUT,
                stop,
            )?;
            let clean = text.lines().count() <= 1;
            Ok(ToolOutput {
                text: if clean {
                    format!("{text}(working tree clean)\n")
                } else {
                    text
                },
                is_error: false,
                structured: Some(json!({"clean": clean})),
            })
        }
        GitOp::Diff {
            repo,
            staged,
            rev,
            paths,
        } => {
            let mut args = vec!["diff", "--no-color", "--no-ext-diff", "--no-textconv"];
            if staged {
                args.push("--cached");
            }
            args.push("--end-of-options");
            if let Some(r) = &rev {
                args.push(r);
            }
            args.push("--");
            let extra: Vec<OsString> = paths.iter().map(|p| p.as_os_str().to_owned()).collect();
            let run = git(ws, &repo, &[], &args, &extra, READ_TIMEOUT, stop)?;
            if !run.ok() {
                return Err(failed("git diff", &run));
            }
            let mut text = run.stdout();
            if text.is_empty() {
                text = "(no differences)\n".to_owned();
            }
            if run.finished.stdout.truncated {
                text.push_str("\n[diff truncated at 1 MiB; pass `paths` to narrow it]\n");
            }
            Ok(ToolOutput {
                text,
                is_error: false,
                structured: None,
            })
        }
        GitOp::Log {
            repo,
            max_count,
            rev,
        } => log(ws, &repo, max_count, rev.as_deref(), stop),
        GitOp::Commit {
            repo,
            message,
            paths,
        } => commit(ws, &repo, &message, &paths, stop),
        GitOp::Push {
            repo,
            remote,
            branch,
            force,
        } => push(ws, &repo, &remote, &branch, force, stop),
    }
}

fn log(
    ws: &Workspace,
    repo: &Path,
    max_count: u64,
    rev: Option<&str>,
    stop: Stop<'_>,
) -> Result<ToolOutput, ToolError> {
    let count = format!("--max-count={max_count}");
    let mut args = vec![
        "log",
        "--no-color",
        &count,
        "--format=%H%x1f%an%x1f%ae%x1f%aI%x1f%s%x1e",
        "--end-of-options",
    ];
    if let Some(r) = rev {
        args.push(r);
    }
    args.push("--");
    let run = git(ws, repo, &[], &args, &[], READ_TIMEOUT, stop)?;
    if !run.ok() {
        if run.stderr().contains("does not have any commits yet") {
            return Ok(ToolOutput {
                text: "(no commits yet)\n".to_owned(),
                is_error: false,
                structured: Some(json!({"commits": []})),
            });
        }
        return Err(failed("git log", &run));
    }
    let mut text = String::new();
    let mut commits = Vec::new();
    for record in run.stdout().split('\u{1e}') {
        let record = record.trim_start_matches('\n');
        if record.is_empty() {
            continue;
        }
        let f: Vec<&str> = record.split('\u{1f}').collect();
        let field = |i: usize| f.get(i).copied().unwrap_or_default();
        text.push_str(&format!(
            "{} {} {} <{}> {}\n",
            field(0).get(..12).unwrap_or(field(0)),
            field(3),
            field(1),
            field(2),
            field(4)
        ));
        commits.push(json!({
            "hash": field(0), "author": field(1), "email": field(2),
            "date": field(3), "subject": field(4),
        }));
    }
    Ok(ToolOutput {
        text,
        is_error: false,
        structured: Some(json!({"commits": commits})),
    })
}

const IDENTITY_HELP: &str = "no git identity is configured for commits; set one with \
    `git config --global user.name \"Your Name\"` and `git config --global user.email you@example.com` \
    (or configure an identity for Cordon's built-in tools)";

fn identity_args(ws: &Workspace) -> Vec<String> {
    let mut pre = vec!["user.useConfigOnly=true".to_owned()];
    if let Some((name, email)) = &ws.identity {
        pre.push(format!("user.name={name}"));
        pre.push(format!("user.email={email}"));
    }
    pre
}

fn commit(
    ws: &Workspace,
    repo: &Path,
    message: &str,
    paths: &[PathBuf],
    stop: Stop<'_>,
) -> Result<ToolOutput, ToolError> {
    if let Some((name, email)) = &ws.identity
        && (name.trim().is_empty()
            || email.trim().is_empty()
            || format!("{name}{email}").contains(['\n', '\0', '<', '>']))
    {
        return Err(ToolError::Git(
            "the configured commit identity is invalid (empty, or contains newlines or angle \
             brackets)"
                .to_owned(),
        ));
    }
    let pre = identity_args(ws);
    // Check the identity first, so nothing gets staged for a commit that cannot happen.
    for var in ["GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT"] {
        let run = git(ws, repo, &pre, &["var", var], &[], READ_TIMEOUT, stop)?;
        if !run.ok() {
            return Err(ToolError::Git(IDENTITY_HELP.to_owned()));
        }
    }
    if !paths.is_empty() {
        let extra: Vec<OsString> = paths.iter().map(|p| p.as_os_str().to_owned()).collect();
        let run = git(
            ws,
            repo,
            &[],
            &["add", "-A", "--"],
            &extra,
            COMMIT_TIMEOUT,
            stop,
        )?;
        if !run.ok() {
            return Err(failed("git add", &run));
        }
    }
    let run = git(
        ws,
        repo,
        &[],
        &["diff", "--cached", "--quiet", "--no-ext-diff"],
        &[],
        READ_TIMEOUT,
        stop,
    )?;
    match run.finished.code {
        Some(1) => {}
        Some(0) => {
            return Err(ToolError::Git(
                "nothing to commit: no changes are staged. Pass `paths` to stage files (or stage \
                 them first); empty commits are refused"
                    .to_owned(),
            ));
        }
        _ => return Err(failed("git diff --cached --quiet", &run)),
    }
    let run = git(
        ws,
        repo,
        &pre,
        &["commit", "--no-edit", "-m", message],
        &[],
        COMMIT_TIMEOUT,
        stop,
    )?;
    if !run.ok() {
        let err = run.stderr();
        if err.contains("tell me who you are")
            || err.contains("empty ident")
            || err.contains("no email was given")
        {
            return Err(ToolError::Git(IDENTITY_HELP.to_owned()));
        }
        return Err(failed("git commit", &run));
    }
    let head = git_ok(ws, repo, &["rev-parse", "HEAD"], READ_TIMEOUT, stop)?;
    let head = head.trim().to_owned();
    Ok(ToolOutput {
        text: format!("committed {head}\n{}", run.stdout()),
        is_error: false,
        structured: Some(json!({"commit": head})),
    })
}

fn push(
    ws: &Workspace,
    repo: &Path,
    remote: &str,
    branch: &str,
    force: bool,
    stop: Stop<'_>,
) -> Result<ToolOutput, ToolError> {
    let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
    let mut args = vec!["push", "--porcelain"];
    if force {
        args.push("--force-with-lease");
    }
    args.push(remote);
    args.push(&refspec);
    let run = git(ws, repo, &[], &args, &[], PUSH_TIMEOUT, stop)?;
    let combined = format!("{}\n{}", run.stdout().trim_end(), run.stderr());
    if !run.ok() {
        let hint = if combined.contains("stale info") {
            " — the remote branch moved since your last fetch; fetch and review before forcing"
        } else if combined.contains("non-fast-forward")
            || combined.contains("fetch first")
            || combined.contains("[rejected]")
        {
            " — the remote has commits this branch does not: fetch and rebase/merge, or push with `force: true` (uses --force-with-lease)"
        } else if combined.contains("Authentication failed")
            || combined.contains("could not read Username")
            || combined.contains("terminal prompts disabled")
        {
            " — git could not authenticate; configure a credential helper or an SSH key (Cordon never prompts)"
        } else {
            ""
        };
        return Err(ToolError::Git(format!(
            "push of `{branch}` to `{remote}` failed{hint}:\n{}",
            combined.trim()
        )));
    }
    Ok(ToolOutput {
        text: format!(
            "pushed {branch} to {remote}{}\n{}",
            if force { " (--force-with-lease)" } else { "" },
            combined.trim()
        ),
        is_error: false,
        structured: Some(json!({"remote": remote, "branch": branch, "force": force})),
    })
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redacts_userinfo_in_urls() {
        let cases = [
            (
                "fatal: https://user:tok@host/r.git",
                "fatal: https://***@host/r.git",
            ),
            ("https://tok@host", "https://***@host"),
            (
                "ssh://git@host:22/x and https://a:b@c/d",
                "ssh://***@host:22/x and https://***@c/d",
            ),
            ("no url here", "no url here"),
            (
                "https://host/path@not-userinfo",
                "https://host/path@not-userinfo",
            ),
            ("trailing ://", "trailing ://"),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input), want, "{input}");
        }
    }
}
