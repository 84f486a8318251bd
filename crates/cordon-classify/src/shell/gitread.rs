//! Positive option lists for git's reading subcommands: `git log --output=.git/config` writes,
//! `git diff --ext-diff` and `--textconv` run programs, `git grep -O` opens a pager, `git log
//! --show-signature` runs gpg. Only options listed here keep a reading subcommand a read; any
//! other is `exec.shell` with its name in the reason, `--output` is a write of its path.
//!
//! git accepts unique abbreviations of long options (`--outp=x`), so names match exactly.

use super::args::norm;

/// What the options of a reading subcommand do.
#[derive(Debug, Default)]
pub(crate) struct GitScan {
    /// Paths written by `--output`.
    pub writes: Vec<String>,
    /// Paths read by options (`--contents`, `-S revs-file`, `--exclude-from`).
    pub reads: Vec<String>,
    /// The output carries file contents (`-p`, `--patch`, `-u`, `--word-diff`...).
    pub patch: bool,
    /// Positionals (revisions and pathspecs).
    pub positionals: Vec<String>,
    /// Positionals after `--` (pathspecs only).
    pub pathspecs: Vec<String>,
}

/// Flags shared by the log and diff families.
const LOG_DIFF_FLAGS: &[&str] = &[
    "--oneline",
    "--graph",
    "--stat",
    "--numstat",
    "--shortstat",
    "--name-only",
    "--name-status",
    "--no-patch",
    "--decorate",
    "--no-decorate",
    "--all",
    "--branches",
    "--tags",
    "--remotes",
    "--reverse",
    "--follow",
    "--no-follow",
    "--first-parent",
    "--merges",
    "--no-merges",
    "--abbrev-commit",
    "--no-abbrev-commit",
    "--relative-date",
    "--cached",
    "--staged",
    "--color",
    "--no-color",
    "--summary",
    "--full-index",
    "--binary",
    "--check",
    "--exit-code",
    "--quiet",
    "--minimal",
    "--patience",
    "--histogram",
    "--raw",
    "--no-ext-diff",
    "--no-textconv",
    "--ignore-space-change",
    "--ignore-all-space",
    "--ignore-blank-lines",
    "--ignore-space-at-eol",
    "--ignore-cr-at-eol",
    "--compact-summary",
    "--dirstat",
    "--cumulative",
    "--left-right",
    "--left-only",
    "--right-only",
    "--cherry-pick",
    "--cherry-mark",
    "--cherry",
    "--boundary",
    "--date-order",
    "--topo-order",
    "--author-date-order",
    "--source",
    "--full-diff",
    "--log-size",
    "--no-walk",
    "--do-walk",
    "--walk-reflogs",
    "--simplify-by-decoration",
    "--ancestry-path",
    "--show-pulls",
    "--parents",
    "--children",
    "--no-renames",
    "--find-copies-harder",
    "--irreversible-delete",
    "--text",
    "--ignore-submodules",
    "--no-prefix",
    "--default-prefix",
    "--relative",
    "--no-relative",
    "--mailmap",
    "--no-mailmap",
    "--use-mailmap",
    "--no-use-mailmap",
    "--regexp-ignore-case",
    "--extended-regexp",
    "--fixed-strings",
    "--perl-regexp",
    "--basic-regexp",
    "--all-match",
    "--invert-grep",
    "--no-index",
    "--merge",
    "--cc",
    "--remerge-diff",
    "--no-diff-merges",
    "--combined-all-paths",
    "--no-color-moved",
    "--no-color-moved-ws",
    "--indent-heuristic",
    "--no-indent-heuristic",
    "--function-context",
    "--show-linear-break",
    "--no-notes",
    "--expand-tabs",
    "--no-expand-tabs",
    "--single-worktree",
    "--full-history",
    "--dense",
    "--sparse",
    "--simplify-merges",
    "--bisect",
    "--stdin",
    "--count",
    "--objects",
    "--objects-edge",
    "--unpacked",
    "--timestamp",
    "--header",
    "--in-commit-order",
    "--no-object-names",
    "--missing=print",
    "--ignore-missing",
    "--since-as-filter",
    "--first-parent-only",
    "--patch-with-stat",
    "--patch-with-raw",
    "--pickaxe-all",
    "--pickaxe-regex",
    "--find-renames",
    "--find-copies",
    "--break-rewrites",
    "--color-words",
    "--word-diff",
    "--no-standard-notes",
    "--standard-notes",
    "--show-notes-by-default",
    "--clear-decorations",
    "--ita-invisible-in-index",
    "--ita-visible-in-index",
    "--anchored",
    "--minimal",
    "--name-rev",
    "--numbered",
    "--summary",
    "--email",
    "--committer",
    "--no-signature",
    "--no-show-signature",
];

/// Options of the log and diff families whose value is harmless, as `--opt=v` or `--opt v`.
const LOG_DIFF_VALS: &[&str] = &[
    "--format",
    "--pretty",
    "--date",
    "--author",
    "--committer",
    "--grep",
    "--since",
    "--until",
    "--after",
    "--before",
    "--max-count",
    "--skip",
    "--abbrev",
    "--decorate",
    "--color",
    "--word-diff",
    "--word-diff-regex",
    "--unified",
    "--diff-filter",
    "--diff-algorithm",
    "--find-renames",
    "--find-copies",
    "--break-rewrites",
    "--stat",
    "--stat-width",
    "--stat-name-width",
    "--stat-graph-width",
    "--stat-count",
    "--dirstat",
    "--src-prefix",
    "--dst-prefix",
    "--relative",
    "--ignore-submodules",
    "--min-parents",
    "--max-parents",
    "--encoding",
    "--color-moved",
    "--color-moved-ws",
    "--color-words",
    "--submodule",
    "--inter-hunk-context",
    "--anchored",
    "--exclude",
    "--glob",
    "--branches",
    "--tags",
    "--remotes",
    "--diff-merges",
    "--show-notes",
    "--notes",
    "--output-indicator-new",
    "--output-indicator-old",
    "--output-indicator-context",
    "--ws-error-highlight",
    "--find-object",
    "--line-prefix",
    "--decorate-refs",
    "--decorate-refs-exclude",
    "--exclude-first-parent-only",
    "--max-age",
    "--min-age",
    "--since-as-filter",
    "--creation-factor",
    "--rotate-to",
    "--skip-to",
    "--ignore-matching-lines",
    "--unified",
    "--pickaxe",
    "--exclude-hidden",
    "--group",
    "--abbrev",
];

/// Short flags of the log and diff families (letters without a value).
const LOG_DIFF_SHORT: &str = "pusRaiEFPwbWzDmgcrt";
/// Short options of the log and diff families with a value (attached or next).
const LOG_DIFF_SHORT_VALS: &str = "nSGLUMClB";

const STATUS_FLAGS: &[&str] = &[
    "--short",
    "--branch",
    "--porcelain",
    "--long",
    "--verbose",
    "--untracked-files",
    "--ignored",
    "--ignore-submodules",
    "--column",
    "--no-column",
    "--ahead-behind",
    "--no-ahead-behind",
    "--renames",
    "--no-renames",
    "--find-renames",
    "--show-stash",
    "--null",
];
const STATUS_VALS: &[&str] = &[
    "--porcelain",
    "--untracked-files",
    "--ignored",
    "--ignore-submodules",
    "--column",
    "--find-renames",
];

const REV_PARSE_FLAGS: &[&str] = &[
    "--abbrev-ref",
    "--short",
    "--verify",
    "--quiet",
    "--show-toplevel",
    "--git-dir",
    "--is-inside-work-tree",
    "--is-inside-git-dir",
    "--absolute-git-dir",
    "--show-prefix",
    "--show-cdup",
    "--symbolic-full-name",
    "--symbolic",
    "--all",
    "--branches",
    "--tags",
    "--remotes",
    "--git-common-dir",
    "--is-bare-repository",
    "--is-shallow-repository",
    "--show-superproject-working-tree",
    "--sq",
    "--sq-quote",
    "--local-env-vars",
    "--show-object-format",
    "--show-ref-format",
    "--revs-only",
    "--no-revs",
    "--flags",
    "--no-flags",
    "--not",
    "--git-path",
    "--shared-index-path",
    "--resolve-git-dir",
    "--parseopt",
    "--keep-dashdash",
    "--stop-at-non-option",
    "--stuck-long",
];
const REV_PARSE_VALS: &[&str] = &[
    "--abbrev-ref",
    "--short",
    "--default",
    "--prefix",
    "--path-format",
    "--glob",
    "--exclude",
    "--branches",
    "--tags",
    "--remotes",
    "--since",
    "--until",
    "--after",
    "--before",
    "--show-object-format",
    "--disambiguate",
];

const LS_FILES_FLAGS: &[&str] = &[
    "--cached",
    "--deleted",
    "--modified",
    "--others",
    "--ignored",
    "--stage",
    "--unmerged",
    "--killed",
    "--directory",
    "--no-empty-directory",
    "--eol",
    "--exclude-standard",
    "--full-name",
    "--recurse-submodules",
    "--error-unmatch",
    "--deduplicate",
    "--sparse",
    "--debug",
    "--resolve-undo",
];
const LS_FILES_VALS: &[&str] = &[
    "--exclude",
    "--exclude-per-directory",
    "--abbrev",
    "--format",
    "--with-tree",
];

const LS_TREE_FLAGS: &[&str] = &[
    "--name-only",
    "--name-status",
    "--object-only",
    "--full-name",
    "--full-tree",
    "--long",
];
const LS_TREE_VALS: &[&str] = &["--abbrev", "--format"];

const FOR_EACH_REF_FLAGS: &[&str] = &[
    "--shell",
    "--perl",
    "--python",
    "--tcl",
    "--ignore-case",
    "--omit-empty",
    "--stdin",
    "--head",
    "--heads",
    "--tags",
    "--dereference",
    "--hash",
    "--abbrev",
    "--quiet",
    "--verify",
    "--exists",
    "--branches",
];
const FOR_EACH_REF_VALS: &[&str] = &[
    "--format",
    "--sort",
    "--count",
    "--points-at",
    "--merged",
    "--no-merged",
    "--contains",
    "--no-contains",
    "--exclude",
    "--abbrev",
    "--hash",
    "--include-root-refs",
];

const DESCRIBE_FLAGS: &[&str] = &[
    "--tags",
    "--all",
    "--long",
    "--always",
    "--dirty",
    "--broken",
    "--contains",
    "--first-parent",
    "--exact-match",
    "--debug",
];
const DESCRIBE_VALS: &[&str] = &[
    "--abbrev",
    "--match",
    "--exclude",
    "--candidates",
    "--dirty",
    "--broken",
];

const BLAME_FLAGS: &[&str] = &[
    "--root",
    "--show-stats",
    "--porcelain",
    "--line-porcelain",
    "--incremental",
    "--show-name",
    "--show-number",
    "--show-email",
    "--minimal",
    "--color-lines",
    "--color-by-age",
    "--progress",
    "--no-progress",
    "--score-debug",
];
const BLAME_VALS: &[&str] = &[
    "--date",
    "--ignore-rev",
    "--abbrev",
    "--encoding",
    "--since",
];
const BLAME_READS: &[&str] = &["--contents", "--ignore-revs-file"];

const GREP_FLAGS: &[&str] = &[
    "--cached",
    "--untracked",
    "--no-index",
    "--no-exclude-standard",
    "--exclude-standard",
    "--recurse-submodules",
    "--text",
    "--textconv-no",
    "--ignore-case",
    "--word-regexp",
    "--invert-match",
    "--full-name",
    "--extended-regexp",
    "--basic-regexp",
    "--perl-regexp",
    "--fixed-strings",
    "--line-number",
    "--column",
    "--files-with-matches",
    "--name-only",
    "--files-without-match",
    "--null",
    "--only-matching",
    "--count",
    "--heading",
    "--break",
    "--show-function",
    "--function-context",
    "--and",
    "--or",
    "--not",
    "--all-match",
    "--quiet",
    "--no-color",
    "--color",
    "--no-textconv",
];
const GREP_VALS: &[&str] = &[
    "--max-depth",
    "--context",
    "--after-context",
    "--before-context",
    "--threads",
    "--color",
    "--max-count",
    "-e",
];
const GREP_SHORT: &str = "aiIwvhHEGPFnlLzocqrW";
const GREP_SHORT_VALS: &str = "ABCme";

const SHOW_REF_FLAGS: &[&str] = &[
    "--head",
    "--heads",
    "--tags",
    "--branches",
    "--dereference",
    "--hash",
    "--abbrev",
    "--verify",
    "--quiet",
    "--exists",
    "--exclude-existing",
];

const CAT_FILE_FLAGS: &[&str] = &[
    "--batch",
    "--batch-check",
    "--batch-command",
    "--batch-all-objects",
    "--buffer",
    "--unordered",
    "--follow-symlinks",
    "--allow-unknown-type",
    "--mailmap",
    "--no-mailmap",
    "--use-mailmap",
];

const MERGE_BASE_FLAGS: &[&str] = &[
    "--all",
    "--octopus",
    "--is-ancestor",
    "--fork-point",
    "--independent",
];

const MISC_FLAGS: &[&str] = &[
    "--all",
    "--verbose",
    "--human-readable",
    "--stdin",
    "--no-index",
    "--non-matching",
    "--quiet",
    "--cached",
    "--name-only",
    "--tags",
    "--refs",
    "--no-undefined",
    "--always",
    "--undefined",
    "--annotate-stdin",
    "--list",
    "--remotes",
    "--current",
    "--more",
    "--merge-base",
    "--independent",
    "--topo-order",
    "--date-order",
    "--sha1-name",
    "--no-name",
    "--sparse",
    "--reflog",
    "--color",
    "--no-color",
    "--summary",
    "--numbered",
    "--email",
    "--committer",
];
const MISC_VALS: &[&str] = &[
    "--exclude",
    "--source",
    "--group",
    "--format",
    "--name",
    "--exclude-from",
];

/// The option tables of a reading subcommand: (long flags, long values, short flags, short
/// valued, long read-path options, output carries contents by default).
type Table = (
    &'static [&'static str],
    &'static [&'static str],
    &'static str,
    &'static str,
    &'static [&'static str],
    bool,
);

fn table(sub: &str) -> Option<Table> {
    Some(match sub {
        "log" | "shortlog" | "rev-list" | "whatchanged" | "reflog" | "stash-list" => (
            LOG_DIFF_FLAGS,
            LOG_DIFF_VALS,
            LOG_DIFF_SHORT,
            LOG_DIFF_SHORT_VALS,
            &[],
            false,
        ),
        "diff" | "show" | "range-diff" | "stash-show" => (
            LOG_DIFF_FLAGS,
            LOG_DIFF_VALS,
            LOG_DIFF_SHORT,
            LOG_DIFF_SHORT_VALS,
            &[],
            true,
        ),
        "status" => (STATUS_FLAGS, STATUS_VALS, "sbvuz", "u", &[], false),
        "rev-parse" => (REV_PARSE_FLAGS, REV_PARSE_VALS, "q", "", &[], false),
        "ls-files" => (
            LS_FILES_FLAGS,
            LS_FILES_VALS,
            "cdmoiskuvtfz",
            "x",
            &["--exclude-from"],
            false,
        ),
        "ls-tree" => (LS_TREE_FLAGS, LS_TREE_VALS, "drtlz", "", &[], false),
        "for-each-ref" => (
            FOR_EACH_REF_FLAGS,
            FOR_EACH_REF_VALS,
            "spqP",
            "",
            &[],
            false,
        ),
        "show-ref" => (SHOW_REF_FLAGS, FOR_EACH_REF_VALS, "dsq", "", &[], false),
        "describe" => (DESCRIBE_FLAGS, DESCRIBE_VALS, "", "", &[], false),
        "blame" | "annotate" => (
            BLAME_FLAGS,
            BLAME_VALS,
            "lbtfnsewpcMC",
            "L",
            BLAME_READS,
            true,
        ),
        "grep" => (
            GREP_FLAGS,
            GREP_VALS,
            GREP_SHORT,
            GREP_SHORT_VALS,
            &[],
            true,
        ),
        "cat-file" => (CAT_FILE_FLAGS, &[], "tsepZ", "", &[], true),
        "merge-base" => (MERGE_BASE_FLAGS, &[], "a", "", &[], false),
        "name-rev" | "count-objects" | "check-ignore" | "check-attr" | "show-branch" | "cherry"
        | "var" | "version" => (
            MISC_FLAGS,
            MISC_VALS,
            "vHnqzalrv",
            "",
            &["--exclude-from"],
            false,
        ),
        _ => return None,
    })
}

/// Whether `sub` is a reading subcommand with a table here.
pub(crate) fn is_reading(sub: &str) -> bool {
    table(sub).is_some()
}

/// Check a reading subcommand's arguments. `Err` names the option that is not known.
pub(crate) fn scan(sub: &str, args: &[String]) -> Result<GitScan, String> {
    let (flags, vals, short, short_vals, long_reads, patch_default) =
        table(sub).ok_or_else(|| format!("git {sub} is not a reading subcommand"))?;
    let mut s = GitScan {
        patch: patch_default,
        ..GitScan::default()
    };
    let unknown =
        |a: &str| format!("git {sub}: option {a} is not known to be read-only (not proven a read)");
    let mut it = args.iter();
    let mut dashdash = false;
    while let Some(a) = it.next() {
        if dashdash {
            s.pathspecs.push(a.clone());
            continue;
        }
        if a == "--" {
            dashdash = true;
            continue;
        }
        if !a.starts_with('-') || a == "-" {
            s.positionals.push(a.clone());
            continue;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (format!("--{n}"), Some(v.to_owned())),
                None => (a.clone(), None),
            };
            let n = name.as_str();
            // Writes and program runs, named for the reason.
            match n {
                "--output" => {
                    let v = match inline {
                        Some(v) => Some(v),
                        None => it.next().cloned(),
                    };
                    s.writes.push(norm(&v.unwrap_or_default()));
                    continue;
                }
                "--ext-diff"
                | "--textconv"
                | "--show-signature"
                | "--open-files-in-pager"
                | "--exec"
                | "--upload-pack"
                | "--filters" => {
                    return Err(format!("git {sub}: {n} runs a program"));
                }
                _ => {}
            }
            if n == "--patch"
                || n == "--word-diff"
                || n == "--color-words"
                || n == "--unified"
                || n == "--function-context"
            {
                s.patch = true;
            }
            if long_reads.contains(&n) {
                let v = match inline {
                    Some(v) => Some(v),
                    None => it.next().cloned(),
                };
                s.reads.push(norm(&v.unwrap_or_default()));
                continue;
            }
            if inline.is_none() && flags.contains(&n) {
                continue;
            }
            if vals.contains(&n) {
                if inline.is_none() && !flags.contains(&n) {
                    it.next();
                }
                continue;
            }
            return Err(unknown(a));
        }
        // Short clusters: `-p`, `-n5`, `-5`, `-U3`, `-S<str>`.
        let cluster = a.get(1..).unwrap_or("");
        if cluster.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        for (k, ch) in cluster.char_indices() {
            if ch == 'O' {
                return Err(format!("git {sub}: -O runs a pager or reads an order file"));
            }
            if matches!(ch, 'p' | 'u' | 'U' | 'W') {
                s.patch = true;
            }
            if ch == 's' && matches!(sub, "log" | "diff" | "show") {
                s.patch = false;
            }
            if short_vals.contains(ch) {
                if cluster.get(k + ch.len_utf8()..).unwrap_or("").is_empty()
                    && !matches!(ch, 'M' | 'C' | 'B' | 'u')
                {
                    it.next();
                }
                break;
            }
            if !short.contains(ch) {
                return Err(unknown(&format!("-{ch}")));
            }
        }
    }
    Ok(s)
}
