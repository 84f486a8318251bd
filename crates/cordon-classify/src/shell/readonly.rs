//! Reads are proven, not presumed: a program counts as a read only when every option it is
//! given is on its positive list below, and every positional argument has a known, read-only
//! meaning. An option that is not on the list (a typo, an abbreviation GNU getopt would accept,
//! an option added in a later release) makes the command `exec.shell` with a reason naming the
//! option; an option known to write (`sort -o`, `uniq IN OUT`, `tree -o`, `iconv -o`) makes it a
//! write of the named path.
//!
//! Long options are matched exactly: GNU programs accept unique abbreviations (`sort --outp=x`
//! is `--output=x`), so anything but the full spelling is unknown and therefore not a read.

use super::args::norm;
use crate::draft::Draft;
use crate::topic::*;

/// How one program's options and positional arguments are read.
pub(crate) struct Spec {
    /// Short options without a value (one letter each).
    pub flags: &'static str,
    /// Short options whose value is not a path (a number, a pattern, a format).
    pub vals: &'static str,
    /// Short options whose value is a path the program reads.
    pub reads: &'static str,
    /// Short options whose value is a path the program writes.
    pub writes: &'static str,
    /// Long options without a value.
    pub long_flags: &'static [&'static str],
    /// Long options with a value that is not a path (`--format=%h`, `--lines 5`).
    pub long_vals: &'static [&'static str],
    /// Long options whose value is optional and only given as `--opt=value`.
    pub long_opt: &'static [&'static str],
    /// Long options whose value is a path read.
    pub long_reads: &'static [&'static str],
    /// Long options whose value is a path written.
    pub long_writes: &'static [&'static str],
    /// `-5` means a count (`head -5`, `tail -20`).
    pub numeric: bool,
    /// What the positional arguments mean.
    pub positional: Positional,
    /// The topic when every argument is proven harmless.
    pub topic: &'static str,
}

/// The meaning of a program's positional arguments.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Positional {
    /// Every positional is a file read.
    Reads,
    /// Every positional is a name whose metadata (not contents) is read: `ls .env`, `stat`.
    Names,
    /// `IN [OUT]`: the second positional is written (`uniq`, `xxd`).
    InOut,
    /// The first positional is a pattern unless one was given by option; the rest are reads.
    PatternThenReads,
    /// No positional is a path (`date`, `echo`).
    NotPaths,
}

const NO: &[&str] = &[];

const fn spec(topic: &'static str, positional: Positional) -> Spec {
    Spec {
        flags: "",
        vals: "",
        reads: "",
        writes: "",
        long_flags: NO,
        long_vals: NO,
        long_opt: NO,
        long_reads: NO,
        long_writes: NO,
        numeric: false,
        positional,
        topic,
    }
}

const HELP: &[&str] = &["help", "version"];

/// What a scan of the arguments found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Positional arguments.
    pub positionals: Vec<String>,
    /// Paths read through options.
    pub reads: Vec<String>,
    /// Paths written through options, with the option that writes them.
    pub writes: Vec<(String, String)>,
    /// The options given (`-o`, `--output`), for program-specific checks.
    pub options: Vec<String>,
    /// Values of plain-valued options, with the option: (`-e`, `s/a/b/`).
    pub values: Vec<(String, String)>,
}

impl Scan {
    pub(crate) fn has(&self, names: &[&str]) -> bool {
        self.options.iter().any(|o| names.contains(&o.as_str()))
    }

    pub(crate) fn values_of(&self, names: &[&str]) -> Vec<&str> {
        self.values
            .iter()
            .filter(|(o, _)| names.contains(&o.as_str()))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn unknown(prog: &str, opt: &str) -> String {
    format!("{prog}: option {opt} is not known to be read-only (not proven a read)")
}

/// Check every argument against `spec`. `Err` names the first option that is not known.
pub(crate) fn scan(prog: &str, spec: &Spec, args: &[String]) -> Result<Scan, String> {
    let mut s = Scan::default();
    let mut it = args.iter();
    let mut only_pos = false;
    while let Some(a) = it.next() {
        if only_pos || a == "-" || !a.starts_with('-') || a.len() < 2 {
            s.positionals.push(a.clone());
            continue;
        }
        if a == "--" {
            only_pos = true;
            continue;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (long, None),
            };
            let opt = format!("--{name}");
            let takes = |list: &[&str]| list.contains(&name);
            let value = |it: &mut std::slice::Iter<'_, String>| -> Result<String, String> {
                match &inline {
                    Some(v) => Ok(v.clone()),
                    None => it
                        .next()
                        .cloned()
                        .ok_or_else(|| format!("{prog}: option {opt} lacks its value")),
                }
            };
            if (takes(spec.long_flags) || takes(HELP)) && inline.is_none() {
                s.options.push(opt);
            } else if takes(spec.long_opt) {
                if let Some(v) = inline {
                    s.values.push((opt.clone(), v));
                }
                s.options.push(opt);
            } else if takes(spec.long_vals) {
                let v = value(&mut it)?;
                s.values.push((opt.clone(), v));
                s.options.push(opt);
            } else if takes(spec.long_reads) {
                let v = value(&mut it)?;
                s.reads.push(norm(&v));
                s.options.push(opt);
            } else if takes(spec.long_writes) {
                let v = value(&mut it)?;
                s.writes.push((norm(&v), opt.clone()));
                s.options.push(opt);
            } else {
                return Err(unknown(prog, a));
            }
            continue;
        }
        let cluster = a.get(1..).unwrap_or("");
        if spec.numeric && cluster.chars().all(|c| c.is_ascii_digit()) {
            s.options.push("-N".to_owned());
            continue;
        }
        for (k, ch) in cluster.char_indices() {
            let opt = format!("-{ch}");
            let rest = cluster.get(k + ch.len_utf8()..).unwrap_or("");
            let value = |it: &mut std::slice::Iter<'_, String>| -> Result<String, String> {
                if rest.is_empty() {
                    it.next()
                        .cloned()
                        .ok_or_else(|| format!("{prog}: option {opt} lacks its value"))
                } else {
                    Ok(rest.to_owned())
                }
            };
            if spec.flags.contains(ch) {
                s.options.push(opt);
                continue;
            }
            if spec.vals.contains(ch) {
                let v = value(&mut it)?;
                s.values.push((opt.clone(), v));
            } else if spec.reads.contains(ch) {
                let v = value(&mut it)?;
                s.reads.push(norm(&v));
            } else if spec.writes.contains(ch) {
                let v = value(&mut it)?;
                s.writes.push((norm(&v), opt.clone()));
            } else {
                return Err(unknown(prog, &opt));
            }
            s.options.push(opt);
            break;
        }
    }
    Ok(s)
}

/// The spec of a program proven read-only when its arguments are, or None.
pub(crate) fn lookup(prog: &str) -> Option<&'static Spec> {
    Some(match prog {
        "cat" => &CAT,
        "tac" => &TAC,
        "nl" => &NL,
        "head" => &HEAD,
        "tail" => &TAIL,
        "wc" => &WC,
        "ls" | "dir" | "vdir" => &LS,
        "stat" => &STAT,
        "file" => &FILE,
        "diff" => &DIFF,
        "cmp" => &CMP,
        "comm" => &COMM,
        "sort" => &SORT,
        "uniq" => &UNIQ,
        "cut" => &CUT,
        "tr" => &TR,
        "column" => &COLUMN,
        "fold" => &FOLD,
        "fmt" => &FMT,
        "paste" => &PASTE,
        "join" => &JOIN,
        "expand" | "unexpand" => &EXPAND,
        "rev" => &REV,
        "od" => &OD,
        "xxd" => &XXD,
        "hexdump" => &HEXDUMP,
        "strings" => &STRINGS,
        "md5sum" | "sha1sum" | "sha224sum" | "sha256sum" | "sha384sum" | "sha512sum" | "b2sum" => {
            &SUMS
        }
        "cksum" | "sum" => &CKSUM,
        "base64" | "base32" | "basenc" => &BASE64,
        "iconv" => &ICONV,
        "tree" => &TREE,
        "du" => &DU,
        "df" => &DF,
        "grep" | "egrep" | "fgrep" => &GREP,
        "rg" => &RG,
        "jq" => &JQ,
        "look" => &LOOK,
        "pr" => &PR,
        "realpath" => &REALPATH,
        "readlink" => &READLINK,
        "basename" | "dirname" => &BASENAME,
        "pwd" => &PWD,
        "date" => &DATE,
        "uname" => &UNAME,
        "whoami" | "id" | "groups" | "logname" | "users" | "nproc" | "arch" | "tty" | "who"
        | "w" | "uptime" | "free" | "locale" | "cal" => &SYSINFO,
        "echo" => &ECHO,
        "printf" => &PRINTF,
        "true" | "false" | ":" | "test" | "[" | "[[" | "expr" | "seq" | "sleep" | "yes" => &ANY,
        "which" => &WHICH,
        "hostname" => &HOSTNAME,
        "lsof" => &ANY_OPTS,
        _ => return None,
    })
}

use Positional::*;

/// Any argument (they are values, not options: `test -f x`, `expr 1 + 2`, `seq 1 10`).
static ANY: Spec = Spec {
    positional: NotPaths,
    ..spec(READ_FILE, NotPaths)
};
/// Programs without any option that writes or runs a program (documented per program).
static ANY_OPTS: Spec = spec(READ_FILE, NotPaths);

static CAT: Spec = Spec {
    flags: "AbeEnstTuv",
    long_flags: &[
        "show-all",
        "number-nonblank",
        "show-ends",
        "number",
        "squeeze-blank",
        "show-tabs",
        "show-nonprinting",
    ],
    ..spec(READ_FILE, Reads)
};
static TAC: Spec = Spec {
    flags: "br",
    vals: "s",
    long_flags: &["before", "regex"],
    long_vals: &["separator"],
    ..spec(READ_FILE, Reads)
};
static NL: Spec = Spec {
    flags: "p",
    vals: "bdfhilnsvw",
    long_flags: &["no-renumber"],
    long_vals: &[
        "body-numbering",
        "section-delimiter",
        "footer-numbering",
        "header-numbering",
        "line-increment",
        "join-blank-lines",
        "number-format",
        "number-separator",
        "starting-line-number",
        "number-width",
    ],
    ..spec(READ_FILE, Reads)
};
static HEAD: Spec = Spec {
    flags: "qvz",
    vals: "nc",
    long_flags: &["quiet", "silent", "verbose", "zero-terminated"],
    long_vals: &["lines", "bytes"],
    numeric: true,
    ..spec(READ_FILE, Reads)
};
static TAIL: Spec = Spec {
    flags: "fFqvz",
    vals: "ncs",
    long_flags: &["quiet", "silent", "verbose", "zero-terminated", "retry"],
    long_vals: &[
        "lines",
        "bytes",
        "sleep-interval",
        "pid",
        "max-unchanged-stats",
    ],
    long_opt: &["follow"],
    numeric: true,
    ..spec(READ_FILE, Reads)
};
static WC: Spec = Spec {
    flags: "cmlLw",
    long_flags: &["bytes", "chars", "lines", "max-line-length", "words"],
    long_vals: &["total"],
    long_reads: &["files0-from"],
    ..spec(READ_FILE, Names)
};
/// ls has no option that writes or runs a program; the list is still positive.
static LS: Spec = Spec {
    flags: "aAbBcCdDfFgGhHiklLmnNopqQrRsStuUvxXZ1",
    vals: "ITw",
    long_flags: &[
        "all",
        "almost-all",
        "author",
        "escape",
        "ignore-backups",
        "directory",
        "dired",
        "classify",
        "file-type",
        "full-time",
        "group-directories-first",
        "no-group",
        "human-readable",
        "si",
        "dereference-command-line",
        "dereference-command-line-symlink-to-dir",
        "inode",
        "kibibytes",
        "dereference",
        "literal",
        "numeric-uid-gid",
        "hide-control-chars",
        "show-control-chars",
        "quote-name",
        "reverse",
        "recursive",
        "size",
        "context",
        "zero",
    ],
    long_vals: &[
        "block-size",
        "format",
        "hide",
        "ignore",
        "quoting-style",
        "sort",
        "time",
        "time-style",
        "tabsize",
        "width",
    ],
    long_opt: &["color", "colour", "hyperlink", "indicator-style"],
    ..spec(READ_DIR, Names)
};
static STAT: Spec = Spec {
    flags: "Lft",
    vals: "c",
    long_flags: &["dereference", "file-system", "terse"],
    long_vals: &["format", "printf", "cached"],
    ..spec(READ_FILE, Names)
};
/// `file -C` compiles a magic file (a write): not listed.
static FILE: Spec = Spec {
    flags: "bcEhiklLnNprsSzZ0",
    vals: "eFP",
    reads: "fm",
    long_flags: &[
        "brief",
        "checking-printout",
        "no-dereference",
        "mime",
        "mime-type",
        "mime-encoding",
        "keep-going",
        "list",
        "dereference",
        "no-buffer",
        "no-pad",
        "preserve-date",
        "raw",
        "special-files",
        "no-sandbox",
        "uncompress",
        "uncompress-noreport",
        "print0",
        "extension",
        "apple",
    ],
    long_vals: &["exclude", "exclude-quiet", "separator", "parameter"],
    long_reads: &["files-from", "magic-file"],
    ..spec(READ_FILE, Names)
};
/// `diff -l`/`--paginate` runs `pr`: not listed.
static DIFF: Spec = Spec {
    flags: "abBcdeEfiNnpqrsTtuvwyZ",
    vals: "CDFILSUWx",
    reads: "X",
    long_flags: &[
        "normal",
        "brief",
        "report-identical-files",
        "ed",
        "rcs",
        "side-by-side",
        "left-column",
        "suppress-common-lines",
        "show-c-function",
        "new-file",
        "unidirectional-new-file",
        "ignore-case",
        "ignore-file-name-case",
        "no-ignore-file-name-case",
        "recursive",
        "no-dereference",
        "text",
        "strip-trailing-cr",
        "ignore-tab-expansion",
        "ignore-trailing-space",
        "ignore-space-change",
        "ignore-all-space",
        "ignore-blank-lines",
        "minimal",
        "speed-large-files",
        "suppress-blank-empty",
        "initial-tab",
        "expand-tabs",
        "unified",
        "context",
    ],
    long_vals: &[
        "label",
        "ignore-matching-lines",
        "show-function-line",
        "exclude",
        "starting-file",
        "width",
        "tabsize",
        "horizon-lines",
        "line-format",
        "old-line-format",
        "new-line-format",
        "unchanged-line-format",
        "old-group-format",
        "new-group-format",
        "changed-group-format",
        "unchanged-group-format",
        "ifdef",
    ],
    long_opt: &["color", "palette"],
    long_reads: &["exclude-from", "from-file", "to-file"],
    ..spec(READ_FILE, Reads)
};
static CMP: Spec = Spec {
    flags: "blsz",
    vals: "in",
    long_flags: &[
        "print-bytes",
        "verbose",
        "quiet",
        "silent",
        "zero-terminated",
    ],
    long_vals: &["ignore-initial", "bytes"],
    ..spec(READ_FILE, Reads)
};
static COMM: Spec = Spec {
    flags: "123z",
    long_flags: &["check-order", "nocheck-order", "total", "zero-terminated"],
    long_vals: &["output-delimiter"],
    ..spec(READ_FILE, Reads)
};
/// `sort -o FILE` writes; `--compress-program` runs one (not listed).
static SORT: Spec = Spec {
    flags: "bdfgiMhnRrVcCmsuz",
    vals: "kStT",
    writes: "o",
    long_flags: &[
        "ignore-leading-blanks",
        "dictionary-order",
        "ignore-case",
        "general-numeric-sort",
        "ignore-nonprinting",
        "month-sort",
        "human-numeric-sort",
        "numeric-sort",
        "random-sort",
        "reverse",
        "version-sort",
        "merge",
        "stable",
        "unique",
        "zero-terminated",
        "debug",
    ],
    long_vals: &[
        "key",
        "buffer-size",
        "field-separator",
        "temporary-directory",
        "parallel",
        "sort",
        "batch-size",
    ],
    long_opt: &["check"],
    long_reads: &["files0-from", "random-source"],
    long_writes: &["output"],
    ..spec(READ_FILE, Reads)
};
/// `uniq IN OUT` writes OUT.
static UNIQ: Spec = Spec {
    flags: "cdDiuz",
    vals: "fsw",
    long_flags: &[
        "count",
        "repeated",
        "ignore-case",
        "unique",
        "zero-terminated",
    ],
    long_vals: &["skip-fields", "skip-chars", "check-chars"],
    long_opt: &["all-repeated", "group"],
    ..spec(READ_FILE, InOut)
};
static CUT: Spec = Spec {
    flags: "nsz",
    vals: "bcdf",
    long_flags: &["complement", "only-delimited", "zero-terminated"],
    long_vals: &[
        "bytes",
        "characters",
        "delimiter",
        "fields",
        "output-delimiter",
    ],
    ..spec(READ_FILE, Reads)
};
static TR: Spec = Spec {
    flags: "cCdst",
    long_flags: &["complement", "delete", "squeeze-repeats", "truncate-set1"],
    ..spec(READ_FILE, NotPaths)
};
/// `column -o` is the output separator, not a file.
static COLUMN: Spec = Spec {
    flags: "eJLnRtx",
    vals: "cdHlNoOsWr",
    long_flags: &[
        "table",
        "json",
        "keep-empty-lines",
        "fillrows",
        "table-noheadings",
        "table-right-all",
    ],
    long_vals: &[
        "columns",
        "output-width",
        "table-columns",
        "table-column",
        "table-name",
        "table-order",
        "table-right",
        "table-truncate",
        "table-noextreme",
        "table-wrap",
        "table-hide",
        "separator",
        "output-separator",
        "tree",
        "tree-id",
        "tree-parent",
    ],
    ..spec(READ_FILE, Reads)
};
static FOLD: Spec = Spec {
    flags: "bs",
    vals: "w",
    long_flags: &["bytes", "spaces"],
    long_vals: &["width"],
    numeric: true,
    ..spec(READ_FILE, Reads)
};
static FMT: Spec = Spec {
    flags: "cstu",
    vals: "pwg",
    long_flags: &[
        "crown-margin",
        "split-only",
        "tagged-paragraph",
        "uniform-spacing",
    ],
    long_vals: &["prefix", "width", "goal"],
    numeric: true,
    ..spec(READ_FILE, Reads)
};
static PASTE: Spec = Spec {
    flags: "sz",
    vals: "d",
    long_flags: &["serial", "zero-terminated"],
    long_vals: &["delimiters"],
    ..spec(READ_FILE, Reads)
};
/// `join -o` is a field list, not a file.
static JOIN: Spec = Spec {
    flags: "iz",
    vals: "12aetov",
    long_flags: &[
        "ignore-case",
        "check-order",
        "nocheck-order",
        "header",
        "zero-terminated",
    ],
    ..spec(READ_FILE, Reads)
};
static EXPAND: Spec = Spec {
    flags: "ia",
    vals: "t",
    long_flags: &["initial", "all", "first-only"],
    long_vals: &["tabs"],
    numeric: true,
    ..spec(READ_FILE, Reads)
};
static REV: Spec = Spec {
    flags: "0",
    long_flags: &["zero"],
    ..spec(READ_FILE, Reads)
};
static OD: Spec = Spec {
    flags: "bcdDfiloOsvxX",
    vals: "AjNtSw",
    long_flags: &["output-duplicates", "traditional"],
    long_vals: &[
        "address-radix",
        "skip-bytes",
        "read-bytes",
        "format",
        "strings",
    ],
    long_opt: &["endian", "width"],
    ..spec(READ_FILE, Reads)
};
/// `xxd IN OUT` writes OUT; `-r` reverts a dump into a binary (still only OUT written).
static XXD: Spec = Spec {
    flags: "abCeEiprudR",
    vals: "cglnosR",
    long_flags: NO,
    ..spec(READ_FILE, InOut)
};
static HEXDUMP: Spec = Spec {
    flags: "bcCdoxv",
    vals: "ens",
    reads: "f",
    long_flags: &[
        "one-byte-octal",
        "one-byte-char",
        "canonical",
        "two-bytes-decimal",
        "two-bytes-octal",
        "two-bytes-hex",
        "no-squeezing",
    ],
    long_vals: &["format", "length", "skip", "color"],
    long_reads: &["format-file"],
    ..spec(READ_FILE, Reads)
};
static STRINGS: Spec = Spec {
    flags: "afdwsU",
    vals: "nteT",
    long_flags: &["all", "print-file-name", "data", "include-all-whitespace"],
    long_vals: &[
        "bytes",
        "radix",
        "encoding",
        "target",
        "output-separator",
        "unicode",
    ],
    numeric: true,
    ..spec(READ_FILE, Reads)
};
static SUMS: Spec = Spec {
    flags: "bctwz",
    vals: "l",
    long_flags: &[
        "binary",
        "check",
        "tag",
        "text",
        "zero",
        "ignore-missing",
        "quiet",
        "status",
        "strict",
        "warn",
    ],
    long_vals: &["length"],
    ..spec(READ_FILE, Reads)
};
static CKSUM: Spec = Spec {
    flags: "rsz",
    vals: "al",
    long_flags: &[
        "raw", "tag", "untagged", "zero", "base64", "check", "strict", "warn", "quiet", "status",
    ],
    long_vals: &["algorithm", "length"],
    ..spec(READ_FILE, Reads)
};
static BASE64: Spec = Spec {
    flags: "diz",
    vals: "w",
    long_flags: &[
        "decode",
        "ignore-garbage",
        "base64",
        "base64url",
        "base32",
        "base32hex",
        "base16",
        "base2msbf",
        "base2lsbf",
        "z85",
    ],
    long_vals: &["wrap"],
    ..spec(READ_FILE, Reads)
};
/// `iconv -o FILE` writes.
static ICONV: Spec = Spec {
    flags: "clsv",
    vals: "ft",
    writes: "o",
    long_flags: &["list", "silent", "verbose"],
    long_vals: &["from-code", "to-code"],
    long_writes: &["output"],
    ..spec(READ_FILE, Reads)
};
/// `tree -o FILE` writes; `--fromfile` reads listings.
static TREE: Spec = Spec {
    flags: "adlfxACDFghinNpqQrstuvJSX",
    vals: "LPIHT",
    writes: "o",
    long_flags: &[
        "noreport",
        "charset",
        "dirsfirst",
        "filesfirst",
        "du",
        "si",
        "prune",
        "matchdirs",
        "ignore-case",
        "inodes",
        "device",
        "fromfile",
        "gitignore",
        "info",
    ],
    long_vals: &[
        "filelimit",
        "timefmt",
        "sort",
        "hintro",
        "houtro",
        "charset",
    ],
    ..spec(READ_DIR, Names)
};
static DU: Spec = Spec {
    flags: "0abcDhHklLmPsSx",
    vals: "dBt",
    reads: "X",
    long_flags: &[
        "null",
        "all",
        "apparent-size",
        "bytes",
        "total",
        "dereference-args",
        "human-readable",
        "inodes",
        "dereference",
        "count-links",
        "no-dereference",
        "separate-dirs",
        "si",
        "summarize",
        "one-file-system",
    ],
    long_vals: &[
        "max-depth",
        "block-size",
        "threshold",
        "exclude",
        "time-style",
    ],
    long_opt: &["time"],
    long_reads: &["files0-from", "exclude-from"],
    ..spec(READ_DIR, Names)
};
static DF: Spec = Spec {
    flags: "ahHiklPTv",
    vals: "Btx",
    long_flags: &[
        "all",
        "human-readable",
        "si",
        "inodes",
        "local",
        "no-sync",
        "sync",
        "portability",
        "print-type",
        "total",
    ],
    long_vals: &["block-size", "type", "exclude-type"],
    long_opt: &["output"],
    ..spec(READ_DIR, Names)
};
static GREP: Spec = Spec {
    flags: "EFGPiyvwxcLloqsbHhnTZzUraIR",
    vals: "eABCmdD",
    reads: "f",
    long_flags: &[
        "extended-regexp",
        "fixed-strings",
        "basic-regexp",
        "perl-regexp",
        "ignore-case",
        "no-ignore-case",
        "invert-match",
        "word-regexp",
        "line-regexp",
        "count",
        "files-without-match",
        "files-with-matches",
        "only-matching",
        "quiet",
        "silent",
        "no-messages",
        "byte-offset",
        "with-filename",
        "no-filename",
        "line-number",
        "initial-tab",
        "null",
        "null-data",
        "text",
        "recursive",
        "dereference-recursive",
        "line-buffered",
        "binary",
    ],
    long_vals: &[
        "regexp",
        "max-count",
        "label",
        "after-context",
        "before-context",
        "context",
        "binary-files",
        "devices",
        "directories",
        "exclude",
        "exclude-dir",
        "include",
    ],
    long_opt: &["color", "colour"],
    long_reads: &["file", "exclude-from"],
    numeric: true,
    ..spec(READ_SEARCH, PatternThenReads)
};
/// ripgrep: `--pre` runs a program on every file, `-z`/`--search-zip` runs decompressors,
/// `--hostname-bin` runs a program: none listed.
static RG: Spec = Spec {
    flags: "aiIlLnNoqsSuvwxcFHhpUPb0",
    vals: "eABCmgtTrjMdE",
    reads: "f",
    long_flags: &[
        "text",
        "ignore-case",
        "smart-case",
        "case-sensitive",
        "files-with-matches",
        "files-without-match",
        "line-number",
        "no-line-number",
        "only-matching",
        "quiet",
        "unrestricted",
        "invert-match",
        "word-regexp",
        "line-regexp",
        "count",
        "count-matches",
        "fixed-strings",
        "with-filename",
        "no-filename",
        "pretty",
        "multiline",
        "multiline-dotall",
        "pcre2",
        "byte-offset",
        "null",
        "null-data",
        "hidden",
        "no-hidden",
        "follow",
        "no-follow",
        "no-ignore",
        "no-ignore-vcs",
        "no-ignore-dot",
        "no-ignore-parent",
        "no-ignore-global",
        "no-ignore-exclude",
        "no-ignore-files",
        "ignore-file-case-insensitive",
        "files",
        "type-list",
        "json",
        "vimgrep",
        "heading",
        "no-heading",
        "column",
        "no-column",
        "trim",
        "stats",
        "sort-files",
        "one-file-system",
        "line-buffered",
        "block-buffered",
        "no-messages",
        "binary",
        "no-binary",
        "crlf",
        "debug",
        "trace",
        "no-config",
        "passthru",
        "include-zero",
        "max-columns-preview",
        "no-unicode",
        "glob-case-insensitive",
        "no-require-git",
    ],
    long_vals: &[
        "regexp",
        "after-context",
        "before-context",
        "context",
        "max-count",
        "glob",
        "iglob",
        "type",
        "type-not",
        "type-add",
        "type-clear",
        "replace",
        "threads",
        "max-depth",
        "max-filesize",
        "max-columns",
        "encoding",
        "engine",
        "sort",
        "sortr",
        "color",
        "colors",
        "context-separator",
        "field-context-separator",
        "field-match-separator",
        "path-separator",
        "dfa-size-limit",
        "regex-size-limit",
        "hyperlink-format",
    ],
    long_reads: &["file", "ignore-file"],
    ..spec(READ_SEARCH, PatternThenReads)
};
/// jq has no option that writes or runs a program; `-f` reads the program, `--rawfile` and
/// `--slurpfile` take a name then a file (handled by the caller), `-L` a module directory.
static JQ: Spec = Spec {
    flags: "rjacnsSeCMh",
    vals: "",
    reads: "fL",
    long_flags: &[
        "raw-output",
        "join-output",
        "ascii-output",
        "compact-output",
        "null-input",
        "raw-input",
        "slurp",
        "sort-keys",
        "exit-status",
        "color-output",
        "monochrome-output",
        "tab",
        "seq",
        "stream",
        "stream-errors",
        "args",
        "jsonargs",
        "raw-output0",
        "unbuffered",
    ],
    long_vals: &["indent", "arg", "argjson"],
    long_reads: &["from-file", "rawfile", "slurpfile"],
    ..spec(READ_FILE, PatternThenReads)
};
static LOOK: Spec = Spec {
    flags: "bdf",
    vals: "t",
    long_flags: &["binary", "alphanum", "ignore-case"],
    long_vals: &["terminate"],
    ..spec(READ_FILE, PatternThenReads)
};
static PR: Spec = Spec {
    flags: "acdFfJmrtT",
    vals: "hilNoswWSe",
    long_flags: &[
        "across",
        "show-control-chars",
        "double-space",
        "form-feed",
        "join-lines",
        "merge",
        "no-file-warnings",
        "omit-header",
        "omit-pagination",
        "show-nonprinting",
    ],
    long_vals: &[
        "columns",
        "date-format",
        "header",
        "length",
        "first-line-number",
        "indent",
        "width",
        "page-width",
        "separator",
        "sep-string",
    ],
    numeric: true,
    ..spec(READ_FILE, Reads)
};
static REALPATH: Spec = Spec {
    flags: "eLmPqsz",
    long_flags: &[
        "canonicalize-existing",
        "canonicalize-missing",
        "logical",
        "physical",
        "quiet",
        "strip",
        "no-symlinks",
        "zero",
    ],
    long_vals: &["relative-to", "relative-base"],
    ..spec(READ_FILE, Names)
};
static READLINK: Spec = Spec {
    flags: "femnqsvz",
    long_flags: &[
        "canonicalize",
        "canonicalize-existing",
        "canonicalize-missing",
        "no-newline",
        "quiet",
        "silent",
        "verbose",
        "zero",
    ],
    ..spec(READ_FILE, Names)
};
static BASENAME: Spec = Spec {
    flags: "az",
    vals: "s",
    long_flags: &["multiple", "zero"],
    long_vals: &["suffix"],
    ..spec(READ_FILE, NotPaths)
};
static PWD: Spec = Spec {
    flags: "LP",
    ..spec(READ_FILE, NotPaths)
};
/// `date -s`/`--set` changes the clock, `-f` reads a file of dates: `-f` listed as a read.
static DATE: Spec = Spec {
    flags: "uRI",
    vals: "dr",
    reads: "f",
    long_flags: &["utc", "universal", "rfc-email", "debug"],
    long_vals: &["date", "reference"],
    long_opt: &["iso-8601", "rfc-3339"],
    long_reads: &["file"],
    ..spec(READ_FILE, NotPaths)
};
static UNAME: Spec = Spec {
    flags: "asnrvmpio",
    long_flags: &[
        "all",
        "kernel-name",
        "nodename",
        "kernel-release",
        "kernel-version",
        "machine",
        "processor",
        "hardware-platform",
        "operating-system",
    ],
    ..spec(READ_FILE, NotPaths)
};
/// Informational programs with harmless flags (`id -u`, `free -h`, `who -a`).
static SYSINFO: Spec = Spec {
    flags: "abcdgGhHklmnpqrRstTuUwz1",
    long_flags: &[
        "human", "all", "count", "mega", "giga", "kilo", "bytes", "since", "pretty", "total",
        "wide", "user", "group", "groups", "name", "real", "zero",
    ],
    ..spec(READ_FILE, NotPaths)
};
static ECHO: Spec = Spec {
    flags: "neE",
    ..spec(READ_FILE, NotPaths)
};
/// `printf -v NAME` sets a shell variable.
static PRINTF: Spec = Spec {
    vals: "v",
    ..spec(READ_FILE, NotPaths)
};
static WHICH: Spec = Spec {
    flags: "as",
    ..spec(READ_FILE, NotPaths)
};
/// `hostname NAME`, `-F FILE` and `-b NAME` set the host name, `-I`, `-i`, `-f`, `-d`, `-y`
/// query the network or NIS: only `-s` is listed, and the caller refuses positionals.
static HOSTNAME: Spec = Spec {
    flags: "s",
    long_flags: &["short"],
    ..spec(READ_FILE, NotPaths)
};

/// Classify a program with a spec: a read when proven, else a write of the option's path or
/// `exec.shell` with the reason. `None` when the program has no spec.
pub(crate) fn classify(prog: &str, rest: &[String], diags: &mut Vec<String>) -> Option<Draft> {
    let spec = lookup(prog)?;
    if std::ptr::eq(spec, &ANY) {
        return Some(Draft::new(READ_FILE));
    }
    let owned;
    let rest = if prog == "jq" {
        owned = jq_pairs(rest);
        &owned[..]
    } else {
        rest
    };
    let scan = match scan(prog, spec, rest) {
        Ok(s) => s,
        Err(reason) => {
            diags.push(reason);
            return Some(Draft::new(EXEC_SHELL).reads(super::args::path_like(rest)));
        }
    };
    if std::ptr::eq(spec, &ANY_OPTS) {
        return Some(Draft::new(READ_FILE));
    }
    let mut reads = scan.reads.clone();
    let mut names: Vec<String> = Vec::new();
    let mut writes: Vec<(String, String)> = scan.writes.clone();
    match spec.positional {
        Reads => reads.extend(scan.positionals.iter().map(|p| norm(p))),
        Names => names.extend(scan.positionals.iter().map(|p| norm(p))),
        InOut => {
            let mut it = scan.positionals.iter();
            if let Some(i) = it.next() {
                reads.push(norm(i));
            }
            if let Some(o) = it.next() {
                writes.push((norm(o), format!("its second file argument {o:?}")));
            }
            if it.next().is_some() {
                diags.push(format!("{prog}: more arguments than it takes"));
                return Some(Draft::new(EXEC_SHELL).reads(reads));
            }
        }
        PatternThenReads => {
            let explicit = scan.has(&["-e", "--regexp", "-f", "--file", "--from-file"]);
            let skip = usize::from(!explicit);
            reads.extend(scan.positionals.iter().skip(skip).map(|p| norm(p)));
        }
        NotPaths => {
            if prog == "hostname" && !scan.positionals.is_empty() {
                diags.push("hostname NAME sets the host name".to_owned());
                return Some(Draft::new(EXEC_SHELL));
            }
        }
    }
    if prog == "jq" {
        let program = if scan.has(&["-f", "--from-file"]) {
            ""
        } else {
            scan.positionals.first().map(String::as_str).unwrap_or("")
        };
        if program.contains("env") || program.contains("$ENV") {
            diags.push("jq program reads the environment".to_owned());
            return Some(Draft::new(READ_ENV));
        }
    }
    let mut d = if writes.is_empty() {
        Draft::new(spec.topic)
    } else {
        for (path, opt) in &writes {
            diags.push(format!("{prog}: {opt} writes {path}"));
        }
        Draft::new(WRITE_FILE)
    };
    d = d
        .reads(reads)
        .names(names)
        .writes(writes.into_iter().map(|(p, _)| p));
    Some(d)
}

/// jq's two-value options: `--arg NAME VALUE` and `--argjson NAME JSON` are dropped,
/// `--rawfile NAME FILE` and `--slurpfile NAME FILE` become `--rawfile=FILE` (a read).
fn jq_pairs(rest: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--arg" | "--argjson" => {
                it.next();
                it.next();
            }
            "--rawfile" | "--slurpfile" => {
                it.next();
                if let Some(f) = it.next() {
                    out.push(format!("{a}={f}"));
                }
            }
            "--" => {
                out.extend(std::iter::once(a).chain(it.by_ref()).cloned());
                break;
            }
            _ => out.push(a.clone()),
        }
    }
    out
}

/// `find`: the starting points are names listed; every expression token must be a known test
/// or a printing action. `-exec`/`-execdir`/`-ok`/`-okdir` are classified as the commands they
/// run (by the caller), `-delete` removes, `-fprint*`/`-fls` write.
pub(crate) fn find(rest: &[String], diags: &mut Vec<String>) -> Draft {
    const NO_VALUE: &[&str] = &[
        "-print",
        "-print0",
        "-ls",
        "-prune",
        "-quit",
        "-true",
        "-false",
        "-not",
        "!",
        "(",
        ")",
        "-a",
        "-o",
        "-and",
        "-or",
        ",",
        "-empty",
        "-readable",
        "-writable",
        "-executable",
        "-nouser",
        "-nogroup",
        "-depth",
        "-d",
        "-follow",
        "-xdev",
        "-mount",
        "-noleaf",
        "-daystart",
        "-ignore_readdir_race",
        "-noignore_readdir_race",
        "-L",
        "-H",
        "-P",
        "-help",
        "--help",
        "-version",
        "--version",
    ];
    const ONE_VALUE: &[&str] = &[
        "-name",
        "-iname",
        "-path",
        "-ipath",
        "-wholename",
        "-iwholename",
        "-regex",
        "-iregex",
        "-lname",
        "-ilname",
        "-type",
        "-xtype",
        "-size",
        "-mtime",
        "-mmin",
        "-atime",
        "-amin",
        "-ctime",
        "-cmin",
        "-used",
        "-user",
        "-group",
        "-uid",
        "-gid",
        "-perm",
        "-links",
        "-inum",
        "-maxdepth",
        "-mindepth",
        "-regextype",
        "-printf",
        "-fstype",
        "-context",
        "-O",
        "-D",
    ];
    const READ_VALUE: &[&str] = &["-newer", "-anewer", "-cnewer", "-samefile", "-files0-from"];
    const WRITE_VALUE: &[&str] = &["-fprint", "-fprint0", "-fprintf", "-fls"];
    let mut starts: Vec<String> = Vec::new();
    let mut reads: Vec<String> = Vec::new();
    let mut writes: Vec<String> = Vec::new();
    let mut removes = false;
    let mut unknown_opt: Option<String> = None;
    let mut in_expr = false;
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        let s = a.as_str();
        if !in_expr && !s.starts_with('-') && s != "(" && s != "!" {
            starts.push(norm(s));
            continue;
        }
        in_expr = true;
        if NO_VALUE.contains(&s) {
            continue;
        }
        if ONE_VALUE.contains(&s) {
            it.next();
        } else if READ_VALUE.contains(&s) || s.starts_with("-newer") && s.len() == 8 {
            if let Some(v) = it.next() {
                reads.push(norm(v));
            }
        } else if WRITE_VALUE.contains(&s) {
            if let Some(v) = it.next() {
                writes.push(norm(v));
            }
            if s == "-fprintf" {
                it.next();
            }
        } else if s == "-delete" {
            removes = true;
        } else if matches!(s, "-exec" | "-execdir" | "-ok" | "-okdir") {
            // The command itself is classified by the caller; skip it here.
            for x in it.by_ref() {
                if x == ";" || x == "+" {
                    break;
                }
            }
        } else if unknown_opt.is_none() {
            unknown_opt = Some(s.to_owned());
        }
    }
    if starts.is_empty() {
        starts.push(".".to_owned());
    }
    if let Some(opt) = unknown_opt {
        diags.push(unknown("find", &opt));
        return Draft::new(EXEC_SHELL).reads(starts).reads(reads);
    }
    let mut d = if removes {
        diags.push("find: -delete removes what it finds".to_owned());
        let wipe = starts
            .iter()
            .any(|p| crate::guard::catastrophic_target(p, p));
        let d = Draft::new(WRITE_REMOVE).writes(starts);
        if wipe
            && rest.iter().all(|a| {
                !a.starts_with("-name")
                    && !a.starts_with("-path")
                    && a != "-type"
                    && !a.starts_with("-iname")
            })
        {
            d.tag(TAG_CATASTROPHIC)
        } else {
            d
        }
    } else {
        Draft::new(READ_SEARCH).names(starts)
    };
    d = d.reads(reads);
    if !writes.is_empty() {
        diags.push(format!("find: -fprint/-fls writes {}", writes.join(", ")));
        d = d.writes(writes);
        d.escalate(WRITE_FILE);
    }
    d
}

/// `sed`: options on a positive list, `-i` writes the files, and every script command is
/// known not to write (`w`, `W`, `s///w`), execute (`e`, `s///e`) or read another file
/// (`r`, `R`). A script from a file (`-f`) cannot be checked.
pub(crate) fn sed(rest: &[String], diags: &mut Vec<String>) -> Draft {
    static SED: Spec = Spec {
        flags: "nErsuz",
        vals: "el",
        reads: "f",
        long_flags: &[
            "quiet",
            "silent",
            "debug",
            "posix",
            "regexp-extended",
            "separate",
            "sandbox",
            "unbuffered",
            "null-data",
            "follow-symlinks",
        ],
        long_vals: &["expression", "line-length"],
        long_opt: &["in-place"],
        long_reads: &["file"],
        ..spec(READ_FILE, Reads)
    };
    // `-i[SUFFIX]` and `-i` inside a cluster (`-ni`): in place.
    let mut in_place = false;
    let mut args: Vec<String> = Vec::new();
    for a in rest {
        if !a.starts_with("--")
            && a.starts_with('-')
            && a.len() > 1
            && let Some(pos) = a.find('i')
        {
            // Letters before `i` are flags; anything after is the backup suffix.
            let before = a.get(1..pos).unwrap_or("");
            if before.chars().all(|c| "nErsuz".contains(c)) {
                in_place = true;
                if !before.is_empty() {
                    args.push(format!("-{before}"));
                }
                continue;
            }
        }
        args.push(a.clone());
    }
    let scan = match scan("sed", &SED, &args) {
        Ok(s) => s,
        Err(reason) => {
            diags.push(reason);
            return Draft::new(EXEC_SHELL).reads(super::args::path_like(rest));
        }
    };
    if scan.has(&["--in-place"]) {
        in_place = true;
    }
    if scan.has(&["-f", "--file"]) {
        diags.push("sed: a script file (-f) cannot be checked".to_owned());
        return Draft::new(EXEC_SHELL).reads(scan.reads.clone());
    }
    let mut scripts: Vec<String> = scan
        .values_of(&["-e", "--expression"])
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut files = scan.positionals.iter();
    if scripts.is_empty()
        && let Some(first) = files.next()
    {
        scripts.push(first.clone());
    }
    let files: Vec<String> = files.map(|f| norm(f)).collect();
    if !scan.has(&["--sandbox"]) {
        for script in &scripts {
            if let Err(why) = sed_script_is_pure(script) {
                diags.push(format!("sed: {why}"));
                return Draft::new(EXEC_SHELL).reads(files);
            }
        }
    }
    if in_place {
        Draft::new(WRITE_FILE).reads(files.clone()).writes(files)
    } else {
        Draft::new(READ_FILE).reads(files)
    }
}

/// Walk a sed script command by command: addresses, then a command letter from the pure set.
fn sed_script_is_pure(script: &str) -> Result<(), String> {
    let chars: Vec<char> = script.chars().collect();
    let mut i = 0usize;
    let at = |i: usize| chars.get(i).copied();
    // Read a delimited part (regex or replacement) starting after the delimiter; returns the
    // index after the closing delimiter.
    let delimited = |mut i: usize, delim: char| -> Result<usize, String> {
        while let Some(c) = chars.get(i).copied() {
            if c == '\\' {
                i += 2;
                continue;
            }
            if c == delim {
                return Ok(i + 1);
            }
            if c == '\n' && delim != '\n' {
                return Err("unterminated expression".to_owned());
            }
            i += 1;
        }
        Err("unterminated expression".to_owned())
    };
    let mut guard = 0usize;
    while i < chars.len() {
        guard += 1;
        if guard > 10_000 {
            return Err("script too long to check".to_owned());
        }
        let Some(c) = at(i) else { break };
        if c.is_whitespace() || c == ';' || c == '}' {
            i += 1;
            continue;
        }
        if c == '#' {
            while at(i).is_some_and(|c| c != '\n') {
                i += 1;
            }
            continue;
        }
        // Addresses: numbers, $, /re/, \cREc, first~step, addr1,addr2, +N, ~N, then `!`.
        loop {
            match at(i) {
                Some(d) if d.is_ascii_digit() || d == '$' || d == '~' || d == '+' || d == ',' => {
                    i += 1
                }
                Some('/') => i = delimited(i + 1, '/')?,
                Some('\\') => {
                    let delim = at(i + 1).ok_or("dangling backslash")?;
                    i = delimited(i + 2, delim)?;
                }
                Some('I' | 'M') if i > 0 && matches!(at(i - 1), Some('/')) => i += 1,
                Some(' ' | '\t' | '!') => i += 1,
                _ => break,
            }
        }
        let Some(cmd) = at(i) else { break };
        i += 1;
        match cmd {
            '{' | '}' | ';' | '\n' => {}
            '=' | 'd' | 'D' | 'g' | 'G' | 'h' | 'H' | 'l' | 'n' | 'N' | 'p' | 'P' | 'x' | 'z'
            | 'F' => {
                // `l` and `q`/`Q` may take a number.
                while at(i).is_some_and(|c| c.is_ascii_digit() || c == ' ') {
                    i += 1;
                }
            }
            'q' | 'Q' => {
                while at(i).is_some_and(|c| c.is_ascii_digit() || c == ' ') {
                    i += 1;
                }
            }
            ':' | 'b' | 't' | 'T' => {
                while at(i).is_some_and(|c| c != ';' && c != '\n' && c != '}') {
                    i += 1;
                }
            }
            'a' | 'i' | 'c' => {
                // Text to the end of the line (a trailing backslash continues it).
                while let Some(c) = at(i) {
                    if c == '\\' {
                        i += 2;
                        continue;
                    }
                    if c == '\n' {
                        break;
                    }
                    i += 1;
                }
            }
            's' | 'y' => {
                let delim = at(i).ok_or("s without a delimiter")?;
                if delim == '\n' || delim == '\\' {
                    return Err("unusual s delimiter".to_owned());
                }
                i = delimited(i + 1, delim)?;
                i = delimited(i, delim)?;
                if cmd == 's' {
                    while let Some(f) = at(i) {
                        match f {
                            'g' | 'p' | 'i' | 'I' | 'm' | 'M' => i += 1,
                            d if d.is_ascii_digit() => i += 1,
                            'e' => {
                                return Err(
                                    "the s///e flag runs the pattern space as a command".to_owned()
                                );
                            }
                            'w' | 'W' => return Err("the s///w flag writes a file".to_owned()),
                            ';' | '\n' | '}' | ' ' | '\t' => break,
                            other => return Err(format!("unknown s flag {other:?}")),
                        }
                    }
                }
            }
            'e' => return Err("the e command runs a shell command".to_owned()),
            'w' | 'W' => return Err("the w/W command writes a file".to_owned()),
            'r' | 'R' => return Err("the r/R command reads another file".to_owned()),
            'v' => {
                while at(i).is_some_and(|c| c != ';' && c != '\n' && c != '}') {
                    i += 1;
                }
            }
            other => return Err(format!("sed command {other:?} is not known to be pure")),
        }
    }
    Ok(())
}

/// `awk`: only `-F` and `-v` are listed (gawk's `-f`, `-i`, `-l`, `-o`, `--profile`,
/// `--dump-variables`, `-E` load code or write files); the program must not run commands
/// (`system`, `|`), write (`print > f`), read other files (`getline`), load code (`@load`,
/// `@include`), and reading `ENVIRON` is an environment read.
pub(crate) fn awk(prog: &str, rest: &[String], diags: &mut Vec<String>) -> Draft {
    static AWK: Spec = Spec {
        vals: "Fv",
        ..spec(READ_FILE, PatternThenReads)
    };
    let scan = match scan(prog, &AWK, rest) {
        Ok(s) => s,
        Err(reason) => {
            diags.push(reason);
            return Draft::new(EXEC_SHELL).reads(super::args::path_like(rest));
        }
    };
    let mut pos = scan.positionals.iter();
    let program = pos.next().cloned().unwrap_or_default();
    // `var=value` operands are assignments, not files.
    let files: Vec<String> = pos.filter(|p| !p.contains('=')).map(|p| norm(p)).collect();
    if let Err(why) = awk_program_is_pure(&program) {
        diags.push(format!("{prog}: {why}"));
        return Draft::new(EXEC_SHELL).reads(files);
    }
    if program.contains("ENVIRON") || program.contains("PROCINFO") {
        diags.push(format!("{prog}: the program reads the environment"));
        return Draft::new(READ_ENV).reads(files);
    }
    Draft::new(READ_FILE).reads(files)
}

fn awk_program_is_pure(program: &str) -> Result<(), String> {
    // Strings are dropped first so `print "a > b"` does not count as a redirection.
    let mut code = String::new();
    let mut in_str = false;
    let mut esc = false;
    for c in program.chars() {
        if in_str {
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        if c == '"' {
            in_str = true;
            code.push('"');
            continue;
        }
        code.push(c);
    }
    for word in [
        "system",
        "getline",
        "@load",
        "@include",
        "@namespace",
        "close",
        "fflush",
    ] {
        if code.contains(word) {
            return Err(format!(
                "`{word}` in the program can run commands or touch files"
            ));
        }
    }
    if code.contains('|') && !code.replace("||", "").contains('|') {
        // Only logical or.
    } else if code.contains('|') {
        return Err("a pipe in the program runs a command".to_owned());
    }
    // `>` is a redirection inside print/printf statements, a comparison elsewhere.
    for (k, _) in code.match_indices("print") {
        let tail = code.get(k..).unwrap_or("");
        let stmt: String = tail
            .chars()
            .take_while(|c| !matches!(c, ';' | '}' | '\n'))
            .collect();
        if stmt.contains('>') {
            return Err("print > FILE writes a file".to_owned());
        }
    }
    Ok(())
}

/// `tar`: only listing (`t`) of an archive read with `-f`, without compression (GNU tar runs
/// gzip/bzip2/xz as programs) or any option that runs a program; anything else writes.
pub(crate) fn tar(rest: &[String], diags: &mut Vec<String>) -> Option<Draft> {
    let first = rest.first()?;
    // `tar tf x.tar` (old style), `tar -tf x.tar`, `tar --list -f x.tar`.
    let mut letters = String::new();
    let mut archive: Option<String> = None;
    let mut listing = false;
    let mut it = rest.iter().enumerate();
    while let Some((k, a)) = it.next() {
        if k == 0 && !a.starts_with('-') {
            letters.push_str(a);
            if a.contains('f') {
                archive = rest.get(1).cloned();
                it.next();
            }
            continue;
        }
        match a.as_str() {
            "--list" => listing = true,
            "-v" | "--verbose" | "--numeric-owner" | "-O" => {}
            "-f" | "--file" => archive = it.next().map(|(_, v)| v.clone()),
            s if s.starts_with("--file=") => archive = s.get(7..).map(str::to_owned),
            s if s.starts_with('-') && !s.starts_with("--") => {
                let cluster = s.get(1..).unwrap_or("");
                if cluster.chars().all(|c| "tvf".contains(c)) {
                    letters.push_str(cluster);
                    if cluster.ends_with('f') {
                        archive = it.next().map(|(_, v)| v.clone());
                    }
                } else {
                    return None;
                }
            }
            s if s.starts_with('-') => return None,
            _ => {}
        }
    }
    let _ = first;
    listing |= letters.contains('t');
    if !listing || !letters.chars().all(|c| "tvf".contains(c)) {
        return None;
    }
    let archive = archive?;
    diags.push("tar: listing an archive".to_owned());
    Some(Draft::new(READ_FILE).reads([norm(&archive)]))
}
