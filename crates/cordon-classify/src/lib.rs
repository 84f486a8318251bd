//! Classification of tool calls into Cordon's topic taxonomy.
//!
//! The classifier is the pure core's first stage: a [`ToolCall`] (server, tool, JSON arguments,
//! agent) becomes a [`Classification`] (topic, risk tags, normalised paths, parsed commands).
//! It never fails: input it cannot understand is classified as `exec.shell` with the `exec` tag,
//! never as a read, and the reason goes into [`Classification::diagnostics`].
//!
//! Pipeline: user [`CustomMapping`]s first (they decide alone); otherwise the built-in tool
//! mappings (`builtin`), which hand shell commands to the shell parser and command tables
//! (`shell`); then every part's paths go through secret detection ([`secret_kind`], with globs
//! and brace expansion) on the literal and the [`PathResolver`]-resolved path. A part that reads
//! a secret becomes `read.env`/`read.secrets`; one that writes a secret keeps its topic and
//! gains `credentials`; one that reads a path only known at run time (`cat $F`) is at least
//! `exec.shell`. The call's topic is the strictest part's ([`topic_severity`]), its tags the
//! union.
//!
//! Severity, lowest first: `read.file` = `read.dir` = `read.search` (10) < `read.git` <
//! `read.web` < `net.fetch` < `write.mkdir` < `write.file` < `write.move` < `git.commit` <
//! `deps.add` < `exec.shell` = `tool.*` = any other topic (65) < `git.push` < `write.remove` <
//! `git.history-rewrite` < `git.force-push` < `db.drop` < `cloud.delete` < `k8s.delete` <
//! `infra.destroy` < `read.env` < `read.secrets`.
//!
//! Reads are proven, not presumed (issue 14): a reading program is a read only when every option
//! is on its positive list (`shell::readonly`, `shell::gitread`); an option that writes makes it a
//! write of the named path, any other unlisted option `exec.shell`, each with a diagnostic naming
//! the option. Writes into places that run code later carry `persistence` (and
//! `persistence-silent`), paths of Cordon's own state make a part `cordon.state`, commands that
//! drive Cordon are `cordon.control` ([`guard`]). Command-like arguments of any tool are
//! classified as commands too (strictest wins).
//!
//! Decisions worth knowing: dotenv templates (`.env.example`...) are not secrets, and a name is
//! not its contents (`ls .env`, `git log -- .env`); harmless
//! builtins (`echo`, `true`, `export X=1`, `cd`) are `read.file`/`read.dir` without paths so they
//! never raise a compound command; a read tool whose path argument has the wrong JSON type
//! becomes `tool.<server>.<tool>` (a `read.*: allow` rule must not wave through a call the
//! server may interpret in unexpected ways), a missing path leaves the read topic without paths.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

mod builtin;
mod custom;
mod draft;
pub mod guard;
mod path;
mod pattern;
pub mod production;
pub mod resolve;
mod shell;
mod topic;

pub use custom::{CustomMapping, MappingError};
pub use guard::{CordonPaths, Persistence, persistence};
pub use path::{SecretKind, normalize_path, secret_kind};
pub use pattern::{PatternError, TopicPattern};
pub use production::{ProductionError, ProductionTargets, Target, TargetKind};
pub use resolve::{FsResolver, NoopResolver, PathResolver, resolve_physical, within_roots};
pub use topic::{KNOWN_RISK_TAGS, KNOWN_TOPICS, topic_severity};

use draft::Draft;
use path::{LOOSE_BUDGET, secret_kind_loose, stricter_kind};

/// Every topic starts with this prefix (the seed's `job.mcp-bridge.` namespace).
pub const TOPIC_PREFIX: &str = "job.mcp-bridge.";

/// The server name of an agent's own built-in tools as its hook reports them (the gateway
/// records native calls under it and refuses it as an upstream name). Only calls from this
/// server get the agents' native mappings (housekeeping tools, Codex's `apply_patch`): a tool an
/// MCP server merely *names* `TodoWrite` stays an unknown tool.
pub const NATIVE_SERVER: &str = "native";

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
    /// The paths among `paths` that this part writes, moves or removes (the blast-radius check
    /// confines exactly these to the workspace roots).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writes: Vec<String>,
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

/// Turns tool calls into classifications: user mappings first, then the built-in mappings.
/// Pure and infallible; build it once and share it.
#[derive(Debug, Clone, Default)]
pub struct Classifier {
    custom: Vec<CustomMapping>,
    production: ProductionTargets,
    cordon: CordonPaths,
    persistence: Option<globset::GlobSet>,
}

impl Classifier {
    /// A classifier with user mappings (tried in order, before the built-ins).
    pub fn new(custom: Vec<CustomMapping>) -> Classifier {
        Classifier {
            custom,
            production: ProductionTargets::default(),
            cordon: CordonPaths::default(),
            persistence: None,
        }
    }

    /// Also treat these paths as Cordon's own state (the gateway's configured evidence
    /// database, policy, signing key...). Standard locations are known without it.
    pub fn with_cordon_paths(mut self, cordon: CordonPaths) -> Classifier {
        self.cordon = cordon;
        self
    }

    /// Cordon's own paths this classifier protects.
    pub fn cordon_paths(&self) -> &CordonPaths {
        &self.cordon
    }

    /// Also tag writes matching these globs `persistence` (a policy's `persistence:` list).
    pub fn with_persistence_globs(mut self, globs: globset::GlobSet) -> Classifier {
        self.persistence = Some(globs);
        self
    }

    /// Also tags calls naming one of these targets `production` (see [`production`]).
    pub fn with_production(mut self, production: ProductionTargets) -> Classifier {
        self.production = production;
        self
    }

    /// The production targets this classifier tags.
    pub fn production(&self) -> &ProductionTargets {
        &self.production
    }

    /// Classify a call lexically (no file system access). Never panics, never fails.
    pub fn classify(&self, call: &ToolCall) -> Classification {
        self.classify_with(call, &NoopResolver)
    }

    /// Classify a call, also checking the paths `resolver` resolves (symlinks): a path whose
    /// literal or real form is a secret counts as a secret.
    pub fn classify_with(&self, call: &ToolCall, resolver: &dyn PathResolver) -> Classification {
        if let Some(m) = self
            .custom
            .iter()
            .find(|m| m.matches(&call.server, &call.tool, &call.args))
        {
            let mut c = custom_classification(m, call);
            self.tag_arguments(call, &mut c);
            return c;
        }
        let outcome = builtin::classify(call);
        let mut diagnostics = outcome.diagnostics;
        let mut budget = LOOSE_BUDGET;
        let mut parts: Vec<Part> = outcome
            .drafts
            .into_iter()
            .map(|mut d| {
                if !self.production.is_empty()
                    && let Some(argv) = &d.command
                {
                    let hits = self
                        .production
                        .hits(&production::command_targets(&d.assigns, argv));
                    if !hits.is_empty() {
                        d.tags.insert(topic::TAG_PRODUCTION.to_owned());
                        diagnostics.extend(hits);
                    }
                }
                self.finish_part(d, resolver, &mut budget, &mut diagnostics)
            })
            .collect();
        if parts.is_empty() {
            diagnostics.push("nothing classified: conservative fallback".to_owned());
            parts.push(self.finish_part(
                Draft::new(topic::EXEC_SHELL),
                resolver,
                &mut budget,
                &mut diagnostics,
            ));
        }
        let mut c = assemble(parts, outcome.target, diagnostics);
        self.tag_arguments(call, &mut c);
        c
    }

    /// Non-shell tools name their targets in arguments (`context`, `branch`...): a call naming a
    /// production target gets the tag on every part.
    fn tag_arguments(&self, call: &ToolCall, c: &mut Classification) {
        if self.production.is_empty() || c.parts.iter().any(|p| p.command.is_some()) {
            return;
        }
        let pushes = c.topic.contains(".git.push") || c.topic.contains(".git.force-push");
        let hits = self
            .production
            .hits(&production::argument_targets(&call.args, pushes));
        if hits.is_empty() {
            return;
        }
        c.risk_tags.insert(topic::TAG_PRODUCTION.to_owned());
        for p in &mut c.parts {
            p.risk_tags.insert(topic::TAG_PRODUCTION.to_owned());
        }
        c.diagnostics.extend(hits);
    }
}

fn full_topic(short: &str) -> String {
    if short.starts_with(TOPIC_PREFIX) {
        short.to_owned()
    } else {
        format!("{TOPIC_PREFIX}{short}")
    }
}

impl Classifier {
    /// Secret detection, persistence and Cordon's own state on every path, then the full topic.
    fn finish_part(
        &self,
        d: Draft,
        resolver: &dyn PathResolver,
        budget: &mut usize,
        diagnostics: &mut Vec<String>,
    ) -> Part {
        let mut d = d;
        let uses = d.paths.clone();
        for use_ in &uses {
            let mut candidates = vec![use_.path.clone()];
            if let Some(real) = resolver.resolve(&use_.path) {
                candidates.push(normalize_path(&real, None));
            }
            for c in &candidates {
                if use_.write {
                    let hit = guard::persistence(c)
                        .map(|p| (p.reason.to_owned(), p.silent))
                        .or_else(|| {
                            self.persistence
                                .as_ref()
                                .filter(|g| g.is_match(c))
                                .map(|_| {
                                    ("the policy names it a persistence target".to_owned(), false)
                                })
                        });
                    if let Some((reason, silent)) = hit {
                        if !d.tags.contains(topic::TAG_PERSISTENCE) {
                            diagnostics.push(format!("writes {c}: {reason}"));
                        }
                        d.tags.insert(topic::TAG_PERSISTENCE.to_owned());
                        if silent {
                            d.tags.insert(topic::TAG_PERSISTENCE_SILENT.to_owned());
                        }
                    }
                }
                if !use_.name_only
                    && let Some(why) = self.cordon.touches(c)
                {
                    if topic_severity(&d.topic) < topic_severity(topic::CORDON_STATE) {
                        diagnostics.push(why);
                    }
                    d.escalate(topic::CORDON_STATE);
                }
            }
        }
        finish_part(d, resolver, budget, diagnostics)
    }
}

/// Secret detection (literal and resolved paths) and the full topic.
fn finish_part(
    mut d: Draft,
    resolver: &dyn PathResolver,
    budget: &mut usize,
    diagnostics: &mut Vec<String>,
) -> Part {
    let mut paths: Vec<String> = Vec::new();
    let mut writes: Vec<String> = Vec::new();
    let mut read_kind = None;
    let mut write_secret = false;
    let mut dynamic_read = false;
    let mut exhausted = false;
    for use_ in std::mem::take(&mut d.paths) {
        dynamic_read |= !use_.write && !use_.name_only && use_.path.contains('$');
        let mut candidates = vec![use_.path.clone()];
        if let Some(real) = resolver.resolve(&use_.path) {
            let real = normalize_path(&real, None);
            if real != use_.path {
                candidates.push(real);
            }
        }
        // One entry per path written: its real form when known (so `a.txt` and its absolute
        // spelling count as one file).
        if use_.write
            && let Some(last) = candidates.last()
            && !writes.contains(last)
        {
            writes.push(last.clone());
        }
        for c in candidates {
            let kind = match secret_kind_loose(&c, budget) {
                Ok(k) => k,
                Err(()) => {
                    // Too many globs to check: whatever it is, it is not a plain read.
                    if !exhausted {
                        diagnostics.push(format!(
                            "too many glob patterns to check for secrets: {c:?} and later paths classified conservatively"
                        ));
                    }
                    exhausted = true;
                    None
                }
            };
            // A name is not its contents (`ls .env`), but a secret directory's listing or a
            // key's metadata still counts (`ls ~/.ssh`).
            let kind = if use_.name_only && kind != Some(SecretKind::Secrets) {
                None
            } else {
                kind
            };
            if kind.is_some() {
                if use_.write {
                    write_secret = true;
                } else {
                    read_kind = stricter_kind(read_kind, kind);
                }
            }
            if !paths.contains(&c) {
                paths.push(c);
            }
        }
    }
    // A path computed at run time (`cat $F`, `cat $(ls)`) could be anything, a secret included:
    // such a part is not a mere read.
    if (dynamic_read || exhausted) && d.topic.starts_with("read.") {
        d.escalate(topic::EXEC_SHELL);
    }
    match read_kind {
        Some(SecretKind::Secrets) => d.escalate(topic::READ_SECRETS),
        Some(SecretKind::Env) => d.escalate(topic::READ_ENV),
        None => {}
    }
    if d.secret_vars {
        d.escalate(topic::READ_ENV);
    }
    if write_secret {
        d.tags.insert(topic::TAG_CREDENTIALS.to_owned());
    }
    Part {
        topic: full_topic(&d.topic),
        risk_tags: d.tags,
        paths,
        command: d.command,
        writes,
    }
}

fn assemble(parts: Vec<Part>, target: Option<String>, diagnostics: Vec<String>) -> Classification {
    let mut topic = String::new();
    let mut best = 0u8;
    let mut risk_tags = BTreeSet::new();
    for p in &parts {
        let sev = topic_severity(&p.topic);
        if topic.is_empty() || sev > best {
            best = sev;
            topic = p.topic.clone();
        }
        risk_tags.extend(p.risk_tags.iter().cloned());
    }
    Classification {
        topic,
        risk_tags,
        target,
        parts,
        diagnostics,
    }
}

/// A user mapping decides topic and tags on its own (it may deliberately relax a built-in);
/// the usual path arguments are still recorded for `paths` rules.
fn custom_classification(m: &CustomMapping, call: &ToolCall) -> Classification {
    let mut paths = Vec::new();
    for key in [
        "path",
        "file_path",
        "source",
        "destination",
        "repo_path",
        "cwd",
        "uri",
    ] {
        if let Some(s) = call.args.get(key).and_then(serde_json::Value::as_str) {
            let p = normalize_path(s, None);
            if !paths.contains(&p) {
                paths.push(p);
            }
        }
    }
    if let Some(serde_json::Value::Array(items)) = call.args.get("paths") {
        paths.extend(
            items
                .iter()
                .filter_map(serde_json::Value::as_str)
                .map(|s| normalize_path(s, None)),
        );
    }
    let target = paths.first().cloned().or_else(|| {
        call.args
            .get("command")
            .and_then(serde_json::Value::as_str)
            .map(|c| c.chars().take(200).collect())
    });
    let part = Part {
        topic: m.topic().to_owned(),
        risk_tags: m.risk_tags().iter().cloned().collect(),
        paths,
        command: None,
        writes: Vec::new(),
    };
    assemble(
        vec![part],
        target,
        vec![format!("classified by a user mapping as {}", m.topic())],
    )
}

#[cfg(test)]
mod tests;
