//! `cordon hook claude-code|codex|gemini|cursor`: native-tool hooks judged by the same policy.
//!
//! The agent runs this before its built-in tools with one JSON object on stdin. The call is sent
//! to the running engine (`Request::Hook`), which classifies it, holds it for a human if the
//! policy says so, records it, and answers allow or deny; this command answers in the agent's
//! format. Fail closed: no engine, a broken reply, or unreadable input all deny.
//!
//! Protocols followed:
//! - Claude Code hooks reference (https://docs.claude.com/en/docs/claude-code/hooks): stdin
//!   `{session_id, transcript_path, cwd, permission_mode, hook_event_name, tool_name, tool_input,
//!   tool_use_id}`; PreToolUse answers on stdout with exit 0
//!   `{"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision":
//!   "allow"|"deny"|"ask", "permissionDecisionReason": ...}}`; exit 2 blocks with stderr as the
//!   reason (used for unreadable input, where no JSON answer can be trusted).
//! - Codex CLI hooks (`~/.codex/hooks.json`, Claude-compatible): PreToolUse stdin `{session_id,
//!   turn_id, cwd, hook_event_name, model, permission_mode, tool_name, tool_input, tool_use_id}`
//!   (its shell arrives as `Bash {command}`); Codex 0.171 supports only `deny` as a decision, so
//!   an allowed call answers `{}` (proceed) and a refused one the Claude-style deny.
//! - Gemini CLI hooks (`hooks.BeforeTool` in settings.json): stdin `{session_id, cwd,
//!   hook_event_name: "BeforeTool", tool_name, tool_input}` with its own tool names
//!   (`run_shell_command`, `read_file`, `write_file`, `replace`...), which are mapped to the
//!   classifier's; answers `{"decision": "allow"|"deny", "reason"}`.
//!
//! Every adapter denies an event or payload it does not understand: a neutral answer would let
//! an unknown tool run unjudged.
//! - Cursor hooks (https://cursor.com/docs/agent/hooks, payloads as in the cursor-hooks type
//!   definitions): common `{hook_event_name, conversation_id, generation_id, workspace_roots}`;
//!   `beforeShellExecution {command, cwd}` and `beforeMCPExecution {tool_name, tool_input,
//!   command|url}` answer `{"permission": "allow"|"deny"|"ask", "user_message",
//!   "agent_message"}` (older releases read `userMessage`/`agentMessage`: both are sent);
//!   `beforeReadFile {file_path, content}` answers `{"permission"}`; `beforeSubmitPrompt`
//!   answers `{"continue": true}`; `after*`/`stop` are fire-and-forget (`{}`). Exit code 2 blocks.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use cordon_gateway::Config;
use cordon_gateway::control::{self, Request};
use serde_json::{Map, Value, json};

/// Largest hook payload read from stdin (a Write of a large file is still far below this).
const MAX_INPUT_BYTES: u64 = 32 * 1024 * 1024;
/// The hook gives up (deny) before the agent's own hook timeout (installed as 600 s) would kill
/// it: a killed hook is a non-blocking error in Claude Code, which would let the tool run.
const HOOK_DEADLINE: Duration = Duration::from_secs(590);
/// Exit code that blocks the tool in both agents' protocols.
const EXIT_BLOCK: u8 = 2;

/// Arguments of `cordon hook`.
#[derive(Debug, Args)]
pub struct HookArgs {
    /// The agent whose hook protocol to speak (claude-code, codex, gemini or cursor).
    pub agent: String,
    /// Config file (default: $CORDON_CONFIG, else ~/.config/cordon/config.yaml).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// What to do with one hook invocation.
enum Plan {
    /// Ask the engine about this call.
    Judge {
        session_id: String,
        tool: String,
        args: Value,
        cwd: Option<String>,
    },
    /// Allow without asking (e.g. a call to Cordon's own MCP server, already governed there).
    Allow(String),
    /// Answer this JSON without asking (notifications, post-tool events).
    Reply(Value),
}

/// The engine's answer, or why there is none.
struct Answer {
    allow: bool,
    reason: String,
}

/// Answers one hook invocation (reads the agent's JSON on stdin).
pub fn run(args: HookArgs) -> anyhow::Result<ExitCode> {
    let agent = args.agent.as_str();
    if !["claude-code", "codex", "gemini", "cursor"].contains(&agent) {
        eprintln!(
            "cordon hook: unknown agent `{agent}` (use claude-code, codex, gemini or cursor): denied"
        );
        return Ok(ExitCode::from(EXIT_BLOCK));
    }
    let mut raw = Vec::new();
    let read = std::io::stdin()
        .lock()
        .take(MAX_INPUT_BYTES)
        .read_to_end(&mut raw);
    let input = match read {
        Err(e) => Err(format!("cannot read the hook input: {e}")),
        Ok(_) if raw.len() as u64 >= MAX_INPUT_BYTES => {
            Err(format!("hook input larger than {MAX_INPUT_BYTES} bytes"))
        }
        Ok(_) => serde_json::from_slice::<Value>(&raw)
            .map_err(|e| format!("hook input is not JSON: {e}"))
            .and_then(|v| match v {
                Value::Object(map) => Ok(map),
                _ => Err("hook input is not a JSON object".to_owned()),
            }),
    };
    let input = match input {
        Ok(input) => input,
        Err(reason) => return Ok(malformed(agent, &reason)),
    };
    let plan = match agent {
        "claude-code" | "codex" => plan_claude(&input),
        "gemini" => plan_gemini(&input),
        _ => plan_cursor(&input),
    };
    let plan = match plan {
        Ok(plan) => plan,
        Err(reason) => return Ok(malformed(agent, &reason)),
    };
    let answer = match plan {
        Plan::Reply(value) => {
            println!("{value}");
            return Ok(ExitCode::SUCCESS);
        }
        Plan::Allow(reason) => Answer {
            allow: true,
            reason,
        },
        Plan::Judge {
            session_id,
            tool,
            args: tool_args,
            cwd,
        } => ask_engine(
            args.config,
            Request::Hook {
                agent: agent.to_owned(),
                session_id,
                tool,
                args: tool_args,
                cwd,
            },
        ),
    };
    let event = input
        .get("hook_event_name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let out = match agent {
        "claude-code" => claude_answer(&answer),
        // Codex accepts only `deny`; proceeding is the neutral answer.
        "codex" if answer.allow => json!({}),
        "codex" => claude_answer(&answer),
        "gemini" => gemini_answer(&answer),
        _ => cursor_answer(event, &answer),
    };
    println!("{out}");
    let _ = std::io::stdout().flush();
    Ok(ExitCode::SUCCESS)
}

/// Unreadable input or an event Cordon does not know: block with the reason on stderr (exit 2
/// in every protocol), plus a deny answer on stdout for Cursor and Gemini, which read it.
fn malformed(agent: &str, reason: &str) -> ExitCode {
    let text = format!("Cordon denied this call: {reason}");
    if agent == "gemini" {
        println!(
            "{}",
            gemini_answer(&Answer {
                allow: false,
                reason: text.clone()
            })
        );
    }
    if agent == "cursor" {
        println!(
            "{}",
            cursor_answer(
                "beforeShellExecution",
                &Answer {
                    allow: false,
                    reason: text.clone()
                }
            )
        );
    }
    eprintln!("{text}");
    ExitCode::from(EXIT_BLOCK)
}

fn ask_engine(config: Option<PathBuf>, mut request: Request) -> Answer {
    let deny = |reason: String| Answer {
        allow: false,
        reason,
    };
    let config = match Config::resolve(config) {
        Ok(config) => config,
        Err(e) => {
            return deny(format!(
                "Cordon denied this call: Cordon is not running (its config cannot be read: {e})"
            ));
        }
    };
    // Codex and the Gemini CLI give their MCP server no session id: file this call in the
    // session of the `cordon mcp` the same agent process started, when there is one.
    if let Request::Hook {
        agent, session_id, ..
    } = &mut request
        && matches!(agent.as_str(), "codex" | "gemini")
        && let Some(shared) = cordon_gateway::agent_session::for_hook(agent, &config.socket)
    {
        *session_id = shared;
    }
    let size = serde_json::to_vec(&request).map_or(usize::MAX, |v| v.len());
    if u64::try_from(size).unwrap_or(u64::MAX) >= control::MAX_REQUEST_BYTES {
        return deny(format!(
            "Cordon denied this call: its input ({size} bytes) is larger than the {} KiB Cordon can review through the control channel",
            control::MAX_REQUEST_BYTES / 1024
        ));
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return deny(format!("Cordon denied this call: internal error ({e})")),
    };
    let asked = runtime.block_on(async {
        tokio::time::timeout(HOOK_DEADLINE, control::request(&config.socket, &request)).await
    });
    let reply = match asked {
        Err(_) => {
            return deny(format!(
                "Cordon denied this call: no decision within {}s",
                HOOK_DEADLINE.as_secs()
            ));
        }
        Ok(Err(cordon_gateway::GatewayError::NotRunning { socket, reason })) => {
            return deny(format!(
                "Cordon denied this call: Cordon is not running (no engine at {}: {reason}); start it with `cordon serve` or the desktop app",
                socket.display()
            ));
        }
        Ok(Err(e)) => {
            return deny(format!(
                "Cordon denied this call: Cordon is not running or refused the request ({e})"
            ));
        }
        Ok(Ok(reply)) => reply,
    };
    let reason = reply
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or("no reason given")
        .to_owned();
    match reply.get("decision").and_then(Value::as_str) {
        Some("allow") => Answer {
            allow: true,
            reason,
        },
        Some("deny") => deny(reason),
        _ => deny("Cordon denied this call: the engine sent a malformed answer".to_owned()),
    }
}

fn str_field<'a>(input: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    input.get(key).and_then(Value::as_str)
}

/// Claude Code's (and Codex's) events after the fact or not about a tool: nothing to judge.
const CLAUDE_NEUTRAL_EVENTS: &[&str] = &[
    "PostToolUse",
    "PostToolUseFailure",
    "Notification",
    "Stop",
    "SubagentStop",
    "SessionStart",
    "SessionEnd",
    "PreCompact",
    "PostCompact",
];

/// Claude Code and Codex: PreToolUse is judged; events after the fact need no answer; any other
/// event is refused (an unknown "before" event must not pass unjudged).
fn plan_claude(input: &Map<String, Value>) -> Result<Plan, String> {
    let event = str_field(input, "hook_event_name").ok_or("missing hook_event_name")?;
    if CLAUDE_NEUTRAL_EVENTS.contains(&event) {
        // The tool already ran (PostToolUse) or the event is not about a tool: nothing to judge,
        // and the PreToolUse call already left its evidence record.
        return Ok(Plan::Reply(json!({})));
    }
    if event != "PreToolUse" {
        return Err(format!("hook event `{event}` is not one Cordon judges"));
    }
    let tool = str_field(input, "tool_name")
        .filter(|t| !t.is_empty())
        .ok_or("missing tool_name")?;
    let args = match input.get("tool_input") {
        Some(Value::Object(map)) => Value::Object(map.clone()),
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(_) => return Err("tool_input is not an object".to_owned()),
    };
    if tool.starts_with("mcp__cordon__") {
        return Ok(Plan::Allow(
            "a Cordon MCP tool: governed by the Cordon gateway itself".to_owned(),
        ));
    }
    Ok(Plan::Judge {
        session_id: str_field(input, "session_id")
            .unwrap_or_default()
            .to_owned(),
        tool: tool.to_owned(),
        args,
        cwd: str_field(input, "cwd").map(str::to_owned),
    })
}

/// Gemini CLI: `BeforeTool` is judged, its tool names mapped to the classifier's (Claude Code's
/// built-in names, which the classifier knows); `AfterTool` and lifecycle events need no answer;
/// anything else is refused.
fn plan_gemini(input: &Map<String, Value>) -> Result<Plan, String> {
    let event = str_field(input, "hook_event_name").ok_or("missing hook_event_name")?;
    match event {
        "BeforeTool" => {}
        "AfterTool" | "SessionStart" | "SessionEnd" | "Notification" | "PreCompress"
        | "AfterAgent" | "AfterModel" => return Ok(Plan::Reply(json!({}))),
        other => return Err(format!("hook event `{other}` is not one Cordon judges")),
    }
    let tool = str_field(input, "tool_name")
        .filter(|t| !t.is_empty())
        .ok_or("missing tool_name")?;
    let args = match input.get("tool_input") {
        Some(Value::Object(map)) => map.clone(),
        None | Some(Value::Null) => Map::new(),
        Some(_) => return Err("tool_input is not an object".to_owned()),
    };
    if tool.starts_with("mcp_cordon_") {
        return Ok(Plan::Allow(
            "a Cordon MCP tool: governed by the Cordon gateway itself".to_owned(),
        ));
    }
    let cwd = str_field(input, "cwd").map(str::to_owned);
    let (tool, args) = gemini_to_classifier(tool, args);
    Ok(Plan::Judge {
        session_id: str_field(input, "session_id")
            .unwrap_or_default()
            .to_owned(),
        tool,
        args: Value::Object(args),
        cwd,
    })
}

/// Renames a Gemini CLI tool and its arguments to the Claude Code vocabulary the classifier
/// knows (`run_shell_command {command}` → `Bash {command}`, `read_file {absolute_path}` →
/// `Read {file_path}`...). Unknown tools keep their name and arguments: the classifier makes
/// them `tool.<agent>.<name>`, which the policy judges as an unknown tool.
fn gemini_to_classifier(tool: &str, mut args: Map<String, Value>) -> (String, Map<String, Value>) {
    let rename = |args: &mut Map<String, Value>, from: &str, to: &str| {
        if !args.contains_key(to)
            && let Some(v) = args.remove(from)
        {
            args.insert(to.to_owned(), v);
        }
    };
    let name = match tool {
        "run_shell_command" => {
            if let Some(dir) = args.remove("directory") {
                args.insert("cwd".to_owned(), dir);
            }
            "Bash"
        }
        "read_file" => {
            rename(&mut args, "absolute_path", "file_path");
            rename(&mut args, "path", "file_path");
            "Read"
        }
        "write_file" => {
            rename(&mut args, "absolute_path", "file_path");
            "Write"
        }
        "replace" => {
            rename(&mut args, "absolute_path", "file_path");
            "Edit"
        }
        "list_directory" => {
            rename(&mut args, "dir_path", "path");
            "LS"
        }
        "glob" => "Glob",
        "grep_search" | "search_file_content" => "Grep",
        "web_fetch" => "WebFetch",
        "google_web_search" => "WebSearch",
        other => other,
    };
    (name.to_owned(), args)
}

/// Cursor: shell commands and file reads are judged (as Claude Code's `Bash` and `Read`, which
/// the classifier maps); MCP calls to servers other than Cordon are judged as unknown tools.
fn plan_cursor(input: &Map<String, Value>) -> Result<Plan, String> {
    let event = str_field(input, "hook_event_name").ok_or("missing hook_event_name")?;
    let session_id = str_field(input, "conversation_id")
        .unwrap_or_default()
        .to_owned();
    let root = input
        .get("workspace_roots")
        .and_then(Value::as_array)
        .and_then(|roots| roots.first())
        .and_then(Value::as_str)
        .map(str::to_owned);
    match event {
        "beforeShellExecution" => {
            let command = str_field(input, "command").ok_or("missing command")?;
            let cwd = str_field(input, "cwd").map(str::to_owned).or(root);
            let mut args = Map::new();
            args.insert("command".into(), Value::String(command.to_owned()));
            if let Some(cwd) = &cwd {
                args.insert("cwd".into(), Value::String(cwd.clone()));
            }
            Ok(Plan::Judge {
                session_id,
                tool: "Bash".to_owned(),
                args: Value::Object(args),
                cwd,
            })
        }
        "beforeReadFile" => {
            let path = str_field(input, "file_path").ok_or("missing file_path")?;
            // The file's content is in the payload: it is deliberately not sent or recorded.
            Ok(Plan::Judge {
                session_id,
                tool: "Read".to_owned(),
                args: json!({"file_path": path}),
                cwd: root,
            })
        }
        "beforeMCPExecution" => {
            let tool = str_field(input, "tool_name").ok_or("missing tool_name")?;
            let command = str_field(input, "command").unwrap_or_default();
            if is_cordon_command(command) {
                return Ok(Plan::Allow(
                    "a Cordon MCP tool: governed by the Cordon gateway itself".to_owned(),
                ));
            }
            let args = match input.get("tool_input") {
                Some(Value::String(s)) => {
                    serde_json::from_str(s).unwrap_or(Value::String(s.clone()))
                }
                Some(v) => v.clone(),
                None => Value::Null,
            };
            Ok(Plan::Judge {
                session_id,
                tool: format!("mcp:{tool}"),
                args,
                cwd: root,
            })
        }
        "beforeSubmitPrompt" => Ok(Plan::Reply(json!({"continue": true}))),
        // After the fact or lifecycle: nothing to judge (`{}` is Cursor's fire-and-forget).
        "afterShellExecution"
        | "afterMCPExecution"
        | "afterFileEdit"
        | "afterAgentResponse"
        | "afterAgentThought"
        | "stop"
        | "sessionStart"
        | "sessionEnd" => Ok(Plan::Reply(json!({}))),
        other => Err(format!("hook event `{other}` is not one Cordon judges")),
    }
}

/// `…/cordon mcp --agent NAME`: the entry `cordon agents install` writes.
fn is_cordon_command(command: &str) -> bool {
    let mut words = command.split_whitespace();
    let program = words.next().unwrap_or_default();
    let is_cordon = program
        .rsplit(['/', '\\'])
        .next()
        .is_some_and(|name| name == "cordon" || name == "cordon.exe");
    is_cordon && words.next() == Some("mcp")
}

fn claude_answer(answer: &Answer) -> Value {
    json!({
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": if answer.allow { "allow" } else { "deny" },
            "permissionDecisionReason": answer.reason,
        }
    })
}

fn gemini_answer(answer: &Answer) -> Value {
    json!({
        "decision": if answer.allow { "allow" } else { "deny" },
        "reason": answer.reason,
    })
}

fn cursor_answer(event: &str, answer: &Answer) -> Value {
    let permission = if answer.allow { "allow" } else { "deny" };
    if event == "beforeReadFile" {
        return json!({"permission": permission});
    }
    let message = if answer.allow {
        String::new()
    } else {
        answer.reason.clone()
    };
    json!({
        "permission": permission,
        "user_message": message,
        "agent_message": message,
        "userMessage": message,
        "agentMessage": message,
    })
}
