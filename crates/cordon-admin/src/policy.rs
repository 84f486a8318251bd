//! The policy editor: where the policy lives, validation with structured diagnostics, the
//! policy's own tests, a replay of recent evidence under an edited policy, and atomic saves.
//!
//! Source names follow [`Policy::load`] exactly (the file's full path), so a snapshot recorded
//! here is byte-identical to the one the engine records when it loads the same files at its
//! next start (the evidence log refuses one version with two different snapshots).

use std::path::{Path, PathBuf};

use cordon_evidence::{EvidenceLog, Filter, Record};
use cordon_policy::{Decision, MAX_FILE_BYTES, Policy, PolicyError, Severity, Source, ToolCall};
use serde::{Deserialize, Serialize};

use crate::AdminError;
use crate::fsutil::{base_name, check_file_name};

/// The name the shipped default policy is shown under.
pub const DEFAULT_NAME: &str = "default.yaml";
/// The file the shipped default is saved to, next to the config file.
pub const SAVED_DEFAULT_NAME: &str = "policy.yaml";
/// Records replayed when the caller gives no limit.
pub const DEFAULT_REPLAY: usize = 500;
/// Most records one replay judges (keeps the preview interactive).
pub const MAX_REPLAY: usize = 5000;

/// Where the policy in force comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// One YAML file.
    File(PathBuf),
    /// A directory whose `*.yaml`/`*.yml` files form one policy.
    Directory(PathBuf),
    /// The shipped default; saving writes `save_to` and points the config at it.
    Default {
        /// `<config dir>/policy.yaml`.
        save_to: PathBuf,
    },
}

/// `source` of a [`PolicyDoc`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// One file.
    File,
    /// A directory of files.
    Directory,
    /// The shipped default.
    Default,
}

/// One file of the policy, as the editor shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct PolicyFile {
    /// File name (the key the other commands take).
    pub name: String,
    /// Full path (None for the shipped default).
    pub path: Option<String>,
    /// The text on disk now.
    pub text: String,
}

/// The policy as the editor opens it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct PolicyDoc {
    /// File, directory or shipped default.
    pub source: SourceKind,
    /// The file or directory (None for the default).
    pub path: Option<String>,
    /// The files, in the order they form the policy.
    pub files: Vec<PolicyFile>,
    /// The version in force (the running engine's, else the one on disk; "" when it is broken).
    pub version: String,
}

/// `severity` of a [`Diagnostic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum DiagSeverity {
    /// Blocks saving.
    Error,
    /// Saving is allowed.
    Warning,
}

/// A problem at a place in a file, for the editor's gutter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: DiagSeverity,
    /// The file's name as in [`PolicyFile::name`].
    pub file: String,
    /// 1-based line.
    pub line: Option<usize>,
    /// 1-based column (characters).
    pub column: Option<usize>,
    /// What is wrong, and the fix when the loader knows it.
    pub message: String,
}

/// The result of validating an edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Validation {
    /// No errors (warnings allowed).
    pub ok: bool,
    /// The version the edited policy would have.
    pub version: Option<String>,
    /// Errors and warnings, in file order.
    pub diagnostics: Vec<Diagnostic>,
    /// Rules in the edited policy.
    pub rules: usize,
    /// Tests in the edited policy.
    pub tests: usize,
}

/// One policy test's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct TestResult {
    /// The test's name, else its file and number.
    pub name: String,
    /// Whether the expectation held.
    pub passed: bool,
    /// The expected decision (and rule, if the test names one).
    pub expected: String,
    /// The decision the policy made.
    pub actual: String,
    /// The rule that won (None: the default decision applied).
    pub rule_id: Option<String>,
    /// For a failure: the topic and the policy's reason.
    pub message: Option<String>,
}

/// The result of running the edited policy's tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct TestRun {
    /// The policy is valid and every test passed.
    pub ok: bool,
    /// Tests passed.
    pub passed: usize,
    /// Tests failed.
    pub failed: usize,
    /// One per test (only the failures if the tests could not be listed individually).
    pub results: Vec<TestResult>,
    /// The policy's diagnostics (tests do not run when it has errors).
    pub diagnostics: Vec<Diagnostic>,
}

/// One evidence record whose decision would change under the edited policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ReplayChange {
    /// The record's id.
    pub record_id: String,
    /// Its seq.
    pub seq: u64,
    /// When it was recorded.
    pub timestamp: String,
    /// The agent.
    pub agent: String,
    /// The tool.
    pub tool: String,
    /// The topic recorded.
    pub action: String,
    /// The target recorded.
    pub target: Option<String>,
    /// The decision recorded.
    pub old_decision: String,
    /// The rule recorded.
    pub old_rule: Option<String>,
    /// The edited policy's decision.
    pub new_decision: String,
    /// The edited policy's winning rule.
    pub new_rule: Option<String>,
    /// The edited policy's reason.
    pub new_reason: String,
}

/// What a replay found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Replay {
    /// Records judged again.
    pub replayed: usize,
    /// Records that could not be rebuilt as a call (built-in refusals such as tool pins and
    /// credential exfiltration, which no policy decides).
    pub skipped: usize,
    /// Records whose decision differs, newest first.
    pub changed: Vec<ReplayChange>,
}

/// A successful save.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Saved {
    /// The version now in force.
    pub version: String,
    /// The file written.
    pub path: String,
}

/// A reload (or a refused one), for the editor's status line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct PolicyEvent {
    /// When (RFC 3339 UTC).
    pub at: String,
    /// Whether the new policy is in force.
    pub ok: bool,
    /// The version now in force after a successful reload.
    pub version: Option<String>,
    /// What happened (for a refusal: `file:line:col: message` of the first error).
    pub message: String,
}

impl Location {
    /// Where the policy of `config` lives (`config_dir`: where the default is saved).
    pub fn of(policy: Option<&Path>, config_dir: &Path) -> Location {
        match policy {
            Some(p) if p.is_dir() => Location::Directory(p.to_path_buf()),
            Some(p) => Location::File(p.to_path_buf()),
            None => Location::Default {
                save_to: config_dir.join(SAVED_DEFAULT_NAME),
            },
        }
    }

    /// The file or directory (None for the default).
    pub fn path(&self) -> Option<&Path> {
        match self {
            Location::File(p) | Location::Directory(p) => Some(p),
            Location::Default { .. } => None,
        }
    }

    /// The files on disk now, in policy order (the same selection as [`Policy::load`]).
    pub fn files(&self) -> Result<Vec<PolicyFile>, AdminError> {
        match self {
            Location::File(path) => Ok(vec![PolicyFile {
                name: base_name(&path.display().to_string()).to_owned(),
                path: Some(path.display().to_string()),
                text: read_text(path)?,
            }]),
            Location::Directory(dir) => directory_files(dir)?
                .into_iter()
                .map(|(name, path)| {
                    Ok(PolicyFile {
                        name,
                        path: Some(path.display().to_string()),
                        text: read_text(&path)?,
                    })
                })
                .collect(),
            Location::Default { .. } => Ok(vec![PolicyFile {
                name: DEFAULT_NAME.to_owned(),
                path: None,
                text: Policy::shipped_default()
                    .sources()
                    .first()
                    .map(|s| s.text.clone())
                    .unwrap_or_default(),
            }]),
        }
    }

    /// The editor's view of the policy.
    pub fn doc(&self, running_version: Option<&str>) -> Result<PolicyDoc, AdminError> {
        let files = self.files()?;
        let version = match running_version {
            Some(v) => v.to_owned(),
            None => self
                .load()
                .map(|p| p.version().to_owned())
                .unwrap_or_default(),
        };
        Ok(PolicyDoc {
            source: match self {
                Location::File(_) => SourceKind::File,
                Location::Directory(_) => SourceKind::Directory,
                Location::Default { .. } => SourceKind::Default,
            },
            path: self.path().map(|p| p.display().to_string()),
            files,
            version,
        })
    }

    /// Loads the policy as the engine would.
    pub fn load(&self) -> Result<Policy, PolicyError> {
        match self {
            Location::File(p) | Location::Directory(p) => Policy::load(p),
            Location::Default { .. } => Ok(Policy::shipped_default()),
        }
    }

    /// The file an edit of `name` is written to.
    pub fn file_for(&self, name: &str) -> Result<PathBuf, AdminError> {
        let name = check_file_name(name)?;
        match self {
            Location::File(path) => {
                let own = base_name(&path.display().to_string()).to_owned();
                if name == own {
                    Ok(path.clone())
                } else {
                    Err(AdminError::NotFound(format!(
                        "the policy is the single file `{own}`, not `{name}`"
                    )))
                }
            }
            Location::Directory(dir) => Ok(dir.join(name)),
            Location::Default { save_to } => {
                if name == DEFAULT_NAME {
                    Ok(save_to.clone())
                } else {
                    Err(AdminError::NotFound(format!(
                        "the shipped default policy is edited as `{DEFAULT_NAME}`, not `{name}`"
                    )))
                }
            }
        }
    }

    /// The policy's sources with the edited file replacing (or joining) the others, named as
    /// [`Policy::load`] names them; and the editor name of each source.
    pub fn sources_with(&self, name: &str, text: &str) -> Result<(Vec<Source>, Names), AdminError> {
        let target = self.file_for(name)?;
        let mut files: Vec<(String, PathBuf, String)> = match self {
            Location::Directory(dir) => directory_files(dir)?
                .into_iter()
                .filter(|(n, _)| n != name)
                .map(|(n, p)| {
                    let text = read_text(&p)?;
                    Ok((n, p, text))
                })
                .collect::<Result<_, AdminError>>()?,
            _ => Vec::new(),
        };
        files.push((name.to_owned(), target, text.to_owned()));
        files.sort_by(|a, b| a.0.cmp(&b.0));
        let names = files
            .iter()
            .map(|(n, p, _)| (p.display().to_string(), n.clone()))
            .collect();
        let sources = files
            .into_iter()
            .map(|(_, p, text)| Source {
                name: p.display().to_string(),
                text,
            })
            .collect();
        Ok((sources, names))
    }
}

/// Source name (full path, as the loader names it) → the name the editor shows.
pub type Names = Vec<(String, String)>;

/// The edited policy, or the diagnostics that refuse it.
pub type Built = Result<Policy, Vec<Diagnostic>>;

/// `*.yaml`/`*.yml` files of a policy directory, non-hidden, in name order (as the loader).
fn directory_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, AdminError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| AdminError::io(format!("cannot read {}", dir.display()), e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| AdminError::io(format!("cannot read {}", dir.display()), e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if (name.ends_with(".yaml") || name.ends_with(".yml"))
            && !name.starts_with('.')
            && !entry.path().is_dir()
        {
            files.push((name, entry.path()));
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

fn read_text(path: &Path) -> Result<String, AdminError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| AdminError::io(format!("cannot read {}", path.display()), e))?;
    if meta.len() > u64::try_from(MAX_FILE_BYTES).unwrap_or(u64::MAX) {
        return Err(AdminError::Invalid(format!(
            "{} is larger than the policy limit of {MAX_FILE_BYTES} bytes",
            path.display()
        )));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| AdminError::io(format!("cannot read {}", path.display()), e))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The loader's diagnostics in the editor's shape (file names as the editor knows them; the
/// loader's fix suggestion folded into the message).
pub fn diagnostics(
    found: &[cordon_policy::Diagnostic],
    names: &[(String, String)],
) -> Vec<Diagnostic> {
    found
        .iter()
        .map(|d| {
            let file = names
                .iter()
                .find(|(source, _)| *source == d.file)
                .map(|(_, n)| n.clone())
                .unwrap_or_else(|| base_name(&d.file).to_owned());
            let message = match &d.help {
                Some(help) => format!("{} ({help})", d.message),
                None => d.message.clone(),
            };
            Diagnostic {
                severity: match d.severity {
                    Severity::Error => DiagSeverity::Error,
                    Severity::Warning => DiagSeverity::Warning,
                },
                file,
                line: (d.line > 0).then_some(d.line),
                column: (d.column > 0).then_some(d.column),
                message,
            }
        })
        .collect()
}

/// Builds the edited policy, or the diagnostics that refuse it.
pub fn build(location: &Location, name: &str, text: &str) -> Result<(Built, Names), AdminError> {
    let (sources, names) = location.sources_with(name, text)?;
    if text.len() > MAX_FILE_BYTES {
        // Refused before parsing: the text may be arbitrarily large.
        return Ok((
            Err(vec![Diagnostic {
                severity: DiagSeverity::Error,
                file: name.to_owned(),
                line: Some(1),
                column: Some(1),
                message: format!(
                    "policy file is {} bytes; the limit is {MAX_FILE_BYTES} bytes (split it into \
                     several files in one directory)",
                    text.len()
                ),
            }]),
            names,
        ));
    }
    let built = Policy::from_sources(&sources).map_err(|e| diagnostics(&e.diagnostics, &names));
    Ok((built, names))
}

/// Validates an edit.
pub fn validate(location: &Location, name: &str, text: &str) -> Result<Validation, AdminError> {
    let (built, names) = build(location, name, text)?;
    Ok(match built {
        Ok(policy) => Validation {
            ok: true,
            version: Some(policy.version().to_owned()),
            diagnostics: diagnostics(policy.warnings(), &names),
            rules: policy.rule_count(),
            tests: policy.test_count(),
        },
        Err(diagnostics) => Validation {
            ok: false,
            version: None,
            diagnostics,
            rules: 0,
            tests: 0,
        },
    })
}

/// One test as written, read independently of the loader to list passing tests by name.
#[derive(Debug, Deserialize)]
struct WrittenTest {
    name: Option<String>,
    call: ToolCall,
    expect: Decision,
    rule: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WrittenTests {
    #[serde(default)]
    tests: Vec<WrittenTest>,
}

/// Runs the edited policy's tests.
pub fn test(location: &Location, name: &str, text: &str) -> Result<TestRun, AdminError> {
    let (built, names) = build(location, name, text)?;
    let policy = match built {
        Ok(policy) => policy,
        Err(diagnostics) => {
            return Ok(TestRun {
                ok: false,
                passed: 0,
                failed: 0,
                results: Vec::new(),
                diagnostics,
            });
        }
    };
    let report = policy.run_tests();
    let results = listed_results(&policy, &names).unwrap_or_else(|| {
        // The tests could not be listed one by one: report the failures the loader's own
        // runner found (they are authoritative either way).
        report
            .failures
            .iter()
            .map(|f| TestResult {
                name: f
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("{}:{}:{}", base_name(&f.file), f.line, f.column)),
                passed: false,
                expected: expected_text(f.expected, f.expected_rule.as_deref()),
                actual: f.actual.as_str().to_owned(),
                rule_id: f.actual_rule.clone(),
                message: Some(format!("topic {}: {}", f.topic, f.reason)),
            })
            .collect()
    });
    Ok(TestRun {
        ok: report.is_success(),
        passed: report.passed,
        failed: report.failed,
        results,
        diagnostics: diagnostics(policy.warnings(), &names),
    })
}

fn expected_text(decision: Decision, rule: Option<&str>) -> String {
    match rule {
        Some(rule) => format!("{decision} (rule {rule})"),
        None => decision.as_str().to_owned(),
    }
}

/// Every test with its result, or None when the written tests do not line up with the loader's
/// count (then only the loader's failures are shown).
fn listed_results(policy: &Policy, names: &[(String, String)]) -> Option<Vec<TestResult>> {
    let mut out = Vec::new();
    for source in policy.sources() {
        let file = names
            .iter()
            .find(|(s, _)| *s == source.name)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| base_name(&source.name).to_owned());
        let written: WrittenTests = yaml_serde::from_str(&source.text).ok()?;
        for (i, t) in written.tests.into_iter().enumerate() {
            let verdict = policy.evaluate(&t.call);
            let passed = verdict.decision == t.expect
                && t.rule
                    .as_ref()
                    .is_none_or(|r| verdict.rule_id.as_ref() == Some(r));
            out.push(TestResult {
                name: t.name.unwrap_or_else(|| format!("{file} test {}", i + 1)),
                passed,
                expected: expected_text(t.expect, t.rule.as_deref()),
                actual: verdict.decision.as_str().to_owned(),
                rule_id: verdict.rule_id.clone(),
                message: (!passed)
                    .then(|| format!("topic {}: {}", verdict.classification.topic, verdict.reason)),
            });
        }
    }
    let report = policy.run_tests();
    let failed = out.iter().filter(|r| !r.passed).count();
    (out.len() == report.total() && failed == report.failed).then_some(out)
}

/// Rule ids of built-in refusals: decided by Cordon itself, not by any policy.
const BUILTIN_RULE_PREFIX: &str = "cordon:";

/// Judges the last `limit` evidence records again under `policy`.
pub fn replay(
    log: &EvidenceLog,
    policy: &Policy,
    limit: Option<usize>,
) -> Result<Replay, AdminError> {
    let limit = limit.unwrap_or(DEFAULT_REPLAY).clamp(1, MAX_REPLAY);
    let records = log.query(&Filter {
        limit: Some(limit),
        ..Filter::default()
    })?;
    let mut out = Replay {
        replayed: 0,
        skipped: 0,
        changed: Vec::new(),
    };
    for record in records {
        let Some((call, classification)) = rebuild(&record) else {
            out.skipped += 1;
            continue;
        };
        let classification = classification.unwrap_or_else(|| policy.classifier().classify(&call));
        let verdict = policy.evaluate_classified(&call, classification);
        out.replayed += 1;
        if verdict.decision.as_str() != record.decision {
            out.changed.push(ReplayChange {
                record_id: record.id,
                seq: record.seq,
                timestamp: record.timestamp,
                agent: record.call.agent,
                tool: record.call.tool,
                action: record.call.action,
                target: record.call.target,
                old_decision: record.call.decision,
                old_rule: record.call.rule_id,
                new_decision: verdict.decision.as_str().to_owned(),
                new_rule: verdict.rule_id,
                new_reason: verdict.reason,
            });
        }
    }
    Ok(out)
}

/// The call a record describes, and the gateway's own classification where the gateway (not
/// the classifier) classified it. None: the record is not a policy decision on a call.
fn rebuild(record: &Record) -> Option<(ToolCall, Option<cordon_policy::Classification>)> {
    if record
        .rule_id
        .as_deref()
        .is_some_and(|r| r.starts_with(BUILTIN_RULE_PREFIX))
    {
        return None;
    }
    if !(record.args.is_object() || record.args.is_null()) || record.tool.is_empty() {
        return None;
    }
    if !cordon_evidence::DECISIONS.contains(&record.decision.as_str()) {
        return None;
    }
    let call = ToolCall {
        agent: record.agent.clone(),
        server: record.server.clone(),
        tool: record.tool.clone(),
        args: record.args.clone(),
    };
    // Operations the gateway classifies itself are replayed with the gateway's classification.
    let classification = match record.action.as_str() {
        cordon_gateway::server::PROMPT_TOPIC => {
            let prompt = record.args.get("name").and_then(serde_json::Value::as_str);
            Some(cordon_gateway::server::prompt_classification(
                &record.server,
                prompt.unwrap_or(&record.tool),
            ))
        }
        cordon_gateway::server::COMPLETION_TOPIC => {
            Some(cordon_gateway::server::completion_classification(
                record.target.clone().unwrap_or_default(),
            ))
        }
        _ => None,
    };
    Some((call, classification))
}

/// The first error of a refused policy as one line, `file:line:col: message`.
pub fn first_error(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .find(|d| d.severity == DiagSeverity::Error)
        .map(|d| {
            format!(
                "{}:{}:{}: {}",
                d.file,
                d.line.unwrap_or(0),
                d.column.unwrap_or(0),
                d.message
            )
        })
        .unwrap_or_else(|| "the policy is invalid".to_owned())
}
