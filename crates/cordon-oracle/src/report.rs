//! Figures and findings: what the oracle prints, the known-findings list the test command
//! accepts (loudly), and the findings log the classifier's maintainers read.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use crate::OracleError;
use crate::corpus::Candidate;
use crate::judge::Judgement;
use crate::sandbox::RunResult;
use crate::trace::EffectKind;

/// A command judged a read that did more than read.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The candidate.
    pub candidate: Candidate,
    /// How it was judged.
    pub judgement: Judgement,
    /// What it did.
    pub result: RunResult,
}

impl Finding {
    /// The kinds of effect seen, in order.
    pub fn kinds(&self) -> BTreeSet<EffectKind> {
        self.result.effects.iter().map(|e| e.kind).collect()
    }

    /// A guess at the class of problem, for the people fixing the classifier: the program, the
    /// kinds of effect and the words that look responsible (options, assignments, redirections).
    pub fn class(&self) -> String {
        let kinds: Vec<&str> = self.kinds().iter().map(EffectKind::as_str).collect();
        let programs = if self.judgement.programs.is_empty() {
            "(no program)".to_owned()
        } else {
            self.judgement.programs.join("+")
        };
        let suspects: Vec<&str> = self
            .candidate
            .command
            .split_whitespace()
            .filter(|w| w.starts_with('-') || w.contains('=') || w.contains('>') || w.contains('<'))
            .take(6)
            .collect();
        format!(
            "{} by {programs}; suspect words: {}",
            kinds.join("+"),
            suspects.join(" ")
        )
    }
}

/// Counts for the summary.
#[derive(Debug, Default, Clone)]
pub struct Figures {
    /// Candidates by source kind.
    pub by_source: BTreeMap<&'static str, usize>,
    /// Candidates in all.
    pub commands: usize,
    /// Judged reads (read topic, not refused by the policy).
    pub reads: usize,
    /// Of which allowed by the policy.
    pub allowed: usize,
    /// Run in the sandbox.
    pub run: usize,
    /// Run and seen doing nothing but reading.
    pub confirmed: usize,
    /// Killed after the time limit (not findings, but listed).
    pub timed_out: usize,
    /// Findings by effect kind (a finding may count under several).
    pub by_kind: BTreeMap<EffectKind, usize>,
    /// Runs where a read started an expected helper (a decompressor...).
    pub helpers: usize,
    /// Runs where git refreshed its index (tolerated).
    pub index_refreshes: usize,
    /// Read topics the policy refuses (not run: a refused call never runs).
    pub denied_reads: usize,
    /// Calls the policy allows that are not reads (not run: not claimed harmless), by topic.
    pub allowed_non_reads: BTreeMap<String, usize>,
}

impl Figures {
    /// The summary block.
    pub fn render(&self, findings: usize, seconds: f64) -> String {
        let mut s = String::new();
        let sources: Vec<String> = self
            .by_source
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let kinds: Vec<String> = self
            .by_kind
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(
            s,
            "commands generated: {} ({})",
            self.commands,
            sources.join(", ")
        );
        let _ = writeln!(
            s,
            "classified as reads: {} (allowed by the policy {}, held {}); read topics refused by the policy, not run: {}",
            self.reads,
            self.allowed,
            self.reads - self.allowed.min(self.reads),
            self.denied_reads
        );
        if !self.allowed_non_reads.is_empty() {
            let list: Vec<String> = self
                .allowed_non_reads
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(s, "allowed but not reads (not run): {}", list.join(", "));
        }
        let _ = writeln!(s, "run in the sandbox: {} ({seconds:.1} s)", self.run);
        let _ = writeln!(s, "confirmed read-only: {}", self.confirmed);
        let _ = writeln!(
            s,
            "findings: {findings} (by effect: {})",
            if kinds.is_empty() {
                "none".to_owned()
            } else {
                kinds.join(", ")
            }
        );
        let _ = writeln!(
            s,
            "timed out: {}; runs that started an expected helper (decompressor, git itself): {}; git index refreshes (tolerated): {}",
            self.timed_out, self.helpers, self.index_refreshes
        );
        s
    }
}

/// Known findings: commands the test command tolerates (loudly) until the classifier is fixed.
/// One JSON string per line (so commands with newlines fit); `#` starts a comment.
pub fn load_known(path: &Path) -> Result<BTreeSet<String>, OracleError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| OracleError::io(format!("read {}", path.display()), e))?;
    let mut out = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cmd: String = serde_json::from_str(line).map_err(|e| {
            OracleError::Tool(format!(
                "{}:{}: not a JSON string: {e}",
                path.display(),
                i + 1
            ))
        })?;
        out.insert(cmd);
    }
    Ok(out)
}

/// One finding as printed on the console.
pub fn render_finding(f: &Finding) -> String {
    let mut s = format!(
        "FINDING [{}] {}: {}\n    from {}\n",
        f.kinds()
            .iter()
            .map(EffectKind::as_str)
            .collect::<Vec<_>>()
            .join(","),
        f.judgement.summary(),
        serde_json::to_string(&f.candidate.command).unwrap_or_default(),
        f.candidate.origin
    );
    for e in f.result.effects.iter().take(8) {
        let _ = writeln!(s, "    {} ({}): {}", e.kind, e.seen_by, e.detail);
    }
    if f.result.effects.len() > 8 {
        let _ = writeln!(s, "    … {} more effects", f.result.effects.len() - 8);
    }
    s
}

/// Appends the findings not yet in `path` (matched by their command line) to the findings log.
pub fn append_markdown(
    path: &Path,
    findings: &[Finding],
    header: &str,
) -> Result<usize, OracleError> {
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    let mut text = String::new();
    let mut added = 0;
    for f in findings {
        let quoted = serde_json::to_string(&f.candidate.command).unwrap_or_default();
        if existing.contains(&format!("command: {quoted}")) {
            continue;
        }
        let _ = writeln!(text, "- command: {quoted}");
        let _ = writeln!(text, "  - classification: {}", f.judgement.summary());
        let _ = writeln!(text, "  - origin: {}", f.candidate.origin);
        for e in f.result.effects.iter().take(6) {
            let _ = writeln!(text, "  - effect: {} ({}): {}", e.kind, e.seen_by, e.detail);
        }
        let _ = writeln!(text, "  - class: {}", f.class());
        added += 1;
    }
    if added > 0 {
        let mut out = existing;
        if out.is_empty() {
            out.push_str("# Oracle findings\n\nCommands the classifier judged reads (or the default policy allowed) that wrote, executed or connected when run in the sandbox (cordon-oracle, tests/oracle).\n");
        }
        let _ = write!(out, "\n## {header}\n\n{text}");
        std::fs::write(path, out)
            .map_err(|e| OracleError::io(format!("write {}", path.display()), e))?;
    }
    Ok(added)
}
