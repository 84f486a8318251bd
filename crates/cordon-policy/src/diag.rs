//! Diagnostics: what is wrong with a policy, where (file, line, column) and how to fix it.

use std::fmt;

use serde::Serialize;

/// How bad a diagnostic is. Errors block loading; warnings never do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The policy is not loaded (the last good policy stays in force).
    Error,
    /// The policy loads, but probably does not mean what its author thinks.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// What kind of problem a diagnostic reports, so callers and tests need not parse messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiagnosticKind {
    /// The text is not valid YAML (or not UTF-8, or uses a YAML feature policies refuse).
    Syntax,
    /// The same key appears twice in one mapping (YAML parsers disagree on which one wins).
    DuplicateKey,
    /// A size, depth or alias-expansion limit was exceeded.
    Limit,
    /// A key the language does not know (typos must not silently drop a condition).
    UnknownKey,
    /// A decision other than `allow`, `deny`, `require_approval`.
    BadDecision,
    /// A topic pattern that is malformed, or (as a warning) cannot match any known topic.
    BadPattern,
    /// A glob (`agents`, `servers`, `tools`, `paths`, classifier `tool`/`server`) that does not compile.
    BadGlob,
    /// A regular expression (`commands`, classifier `args`) that does not compile.
    BadRegex,
    /// Two rules share an id (within a file or across a policy directory).
    DuplicateId,
    /// A risk tag neither the classifier nor the policy's own classifiers produce.
    UnknownRiskTag,
    /// A required key is absent (`version`, rule `id`/`decision`/`reason`, test `call`/`expect`...).
    MissingField,
    /// A value has the wrong YAML type (a string where a list is expected, ...).
    BadType,
    /// A policy test that cannot run as written (unknown rule id, bad call).
    BadTest,
    /// A file or directory could not be read.
    Io,
    /// A local policy layered on an organisation policy tries what only the organisation may do
    /// (change classification, reuse an organisation rule or limit id).
    Layering,
}

/// One problem found in a policy source, with its location and, where possible, the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The source's display name (the path given by the user).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// Error or warning.
    pub severity: Severity,
    /// Machine-readable kind.
    pub kind: DiagnosticKind,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when we can tell.
    pub help: Option<String>,
}

impl Diagnostic {
    /// Whether this diagnostic blocks loading.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.column, self.severity, self.message
        )?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// A policy that failed to load: every diagnostic found in one pass (errors and warnings).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    /// All diagnostics, errors and warnings, in source order per file.
    pub diagnostics: Vec<Diagnostic>,
}

impl PolicyError {
    /// The diagnostics that block loading.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors = self.errors().count();
        write!(
            f,
            "policy invalid ({errors} error{})",
            if errors == 1 { "" } else { "s" }
        )?;
        for d in &self.diagnostics {
            write!(f, "\n{d}")?;
        }
        Ok(())
    }
}

/// Collects diagnostics for one source.
#[derive(Debug, Default)]
pub(crate) struct Sink {
    pub(crate) diagnostics: Vec<Diagnostic>,
}

impl Sink {
    pub(crate) fn push(
        &mut self,
        file: &str,
        pos: Pos,
        severity: Severity,
        kind: DiagnosticKind,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        self.diagnostics.push(Diagnostic {
            file: file.to_owned(),
            line: pos.line,
            column: pos.column,
            severity,
            kind,
            message: message.into(),
            help,
        });
    }

    pub(crate) fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// A 1-based source position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pos {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

impl Pos {
    pub(crate) const START: Pos = Pos { line: 1, column: 1 };
}

/// Levenshtein distance, for "did you mean" suggestions (inputs are short keys and tags).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        if let Some(first) = cur.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(usize::MAX) + 1;
            let ins = cur.get(j).copied().unwrap_or(usize::MAX) + 1;
            let sub = prev.get(j).copied().unwrap_or(usize::MAX) + cost;
            if let Some(slot) = cur.get_mut(j + 1) {
                *slot = del.min(ins).min(sub);
            }
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev.last().copied().unwrap_or(0)
}

/// The closest candidate to `word`, if it is close enough to be a plausible typo.
pub(crate) fn suggest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `did you mean `x`?` help text, when there is a plausible candidate.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    suggest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_basics() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("topic", "topics"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("abc", ""), 3);
    }

    #[test]
    fn suggestions_only_for_plausible_typos() {
        let keys = ["topics", "risk_tags", "paths"];
        assert_eq!(suggest("topic", keys), Some("topics"));
        assert_eq!(suggest("risk-tags", keys), Some("risk_tags"));
        assert_eq!(suggest("zzzzzzzz", keys), None);
    }

    #[test]
    fn display_has_location_and_help() {
        let d = Diagnostic {
            file: "p.yaml".into(),
            line: 3,
            column: 7,
            severity: Severity::Error,
            kind: DiagnosticKind::UnknownKey,
            message: "unknown key `topic`".into(),
            help: Some("did you mean `topics`?".into()),
        };
        assert_eq!(
            d.to_string(),
            "p.yaml:3:7: error: unknown key `topic`\n  help: did you mean `topics`?"
        );
    }
}
