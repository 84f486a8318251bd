//! `git`: global options (`-C`, `-c`, `--git-dir`), then the subcommand's topic; pushes are
//! analysed for force, deletion and their `remote/branch` target.

use super::ShellOutcome;
use super::args::{has_any, norm, norms, positionals};
use crate::draft::Draft;
use crate::topic::*;

// ---------------------------------------------------------------------------------------------
// git

const DANGEROUS_GIT_CONFIG: &[&str] = &[
    "alias.",
    "pager",
    "editor",
    "sshcommand",
    "fsmonitor",
    "hookspath",
    "askpass",
    "proxy",
    "credential",
    "external",
    "textconv",
    "filter.",
    "exec",
    "program",
    "cmd",
    "command",
    "tool",
    "gpg",
];

/// Whether a `git push` forces or deletes, and what it targets (`remote/branch`).
pub(crate) struct PushInfo {
    /// Overwrites or deletes remote refs.
    pub force: bool,
    /// `remote/branch` for evidence.
    pub target: String,
    /// Runs a program given on the command line (`--receive-pack`, `--exec`).
    pub exec: bool,
}

/// Analyse `git push` arguments (after `push`).
pub(crate) fn analyse_push(args: &[String]) -> PushInfo {
    let mut force = false;
    let mut exec = false;
    let mut pos: Vec<&String> = Vec::new();
    let mut it = args.iter();
    let mut only_pos = false;
    while let Some(a) = it.next() {
        if only_pos {
            pos.push(a);
            continue;
        }
        match a.as_str() {
            "--" => only_pos = true,
            "-f"
            | "--force"
            | "--force-with-lease"
            | "--force-if-includes"
            | "--mirror"
            | "--prune"
            | "-d"
            | "--delete" => force = true,
            "--receive-pack" | "--exec" => {
                exec = true;
                it.next();
            }
            "--repo" => {
                if let Some(r) = it.next() {
                    pos.insert(0, r);
                }
            }
            "-o" | "--push-option" => {
                it.next();
            }
            s if s.starts_with("--force-with-lease=") => force = true,
            s if s.starts_with("--receive-pack=") || s.starts_with("--exec=") => exec = true,
            s if s.starts_with("--") => {}
            s if s.starts_with('-') && s.len() > 1 => {
                let flags = s.get(1..).unwrap_or("");
                if flags.contains('f') || flags.contains('d') {
                    force = true;
                }
                if flags.ends_with('o') {
                    it.next();
                }
            }
            _ => pos.push(a),
        }
    }
    let remote = pos.first().map_or("(default)", |r| r.as_str());
    let mut branch: Option<String> = None;
    for r in pos.iter().skip(1) {
        if r.starts_with('+') || r.starts_with(':') {
            force = true;
        }
        if branch.is_none() {
            let spec = r.trim_start_matches('+');
            let b = match spec.split_once(':') {
                Some((src, dst)) => {
                    if dst.is_empty() {
                        src
                    } else {
                        dst
                    }
                }
                None => spec,
            };
            branch = Some(b.trim_start_matches("refs/heads/").to_owned());
        }
    }
    let branch = branch.unwrap_or_else(|| "(current)".to_owned());
    PushInfo {
        force,
        target: format!("{remote}/{branch}"),
        exec,
    }
}

/// `git -c KEY=VALUE` keys known not to run programs, write files or reach the network.
fn harmless_config_key(key: &str) -> bool {
    const EXACT: &[&str] = &[
        "core.quotepath",
        "core.abbrev",
        "core.safecrlf",
        "core.autocrlf",
        "core.ignorecase",
        "user.name",
        "user.email",
        "init.defaultbranch",
        "log.date",
        "log.decorate",
        "log.follow",
        "diff.renames",
        "diff.noprefix",
        "diff.mnemonicprefix",
        "diff.relative",
        "diff.algorithm",
        "diff.indentheuristic",
        "diff.context",
        "diff.interhunkcontext",
        "status.short",
        "status.branch",
        "status.showuntrackedfiles",
        "grep.linenumber",
        "grep.patterntype",
        "grep.extendedregexp",
        "safe.directory",
        "i18n.logoutputencoding",
        "i18n.commitencoding",
        "commit.gpgsign",
        "tag.gpgsign",
        "gc.auto",
        "maintenance.auto",
    ];
    let key = key.to_ascii_lowercase();
    EXACT.contains(&key.as_str())
        || key.starts_with("color.")
        || key.starts_with("advice.")
        || key.starts_with("column.")
}

pub(crate) fn git(args: &[String], out: &mut ShellOutcome) {
    let mut j = 0usize;
    let mut dirs: Vec<String> = Vec::new();
    let mut exec_reason: Option<String> = None;
    let flag = |reason: String, slot: &mut Option<String>| {
        if slot.is_none() {
            *slot = Some(reason);
        }
    };
    while let Some(a) = args.get(j) {
        match a.as_str() {
            "-C" => {
                if let Some(d) = args.get(j + 1) {
                    dirs.push(norm(d));
                }
                j += 2;
            }
            "-c" => {
                let kv = args.get(j + 1).cloned().unwrap_or_default();
                let key = kv.split('=').next().unwrap_or("");
                // commit.gpgsign=true runs gpg: only `false` keeps it harmless.
                let gpg_on = key.to_ascii_lowercase().ends_with("gpgsign")
                    && !kv.to_ascii_lowercase().ends_with("=false");
                if !harmless_config_key(key) || gpg_on {
                    flag(
                        format!(
                            "git -c {key}: not a configuration known to be harmless (it can run programs)"
                        ),
                        &mut exec_reason,
                    );
                }
                j += 2;
            }
            "--config-env" => {
                flag(
                    "git --config-env sets configuration from the environment".to_owned(),
                    &mut exec_reason,
                );
                j += 2;
            }
            "--git-dir" | "--work-tree" | "--namespace" | "--super-prefix" => {
                if let Some(d) = args.get(j + 1) {
                    dirs.push(norm(d));
                }
                j += 2;
            }
            s if s.starts_with("--git-dir=") || s.starts_with("--work-tree=") => {
                if let Some((_, d)) = s.split_once('=') {
                    dirs.push(norm(d));
                }
                j += 1;
            }
            s if s.starts_with("--namespace=") => j += 1,
            "--no-pager"
            | "-P"
            | "--no-replace-objects"
            | "--bare"
            | "--literal-pathspecs"
            | "--glob-pathspecs"
            | "--noglob-pathspecs"
            | "--icase-pathspecs"
            | "--no-optional-locks"
            | "--no-advice"
            | "--exec-path"
            | "--html-path"
            | "--man-path"
            | "--info-path"
            | "--version"
            | "--help"
            | "-h"
            | "-v" => j += 1,
            s if s.starts_with('-') => {
                flag(
                    format!(
                        "git option {s} is not known to be harmless (e.g. --exec-path=, --paginate, --config-env run programs)"
                    ),
                    &mut exec_reason,
                );
                j += 1;
            }
            _ => break,
        }
    }
    let sub = args.get(j).map(String::as_str).unwrap_or("");
    let rest: &[String] = args.get(j + 1..).unwrap_or(&[]);
    if args.iter().skip(j).any(|a| {
        a == "--ext-diff"
            || a.starts_with("--open-files-in-pager")
            || a == "--upload-pack"
            || a.starts_with("--upload-pack=")
            || a == "--textconv"
    }) {
        flag(
            format!(
                "git {sub}: an option that runs a program (--ext-diff, --textconv, --open-files-in-pager, --upload-pack)"
            ),
            &mut exec_reason,
        );
    }
    if let Some(reason) = exec_reason {
        out.diag(reason);
        out.drafts.push(Draft::new(EXEC_SHELL).reads(dirs.clone()));
    }
    let pos = positionals(rest);
    let first_pos = pos.first().map(|s| s.as_str());
    // Reading subcommands (and `stash list|show`, `reflog [show]`) go through their tables.
    let reading = match (sub, first_pos) {
        ("stash", Some("list")) => Some("stash-list"),
        ("stash", Some("show")) => Some("stash-show"),
        // `reflog expire|delete|drop` rewrite the logs; `exists` is judged below; anything
        // else (`git reflog`, `git reflog show`, `git reflog HEAD`) shows the log.
        ("reflog", Some("expire" | "delete" | "drop" | "exists" | "write")) => None,
        ("reflog", _) => Some("reflog"),
        (s, _) if super::gitread::is_reading(s) => Some(s),
        ("", _) | ("--version" | "version" | "--help" | "-h", _) => {
            out.drafts.push(Draft::new(READ_GIT).reads(dirs));
            return;
        }
        _ => None,
    };
    if let Some(table) = reading {
        let scan_args: Vec<String> = if matches!(table, "stash-list" | "stash-show")
            || (table == "reflog" && first_pos == Some("show"))
        {
            let mut v = rest.to_vec();
            if let Some(k) = v.iter().position(|a| !a.starts_with('-')) {
                v.remove(k);
            }
            v
        } else {
            rest.to_vec()
        };
        match super::gitread::scan(table, &scan_args) {
            Err(reason) => {
                out.diag(reason);
                out.drafts.push(
                    Draft::new(EXEC_SHELL)
                        .reads(dirs)
                        .reads(super::args::path_like(rest)),
                );
            }
            Ok(scan) => {
                // `git show HEAD:.env` reads a file from history: revision-qualified paths
                // are reads; pathspecs are names unless the output carries contents.
                let mut contents: Vec<String> = Vec::new();
                let mut names: Vec<String> = Vec::new();
                for p in &scan.positionals {
                    match p.split_once(':') {
                        Some((_, path)) if !path.is_empty() => contents.push(norm(path)),
                        _ if scan.patch => contents.push(norm(p)),
                        _ => names.push(norm(p)),
                    }
                }
                for p in &scan.pathspecs {
                    if scan.patch {
                        contents.push(norm(p));
                    } else {
                        names.push(norm(p));
                    }
                }
                let mut d = Draft::new(READ_GIT)
                    .reads(dirs)
                    .reads(contents)
                    .reads(scan.reads)
                    .names(names);
                if !scan.writes.is_empty() {
                    out.diag(format!(
                        "git {sub} --output writes {}",
                        scan.writes.join(", ")
                    ));
                    d = d.writes(scan.writes);
                    d.escalate(WRITE_FILE);
                }
                out.drafts.push(d);
            }
        }
        return;
    }
    let d = match sub {
        "help" => {
            out.diag("git help runs man or a browser");
            Draft::new(EXEC_SHELL)
        }
        "verify-commit" | "verify-tag" | "fsck" => {
            out.diag(format!("git {sub} runs gpg or writes recovered objects"));
            Draft::new(EXEC_SHELL)
        }
        "ls-remote" => Draft::new(NET_FETCH),
        "add" | "stage" => Draft::new(WRITE_FILE).writes(norms(pos.iter().copied())),
        "branch" | "tag" => {
            if sub == "tag" && has_any(rest, &["-v", "--verify"]) {
                out.diag("git tag -v runs gpg");
                Draft::new(EXEC_SHELL)
            } else if has_any(rest, &["-d", "-D", "--delete"])
                || (sub == "tag" && has_any(rest, &["-f", "--force"]))
            {
                Draft::new(GIT_HISTORY_REWRITE)
            } else if listing_only(sub, rest) {
                Draft::new(READ_GIT)
            } else if sub == "branch"
                && rest.iter().any(|a| {
                    let name = a.split('=').next().unwrap_or(a);
                    matches!(
                        name,
                        "-u" | "--set-upstream-to"
                            | "--unset-upstream"
                            | "--edit-description"
                            | "-m"
                            | "-M"
                            | "--move"
                            | "-c"
                            | "-C"
                            | "--copy"
                            | "-t"
                            | "--track"
                    )
                })
            {
                out.diag("git branch writes the branch's configuration in .git/config");
                Draft::new(WRITE_FILE).writes([".git/config".to_owned()])
            } else {
                Draft::new(WRITE_FILE)
            }
        }
        "remote" => match first_pos {
            None | Some("get-url")
                if rest
                    .iter()
                    .all(|a| a == "-v" || a == "--verbose" || !a.starts_with('-')) =>
            {
                Draft::new(READ_GIT)
            }
            Some("show") if has_any(rest, &["-n"]) => Draft::new(READ_GIT),
            Some("show") => Draft::new(NET_FETCH),
            _ => Draft::new(WRITE_FILE),
        },
        "stash" => match first_pos {
            Some("drop" | "clear") => Draft::new(WRITE_REMOVE),
            _ => Draft::new(WRITE_FILE),
        },
        "reflog" => match first_pos {
            Some("expire" | "delete" | "drop") => Draft::new(GIT_HISTORY_REWRITE),
            _ => {
                out.diag("unknown git reflog subcommand");
                Draft::new(EXEC_SHELL)
            }
        },
        "config" => {
            let writes = pos.len() >= 2
                || has_any(
                    rest,
                    &[
                        "--unset",
                        "--unset-all",
                        "--add",
                        "--replace-all",
                        "--edit",
                        "-e",
                        "--remove-section",
                        "--rename-section",
                    ],
                );
            if writes {
                // The file written: a git configuration file is a silent persistence target.
                let file = super::args::opt_values(rest, &["-f"], &["--file"])
                    .into_iter()
                    .next()
                    .map(|f| norm(&f))
                    .unwrap_or_else(|| {
                        if has_any(rest, &["--global"]) {
                            "~/.gitconfig".to_owned()
                        } else if has_any(rest, &["--system"]) {
                            "/etc/gitconfig".to_owned()
                        } else if has_any(rest, &["--worktree"]) {
                            ".git/config.worktree".to_owned()
                        } else {
                            ".git/config".to_owned()
                        }
                    });
                out.diag(format!("git config writes {file}"));
                let key = pos
                    .iter()
                    .map(|k| k.to_lowercase())
                    .find(|k| k.contains('.'))
                    .unwrap_or_default();
                if DANGEROUS_GIT_CONFIG.iter().any(|d| key.contains(d)) {
                    out.diag("git config sets a key that can run programs");
                    Draft::new(EXEC_SHELL).writes([file])
                } else {
                    Draft::new(WRITE_FILE).writes([file])
                }
            } else {
                let files = super::args::opt_values(rest, &["-f"], &["--file", "--blob"]);
                Draft::new(READ_GIT).reads(norms(&files))
            }
        }
        "commit" => {
            // `-F FILE` and `--template FILE` put a file's contents into the message (then
            // readable with an allowed `git log`), pathspecs put files into the commit: both
            // are reads of those files (a secret makes the commit a secret read).
            let (files, specs) = commit_inputs(rest);
            if rest.iter().any(|a| a == "--amend") {
                Draft::new(GIT_HISTORY_REWRITE).reads(files).reads(specs)
            } else {
                Draft::new(GIT_COMMIT).reads(files).reads(specs)
            }
        }
        "push" => {
            let info = analyse_push(rest);
            if info.exec {
                out.diag("git push --receive-pack/--exec runs a program");
                out.drafts.push(Draft::new(EXEC_SHELL));
            }
            Draft::new(if info.force { GIT_FORCE_PUSH } else { GIT_PUSH })
        }
        "reset" => {
            let only_paths = rest.first().is_some_and(|a| a == "--")
                || rest
                    .iter()
                    .all(|a| matches!(a.as_str(), "-q" | "--quiet" | "--mixed" | "-N"));
            if only_paths && !has_any(rest, &["--hard", "--soft", "--keep", "--merge"]) {
                Draft::new(WRITE_FILE)
            } else {
                Draft::new(GIT_HISTORY_REWRITE)
            }
        }
        "rebase" | "filter-branch" | "filter-repo" | "replace" | "update-ref" => {
            Draft::new(GIT_HISTORY_REWRITE)
        }
        "clean" => {
            if has_any(rest, &["-n", "--dry-run"]) {
                Draft::new(READ_GIT)
            } else {
                Draft::new(WRITE_REMOVE).writes(norms(pos.iter().copied()))
            }
        }
        "prune" => Draft::new(WRITE_REMOVE),
        "rm" => Draft::new(WRITE_REMOVE).writes(norms(pos.iter().copied())),
        "mv" => Draft::new(WRITE_MOVE).writes(norms(pos.iter().copied())),
        "checkout" | "switch" | "restore" => {
            let mut d = Draft::new(WRITE_FILE);
            if has_any(
                rest,
                &["-f", "--force", "--discard-changes", "--", ".", "-B"],
            ) || sub == "restore"
            {
                d = d.tag(TAG_DESTRUCTIVE);
            }
            d
        }
        "init" | "clone"
            if rest
                .iter()
                .any(|a| a == "--template" || a.starts_with("--template=")) =>
        {
            out.diag(format!(
                "git {sub} --template copies hooks into the new repository"
            ));
            Draft::new(WRITE_FILE).writes([".git/hooks".to_owned()])
        }
        "apply" | "am" | "merge" | "cherry-pick" | "revert" | "init" | "worktree" | "notes"
        | "sparse-checkout" | "bisect" | "gc" | "repack" | "archive" | "bundle"
        | "format-patch" | "maintenance" | "pack-refs" | "commit-tree" | "read-tree"
        | "update-index" | "write-tree" => Draft::new(WRITE_FILE),
        "submodule" => Draft::new(WRITE_FILE).tag(TAG_NETWORK),
        "pull" => Draft::new(WRITE_FILE).tag(TAG_NETWORK),
        "fetch" => Draft::new(NET_FETCH),
        "clone" => Draft::new(NET_FETCH)
            .tag(TAG_CODE_CHANGE)
            .writes(norms(pos.iter().skip(1).copied())),
        "send-email" | "request-pull" => Draft::new(GIT_PUSH).tag(TAG_NETWORK),
        "credential" | "credential-store" | "credential-cache" => {
            if first_pos == Some("fill") || sub != "credential" {
                Draft::new(READ_SECRETS)
            } else {
                Draft::new(EXEC_SHELL)
            }
        }
        _ => {
            out.diag(format!("unknown git subcommand {sub:?} (an alias?)"));
            Draft::new(EXEC_SHELL)
        }
    };
    out.drafts.push(d.reads(dirs));
}

/// `git branch`/`git tag` that only list: every option is a listing option (with its value)
/// and patterns are given only with `--list`. Anything else (`--set-upstream-to=…`, a new
/// name) writes refs or configuration.
fn listing_only(sub: &str, rest: &[String]) -> bool {
    const FLAGS: &[&str] = &[
        "-a",
        "--all",
        "-r",
        "--remotes",
        "-v",
        "-vv",
        "--verbose",
        "-l",
        "--list",
        "--show-current",
        "-i",
        "--ignore-case",
        "--color",
        "--no-color",
        "--column",
        "--no-column",
        "--omit-empty",
        "-q",
        "--quiet",
    ];
    const VALUED: &[&str] = &[
        "--contains",
        "--no-contains",
        "--merged",
        "--no-merged",
        "--points-at",
        "--sort",
        "--format",
        "--abbrev",
        "--color",
        "--column",
    ];
    let mut listed = false;
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        let name = a.split('=').next().unwrap_or(a);
        if a == "-l" || a == "--list" {
            listed = true;
            continue;
        }
        if FLAGS.contains(&a.as_str()) {
            continue;
        }
        if VALUED.contains(&name) {
            if !a.contains('=') && !matches!(name, "--color" | "--column") {
                it.next();
            }
            continue;
        }
        if sub == "tag"
            && a.starts_with("-n")
            && a.get(2..)
                .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
        {
            continue;
        }
        if a.starts_with('-') {
            return false;
        }
        if !listed {
            return false;
        }
    }
    true
}

/// `git commit`'s file inputs: message files (`-F`, `--file`, `-t`, `--template`) and
/// pathspecs (positionals, skipping the values of options that take one).
fn commit_inputs(rest: &[String]) -> (Vec<String>, Vec<String>) {
    const FILE_OPTS: &[&str] = &["-F", "--file", "-t", "--template", "--pathspec-from-file"];
    const VALUE_OPTS: &[&str] = &[
        "-m",
        "--message",
        "-C",
        "--reuse-message",
        "-c",
        "--reedit-message",
        "--author",
        "--date",
        "--fixup",
        "--squash",
        "--cleanup",
        "--trailer",
        "-u",
        "--untracked-files",
        "-S",
        "--gpg-sign",
    ];
    let mut files = Vec::new();
    let mut specs = Vec::new();
    let mut it = rest.iter();
    let mut only_pos = false;
    while let Some(a) = it.next() {
        if only_pos {
            specs.push(norm(a));
            continue;
        }
        if a == "--" {
            only_pos = true;
            continue;
        }
        let name = a.split('=').next().unwrap_or(a);
        if FILE_OPTS.contains(&name) {
            let v = match a.split_once('=') {
                Some((_, v)) => Some(v.to_owned()),
                None => it.next().cloned(),
            };
            files.extend(v.map(|v| norm(&v)));
            continue;
        }
        if let Some(v) = a.strip_prefix("-F").filter(|v| !v.is_empty()) {
            files.push(norm(v));
            continue;
        }
        let cluster_with_value = !a.starts_with("--")
            && a.len() > 2
            && a.starts_with('-')
            && a.ends_with(['m', 'C', 'c']);
        if (VALUE_OPTS.contains(&a.as_str()) && !matches!(a.as_str(), "-u" | "-S"))
            || cluster_with_value
        {
            it.next();
            continue;
        }
        if !a.starts_with('-') {
            specs.push(norm(a));
        }
    }
    (files, specs)
}
