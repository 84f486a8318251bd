//! Tool definitions as plain JSON-ready data: the gateway converts them into MCP `Tool`s, so
//! this crate needs no MCP SDK.

use serde::Serialize;
use serde_json::{Value, json};

use crate::{DEFAULT_TIMEOUT_MS, MAX_SEARCH_RESULTS, MAX_TIMEOUT_MS};

/// One built-in tool as MCP describes a tool: the gateway lists it beside the upstream
/// servers' tools and the agent reads it to know how to call.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolDefinition {
    /// Unique tool name, e.g. `file_read` (the classifier maps these names to topics).
    pub name: String,
    /// Short human title for client UIs.
    pub title: String,
    /// What the tool does and its limits, for the agent.
    pub description: String,
    /// JSON Schema (draft 2020-12 subset) of the arguments object.
    pub input_schema: Value,
    /// MCP behaviour hints; honest, but only hints: policy, not these, decides.
    pub annotations: ToolAnnotations,
}

/// MCP tool annotations (`readOnlyHint`, ...), so clients can present tools sensibly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolAnnotations {
    /// The tool does not modify its environment.
    pub read_only_hint: bool,
    /// The tool may perform destructive updates (overwrite, delete, rewrite history).
    pub destructive_hint: bool,
    /// Calling it again with the same arguments has no additional effect.
    pub idempotent_hint: bool,
    /// The tool reaches outside the local workspace (network, arbitrary programs).
    pub open_world_hint: bool,
}

const READ_ONLY: ToolAnnotations = ToolAnnotations {
    read_only_hint: true,
    destructive_hint: false,
    idempotent_hint: true,
    open_world_hint: false,
};

fn def(
    name: &str,
    title: &str,
    description: &str,
    schema: Value,
    ann: ToolAnnotations,
) -> ToolDefinition {
    ToolDefinition {
        name: name.to_owned(),
        title: title.to_owned(),
        description: description.to_owned(),
        input_schema: schema,
        annotations: ann,
    }
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

fn path_prop(what: &str) -> Value {
    json!({"type": "string", "minLength": 1, "description": what})
}

fn repo_prop() -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "description": "A directory inside the repository (default: the first workspace root). \
                        The repository's top level must lie inside the workspace roots."
    })
}

/// The names of every built-in tool, in definition order (a test keeps it in sync with
/// [`definitions`]), so callers can check a name without building the schemas.
pub const TOOL_NAMES: [&str; 11] = [
    "file_read",
    "file_write",
    "file_edit",
    "list_directory",
    "search_files",
    "git_status",
    "git_diff",
    "git_log",
    "git_commit",
    "git_push",
    "run_command",
];

/// Every built-in tool's definition, so the gateway can list them (possibly renamed or
/// switched off by config) beside the upstream servers' tools.
pub fn definitions() -> Vec<ToolDefinition> {
    vec![
        def(
            "file_read",
            "Read file",
            "Read a text file inside the workspace roots. Relative paths are relative to the first \
             root. Output is capped at 1 MiB (a note says when it was truncated); invalid UTF-8 is \
             shown with replacement characters.",
            object(json!({"path": path_prop("File to read.")}), &["path"]),
            READ_ONLY,
        ),
        def(
            "file_write",
            "Write file",
            "Create or overwrite a file inside the workspace roots with the given content. Missing \
             parent directories are created. The change is shown as a diff for review and applied \
             atomically; it is refused if the file changed after the diff was prepared. Writing \
             inside a `.git` directory is refused.",
            object(
                json!({
                    "path": path_prop("File to create or overwrite."),
                    "content": {"type": "string", "description": "The complete new content."}
                }),
                &["path", "content"],
            ),
            ToolAnnotations {
                read_only_hint: false,
                destructive_hint: true,
                idempotent_hint: true,
                open_world_hint: false,
            },
        ),
        def(
            "file_edit",
            "Edit file",
            "Apply exact-text replacements to an existing UTF-8 file, in order. Each `oldText` must \
             occur exactly once in the file (after the previous edits); otherwise nothing is \
             written and the error says which edit failed. With `dryRun` the diff is returned and \
             nothing is written.",
            object(
                json!({
                    "path": path_prop("File to edit."),
                    "edits": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "properties": {
                                "oldText": {"type": "string", "minLength": 1, "description": "Text to find; must match exactly once."},
                                "newText": {"type": "string", "description": "Replacement text."}
                            },
                            "required": ["oldText", "newText"],
                            "additionalProperties": false
                        }
                    },
                    "dryRun": {"type": "boolean", "default": false, "description": "Only show the diff."}
                }),
                &["path", "edits"],
            ),
            ToolAnnotations {
                read_only_hint: false,
                destructive_hint: true,
                idempotent_hint: false,
                open_world_hint: false,
            },
        ),
        def(
            "list_directory",
            "List directory",
            "List the entries of a directory inside the workspace roots (not recursive), marked \
             [DIR], [FILE] or [LINK]. Capped at 10000 entries.",
            object(
                json!({"path": path_prop("Directory to list (default: the first root).")}),
                &[],
            ),
            READ_ONLY,
        ),
        def(
            "search_files",
            "Search files",
            "Search recursively under a directory, respecting .gitignore/.ignore files and \
             skipping hidden files unless asked. `pattern` is a glob matched against file names \
             (or against the relative path when it contains `/`); `content` finds lines containing \
             a substring (or a regex with `regex: true`). At least one of them is required; when \
             both are given a file must match both. Binary files and files over 8 MiB are not \
             content-searched. Results are capped.",
            object(
                json!({
                    "path": path_prop("Directory to search (default: the first root)."),
                    "pattern": {"type": "string", "minLength": 1, "description": "Glob, e.g. `*.rs` or `src/**/test_*.py`."},
                    "content": {"type": "string", "minLength": 1, "description": "Text to find inside files."},
                    "regex": {"type": "boolean", "default": false, "description": "Treat `content` as a regular expression (Rust regex syntax)."},
                    "case_sensitive": {"type": "boolean", "default": true},
                    "include_hidden": {"type": "boolean", "default": false, "description": "Also search hidden files (.git is always skipped)."},
                    "max_results": {"type": "integer", "minimum": 1, "maximum": MAX_SEARCH_RESULTS, "default": 200}
                }),
                &[],
            ),
            READ_ONLY,
        ),
        def(
            "git_status",
            "Git status",
            "Show the branch and the short status of the working tree.",
            object(json!({"path": repo_prop()}), &[]),
            READ_ONLY,
        ),
        def(
            "git_diff",
            "Git diff",
            "Show changes: unstaged (default), staged (`staged: true`), or between the working \
             tree (or the index, with `staged`) and a commit (`ref`). Optionally limited to \
             `paths`. Output is capped at 1 MiB.",
            object(
                json!({
                    "path": repo_prop(),
                    "staged": {"type": "boolean", "default": false},
                    "ref": {"type": "string", "minLength": 1, "description": "Commit, branch or tag to compare against."},
                    "paths": {"type": "array", "items": {"type": "string", "minLength": 1}, "description": "Limit the diff to these paths."}
                }),
                &[],
            ),
            READ_ONLY,
        ),
        def(
            "git_log",
            "Git log",
            "Show recent commits (hash, author, date, subject), newest first.",
            object(
                json!({
                    "path": repo_prop(),
                    "max_count": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 20},
                    "ref": {"type": "string", "minLength": 1, "description": "Start from this commit, branch or tag (default HEAD)."}
                }),
                &[],
            ),
            READ_ONLY,
        ),
        def(
            "git_commit",
            "Git commit",
            "Record a commit with the given message. `paths` are staged first (`git add -A`); \
             otherwise whatever is already staged is committed. Refuses an empty commit. Needs a \
             git identity (user.name and user.email).",
            object(
                json!({
                    "path": repo_prop(),
                    "message": {"type": "string", "minLength": 1, "description": "Commit message."},
                    "paths": {"type": "array", "items": {"type": "string", "minLength": 1}, "description": "Files or directories to stage before committing."}
                }),
                &["message"],
            ),
            ToolAnnotations {
                read_only_hint: false,
                destructive_hint: false,
                idempotent_hint: false,
                open_world_hint: false,
            },
        ),
        def(
            "git_push",
            "Git push",
            "Push a local branch to the same-named branch of a configured remote, using the \
             user's git credentials. `force: true` uses --force-with-lease (refuses to overwrite \
             remote commits you have not fetched). Remotes must be configured names, not URLs.",
            object(
                json!({
                    "path": repo_prop(),
                    "remote": {"type": "string", "minLength": 1, "default": "origin", "description": "Name of a configured remote."},
                    "branch": {"type": "string", "minLength": 1, "description": "Local branch to push (default: the current branch)."},
                    "force": {"type": "boolean", "default": false, "description": "Overwrite the remote branch (uses --force-with-lease)."}
                }),
                &[],
            ),
            ToolAnnotations {
                read_only_hint: false,
                destructive_hint: true,
                idempotent_hint: true,
                open_world_hint: true,
            },
        ),
        def(
            "run_command",
            "Run command",
            "Run a command in a directory inside the workspace roots. `command` is either a string \
             (run with `sh -c`) or an argv array (run directly, no shell). The process group is \
             killed when `timeout_ms` passes. stdout and stderr are each capped at 1 MiB; the exit \
             code is reported. stdin is empty.",
            object(
                json!({
                    "command": {
                        "oneOf": [
                            {"type": "string", "minLength": 1},
                            {"type": "array", "items": {"type": "string"}, "minItems": 1}
                        ],
                        "description": "Shell command string, or argv array."
                    },
                    "cwd": path_prop("Working directory (default: the first root)."),
                    "timeout_ms": {"type": "integer", "minimum": 1, "maximum": MAX_TIMEOUT_MS, "default": DEFAULT_TIMEOUT_MS}
                }),
                &["command"],
            ),
            ToolAnnotations {
                read_only_hint: false,
                destructive_hint: true,
                idempotent_hint: false,
                open_world_hint: true,
            },
        ),
    ]
}
