//! Cordon's built-in workspace tools: files, search, git and commands, confined to the
//! agent's workspace roots.
//!
//! They exist so the governed workflow ("read a file, write a fix approved with its diff,
//! push the branch approved") works with no other MCP server installed. The crate is a
//! plain library on purpose: it knows nothing of MCP, policy or evidence. The gateway lists
//! [`definitions`], and for each call runs [`Workspace::prepare`] (validation, confinement,
//! the diff or push preview that the approval window shows), then its policy/approval
//! pipeline, then [`Workspace::execute`].
//!
//! Invariants:
//! - every path argument goes through [`Workspace::resolve`]: after `..` and symlinks it
//!   lies inside a root, or the call is refused;
//! - file changes are applied atomically and only if the file is still the one whose diff
//!   was reviewed ([`ToolError::ChangedSinceReview`]);
//! - every child process (git included) runs with a time limit and capped output, and its
//!   whole process group is killed when the call ends.
//!
//! Calls block; the gateway runs them in `spawn_blocking`.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use cordon_tools::Workspace;
//! use serde_json::json;
//!
//! let dir = tempfile::tempdir()?;
//! let ws = Workspace::new(vec![dir.path().to_path_buf()])?;
//! let prepared = ws.prepare("file_write", &json!({"path": "notes.txt", "content": "hi\n"}))?;
//! assert!(prepared.preview().unwrap_or_default().contains("+hi"));
//! // ... the gateway's policy decides, or a human approves the diff ...
//! let out = ws.execute(prepared)?;
//! assert!(!out.is_error);
//! assert!(ws.prepare("file_read", &json!({"path": "../escape"})).is_err());
//! # Ok(())
//! # }
//! ```

mod command;
mod defs;
mod error;
mod exec;
mod files;
mod git;
mod paths;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde_json::Value;

pub use defs::{TOOL_NAMES, ToolAnnotations, ToolDefinition, definitions};
pub use error::ToolError;

/// Default `run_command` time limit, in milliseconds (one minute).
pub const DEFAULT_TIMEOUT_MS: u64 = 60_000;
/// Largest `timeout_ms` accepted, so a call cannot hold a worker thread for hours.
pub const MAX_TIMEOUT_MS: u64 = 600_000;
/// Cap on captured output per stream and on text returned by a tool (1 MiB), so one call
/// cannot flood the agent's context or the evidence log.
pub const OUTPUT_CAP: usize = 1024 * 1024;
/// Largest `max_results` accepted by `search_files`.
pub const MAX_SEARCH_RESULTS: u64 = 5000;

/// The workspace the built-in tools are confined to, plus how they run git.
///
/// Build one per agent session from the roots the user granted; it is cheap to clone and
/// holds no open resources.
#[derive(Clone)]
pub struct Workspace {
    roots: Vec<PathBuf>,
    identity: Option<(String, String)>,
    git_program: PathBuf,
    git_env: Vec<(OsString, OsString)>,
    /// When set, commands and git start from exactly this environment (the engine's own
    /// variables are not inherited).
    base_env: Option<Vec<(OsString, OsString)>>,
}

impl std::fmt::Debug for Workspace {
    // Hand-written so the git environment (which may carry a token) is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workspace")
            .field("roots", &self.roots)
            .field("identity", &self.identity)
            .field("git_program", &self.git_program)
            .field(
                "git_env",
                &self.git_env.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Workspace {
    /// Confine the tools to `roots`. Each root is canonicalised (so later containment checks
    /// compare real paths) and must be an existing directory; the first root is where
    /// relative paths start.
    pub fn new(roots: Vec<PathBuf>) -> Result<Workspace, ToolError> {
        if roots.is_empty() {
            return Err(ToolError::invalid(
                "a workspace needs at least one root directory",
            ));
        }
        let mut canonical: Vec<PathBuf> = Vec::with_capacity(roots.len());
        for root in roots {
            let c = crate::paths::canonicalize(&root).map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    ToolError::NotFound {
                        what: format!("workspace root `{}`", root.display()),
                    }
                } else {
                    ToolError::io(root.display(), e)
                }
            })?;
            if !c.is_dir() {
                return Err(ToolError::invalid(format!(
                    "workspace root `{}` is not a directory",
                    root.display()
                )));
            }
            if !canonical.contains(&c) {
                canonical.push(c);
            }
        }
        Ok(Workspace {
            roots: canonical,
            identity: None,
            git_program: PathBuf::from("git"),
            git_env: Vec::new(),
            base_env: None,
        })
    }

    /// Commit as this identity (`user.name`, `user.email`) instead of requiring one in the
    /// user's git config; for users who want agent commits attributed distinctly.
    pub fn with_identity(mut self, name: impl Into<String>, email: impl Into<String>) -> Self {
        self.identity = Some((name.into(), email.into()));
        self
    }

    /// Use this git executable instead of `git` on `PATH` (desktop apps often start with a
    /// minimal `PATH`).
    pub fn with_git_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.git_program = program.into();
        self
    }

    /// Add an environment variable for git processes only (never for `run_command`), e.g. a
    /// credential helper configuration or a token taken from the keychain. Values are never
    /// printed (not even by `Debug`).
    pub fn with_git_env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.git_env.push((key.into(), value.into()));
        self
    }

    /// Start `run_command` and git from exactly this environment instead of the engine's
    /// (the gateway passes the same allowlist its upstreams get), so variables of the engine's
    /// shell, tokens included, never reach a command the agent runs.
    pub fn with_env_allowlist(mut self, env: Vec<(OsString, OsString)>) -> Self {
        self.base_env = Some(env);
        self
    }

    /// The canonical roots, first root first, so the gateway can show and log them.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// The identity configured with [`Workspace::with_identity`], if any.
    pub fn identity(&self) -> Option<(&str, &str)> {
        self.identity
            .as_ref()
            .map(|(n, e)| (n.as_str(), e.as_str()))
    }

    /// Turn a path argument into a real path inside the roots, or refuse.
    ///
    /// Relative paths start at the first root. `..` and symlinks are resolved by the
    /// filesystem (for a path that does not exist yet, its longest existing ancestor is
    /// canonicalised and the rest must be plain names); the result must lie inside a root,
    /// otherwise [`ToolError::OutsideRoots`]. NUL bytes, empty and over-long paths are
    /// refused as invalid.
    pub fn resolve(&self, path: &str) -> Result<PathBuf, ToolError> {
        paths::resolve(&self.roots, path)
    }

    /// Validate a call and compute what it would do, before any policy decision or
    /// approval: for `file_write`/`file_edit` the new content, the unified diff and the hash
    /// of the file it was computed from; for `git_push` a best-effort preview of the commits
    /// it would push; for `run_command` the command. Nothing is changed on disk.
    pub fn prepare(&self, tool: &str, args: &Value) -> Result<Prepared, ToolError> {
        let empty = serde_json::Map::new();
        let map = match args {
            Value::Object(m) => m,
            Value::Null => &empty,
            other => {
                return Err(ToolError::invalid(format!(
                    "{tool}: arguments must be a JSON object, got {}",
                    json_type(other)
                )));
            }
        };
        let a = Args::new(tool, map);
        let (op, preview) = match tool {
            "file_read" => files::prepare_read(self, &a)?,
            "file_write" => files::prepare_write(self, &a)?,
            "file_edit" => files::prepare_edit(self, &a)?,
            "list_directory" => files::prepare_list(self, &a)?,
            "search_files" => files::prepare_search(self, &a)?,
            "git_status" | "git_diff" | "git_log" | "git_commit" | "git_push" => {
                git::prepare(self, tool, &a)?
            }
            "run_command" => command::prepare(self, &a)?,
            other => {
                return Err(ToolError::invalid(format!(
                    "unknown built-in tool `{other}`; known tools: {}",
                    TOOL_NAMES.join(", ")
                )));
            }
        };
        Ok(Prepared {
            tool: tool.to_owned(),
            args: args.clone(),
            preview,
            op,
        })
    }

    /// Carry out a prepared call (after the policy allowed it or a human approved it).
    /// File changes are refused with [`ToolError::ChangedSinceReview`] if the file is no
    /// longer the one the diff was computed from.
    ///
    /// The result's text is also in its structured part (see [`ToolOutput::with_text`]).
    pub fn execute(&self, prepared: Prepared) -> Result<ToolOutput, ToolError> {
        self.execute_unless(prepared, None)
    }

    /// [`Workspace::execute`], with a command or a git operation stopped as soon as `stop` says
    /// so: the engine passes "the agent cancelled or went away", so a cancelled call does not run
    /// on to its time limit. Its process group gets SIGTERM, then SIGKILL after a grace period,
    /// so git removes its lock files as it goes.
    pub fn execute_unless(
        &self,
        prepared: Prepared,
        stop: Option<&(dyn Fn() -> bool + Sync)>,
    ) -> Result<ToolOutput, ToolError> {
        let output = match prepared.op {
            Op::File(op) => files::execute(self, op),
            Op::Git(op) => git::execute(self, op, stop),
            Op::Command(op) => command::execute(self, op, stop),
        }?;
        Ok(output.with_text())
    }
}

/// A validated call, ready to be judged and then executed.
///
/// It carries what the reviewer sees ([`Prepared::preview`]) and, for file changes, the
/// exact content that will be written: what gets approved is what gets applied.
#[derive(Debug, Clone)]
pub struct Prepared {
    tool: String,
    args: Value,
    preview: Option<String>,
    op: Op,
}

impl Prepared {
    /// The tool name the call was prepared for.
    pub fn tool(&self) -> &str {
        &self.tool
    }

    /// The arguments as the agent sent them (for classification and the evidence record).
    pub fn args(&self) -> &Value {
        &self.args
    }

    /// Human-readable preview for the approval window and the evidence: the unified diff of
    /// a file change, the push summary, or the command to run. `None` for reads.
    pub fn preview(&self) -> Option<&str> {
        self.preview.as_deref()
    }

    /// The sha256 (hex) of the on-disk file the diff was computed from; `None` for a new
    /// file or a tool that changes no file.
    pub fn base_hash(&self) -> Option<&str> {
        match &self.op {
            Op::File(files::FileOp::Write(w)) => w.base_hash.as_deref(),
            _ => None,
        }
    }

    /// The resolved main path the call touches (file, directory, repository or working
    /// directory), for the evidence record's target.
    pub fn target(&self) -> Option<&Path> {
        match &self.op {
            Op::File(op) => Some(op.target()),
            Op::Git(op) => Some(op.repo()),
            Op::Command(op) => Some(op.cwd.as_path()),
        }
    }

    /// True for a `file_edit` with `dryRun`: executing it only returns the diff.
    pub fn is_dry_run(&self) -> bool {
        matches!(&self.op, Op::File(files::FileOp::Write(w)) if w.dry_run)
    }
}

/// What a tool returns to the agent.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    /// The text shown to the agent.
    pub text: String,
    /// The tool ran but reports failure (e.g. a command's non-zero exit), as MCP's
    /// `isError`; refusals are [`ToolError`]s instead.
    pub is_error: bool,
    /// Machine-readable result (MCP `structuredContent`), when the tool has one. It always
    /// carries `text` too (see [`ToolOutput::with_text`]).
    pub structured: Option<Value>,
}

impl ToolOutput {
    /// Copies the text into the structured result as `text` (when there is one and it has no
    /// `text` of its own).
    ///
    /// Why: real agents hand the model `structuredContent` *instead of* the content blocks
    /// when it is present (Claude Code and Codex CLI both do), so a structured result without
    /// the file's contents or the command's output would leave the model blind. MCP clients
    /// that show the content blocks see the same text there.
    pub fn with_text(mut self) -> ToolOutput {
        if let Some(Value::Object(map)) = &mut self.structured
            && !map.contains_key("text")
        {
            map.insert("text".to_owned(), Value::String(self.text.clone()));
        }
        self
    }
}

#[derive(Debug, Clone)]
enum Op {
    File(files::FileOp),
    Git(git::GitOp),
    Command(command::CommandOp),
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Typed access to a tool's arguments with clear errors (the schemas say
/// `additionalProperties: false`, and this enforces it).
pub(crate) struct Args<'a> {
    tool: &'a str,
    map: &'a serde_json::Map<String, Value>,
}

impl<'a> Args<'a> {
    fn new(tool: &'a str, map: &'a serde_json::Map<String, Value>) -> Self {
        Args { tool, map }
    }

    /// Refuse keys the schema does not list.
    pub(crate) fn only(&self, allowed: &[&str]) -> Result<(), ToolError> {
        for key in self.map.keys() {
            if !allowed.contains(&key.as_str()) {
                return Err(ToolError::invalid(format!(
                    "{}: unknown argument `{key}`; accepted: {}",
                    self.tool,
                    allowed.join(", ")
                )));
            }
        }
        Ok(())
    }

    fn wrong(&self, key: &str, want: &str, got: &Value) -> ToolError {
        ToolError::invalid(format!(
            "{}: argument `{key}` must be {want}, got {}",
            self.tool,
            json_type(got)
        ))
    }

    pub(crate) fn raw(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<&'a str>, ToolError> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(self.wrong(key, "a string", other)),
        }
    }

    pub(crate) fn req_str(&self, key: &str) -> Result<&'a str, ToolError> {
        self.opt_str(key)?.ok_or_else(|| {
            ToolError::invalid(format!("{}: missing required argument `{key}`", self.tool))
        })
    }

    pub(crate) fn opt_bool(&self, key: &str) -> Result<Option<bool>, ToolError> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong(key, "a boolean", other)),
        }
    }

    pub(crate) fn opt_u64(&self, key: &str, min: u64, max: u64) -> Result<Option<u64>, ToolError> {
        match self.raw(key) {
            None => Ok(None),
            Some(v @ Value::Number(n)) => match n.as_u64() {
                Some(x) if (min..=max).contains(&x) => Ok(Some(x)),
                _ => Err(ToolError::invalid(format!(
                    "{}: argument `{key}` must be an integer from {min} to {max}, got {v}",
                    self.tool
                ))),
            },
            Some(other) => Err(self.wrong(key, "an integer", other)),
        }
    }

    pub(crate) fn opt_str_list(&self, key: &str) -> Result<Option<Vec<&'a str>>, ToolError> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.as_str()),
                    other => Err(self.wrong(&format!("{key}[]"), "a string", other)),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(self.wrong(key, "an array of strings", other)),
        }
    }
}

/// Cut text to at most `cap` bytes on a character boundary; returns whether it was cut.
pub(crate) fn cap_text(text: &mut String, cap: usize) -> bool {
    if text.len() <= cap {
        return false;
    }
    let mut end = cap;
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    true
}

/// Show a resolved path relative to the root that contains it (short, and the same on
/// every machine), or in full.
pub(crate) fn display_path(ws: &Workspace, path: &Path) -> String {
    for root in &ws.roots {
        if let Ok(rel) = path.strip_prefix(root) {
            let s = rel.display().to_string();
            return if s.is_empty() { ".".to_owned() } else { s };
        }
    }
    path.display().to_string()
}
