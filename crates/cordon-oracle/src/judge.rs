//! Judging a command the way the gateway judges Cordon's built-in `run_command` tool: the
//! policy's classifier with a file-system resolver rooted in the workspace (and the workspace
//! user's HOME), then the policy's decision (`cordon-gateway`'s `Pipeline::judge`). The gateway
//! may refuse more afterwards (exfiltration checks, blast radius, limits), never allow more, so
//! this is the most the gateway would let through.

use std::path::{Path, PathBuf};

use cordon_classify::{FsResolver, TOPIC_PREFIX};
use cordon_policy::{Decision, Policy, ToolCall, Verdict};

use crate::OracleError;

/// The server name of Cordon's built-in tools (`cordon-gateway`'s `BUILTIN_SERVER`).
pub const BUILTIN_SERVER: &str = "cordon";

/// How one command was judged.
#[derive(Debug, Clone)]
pub struct Judgement {
    /// The call's topic, e.g. `job.mcp-bridge.read.file`.
    pub topic: String,
    /// The policy's decision.
    pub decision: Decision,
    /// The rule that decided, if any.
    pub rule: Option<String>,
    /// Every part's program (its argv's first word), for reports.
    pub programs: Vec<String>,
    /// The basenames of every non-option word of every part's argv: a wrapper's program
    /// (`timeout 5 fold`), `find -exec`'s. Starting one of these is the command's own doing.
    pub own_words: Vec<String>,
    /// The classifier's diagnostics.
    pub diagnostics: Vec<String>,
}

impl Judgement {
    /// Whether the classifier called the command a read (topic `read.*`).
    pub fn is_read_topic(&self) -> bool {
        self.topic
            .strip_prefix(TOPIC_PREFIX)
            .is_some_and(|t| t.starts_with("read."))
    }

    /// Whether the oracle must run it: a read topic the policy does not refuse (a refused
    /// call never runs, whatever it would do).
    pub fn must_run(&self) -> bool {
        self.is_read_topic() && self.decision != Decision::Deny
    }

    /// Short form for reports: `read.file allow (allow-reads)`.
    pub fn summary(&self) -> String {
        let topic = self.topic.strip_prefix(TOPIC_PREFIX).unwrap_or(&self.topic);
        match &self.rule {
            Some(r) => format!("{topic} {} ({r})", self.decision),
            None => format!("{topic} {} (default)", self.decision),
        }
    }
}

/// Judges commands with one policy, for one workspace directory and HOME.
pub struct Judge {
    policy: Policy,
    workspace: PathBuf,
    home: PathBuf,
}

impl Judge {
    /// A judge with the policy at `policy` (a file or directory).
    pub fn load(policy: &Path, workspace: &Path, home: &Path) -> Result<Judge, OracleError> {
        let policy = Policy::load(policy).map_err(|e| OracleError::Policy(e.to_string()))?;
        Ok(Judge::new(policy, workspace, home))
    }

    /// A judge with an already loaded policy.
    pub fn new(policy: Policy, workspace: &Path, home: &Path) -> Judge {
        Judge {
            policy,
            workspace: workspace.to_path_buf(),
            home: home.to_path_buf(),
        }
    }

    /// The policy's version label.
    pub fn policy_version(&self) -> &str {
        self.policy.version()
    }

    /// Judges `run_command {command}` as the gateway would.
    pub fn judge(&self, command: &str) -> Judgement {
        let call = ToolCall {
            agent: "oracle".to_owned(),
            server: BUILTIN_SERVER.to_owned(),
            tool: "run_command".to_owned(),
            args: serde_json::json!({ "command": command }),
        };
        let resolver = FsResolver::new(self.workspace.clone()).with_home(self.home.clone());
        let classification = self.policy.classifier().classify_with(&call, &resolver);
        let verdict: Verdict = self.policy.evaluate_classified(&call, classification);
        let programs = verdict
            .classification
            .parts
            .iter()
            .filter_map(|p| p.command.as_ref().and_then(|argv| argv.first()))
            .map(|p| basename(p).to_owned())
            .collect();
        let own_words = verdict
            .classification
            .parts
            .iter()
            .filter_map(|p| p.command.as_ref())
            .flatten()
            .filter(|w| !w.starts_with('-'))
            .map(|w| basename(w).to_owned())
            .collect();
        Judgement {
            topic: verdict.classification.topic.clone(),
            decision: verdict.decision,
            rule: verdict.rule_id.clone(),
            programs,
            own_words,
            diagnostics: verdict.classification.diagnostics.clone(),
        }
    }
}

/// The last path component of a program name.
pub fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}
