//! Shared test harness: a real git repository with a local bare remote, no mocks.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use cordon_tools::{ToolError, ToolOutput, Workspace};
use serde_json::Value;
use tempfile::TempDir;

pub struct Repo {
    pub tmp: TempDir,
    pub work: PathBuf,
    pub remote: PathBuf,
    pub ws: Workspace,
}

/// Run git for test setup/inspection with a fixed identity and no global/system config;
/// panics with the full context on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Test Setup")
        .env("GIT_AUTHOR_EMAIL", "setup@example.com")
        .env("GIT_COMMITTER_NAME", "Test Setup")
        .env("GIT_COMMITTER_EMAIL", "setup@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} in {} failed:\nstdout: {}\nstderr: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A workspace whose git sees no global or system config (hermetic tests).
pub fn hermetic(ws: Workspace) -> Workspace {
    ws.with_git_env("GIT_CONFIG_NOSYSTEM", "1")
        .with_git_env("GIT_CONFIG_GLOBAL", "/dev/null")
}

/// tmp/work (a git repo with one commit on `main`, pushed) and tmp/remote.git (bare).
pub fn repo() -> Repo {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let remote = tmp.path().join("remote.git");
    std::fs::create_dir(&work).unwrap();
    git(
        tmp.path(),
        &["init", "-q", "--bare", "-b", "main", "remote.git"],
    );
    git(&work, &["init", "-q", "-b", "main"]);
    git(
        &work,
        &["remote", "add", "origin", remote.to_str().unwrap()],
    );
    std::fs::write(work.join("README.md"), "hello\n").unwrap();
    git(&work, &["add", "README.md"]);
    git(&work, &["commit", "-q", "-m", "initial"]);
    git(&work, &["push", "-q", "-u", "origin", "main"]);
    let ws = hermetic(Workspace::new(vec![work.clone()]).unwrap())
        .with_identity("Agent", "agent@example.com");
    Repo {
        tmp,
        work,
        remote,
        ws,
    }
}

/// A plain (non-git) workspace in a tempdir.
pub fn plain() -> (TempDir, Workspace) {
    let tmp = tempfile::tempdir().unwrap();
    let ws = Workspace::new(vec![tmp.path().to_path_buf()]).unwrap();
    (tmp, ws)
}

/// prepare + execute, the way the gateway does after an allow/approve.
pub fn call(ws: &Workspace, tool: &str, args: Value) -> Result<ToolOutput, ToolError> {
    let prepared = ws.prepare(tool, &args)?;
    ws.execute(prepared)
}

pub fn ok(ws: &Workspace, tool: &str, args: Value) -> ToolOutput {
    match call(ws, tool, args.clone()) {
        Ok(out) => out,
        Err(e) => panic!("{tool} {args} failed: {e}"),
    }
}
