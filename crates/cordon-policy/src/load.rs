//! Stages 2 and 3 of loading: node tree → typed model (per file) → compiled policy (whole set).
//!
//! Stage 2 checks the shape of each file (known keys, types, required fields, decisions).
//! Stage 3 looks across all files: duplicate rule ids, risk tags against what the classifier
//! and the policy's own classifiers can produce, topic patterns, globs and regexes compiled
//! once, tests pointing at existing rules. Every stage keeps going after an error so one run
//! reports as much as possible.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use regex::{RegexSet, RegexSetBuilder};

use crate::TopicPattern;
use crate::classify::{
    Classifier, CustomMapping, KNOWN_RISK_TAGS, KNOWN_TOPICS, MappingError, TOPIC_PREFIX, ToolCall,
};
use crate::diag::{Diagnostic, DiagnosticKind, Pos, Severity, Sink, did_you_mean};
use crate::eval::{CompiledRule, PolicyTest};
use crate::limits::{BlastRadius, Limit, LimitAction, LimitScope, PolicyPause};
use crate::yaml::{self, Node, Value};
use crate::{Decision, Source};
use cordon_classify::{ProductionTargets, TargetKind};

/// Largest compiled regex accepted (bytes of the compiled program).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

const TOP_KEYS: &[&str] = &[
    "version",
    "default_decision",
    "description",
    "rules",
    "tests",
    "classifiers",
    "limits",
    "blast_radius",
    "production",
    "persistence",
    "paused",
    "paused_agents",
];
const LIMIT_KEYS: &[&str] = &[
    "id",
    "description",
    "match",
    "per",
    "max_tool_calls",
    "max_file_writes",
    "max_bytes_written",
    "max_files_changed",
    "max_session_duration",
    "calls_per_minute",
    "upstream_timeout",
    "on_limit",
    "reason",
];
const BLAST_KEYS: &[&str] = &["outside_roots", "unknown_roots"];
/// Longest duration a limit accepts (ten years): larger values are typos, and arithmetic on
/// them must never overflow.
const MAX_LIMIT_DURATION: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
const RULE_KEYS: &[&str] = &["id", "description", "match", "decision", "reason"];
const MATCH_KEYS: &[&str] = &[
    "topics",
    "risk_tags",
    "agents",
    "servers",
    "tools",
    "paths",
    "commands",
];
const TEST_KEYS: &[&str] = &["name", "call", "expect", "rule"];
const CALL_KEYS: &[&str] = &["tool", "server", "args", "agent"];
const CLASSIFIER_KEYS: &[&str] = &["tool", "server", "args", "topic", "risk_tags"];

/// A value with the position it came from.
#[derive(Debug, Clone)]
pub(crate) struct Spanned<T> {
    pub(crate) value: T,
    pub(crate) pos: Pos,
}

#[derive(Debug, Default)]
struct MatchModel {
    topics: Vec<Spanned<String>>,
    risk_tags: Vec<Spanned<String>>,
    agents: Vec<Spanned<String>>,
    servers: Vec<Spanned<String>>,
    tools: Vec<Spanned<String>>,
    paths: Vec<Spanned<String>>,
    commands: Vec<Spanned<String>>,
}

#[derive(Debug)]
struct RuleModel {
    file: usize,
    pos: Pos,
    id: Option<Spanned<String>>,
    matcher: MatchModel,
    decision: Option<Decision>,
    reason: Option<String>,
}

#[derive(Debug)]
struct TestModel {
    file: usize,
    pos: Pos,
    name: Option<String>,
    call: Option<ToolCall>,
    expect: Option<Decision>,
    rule: Option<Spanned<String>>,
}

#[derive(Debug)]
struct ClassifierModel {
    file: usize,
    pos: Pos,
    tool: Option<Spanned<String>>,
    server: Option<Spanned<String>>,
    args: Vec<(Spanned<String>, Spanned<String>)>,
    topic: Option<Spanned<String>>,
    risk_tags: Vec<Spanned<String>>,
}

#[derive(Debug, Default)]
struct FileModel {
    version: Option<String>,
    default_decision: Option<Spanned<Decision>>,
    blast_radius: Option<Spanned<BlastRadius>>,
    production: Vec<(TargetKind, Vec<Spanned<String>>)>,
    persistence: Vec<Spanned<String>>,
    paused: bool,
    paused_agents: Vec<Spanned<String>>,
    /// Keys present that change how calls are classified (`classifiers`, `production`,
    /// `persistence`), with their positions: a layered local policy may not have them.
    classifying: Vec<(&'static str, Pos)>,
}

#[derive(Debug)]
struct LimitModel {
    file: usize,
    pos: Pos,
    id: Option<Spanned<String>>,
    matcher: MatchModel,
    per: LimitScope,
    counts: BTreeMap<&'static str, u64>,
    durations: BTreeMap<&'static str, Duration>,
    on_limit: LimitAction,
    on_limit_pos: Option<Pos>,
    reason: Option<String>,
}

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

fn full_topic(topic: &str) -> String {
    if topic.starts_with(TOPIC_PREFIX) {
        topic.to_owned()
    } else {
        format!("{TOPIC_PREFIX}{topic}")
    }
}

/// Stage 2: shape checks, per file.
struct Reader<'a> {
    sink: &'a mut Sink,
    file: &'a str,
    file_index: usize,
    rules: Vec<RuleModel>,
    tests: Vec<TestModel>,
    classifiers: Vec<ClassifierModel>,
    limits: Vec<LimitModel>,
}

impl Reader<'_> {
    fn error(&mut self, pos: Pos, kind: DiagnosticKind, message: String, help: Option<String>) {
        self.sink
            .push(self.file, pos, Severity::Error, kind, message, help);
    }

    fn file_model(&mut self, text: &str) -> FileModel {
        let mut model = FileModel::default();
        let root = match yaml::parse(self.file, text, self.sink) {
            None => return model,
            Some(None) => {
                self.error(
                    Pos::START,
                    DiagnosticKind::MissingField,
                    "empty policy file: missing `version`".into(),
                    Some("start the file with `version: v1`".into()),
                );
                return model;
            }
            Some(Some(root)) => root,
        };
        let Some(fields) = self.fields(&root, "policy", TOP_KEYS) else {
            return model;
        };
        match fields.get("version") {
            None => self.error(
                root.pos,
                DiagnosticKind::MissingField,
                "missing `version`".into(),
                Some("add a label such as `version: v1`".into()),
            ),
            Some(node) => {
                model.version = self.string(node, "version").map(|s| s.value);
            }
        }
        if let Some(node) = fields.get("default_decision") {
            model.default_decision = self.decision(node).map(|d| Spanned {
                value: d,
                pos: node.pos,
            });
        }
        if let Some(node) = fields.get("description") {
            let _ = self.string(node, "description");
        }
        if let Some(node) = fields.get("rules") {
            for item in self.list(node, "rules") {
                let rule = self.rule(item);
                self.rules.push(rule);
            }
        }
        if let Some(node) = fields.get("tests") {
            for item in self.list(node, "tests") {
                let test = self.test(item);
                self.tests.push(test);
            }
        }
        for key in ["classifiers", "production", "persistence"] {
            if let Some(node) = fields.get(key) {
                model.classifying.push((key, node.pos));
            }
        }
        if let Some(node) = fields.get("classifiers") {
            for item in self.list(node, "classifiers") {
                let classifier = self.classifier(item);
                self.classifiers.push(classifier);
            }
        }
        if let Some(node) = fields.get("limits") {
            for item in self.list(node, "limits") {
                let limit = self.limit(item);
                self.limits.push(limit);
            }
        }
        if let Some(node) = fields.get("blast_radius") {
            model.blast_radius = self.blast_radius(node);
        }
        if let Some(node) = fields.get("production") {
            model.production = self.production(node);
        }
        if let Some(node) = fields.get("persistence") {
            model.persistence = self.string_list(node, "persistence");
        }
        if let Some(node) = fields.get("paused") {
            model.paused = self.boolean(node, "paused").unwrap_or(false);
        }
        if let Some(node) = fields.get("paused_agents") {
            model.paused_agents = self.string_list(node, "paused_agents");
        }
        model
    }

    fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        match &node.value {
            Value::Scalar { text, plain: true }
                if matches!(text.as_str(), "true" | "True" | "TRUE") =>
            {
                Some(true)
            }
            Value::Scalar { text, plain: true }
                if matches!(text.as_str(), "false" | "False" | "FALSE") =>
            {
                Some(false)
            }
            _ => {
                let found = node
                    .as_str()
                    .map_or_else(|| node.type_name().to_owned(), |t| format!("`{t}`"));
                self.error(
                    node.pos,
                    DiagnosticKind::BadType,
                    format!("`{what}` must be true or false, found {found}"),
                    None,
                );
                None
            }
        }
    }

    /// A count: a whole number from 0 to 2^64-1, written without sign, fraction or unit.
    fn count(&mut self, node: &Node, what: &str) -> Option<u64> {
        let text = node.as_str().map(str::trim);
        let bad = |s: &mut Self, message: String| {
            s.error(
                node.pos,
                DiagnosticKind::BadType,
                message,
                Some(format!("write e.g. `{what}: 100` (0 allows none)")),
            );
            None
        };
        let Some(text) = text.filter(|t| !t.is_empty()) else {
            return bad(
                self,
                format!(
                    "`{what}` must be a whole number, found {}",
                    node.type_name()
                ),
            );
        };
        let digits = text.replace('_', "");
        if text.starts_with('-') {
            return bad(
                self,
                format!("`{what}` must not be negative, found `{text}`"),
            );
        }
        if !digits.bytes().all(|b| b.is_ascii_digit()) || digits.is_empty() {
            return bad(
                self,
                format!("`{what}` must be a whole number, found `{text}`"),
            );
        }
        match digits.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => bad(
                self,
                format!("`{what}` is too large: `{text}` (at most {})", u64::MAX),
            ),
        }
    }

    /// A size: a whole number of bytes, optionally with a unit (`KB`, `MB`, `GB` = powers of
    /// 1000; `KiB`, `MiB`, `GiB` = powers of 1024).
    fn bytes(&mut self, node: &Node, what: &str) -> Option<u64> {
        let Some(text) = node.as_str().map(str::trim).filter(|t| !t.is_empty()) else {
            self.error(
                node.pos,
                DiagnosticKind::BadType,
                format!(
                    "`{what}` must be a size such as 10MB, found {}",
                    node.type_name()
                ),
                None,
            );
            return None;
        };
        let split = text
            .find(|c: char| !c.is_ascii_digit() && c != '_')
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let unit = unit.trim();
        let factor: Option<u64> = match unit.to_ascii_lowercase().as_str() {
            "" | "b" => Some(1),
            "kb" | "k" => Some(1000),
            "mb" | "m" => Some(1_000_000),
            "gb" | "g" => Some(1_000_000_000),
            "kib" => Some(1 << 10),
            "mib" => Some(1 << 20),
            "gib" => Some(1 << 30),
            _ => None,
        };
        let help = Some("write e.g. `10MB`, `512KiB` or a number of bytes".to_owned());
        if text.starts_with('-') {
            self.error(
                node.pos,
                DiagnosticKind::BadType,
                format!("`{what}` must not be negative, found `{text}`"),
                help,
            );
            return None;
        }
        let value = number.replace('_', "").parse::<u64>().ok();
        match (value, factor) {
            (Some(v), Some(f)) => match v.checked_mul(f) {
                Some(n) => Some(n),
                None => {
                    self.error(
                        node.pos,
                        DiagnosticKind::BadType,
                        format!("`{what}` is too large: `{text}`"),
                        help,
                    );
                    None
                }
            },
            (None, _) if !number.is_empty() => {
                self.error(
                    node.pos,
                    DiagnosticKind::BadType,
                    format!("`{what}` is too large: `{text}`"),
                    help,
                );
                None
            }
            _ => {
                self.error(
                    node.pos,
                    DiagnosticKind::BadType,
                    format!("invalid size `{text}` for `{what}`"),
                    help,
                );
                None
            }
        }
    }

    /// A duration: a positive whole number and a unit (`ms`, `s`, `m`, `h`, `d`).
    fn duration(&mut self, node: &Node, what: &str) -> Option<Duration> {
        let help = Some(format!("write e.g. `{what}: 30s`, `5m`, `8h` or `1d`"));
        let Some(text) = node.as_str().map(str::trim).filter(|t| !t.is_empty()) else {
            self.error(
                node.pos,
                DiagnosticKind::BadType,
                format!("`{what}` must be a duration, found {}", node.type_name()),
                help,
            );
            return None;
        };
        let bounds = crate::DurationBounds {
            max: MAX_LIMIT_DURATION,
            days: true,
        };
        let message = match crate::parse_duration(text, bounds) {
            Ok(d) => return Some(d),
            Err(crate::DurationError::Zero) => format!("`{what}` must be greater than zero"),
            Err(crate::DurationError::TooLong) => {
                format!("`{what}` is too long: `{text}` (at most 3650d)")
            }
            Err(crate::DurationError::Malformed) => {
                format!(
                    "invalid duration `{text}` for `{what}`: a positive whole number and a unit"
                )
            }
            Err(crate::DurationError::BadUnit) => {
                format!("`{text}` has no valid unit for `{what}`: use ms, s, m, h or d")
            }
        };
        self.error(node.pos, DiagnosticKind::BadType, message, help);
        None
    }

    fn limit(&mut self, node: &Node) -> LimitModel {
        let mut limit = LimitModel {
            file: self.file_index,
            pos: node.pos,
            id: None,
            matcher: MatchModel::default(),
            per: LimitScope::Session,
            counts: BTreeMap::new(),
            durations: BTreeMap::new(),
            on_limit: LimitAction::Deny,
            on_limit_pos: None,
            reason: None,
        };
        let Some(fields) = self.fields(node, "limit", LIMIT_KEYS) else {
            return limit;
        };
        match fields.get("id") {
            Some(n) => limit.id = self.string(n, "id"),
            None => self.missing(
                node.pos,
                "limit",
                "id",
                "give the limit a unique `id` (its counters are kept under it)",
            ),
        }
        if let Some(n) = fields.get("description") {
            let _ = self.string(n, "description");
        }
        if let Some(n) = fields.get("reason") {
            limit.reason = self.string(n, "reason").map(|s| s.value);
        }
        if let Some(n) = fields.get("match") {
            limit.matcher = self.matcher(n);
        }
        if let Some(n) = fields.get("per") {
            match n.as_str() {
                Some("session") => limit.per = LimitScope::Session,
                Some("agent") => limit.per = LimitScope::Agent,
                other => {
                    let found =
                        other.map_or_else(|| n.type_name().to_owned(), |t| format!("`{t}`"));
                    self.error(
                        n.pos,
                        DiagnosticKind::BadType,
                        format!("`per` must be `session` or `agent`, found {found}"),
                        other.and_then(|o| did_you_mean(o, ["session", "agent"])),
                    );
                }
            }
        }
        for key in [
            "max_tool_calls",
            "max_file_writes",
            "max_files_changed",
            "calls_per_minute",
        ] {
            if let Some(n) = fields.get(key)
                && let Some(v) = self.count(n, key)
            {
                if key == "calls_per_minute" && v == 0 {
                    self.error(
                        n.pos,
                        DiagnosticKind::BadType,
                        "`calls_per_minute` must be at least 1".into(),
                        Some("to allow no calls at all, write `max_tool_calls: 0`".into()),
                    );
                    continue;
                }
                limit.counts.insert(key, v);
            }
        }
        if let Some(n) = fields.get("max_bytes_written")
            && let Some(v) = self.bytes(n, "max_bytes_written")
        {
            limit.counts.insert("max_bytes_written", v);
        }
        for key in ["max_session_duration", "upstream_timeout"] {
            if let Some(n) = fields.get(key)
                && let Some(d) = self.duration(n, key)
            {
                limit.durations.insert(key, d);
            }
        }
        if let Some(n) = fields.get("on_limit") {
            limit.on_limit_pos = Some(n.pos);
            match n.as_str() {
                Some("deny") => limit.on_limit = LimitAction::Deny,
                Some("require_approval") => limit.on_limit = LimitAction::RequireApproval,
                Some("throttle") => limit.on_limit = LimitAction::Throttle,
                other => {
                    let found =
                        other.map_or_else(|| n.type_name().to_owned(), |t| format!("`{t}`"));
                    self.error(
                        n.pos,
                        DiagnosticKind::BadDecision,
                        format!(
                            "`on_limit` must be deny, require_approval or throttle, found {found}"
                        ),
                        other.and_then(|o| {
                            let alias = match o {
                                "block" | "refuse" | "reject" | "forbid" => Some("deny"),
                                "approve" | "approval" | "ask" | "review" | "require-approval" => {
                                    Some("require_approval")
                                }
                                "delay" | "slow" | "rate" | "wait" => Some("throttle"),
                                _ => None,
                            };
                            alias.map(|a| format!("did you mean `{a}`?")).or_else(|| {
                                did_you_mean(o, ["deny", "require_approval", "throttle"])
                            })
                        }),
                    );
                }
            }
        }
        let sets_any = fields.keys().any(|k| {
            !matches!(
                *k,
                "id" | "description" | "match" | "per" | "on_limit" | "reason"
            )
        });
        if !sets_any {
            self.error(
                node.pos,
                DiagnosticKind::MissingField,
                "limit sets no limit".into(),
                Some("add e.g. `max_tool_calls: 500`, `calls_per_minute: 60` or `upstream_timeout: 2m`".into()),
            );
        }
        if limit.on_limit == LimitAction::Throttle {
            let others: Vec<&str> = limit
                .counts
                .keys()
                .chain(limit.durations.keys())
                .copied()
                .filter(|k| !matches!(*k, "calls_per_minute" | "upstream_timeout"))
                .collect();
            let pos = limit.on_limit_pos.unwrap_or(node.pos);
            if !limit.counts.contains_key("calls_per_minute") {
                self.error(
                    pos,
                    DiagnosticKind::BadDecision,
                    "`on_limit: throttle` needs `calls_per_minute`".into(),
                    Some(
                        "throttling delays calls to a rate; budgets are denied or approved".into(),
                    ),
                );
            } else if !others.is_empty() {
                self.error(
                    pos,
                    DiagnosticKind::BadDecision,
                    format!(
                        "`on_limit: throttle` applies to `calls_per_minute` only, but this limit also sets {}",
                        others.join(", ")
                    ),
                    Some("put the budgets in a limit of their own with `on_limit: deny` or `require_approval`".into()),
                );
            }
        }
        limit
    }

    fn blast_radius(&mut self, node: &Node) -> Option<Spanned<BlastRadius>> {
        let fields = self.fields(node, "blast_radius", BLAST_KEYS)?;
        let mut b = BlastRadius::default();
        if let Some(n) = fields.get("outside_roots") {
            b.outside_roots = self.decision(n)?;
        }
        if let Some(n) = fields.get("unknown_roots") {
            b.unknown_roots = self.decision(n)?;
        }
        Some(Spanned {
            value: b,
            pos: node.pos,
        })
    }

    fn production(&mut self, node: &Node) -> Vec<(TargetKind, Vec<Spanned<String>>)> {
        let keys: Vec<&'static str> = TargetKind::ALL.iter().map(|k| k.key()).collect();
        let Some(fields) = self.fields(node, "production", &keys) else {
            return Vec::new();
        };
        let mut out: Vec<(TargetKind, Vec<Spanned<String>>)> = fields
            .into_iter()
            .filter_map(|(key, value)| {
                let kind = TargetKind::from_key(key)?;
                Some((kind, self.string_list(value, key)))
            })
            .collect();
        out.sort_by_key(|(k, _)| *k);
        out
    }

    /// The entries of a mapping whose keys are all allowed; unknown keys are reported.
    fn fields<'n>(
        &mut self,
        node: &'n Node,
        context: &str,
        allowed: &[&'static str],
    ) -> Option<HashMap<&'static str, &'n Node>> {
        let Value::Map(entries) = &node.value else {
            self.error(
                node.pos,
                DiagnosticKind::BadType,
                format!("{context} must be a mapping, found {}", node.type_name()),
                None,
            );
            return None;
        };
        let mut out = HashMap::new();
        for (key, value) in entries {
            let name = key.as_str().unwrap_or("");
            match allowed.iter().find(|a| **a == name) {
                Some(known) => {
                    out.insert(*known, value);
                }
                None => self.error(
                    key.pos,
                    DiagnosticKind::UnknownKey,
                    format!(
                        "unknown key `{name}` in {context}; expected one of {}",
                        allowed.join(", ")
                    ),
                    did_you_mean(name, allowed.iter().copied()),
                ),
            }
        }
        Some(out)
    }

    fn string(&mut self, node: &Node, what: &str) -> Option<Spanned<String>> {
        match node.as_str() {
            Some(text) => Some(Spanned {
                value: text.to_owned(),
                pos: node.pos,
            }),
            None => {
                self.error(
                    node.pos,
                    DiagnosticKind::BadType,
                    format!("`{what}` must be a string, found {}", node.type_name()),
                    None,
                );
                None
            }
        }
    }

    fn list<'n>(&mut self, node: &'n Node, what: &str) -> &'n [Node] {
        match &node.value {
            Value::Seq(items) => items,
            _ => {
                self.error(
                    node.pos,
                    DiagnosticKind::BadType,
                    format!("`{what}` must be a list, found {}", node.type_name()),
                    Some(format!("write `{what}: [...]` or one `- item` per line")),
                );
                &[]
            }
        }
    }

    fn string_list(&mut self, node: &Node, what: &str) -> Vec<Spanned<String>> {
        let items = self.list(node, what);
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(s) = self.string(item, what) {
                out.push(s);
            }
        }
        out
    }

    fn decision(&mut self, node: &Node) -> Option<Decision> {
        let Some(text) = node.as_str() else {
            self.error(
                node.pos,
                DiagnosticKind::BadDecision,
                format!(
                    "decision must be allow, deny or require_approval, found {}",
                    node.type_name()
                ),
                None,
            );
            return None;
        };
        match text {
            "allow" => Some(Decision::Allow),
            "deny" => Some(Decision::Deny),
            "require_approval" => Some(Decision::RequireApproval),
            other => {
                let alias = match other {
                    "approve" | "approval" | "ask" | "require-approval" | "requireApproval"
                    | "review" => Some("require_approval"),
                    "block" | "refuse" | "reject" | "forbid" => Some("deny"),
                    "permit" | "pass" | "accept" => Some("allow"),
                    _ => None,
                };
                let help = alias
                    .map(|a| format!("did you mean `{a}`?"))
                    .or_else(|| did_you_mean(other, ["allow", "deny", "require_approval"]));
                self.error(
                    node.pos,
                    DiagnosticKind::BadDecision,
                    format!("unknown decision `{other}`; expected allow, deny or require_approval"),
                    help,
                );
                None
            }
        }
    }

    fn rule(&mut self, node: &Node) -> RuleModel {
        let mut rule = RuleModel {
            file: self.file_index,
            pos: node.pos,
            id: None,
            matcher: MatchModel::default(),
            decision: None,
            reason: None,
        };
        let Some(fields) = self.fields(node, "rule", RULE_KEYS) else {
            return rule;
        };
        match fields.get("id") {
            Some(n) => rule.id = self.string(n, "id"),
            None => self.missing(node.pos, "rule", "id", "give the rule a unique `id`"),
        }
        if let Some(n) = fields.get("description") {
            let _ = self.string(n, "description");
        }
        if let Some(n) = fields.get("match") {
            rule.matcher = self.matcher(n);
        }
        match fields.get("decision") {
            Some(n) => rule.decision = self.decision(n),
            None => self.missing(
                node.pos,
                "rule",
                "decision",
                "add `decision: allow`, `deny` or `require_approval`",
            ),
        }
        match fields.get("reason") {
            Some(n) => {
                rule.reason = self.string(n, "reason").map(|s| s.value);
                if rule.reason.as_deref().is_some_and(|r| r.trim().is_empty()) {
                    self.error(
                        n.pos,
                        DiagnosticKind::MissingField,
                        "empty `reason`".into(),
                        Some("every decision explains itself to the agent and the reviewer".into()),
                    );
                }
            }
            None => self.missing(
                node.pos,
                "rule",
                "reason",
                "every decision explains itself: add `reason: \"...\"`",
            ),
        }
        rule
    }

    fn missing(&mut self, pos: Pos, context: &str, key: &str, help: &str) {
        self.error(
            pos,
            DiagnosticKind::MissingField,
            format!("{context} is missing `{key}`"),
            Some(help.to_owned()),
        );
    }

    fn matcher(&mut self, node: &Node) -> MatchModel {
        let mut m = MatchModel::default();
        let Some(fields) = self.fields(node, "match", MATCH_KEYS) else {
            return m;
        };
        for (key, value) in fields {
            let list = self.string_list(value, key);
            match key {
                "topics" => m.topics = list,
                "risk_tags" => m.risk_tags = list,
                "agents" => m.agents = list,
                "servers" => m.servers = list,
                "tools" => m.tools = list,
                "paths" => m.paths = list,
                _ => m.commands = list,
            }
        }
        m
    }

    fn test(&mut self, node: &Node) -> TestModel {
        let mut test = TestModel {
            file: self.file_index,
            pos: node.pos,
            name: None,
            call: None,
            expect: None,
            rule: None,
        };
        let Some(fields) = self.fields(node, "test", TEST_KEYS) else {
            return test;
        };
        if let Some(n) = fields.get("name") {
            test.name = self.string(n, "name").map(|s| s.value);
        }
        match fields.get("call") {
            Some(n) => test.call = self.call(n),
            None => self.missing(
                node.pos,
                "test",
                "call",
                "add `call: {tool: read_file, args: {path: README.md}}`",
            ),
        }
        match fields.get("expect") {
            Some(n) => test.expect = self.decision(n),
            None => self.missing(
                node.pos,
                "test",
                "expect",
                "add `expect: allow`, `deny` or `require_approval`",
            ),
        }
        if let Some(n) = fields.get("rule") {
            test.rule = self.string(n, "rule");
        }
        test
    }

    fn call(&mut self, node: &Node) -> Option<ToolCall> {
        let fields = self.fields(node, "call", CALL_KEYS)?;
        let tool = match fields.get("tool") {
            Some(n) => self.string(n, "tool")?.value,
            None => {
                self.missing(
                    node.pos,
                    "call",
                    "tool",
                    "name the tool, e.g. `tool: read_file`",
                );
                return None;
            }
        };
        let mut call = ToolCall {
            agent: String::new(),
            server: String::new(),
            tool,
            args: serde_json::Value::Object(serde_json::Map::new()),
        };
        if let Some(n) = fields.get("server") {
            call.server = self.string(n, "server")?.value;
        }
        if let Some(n) = fields.get("agent") {
            call.agent = self.string(n, "agent")?.value;
        }
        if let Some(n) = fields.get("args") {
            match &n.value {
                Value::Map(_) => call.args = n.to_json(),
                _ if n.is_null() => {}
                _ => {
                    self.error(
                        n.pos,
                        DiagnosticKind::BadTest,
                        format!("`args` must be a mapping, found {}", n.type_name()),
                        Some("write `args: {path: README.md}`".into()),
                    );
                    return None;
                }
            }
        }
        Some(call)
    }

    fn classifier(&mut self, node: &Node) -> ClassifierModel {
        let mut c = ClassifierModel {
            file: self.file_index,
            pos: node.pos,
            tool: None,
            server: None,
            args: Vec::new(),
            topic: None,
            risk_tags: Vec::new(),
        };
        let Some(fields) = self.fields(node, "classifier", CLASSIFIER_KEYS) else {
            return c;
        };
        match fields.get("tool") {
            Some(n) => c.tool = self.string(n, "tool"),
            None => self.missing(node.pos, "classifier", "tool", "add a tool name glob"),
        }
        if let Some(n) = fields.get("server") {
            c.server = self.string(n, "server");
        }
        if let Some(n) = fields.get("args") {
            match &n.value {
                Value::Map(entries) => {
                    for (k, v) in entries {
                        let key = self.string(k, "args key");
                        let value = self.string(v, "args pattern");
                        if let (Some(key), Some(value)) = (key, value) {
                            c.args.push((key, value));
                        }
                    }
                }
                _ => self.error(
                    n.pos,
                    DiagnosticKind::BadType,
                    format!("`args` must be a mapping, found {}", n.type_name()),
                    Some("write `args: {\"/path\": \"regex\"}`".into()),
                ),
            }
        }
        match fields.get("topic") {
            Some(n) => c.topic = self.string(n, "topic"),
            None => self.missing(
                node.pos,
                "classifier",
                "topic",
                "add the topic calls get, e.g. `topic: job.mcp-bridge.deploy.release`",
            ),
        }
        if let Some(n) = fields.get("risk_tags") {
            c.risk_tags = self.string_list(n, "risk_tags");
        }
        c
    }
}

/// Stage 3: whole-policy checks and compilation.
struct Compiler<'a> {
    sink: &'a mut Sink,
    names: &'a [&'a str],
}

impl Compiler<'_> {
    fn name(&self, file: usize) -> &str {
        self.names.get(file).copied().unwrap_or("<policy>")
    }

    fn report(
        &mut self,
        file: usize,
        pos: Pos,
        severity: Severity,
        kind: DiagnosticKind,
        message: String,
        help: Option<String>,
    ) {
        let name = self.name(file).to_owned();
        self.sink.push(&name, pos, severity, kind, message, help);
    }

    fn default_decision(&mut self, files: &[FileModel]) -> Decision {
        let mut chosen: Option<(usize, Spanned<Decision>)> = None;
        for (index, file) in files.iter().enumerate() {
            let Some(d) = &file.default_decision else {
                continue;
            };
            match &chosen {
                None => chosen = Some((index, d.clone())),
                Some((first_file, first)) if first.value != d.value => {
                    let message = format!(
                        "`default_decision: {}` conflicts with `default_decision: {}` at {}:{}:{}",
                        d.value,
                        first.value,
                        self.name(*first_file),
                        first.pos.line,
                        first.pos.column
                    );
                    self.report(
                        index,
                        d.pos,
                        Severity::Error,
                        DiagnosticKind::BadDecision,
                        message,
                        Some("set `default_decision` in one file of the directory only".into()),
                    );
                }
                Some(_) => {}
            }
        }
        // Fail closed: with no default, an unmatched call waits for a human.
        chosen.map_or(Decision::RequireApproval, |(_, d)| d.value)
    }

    fn production(&mut self, files: &[FileModel]) -> ProductionTargets {
        let mut lists: BTreeMap<TargetKind, Vec<String>> = BTreeMap::new();
        for (index, file) in files.iter().enumerate() {
            for (kind, globs) in &file.production {
                for glob in globs {
                    if let Err(e) = GlobBuilder::new(&glob.value).build() {
                        self.report(
                            index,
                            glob.pos,
                            Severity::Error,
                            DiagnosticKind::BadGlob,
                            format!("invalid glob `{}`: {}", glob.value, glob_error_text(&e)),
                            None,
                        );
                        continue;
                    }
                    lists.entry(*kind).or_default().push(glob.value.clone());
                }
            }
        }
        match ProductionTargets::new(lists.iter().map(|(k, v)| (*k, v.as_slice()))) {
            Ok(targets) => targets,
            Err(error) => {
                self.report(
                    0,
                    Pos::START,
                    Severity::Error,
                    DiagnosticKind::BadGlob,
                    error.to_string(),
                    None,
                );
                ProductionTargets::default()
            }
        }
    }

    /// The policy's extra persistence targets (globs over written paths, all files merged).
    fn persistence(&mut self, files: &[FileModel]) -> Option<globset::GlobSet> {
        let mut builder = globset::GlobSetBuilder::new();
        let mut any = false;
        for (index, file) in files.iter().enumerate() {
            for glob in &file.persistence {
                if let Some(g) = self.check_glob(index, glob, false) {
                    builder.add(g);
                    any = true;
                }
            }
        }
        if !any {
            return None;
        }
        builder.build().ok()
    }

    fn blast_radius(&mut self, files: &[FileModel]) -> BlastRadius {
        let mut chosen: Option<(usize, Pos, BlastRadius)> = None;
        for (index, file) in files.iter().enumerate() {
            let Some(b) = &file.blast_radius else {
                continue;
            };
            match &chosen {
                None => chosen = Some((index, b.pos, b.value)),
                Some((first, pos, value)) if *value != b.value => {
                    let message = format!(
                        "`blast_radius` conflicts with the one at {}:{}:{}",
                        self.name(*first),
                        pos.line,
                        pos.column
                    );
                    self.report(
                        index,
                        b.pos,
                        Severity::Error,
                        DiagnosticKind::BadDecision,
                        message,
                        Some("set `blast_radius` in one file of the directory only".into()),
                    );
                }
                Some(_) => {}
            }
        }
        chosen.map_or_else(BlastRadius::default, |(_, _, b)| b)
    }

    fn pause(&mut self, files: &[FileModel]) -> PolicyPause {
        let mut pause = PolicyPause::default();
        for (index, file) in files.iter().enumerate() {
            pause.all |= file.paused;
            for agent in &file.paused_agents {
                if self.check_glob(index, agent, false).is_some()
                    && !pause.agents.contains(&agent.value)
                {
                    pause.agents.push(agent.value.clone());
                }
            }
        }
        pause
    }

    fn limits(
        &mut self,
        models: Vec<LimitModel>,
        known_tags: &BTreeSet<&str>,
        known_topics: &[TopicPattern],
    ) -> Vec<Limit> {
        let mut seen: HashMap<String, (usize, Pos)> = HashMap::new();
        let mut out = Vec::with_capacity(models.len());
        for model in models {
            let Some(id) = model.id.clone() else { continue };
            if id.value.trim().is_empty() {
                self.report(
                    model.file,
                    id.pos,
                    Severity::Error,
                    DiagnosticKind::MissingField,
                    "empty limit `id`".into(),
                    None,
                );
                continue;
            }
            if let Some((first_file, first_pos)) = seen.get(&id.value).copied() {
                let message = format!(
                    "duplicate limit id `{}` (first defined at {}:{}:{})",
                    id.value,
                    self.name(first_file),
                    first_pos.line,
                    first_pos.column
                );
                self.report(
                    model.file,
                    id.pos,
                    Severity::Error,
                    DiagnosticKind::DuplicateId,
                    message,
                    Some("limit ids key their counters: make them unique".into()),
                );
                continue;
            }
            seen.insert(id.value.clone(), (model.file, id.pos));
            // The match compiles exactly like a rule's, read the way a deny rule reads it.
            let rule = RuleModel {
                file: model.file,
                pos: model.pos,
                id: Some(id.clone()),
                matcher: model.matcher,
                decision: Some(Decision::Deny),
                reason: Some("limit".into()),
            };
            let Some(matcher) = self.rules(&[rule], known_tags, known_topics).pop() else {
                continue;
            };
            out.push(Limit {
                id: id.value,
                per: model.per,
                max_tool_calls: model.counts.get("max_tool_calls").copied(),
                max_file_writes: model.counts.get("max_file_writes").copied(),
                max_bytes_written: model.counts.get("max_bytes_written").copied(),
                max_files_changed: model.counts.get("max_files_changed").copied(),
                max_session_duration: model.durations.get("max_session_duration").copied(),
                calls_per_minute: model.counts.get("calls_per_minute").copied(),
                upstream_timeout: model.durations.get("upstream_timeout").copied(),
                on_limit: model.on_limit,
                reason: model.reason,
                matcher,
            });
        }
        out
    }

    fn classifiers(
        &mut self,
        models: &[ClassifierModel],
    ) -> (Classifier, BTreeSet<String>, Vec<String>) {
        let mut mappings = Vec::new();
        let mut tags = BTreeSet::new();
        let mut topics = Vec::new();
        for model in models {
            for tag in &model.risk_tags {
                let well_formed = !tag.value.is_empty()
                    && tag
                        .value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
                if !well_formed {
                    self.report(
                        model.file,
                        tag.pos,
                        Severity::Error,
                        DiagnosticKind::BadType,
                        format!(
                            "risk tag `{}` may use only letters, digits, `-`, `_` and `.`",
                            tag.value
                        ),
                        None,
                    );
                } else {
                    tags.insert(tag.value.clone());
                }
            }
            let (Some(tool), Some(topic)) = (&model.tool, &model.topic) else {
                continue;
            };
            let mut ok = self.check_glob(model.file, tool, false).is_some();
            if let Some(server) = &model.server {
                ok &= self.check_glob(model.file, server, false).is_some();
            }
            for (_, pattern) in &model.args {
                ok &= self.check_regex(model.file, pattern);
            }
            match TopicPattern::parse(&topic.value) {
                Ok(p) if p.as_str().contains(['*', '>']) => {
                    self.report(
                        model.file,
                        topic.pos,
                        Severity::Error,
                        DiagnosticKind::BadPattern,
                        format!(
                            "classifier topic `{}` must be a concrete topic",
                            topic.value
                        ),
                        Some("wildcards belong in rules; a classifier names one topic".into()),
                    );
                    ok = false;
                }
                Ok(_) if !topic.value.starts_with(TOPIC_PREFIX) => {
                    self.report(
                        model.file,
                        topic.pos,
                        Severity::Error,
                        DiagnosticKind::BadPattern,
                        format!(
                            "classifier topic `{}` must start with `{TOPIC_PREFIX}`",
                            topic.value
                        ),
                        Some(format!("did you mean `{TOPIC_PREFIX}{}`?", topic.value)),
                    );
                    ok = false;
                }
                Ok(_) => topics.push(topic.value.clone()),
                Err(e) => {
                    self.report(
                        model.file,
                        topic.pos,
                        Severity::Error,
                        DiagnosticKind::BadPattern,
                        e.message,
                        e.help,
                    );
                    ok = false;
                }
            }
            if !ok {
                continue;
            }
            let args = model
                .args
                .iter()
                .map(|(k, v)| (k.value.clone(), v.value.clone()))
                .collect();
            match CustomMapping::new(
                &tool.value,
                model.server.as_ref().map(|s| s.value.as_str()),
                args,
                topic.value.clone(),
                model.risk_tags.iter().map(|t| t.value.clone()).collect(),
            ) {
                Ok(mapping) => mappings.push(mapping),
                Err(error) => {
                    let (kind, pos) = mapping_error_site(&error, model);
                    self.report(
                        model.file,
                        pos,
                        Severity::Error,
                        kind,
                        format!("classifier refused: {error}"),
                        None,
                    );
                }
            }
        }
        (Classifier::new(mappings), tags, topics)
    }

    fn check_glob(
        &mut self,
        file: usize,
        glob: &Spanned<String>,
        literal_separator: bool,
    ) -> Option<globset::Glob> {
        match GlobBuilder::new(&glob.value)
            .literal_separator(literal_separator)
            .backslash_escape(true)
            .build()
        {
            Ok(g) => Some(g),
            Err(e) => {
                self.report(
                    file,
                    glob.pos,
                    Severity::Error,
                    DiagnosticKind::BadGlob,
                    format!("invalid glob `{}`: {}", glob.value, glob_error_text(&e)),
                    Some(
                        "globs use `*`, `?`, `[abc]`, `{a,b}` and `**` for any directories".into(),
                    ),
                );
                None
            }
        }
    }

    fn check_regex(&mut self, file: usize, regex: &Spanned<String>) -> bool {
        match regex::RegexBuilder::new(&regex.value)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
        {
            Ok(_) => true,
            Err(e) => {
                self.report(
                    file,
                    regex.pos,
                    Severity::Error,
                    DiagnosticKind::BadRegex,
                    format!("invalid regex `{}`: {}", regex.value, regex_error_text(&e)),
                    Some(
                        "regexes use Rust `regex` syntax; escape literal `.`, `(`, `[` with `\\`"
                            .into(),
                    ),
                );
                false
            }
        }
    }

    fn glob_set(
        &mut self,
        file: usize,
        globs: &[Spanned<String>],
        literal_separator: bool,
    ) -> Option<GlobSet> {
        if globs.is_empty() {
            return None;
        }
        let mut builder = GlobSetBuilder::new();
        let mut ok = true;
        for glob in globs {
            match self.check_glob(file, glob, literal_separator) {
                Some(g) => {
                    builder.add(g);
                }
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        match builder.build() {
            Ok(set) => Some(set),
            Err(e) => {
                let pos = globs.first().map(|g| g.pos).unwrap_or_default();
                self.report(
                    file,
                    pos,
                    Severity::Error,
                    DiagnosticKind::BadGlob,
                    format!("glob set does not compile: {}", glob_error_text(&e)),
                    None,
                );
                None
            }
        }
    }

    fn regex_set(&mut self, file: usize, regexes: &[Spanned<String>]) -> Option<RegexSet> {
        if regexes.is_empty() {
            return None;
        }
        let mut ok = true;
        for r in regexes {
            ok &= self.check_regex(file, r);
        }
        if !ok {
            return None;
        }
        match RegexSetBuilder::new(regexes.iter().map(|r| r.value.as_str()))
            .size_limit(REGEX_SIZE_LIMIT.saturating_mul(4))
            .build()
        {
            Ok(set) => Some(set),
            Err(e) => {
                let pos = regexes.first().map(|r| r.pos).unwrap_or_default();
                self.report(
                    file,
                    pos,
                    Severity::Error,
                    DiagnosticKind::BadRegex,
                    format!("regexes do not compile together: {}", regex_error_text(&e)),
                    Some("split the rule into several rules".into()),
                );
                None
            }
        }
    }

    fn rules(
        &mut self,
        models: &[RuleModel],
        known_tags: &BTreeSet<&str>,
        known_topics: &[TopicPattern],
    ) -> Vec<CompiledRule> {
        let mut seen: HashMap<String, (usize, Pos)> = HashMap::new();
        let mut out = Vec::with_capacity(models.len());
        for model in models {
            let file = model.file;
            let mut ok = true;
            if let Some(id) = &model.id {
                if id.value.trim().is_empty() {
                    self.report(
                        file,
                        id.pos,
                        Severity::Error,
                        DiagnosticKind::MissingField,
                        "empty rule `id`".into(),
                        None,
                    );
                    ok = false;
                } else if let Some((first_file, first_pos)) = seen.get(&id.value).copied() {
                    let message = format!(
                        "duplicate rule id `{}` (first defined at {}:{}:{})",
                        id.value,
                        self.name(first_file),
                        first_pos.line,
                        first_pos.column
                    );
                    self.report(
                        file,
                        id.pos,
                        Severity::Error,
                        DiagnosticKind::DuplicateId,
                        message,
                        Some(
                            "rule ids name the winning rule in the evidence: make them unique"
                                .into(),
                        ),
                    );
                    ok = false;
                } else {
                    seen.insert(id.value.clone(), (file, id.pos));
                }
            }
            let m = &model.matcher;
            let mut topics = Vec::with_capacity(m.topics.len());
            for t in &m.topics {
                match TopicPattern::parse(&t.value) {
                    Ok(p) => {
                        if !known_topics.iter().any(|k| k.intersects(&p)) {
                            let prefixed = format!("{TOPIC_PREFIX}{}", t.value);
                            let help = TopicPattern::parse(&prefixed)
                                .ok()
                                .filter(|q| known_topics.iter().any(|k| k.intersects(q)))
                                .map(|_| format!("did you mean `{prefixed}`?"))
                                .or_else(|| {
                                    let full: Vec<String> =
                                        KNOWN_TOPICS.iter().map(|k| full_topic(k)).collect();
                                    did_you_mean(&t.value, full.iter().map(String::as_str))
                                });
                            self.report(
                                file,
                                t.pos,
                                Severity::Warning,
                                DiagnosticKind::BadPattern,
                                format!("topic pattern `{}` cannot match any known topic", t.value),
                                help,
                            );
                        }
                        topics.push(p);
                    }
                    Err(e) => {
                        self.report(
                            file,
                            t.pos,
                            Severity::Error,
                            DiagnosticKind::BadPattern,
                            e.message,
                            e.help,
                        );
                        ok = false;
                    }
                }
            }
            for tag in &m.risk_tags {
                if !known_tags.contains(tag.value.as_str()) {
                    let help = did_you_mean(&tag.value, known_tags.iter().copied()).or_else(|| {
                        Some(format!(
                            "known tags: {}; declare new ones in `classifiers`",
                            known_tags.iter().copied().collect::<Vec<_>>().join(", ")
                        ))
                    });
                    self.report(
                        file,
                        tag.pos,
                        Severity::Error,
                        DiagnosticKind::UnknownRiskTag,
                        format!(
                            "unknown risk tag `{}`: no call can carry it, so this condition never matches",
                            tag.value
                        ),
                        help,
                    );
                    ok = false;
                }
            }
            let agents = self.glob_set(file, &m.agents, false);
            let servers = self.glob_set(file, &m.servers, false);
            let tools = self.glob_set(file, &m.tools, false);
            let paths = self.glob_set(file, &m.paths, true);
            let commands = self.regex_set(file, &m.commands);
            ok &= agents.is_some() != m.agents.is_empty()
                && servers.is_some() != m.servers.is_empty()
                && tools.is_some() != m.tools.is_empty()
                && paths.is_some() != m.paths.is_empty()
                && commands.is_some() != m.commands.is_empty();
            let (Some(id), Some(decision), Some(reason)) =
                (&model.id, model.decision, &model.reason)
            else {
                continue;
            };
            if !ok {
                continue;
            }
            out.push(CompiledRule {
                id: id.value.clone(),
                index: out.len(),
                decision,
                reason: reason.clone(),
                topics,
                risk_tags: m.risk_tags.iter().map(|t| t.value.clone()).collect(),
                agents,
                servers,
                tools,
                paths,
                commands,
            });
            let _ = model.pos;
        }
        out
    }

    fn tests(&mut self, models: Vec<TestModel>, rule_ids: &[&str]) -> Vec<PolicyTest> {
        let mut out = Vec::with_capacity(models.len());
        for model in models {
            let mut ok = true;
            if let Some(rule) = &model.rule
                && !rule_ids.contains(&rule.value.as_str())
            {
                self.report(
                    model.file,
                    rule.pos,
                    Severity::Error,
                    DiagnosticKind::BadTest,
                    format!(
                        "test expects rule `{}`, which the policy does not define",
                        rule.value
                    ),
                    did_you_mean(&rule.value, rule_ids.iter().copied()),
                );
                ok = false;
            }
            let (Some(call), Some(expect)) = (model.call, model.expect) else {
                continue;
            };
            if !ok {
                continue;
            }
            out.push(PolicyTest {
                file: self.name(model.file).to_owned(),
                line: model.pos.line,
                column: model.pos.column,
                name: model.name,
                call,
                expect,
                rule: model.rule.map(|r| r.value),
            });
        }
        out
    }
}

/// Where in a classifier entry the classifier's own validation found the problem.
fn mapping_error_site(error: &MappingError, model: &ClassifierModel) -> (DiagnosticKind, Pos) {
    let at = |field: Option<&Spanned<String>>| field.map_or(model.pos, |f| f.pos);
    match error {
        MappingError::BadToolGlob { .. } => (DiagnosticKind::BadGlob, at(model.tool.as_ref())),
        MappingError::BadServerGlob { .. } => (DiagnosticKind::BadGlob, at(model.server.as_ref())),
        MappingError::BadArgKey { key } => (
            DiagnosticKind::BadType,
            at(model
                .args
                .iter()
                .find(|(k, _)| k.value == *key)
                .map(|(k, _)| k)),
        ),
        MappingError::BadArgRegex { key, .. } => (
            DiagnosticKind::BadRegex,
            at(model
                .args
                .iter()
                .find(|(k, _)| k.value == *key)
                .map(|(_, v)| v)),
        ),
        MappingError::BadTopic { .. } => (DiagnosticKind::BadPattern, at(model.topic.as_ref())),
        MappingError::BadRiskTag { tag } => (
            DiagnosticKind::BadType,
            at(model.risk_tags.iter().find(|t| t.value == *tag)),
        ),
        // A variant added later still points at the entry.
        #[allow(unreachable_patterns)]
        _ => (DiagnosticKind::BadType, model.pos),
    }
}

fn glob_error_text(error: &globset::Error) -> String {
    error.kind().to_string()
}

/// The regex crate's errors span several lines with a caret diagram; keep the gist.
fn regex_error_text(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map_or_else(
            || text.lines().last().unwrap_or("").trim().to_owned(),
            str::to_owned,
        )
}
