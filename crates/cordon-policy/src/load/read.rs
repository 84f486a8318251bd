//! Stage 2 of loading: one file's node tree → its typed model.
//!
//! Checks the shape of each file on its own (known keys, types, required fields, decisions,
//! counts, sizes and durations) and keeps every value with the position it came from, so stage 3
//! ([`super::compile`]) can point at it. Nothing here looks across files.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::Decision;
use crate::classify::ToolCall;
use crate::diag::{DiagnosticKind, Pos, Severity, Sink, did_you_mean};
use crate::limits::{BlastRadius, LimitAction, LimitScope};
use crate::yaml::{self, Node, Value};
use cordon_classify::TargetKind;

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
pub(super) struct Spanned<T> {
    pub(super) value: T,
    pub(super) pos: Pos,
}

#[derive(Debug, Default)]
pub(super) struct MatchModel {
    pub(super) topics: Vec<Spanned<String>>,
    pub(super) risk_tags: Vec<Spanned<String>>,
    pub(super) agents: Vec<Spanned<String>>,
    pub(super) servers: Vec<Spanned<String>>,
    pub(super) tools: Vec<Spanned<String>>,
    pub(super) paths: Vec<Spanned<String>>,
    pub(super) commands: Vec<Spanned<String>>,
}

#[derive(Debug)]
pub(super) struct RuleModel {
    pub(super) file: usize,
    pub(super) pos: Pos,
    pub(super) id: Option<Spanned<String>>,
    pub(super) matcher: MatchModel,
    pub(super) decision: Option<Decision>,
    pub(super) reason: Option<String>,
}

#[derive(Debug)]
pub(super) struct TestModel {
    pub(super) file: usize,
    pub(super) pos: Pos,
    pub(super) name: Option<String>,
    pub(super) call: Option<ToolCall>,
    pub(super) expect: Option<Decision>,
    pub(super) rule: Option<Spanned<String>>,
}

#[derive(Debug)]
pub(super) struct ClassifierModel {
    pub(super) file: usize,
    pub(super) pos: Pos,
    pub(super) tool: Option<Spanned<String>>,
    pub(super) server: Option<Spanned<String>>,
    pub(super) args: Vec<(Spanned<String>, Spanned<String>)>,
    pub(super) topic: Option<Spanned<String>>,
    pub(super) risk_tags: Vec<Spanned<String>>,
}

#[derive(Debug, Default)]
pub(super) struct FileModel {
    pub(super) version: Option<String>,
    pub(super) default_decision: Option<Spanned<Decision>>,
    pub(super) blast_radius: Option<Spanned<BlastRadius>>,
    pub(super) production: Vec<(TargetKind, Vec<Spanned<String>>)>,
    pub(super) persistence: Vec<Spanned<String>>,
    pub(super) paused: bool,
    pub(super) paused_agents: Vec<Spanned<String>>,
    /// Keys present that change how calls are classified (`classifiers`, `production`,
    /// `persistence`), with their positions: a layered local policy may not have them.
    pub(super) classifying: Vec<(&'static str, Pos)>,
}

#[derive(Debug)]
pub(super) struct LimitModel {
    pub(super) file: usize,
    pub(super) pos: Pos,
    pub(super) id: Option<Spanned<String>>,
    pub(super) matcher: MatchModel,
    pub(super) per: LimitScope,
    pub(super) counts: BTreeMap<&'static str, u64>,
    pub(super) durations: BTreeMap<&'static str, Duration>,
    pub(super) on_limit: LimitAction,
    pub(super) on_limit_pos: Option<Pos>,
    pub(super) reason: Option<String>,
}

/// Stage 2: shape checks, per file.
pub(super) struct Reader<'a> {
    pub(super) sink: &'a mut Sink,
    pub(super) file: &'a str,
    pub(super) file_index: usize,
    pub(super) rules: Vec<RuleModel>,
    pub(super) tests: Vec<TestModel>,
    pub(super) classifiers: Vec<ClassifierModel>,
    pub(super) limits: Vec<LimitModel>,
}

impl Reader<'_> {
    fn error(&mut self, pos: Pos, kind: DiagnosticKind, message: String, help: Option<String>) {
        self.sink
            .push(self.file, pos, Severity::Error, kind, message, help);
    }

    pub(super) fn file_model(&mut self, text: &str) -> FileModel {
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
