//! run_command.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::exec::{self, Finished};
use crate::{
    Args, DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS, OUTPUT_CAP, Op, ToolError, ToolOutput, Workspace,
};

/// Variables that would make git (run by the command) act on another repository than the
/// one in the working directory; git tools and commands never inherit them.
pub(crate) const GIT_REDIRECT_VARS: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
];

#[derive(Debug, Clone)]
pub(crate) struct CommandOp {
    /// argv; a string command is `["sh", "-c", command]`.
    argv: Vec<String>,
    /// The command was given as a string (run through the shell).
    shell: bool,
    pub(crate) cwd: PathBuf,
    timeout_ms: u64,
}

/// Why `run_command` is refused on Windows (README, "Platforms", says the same). The choice:
/// there is no `sh` to run a string through, and running it through cmd.exe or PowerShell
/// would put a second language (`%VAR%` and `!VAR!` expansion, `^` escapes, `&`/`|` inside
/// quotes, PowerShell's `$()` and `-EncodedCommand`) in front of a classifier that understands
/// POSIX `sh` only: it would judge a line the shell reads differently. Child processes would be
/// contained (a kill-on-close job object, as for git); the shell is what is missing.
pub(crate) const NOT_ON_WINDOWS: &str = "run_command is not available on Windows: the classifier \
     judges POSIX `sh` command lines only, and cmd.exe and PowerShell quote and expand \
     differently (a line it judged harmless could mean something else to them); use the file \
     and git tools, or run Cordon under WSL";

pub(crate) fn prepare(ws: &Workspace, a: &Args<'_>) -> Result<(Op, Option<String>), ToolError> {
    let prepared = prepare_posix(ws, a)?;
    if cfg!(windows) {
        return Err(ToolError::Unsupported(NOT_ON_WINDOWS));
    }
    Ok(prepared)
}

fn prepare_posix(ws: &Workspace, a: &Args<'_>) -> Result<(Op, Option<String>), ToolError> {
    a.only(&["command", "cwd", "timeout_ms"])?;
    let (argv, shell) = match a.raw("command") {
        None => {
            return Err(ToolError::invalid(
                "run_command: missing required argument `command`",
            ));
        }
        Some(Value::String(s)) if !s.trim().is_empty() => {
            (vec!["sh".to_owned(), "-c".to_owned(), s.clone()], true)
        }
        Some(Value::Array(items)) if !items.is_empty() => {
            let argv = items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    ToolError::invalid("run_command: every element of `command` must be a string")
                })?;
            if argv.first().is_some_and(String::is_empty) {
                return Err(ToolError::invalid("run_command: the program name is empty"));
            }
            (argv, false)
        }
        Some(_) => {
            return Err(ToolError::invalid(
                "run_command: `command` must be a non-empty string (run with sh -c) or a \
                 non-empty array of strings (argv)",
            ));
        }
    };
    if argv.iter().any(|s| s.contains('\0')) {
        return Err(ToolError::invalid(
            "run_command: `command` contains a NUL byte",
        ));
    }
    let given = a.opt_str("cwd")?.unwrap_or(".");
    let cwd = ws.resolve(given)?;
    if !cwd.is_dir() {
        return Err(ToolError::NotFound {
            what: format!("working directory `{given}`"),
        });
    }
    let timeout_ms = a
        .opt_u64("timeout_ms", 1, MAX_TIMEOUT_MS)?
        .unwrap_or(DEFAULT_TIMEOUT_MS);
    let preview = if shell {
        format!(
            "sh -c {}\n(in {}, timeout {timeout_ms} ms)",
            argv.get(2).map(String::as_str).unwrap_or_default(),
            cwd.display()
        )
    } else {
        format!(
            "argv: {}\n(in {}, timeout {timeout_ms} ms)",
            serde_json::to_string(&argv).unwrap_or_default(),
            cwd.display()
        )
    };
    Ok((
        Op::Command(CommandOp {
            argv,
            shell,
            cwd,
            timeout_ms,
        }),
        Some(preview),
    ))
}

/// Render captured streams for the agent, noting truncation.
pub(crate) fn render(f: &Finished) -> String {
    let mut text = String::new();
    for (name, c) in [("stdout", &f.stdout), ("stderr", &f.stderr)] {
        if c.total == 0 {
            continue;
        }
        text.push_str(&format!("--- {name} ---\n"));
        text.push_str(&c.text());
        if !text.ends_with('\n') {
            text.push('\n');
        }
        if c.truncated {
            text.push_str(&format!(
                "[{name} truncated: showing the first {} of {} bytes]\n",
                c.bytes.len(),
                c.total
            ));
        }
    }
    text
}

pub(crate) fn execute(
    ws: &Workspace,
    op: CommandOp,
    stop: Option<&(dyn Fn() -> bool + Sync)>,
) -> Result<ToolOutput, ToolError> {
    let (program, rest) = op
        .argv
        .split_first()
        .ok_or_else(|| ToolError::invalid("run_command: empty command"))?;
    let finished = exec::run(exec::Spec {
        program: program.as_ref(),
        args: rest.iter().map(OsString::from).collect(),
        cwd: &op.cwd,
        env: vec![("GIT_TERMINAL_PROMPT".into(), "0".into())],
        env_remove: GIT_REDIRECT_VARS,
        base_env: ws.base_env.as_deref(),
        timeout: Duration::from_millis(op.timeout_ms),
        cap: OUTPUT_CAP,
        stop,
    })
    .map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ToolError::NotFound {
            what: format!("program `{program}`"),
        },
        _ => ToolError::io(program, e),
    })?;
    let output = render(&finished);
    if finished.timed_out {
        return Err(ToolError::Timeout {
            timeout_ms: op.timeout_ms,
            partial_output: output,
        });
    }
    let status = match (finished.code, finished.signal) {
        (Some(code), _) => format!("exit code: {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        (None, None) => "exit status unknown".to_owned(),
    };
    Ok(ToolOutput {
        text: format!("{status}\n{output}"),
        is_error: finished.code != Some(0),
        structured: Some(json!({
            "exit_code": finished.code,
            "signal": finished.signal,
            "shell": op.shell,
            "stdout_truncated": finished.stdout.truncated,
            "stderr_truncated": finished.stderr.truncated,
        })),
    })
}
