//! Classification of tool calls into Cordon's topic taxonomy.
//!
//! The classifier is the pure core's first stage: a [`ToolCall`] (server, tool, JSON arguments,
//! agent) becomes a [`Classification`] (topic, risk tags, normalised paths, parsed commands).
//! It never fails: input it cannot understand is classified as `exec.shell` with the `exec` tag,
//! never as a read, and the reason goes into [`Classification::diagnostics`].

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// Every topic starts with this prefix (the seed's `job.mcp-bridge.` namespace).
pub const TOPIC_PREFIX: &str = "job.mcp-bridge.";

/// One tool call as the classifier sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The agent that made the call (e.g. `claude-code`); empty when unknown.
    #[serde(default)]
    pub agent: String,
    /// The upstream server name from the config (e.g. `filesystem`), `cordon` for built-in tools,
    /// empty when unknown.
    #[serde(default)]
    pub server: String,
    /// The tool name as the upstream server names it (without any `server__` prefix).
    pub tool: String,
    /// The call's arguments (a JSON object, or `null`).
    #[serde(default)]
    pub args: serde_json::Value,
}

/// One piece of a call: a whole call for file tools, one simple command for shell tools.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// Full topic, e.g. `job.mcp-bridge.read.file`.
    pub topic: String,
    /// Risk tags of this part alone.
    pub risk_tags: BTreeSet<String>,
    /// Normalised path arguments this part touches.
    pub paths: Vec<String>,
    /// The parsed simple command (argv after unwrapping `sudo`, `env X=1`, ...), for shell parts.
    pub command: Option<Vec<String>>,
}

/// What a call is, for policy purposes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    /// The strictest topic among the parts: what the evidence records as `action`.
    pub topic: String,
    /// Union of every part's risk tags.
    pub risk_tags: BTreeSet<String>,
    /// A short human-readable target (a path, `origin/main`, a command line) for evidence and UI.
    pub target: Option<String>,
    /// The parts; a compound shell command has one per simple command. Never empty.
    pub parts: Vec<Part>,
    /// Why classification fell back to a conservative answer, if it did.
    pub diagnostics: Vec<String>,
}
