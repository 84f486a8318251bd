//! Aggregation: the running servers' tools offered to agents as one list, each renamed
//! `<server>__<tool>`, and the reverse split of such a name.

use rmcp::model::Tool;
use rmcp::service::{Peer, RoleClient};
use std::time::Duration;

use super::{Status, Upstreams, read};

/// Separator between server and tool in aggregated tool names.
pub const TOOL_SEPARATOR: &str = "__";

/// Longest a `tools/list` waits for upstream servers that are still starting (their first
/// attempt; a server that fails it is listed as down and does not hold the list up).
pub const LIST_WAIT: Duration = Duration::from_secs(30);

impl Upstreams {
    /// Whether a running server lists this tool (None: the server is not running right now).
    pub fn lists_tool(&self, server: &str, tool: &str) -> Option<bool> {
        match read(&self.servers.get(server)?.status) {
            Status::Running { tools, .. } => Some(tools.iter().any(|t| t.name == tool)),
            _ => None,
        }
    }

    /// [`Upstreams::tools`] once no server is still starting (at most [`LIST_WAIT`]): an agent
    /// that connects while the engine starts (a desktop login, an agent launched with the
    /// engine) would otherwise see none of the upstream tools, and agents list tools once.
    pub async fn tools_when_ready(&self) -> Vec<Tool> {
        self.wait_ready(LIST_WAIT).await;
        self.tools()
    }

    /// Every running server's tools, renamed `<server>__<tool>`.
    pub fn tools(&self) -> Vec<Tool> {
        let mut all = Vec::new();
        for upstream in self.servers.values() {
            if let Status::Running { tools, .. } = read(&upstream.status) {
                for tool in tools.iter() {
                    let mut tool = tool.clone();
                    tool.name = format!("{}{TOOL_SEPARATOR}{}", upstream.name, tool.name).into();
                    all.push(tool);
                }
            }
        }
        all
    }

    /// Running peers with their server names (for resources/prompts aggregation).
    pub fn running(&self) -> Vec<(String, Peer<RoleClient>)> {
        self.servers
            .values()
            .filter_map(|u| match read(&u.status) {
                Status::Running { peer, .. } => Some((u.name.clone(), peer)),
                _ => None,
            })
            .collect()
    }
}

/// Splits an aggregated tool name `<server>__<tool>` at the first separator. Server names cannot
/// contain `__`, so the split is unambiguous.
pub fn split_tool_name(name: &str) -> Option<(&str, &str)> {
    let (server, tool) = name.split_once(TOOL_SEPARATOR)?;
    (!server.is_empty() && !tool.is_empty()).then_some((server, tool))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_names() {
        assert_eq!(split_tool_name("fs__read_file"), Some(("fs", "read_file")));
        assert_eq!(split_tool_name("fs__a__b"), Some(("fs", "a__b")));
        assert_eq!(split_tool_name("fs_read"), None);
        assert_eq!(split_tool_name("__x"), None);
        assert_eq!(split_tool_name("x__"), None);
    }
}
