//! Evaluation: a classified call against the compiled rules.

use std::collections::BTreeSet;
use std::fmt;

use globset::GlobSet;
use regex::RegexSet;
use serde::Serialize;

use crate::Decision;
use crate::TopicPattern;
use crate::classify::{Classification, ToolCall};

/// A rule ready to evaluate: patterns compiled, position in policy order kept for ties.
#[derive(Debug, Clone)]
pub(crate) struct CompiledRule {
    pub(crate) id: String,
    /// Position in policy order (files in name order, rules in file order).
    pub(crate) index: usize,
    pub(crate) decision: Decision,
    pub(crate) reason: String,
    pub(crate) topics: Vec<TopicPattern>,
    pub(crate) risk_tags: Vec<String>,
    pub(crate) agents: Option<GlobSet>,
    pub(crate) servers: Option<GlobSet>,
    pub(crate) tools: Option<GlobSet>,
    pub(crate) paths: Option<GlobSet>,
    pub(crate) commands: Option<RegexSet>,
}

/// One thing the policy is evaluated against: a part of the call, or the whole call.
pub(crate) struct Unit<'a> {
    pub(crate) topic: &'a str,
    pub(crate) tags: &'a BTreeSet<String>,
    pub(crate) paths: Vec<&'a str>,
    pub(crate) commands: Vec<String>,
}

impl CompiledRule {
    /// Whether the rule matches this unit of `call`. Conditions are checked cheapest first.
    pub(crate) fn matches(&self, call: &ToolCall, unit: &Unit<'_>) -> bool {
        if !self.topics.is_empty() && !self.topics.iter().any(|p| p.matches(unit.topic)) {
            return false;
        }
        if !self.risk_tags.is_empty() && !self.risk_tags.iter().any(|t| unit.tags.contains(t)) {
            return false;
        }
        if self
            .agents
            .as_ref()
            .is_some_and(|s| !s.is_match(&call.agent))
            || self
                .servers
                .as_ref()
                .is_some_and(|s| !s.is_match(&call.server))
            || self.tools.as_ref().is_some_and(|s| !s.is_match(&call.tool))
        {
            return false;
        }
        // Fail closed: a deny/approval rule catches ANY matching path or command; an allow rule
        // only lets a unit through when EVERY path or command matches (and there is at least one).
        let permissive = self.decision == Decision::Allow;
        if let Some(set) = &self.paths {
            let ok = if permissive {
                !unit.paths.is_empty() && unit.paths.iter().all(|p| set.is_match(p))
            } else {
                unit.paths.iter().any(|p| set.is_match(p))
            };
            if !ok {
                return false;
            }
        }
        if let Some(set) = &self.commands {
            let ok = if permissive {
                !unit.commands.is_empty() && unit.commands.iter().all(|c| set.is_match(c))
            } else {
                unit.commands.iter().any(|c| set.is_match(c))
            };
            if !ok {
                return false;
            }
        }
        true
    }
}

/// The outcome of one unit (or of the call): decision and winning rule index (None = default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) decision: Decision,
    pub(crate) rule: Option<usize>,
}

impl Outcome {
    /// Whether `self` beats `other`: stricter decision first, then the earlier rule, then a rule
    /// over the default.
    pub(crate) fn beats(&self, other: &Outcome) -> bool {
        match self.decision.cmp(&other.decision) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => {
                self.rule.unwrap_or(usize::MAX) < other.rule.unwrap_or(usize::MAX)
            }
        }
    }
}

/// Judges one unit: the strictest matching rule (first in order on ties), else the default.
pub(crate) fn judge_unit(
    rules: &[CompiledRule],
    default: Decision,
    call: &ToolCall,
    unit: &Unit<'_>,
) -> Outcome {
    let mut best: Option<Outcome> = None;
    for rule in rules {
        if best.is_some_and(|b| b.decision >= rule.decision) {
            // Cannot win: not stricter than what we have, and later in order.
            continue;
        }
        if rule.matches(call, unit) {
            best = Some(Outcome {
                decision: rule.decision,
                rule: Some(rule.index),
            });
            if rule.decision == Decision::Deny {
                break;
            }
        }
    }
    best.unwrap_or(Outcome {
        decision: default,
        rule: None,
    })
}

/// Judges a classified call: every part and the whole, strictest outcome wins.
pub(crate) fn judge(
    rules: &[CompiledRule],
    default: Decision,
    call: &ToolCall,
    c: &Classification,
) -> Outcome {
    let whole = Unit {
        topic: &c.topic,
        tags: &c.risk_tags,
        paths: c
            .parts
            .iter()
            .flat_map(|p| p.paths.iter().map(String::as_str))
            .collect(),
        commands: c
            .parts
            .iter()
            .filter_map(|p| p.command.as_ref().map(|argv| argv.join(" ")))
            .collect(),
    };
    let mut best = judge_unit(rules, default, call, &whole);
    // A single part identical to the whole needs no second evaluation.
    let single_same = match c.parts.as_slice() {
        [p] => p.topic == c.topic && p.risk_tags == c.risk_tags,
        _ => false,
    };
    if single_same {
        return best;
    }
    for part in &c.parts {
        if best.decision == Decision::Deny && best.rule == Some(0) {
            break;
        }
        let unit = Unit {
            topic: &part.topic,
            tags: &part.risk_tags,
            paths: part.paths.iter().map(String::as_str).collect(),
            commands: part.command.iter().map(|argv| argv.join(" ")).collect(),
        };
        let outcome = judge_unit(rules, default, call, &unit);
        if outcome.beats(&best) {
            best = outcome;
        }
    }
    best
}

/// A test written in a policy file.
#[derive(Debug, Clone)]
pub(crate) struct PolicyTest {
    pub(crate) file: String,
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) name: Option<String>,
    pub(crate) call: ToolCall,
    pub(crate) expect: Decision,
    pub(crate) rule: Option<String>,
}

/// The result of [`crate::Policy::run_tests`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct TestReport {
    /// Tests whose expectation held.
    pub passed: usize,
    /// Tests whose expectation did not hold.
    pub failed: usize,
    /// One entry per failed test, in policy order.
    pub failures: Vec<TestFailure>,
}

impl TestReport {
    /// Whether every test passed.
    pub fn is_success(&self) -> bool {
        self.failed == 0
    }

    /// Number of tests run.
    pub fn total(&self) -> usize {
        self.passed + self.failed
    }
}

impl fmt::Display for TestReport {
    /// The summary line: `N passed, M failed`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} passed, {} failed", self.passed, self.failed)
    }
}

/// A policy test that failed, with everything needed to understand why.
#[derive(Debug, Clone, Serialize)]
pub struct TestFailure {
    /// The file holding the test.
    pub file: String,
    /// 1-based line of the test.
    pub line: usize,
    /// 1-based column of the test.
    pub column: usize,
    /// The test's name, if it has one.
    pub name: Option<String>,
    /// The call the test makes.
    pub call: ToolCall,
    /// The decision the test expects.
    pub expected: Decision,
    /// The rule the test expects to win, if it names one.
    pub expected_rule: Option<String>,
    /// The decision the policy made.
    pub actual: Decision,
    /// The rule that won (None: no rule matched, the default applied).
    pub actual_rule: Option<String>,
    /// The topic the classifier gave the call.
    pub topic: String,
    /// The policy's reason for its decision.
    pub reason: String,
}

impl fmt::Display for TestFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let call = serde_json::to_string(&self.call).unwrap_or_default();
        write!(f, "FAIL {}:{}:{}", self.file, self.line, self.column)?;
        if let Some(name) = &self.name {
            write!(f, " {name}")?;
        }
        writeln!(f)?;
        writeln!(f, "  call:     {call}")?;
        write!(f, "  expected: {}", self.expected)?;
        if let Some(rule) = &self.expected_rule {
            write!(f, " (rule {rule})")?;
        }
        writeln!(f)?;
        write!(
            f,
            "  actual:   {} (rule {}, topic {}): {}",
            self.actual,
            self.actual_rule.as_deref().unwrap_or("none"),
            self.topic,
            self.reason
        )
    }
}
