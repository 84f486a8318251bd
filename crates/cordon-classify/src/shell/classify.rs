//! Command classification: one parsed simple command (an argv) becomes one or more drafts.
//! Wrappers (`sudo`, `env`, `nohup`, `timeout`, `xargs`...) are unwrapped, nested shells
//! (`bash -c`, `eval`, `watch`, `trap`) are parsed again one level deeper, and the program is
//! looked up in the tables of [`super::programs`] and [`super::git`]. Anything not understood
//! is `exec.shell`.

use super::args::{
    has_any, norm, norms, opt_values, path_like, positionals, program_name, skip_opts,
};
use super::git::git;
use super::parse::{self, MAX_DEPTH, Pipeline, RedirKind, SimpleCommand};
use super::programs::{SHELLS, classify_program, pip};
use crate::draft::Draft;
use crate::path::{expand_braces, normalize_path};
use crate::topic::*;

/// The drafts and diagnostics of one shell classification.
#[derive(Debug, Default)]
pub(crate) struct ShellOutcome {
    /// One draft per simple command (more when a command hides others, like `find -exec`).
    pub drafts: Vec<Draft>,
    /// Why parts were classified conservatively.
    pub diagnostics: Vec<String>,
    /// The working directory the commands run in, when known (`cwd` argument, `cd dir`).
    pub cwd: Option<String>,
    /// `env NAME=value cmd` with a variable not known to be harmless: the command it wraps is
    /// not a proven read (checked once the wrapped command is classified).
    env_unproven: Option<String>,
}

impl ShellOutcome {
    pub(crate) fn diag(&mut self, msg: impl Into<String>) {
        if self.diagnostics.len() < 32 {
            self.diagnostics.push(msg.into());
        }
    }
}

/// Parse and classify a command line.
pub(crate) fn classify_command_line(src: &str, depth: usize, out: &mut ShellOutcome) {
    let parsed = parse::parse(src, depth);
    if !parsed.errors.is_empty() {
        for e in &parsed.errors {
            out.diag(format!("shell command not fully understood: {e}"));
        }
        // Whatever was parsed still counts (the strictest part wins), but the whole can never
        // look like a mere read.
        out.drafts.push(Draft::new(EXEC_SHELL));
    }
    for pipeline in &parsed.pipelines {
        classify_pipeline(pipeline, depth, out);
    }
}

/// Classify an argv given directly (a tool's `command` as an array): no shell parsing, but
/// wrappers and nested shells are still seen through.
pub(crate) fn classify_argv_top(argv: &[String], out: &mut ShellOutcome) {
    let start = out.drafts.len();
    classify_argv(argv, 0, None, out);
    finish_new_drafts(out, start, argv, &[], &[], &[], false);
}

fn classify_pipeline(pipeline: &Pipeline, depth: usize, out: &mut ShellOutcome) {
    let mut feed = String::new();
    for cmd in &pipeline.commands {
        let stdin = stdin_text(cmd);
        let input = match (&stdin, feed.is_empty()) {
            (Some(s), _) => Some(s.clone()),
            (None, false) => Some(feed.clone()),
            (None, true) => None,
        };
        classify_simple(cmd, depth, input.as_deref(), out);
        // What this command writes to the pipe, when it is literal text.
        let prog = cmd.words.first().map(|w| program_name(&w.text));
        if matches!(prog.as_deref(), Some("echo" | "printf" | "cat")) {
            let words: Vec<&str> = cmd.words.iter().skip(1).map(|w| w.text.as_str()).collect();
            feed = words.join(" ");
            if let Some(s) = stdin {
                feed.push('\n');
                feed.push_str(&s);
            }
        } else {
            feed.clear();
        }
    }
}

fn stdin_text(cmd: &SimpleCommand) -> Option<String> {
    let texts: Vec<&str> = cmd
        .redirs
        .iter()
        .filter(|r| matches!(r.kind, RedirKind::HereDoc | RedirKind::HereString))
        .map(|r| r.target.text.as_str())
        .collect();
    if texts.is_empty() {
        None
    } else {
        Some(texts.join("\n"))
    }
}

const HARMLESS_TARGETS: &[&str] = &[
    "/dev/null",
    "/dev/stdout",
    "/dev/stderr",
    "/dev/tty",
    "/dev/zero",
    "/dev/fd/1",
    "/dev/fd/2",
];

fn classify_simple(cmd: &SimpleCommand, depth: usize, stdin: Option<&str>, out: &mut ShellOutcome) {
    let mut vars = cmd
        .words
        .iter()
        .chain(cmd.assigns.iter())
        .flat_map(|w| w.vars.iter())
        .chain(cmd.redirs.iter().flat_map(|r| r.target.vars.iter()));
    let secret_vars = vars.any(|v| is_secret_var(v));
    let exec_env = cmd
        .assigns
        .iter()
        .filter_map(|a| a.text.split('=').next())
        .find(|name| is_exec_env(name));
    if let Some(name) = exec_env {
        out.diag(format!("{name}= makes the command run another program"));
        out.drafts.push(Draft::new(EXEC_SHELL));
    }
    if cmd.not_a_command {
        // `PATH=.` alone sets the variable for the rest of the shell: later commands run
        // something else.
        if let Some(name) = cmd
            .assigns
            .iter()
            .filter_map(|a| a.text.split('=').next())
            .find(|name| is_exec_env(name))
        {
            out.diag(format!("{name}= makes later commands run other programs"));
            out.drafts.push(Draft::new(EXEC_SHELL));
        }
        if secret_vars {
            let mut d = Draft::new(READ_ENV);
            d.secret_vars = true;
            out.drafts.push(d);
        }
        return;
    }
    let mut reads = Vec::new();
    let mut writes = Vec::new();
    for r in &cmd.redirs {
        let target = normalize_path(&r.target.text, None);
        match r.kind {
            RedirKind::Read => reads.push(target),
            RedirKind::Write if !HARMLESS_TARGETS.contains(&target.as_str()) => {
                writes.push(target);
            }
            _ => {}
        }
    }
    let argv: Vec<String> = cmd.words.iter().map(|w| w.text.clone()).collect();
    let start = out.drafts.len();
    match cmd.words.first() {
        None => {
            if !writes.is_empty() {
                out.drafts.push(Draft::new(WRITE_FILE));
            } else if !reads.is_empty() || secret_vars {
                out.drafts.push(Draft::new(READ_FILE));
            }
        }
        Some(first) if first.dynamic && first.text.contains('$') => {
            out.diag(format!(
                "program name {:?} is computed at run time",
                first.text
            ));
            out.drafts
                .push(Draft::new(EXEC_SHELL).reads(path_like(argv.get(1..).unwrap_or(&[]))));
        }
        Some(first) if first.text.contains('{') && first.text.contains(',') => {
            // `{cat,.env}`: brace expansion builds the command line.
            let expanded: Vec<String> = argv.iter().flat_map(|a| expand_braces(a)).collect();
            out.diag("brace expansion in the program name");
            classify_argv(&expanded, depth, stdin, out);
        }
        Some(_) => classify_argv(&argv, depth, stdin, out),
    }
    let assigns: Vec<String> = cmd.assigns.iter().map(|a| a.text.clone()).collect();
    // A read is proven only with an environment known not to change what the program does
    // (`RIPGREP_CONFIG_PATH`, `GIT_DIR`, `HOME` for git's config, `LESSOPEN`...).
    if !cmd.words.is_empty()
        && let Some(name) = assigns
            .iter()
            .filter_map(|a| a.split('=').next())
            .find(|n| !is_harmless_env(n))
        && out
            .drafts
            .get(start..)
            .unwrap_or(&[])
            .iter()
            .all(|d| topic_severity(&d.topic) < topic_severity(EXEC_SHELL))
    {
        out.diag(format!(
            "{name}= is not known to leave the command's behaviour unchanged (not proven a read)"
        ));
        out.drafts.push(Draft::new(EXEC_SHELL));
    }
    finish_new_drafts(out, start, &argv, &assigns, &reads, &writes, secret_vars);
}

/// Attach the command's redirections, argv and variables to the first draft it produced, and
/// resolve relative paths against the known working directory.
fn finish_new_drafts(
    out: &mut ShellOutcome,
    start: usize,
    argv: &[String],
    assigns: &[String],
    reads: &[String],
    writes: &[String],
    secret_vars: bool,
) {
    let cwd = out.cwd.clone();
    // Commands hidden in arguments (`find -exec rm`) are labelled with the whole command line.
    for d in out.drafts.iter_mut().skip(start + 1) {
        if d.command.is_none() && !argv.is_empty() {
            d.command = Some(argv.to_vec());
        }
    }
    for d in out.drafts.iter_mut().skip(start) {
        if d.assigns.is_empty() {
            d.assigns = assigns.to_vec();
        }
    }
    if let Some(main) = out.drafts.get_mut(start) {
        if main.command.is_none() && !argv.is_empty() {
            main.command = Some(argv.to_vec());
        }
        *main = std::mem::replace(main, Draft::new(READ_FILE))
            .reads(reads.iter().cloned())
            .writes(writes.iter().cloned());
        if !writes.is_empty() {
            main.escalate(WRITE_FILE);
        }
        if secret_vars {
            main.secret_vars = true;
        }
    }
    if let Some(cwd) = cwd {
        for d in out.drafts.iter_mut().skip(start) {
            let joined: Vec<_> = d
                .paths
                .iter()
                .filter(|p| !p.path.starts_with('/') && !p.path.starts_with('~'))
                .map(|p| crate::draft::PathUse {
                    path: normalize_path(&format!("{cwd}/{}", p.path), None),
                    write: p.write,
                    name_only: p.name_only,
                })
                .collect();
            for j in joined {
                if !d.paths.contains(&j) {
                    d.paths.push(j);
                }
            }
        }
    }
    // `cd dir` changes where later relative paths point.
    if let Some(prog) = argv.first().map(|a| program_name(a))
        && matches!(prog.as_str(), "cd" | "pushd")
        && let Some(dir) = argv.get(1).filter(|d| !d.starts_with('-'))
    {
        let next = match (&out.cwd, dir.starts_with('/') || dir.starts_with('~')) {
            (Some(c), false) => format!("{c}/{dir}"),
            _ => dir.clone(),
        };
        out.cwd = Some(normalize_path(&next, None));
    }
}

/// An environment variable that makes the command (or a tool it runs) execute something else:
/// setting it turns any command into `exec.shell` at least.
pub(crate) fn is_exec_env(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "PAGER",
        "EDITOR",
        "VISUAL",
        "BASH_ENV",
        "ENV",
        "PROMPT_COMMAND",
        "SHELLOPTS",
        "PS4",
        "IFS",
        "PATH",
        "NODE_OPTIONS",
        "PYTHONSTARTUP",
        "PYTHONPATH",
        "PERL5OPT",
        "PERL5LIB",
        "RUBYOPT",
        "RUSTC_WRAPPER",
        "CARGO_BUILD_RUSTC_WRAPPER",
        "SSH_ASKPASS",
        "SUDO_ASKPASS",
        "LESSOPEN",
        "LESSCLOSE",
        "MANPAGER",
        "BROWSER",
        "RIPGREP_CONFIG_PATH",
        "GCONV_PATH",
        "BAT_PAGER",
        "LESS",
        "JAVA_TOOL_OPTIONS",
        "_JAVA_OPTIONS",
    ];
    let up = name.to_ascii_uppercase();
    EXACT.contains(&up.as_str())
        || up.starts_with("LD_")
        || up.starts_with("DYLD_")
        || (up.starts_with("GIT_")
            && [
                "SSH",
                "PAGER",
                "EDITOR",
                "ASKPASS",
                "EXTERNAL",
                "CONFIG",
                "EXEC_PATH",
                "PROXY",
                "SEQUENCE_EDITOR",
                "TEMPLATE_DIR",
            ]
            .iter()
            .any(|k| up.contains(k)))
}

/// Environment variables known not to change what a program reads, writes or runs: locale,
/// time zone, terminal and colour settings, commit identity. Any other assignment in front of
/// a read makes it unproven.
pub(crate) fn is_harmless_env(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "LANG",
        "LANGUAGE",
        "TZ",
        "COLUMNS",
        "LINES",
        "TERM",
        "NO_COLOR",
        "CLICOLOR",
        "CLICOLOR_FORCE",
        "FORCE_COLOR",
        "GREP_COLOR",
        "GREP_COLORS",
        "LS_COLORS",
        "TIME_STYLE",
        "POSIXLY_CORRECT",
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_AUTHOR_DATE",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
        "GIT_COMMITTER_DATE",
        "GIT_OPTIONAL_LOCKS",
        "GIT_TERMINAL_PROMPT",
        "GIT_FLUSH",
        "DEBIAN_FRONTEND",
        "CI",
    ];
    EXACT.contains(&name) || name.starts_with("LC_")
}

/// A variable whose value is probably a secret.
pub(crate) fn is_secret_var(name: &str) -> bool {
    let up = name.to_ascii_uppercase();
    [
        "KEY",
        "SECRET",
        "TOKEN",
        "PASSWORD",
        "PASSWD",
        "CREDENTIAL",
        "PRIVATE",
    ]
    .iter()
    .any(|s| up.contains(s))
}

/// Classify one argv (after the shell's own parsing) into drafts pushed onto `out`.
fn classify_argv(args: &[String], depth: usize, stdin: Option<&str>, out: &mut ShellOutcome) {
    let start = out.drafts.len();
    let saved = out.env_unproven.take();
    classify_argv_inner(args, depth, stdin, out);
    if let Some(reason) = out.env_unproven.take()
        && out
            .drafts
            .get(start..)
            .unwrap_or(&[])
            .iter()
            .all(|d| topic_severity(&d.topic) < topic_severity(EXEC_SHELL))
    {
        out.diag(reason);
        out.drafts.push(Draft::new(EXEC_SHELL));
    }
    out.env_unproven = saved;
}

fn classify_argv_inner(args: &[String], depth: usize, stdin: Option<&str>, out: &mut ShellOutcome) {
    if depth > MAX_DEPTH {
        out.diag(format!("nesting deeper than {MAX_DEPTH}"));
        out.drafts.push(Draft::new(EXEC_SHELL));
        return;
    }
    let mut i = 0usize;
    for _ in 0..64 {
        let Some(raw) = args.get(i) else {
            out.diag("wrapper without a command");
            out.drafts.push(Draft::new(EXEC_SHELL));
            return;
        };
        let prog = program_name(raw);
        let rest: &[String] = args.get(i + 1..).unwrap_or(&[]);
        if prog.is_empty()
            || prog.contains(['$', '`', '*', '?', '[']) && prog != "[" && prog != "[["
        {
            out.diag(format!("program name {raw:?} is computed at run time"));
            out.drafts
                .push(Draft::new(EXEC_SHELL).reads(path_like(rest)));
            return;
        }
        match prog.as_str() {
            // Wrappers: skip them (and their options), classify what they run.
            "sudo" | "doas" | "run0" => {
                if has_any(rest, &["-e", "--edit"]) {
                    out.drafts
                        .push(Draft::new(WRITE_FILE).reads(norms(positionals(rest))));
                    return;
                }
                i = skip_opts(
                    args,
                    i + 1,
                    &[
                        "-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-T", "-U", "-R",
                    ],
                    &[
                        "--user",
                        "--group",
                        "--host",
                        "--prompt",
                        "--close-from",
                        "--chdir",
                        "--role",
                        "--type",
                        "--command-timeout",
                        "--other-user",
                        "--chroot",
                    ],
                );
                if i >= args.len() {
                    out.diag("sudo without a command opens a root shell");
                    out.drafts.push(Draft::new(EXEC_SHELL));
                    return;
                }
            }
            "sudoedit" => {
                out.drafts
                    .push(Draft::new(WRITE_FILE).reads(norms(positionals(rest))));
                return;
            }
            "env" => {
                let mut j = i + 1;
                while let Some(a) = args.get(j) {
                    let a = a.as_str();
                    if a == "--" {
                        j += 1;
                        break;
                    } else if matches!(a, "-u" | "--unset" | "-C" | "--chdir") {
                        j += 2;
                    } else if matches!(a, "-S" | "--split-string")
                        || a.starts_with("--split-string=")
                        || (a.starts_with("-S") && a.len() > 2)
                    {
                        // `env -S 'cmd args'` splits a string into a command: parse it.
                        let (value, next) = if let Some(v) = a.strip_prefix("--split-string=") {
                            (v.to_owned(), j + 1)
                        } else if a.len() > 2 && a.starts_with("-S") {
                            (a.get(2..).unwrap_or("").to_owned(), j + 1)
                        } else {
                            (args.get(j + 1).cloned().unwrap_or_default(), j + 2)
                        };
                        let mut line = value;
                        for extra in args.get(next..).unwrap_or(&[]) {
                            line.push(' ');
                            line.push_str(&shell_quote(extra));
                        }
                        classify_command_line(&line, depth + 1, out);
                        return;
                    } else if (a.starts_with('-') && a.len() > 1) || a.contains('=') {
                        if let Some(name) = a.split('=').next().filter(|n| is_exec_env(n)) {
                            out.diag(format!("{name}= makes the command run another program"));
                            out.drafts.push(Draft::new(EXEC_SHELL));
                        } else if let Some(name) = a
                            .split_once('=')
                            .map(|(n, _)| n)
                            .filter(|n| !is_harmless_env(n))
                        {
                            out.env_unproven = Some(format!(
                                "env {name}= is not known to leave the command's behaviour unchanged (not proven a read)"
                            ));
                        } else if a.starts_with('-')
                            && !matches!(
                                a,
                                "-i" | "--ignore-environment" | "-0" | "--null" | "-v" | "--debug"
                            )
                        {
                            out.diag(format!("env option {a} is not known"));
                            out.drafts.push(Draft::new(EXEC_SHELL));
                        }
                        j += 1;
                    } else {
                        break;
                    }
                }
                if j >= args.len() {
                    // `env` alone prints the environment.
                    out.drafts.push(Draft::new(READ_ENV));
                    return;
                }
                i = j;
            }
            "nohup" | "setsid" | "builtin" | "unbuffer" | "caffeinate" | "busybox" | "then"
            | "do" | "else" | "!" | "coproc" | "noglob" | "nocorrect" => {
                i = skip_opts(args, i + 1, &[], &[]);
            }
            "nice" => i = skip_opts(args, i + 1, &["-n"], &["--adjustment"]),
            "ionice" => {
                i = skip_opts(
                    args,
                    i + 1,
                    &["-c", "-n", "-p", "-P", "-u"],
                    &["--class", "--classdata"],
                )
            }
            "time" => i = skip_opts(args, i + 1, &["-f", "-o"], &["--format", "--output"]),
            "timeout" => {
                i = skip_opts(args, i + 1, &["-s", "-k"], &["--signal", "--kill-after"]) + 1;
            }
            "stdbuf" => i = skip_opts(args, i + 1, &["-i", "-o", "-e"], &[]),
            "exec" => i = skip_opts(args, i + 1, &["-a"], &[]),
            "strace" | "ltrace" => {
                i = skip_opts(
                    args,
                    i + 1,
                    &["-e", "-o", "-p", "-s", "-u", "-E", "-P", "-I"],
                    &[],
                );
            }
            "command" => {
                if has_any(rest, &["-v", "-V"]) {
                    out.drafts.push(Draft::new(READ_FILE));
                    return;
                }
                i = skip_opts(args, i + 1, &[], &[]);
            }
            "xargs" => {
                let files = opt_values(rest, &["-a"], &["--arg-file"]);
                i = skip_opts(
                    args,
                    i + 1,
                    &["-I", "-n", "-P", "-L", "-l", "-d", "-E", "-e", "-s", "-a"],
                    &[
                        "--max-args",
                        "--max-procs",
                        "--max-lines",
                        "--delimiter",
                        "--eof",
                        "--max-chars",
                        "--arg-file",
                        "--replace",
                    ],
                );
                if i >= args.len() {
                    out.drafts.push(Draft::new(READ_FILE).reads(norms(&files)));
                    return;
                }
                if !files.is_empty() {
                    out.drafts.push(Draft::new(READ_FILE).reads(norms(&files)));
                }
                // The arguments xargs appends (or substitutes) are only known at run time.
                let replace = opt_values(rest, &["-I", "-i"], &["--replace"]);
                let inner = with_placeholder(args.get(i..).unwrap_or(&[]), &replace, RUNTIME_ARG);
                classify_argv(&inner, depth + 1, stdin, out);
                return;
            }
            "npx" | "bunx" | "pnpx" | "uvx" => {
                i = skip_opts(args, i + 1, &["-p"], &["--package", "--from", "--with"]);
            }
            "watch" => {
                let j = skip_opts(
                    args,
                    i + 1,
                    &["-n", "-d", "-q"],
                    &["--interval", "--differences"],
                );
                let line = args.get(j..).unwrap_or(&[]).join(" ");
                classify_command_line(&line, depth + 1, out);
                return;
            }
            "eval" => {
                let line = rest.join(" ");
                classify_command_line(&line, depth + 1, out);
                return;
            }
            "trap" => {
                // `trap 'cmd' SIGNAL` runs cmd later.
                match positionals(rest).first() {
                    Some(action) if rest.len() >= 2 && !action.is_empty() && *action != "-" => {
                        out.drafts.push(Draft::new(READ_FILE));
                        classify_command_line(action, depth + 1, out);
                    }
                    _ => out.drafts.push(Draft::new(READ_FILE)),
                }
                return;
            }
            "." | "source" => {
                // Runs the file in the current shell: code execution, and a read of the file.
                out.drafts
                    .push(Draft::new(EXEC_SHELL).reads(norms(rest.iter().take(1))));
                return;
            }
            p if SHELLS.contains(&p) => {
                shell_program(&prog, rest, depth, stdin, out);
                return;
            }
            "git" => {
                git(rest, out);
                return;
            }
            "python" | "python3" | "py" | "python2" if rest.first().is_some_and(|a| a == "-m") => {
                match rest.get(1).map(String::as_str) {
                    Some("pip") => out.drafts.push(pip(rest.get(2..).unwrap_or(&[]))),
                    _ => out
                        .drafts
                        .push(Draft::new(EXEC_SHELL).reads(path_like(rest))),
                }
                return;
            }
            _ => {
                let drafts = classify_program(&prog, rest, stdin, &mut out.diagnostics);
                out.drafts.extend(drafts);
                nested_commands(&prog, rest, depth, out);
                return;
            }
        }
    }
    out.diag("too many nested wrappers");
    out.drafts.push(Draft::new(EXEC_SHELL));
}

/// Commands hidden inside arguments: `find -exec`, `fd -x`, `rg --pre`.
fn nested_commands(prog: &str, rest: &[String], depth: usize, out: &mut ShellOutcome) {
    match prog {
        "find" => {
            // `{}` stands for each file found: the `-name` pattern when there is one (so
            // `find . -name .env -exec cat {} ;` reads `.env`), otherwise unknown.
            let found = opt_values(
                rest,
                &["-name", "-iname", "-path", "-ipath", "-wholename"],
                &[],
            )
            .into_iter()
            .next()
            .unwrap_or_else(|| RUNTIME_ARG.to_owned());
            let mut it = rest.iter().enumerate();
            while let Some((k, a)) = it.next() {
                if matches!(a.as_str(), "-exec" | "-execdir" | "-ok" | "-okdir") {
                    let raw: Vec<String> = rest
                        .iter()
                        .skip(k + 1)
                        .take_while(|x| *x != ";" && *x != "+")
                        .cloned()
                        .collect();
                    let skip = raw.len();
                    let inner: Vec<String> = raw.iter().map(|x| x.replace("{}", &found)).collect();
                    classify_argv(&inner, depth + 1, None, out);
                    for _ in 0..skip {
                        it.next();
                    }
                }
            }
        }
        "fd" | "fdfind" => {
            if let Some(k) = rest
                .iter()
                .position(|a| matches!(a.as_str(), "-x" | "--exec" | "-X" | "--exec-batch"))
            {
                let raw: Vec<String> = rest.iter().skip(k + 1).cloned().collect();
                let inner = with_placeholder(&raw, &["{}".to_owned()], RUNTIME_ARG);
                classify_argv(&inner, depth + 1, None, out);
            }
        }
        "rg" if rest.iter().any(|a| a == "--pre" || a.starts_with("--pre=")) => {
            out.diag("rg --pre runs a program on every file");
            out.drafts.push(Draft::new(EXEC_SHELL));
        }
        _ => {}
    }
}

/// An argument whose value is only known at run time (what `xargs` appends, `find -exec`'s
/// `{}`): as a path it makes a read conservative.
const RUNTIME_ARG: &str = "$(…)";

/// `argv` with each `replace` string substituted by `value`, or `value` appended when none
/// occurs (how xargs and fd build their command lines).
fn with_placeholder(argv: &[String], replace: &[String], value: &str) -> Vec<String> {
    let mut used = false;
    let mut out: Vec<String> = argv
        .iter()
        .map(|a| {
            let mut a = a.clone();
            for r in replace.iter().filter(|r| !r.is_empty()) {
                if a.contains(r.as_str()) {
                    used = true;
                    a = a.replace(r.as_str(), value);
                }
            }
            a
        })
        .collect();
    if !used {
        out.push(value.to_owned());
    }
    out
}

/// `sh -c 'cat "$1"' name .env`: the words after the script are `$0`, `$1`... Plain words
/// (no characters the shell would interpret) are substituted so that the script's paths are
/// visible; anything else stays a run-time value.
fn substitute_positionals(script: &str, params: &[String]) -> String {
    let plain = |p: &String| {
        !p.is_empty()
            && p.chars().all(|c| {
                c.is_alphanumeric()
                    || matches!(c, '.' | '_' | '-' | '/' | '~' | '+' | ',' | ':' | '@')
            })
    };
    let mut out = script.to_owned();
    for (n, p) in params.iter().enumerate().take(10).rev() {
        if plain(p) {
            out = out
                .replace(&format!("${{{n}}}"), p)
                .replace(&format!("${n}"), p);
        }
    }
    let rest: Vec<&String> = params.iter().skip(1).collect();
    if !rest.is_empty() && rest.iter().all(|p| plain(p)) {
        let joined: Vec<&str> = rest.iter().map(|p| p.as_str()).collect();
        let joined = joined.join(" ");
        out = out.replace("$@", &joined).replace("$*", &joined);
    }
    out
}

/// Quote a word so that re-parsing yields it unchanged.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn shell_program(
    prog: &str,
    rest: &[String],
    depth: usize,
    stdin: Option<&str>,
    out: &mut ShellOutcome,
) {
    let mut j = 0usize;
    let mut command: Option<String> = None;
    let mut has_c = false;
    while let Some(a) = rest.get(j) {
        if a == "--" || a == "-" {
            j += 1;
            break;
        }
        if let Some(v) = a.strip_prefix("--command=") {
            command = Some(v.to_owned());
            break;
        }
        if a == "--command" || (prog == "cmd" && a.eq_ignore_ascii_case("/c")) {
            has_c = true;
            j += 1;
            break;
        }
        if a.starts_with("--") {
            j += if matches!(a.as_str(), "--rcfile" | "--init-file") {
                2
            } else {
                1
            };
            continue;
        }
        if (a.starts_with('-') || a.starts_with('+')) && a.len() > 1 {
            let flags = a.get(1..).unwrap_or("");
            if flags.contains('c')
                || (prog.starts_with("pw") || prog == "powershell")
                    && flags.eq_ignore_ascii_case("command")
            {
                has_c = true;
            }
            j += if flags.ends_with('o') || flags.ends_with('O') {
                2
            } else {
                1
            };
            if has_c {
                break;
            }
            continue;
        }
        break;
    }
    if command.is_none() && has_c {
        command = Some(match prog {
            "cmd" | "pwsh" | "powershell" => rest.get(j..).unwrap_or(&[]).join(" "),
            _ => {
                let script = rest.get(j).cloned().unwrap_or_default();
                substitute_positionals(&script, rest.get(j + 1..).unwrap_or(&[]))
            }
        });
    }
    if let Some(cmd) = command {
        if matches!(
            prog,
            "cmd" | "pwsh" | "powershell" | "fish" | "csh" | "tcsh"
        ) {
            out.diag(format!("{prog} syntax is read as POSIX shell: best effort"));
            out.drafts.push(Draft::new(EXEC_SHELL));
        }
        classify_command_line(&cmd, depth + 1, out);
        return;
    }
    match (rest.get(j), stdin) {
        (Some(script), _) => {
            out.drafts
                .push(Draft::new(EXEC_SHELL).reads([norm(script)]));
        }
        (None, Some(text)) => {
            // `bash <<EOF … EOF`, `echo 'cmd' | sh`: the input is the script.
            out.drafts.push(Draft::new(EXEC_SHELL));
            classify_command_line(text, depth + 1, out);
        }
        (None, None) => out.drafts.push(Draft::new(EXEC_SHELL)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::git::analyse_push;

    fn topic_of(cmd: &str) -> String {
        let mut out = ShellOutcome::default();
        classify_command_line(cmd, 0, &mut out);
        out.drafts
            .iter()
            .map(|d| d.topic.clone())
            .max_by_key(|t| topic_severity(t))
            .unwrap_or_default()
    }

    #[test]
    fn program_table() {
        let cases: &[(&str, &str)] = &[
            ("ls -la", READ_DIR),
            ("cat README.md", READ_FILE),
            ("grep -rn foo src", READ_SEARCH),
            ("git status", READ_GIT),
            ("git push", GIT_PUSH),
            ("git push -uf origin main", GIT_FORCE_PUSH),
            ("rm -rf build", WRITE_REMOVE),
            ("npm install left-pad", DEPS_ADD),
            ("npm install", EXEC_SHELL),
            ("make", EXEC_SHELL),
            ("curl https://x", NET_FETCH),
            ("curl -sSLo out https://x", WRITE_FILE),
            ("echo hi > f", WRITE_FILE),
            ("echo hi 2>/dev/null", READ_FILE),
            ("psql -c 'select 1'", EXEC_SHELL),
            ("echo 'DROP TABLE users' | psql", DB_DROP),
        ];
        for (cmd, want) in cases {
            assert_eq!(topic_of(cmd), *want, "{cmd:?}");
        }
    }

    #[test]
    fn push_analysis_table() {
        let cases: &[(&[&str], bool, &str)] = &[
            (&["origin", "main"], false, "origin/main"),
            (&["origin", "+main"], true, "origin/main"),
            (&["origin", ":main"], true, "origin/main"),
            (&["origin", "HEAD:refs/heads/dev"], false, "origin/dev"),
            (
                &["--force-with-lease=main", "origin"],
                true,
                "origin/(current)",
            ),
            (&[], false, "(default)/(current)"),
        ];
        for (args, force, target) in cases {
            let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
            let info = analyse_push(&args);
            assert_eq!(
                (info.force, info.target.as_str()),
                (*force, *target),
                "{args:?}"
            );
        }
    }

    #[test]
    fn secret_var_names() {
        assert!(is_secret_var("AWS_SECRET_ACCESS_KEY"));
        assert!(is_secret_var("github_token"));
        assert!(!is_secret_var("HOME"));
        assert!(!is_secret_var("PATH"));
    }
}
