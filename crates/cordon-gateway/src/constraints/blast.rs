//! The blast radius: a call that writes, moves or removes a path outside the agent's workspace
//! roots ([`super::roots`]), or a shell command whose working directory is outside them, gets
//! the policy's `blast_radius.outside_roots` decision (default deny, rule
//! `blast-radius:outside-roots`).
//!
//! Paths are resolved physically: `..`, symlinks (also symlinked parents of a file about to be
//! created). With no roots known, writes get `blast_radius.unknown_roots` (default
//! require_approval: a human sees every write, rule `blast-radius:unknown-roots`).

use std::path::{Path, PathBuf};

use cordon_classify::within_roots;
use cordon_policy::{Classification, Decision, Policy, ToolCall};

use super::roots::WorkspaceRoots;

/// Rule id of a write (or shell working directory) outside the workspace roots.
pub const OUTSIDE_ROOTS_RULE: &str = "blast-radius:outside-roots";
/// Rule id of a write when no workspace roots are known for the agent.
pub const UNKNOWN_ROOTS_RULE: &str = "blast-radius:unknown-roots";
/// Argument names of a shell tool's working directory (as the classifier reads them).
const CWD_KEYS: &[&str] = &["cwd", "workdir", "working_directory", "directory"];

/// The blast-radius decision for a call, if it needs one: `(decision, rule, reason)`.
/// `base` is where relative paths (and a shell command without `cwd`) run; `fallback`
/// are roots to use when none are configured or announced (native hooks: their cwd).
pub(super) fn blast_radius(
    workspace: &WorkspaceRoots,
    policy: &Policy,
    call: &ToolCall,
    c: &Classification,
    session: &str,
    base: &Path,
    fallback: Option<Vec<PathBuf>>,
) -> Option<(Decision, &'static str, String)> {
    let rules = policy.blast_radius();
    let write_prefix = format!("{}write.", cordon_classify::TOPIC_PREFIX);
    let mut checked: Vec<(String, &'static str)> = Vec::new();
    for part in &c.parts {
        let writes = if !part.writes.is_empty() {
            &part.writes
        } else if part.topic.starts_with(&write_prefix) {
            &part.paths
        } else {
            continue;
        };
        for p in writes {
            checked.push((p.clone(), "write to"));
        }
    }
    let shell = c.parts.iter().any(|p| p.command.is_some());
    if shell {
        let explicit = CWD_KEYS
            .iter()
            .find_map(|k| call.args.get(*k).and_then(serde_json::Value::as_str));
        let cwd = explicit.map_or_else(|| base.to_string_lossy().into_owned(), str::to_owned);
        checked.push((cwd, "shell working directory"));
        for part in &c.parts {
            if let Some(argv) = &part.command
                && let Some(i) = argv.iter().position(|w| {
                    let name = w.rsplit('/').next().unwrap_or(w);
                    name == "cd" || name == "pushd"
                })
                && let Some(dir) = argv.get(i + 1).filter(|d| !d.starts_with('-'))
            {
                checked.push((dir.clone(), "shell working directory"));
            }
        }
    }
    if checked.is_empty() {
        return None;
    }
    let Some(roots) = workspace.roots_for(&call.agent, session).or(fallback) else {
        if rules.unknown_roots == Decision::Allow {
            return None;
        }
        return Some((
            rules.unknown_roots,
            UNKNOWN_ROOTS_RULE,
            format!(
                "no workspace roots are known for agent `{}`, so this change cannot be confined (set `agents.{}.roots` or `workspace.roots` in the config)",
                call.agent, call.agent
            ),
        ));
    };
    if rules.outside_roots == Decision::Allow {
        return None;
    }
    for (path, what) in checked {
        // `~` is the user's home, never a root's child unless the root says so.
        let path = match (path.strip_prefix("~/"), dirs::home_dir()) {
            (Some(rest), Some(home)) => home.join(rest).to_string_lossy().into_owned(),
            _ => path,
        };
        if !within_roots(base, &path, &roots) {
            let shown: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
            return Some((
                rules.outside_roots,
                OUTSIDE_ROOTS_RULE,
                format!(
                    "{what} `{path}` is outside the workspace roots of agent `{}` ({})",
                    call.agent,
                    shown.join(", ")
                ),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::constraints::Constraints;
    use crate::constraints::testing::{call, policy};
    use std::collections::BTreeMap;

    fn blast(c: &Constraints, p: &Policy, call: &ToolCall, base: &Path) -> Option<String> {
        let cls = p.classifier().classify(call);
        blast_radius(&c.roots, p, call, &cls, "sess", base, None)
            .map(|(d, rule, reason)| format!("{d} {rule} {reason}"))
    }
    #[test]
    fn blast_radius_covers_writes_moves_and_shell_working_directories() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().canonicalize().unwrap();
        let mut agents = BTreeMap::new();
        agents.insert("a".to_owned(), vec![ws.clone()]);
        let c = Constraints::new(None, agents, Vec::new());
        let p = policy("");
        let w = |path: &str| {
            call(
                "a",
                "write_file",
                serde_json::json!({"path": path, "content": "x"}),
            )
        };
        assert_eq!(blast(&c, &p, &w("src/new.rs"), &ws), None);
        let out = blast(&c, &p, &w("../x"), &ws).unwrap();
        assert!(
            out.starts_with("deny blast-radius:outside-roots write to"),
            "{out}"
        );
        assert!(blast(&c, &p, &w("~/x"), &ws).is_some());
        // Reads are never confined.
        let read = call("a", "read_file", serde_json::json!({"path": "/etc/hosts"}));
        assert_eq!(blast(&c, &p, &read, &ws), None);
        let sh = |cmd: &str| call("a", "run_command", serde_json::json!({"command": cmd}));
        assert_eq!(blast(&c, &p, &sh("ls && cat a"), &ws), None);
        let out = blast(&c, &p, &sh("cd .. && ls"), &ws).unwrap();
        assert!(out.contains("shell working directory `..`"), "{out}");
        assert!(blast(&c, &p, &sh("rm -rf /tmp/x"), &ws).is_some());
        assert!(
            blast(&c, &p, &sh("ls"), Path::new("/")).is_some(),
            "server cwd outside"
        );
        let mv = call(
            "a",
            "move_file",
            serde_json::json!({"source": "a", "destination": "/tmp/a"}),
        );
        assert!(blast(&c, &p, &mv, &ws).is_some());
        // Unknown roots: require_approval by default, as configured otherwise.
        let out = blast(
            &c,
            &p,
            &call("nobody", "write_file", serde_json::json!({"path": "a"})),
            &ws,
        )
        .unwrap();
        assert!(
            out.starts_with("require_approval blast-radius:unknown-roots"),
            "{out}"
        );
        let lax = policy("blast_radius: {unknown_roots: allow, outside_roots: require_approval}\n");
        assert_eq!(
            blast(
                &c,
                &lax,
                &call("nobody", "write_file", serde_json::json!({"path": "a"})),
                &ws
            ),
            None
        );
        let out = blast(&c, &lax, &w("/etc/x"), &ws).unwrap();
        assert!(out.starts_with("require_approval"), "{out}");
    }
}
