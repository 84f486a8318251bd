//! Cordon's own workspace tools (the `cordon-tools` crate), listed as the server `cordon` beside
//! the upstream servers (`cordon__file_read`, ...) and governed by the same pipeline.
//!
//! Fail closed: with no workspace roots configured (or a root that does not exist) the tools are
//! still listed, so the agent learns why, but every call is refused with that reason.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use cordon_tools::Workspace;
use rmcp::model::Tool;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::{BUILTIN_SERVER, WorkspaceSpec};
use crate::upstream::TOOL_SEPARATOR;

/// Built-in calls one agent may have running at once, on every transport together, held calls
/// included. A call counts until nothing of it runs, not until its agent stops waiting: a
/// cancelled call's file work cannot be interrupted (a command or git operation is stopped,
/// within a grace period, see `Workspace::execute_unless`), and otherwise an agent that cancels each call as it sends it
/// would have the engine run them all (600 ten-minute commands filled the engine's blocking pool
/// and every agent's built-in calls waited behind them).
pub const MAX_RUNNING_PER_AGENT: usize = 32;

/// The rule a built-in call refused for [`MAX_RUNNING_PER_AGENT`] cites.
pub const RUNNING_LIMIT_RULE: &str = "cordon:builtin-limit";

/// The built-in tools as this engine serves them.
pub struct Builtin {
    listed: bool,
    workspace: Result<Workspace, String>,
    /// Name shown to agents (after `cordon__`) → the tool's own name.
    by_shown: BTreeMap<String, &'static str>,
    tools: Vec<Tool>,
    /// Each agent's places for running calls (agents are the config's: a bounded set).
    running: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// The message every built-in call gets when no roots are configured.
pub const NO_ROOTS: &str = "Cordon's built-in tools have no workspace: no workspace roots are \
configured. Add `workspace: {roots: [/path/to/your/project]}` to Cordon's config file and \
restart the engine.";

impl Builtin {
    /// Builds the tools from the config (roots are checked now; a bad root refuses every call).
    pub fn new(spec: &WorkspaceSpec) -> Builtin {
        let workspace = if spec.roots.is_empty() {
            Err(NO_ROOTS.to_owned())
        } else {
            match Workspace::new(spec.roots.clone()) {
                Ok(ws) => {
                    // Commands the agent runs get the upstreams' allowlisted environment, not
                    // the engine's (whose shell may hold tokens).
                    let env = crate::upstream::child_env(&BTreeMap::new())
                        .into_iter()
                        .map(|(k, v)| (k.into(), v.into()))
                        .collect();
                    let ws = ws.with_env_allowlist(env);
                    Ok(match &spec.identity {
                        Some((name, email)) => ws.with_identity(name.clone(), email.clone()),
                        None => ws,
                    })
                }
                Err(error) => Err(format!(
                    "Cordon's built-in tools are unavailable: the configured workspace is unusable ({error}); fix `workspace.roots` in the config and restart the engine"
                )),
            }
        };
        if let Err(reason) = &workspace {
            tracing::warn!("{reason}");
        }
        let mut by_shown = BTreeMap::new();
        let mut tools = Vec::new();
        for def in cordon_tools::definitions() {
            let Some(own) = cordon_tools::TOOL_NAMES
                .iter()
                .copied()
                .find(|n| *n == def.name)
            else {
                continue;
            };
            let shown = spec
                .rename
                .get(own)
                .cloned()
                .unwrap_or_else(|| own.to_owned());
            // The definition is MCP-shaped JSON (name, title, description, inputSchema,
            // annotations): it converts as is, annotations included.
            let tool = serde_json::to_value(&def)
                .ok()
                .and_then(|v| serde_json::from_value::<Tool>(v).ok());
            let Some(mut tool) = tool else {
                tracing::error!(tool = own, "built-in tool definition does not convert");
                continue;
            };
            tool.name = format!("{BUILTIN_SERVER}{TOOL_SEPARATOR}{shown}").into();
            tools.push(tool);
            by_shown.insert(shown, own);
        }
        Builtin {
            listed: spec.builtin_tools,
            workspace,
            by_shown,
            tools,
            running: Mutex::default(),
        }
    }

    /// No built-in tools at all (tests and embedders that want upstreams only).
    pub fn disabled() -> Builtin {
        Builtin {
            listed: false,
            workspace: Err("Cordon's built-in tools are switched off".to_owned()),
            by_shown: BTreeMap::new(),
            tools: Vec::new(),
            running: Mutex::default(),
        }
    }

    /// A place among `agent`'s running built-in calls, to be held by the task that runs the
    /// call until it ends; `None` when all [`MAX_RUNNING_PER_AGENT`] are taken.
    pub fn running_slot(&self, agent: &str) -> Option<OwnedSemaphorePermit> {
        let places = {
            let mut running = match self.running.lock() {
                Ok(running) => running,
                Err(poisoned) => poisoned.into_inner(),
            };
            running
                .entry(agent.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(MAX_RUNNING_PER_AGENT)))
                .clone()
        };
        places.try_acquire_owned().ok()
    }

    /// Whether the `cordon` server is served.
    pub fn enabled(&self) -> bool {
        self.listed
    }

    /// The tools as agents see them (`cordon__<name>`); empty when switched off.
    pub fn tools(&self) -> Vec<Tool> {
        if self.listed {
            self.tools.clone()
        } else {
            Vec::new()
        }
    }

    /// The tool's own name for the name an agent used (after `cordon__`).
    pub fn resolve(&self, shown: &str) -> Option<&'static str> {
        if !self.listed {
            return None;
        }
        self.by_shown.get(shown).copied()
    }

    /// The workspace, or why there is none (the refusal text).
    pub fn workspace(&self) -> Result<&Workspace, &str> {
        self.workspace.as_ref().map_err(String::as_str)
    }

    /// Where relative paths of built-in calls start (the first root), for classification.
    pub fn first_root(&self) -> Option<PathBuf> {
        self.workspace
            .as_ref()
            .ok()
            .and_then(|ws| ws.roots().first().cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_are_prefixed_renamed_and_annotated() {
        let dir = tempfile::tempdir().unwrap();
        let spec = WorkspaceSpec {
            roots: vec![dir.path().to_path_buf()],
            rename: BTreeMap::from([("file_read".to_owned(), "read".to_owned())]),
            ..WorkspaceSpec::default()
        };
        let builtin = Builtin::new(&spec);
        let names: Vec<String> = builtin.tools().iter().map(|t| t.name.to_string()).collect();
        assert!(names.contains(&"cordon__read".to_owned()), "{names:?}");
        assert!(
            !names.contains(&"cordon__file_read".to_owned()),
            "{names:?}"
        );
        assert!(names.contains(&"cordon__git_push".to_owned()), "{names:?}");
        assert_eq!(names.len(), cordon_tools::TOOL_NAMES.len());
        assert_eq!(builtin.resolve("read"), Some("file_read"));
        assert_eq!(builtin.resolve("file_read"), None);
        let read = builtin
            .tools()
            .into_iter()
            .find(|t| t.name == "cordon__read")
            .unwrap();
        assert_eq!(read.annotations.unwrap().read_only_hint, Some(true));
        let push = builtin
            .tools()
            .into_iter()
            .find(|t| t.name == "cordon__git_push")
            .unwrap();
        assert_eq!(push.annotations.unwrap().read_only_hint, Some(false));
        assert!(builtin.workspace().is_ok());
    }

    #[test]
    fn no_roots_or_a_missing_root_refuse_and_off_lists_nothing() {
        let builtin = Builtin::new(&WorkspaceSpec::default());
        assert!(!builtin.tools().is_empty());
        assert_eq!(builtin.workspace().err(), Some(NO_ROOTS));
        let spec = WorkspaceSpec {
            roots: vec![PathBuf::from("/nonexistent/cordon-root")],
            ..WorkspaceSpec::default()
        };
        let reason = Builtin::new(&spec).workspace().err().unwrap().to_owned();
        assert!(reason.contains("unusable"), "{reason}");
        let off = Builtin::new(&WorkspaceSpec {
            builtin_tools: false,
            ..WorkspaceSpec::default()
        });
        assert!(off.tools().is_empty());
        assert_eq!(off.resolve("file_read"), None);
    }
}
