//! One evidence session per agent session: the agent's MCP calls (through `cordon mcp`) and its
//! native-tool calls (through `cordon hook`) are recorded under the same session id.
//!
//! - Claude Code tells every stdio MCP server its session id (`CLAUDE_CODE_SESSION_ID`), the
//!   same `session_id` its hooks report: `cordon mcp` opens its gateway session under it.
//! - Codex and the Gemini CLI tell their MCP servers nothing. Both start `cordon mcp` and
//!   `cordon hook` as children (a hook possibly through a shell) of the same agent process, so
//!   `cordon mcp` leaves a marker named after its parent (the agent) in a private directory
//!   beside the control socket: `<pid>` holding the agent's name, the process's start time and
//!   the gateway session id. `cordon hook` looks for a marker of its closest ancestors and, when
//!   one names the same agent and the same process start (a reused pid does not match), reports
//!   its calls in that session.
//!
//! A marker only ever chooses which session a record is filed under; it grants nothing (session
//! approvals stay per session, and the agent, running as the same user, could name any session
//! in its hook payload anyway). Process start times come from `/proc` on Linux; elsewhere only
//! the direct parent is considered and without a start time.

use std::path::{Path, PathBuf};

/// How many ancestors of `cordon hook` are searched (the agent, or a shell it ran the hook in,
/// and one more for wrappers).
const MAX_ANCESTORS: usize = 4;

/// The session `cordon mcp --agent AGENT` opens: the agent's own id when it gives one,
/// otherwise a fresh id recorded in a marker for the agent's hooks (None: let the engine choose).
pub fn for_bridge(agent: &str, socket: &Path) -> Option<String> {
    if agent == "claude-code" {
        return std::env::var("CLAUDE_CODE_SESSION_ID")
            .ok()
            .filter(|id| crate::server::is_agent_session_id(id));
    }
    let parent = parent_pid()?;
    let id = crate::server::new_session_id();
    let dir = markers(socket)?;
    if std::fs::create_dir_all(&dir).is_err() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
    }
    prune(&dir);
    let start = start_time(parent).unwrap_or_default();
    let body = format!("{agent} {start} {id}\n");
    // Replaced atomically (the one implementation): a hook never reads half a marker.
    let marker = dir.join(parent.to_string());
    cordon_atomic::write(
        &marker,
        body.as_bytes(),
        cordon_atomic::Permissions::Exactly(0o600),
    )
    .ok()?;
    Some(id)
}

/// The gateway session of the `cordon mcp` that the same agent process started, if any.
pub fn for_hook(agent: &str, socket: &Path) -> Option<String> {
    let dir = markers(socket)?;
    for pid in ancestors() {
        let Ok(text) = std::fs::read_to_string(dir.join(pid.to_string())) else {
            continue;
        };
        let mut fields = text.split_whitespace();
        let (Some(name), Some(start), Some(id)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let same_start = start_time(pid).unwrap_or_default() == start;
        if name == agent && same_start && crate::server::is_agent_session_id(id) {
            return Some(id.to_owned());
        }
    }
    None
}

fn markers(socket: &Path) -> Option<PathBuf> {
    socket.parent().map(|dir| dir.join("agent-sessions"))
}

#[cfg(unix)]
fn parent_pid() -> Option<u32> {
    Some(std::os::unix::process::parent_id()).filter(|p| *p > 1)
}

#[cfg(not(unix))]
fn parent_pid() -> Option<u32> {
    None
}

/// The parent, grandparent... of this process (Linux: up to [`MAX_ANCESTORS`]; elsewhere the
/// parent only).
fn ancestors() -> Vec<u32> {
    let mut out = Vec::new();
    let mut pid = parent_pid();
    while let Some(p) = pid {
        out.push(p);
        if out.len() >= MAX_ANCESTORS {
            break;
        }
        pid = stat_field(p, 1)
            .and_then(|s| s.parse().ok())
            .filter(|p| *p > 1);
    }
    out
}

/// A process's start time (clock ticks since boot) on Linux; "" elsewhere.
fn start_time(pid: u32) -> Option<String> {
    if cfg!(target_os = "linux") {
        stat_field(pid, 19)
    } else {
        Some(String::new())
    }
}

/// Field `n` (0-based, counted after the `(comm)` field: 0 = state, 1 = ppid, 19 = starttime)
/// of `/proc/<pid>/stat`.
fn stat_field(pid: u32, n: usize) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    rest.split_whitespace().nth(n).map(str::to_owned)
}

/// Removes the markers of processes that are gone (Linux; elsewhere they are overwritten when
/// the pid comes back and ignored until then).
fn prune(dir: &Path) {
    if !cfg!(target_os = "linux") {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_left_by_the_bridge_is_found_by_a_sibling_hook() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("cordon.sock");
        let id = for_bridge("codex", &socket).unwrap();
        assert!(id.starts_with("sess_"), "{id}");
        // This test process plays both children of the same parent.
        assert_eq!(for_hook("codex", &socket), Some(id.clone()));
        // Another agent's hook does not join it.
        assert_eq!(for_hook("gemini", &socket), None);
        // A marker whose process start does not match (a reused pid) is ignored.
        let parent = parent_pid().unwrap();
        let marker = markers(&socket).unwrap().join(parent.to_string());
        std::fs::write(&marker, format!("codex 1 {id}\n")).unwrap();
        if cfg!(target_os = "linux") {
            assert_eq!(for_hook("codex", &socket), None);
        }
    }
}
