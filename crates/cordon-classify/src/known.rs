//! Mappings of known tools: the tools Cordon recognises by name, whoever serves them (Cordon's
//! own served tools are the gateway's `builtin`; here they are known tools like any other).
//! Matched by tool name (server names are chosen by the user, tool names by the server's
//! authors):
//!
//! - `@modelcontextprotocol/server-filesystem`, `mcp-server-git`, `@modelcontextprotocol/server-github`;
//! - Cordon's own tools (`file_read`, `git_push`, `run_command`...);
//! - Claude Code's native tools as its hook reports them (`Read`, `Write`, `Bash`...);
//! - shell tools (`run_command`, `execute_command`, `shell`, `bash`, `Bash`);
//! - MCP resource reads (`resources/read`).
//!
//! Anything else is `tool.<server>.<tool>`.
//!
//! GitHub mutations that publish text or code (issues, comments, pull requests, forks, new
//! repositories) map to `git.push`: they leave the machine and are visible to others, which is
//! what `git.push` rules guard. Those that change code on a branch (`push_files`,
//! `create_or_update_file`, `create_branch`, `merge_pull_request`, `update_pull_request_branch`)
//! carry `deploy`; the others carry `network` instead.

use serde_json::{Map, Value};

use crate::ToolCall;
use crate::draft::Draft;
use crate::fileurl::file_url_path;
use crate::path::normalize_path;
use crate::shell::{self, ShellOutcome};
use crate::topic::*;

/// A call as the known-tool mappings read it: drafts, target and diagnostics.
#[derive(Debug, Default)]
pub(crate) struct MappedCall {
    /// The parts before secret detection.
    pub drafts: Vec<Draft>,
    /// Short target for evidence.
    pub target: Option<String>,
    /// Why something was classified conservatively.
    pub diagnostics: Vec<String>,
}

const MAX_TARGET_CHARS: usize = 200;

/// Tool names that run their `command` argument in a shell.
const SHELL_TOOLS: &[&str] = &["run_command", "execute_command", "shell", "bash", "Bash"];

const GITHUB_READS: &[&str] = &[
    "get_file_contents",
    "search_repositories",
    "search_code",
    "search_issues",
    "search_users",
    "list_commits",
    "list_issues",
    "list_pull_requests",
    "get_issue",
    "get_pull_request",
    "get_pull_request_files",
    "get_pull_request_status",
    "get_pull_request_comments",
    "get_pull_request_reviews",
];

const GITHUB_CODE_PUSHES: &[&str] = &[
    "create_or_update_file",
    "push_files",
    "create_branch",
    "merge_pull_request",
    "update_pull_request_branch",
];

const GITHUB_PUBLISHES: &[&str] = &[
    "create_issue",
    "update_issue",
    "add_issue_comment",
    "create_pull_request",
    "create_pull_request_review",
    "fork_repository",
    "create_repository",
];

/// How a file tool uses one argument.
#[derive(Clone, Copy)]
enum Arg {
    /// A single path (string).
    One(&'static str),
    /// An array of paths.
    Many(&'static str),
}

/// Classify a call with the known-tool mappings.
pub(crate) fn classify(call: &ToolCall) -> MappedCall {
    let mut out = MappedCall::default();
    let empty = Map::new();
    let args: &Map<String, Value> = match &call.args {
        Value::Object(m) => m,
        Value::Null => &empty,
        other => {
            out.diagnostics.push(format!(
                "arguments are {}, not an object: classified conservatively",
                json_type(other)
            ));
            if SHELL_TOOLS.contains(&call.tool.as_str()) {
                out.drafts.push(Draft::new(EXEC_SHELL));
            } else {
                let mut paths = Vec::new();
                nested_strings(other, &mut paths, 0);
                out.drafts.push(
                    Draft::new(&tool_topic(&call.server, &call.tool))
                        .reads(paths.iter().map(|p| normalize_path(p, None))),
                );
            }
            return out;
        }
    };
    let tool = call.tool.as_str();
    if call.server == crate::NATIVE_SERVER && native_tool(call, args, &mut out) {
        return out;
    }
    use Arg::{Many, One};
    match tool {
        // Files: filesystem server, Cordon, Claude Code.
        "read_file" | "read_text_file" | "read_media_file" | "get_file_info" | "file_read" => {
            file_tool(call, args, READ_FILE, &[One("path")], false, &mut out);
        }
        "Read" => file_tool(call, args, READ_FILE, &[One("file_path")], false, &mut out),
        "read_multiple_files" => {
            file_tool(call, args, READ_FILE, &[Many("paths")], false, &mut out)
        }
        "write_file" | "edit_file" | "file_write" | "file_edit" => {
            file_tool(call, args, WRITE_FILE, &[One("path")], true, &mut out);
        }
        "Write" | "Edit" | "MultiEdit" => {
            file_tool(call, args, WRITE_FILE, &[One("file_path")], true, &mut out);
        }
        "NotebookEdit" => file_tool(
            call,
            args,
            WRITE_FILE,
            &[One("notebook_path")],
            true,
            &mut out,
        ),
        "create_directory" => file_tool(call, args, WRITE_MKDIR, &[One("path")], true, &mut out),
        "list_directory" | "list_directory_with_sizes" | "directory_tree" | "LS" => {
            file_tool(call, args, READ_DIR, &[One("path")], false, &mut out);
        }
        "list_allowed_directories" => out.drafts.push(Draft::new(READ_DIR)),
        "move_file" => file_tool(
            call,
            args,
            WRITE_MOVE,
            &[One("source"), One("destination")],
            true,
            &mut out,
        ),
        "search_files" | "Glob" | "Grep" => {
            file_tool(call, args, READ_SEARCH, &[One("path")], false, &mut out);
        }
        "WebFetch" | "WebSearch" => {
            out.target = str_arg(args, "url").or_else(|| str_arg(args, "query"));
            out.drafts.push(Draft::new(READ_WEB));
        }
        // Git: mcp-server-git and Cordon.
        "git_status" | "git_diff_unstaged" | "git_diff_staged" | "git_diff" | "git_log"
        | "git_show" | "git_branch" => git_tool(call, args, READ_GIT, &mut out),
        "git_commit" => git_tool(call, args, GIT_COMMIT, &mut out),
        // mcp-server-git's git_reset unstages everything (index reset): no history change.
        "git_add" | "git_reset" | "git_create_branch" | "git_checkout" | "git_init" => {
            git_tool(call, args, WRITE_FILE, &mut out);
        }
        "git_push" => git_push_tool(args, &mut out),
        // GitHub.
        t if GITHUB_READS.contains(&t) => {
            out.target = github_target(args);
            out.drafts.push(Draft::new(READ_WEB));
        }
        t if GITHUB_CODE_PUSHES.contains(&t) => {
            out.target = github_target(args);
            out.drafts.push(Draft::new(GIT_PUSH));
        }
        t if GITHUB_PUBLISHES.contains(&t) => {
            out.target = github_target(args);
            out.drafts.push(Draft::new(GIT_PUSH).tag(TAG_NETWORK));
        }
        // Shells.
        t if SHELL_TOOLS.contains(&t) => shell_tool(args, &mut out),
        "resources/read" => resource_read(call, args, &mut out),
        _ => unknown_tool(call, args, &mut out),
    }
    if let Some(known) = known_read_args(tool) {
        let extra: Vec<&String> = args
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .collect();
        if !extra.is_empty() {
            out.diagnostics.push(format!(
                "{tool} is given arguments it does not document ({}): not a proven read",
                extra
                    .iter()
                    .map(|k| format!("{k:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            let unknown = tool_topic(&call.server, &call.tool);
            for d in &mut out.drafts {
                if d.topic.starts_with("read.")
                    && !matches!(d.topic.as_str(), READ_ENV | READ_SECRETS)
                {
                    d.topic = unknown.clone();
                }
            }
        }
    }
    if tool.starts_with("git_") {
        for (k, v) in args {
            if let Value::String(s) = v
                && s.starts_with('-')
                && !matches!(k.as_str(), "message" | "content")
            {
                out.diagnostics.push(format!(
                    "argument {k:?} of {tool} starts with '-': it would be read as a git option"
                ));
                out.drafts.push(Draft::new(EXEC_SHELL));
            }
        }
    }
    // Tools are judged by their arguments too: command-like fields anywhere in the arguments
    // are classified as commands (the strictest part wins), so a read tool or an unknown tool
    // cannot launder `terraform destroy`.
    let shell = SHELL_TOOLS.contains(&tool);
    let mut sh = ShellOutcome::default();
    command_fields(&Value::Object(args.clone()), shell, 0, &mut sh);
    if !sh.drafts.is_empty() {
        out.diagnostics.push(format!(
            "{tool}: command-like arguments classified as commands"
        ));
        out.drafts.extend(sh.drafts);
        out.diagnostics.extend(sh.diagnostics);
    }
    if out.drafts.is_empty() {
        out.diagnostics
            .push("nothing classified: conservative fallback".to_owned());
        out.drafts.push(Draft::new(EXEC_SHELL));
    }
    out
}

/// Agents' built-in bookkeeping tools that change nothing outside the conversation.
const NATIVE_PLAN: &[&str] = &[
    // Claude Code 2.1: the to-do list (TodoWrite; TaskCreate/Get/Update/List are its newer
    // form: "tasks" are to-do items, not processes), plan mode, a question to the user.
    "TodoWrite",
    "TaskCreate",
    "TaskGet",
    "TaskUpdate",
    "TaskList",
    "EnterPlanMode",
    "ExitPlanMode",
    "AskUserQuestion",
    // Codex's plan; the Gemini CLI's to-do list, chapter title, plan mode, question to the user.
    // (Its `invoke_agent` is not here: a Gemini subagent may be a remote A2A agent, out of the
    // hooks' reach.)
    "update_plan",
    "write_todos",
    "update_topic",
    "enter_plan_mode",
    "exit_plan_mode",
    "ask_user",
];

/// Agents' tools over background commands they started (judged when they started): reading
/// their output or stopping them.
const NATIVE_TASKS: &[&str] = &[
    "TaskOutput",
    "BashOutput",
    "TaskStop",
    "KillShell",
    "KillBash",
    // The Gemini CLI's background shells.
    "list_background_processes",
    "read_background_output",
];

/// An agent's own tool reported by its hook (server [`crate::NATIVE_SERVER`]) that has a
/// mapping of its own: housekeeping tools (`agent.*`) and Codex's `apply_patch`. Returns false
/// for every other tool, which then goes through the shared mappings (`Bash`, `Read`...) or
/// becomes an unknown tool. Housekeeping arguments are not searched for commands: none of these
/// tools runs anything.
fn native_tool(call: &ToolCall, args: &Map<String, Value>, out: &mut MappedCall) -> bool {
    let tool = call.tool.as_str();
    match tool {
        t if NATIVE_PLAN.contains(&t) => out.drafts.push(Draft::new(AGENT_PLAN)),
        t if NATIVE_TASKS.contains(&t) => {
            out.target = str_arg(args, "task_id")
                .or_else(|| str_arg(args, "shell_id"))
                .or_else(|| str_arg(args, "bash_id"))
                .or_else(|| args.get("pid").map(Value::to_string));
            out.drafts.push(Draft::new(AGENT_TASK));
        }
        // A sub-agent in the same process: its tool calls reach the same hooks. `isolation`
        // changes that: `remote` runs it in a cloud sandbox Cordon never sees, `worktree`
        // creates a git worktree first. Those stay unknown tools (a human decides).
        "Agent" | "Task" => {
            if !matches!(args.get("isolation"), None | Some(Value::Null)) {
                out.diagnostics.push(format!(
                    "{tool} with `isolation`: the sub-agent may run where Cordon's hooks do not reach"
                ));
                return false;
            }
            out.target = str_arg(args, "description").map(|d| truncate(&d));
            out.drafts.push(Draft::new(AGENT_SUBAGENT));
        }
        "Skill" | "activate_skill" => {
            out.target = str_arg(args, "skill")
                .or_else(|| str_arg(args, "name"))
                .or_else(|| str_arg(args, "command"));
            out.drafts.push(Draft::new(AGENT_SKILL));
        }
        "apply_patch" => apply_patch(args, out),
        // Codex shows the model an image file: a read of that file.
        "view_image" => file_tool(call, args, READ_FILE, &[Arg::One("path")], false, out),
        _ => return false,
    }
    true
}

/// Codex's `apply_patch`: the patch text (`{"command": "*** Begin Patch…"}`, also accepted as
/// `input` or `patch`, or as the `apply_patch <<'EOF'` heredoc Codex's shell form wraps it in)
/// is parsed for the files it touches: `*** Add File:` and `*** Update File:` are writes,
/// `*** Delete File:` a removal, `*** Move to:` a move, each with its path, so a patch touching
/// `.env`, `.git/hooks` or Cordon's own state meets the same rules as a direct write. A patch
/// that cannot be read names no file Cordon could judge: it is a shell command (`exec.shell`).
fn apply_patch(args: &Map<String, Value>, out: &mut MappedCall) {
    let text = ["command", "input", "patch"]
        .iter()
        .find_map(|k| match args.get(*k) {
            Some(Value::String(s)) => Some(s.clone()),
            // `{"command": ["apply_patch", "<patch>"]}`: the argv form.
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .find(|s| s.contains("*** Begin Patch"))
                .map(str::to_owned),
            _ => None,
        });
    let Some(text) = text else {
        out.diagnostics
            .push("apply_patch without a patch text: classified as exec.shell".to_owned());
        out.drafts.push(Draft::new(EXEC_SHELL));
        return;
    };
    match patch_files(&text) {
        Ok(ops) => {
            out.target = ops.first().map(|(_, p)| normalize_path(p, None));
            let mut last_update: Option<usize> = None;
            for (op, path) in ops {
                let path = normalize_path(&path, None);
                match op {
                    PatchOp::Write => {
                        out.drafts.push(Draft::new(WRITE_FILE).writes([path]));
                        last_update = out.drafts.len().checked_sub(1);
                    }
                    PatchOp::Delete => {
                        out.drafts.push(Draft::new(WRITE_REMOVE).writes([path]));
                        last_update = None;
                    }
                    PatchOp::MoveTo => {
                        // The move belongs to the `Update File` before it.
                        if let Some(d) = last_update.and_then(|i| out.drafts.get_mut(i)) {
                            *d = std::mem::replace(d, Draft::new(WRITE_MOVE)).writes([path]);
                            d.escalate(WRITE_MOVE);
                        } else {
                            out.drafts.push(Draft::new(WRITE_MOVE).writes([path]));
                        }
                        last_update = None;
                    }
                }
            }
        }
        Err(why) => {
            out.diagnostics
                .push(format!("apply_patch: {why}: classified as exec.shell"));
            out.drafts.push(Draft::new(EXEC_SHELL));
        }
    }
}

/// What a patch does to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PatchOp {
    /// `*** Add File:` or `*** Update File:`.
    Write,
    /// `*** Delete File:`.
    Delete,
    /// `*** Move to:` (after an `Update File`).
    MoveTo,
}

/// The file operations of a Codex patch (`*** Begin Patch` … `*** End Patch`), in order. Lines
/// of a hunk (`+`, `-`, ` `, `@@`) are skipped; any other `*** ` line, a missing envelope or a
/// patch touching no file is an error: Cordon judges only a patch it has read whole.
fn patch_files(text: &str) -> Result<Vec<(PatchOp, String)>, String> {
    let start = text
        .find("*** Begin Patch")
        .ok_or("no `*** Begin Patch` line")?;
    let body = text.get(start..).unwrap_or_default();
    let mut ops = Vec::new();
    let mut ended = false;
    for line in body.lines().skip(1) {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim_end() == "*** End Patch" {
            ended = true;
            break;
        }
        let Some(header) = line.strip_prefix("*** ") else {
            continue;
        };
        let (op, path) = if let Some(p) = header.strip_prefix("Add File:") {
            (PatchOp::Write, p)
        } else if let Some(p) = header.strip_prefix("Update File:") {
            (PatchOp::Write, p)
        } else if let Some(p) = header.strip_prefix("Delete File:") {
            (PatchOp::Delete, p)
        } else if let Some(p) = header.strip_prefix("Move to:") {
            (PatchOp::MoveTo, p)
        } else if header.trim_end() == "End of File" {
            continue;
        } else {
            return Err(format!("unknown patch line `*** {}`", truncate(header)));
        };
        let path = path.trim();
        if path.is_empty() {
            return Err("a file operation without a path".to_owned());
        }
        ops.push((op, path.to_owned()));
        if ops.len() > 1000 {
            return Err("more than 1000 file operations".to_owned());
        }
    }
    if !ended {
        return Err("no `*** End Patch` line".to_owned());
    }
    if ops.is_empty() {
        return Err("the patch touches no file".to_owned());
    }
    Ok(ops)
}

/// The arguments a known read tool documents; any other makes the call unproven (a server
/// may act on it in ways the mapping does not know).
fn known_read_args(tool: &str) -> Option<&'static [&'static str]> {
    Some(match tool {
        "read_file" | "read_text_file" => &["path", "head", "tail"],
        "file_read" => &[
            "path",
            "offset",
            "limit",
            "max_bytes",
            "start_line",
            "end_line",
        ],
        "read_media_file" | "get_file_info" | "list_allowed_directories" => &["path"],
        "Read" => &["file_path", "offset", "limit", "pages"],
        "read_multiple_files" => &["paths"],
        "list_directory" => &["path"],
        "list_directory_with_sizes" => &["path", "sortBy"],
        "directory_tree" => &["path", "excludePatterns"],
        "LS" => &["path", "ignore"],
        "search_files" => &[
            "path",
            "pattern",
            "excludePatterns",
            "content",
            "regex",
            "case_sensitive",
            "include_hidden",
            "max_results",
        ],
        "Glob" => &["pattern", "path"],
        "Grep" => &[
            "pattern",
            "path",
            "glob",
            "type",
            "output_mode",
            "-i",
            "-n",
            "-A",
            "-B",
            "-C",
            "multiline",
            "head_limit",
            "offset",
        ],
        "git_status" => &["repo_path", "path"],
        "git_diff_unstaged" | "git_diff_staged" => &["repo_path", "context_lines"],
        "git_diff" => &[
            "repo_path",
            "target",
            "context_lines",
            "path",
            "staged",
            "ref",
            "paths",
        ],
        "git_log" => &[
            "repo_path",
            "max_count",
            "start_timestamp",
            "end_timestamp",
            "path",
            "ref",
        ],
        "git_show" => &["repo_path", "revision"],
        "git_branch" => &["repo_path", "branch_type", "contains", "not_contains"],
        _ => return None,
    })
}

/// Argument names that carry a command line (a string) or an argv (an array of strings).
const COMMAND_KEYS: &[&str] = &[
    "command",
    "cmd",
    "script",
    "code",
    "shell",
    "bash",
    "sh",
    "exec",
    "run",
    "commandline",
    "command_line",
    "shell_command",
];
const ARGV_KEYS: &[&str] = &["args", "argv", "arguments"];

/// Classify every command-like field in `v` (bounded depth). A shell tool's own top-level
/// `command` is classified by [`shell_tool`] already.
fn command_fields(v: &Value, shell: bool, depth: usize, out: &mut ShellOutcome) {
    if depth > 6 || out.drafts.len() > 64 {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let key = k.to_ascii_lowercase();
                let top_shell_command = shell && depth == 0 && key == "command";
                if COMMAND_KEYS.contains(&key.as_str()) && !top_shell_command {
                    match x {
                        Value::String(s) if !s.trim().is_empty() => {
                            shell::classify_command_line(s, 0, out);
                        }
                        Value::Array(items)
                            if !items.is_empty() && items.iter().all(Value::is_string) =>
                        {
                            let argv: Vec<String> = items
                                .iter()
                                .filter_map(Value::as_str)
                                .map(str::to_owned)
                                .collect();
                            shell::classify_argv_top(&argv, out);
                        }
                        _ => command_fields(x, shell, depth + 1, out),
                    }
                } else if ARGV_KEYS.contains(&key.as_str())
                    && let Value::Array(items) = x
                    && !items.is_empty()
                    && items.iter().all(Value::is_string)
                {
                    // An argv next to a command (`{"command": "git", "args": [...]}`) was
                    // classified with it below; alone it is a command of its own.
                    let mut argv: Vec<String> = Vec::new();
                    if let Some(Value::String(c)) = m.get("command").or_else(|| m.get("cmd"))
                        && !c.contains(char::is_whitespace)
                    {
                        argv.push(c.clone());
                    }
                    argv.extend(items.iter().filter_map(Value::as_str).map(str::to_owned));
                    shell::classify_argv_top(&argv, out);
                } else {
                    command_fields(x, shell, depth + 1, out);
                }
            }
        }
        Value::Array(items) => {
            for x in items {
                command_fields(x, shell, depth + 1, out);
            }
        }
        _ => {}
    }
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

fn str_arg(args: &Map<String, Value>, key: &str) -> Option<String> {
    args.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Every string inside a JSON value (bounded), for arguments of the wrong shape.
fn nested_strings(v: &Value, out: &mut Vec<String>, depth: usize) {
    if depth > 8 || out.len() > 64 {
        return;
    }
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| nested_strings(x, out, depth + 1)),
        Value::Object(m) => m.values().for_each(|x| nested_strings(x, out, depth + 1)),
        _ => {}
    }
}

/// A file tool. A missing path leaves the topic as it is, without paths (the server cannot act
/// on nothing). A path of the wrong JSON type is suspicious (some servers coerce objects into
/// paths): every string inside it counts as a path, and a read tool is escalated to the
/// unknown-tool topic so that a `read.*: allow` rule does not wave it through.
fn file_tool(
    call: &ToolCall,
    args: &Map<String, Value>,
    topic: &str,
    keys: &[Arg],
    write: bool,
    out: &mut MappedCall,
) {
    let mut paths = Vec::new();
    let mut suspicious = Vec::new();
    let mut bad_type = false;
    for key in keys {
        let (name, many) = match key {
            Arg::One(k) => (*k, false),
            Arg::Many(k) => (*k, true),
        };
        match (args.get(name), many) {
            (None | Some(Value::Null), _) => out
                .diagnostics
                .push(format!("argument {name:?} is missing: no path recorded")),
            (Some(Value::String(s)), false) => paths.push(normalize_path(s, None)),
            (Some(Value::Array(items)), true) => {
                for item in items {
                    match item {
                        Value::String(s) => paths.push(normalize_path(s, None)),
                        other => {
                            out.diagnostics.push(format!(
                                "an element of {name:?} is {}, not a string",
                                json_type(other)
                            ));
                            bad_type = true;
                            nested_strings(other, &mut suspicious, 0);
                        }
                    }
                }
            }
            (Some(other), _) => {
                out.diagnostics.push(format!(
                    "argument {name:?} is {}, not a {}: classified conservatively",
                    json_type(other),
                    if many { "list of paths" } else { "path" }
                ));
                bad_type = true;
                nested_strings(other, &mut suspicious, 0);
            }
        }
    }
    let escalate = bad_type && topic.starts_with("read.");
    let mut d = if escalate {
        Draft::new(&tool_topic(&call.server, &call.tool))
    } else {
        Draft::new(topic)
    };
    let suspicious: Vec<String> = suspicious.iter().map(|s| normalize_path(s, None)).collect();
    out.target = paths.first().cloned();
    if write {
        d = d.writes(paths).writes(suspicious);
    } else {
        d = d.reads(paths).reads(suspicious);
    }
    out.drafts.push(d);
}

fn git_tool(call: &ToolCall, args: &Map<String, Value>, topic: &str, out: &mut MappedCall) {
    let mut d = Draft::new(topic);
    match args.get("repo_path") {
        Some(Value::String(s)) => {
            let p = normalize_path(s, None);
            out.target = Some(p.clone());
            d = d.reads([p]);
        }
        None | Some(Value::Null) => {}
        Some(other) => {
            out.diagnostics.push(format!(
                "argument \"repo_path\" is {}, not a path",
                json_type(other)
            ));
            if topic.starts_with("read.") {
                d = Draft::new(&tool_topic(&call.server, &call.tool));
            }
        }
    }
    if let Some(Value::Array(files)) = args.get("files") {
        d = d.writes(
            files
                .iter()
                .filter_map(Value::as_str)
                .map(|f| normalize_path(f, None)),
        );
    }
    out.drafts.push(d);
}

/// Cordon's `git_push {remote, branch, force}`: force when `force` is anything but `false`
/// (a string `"true"` counts), or the branch starts with `+` (forced refspec) or `:` (delete).
fn git_push_tool(args: &Map<String, Value>, out: &mut MappedCall) {
    let remote = str_arg(args, "remote").unwrap_or_else(|| "(default)".to_owned());
    let branch = str_arg(args, "branch").unwrap_or_else(|| "(current)".to_owned());
    let force_flag = !matches!(
        args.get("force"),
        None | Some(Value::Null | Value::Bool(false))
    );
    let mut argv = vec![remote.clone(), branch.clone()];
    if force_flag {
        argv.push("--force".to_owned());
    }
    let info = shell::analyse_push(&argv);
    out.target = Some(info.target);
    let mut d = Draft::new(if info.force { GIT_FORCE_PUSH } else { GIT_PUSH });
    if let Some(p) = str_arg(args, "repo_path").or_else(|| str_arg(args, "path")) {
        d = d.reads([normalize_path(&p, None)]);
    }
    out.drafts.push(d);
}

fn github_target(args: &Map<String, Value>) -> Option<String> {
    let owner = str_arg(args, "owner");
    let repo = str_arg(args, "repo");
    let branch = str_arg(args, "branch");
    match (owner, repo) {
        (Some(o), Some(r)) => Some(match branch {
            Some(b) => format!("{o}/{r}/{b}"),
            None => format!("{o}/{r}"),
        }),
        _ => str_arg(args, "query").or_else(|| str_arg(args, "name")),
    }
}

fn truncate(s: &str) -> String {
    if s.chars().count() <= MAX_TARGET_CHARS {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(MAX_TARGET_CHARS).collect();
        t.push('…');
        t
    }
}

fn shell_tool(args: &Map<String, Value>, out: &mut MappedCall) {
    let mut sh = ShellOutcome::default();
    let cwd = ["cwd", "workdir", "working_directory", "directory"]
        .iter()
        .find_map(|k| args.get(*k));
    let cwd_path = match cwd {
        Some(Value::String(s)) => Some(normalize_path(s, None)),
        None | Some(Value::Null) => None,
        Some(other) => {
            sh.diagnostics.push(format!(
                "working directory is {}, not a path: ignored",
                json_type(other)
            ));
            None
        }
    };
    sh.cwd = cwd_path.clone();
    match args.get("command") {
        Some(Value::String(cmd)) => {
            out.target = Some(truncate(cmd));
            shell::classify_command_line(cmd, 0, &mut sh);
        }
        Some(Value::Array(items)) if items.iter().all(Value::is_string) && !items.is_empty() => {
            let argv: Vec<String> = items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            out.target = Some(truncate(&argv.join(" ")));
            shell::classify_argv_top(&argv, &mut sh);
        }
        other => {
            let what = other.map_or("missing", json_type);
            sh.diagnostics.push(format!(
                "shell tool with a command that is {what}: classified as exec.shell"
            ));
            sh.drafts.push(Draft::new(EXEC_SHELL));
        }
    }
    if sh.drafts.is_empty() {
        sh.diagnostics
            .push("empty command: classified as exec.shell".to_owned());
        sh.drafts.push(Draft::new(EXEC_SHELL));
    }
    if let (Some(c), Some(first)) = (cwd_path, sh.drafts.first_mut()) {
        *first = std::mem::replace(first, Draft::new(READ_FILE)).reads([c]);
    }
    out.drafts.extend(sh.drafts);
    out.diagnostics.extend(sh.diagnostics);
}

fn resource_read(call: &ToolCall, args: &Map<String, Value>, out: &mut MappedCall) {
    let Some(uri) = str_arg(args, "uri") else {
        out.diagnostics
            .push("resources/read without a string uri: classified conservatively".to_owned());
        out.drafts
            .push(Draft::new(&tool_topic(&call.server, &call.tool)));
        return;
    };
    out.target = Some(truncate(&uri));
    if let Some(path) = file_url_path(&uri) {
        let path = normalize_path(&path, None);
        out.drafts.push(Draft::new(READ_FILE).reads([path]));
    } else {
        out.drafts.push(Draft::new(READ_WEB));
    }
}

/// An unknown tool: `tool.<server>.<tool>`, with the string arguments whose names suggest a
/// path recorded as paths (so a secret path still makes it `read.env`/`read.secrets`).
fn unknown_tool(call: &ToolCall, args: &Map<String, Value>, out: &mut MappedCall) {
    let mut paths = Vec::new();
    // Any string value that is, by itself, a secret path (`{"profile": "~/.aws/config"}`).
    let mut all = Vec::new();
    nested_strings(&Value::Object(args.clone()), &mut all, 0);
    for s in all {
        let n = normalize_path(&file_url_path(&s).unwrap_or_else(|| s.clone()), None);
        if !s.contains(char::is_whitespace) && crate::path::secret_kind(&n).is_some() {
            paths.push(n);
        }
    }
    for (k, v) in args {
        let key = k.to_ascii_lowercase();
        let pathy = [
            "path",
            "file",
            "dir",
            "source",
            "destination",
            "uri",
            "target",
            "folder",
        ]
        .iter()
        .any(|p| key.contains(p));
        if pathy {
            let mut found = Vec::new();
            nested_strings(v, &mut found, 0);
            for s in found {
                let n = normalize_path(&file_url_path(&s).unwrap_or_else(|| s.clone()), None);
                if !paths.contains(&n) {
                    paths.push(n);
                }
            }
        }
    }
    out.target = paths.first().cloned();
    out.drafts
        .push(Draft::new(&tool_topic(&call.server, &call.tool)).reads(paths));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_char_boundaries() {
        let long = "é".repeat(500);
        assert_eq!(truncate(&long).chars().count(), MAX_TARGET_CHARS + 1);
    }
}
