//! Tool pinning as the upstreams apply it (rug-pull defence): a server's tool list is redacted,
//! then checked against the pins; a tool whose definition changed since it was approved is
//! withheld from agents and recorded in the evidence (once per new definition). If the pin file
//! cannot be used, every tool of the server is withheld (fail closed).

use std::collections::BTreeMap;
use std::sync::Arc;

use cordon_evidence::{NewRecord, Outcome};
use cordon_secrets::{PinStatus, PinnedTool, ToolPins, definition_diff};
use rmcp::model::Tool;
use serde_json::Value;

use super::{Status, Upstream, UpstreamError, UpstreamEvent, UpstreamOptions, Upstreams, write};
use crate::recorder::Recorder;

/// The rule id of evidence records about changed (withheld) tool definitions.
pub const TOOL_PIN_RULE: &str = "cordon:tool-pin";

/// The evidence topic of those records.
pub const TOOL_PIN_TOPIC: &str = "job.mcp-bridge.tool-pin.changed";

/// What the agent is told when it calls a withheld tool.
pub const WITHHELD_HINT: &str =
    "tool changed since you approved it; review with `cordon tools changes`";

/// Tool pinning as the upstreams apply it.
#[derive(Clone)]
pub struct PinGuard {
    /// The pin file.
    pub pins: Arc<ToolPins>,
    /// Where a changed definition is recorded.
    pub recorder: Recorder,
    /// The policy in force (its version is cited by those records).
    pub policy: crate::pipeline::PolicyCell,
}

impl Upstreams {
    /// Why `server`'s `tool` is withheld (its definition changed since it was approved), if it
    /// is.
    pub fn withheld(&self, server: &str, tool: &str) -> Option<String> {
        let upstream = self.servers.get(server)?;
        let map = match upstream.withheld.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.get(tool).map(|(why, _)| why.clone())
    }

    /// Every withheld tool: (server, tool, why).
    pub fn withheld_tools(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for upstream in self.servers.values() {
            let map = match upstream.withheld.read() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            for (tool, (why, _)) in map.iter() {
                out.push((upstream.name.clone(), tool.clone(), why.clone()));
            }
        }
        out
    }

    /// Re-lists `server`'s tools (after a pin approval): the server's tools are checked
    /// against the pins again and agents hear `tools/list_changed`.
    pub async fn relist(&self, server: &str) -> Result<(), UpstreamError> {
        let upstream = self
            .servers
            .get(server)
            .ok_or_else(|| UpstreamError::UnknownServer(server.to_owned()))?;
        let peer = self.peer(server)?;
        match peer.list_all_tools().await {
            Ok(tools) => {
                let tools = screen(upstream, tools, &self.options).await;
                write(
                    &upstream.status,
                    Status::Running {
                        peer: peer.clone(),
                        tools: Arc::new(tools),
                    },
                );
                let _ = self.events.send(UpstreamEvent::ToolsChanged);
                Ok(())
            }
            Err(error) => Err(UpstreamError::NotRunning {
                name: server.to_owned(),
                state: "restarting",
                reason: self
                    .options
                    .redactor
                    .redact(&format!("tools/list failed: {error}"))
                    .into_owned(),
            }),
        }
    }
}

/// Redacts a server's tool list, then checks it against the pins: trusted tools are returned,
/// changed ones are withheld (one evidence record per newly seen pending definition). If the pin
/// file cannot be used (corrupt, writable by others), every tool of the server is withheld.
pub(super) async fn screen(
    upstream: &Upstream,
    tools: Vec<Tool>,
    options: &UpstreamOptions,
) -> Vec<Tool> {
    let redactor = &options.redactor;
    let tools: Vec<Tool> = tools
        .into_iter()
        .filter_map(
            |tool| match crate::secrets::redact_message(redactor, tool) {
                Ok(tool) => Some(tool),
                Err(error) => {
                    tracing::warn!(server = %upstream.name, "tool withheld: {error}");
                    None
                }
            },
        )
        .collect();
    let Some(guard) = &options.pins else {
        return tools;
    };
    let values: Result<Vec<Value>, _> = tools.iter().map(serde_json::to_value).collect();
    let checked = match values {
        Err(error) => Err(format!("cannot read the tool list: {error}")),
        Ok(values) => {
            let (pins, server) = (guard.pins.clone(), upstream.name.clone());
            match tokio::task::spawn_blocking(move || pins.check_all(&server, &values)).await {
                Ok(Ok(statuses)) => Ok(statuses),
                Ok(Err(error)) => Err(error.to_string()),
                Err(join) => Err(format!("the pin check failed: {join}")),
            }
        }
    };
    let previous = match upstream.withheld.read() {
        Ok(guard) => guard.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    let mut withheld = BTreeMap::new();
    let mut trusted = Vec::new();
    match checked {
        Err(error) => {
            tracing::error!(server = %upstream.name, "every tool withheld: tool pins: {error}");
            for tool in &tools {
                withheld.insert(
                    tool.name.to_string(),
                    (
                        format!("tool pins unusable ({error}); no tool of this server is served"),
                        String::new(),
                    ),
                );
            }
        }
        Ok(statuses) => {
            for (tool, (name, status)) in tools.into_iter().zip(statuses) {
                match status {
                    PinStatus::Changed { old, new } => {
                        let reason = format!(
                            "{WITHHELD_HINT} (server `{}`, tool `{name}`, new definition {})",
                            upstream.name,
                            new.hash.get(..12).unwrap_or(&new.hash)
                        );
                        let seen = previous.get(&name).is_some_and(|(_, h)| *h == new.hash);
                        if !seen {
                            tracing::warn!(server = %upstream.name, tool = %name, "tool definition changed since it was approved: withheld");
                            let record =
                                pin_record(guard, &upstream.name, &name, &reason, &old, &new);
                            if let Err(error) = guard.recorder.record(record).await {
                                tracing::error!("cannot record the withheld tool: {error}");
                            }
                        }
                        withheld.insert(name, (reason, new.hash));
                    }
                    PinStatus::New(_) | PinStatus::Unchanged => trusted.push(tool),
                }
            }
        }
    }
    match upstream.withheld.write() {
        Ok(mut guard) => *guard = withheld,
        Err(poisoned) => *poisoned.into_inner() = withheld,
    }
    trusted
}

fn pin_record(
    guard: &PinGuard,
    server: &str,
    tool: &str,
    reason: &str,
    old: &PinnedTool,
    new: &PinnedTool,
) -> NewRecord {
    NewRecord {
        agent: "cordon".to_owned(),
        session_id: "tool-pins".to_owned(),
        server: server.to_owned(),
        tool: tool.to_owned(),
        action: TOOL_PIN_TOPIC.to_owned(),
        target: Some(format!("{server}/{tool}")),
        risk_tags: Vec::new(),
        decision: "deny".to_owned(),
        rule_id: Some(TOOL_PIN_RULE.to_owned()),
        reason: reason.to_owned(),
        policy_version: guard.policy.get().version().to_owned(),
        reviewer: None,
        approval_channel: None,
        outcome: Outcome::Denied,
        args: serde_json::json!({"approved_hash": old.hash, "new_hash": new.hash}),
        diff: Some(definition_diff(old, new)),
        duration_ms: 0,
        error: None,
        phase: None,
        intent_id: None,
    }
}
