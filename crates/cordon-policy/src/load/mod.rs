//! Loading a policy: source texts → one compiled policy, in the stages the crate documents.
//!
//! Stage 1 (`crate::yaml`) turns each file's text into a node tree with positions. Stage 2
//! ([`read`]) checks the shape of each file on its own and produces a typed model of it. Stage 3
//! ([`compile`]) looks across all files and compiles the models into what [`crate::Policy`]
//! evaluates. This module runs the stages in order and sorts the diagnostics; it owns no check
//! itself. Every stage keeps going after an error so one run reports as much as possible.

mod compile;
mod read;

use std::collections::BTreeSet;

use crate::TopicPattern;
use crate::classify::{Classifier, KNOWN_RISK_TAGS, KNOWN_TOPICS, TOPIC_PREFIX};
use crate::diag::{Diagnostic, DiagnosticKind, Pos, Severity, Sink};
use crate::eval::{CompiledRule, PolicyTest};
use crate::limits::{BlastRadius, Limit, PolicyPause};
use crate::{Decision, Source};
use compile::Compiler;
use read::Reader;

/// Everything the loader produces for [`crate::Policy`].
pub(crate) struct Loaded {
    pub(crate) version_label: String,
    pub(crate) default_decision: Decision,
    pub(crate) rules: Vec<CompiledRule>,
    pub(crate) tests: Vec<PolicyTest>,
    pub(crate) classifier: Classifier,
    pub(crate) warnings: Vec<Diagnostic>,
    pub(crate) limits: Vec<Limit>,
    pub(crate) blast_radius: BlastRadius,
    pub(crate) pause: PolicyPause,
    /// Whether some file sets `default_decision` (a layered local policy without one has no
    /// opinion on calls its rules do not match).
    pub(crate) default_explicit: bool,
    /// Classification keys present, by file: `(file, position, key)`.
    pub(crate) classifying: Vec<(String, Pos, &'static str)>,
}

/// Loads a set of sources as one policy.
pub(crate) fn load(sources: &[Source]) -> Result<Loaded, Vec<Diagnostic>> {
    let mut sink = Sink::default();
    if sources.is_empty() {
        sink.push(
            "<policy>",
            Pos::START,
            Severity::Error,
            DiagnosticKind::Io,
            "no policy sources",
            Some("give a policy file, or a directory with *.yaml files".into()),
        );
        return Err(sink.diagnostics);
    }
    let mut reader = Reader {
        sink: &mut sink,
        file: "",
        file_index: 0,
        rules: Vec::new(),
        tests: Vec::new(),
        classifiers: Vec::new(),
        limits: Vec::new(),
    };
    let mut files = Vec::new();
    for (index, source) in sources.iter().enumerate() {
        reader.file = &source.name;
        reader.file_index = index;
        files.push(reader.file_model(&source.text));
    }
    let Reader {
        rules,
        tests,
        classifiers,
        limits,
        ..
    } = reader;
    let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
    let mut compiler = Compiler {
        sink: &mut sink,
        names: &names,
    };

    let version_label = files
        .first()
        .and_then(|f| f.version.clone())
        .unwrap_or_default();
    let default_decision = compiler.default_decision(&files);
    let default_explicit = files.iter().any(|f| f.default_decision.is_some());
    let classifying: Vec<(String, Pos, &'static str)> = files
        .iter()
        .zip(&names)
        .flat_map(|(f, name)| {
            f.classifying
                .iter()
                .map(|(key, pos)| ((*name).to_owned(), *pos, *key))
        })
        .collect();
    let (classifier, declared_tags, declared_topics) = compiler.classifiers(&classifiers);
    let classifier = classifier.with_production(compiler.production(&files));
    let classifier = match compiler.persistence(&files) {
        Some(globs) => classifier.with_persistence_globs(globs),
        None => classifier,
    };
    let blast_radius = compiler.blast_radius(&files);
    let pause = compiler.pause(&files);
    let known_tags: BTreeSet<&str> = KNOWN_RISK_TAGS
        .iter()
        .copied()
        .chain(declared_tags.iter().map(String::as_str))
        .collect();
    let known_topics = known_topic_patterns(&declared_topics);
    // Tests may name any declared rule, even one with errors of its own (reported already).
    let declared_ids: Vec<String> = rules
        .iter()
        .filter_map(|r| r.id.as_ref().map(|id| id.value.clone()))
        .collect();
    let rules = compiler.rules(&rules, &known_tags, &known_topics);
    let limits = compiler.limits(limits, &known_tags, &known_topics);
    let rule_ids: Vec<&str> = declared_ids.iter().map(String::as_str).collect();
    let tests = compiler.tests(tests, &rule_ids);

    // Report in reading order: files in policy order, then line and column.
    sink.diagnostics.sort_by_key(|d| {
        let file = names
            .iter()
            .position(|n| *n == d.file)
            .unwrap_or(usize::MAX);
        (file, d.line, d.column)
    });
    if sink.has_errors() {
        return Err(sink.diagnostics);
    }
    Ok(Loaded {
        version_label,
        default_decision,
        rules,
        tests,
        classifier,
        warnings: sink.diagnostics,
        limits,
        blast_radius,
        pause,
        default_explicit,
        classifying,
    })
}

/// The patterns every rule topic is checked against: the classifier's topics, the policy's own
/// classifier topics, and unknown upstream tools (`tool.>`).
fn known_topic_patterns(declared: &[String]) -> Vec<TopicPattern> {
    KNOWN_TOPICS
        .iter()
        .map(|t| full_topic(t))
        .chain(std::iter::once(format!("{TOPIC_PREFIX}tool.>")))
        .chain(declared.iter().cloned())
        .filter_map(|t| TopicPattern::parse(&t).ok())
        .collect()
}

pub(super) fn full_topic(topic: &str) -> String {
    if topic.starts_with(TOPIC_PREFIX) {
        topic.to_owned()
    } else {
        format!("{TOPIC_PREFIX}{topic}")
    }
}
