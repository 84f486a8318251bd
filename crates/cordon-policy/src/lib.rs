//! Cordon's policy-as-code language: parsing with locations, evaluation, policy tests.
//!
//! A policy is one YAML file, or a directory whose `*.yaml`/`*.yml` files (in name order) form
//! one policy. Loading goes text → node tree with positions (with size, depth and alias-expansion
//! limits) → typed model → compiled [`Policy`] (topic patterns, globs and regexes compiled
//! once). Every problem becomes a [`Diagnostic`] with file, line and column;
//! one load reports as many as it can find. The crate does no I/O except [`Policy::load`].
//!
//! # Evaluation
//!
//! A call is classified ([`cordon_classify`]) into a [`Classification`] with one or more parts
//! (a compound shell command has one part per simple command). The policy is evaluated against
//! every part (its topic, tags, paths and command) and against the whole call (primary topic,
//! union of tags, all paths, all commands). In each evaluation every matching rule counts and the
//! strictest decision wins (`deny` > `require_approval` > `allow`; ties go to the first rule in
//! policy order); an evaluation where no rule matches gets `default_decision`. The call's decision
//! is the strictest over all evaluations, so `ls && rm -rf x` is not allowed just because `ls`
//! matched an allow rule.
//!
//! `default_decision` is optional; when absent it is `require_approval` (fail closed: an
//! unforeseen call waits for a human rather than passing).
//!
//! `paths` and `commands` conditions are read the fail-closed way: a `deny` or
//! `require_approval` rule matches when ANY path (command) of the evaluated unit matches; an
//! `allow` rule matches only when the unit has at least one path (command) and EVERY one matches.
//!
//! ```
//! use cordon_policy::{Decision, Policy, Source, ToolCall};
//!
//! let text = r#"
//! version: v1
//! rules:
//!   - id: allow-reads
//!     match: {topics: ["job.mcp-bridge.read.*"]}
//!     decision: allow
//!     reason: reads are safe
//!   - id: deny-secrets
//!     match: {topics: ["job.mcp-bridge.read.env", "job.mcp-bridge.read.secrets"]}
//!     decision: deny
//!     reason: no secrets
//! "#;
//! let policy = Policy::from_sources(&[Source { name: "p.yaml".into(), text: text.into() }])?;
//! let call = ToolCall {
//!     agent: "claude-code".into(),
//!     server: "shell".into(),
//!     tool: "run_command".into(),
//!     args: serde_json::json!({"command": "bash -c 'cat ./.env'"}),
//! };
//! let verdict = policy.evaluate(&call);
//! assert_eq!(verdict.decision, Decision::Deny);
//! assert_eq!(verdict.rule_id.as_deref(), Some("deny-secrets"));
//! assert!(verdict.policy_version.starts_with("v1+"));
//! # Ok::<(), cordon_policy::PolicyError>(())
//! ```

mod classify;
mod diag;
mod duration;
mod eval;
mod layer;
mod limits;
mod load;
mod yaml;

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use crate::classify::{Classification, Classifier, CordonPaths, ToolCall};
pub use crate::diag::{Diagnostic, DiagnosticKind, PolicyError, Severity};
pub use crate::duration::{DurationBounds, DurationError, human_duration, parse_duration};
pub use crate::eval::{TestFailure, TestReport};
pub use crate::limits::{
    BlastRadius, Breach, Cost, LIMIT_RULE_PREFIX, Limit, LimitAction, LimitKind, LimitScope,
    PolicyPause, RATE_WINDOW, Usage, cost_of,
};
pub use crate::yaml::{MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES};
pub use cordon_classify::{PatternError, TopicPattern};

use crate::diag::{Pos, Sink};
use crate::eval::{CompiledRule, PolicyTest};

/// What happens to a call. Ordered by strictness so `max` picks the strictest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The call goes through.
    Allow,
    /// The call waits for a human.
    RequireApproval,
    /// The call is refused.
    Deny,
}

impl Decision {
    /// The spelling used in policy files, evidence and JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::RequireApproval => "require_approval",
            Decision::Deny => "deny",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One policy file: its display path and its contents (what the version hash covers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// Display path, used in diagnostics; its basename enters the version hash.
    pub name: String,
    /// The file's text.
    pub text: String,
}

/// The policy's judgement of one call: what the evidence records.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// What the classifier made of the call.
    pub classification: Classification,
    /// The decision.
    pub decision: Decision,
    /// The rule that won, or None when no rule matched and the default applied.
    pub rule_id: Option<String>,
    /// Why: the winning rule's reason, or a note that the default applied.
    pub reason: String,
    /// `<version label>+<12 hex of the content hash>`.
    pub policy_version: String,
}

/// A loaded, validated, compiled policy: immutable and cheap to evaluate from many threads.
#[derive(Debug, Clone)]
pub struct Policy {
    version: String,
    sources: Vec<Source>,
    default_decision: Decision,
    rules: Vec<CompiledRule>,
    tests: Vec<PolicyTest>,
    classifier: Classifier,
    warnings: Vec<Diagnostic>,
    limits: Vec<limits::Limit>,
    blast_radius: limits::BlastRadius,
    pause: limits::PolicyPause,
    /// Whether the sources set `default_decision` themselves.
    default_explicit: bool,
    /// Classification keys the sources use (refused in a layered local policy).
    classifying: Vec<(String, Pos, &'static str)>,
    /// A local policy layered on top (see [`Policy::layered`]): evaluated separately, the
    /// stricter decision wins.
    overlay: Option<std::sync::Arc<layer::Overlay>>,
}

/// The shipped default policy's text, embedded at build time.
const SHIPPED_DEFAULT: &str = include_str!("../../../policies/default.yaml");

impl Policy {
    /// Loads a policy file, or a directory whose `*.yaml`/`*.yml` files (non-recursive, in name
    /// order, hidden files skipped) form one policy. An empty directory is an error.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let display = path.display().to_string();
        let io_error = |message: String, help: Option<String>| PolicyError {
            diagnostics: vec![Diagnostic {
                file: display.clone(),
                line: 1,
                column: 1,
                severity: Severity::Error,
                kind: DiagnosticKind::Io,
                message,
                help,
            }],
        };
        let metadata = std::fs::metadata(path)
            .map_err(|e| io_error(format!("cannot read policy: {e}"), None))?;
        let files = if metadata.is_dir() {
            let entries = std::fs::read_dir(path)
                .map_err(|e| io_error(format!("cannot read policy directory: {e}"), None))?;
            let mut files = Vec::new();
            for entry in entries {
                let entry = entry
                    .map_err(|e| io_error(format!("cannot read policy directory: {e}"), None))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let is_yaml = name.ends_with(".yaml") || name.ends_with(".yml");
                if !is_yaml || name.starts_with('.') {
                    continue;
                }
                if entry.path().is_dir() {
                    continue;
                }
                files.push((name, entry.path()));
            }
            if files.is_empty() {
                return Err(io_error(
                    "no policy files (*.yaml, *.yml) in directory".into(),
                    Some("add a policy file, e.g. a copy of policies/default.yaml".into()),
                ));
            }
            files.sort_by(|a, b| a.0.cmp(&b.0));
            files.into_iter().map(|(_, p)| p).collect()
        } else {
            vec![path.to_path_buf()]
        };
        let mut sources = Vec::with_capacity(files.len());
        let mut sink = Sink::default();
        for file in files {
            let name = file.display().to_string();
            match read_source(&file) {
                Ok(text) => sources.push(Source { name, text }),
                Err((pos, kind, message, help)) => {
                    sink.push(&name, pos, Severity::Error, kind, message, help);
                }
            }
        }
        if sink.has_errors() {
            // Still check the readable files so one run reports everything.
            if sources.is_empty() {
                return Err(PolicyError {
                    diagnostics: sink.diagnostics,
                });
            }
            if let Err(mut more) = load::load(&sources) {
                sink.diagnostics.append(&mut more);
            }
            return Err(PolicyError {
                diagnostics: sink.diagnostics,
            });
        }
        Policy::from_sources(&sources)
    }

    /// Builds a policy from in-memory sources (pure: no I/O). Sources form one policy in the
    /// order given.
    pub fn from_sources(sources: &[Source]) -> Result<Policy, PolicyError> {
        let loaded = load::load(sources).map_err(|diagnostics| PolicyError { diagnostics })?;
        let version = format!("{}+{}", loaded.version_label, content_hash(sources));
        Ok(Policy {
            version,
            sources: sources.to_vec(),
            default_decision: loaded.default_decision,
            rules: loaded.rules,
            tests: loaded.tests,
            classifier: loaded.classifier,
            warnings: loaded.warnings,
            limits: loaded.limits,
            blast_radius: loaded.blast_radius,
            pause: loaded.pause,
            default_explicit: loaded.default_explicit,
            classifying: loaded.classifying,
            overlay: None,
        })
    }

    /// The policy shipped with Cordon (`policies/default.yaml`), used when the user has none.
    #[allow(clippy::expect_used)] // The embedded file is proven to load by a unit test.
    pub fn shipped_default() -> Policy {
        Policy::from_sources(&[Source {
            name: "default.yaml".into(),
            text: SHIPPED_DEFAULT.into(),
        }])
        .expect("the shipped default policy loads (checked by tests)")
    }

    /// `<version label>+<first 12 hex of sha256 over the sources>`: two different policies
    /// never share a version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The sources the policy was built from, in order.
    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    /// The classifier configured with the policy's own `classifiers`.
    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    /// Warnings found while loading (they never block loading).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// The decision when no rule matches.
    pub fn default_decision(&self) -> Decision {
        self.default_decision
    }

    /// Number of rules across all sources.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Rule ids in policy order.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.id.as_str())
    }

    /// The runtime limits (`limits:`), in policy order.
    pub fn limits(&self) -> &[limits::Limit] {
        &self.limits
    }

    /// The limits that count `call`.
    pub fn limits_for<'a>(
        &'a self,
        call: &'a ToolCall,
        classification: &'a Classification,
    ) -> impl Iterator<Item = &'a limits::Limit> + 'a {
        self.limits
            .iter()
            .filter(move |l| l.applies(call, classification))
    }

    /// The shortest `upstream_timeout` of the limits that count `call`, if any sets one.
    pub fn upstream_timeout(
        &self,
        call: &ToolCall,
        classification: &Classification,
    ) -> Option<std::time::Duration> {
        self.limits_for(call, classification)
            .filter_map(|l| l.upstream_timeout)
            .min()
    }

    /// What happens to writes outside the workspace roots (`blast_radius:`).
    pub fn blast_radius(&self) -> limits::BlastRadius {
        self.blast_radius
    }

    /// The same policy, protecting Cordon's configured paths too (the gateway fills them from its
    /// config: evidence database, policy, signing key file, pins, socket).
    pub fn with_cordon_paths(mut self, paths: CordonPaths) -> Policy {
        self.classifier = self.classifier.with_cordon_paths(paths);
        self
    }

    /// The policy file's kill switch (`paused`, `paused_agents`).
    pub fn pause(&self) -> &limits::PolicyPause {
        &self.pause
    }

    /// Number of tests across all sources.
    pub fn test_count(&self) -> usize {
        self.tests.len()
    }

    /// Classifies a call and judges it.
    pub fn evaluate(&self, call: &ToolCall) -> Verdict {
        let classification = self.classifier.classify(call);
        self.judge(call, classification)
    }

    /// Judges an already classified call (for callers that classify themselves, e.g. with a
    /// symlink resolver).
    pub fn judge(&self, call: &ToolCall, classification: Classification) -> Verdict {
        let outcome = eval::judge(&self.rules, self.default_decision, call, &classification);
        let rule = outcome.rule.and_then(|i| self.rules.get(i));
        let (rule_id, reason) = match rule {
            Some(r) => (Some(r.id.clone()), r.reason.clone()),
            None => (
                None,
                format!("no rule matched; default decision {}", outcome.decision),
            ),
        };
        // A rule index that does not resolve cannot happen; if it did, refuse rather than pass.
        let decision = if outcome.rule.is_some() && rule.is_none() {
            Decision::Deny
        } else {
            outcome.decision
        };
        let (decision, rule_id, reason) = match &self.overlay {
            Some(overlay) => overlay.stricter(call, &classification, (decision, rule_id, reason)),
            None => (decision, rule_id, reason),
        };
        Verdict {
            classification,
            decision,
            rule_id,
            reason,
            policy_version: self.version.clone(),
        }
    }

    /// Runs every test of every source against the whole policy.
    pub fn run_tests(&self) -> TestReport {
        let mut report = TestReport::default();
        for test in &self.tests {
            let verdict = self.evaluate(&test.call);
            let ok = verdict.decision == test.expect
                && test
                    .rule
                    .as_ref()
                    .is_none_or(|r| verdict.rule_id.as_ref() == Some(r));
            if ok {
                report.passed += 1;
            } else {
                report.failed += 1;
                report.failures.push(TestFailure {
                    file: test.file.clone(),
                    line: test.line,
                    column: test.column,
                    name: test.name.clone(),
                    call: test.call.clone(),
                    expected: test.expect,
                    expected_rule: test.rule.clone(),
                    actual: verdict.decision,
                    actual_rule: verdict.rule_id,
                    topic: verdict.classification.topic,
                    reason: verdict.reason,
                });
            }
        }
        report
    }
}

type ReadError = (Pos, DiagnosticKind, String, Option<String>);

/// Reads one policy file with the size limit, reporting non-UTF-8 at its position.
fn read_source(path: &Path) -> Result<String, ReadError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| {
        (
            Pos::START,
            DiagnosticKind::Io,
            format!("cannot read: {e}"),
            None,
        )
    })?;
    let mut bytes = Vec::new();
    let limit = u64::try_from(MAX_FILE_BYTES)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    file.take(limit).read_to_end(&mut bytes).map_err(|e| {
        (
            Pos::START,
            DiagnosticKind::Io,
            format!("cannot read: {e}"),
            None,
        )
    })?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err((
            Pos::START,
            DiagnosticKind::Limit,
            format!("policy file is larger than the limit of {MAX_FILE_BYTES} bytes"),
            Some("split the policy into several files in one directory".into()),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let prefix = e.as_bytes().get(..valid).unwrap_or_default();
        let prefix = String::from_utf8_lossy(prefix);
        let line = prefix.matches('\n').count() + 1;
        let column = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (
            Pos { line, column },
            DiagnosticKind::Syntax,
            "policy file is not valid UTF-8".into(),
            Some("save the file as UTF-8".into()),
        )
    })
}

/// First 12 hex digits of sha256 over each source's basename and text (length-prefixed, so
/// moving bytes between name and text changes the hash).
fn content_hash(sources: &[Source]) -> String {
    let mut hasher = Sha256::new();
    for source in sources {
        let base = source
            .name
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or(&source.name);
        for field in [base.as_bytes(), source.text.as_bytes()] {
            hasher.update(u64::try_from(field.len()).unwrap_or(u64::MAX).to_be_bytes());
            hasher.update(field);
        }
    }
    let digest = hex::encode(hasher.finalize());
    digest.get(..12).unwrap_or(&digest).to_owned()
}

#[cfg(test)]
mod tests;
