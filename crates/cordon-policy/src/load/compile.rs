//! Stage 3 of loading: the typed models of every file → one compiled policy.
//!
//! Looks across all files: duplicate rule and limit ids, conflicting defaults, risk tags against
//! what the classifier and the policy's own classifiers can produce, topic patterns, and globs
//! and regexes compiled once (with size limits); tests must point at existing rules.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use regex::{RegexSet, RegexSetBuilder};

use super::full_topic;
use super::read::{ClassifierModel, FileModel, LimitModel, RuleModel, Spanned, TestModel};
use crate::Decision;
use crate::TopicPattern;
use crate::classify::{Classifier, CustomMapping, KNOWN_TOPICS, MappingError, TOPIC_PREFIX};
use crate::diag::{DiagnosticKind, Pos, Severity, Sink, did_you_mean};
use crate::eval::{CompiledRule, PolicyTest};
use crate::limits::{BlastRadius, Limit, PolicyPause};
use cordon_classify::{ProductionTargets, TargetKind};

/// Largest compiled regex accepted (bytes of the compiled program).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Stage 3: whole-policy checks and compilation.
pub(super) struct Compiler<'a> {
    pub(super) sink: &'a mut Sink,
    pub(super) names: &'a [&'a str],
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

    pub(super) fn default_decision(&mut self, files: &[FileModel]) -> Decision {
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

    pub(super) fn production(&mut self, files: &[FileModel]) -> ProductionTargets {
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
    pub(super) fn persistence(&mut self, files: &[FileModel]) -> Option<globset::GlobSet> {
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

    pub(super) fn blast_radius(&mut self, files: &[FileModel]) -> BlastRadius {
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

    pub(super) fn pause(&mut self, files: &[FileModel]) -> PolicyPause {
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

    pub(super) fn limits(
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

    pub(super) fn classifiers(
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

    pub(super) fn rules(
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

    pub(super) fn tests(&mut self, models: Vec<TestModel>, rule_ids: &[&str]) -> Vec<PolicyTest> {
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
