//! Workspace roots: where an agent's workspace is, which the blast radius ([`super::blast`])
//! confines writes to.
//!
//! First found wins: `agents.<name>.roots` in the config; the roots the agent's MCP client
//! announced for its session (`roots/list`, `file://` URIs decoded by
//! [`cordon_classify::file_url_path`]); `workspace.roots`. (Native hooks
//! add their working directory as a fallback: `super::blast`.)

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;

use super::lock;

/// Most sessions whose client roots are remembered at once.
const MAX_CLIENT_ROOT_SESSIONS: usize = 10_000;

/// The roots known from the config and announced by clients.
pub(super) struct WorkspaceRoots {
    agent_roots: BTreeMap<String, Vec<PathBuf>>,
    workspace_roots: Vec<PathBuf>,
    /// Roots announced by MCP clients, by session id.
    client_roots: Mutex<HashMap<String, Vec<PathBuf>>>,
}

impl WorkspaceRoots {
    /// The config's per-agent and workspace roots; no client has announced any yet.
    pub(super) fn new(
        agent_roots: BTreeMap<String, Vec<PathBuf>>,
        workspace_roots: Vec<PathBuf>,
    ) -> WorkspaceRoots {
        WorkspaceRoots {
            agent_roots,
            workspace_roots,
            client_roots: Mutex::new(HashMap::new()),
        }
    }

    /// Stores the roots an MCP client announced for its session (`file://` URIs).
    pub(super) fn set_client_roots(&self, session: &str, uris: &[String]) {
        let roots: Vec<PathBuf> = uris
            .iter()
            .filter_map(|u| cordon_classify::file_url_path(u))
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .collect();
        if roots.is_empty() {
            return;
        }
        let mut map = lock(&self.client_roots);
        // HTTP sessions have no end the engine hears of: bound the map (a session whose roots
        // were dropped falls back to the configured roots, or to "unknown": fail closed).
        if map.len() >= MAX_CLIENT_ROOT_SESSIONS && !map.contains_key(session) {
            map.clear();
        }
        map.insert(session.to_owned(), roots);
    }

    /// Forgets a closed session's client roots.
    pub(super) fn end_session(&self, session: &str) {
        lock(&self.client_roots).remove(session);
    }

    /// The workspace roots of `agent` in `session`: config, then client, then `workspace.roots`.
    pub(super) fn roots_for(&self, agent: &str, session: &str) -> Option<Vec<PathBuf>> {
        if let Some(r) = self.agent_roots.get(agent) {
            return Some(r.clone());
        }
        if let Some(r) = lock(&self.client_roots).get(session) {
            return Some(r.clone());
        }
        (!self.workspace_roots.is_empty()).then(|| self.workspace_roots.clone())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::constraints::Constraints;

    #[test]
    fn roots_come_from_config_then_client_then_workspace() {
        let mut agents = BTreeMap::new();
        agents.insert("a".to_owned(), vec![PathBuf::from("/cfg")]);
        let c = Constraints::new(None, agents, vec![PathBuf::from("/ws")]);
        c.set_client_roots(
            "s1",
            &[
                "file:///client/my%20dir".to_owned(),
                "file://relative".to_owned(),
                "https://example.com/x".to_owned(),
            ],
        );
        assert_eq!(c.roots_for("a", "s1"), Some(vec![PathBuf::from("/cfg")]));
        assert_eq!(
            c.roots_for("b", "s1"),
            Some(vec![PathBuf::from("/client/my dir")])
        );
        assert_eq!(c.roots_for("b", "s2"), Some(vec![PathBuf::from("/ws")]));
        c.end_session("s1");
        assert_eq!(c.roots_for("b", "s1"), Some(vec![PathBuf::from("/ws")]));
        // Announced roots that are not local absolute paths are ignored entirely.
        c.set_client_roots("s3", &["file://relative".to_owned()]);
        assert_eq!(c.roots_for("b", "s3"), Some(vec![PathBuf::from("/ws")]));
        assert_eq!(Constraints::default().roots_for("b", "s"), None);
        // Decoded by the one owner of `file://` URLs: `localhost` is this machine, a query or
        // fragment is not part of the path, another host is not a local root (ignored).
        c.set_client_roots(
            "s4",
            &[
                "file://localhost/srv/ws?x=1#y".to_owned(),
                "file://evil.example/etc".to_owned(),
            ],
        );
        assert_eq!(c.roots_for("b", "s4"), Some(vec![PathBuf::from("/srv/ws")]));
    }
}
