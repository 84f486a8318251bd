//! git tools against a real repository with a local bare remote.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{call, git, hermetic, ok, repo};
use cordon_tools::{ToolError, Workspace};
use serde_json::json;

#[test]
fn status_diff_commit_log_push_round_trip() {
    let r = repo();
    let out = ok(&r.ws, "git_status", json!({}));
    assert!(
        out.text.contains("## main...origin/main") && out.text.contains("working tree clean"),
        "{}",
        out.text
    );

    ok(
        &r.ws,
        "file_write",
        json!({"path": "src/auth/login.ts", "content": "export const fixed = true;\n"}),
    );
    ok(
        &r.ws,
        "file_edit",
        json!({"path": "README.md", "edits": [{"oldText": "hello", "newText": "hello, world"}]}),
    );
    let out = ok(&r.ws, "git_status", json!({}));
    assert!(
        out.text.contains(" M README.md") && out.text.contains("?? src/"),
        "{}",
        out.text
    );
    assert_eq!(out.structured.unwrap()["clean"], false);

    let out = ok(&r.ws, "git_diff", json!({}));
    assert!(out.text.contains("-hello\n+hello, world"), "{}", out.text);
    let out = ok(&r.ws, "git_diff", json!({"staged": true}));
    assert_eq!(out.text, "(no differences)\n");

    let prepared =
        r.ws.prepare(
            "git_commit",
            &json!({"message": "Fix auth bug", "paths": ["src/auth/login.ts", "README.md"]}),
        )
        .unwrap();
    assert!(prepared.preview().unwrap().contains("Fix auth bug"));
    let out = r.ws.execute(prepared).unwrap();
    let hash = out.structured.unwrap()["commit"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(hash.len(), 40);
    let author = git(&r.work, &["log", "-1", "--format=%an <%ae>|%s"]);
    assert_eq!(author.trim(), "Agent <agent@example.com>|Fix auth bug");

    let out = ok(
        &r.ws,
        "git_diff",
        json!({"ref": "HEAD~1", "paths": ["README.md"]}),
    );
    assert!(
        out.text.contains("+hello, world") && !out.text.contains("login.ts"),
        "{}",
        out.text
    );

    let out = ok(&r.ws, "git_log", json!({"max_count": 1}));
    assert!(
        out.text.contains("Fix auth bug") && !out.text.contains("initial"),
        "{}",
        out.text
    );
    let commits = out.structured.unwrap()["commits"].clone();
    assert_eq!(commits[0]["hash"], hash.as_str());
    let out = ok(&r.ws, "git_log", json!({}));
    assert_eq!(
        out.structured.unwrap()["commits"].as_array().unwrap().len(),
        2
    );

    let prepared = r.ws.prepare("git_push", &json!({})).unwrap();
    let preview = prepared.preview().unwrap().to_owned();
    assert!(preview.starts_with("git push origin main\n"), "{preview}");
    assert!(
        preview.contains("best effort") && preview.contains("Fix auth bug"),
        "{preview}"
    );
    assert!(
        preview.contains("README.md") && preview.contains("login.ts"),
        "{preview}"
    );
    assert_eq!(
        prepared.target(),
        Some(std::fs::canonicalize(&r.work).unwrap().as_path())
    );
    let out = r.ws.execute(prepared).unwrap();
    assert!(
        out.text.starts_with("pushed main to origin"),
        "{}",
        out.text
    );
    let remote_log = git(
        &r.remote,
        &[
            "--git-dir",
            r.remote.to_str().unwrap(),
            "log",
            "--format=%H %s",
            "main",
        ],
    );
    assert!(
        remote_log.contains(&format!("{hash} Fix auth bug")),
        "{remote_log}"
    );
}

#[test]
fn push_a_new_branch_and_force_push_with_lease_after_amend() {
    let r = repo();
    git(&r.work, &["checkout", "-q", "-b", "fix/auth-bug"]);
    ok(
        &r.ws,
        "file_write",
        json!({"path": "a.txt", "content": "one\n"}),
    );
    ok(
        &r.ws,
        "git_commit",
        json!({"message": "first try", "paths": ["a.txt"]}),
    );
    let prepared =
        r.ws.prepare("git_push", &json!({"branch": "fix/auth-bug"}))
            .unwrap();
    assert!(
        prepared
            .preview()
            .unwrap()
            .contains("new branch on the remote"),
        "{:?}",
        prepared.preview()
    );
    r.ws.execute(prepared).unwrap();
    git(
        &r.work,
        &["branch", "-q", "--set-upstream-to", "origin/fix/auth-bug"],
    );

    // Rewrite the pushed commit.
    std::fs::write(r.work.join("a.txt"), "two\n").unwrap();
    git(
        &r.work,
        &["commit", "-q", "-a", "--amend", "-m", "second try"],
    );
    let amended = git(&r.work, &["rev-parse", "HEAD"]).trim().to_owned();

    // A plain push is rejected with a hint about force.
    match call(&r.ws, "git_push", json!({})) {
        Err(e @ ToolError::Git(_)) => assert!(e.to_string().contains("force: true"), "{e}"),
        other => panic!("expected a rejected push, got {other:?}"),
    }
    let prepared = r.ws.prepare("git_push", &json!({"force": true})).unwrap();
    let preview = prepared.preview().unwrap().to_owned();
    assert!(
        preview.starts_with("git push --force-with-lease origin fix/auth-bug"),
        "{preview}"
    );
    assert!(
        preview.contains("would discard") && preview.contains("first try"),
        "{preview}"
    );
    let out = r.ws.execute(prepared).unwrap();
    assert!(out.text.contains("--force-with-lease"), "{}", out.text);
    let remote_head = git(
        &r.remote,
        &[
            "--git-dir",
            r.remote.to_str().unwrap(),
            "rev-parse",
            "fix/auth-bug",
        ],
    );
    assert_eq!(remote_head.trim(), amended);
}

#[test]
fn force_with_lease_refuses_when_the_remote_moved() {
    let r = repo();
    // Someone else pushes to main through a second clone.
    let other = r.tmp.path().join("other");
    git(
        r.tmp.path(),
        &[
            "clone",
            "-q",
            r.remote.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    std::fs::write(other.join("theirs.txt"), "theirs\n").unwrap();
    git(&other, &["add", "theirs.txt"]);
    git(&other, &["commit", "-q", "-m", "their work"]);
    git(&other, &["push", "-q", "origin", "main"]);
    let theirs = git(&other, &["rev-parse", "HEAD"]).trim().to_owned();

    ok(
        &r.ws,
        "file_write",
        json!({"path": "mine.txt", "content": "mine\n"}),
    );
    ok(
        &r.ws,
        "git_commit",
        json!({"message": "my work", "paths": ["mine.txt"]}),
    );
    let e = call(&r.ws, "git_push", json!({"force": true}));
    assert!(
        matches!(e, Err(ToolError::Git(ref m)) if m.contains("stale info")),
        "{e:?}"
    );
    let remote_head = git(
        &r.remote,
        &["--git-dir", r.remote.to_str().unwrap(), "rev-parse", "main"],
    );
    assert_eq!(remote_head.trim(), theirs, "their commit must survive");
}

#[test]
fn empty_commit_is_refused_clearly() {
    let r = repo();
    match call(&r.ws, "git_commit", json!({"message": "nothing"})) {
        Err(e @ ToolError::Git(_)) => assert!(e.to_string().contains("nothing to commit"), "{e}"),
        other => panic!("expected refusal, got {other:?}"),
    }
    // Staging an unchanged file is still nothing.
    let e = call(
        &r.ws,
        "git_commit",
        json!({"message": "nothing", "paths": ["README.md"]}),
    );
    assert!(
        matches!(e, Err(ToolError::Git(ref m)) if m.contains("nothing to commit")),
        "{e:?}"
    );
    assert_eq!(git(&r.work, &["rev-list", "--count", "HEAD"]).trim(), "1");
}

#[test]
fn commit_without_identity_fails_clearly_and_stages_nothing() {
    let r = repo();
    // No identity in the (empty) global config, none on the workspace, none in the repo.
    let ws = hermetic(Workspace::new(vec![r.work.clone()]).unwrap());
    std::fs::write(r.work.join("b.txt"), "b\n").unwrap();
    match call(
        &ws,
        "git_commit",
        json!({"message": "m", "paths": ["b.txt"]}),
    ) {
        Err(e @ ToolError::Git(_)) => {
            let m = e.to_string();
            assert!(m.contains("user.name") && m.contains("user.email"), "{m}");
        }
        other => panic!("expected identity error, got {other:?}"),
    }
    assert!(
        git(&r.work, &["diff", "--cached", "--name-only"])
            .trim()
            .is_empty()
    );
    // With the identity in the repository config it works.
    git(&r.work, &["config", "user.name", "Repo User"]);
    git(&r.work, &["config", "user.email", "repo@example.com"]);
    ok(
        &ws,
        "git_commit",
        json!({"message": "m", "paths": ["b.txt"]}),
    );
    assert_eq!(
        git(&r.work, &["log", "-1", "--format=%an"]).trim(),
        "Repo User"
    );
}

#[test]
fn missing_git_is_a_clear_error() {
    let r = repo();
    let ws = r.ws.clone().with_git_program("/nonexistent/bin/git");
    match ws.prepare("git_status", &json!({})) {
        Err(e @ ToolError::Git(_)) => assert!(e.to_string().contains("install git"), "{e}"),
        other => panic!("expected Git error, got {other:?}"),
    }
}

#[test]
fn hostile_git_arguments_are_refused() {
    let r = repo();
    let invalid = [
        ("git_push", json!({"remote": "--upload-pack=touch /tmp/x"})),
        ("git_push", json!({"branch": "+main"})),
        ("git_push", json!({"branch": "main:refs/heads/other"})),
        ("git_push", json!({"branch": "-f"})),
        ("git_push", json!({"branch": "@{-1}"})),
        ("git_push", json!({"force": "yes"})),
        ("git_diff", json!({"ref": "--output=/tmp/pwned"})),
        ("git_log", json!({"ref": "-p"})),
        ("git_log", json!({"max_count": 0})),
        ("git_commit", json!({"message": "   "})),
        ("git_commit", json!({})),
        ("git_status", json!({"porcelain": true})),
    ];
    for (tool, args) in invalid {
        let e = r.ws.prepare(tool, &args);
        assert!(
            matches!(e, Err(ToolError::InvalidArguments(_))),
            "{tool} {args}: {e:?}"
        );
    }
    // A URL instead of a configured remote would allow exfiltration: refused.
    let url = format!("file://{}", r.remote.display());
    let e = r.ws.prepare("git_push", &json!({"remote": url}));
    assert!(
        matches!(e, Err(ToolError::InvalidArguments(ref m)) if m.contains("not a URL")),
        "{e:?}"
    );
    let path = r.remote.display().to_string();
    let e = r.ws.prepare("git_push", &json!({"remote": path}));
    assert!(
        matches!(e, Err(ToolError::NotFound { ref what }) if what.contains("configured remotes: origin")),
        "{e:?}"
    );
    let e =
        r.ws.prepare("git_push", &json!({"branch": "no-such-branch"}));
    assert!(matches!(e, Err(ToolError::NotFound { .. })), "{e:?}");
    let e = r.ws.prepare("git_diff", &json!({"ref": "no-such-ref"}));
    assert!(matches!(e, Err(ToolError::NotFound { .. })), "{e:?}");
    let e = r.ws.prepare(
        "git_commit",
        &json!({"message": "m", "paths": ["../remote.git/config"]}),
    );
    assert!(matches!(e, Err(ToolError::OutsideRoots { .. })), "{e:?}");
    assert!(!std::path::Path::new("/tmp/pwned").exists());
}

#[test]
fn repository_outside_the_roots_is_refused() {
    let r = repo();
    // A root inside the repository: its top level lies outside the granted root.
    std::fs::create_dir(r.work.join("pkg")).unwrap();
    let ws = hermetic(Workspace::new(vec![r.work.join("pkg")]).unwrap());
    let e = ws.prepare("git_status", &json!({}));
    assert!(
        matches!(e, Err(ToolError::Git(ref m)) if m.contains("outside the workspace roots")),
        "{e:?}"
    );
    // A directory that is no repository at all.
    let plain = tempfile::tempdir().unwrap();
    let ws = hermetic(Workspace::new(vec![plain.path().into()]).unwrap());
    let e = ws.prepare("git_log", &json!({}));
    assert!(
        matches!(e, Err(ToolError::Git(ref m)) if m.contains("git init")),
        "{e:?}"
    );
}

#[test]
fn planted_fsmonitor_does_not_run_on_read_only_git_tools() {
    let r = repo();
    let marker = r.tmp.path().join("fsmonitor-ran");
    git(
        &r.work,
        &[
            "config",
            "core.fsmonitor",
            &format!("touch {}; false", marker.display()),
        ],
    );
    ok(&r.ws, "git_status", json!({}));
    ok(&r.ws, "git_diff", json!({}));
    assert!(
        !marker.exists(),
        "core.fsmonitor from the repo config was executed"
    );
}

#[test]
fn log_of_an_empty_repository() {
    let tmp = tempfile::tempdir().unwrap();
    git(tmp.path(), &["init", "-q", "-b", "main"]);
    let ws = hermetic(Workspace::new(vec![tmp.path().into()]).unwrap());
    assert_eq!(ok(&ws, "git_log", json!({})).text, "(no commits yet)\n");
}

#[test]
fn credentials_in_remote_urls_are_redacted() {
    let r = repo();
    git(
        &r.work,
        &[
            "remote",
            "add",
            "leaky",
            "https://user:s3cr3t-token@127.0.0.1:9/repo.git",
        ],
    );
    match call(&r.ws, "git_push", json!({"remote": "leaky"})) {
        Err(e) => assert!(!format!("{e} {e:?}").contains("s3cr3t-token"), "{e}"),
        Ok(out) => panic!("push to a closed port succeeded: {}", out.text),
    }
}

/// A cancelled commit is stopped while git holds the index lock (staging a file through the
/// user's slow clean filter, as git-lfs is), and git cleans up after itself: no
/// `.git/index.lock` is left behind (a SIGKILL would leave it, and every later git call in the
/// repository would fail on it), so the next commit works.
#[cfg(unix)]
#[test]
fn a_cancelled_commit_is_stopped_and_leaves_no_index_lock() {
    use std::time::{Duration, Instant};
    let r = repo();
    let started = r.tmp.path().join("filter-started");
    let filter = format!("touch '{}'; sleep 60; cat", started.display());
    git(&r.work, &["config", "filter.slow.clean", &filter]);
    std::fs::write(r.work.join(".gitattributes"), "*.bin filter=slow\n").unwrap();
    std::fs::write(r.work.join("a.bin"), "a\n").unwrap();
    let args = json!({"message": "add a", "paths": ["a.bin", ".gitattributes"]});
    let prepared = r.ws.prepare("git_commit", &args).unwrap();
    // The agent cancels once git holds the lock and runs the filter.
    let stop = || started.exists();
    let began = Instant::now();
    let err = r.ws.execute_unless(prepared, Some(&stop)).unwrap_err();
    assert!(
        began.elapsed() < Duration::from_secs(30),
        "the commit ran on after its cancellation ({:?})",
        began.elapsed()
    );
    assert!(err.to_string().contains("cancelled"), "{err}");
    assert!(
        !r.work.join(".git/index.lock").exists(),
        "the stopped git left .git/index.lock behind"
    );
    git(&r.work, &["config", "filter.slow.clean", "cat"]);
    let out = ok(&r.ws, "git_commit", args);
    assert!(out.text.starts_with("committed "), "{}", out.text);
}

/// A git operation stopped before it ends says it was cancelled and stopped, not that git
/// could not start.
#[cfg(unix)]
#[test]
fn a_stopped_git_read_ends_at_once_with_a_clear_error() {
    use std::time::{Duration, Instant};
    let r = repo();
    let prepared = r.ws.prepare("git_status", &json!({})).unwrap();
    let began = Instant::now();
    let err = r.ws.execute_unless(prepared, Some(&|| true)).unwrap_err();
    assert!(began.elapsed() < Duration::from_secs(10));
    assert!(
        matches!(&err, ToolError::Git(text) if text.contains("cancelled") && text.contains("stopped")),
        "{err:?}"
    );
}
