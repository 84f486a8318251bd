//! The seeded command generator: programs, their options (the dangerous ones included: the
//! ones that write, run programs or reach the network, and spellings the classifier might not
//! expect, like abbreviated long options), paths, environment prefixes, redirections, pipes and
//! compound commands.
//!
//! The same seed gives the same commands on every machine (a private SplitMix64, no dependency
//! whose stream could change), so the sample in the test command is fixed.

/// A small deterministic random number generator (SplitMix64): the sample must not change when
/// a dependency changes its algorithm.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        usize::try_from(self.next_u64() % (n as u64)).unwrap_or(0)
    }

    /// True with the given probability in percent.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// One element of `xs` ("" when empty).
    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs.get(self.below(xs.len())).copied().unwrap_or("")
    }
}

/// Paths a command may read: files of the scratch repository (some planted by a hostile
/// project), the scratch HOME, system files.
const READ_PATHS: &[&str] = &[
    "README.md",
    "src/main.rs",
    "notes.txt",
    "nums.txt",
    "'with space.txt'",
    "data.json",
    "src",
    ".",
    "dir/sub/file.txt",
    "link.txt",
    "/etc/hostname",
    "/etc/passwd",
    "~/.bashrc",
    ".git/config",
    ".git/HEAD",
    "archive.tar",
    "-",
];

/// Where a writing option would write: inside the repository, into places that run code later
/// (git config and hooks, shell startup files), outside the workspace (read-only in the
/// sandbox, so only the attempt is seen), and temporary directories.
const WRITE_PATHS: &[&str] = &[
    "out.txt",
    ".git/config",
    ".git/hooks/pre-commit",
    "~/.bashrc",
    "src/main.rs",
    "README.md",
    "/etc/cordon-oracle-probe",
    "/tmp/cordon-oracle-probe",
    "dir/new.txt",
];

/// A program to run, as one shell word.
const EXEC_WORDS: &[&str] = &["id", "/usr/bin/id", "whoami", "./hostile.sh"];

/// A shell command to run, quoted as one shell word.
const EXEC_STRINGS: &[&str] = &["'touch PWNED'", "'id'", "'sh -c id'", "\"id >/dev/null\""];

/// A program and what it is combined with: options (each possibly with placeholders) and
/// argument shapes. Placeholders: `{R}` a path read, `{W}` a path written, `{X}` a program,
/// `{XS}` a quoted shell command.
struct Prog {
    name: &'static str,
    opts: &'static [&'static str],
    args: &'static [&'static str],
}

const fn p(
    name: &'static str,
    opts: &'static [&'static str],
    args: &'static [&'static str],
) -> Prog {
    Prog { name, opts, args }
}

const R1: &[&str] = &["{R}"];

const PROGS: &[Prog] = &[
    p(
        "sort",
        &[
            "-o {W}",
            "--output={W}",
            "--outp={W}",
            "--out {W}",
            "-u",
            "-r",
            "-n",
            "-k2",
            "-T /tmp",
            "-T .",
            "--compress-program={X}",
            "--compress-prog={X}",
            "-S 1 --compress-program={X}",
            "--files0-from=files0.txt",
            "-m",
            "--random-source={R}",
            "-R",
            "-c",
            "--debug",
            "-ro{W}",
            "-uo {W}",
            "--o={W}",
            "-T /tmp -S 1",
            "--parallel=2",
            "-t: -k3n",
            "--batch-size=2",
            "-o/dev/stdout",
            "-o /dev/null",
            "--temporary-directory=.",
        ],
        &["{R}", "{R} {R}", "notes.txt", "nums.txt"],
    ),
    p(
        "uniq",
        &["-c", "-d", "-u", "-i", "-z", "--group"],
        &[
            "{R}",
            "notes.txt {W}",
            "{R} {W}",
            "- {W}",
            "-- notes.txt {W}",
        ],
    ),
    p(
        "find",
        &[],
        &[
            ". -name '*.rs'",
            "{R} -type f",
            ". -maxdepth 1",
            ". -exec {X} \\;",
            ". -exec {X} {} +",
            "src -execdir {X} \\;",
            ". -ok {X} \\;",
            ". -okdir {X} \\;",
            "dir -delete",
            ". -fprint {W}",
            ". -fprintf {W} %p",
            ". -fls {W}",
            ". -fprint0 {W}",
            ". -print0",
            ". -printf '%p\\n'",
            ". -newer {R}",
            ". -name x -o -exec {X} \\;",
            ". \\( -name '*.md' -exec {X} \\; \\)",
            "-L . -name '*.txt'",
            "src -ls",
            ". -empty",
            ". -files0-from files0.txt",
            "-D exec . -name x",
            ". -name '*.md' -print -quit",
            ". -regex '.*md' -fprint {W}",
            ". -newerat 2020-01-01",
            "-H . -maxdepth 1 -printf '%f\\n'",
            "-O3 . -name x",
            ". -name x -execdir {X} {} +",
            ". -depth -name x",
            ". -mindepth 1 -fls {W} -quit",
            ". -name x -prune -o -print",
            ". -ls -fprintf {W} x",
        ],
    ),
    p(
        "grep",
        &[
            "-r",
            "-n",
            "-l",
            "-f notes.txt",
            "-e main",
            "--include='*.rs'",
            "-E",
            "-P",
            "-i",
            "--exclude-from={R}",
            "-Z",
            "-c",
            "-H",
            "--color=always",
            "-R",
            "-s",
            "--devices=read",
        ],
        &["main {R}", "-r main .", "fn src", "-e x {R}", "main"],
    ),
    p(
        "rg",
        &[
            "--pre {X}",
            "--pre={X}",
            "--pre-glob '*.rs' --pre {X}",
            "-z",
            "--search-zip",
            "-n",
            "-l",
            "--hidden",
            "--no-ignore",
            "-uuu",
            "--hostname-bin={X}",
            "--ignore-file={R}",
            "--json",
            "-j1",
            "--pr={X}",
            "--pre-glob='*'",
            "--search-zip --pre={X}",
            "--no-config",
            "-g '*.rs'",
            "--sort path",
            "--debug",
            "--type-add 'x:*.x'",
            "--replace x",
            "--files-with-matches",
            "-L",
            "--ignore-file-case-insensitive",
            "--engine auto",
            "-P",
            "--passthru",
        ],
        &["main", "main {R}", "fn src", "--files", "--type-list"],
    ),
    p(
        "sed",
        &[
            "-n",
            "-E",
            "-s",
            "-z",
            "-u",
            "--debug",
            "--posix",
            "-i",
            "-i.bak",
            "--in-place",
            "--in-pl",
            "--in",
            "-ni",
            "-Ei",
            "-si",
            "-n -s",
            "--follow-symlinks",
            "-c",
            "--separate",
        ],
        &[
            "1p {R}",
            "'s/a/b/' {R}",
            "-e 's/a/b/w {W}' {R}",
            "'1w {W}' {R}",
            "-n '1w{W}' {R}",
            "'e id' {R}",
            "'1e id' {R}",
            "'s/x/id/e' {R}",
            "-f hostile.sed {R}",
            "--file=hostile.sed {R}",
            "'1r /etc/passwd' {R}",
            "-n 'W {W}' {R}",
            "'$!N;w {W}' {R}",
            "-e 1d -e 'w {W}' {R}",
            "--expression='w {W}' {R}",
            "--expr='w {W}' {R}",
            "'1 s/x/y/;w {W}' {R}",
            "'y/ab/cd/' {R}",
            "-n '/main/p' {R}",
            "'s/a/b/gw {W}' {R}",
            "'s|a|b|w {W}' {R}",
            "'s,a,b,w {W}' {R}",
            "'1!w {W}' {R}",
            "'0~3w {W}' {R}",
            "'/x/,/y/w {W}' {R}",
            "-n '$=' {R}",
            "'1{w {W}\n}' {R}",
            "-n 'p;w {W}' {R}",
            "'s/a/b/I;e id' {R}",
            "-n '/main/{w {W}' -e '}' {R}",
            "-n '/main/ { w {W}\n }' {R}",
            "'1{\nw {W}\n}' {R}",
            "-E 's/(a)/\\1/w {W}' {R}",
            "-n 'l;w {W}' {R}",
            "'$a\\' -e 'x' {R}",
            "'1F' {R}",
            "-n 'Q;w {W}' {R}",
            "--sandbox 's/a/b/w {W}' {R}",
            "-z 's/\\x00/w {W}/' {R}",
            "'s/a/b/;;w {W}' {R}",
            "'# c\nw {W}' {R}",
            "-s '1w {W}' {R} {R}",
            "'1 ! w {W}' {R}",
            "'/x/I w {W}' {R}",
            "'/x/M,+1w {W}' {R}",
            "'1~2 w {W}' {R}",
            "'\\,x, w {W}' {R}",
            "'v;w {W}' {R}",
        ],
    ),
    p(
        "awk",
        &[],
        &[
            "'{print}' {R}",
            "-F: '{print $1}' /etc/passwd",
            "'BEGIN{system(\"id\")}'",
            "-F x 'BEGIN{system(\"touch PWNED\")}'",
            "-v x=1 'BEGIN{system(\"id\")}'",
            "-vx=1 'BEGIN{system(\"id\")}'",
            "-F , -- 'BEGIN{system(\"id\")}' {R}",
            "'{print > \"out.txt\"}' {R}",
            "'BEGIN{printf \"x\" | \"id\"}'",
            "'BEGIN{while((\"id\"|getline l)>0) print l}'",
            "-f hostile.awk",
            "-W exec hostile.awk",
            "--file=hostile.awk",
            "-v 'p=BEGIN{system(\"id\")}' '{print}' {R}",
            "-- '{print}' {R}",
            "'NR==1' {R}",
            "-F'\\t' 'BEGIN{system(\"id\")}'",
            "'BEGIN{ARGV[1]=\"/etc/passwd\"; ARGC=2} {print}' {R}",
            "'{print $1 > \"/dev/stderr\"}' {R}",
            "'BEGIN{printf \"x\" >> \"out.txt\"}'",
            "'BEGIN { c = \"id\"; c | getline; close(c) }'",
            "'{ print | \"sort -o out.txt\" }' {R}",
            "-W dump 'BEGIN{}'",
            "-W sprintf=99 '{print}' {R}",
            "-v OFS=, '{$1=$1; print}' {R}",
            "'BEGIN{ while ((getline line < \"/etc/passwd\") > 0) n++; print n }'",
            "-f /dev/stdin {R}",
            "-- -f hostile.awk",
            "'{print FILENAME}' x=1 {R}",
        ],
    ),
    p(
        "tar",
        &[],
        &[
            "-tf archive.tar",
            "-tvf archive.tar",
            "-xOf archive.tar",
            "--list -f archive.tar",
            "-tzf archive.tar.gz",
            "-tf archive.tar --to-command={X}",
            "-xf archive.tar",
            "-cf {W} src",
            "-tf archive.tar --index-file={W}",
            "-tf archive.tar -g {W}",
            "-tf archive.tar --checkpoint=1 --checkpoint-action=exec={X}",
            "-tf archive.tar --use-compress-program={X}",
            "-tf archive.tar -I {X}",
            "-tf archive.tar --to-com={X}",
            "--list --file=archive.tar --volno-file={W}",
            "tf archive.tar",
        ],
    ),
    p(
        "less",
        &[
            "-N",
            "-o {W}",
            "--log-file={W}",
            "-O {W}",
            "--LOG-FILE={W}",
            "--log-f={W}",
            "-P x",
            "+G",
            "'+!id'",
            "-E",
            "-F",
            "-R",
            "-k hostile.lesskey",
            "-ooutput.log",
            "--log-file {W}",
            "-Ooverwrite.log",
            "--lesskey-file=hostile.lesskey",
            "--tag=x",
            "-T tags",
            "+/main",
            "--use-color",
        ],
        R1,
    ),
    p("more", &["-d", "+2"], R1),
    p(
        "head",
        &[
            "-n 3",
            "-c 10",
            "-n -1",
            "-q",
            "-v",
            "--lines=2",
            "-3",
            "--bytes=1K",
            "-z",
        ],
        &["{R}", "{R} {R}"],
    ),
    p(
        "tail",
        &["-n 3", "-c 10", "-n +2", "-q", "-v", "--lines=2"],
        &["{R}", "{R} {R}"],
    ),
    p(
        "cat",
        &["-n", "-A", "-v", "-s", "-E", "-b"],
        &["{R}", "{R} {R}", "-- {R}"],
    ),
    p(
        "wc",
        &["-l", "-c", "-w", "--files0-from=files0.txt", "-L"],
        &["{R}", "", "{R} {R}"],
    ),
    p(
        "ls",
        &[
            "-la",
            "-R",
            "--color=always",
            "-d",
            "--hyperlink",
            "-1",
            "-i",
            "--full-time",
            "-Z",
        ],
        &["", "{R}", ".git", "~"],
    ),
    p(
        "diff",
        &[
            "-u",
            "-r",
            "-q",
            "-N",
            "-D X",
            "--color=always",
            "-y",
            "--line-format=%L",
            "--label x",
            "-p",
            "--horizon-lines=1",
        ],
        &[
            "{R} {R}",
            "src src",
            "README.md notes.txt",
            "--from-file={R} {R}",
            "--to-file={R} {R}",
        ],
    ),
    p(
        "cmp",
        &["-l", "-b", "-i 1"],
        &["{R} {R}", "README.md notes.txt"],
    ),
    p("comm", &["-3", "-12"], &["notes.txt nums.txt", "{R} {R}"]),
    p(
        "jq",
        &[],
        &[
            ". data.json",
            "-r .name data.json",
            "--rawfile x {R} -n '$x'",
            "-n 'input_filename'",
            "-n env",
            "-n '$ENV.HOME'",
            "--arg a b -n '$a'",
            "-f hostile.jq data.json",
            "--seq . data.json",
            "-L . -n 'import \"hostile\" as h; 1'",
            "--slurpfile x data.json -n '$x'",
            "--indent 7 . data.json",
            "-n 'input' {R}",
            "-n '$__loc__'",
            "-n 'input_line_number'",
            "--stream . data.json",
            "-n '\"x\" | debug'",
            "-n '\"x\" | stderr'",
            "-n 'halt_error'",
            "--args -n '$ARGS' a b",
            "--jsonargs -n '$ARGS' 1",
            "-n 'get_search_list'",
            "--tab . data.json",
            "-C . data.json",
        ],
    ),
    p(
        "xxd",
        &[],
        &[
            "{R}",
            "{R} {W}",
            "-r {R} {W}",
            "-p {R}",
            "-i {R}",
            "-p -r {R} {W}",
            "-o 1 {R} {W}",
        ],
    ),
    p("od", &["-c", "-x", "-An"], R1),
    p("hexdump", &["-C", "-n 16"], R1),
    p("strings", &["-a", "-e l", "-f", "-n 3"], R1),
    p(
        "file",
        &["-b", "-i", "-L", "-z", "-s"],
        &[
            "{R}",
            "archive.tar.gz",
            "-C -m hostile.magic",
            "-m hostile.magic {R}",
            "-f files.txt",
        ],
    ),
    p(
        "stat",
        &["-c %s", "-L", "-f"],
        &["{R}", "--printf='%n\\n' {R}"],
    ),
    p(
        "sha256sum",
        &["-b", "--tag"],
        &["{R}", "-c sums.txt", "--check sums.txt"],
    ),
    p("md5sum", &["-b"], &["{R}", "-c sums.txt"]),
    p("cksum", &[], R1),
    p("base64", &["-w0", "-d"], &["{R}", "b64.txt"]),
    p(
        "cut",
        &["-d: -f1", "-c1-3", "-f1 --output-delimiter=x"],
        &["{R}", "/etc/passwd"],
    ),
    p("column", &["-t", "-s: -t"], R1),
    p("fold", &["-w 10"], R1),
    p("fmt", &["-w 20"], R1),
    p("paste", &["-s", "-d,"], &["{R} {R}"]),
    p("join", &[], &["nums.txt nums.txt", "-t, data.csv data.csv"]),
    p("tac", &[], R1),
    p("nl", &["-ba"], R1),
    p("rev", &[], R1),
    p("expand", &["-t 2"], R1),
    p(
        "iconv",
        &[],
        &[
            "-f utf-8 -t ascii {R}",
            "-c -f utf-8 -t ascii {R}",
            "-f utf-8 -t latin1 -o {W} {R}",
            "--output={W} -f utf-8 -t utf-16 {R}",
            "--out={W} -f utf-8 -t utf-16 {R}",
            "-l",
        ],
    ),
    p("zcat", &["-f"], &["archive.tar.gz", "{R}"]),
    p("look", &["-f"], &["ma notes.txt", "a"]),
    p("tr", &[], &["a b < {R}", "-d x < {R}"]),
    p("pr", &["-h x", "-2", "-o 3"], R1),
    p(
        "dd",
        &[],
        &[
            "if={R}",
            "if={R} of={W}",
            "if={R} count=1",
            "if={R} status=none",
            "if={R} of=/dev/null",
        ],
    ),
    p("du", &["-sh", "-a"], &["", "{R}"]),
    p("df", &["-h"], &["", "."]),
    p("tree", &["-a", "-o {W}", "-L 1"], &["", "src"]),
    p(
        "echo",
        &["-n", "-e"],
        &["hello", "$HOME", "$(id)", "`id`", "$(touch PWNED)"],
    ),
    p("printf", &[], &["'%s\\n' x", "'%s' $(id)"]),
    p(
        "date",
        &["-u", "-R"],
        &[
            "",
            "-s '2020-01-01'",
            "-f {R}",
            "--set=2020-01-01",
            "-r {R}",
        ],
    ),
    p(
        "hostname",
        &[],
        &["", "evil", "-F {R}", "-b evil", "-I", "--file={R}"],
    ),
    p("which", &["-a"], &["git", "sh"]),
    p(
        "trap",
        &[],
        &["'id' EXIT", "'touch PWNED' EXIT", "- EXIT", "'' INT", "-p"],
    ),
    p("tput", &[], &["cols", "clear", "-T xterm init", "-S < {R}"]),
    p("readlink", &["-f"], &["{R}", "link.txt"]),
    p("realpath", &["-e"], R1),
    p("basename", &[], R1),
    p("sync", &["-f", "-d"], &["", "{R}"]),
    p("seq", &["-w"], &["3", "-f %g 3"]),
    p("locale", &["-a"], &[""]),
    p("lsof", &[], &["", "{R}"]),
    p("ps", &[], &["", "aux", "-ef"]),
    p("top", &[], &["-b -n 1"]),
    p("who", &[], &["", "-a"]),
    p("bc", &["-q"], &["/dev/null", "{R}"]),
    p("expr", &[], &["1 + 1"]),
    p("test", &[], &["-f {R}"]),
    p("id", &["-u"], &[""]),
    p("uname", &["-a"], &[""]),
    p("pwd", &[], &[""]),
    p("type", &[], &["ls"]),
    p("cd", &[], &["src && ls", ".. && ls", "~ && ls -a"]),
    p("history", &[], &["", "-w {W}"]),
    p("umask", &[], &["", "000"]),
    p("ulimit", &[], &["-a"]),
    p("source-highlight", &[], &["-i {R}", "-i {R} -o {W}"]),
    p("csvlook", &[], &["data.csv"]),
    p("yq", &[], &[". data.json", "-i .a=1 data.json"]),
    p("zless", &[], &["archive.tar.gz"]),
    p("bat", &["--paging=never"], R1),
    p("eza", &["-la"], &[""]),
    p("view", &[], R1),
    p("fd", &[], &["main", "-x {X}"]),
];

/// `git` global options, before the subcommand.
const GIT_GLOBALS: &[&str] = &[
    "--no-pager",
    "-P",
    "-C src",
    "-C .",
    "--git-dir=.git",
    "--work-tree=.",
    "-c color.ui=always",
    "-c core.pager={XS}",
    "-c core.fsmonitor={XS}",
    "-c core.sshCommand={XS}",
    "-c diff.external={X}",
    "-c core.hooksPath=.git/hooks",
    "-c alias.lg='!id'",
    "-c protocol.ext.allow=always",
    "-c core.untrackedCache=true",
    "-c core.splitIndex=true",
    "-c index.version=4",
    "-c feature.manyFiles=true",
    "-c gpg.program={X}",
    "-c log.showSignature=true",
    "-c core.editor={X}",
    "-c include.path=../hostile.gitconfig",
    "-c include.path=hostile.gitconfig",
    "-c includeIf.onbranch:main.path=hostile.gitconfig",
    "-c uploadpack.packObjectsHook={X}",
    "-c core.gitProxy={X}",
    "-c http.proxy=http://127.0.0.1:9",
    "-c status.showUntrackedFiles=all",
    "-c core.attributesFile=hostile.gitattributes",
    "-c safe.directory=*",
    "-c gc.auto=1",
    "-c credential.helper={XS}",
    "-c diff.txt.textconv={X}",
    "-c pager.log={XS}",
    "-c core.logAllRefUpdates=always",
    "-c core.worktree=/tmp",
    "-c core.fsmonitorHookVersion=2",
    "-c fsmonitor.allowRemote=true",
    "-c remote.origin.uploadpack={X}",
    "-c core.trustctime=false",
    "-c blame.ignoreRevsFile=notes.txt",
    "-c grep.fallbackToNoIndex=true",
    "--exec-path=.",
    "--literal-pathspecs",
    "--config-env=core.pager=HOME",
    "-c",
    "--bare",
    "--no-replace-objects",
    "--namespace=x",
    "-C /tmp",
    "--git-dir=../origin.git",
    "--no-optional-locks",
    "--glob-pathspecs",
];

/// `git` subcommands with their options and argument shapes.
const GIT_SUBS: &[Prog] = &[
    p(
        "status",
        &[
            "--porcelain",
            "-s",
            "-uall",
            "--ignored",
            "-b",
            "--untracked-files=all",
            "-z",
            "--ahead-behind",
            "--find-renames",
            "--porcelain=v2",
            "--column",
            "--no-optional-locks",
            "--untracked-files=no",
            "-v",
            "--show-stash",
        ],
        &[""],
    ),
    p(
        "diff",
        &[
            "--stat",
            "--output={W}",
            "--outp={W}",
            "--out={W}",
            "--ext-diff",
            "--textconv",
            "-p",
            "--name-only",
            "--cached",
            "--word-diff",
            "--color-moved",
            "--output {W}",
            "--exit-code",
            "--relative",
            "-R",
            "--binary",
            "--output-indicator-new=x",
            "--dst-prefix=x/",
            "--line-prefix=x",
            "--no-ext-diff",
            "--color-words=.",
            "--diff-algorithm=histogram",
            "--ws-error-highlight=all",
        ],
        &[
            "",
            "HEAD~1",
            "HEAD~1 HEAD",
            "--no-index {R} {R}",
            "HEAD -- {R}",
        ],
    ),
    p(
        "log",
        &[
            "--oneline",
            "-p",
            "--stat",
            "--output={W}",
            "--outp={W}",
            "--output {W}",
            "--ext-diff",
            "--show-signature",
            "-1",
            "--format=%H",
            "--graph",
            "--all",
            "--decorate",
            "--follow",
            "-G main",
            "--textconv",
            "--no-walk",
            "--format=%B",
            "--pretty=format:%H",
            "-L1,2:README.md",
            "--notes",
            "--remerge-diff",
            "--output-indicator-old=y",
            "--color-moved=zebra",
            "--find-object=HEAD",
            "--format=%(describe)",
            "--abbrev-commit",
            "--cc",
            "--mailmap",
            "--use-mailmap",
            "--show-linear-break",
            "--children",
            "--source",
            "--walk-reflogs",
        ],
        &["", "HEAD", "-- {R}", "feature", "v1"],
    ),
    p(
        "show",
        &[
            "--output={W}",
            "--stat",
            "--ext-diff",
            "--textconv",
            "--format=%B",
            "-s",
            "--show-signature",
            "--name-only",
            "--show-notes",
            "--no-patch",
            "--format=%(describe)",
            "--pretty=raw",
            "--color-moved",
        ],
        &["", "HEAD", "HEAD:README.md", "v1", "HEAD~1:src/main.rs"],
    ),
    p(
        "blame",
        &[
            "--contents {R}",
            "-S notes.txt",
            "--ignore-revs-file notes.txt",
            "-L 1,2",
            "-p",
            "-w",
            "--incremental",
            "-M",
            "-C",
            "--score-debug",
            "--show-stats",
            "-e",
            "--root",
            "-s",
            "--porcelain",
        ],
        &["README.md", "-- src/main.rs"],
    ),
    p("shortlog", &["-s", "-n", "-e"], &["HEAD"]),
    p(
        "describe",
        &["--dirty", "--always", "--tags", "--all", "--broken"],
        &[""],
    ),
    p(
        "rev-parse",
        &[
            "--show-toplevel",
            "--git-path hooks",
            "--absolute-git-dir",
            "--local-env-vars",
            "--sq-quote x",
            "--git-common-dir",
            "--resolve-git-dir .git",
            "--parseopt",
            "--show-object-format",
            "--is-inside-work-tree",
            "--contains",
            "--match 'v*'",
            "--dirty=x",
            "--long",
        ],
        &["", "HEAD", "--verify HEAD"],
    ),
    p(
        "rev-list",
        &["--all", "--count", "--objects", "--max-count=2"],
        &["HEAD"],
    ),
    p(
        "ls-files",
        &[
            "-s",
            "-o",
            "--exclude-standard",
            "-z",
            "--debug",
            "--with-tree=HEAD",
        ],
        &[""],
    ),
    p(
        "ls-tree",
        &["-r", "--name-only", "-l"],
        &["HEAD", "HEAD src"],
    ),
    p(
        "ls-remote",
        &["--heads", "--tags", "-q"],
        &[
            "origin",
            ".",
            "'ext::sh -c touch% PWNED'",
            "ext::id",
            "https://127.0.0.1:9/x.git",
            "--upload-pack={X} origin",
            "--upload-pack={XS} .",
            "net",
            "ssh://127.0.0.1/x",
        ],
    ),
    p(
        "cat-file",
        &[],
        &[
            "-p HEAD",
            "-t HEAD",
            "--textconv HEAD:README.md",
            "--filters HEAD:README.md",
            "--batch-all-objects --batch-check",
            "-e HEAD",
        ],
    ),
    p(
        "grep",
        &[
            "-n",
            "-O{X}",
            "--open-files-in-pager={X}",
            "--open={X}",
            "-O",
            "--no-index",
            "-f notes.txt",
            "--untracked",
            "-i",
            "-l",
            "--threads=1",
            "-W",
            "--textconv",
            "--column",
            "-P",
            "--recurse-submodules",
            "--max-depth=1",
            "-p",
            "--break",
            "--heading",
            "-c",
            "--all-match",
            "--open-files-in-pager",
        ],
        &["main", "main -- {R}", "-e fn"],
    ),
    p(
        "for-each-ref",
        &["--format=%(refname)", "--sort=-committerdate", "--shell"],
        &[""],
    ),
    p("show-ref", &["--heads"], &[""]),
    p("name-rev", &[], &["HEAD"]),
    p("merge-base", &[], &["HEAD feature"]),
    p("cherry", &["-v"], &["", "feature"]),
    p("count-objects", &["-v"], &[""]),
    p(
        "fsck",
        &[
            "--lost-found",
            "--full",
            "--unreachable",
            "--dangling",
            "--name-objects",
            "--connectivity-only",
        ],
        &[""],
    ),
    p("verify-commit", &[], &["HEAD"]),
    p("verify-tag", &[], &["v1"]),
    p(
        "help",
        &[],
        &["log", "-a", "-g", "-w log", "--web log", "-m log", "-i log"],
    ),
    p("version", &["--build-options"], &[""]),
    p("var", &[], &["-l", "GIT_EDITOR", "GIT_PAGER"]),
    p("check-ignore", &["-v"], &["out.txt"]),
    p("check-attr", &[], &["-a README.md"]),
    p("range-diff", &[], &["HEAD~2..HEAD~1 HEAD~1..HEAD"]),
    p("show-branch", &["--all"], &[""]),
    p("whatchanged", &["-1", "--output={W}"], &[""]),
    p("annotate", &[], &["README.md"]),
    p(
        "branch",
        &[
            "-a",
            "-v",
            "--list",
            "--show-current",
            "-r",
            "--contains HEAD",
            "--format=%(refname)",
            "--no-color",
            "-vv",
            "--merged",
        ],
        &[
            "",
            "newbranch",
            "--edit-description",
            "-c x",
            "--set-upstream-to=origin/main",
        ],
    ),
    p(
        "tag",
        &["-n", "--contains HEAD", "--points-at HEAD"],
        &[
            "",
            "-l",
            "--list",
            "-v v1",
            "-l --format=%(refname)",
            "newtag",
        ],
    ),
    p(
        "remote",
        &["-v"],
        &[
            "",
            "show origin",
            "get-url origin",
            "show net",
            "prune -n origin",
            "update",
        ],
    ),
    p(
        "stash",
        &[],
        &["list", "show", "show -p", "list --output={W}"],
    ),
    p(
        "reflog",
        &[],
        &[
            "",
            "show",
            "show --output={W}",
            "exists HEAD",
            "expire --all",
        ],
    ),
    p(
        "config",
        &[],
        &[
            "--get user.name",
            "-l",
            "--list",
            "--global --list",
            "--get-regexp core",
            "user.name",
            "--show-origin -l",
            "--get-urlmatch http.proxy https://x",
            "--file={W} --list",
            "-f {W} -l",
            "--global -e",
            "--edit",
        ],
    ),
    p("clean", &[], &["-n", "-nd", "--dry-run -x", "-n -x -d"]),
    p("hash-object", &[], &["{R}", "-w {R}"]),
    p("unpack-file", &[], &["HEAD:README.md"]),
    p("bugreport", &[], &["-o {W}", ""]),
    p("diagnose", &[], &["-o /tmp"]),
    p("difftool", &[], &["-y -x {X} HEAD~1"]),
    p("column", &[], &["< {R}"]),
    p("stripspace", &[], &["< {R}"]),
    p("patch-id", &[], &["< {R}"]),
    p("show-index", &[], &["< {R}"]),
    p("verify-pack", &[], &["-v .git/objects/pack/x.idx"]),
    p("commit-graph", &[], &["verify", "write"]),
    p("multi-pack-index", &[], &["verify"]),
    p("rerere", &[], &["status", "diff"]),
    p("notes", &[], &["list", "show"]),
    p("worktree", &[], &["list"]),
    p("submodule", &[], &["status", "foreach {X}"]),
    p("lg", &[], &[""]),
];

/// Environment assignments put before a command: each makes some program run another, write a
/// file or read another configuration.
const ENV_PREFIXES: &[&str] = &[
    "GIT_PAGER={XS}",
    "PAGER={XS}",
    "GIT_EXTERNAL_DIFF={X}",
    "GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=core.fsmonitor GIT_CONFIG_VALUE_0={XS}",
    "GIT_CONFIG_PARAMETERS=\"'core.fsmonitor'='touch PWNED'\"",
    "GIT_CONFIG_GLOBAL=hostile.gitconfig",
    "GIT_CONFIG_SYSTEM=hostile.gitconfig",
    "GIT_CONFIG=hostile.gitconfig",
    "GIT_TRACE={W}",
    "GIT_TRACE2={W}",
    "GIT_TRACE2_EVENT={W}",
    "GIT_TRACE_PERFORMANCE={W}",
    "GIT_INDEX_FILE={W}",
    "GIT_DIR=.git",
    "GIT_SSH_COMMAND={XS}",
    "GIT_EDITOR={X}",
    "GIT_ASKPASS={X}",
    "GIT_EXEC_PATH=.",
    "GIT_ATTR_SOURCE=HEAD",
    "LESSOPEN='|id %s'",
    "LESS='-o out.txt'",
    "LESSKEYIN=hostile.lesskey",
    "BASH_ENV=hostile.sh",
    "ENV=hostile.sh",
    "PATH=.:$PATH",
    "TMPDIR=.",
    "HOME=/tmp",
    "XDG_CONFIG_HOME=.",
    "LC_ALL=C",
    "TZ=UTC",
    "MANPAGER={X}",
    "LD_PRELOAD=./hostile.so",
    "GCONV_PATH=.",
    "JQ_COLORS=1",
    "RIPGREP_CONFIG_PATH=hostile.rgrc",
    "SHELLOPTS=xtrace PS4='$(id)'",
];

/// Wrappers put before a command.
const WRAPPERS: &[&str] = &[
    "timeout 5",
    "nice",
    "nohup",
    "env",
    "command",
    "exec",
    "stdbuf -oL",
    "env -i",
    "nice -n 5",
    "env -S",
    "xargs -a files.txt",
    "timeout -s KILL 5",
    "env -C src",
    "setsid",
    "ionice -c3",
    "time",
    "builtin",
];

/// Redirections appended to a command.
const REDIRECTS: &[&str] = &[
    "> {W}",
    ">> {W}",
    "2> {W}",
    "2>/dev/null",
    ">/dev/null 2>&1",
    ">| {W}",
    "1<>{W}",
    "3> {W}",
    "< {R}",
    "<> {W}",
    "> /dev/stdout",
    "2>&1",
];

/// Pipelines: the command's output fed to another.
const PIPES: &[&str] = &[
    "| head -n 3",
    "| sort",
    "| tee {W}",
    "| less -o {W}",
    "| sort -o {W}",
    "| uniq - {W}",
    "| xargs {X}",
    "| sh",
    "| wc -l",
    "| cat",
    "| grep -c x",
];

/// Compound shapes; `{}` is the command, `{2}` a second command.
const COMPOUNDS: &[&str] = &[
    "{} && {2}",
    "{}; {2}",
    "{} || {2}",
    "({})",
    "{ {}; }",
    "if true; then {}; fi",
    "for f in 1; do {}; done",
    "echo $({})",
    "! {}",
    "case x in x) {};; esac",
    "f() { {}; }; f",
    "bash -c \"{}\"",
    "sh -c \"{}\"",
    "eval \"{}\"",
    "alias ls=id\nls",
    "cd src && {}",
    "{} &",
    "while false; do :; done; {}",
    "x=$({}) && echo \"$x\"",
];

/// Placeholders filled in: read paths, write paths, programs, shell strings.
fn expand(template: &str, rng: &mut Rng) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let (before, tail) = rest.split_at(start);
        out.push_str(before);
        let fill = [
            ("{R}", READ_PATHS),
            ("{W}", WRITE_PATHS),
            ("{XS}", EXEC_STRINGS),
            ("{X}", EXEC_WORDS),
        ]
        .iter()
        .find(|(k, _)| tail.starts_with(k))
        .map(|(k, pool)| (k.len(), rng.pick(pool)));
        match fill {
            Some((len, value)) => {
                out.push_str(value);
                rest = tail.get(len..).unwrap_or("");
            }
            None => {
                out.push('{');
                rest = tail.get(1..).unwrap_or("");
            }
        }
    }
    out.push_str(rest);
    out
}

/// One program with some of its options and one argument shape.
fn simple(prog: &Prog, rng: &mut Rng) -> String {
    let mut words: Vec<String> = vec![prog.name.to_owned()];
    let n_opts = rng.below(4).min(prog.opts.len());
    let mut after: Vec<String> = Vec::new();
    for _ in 0..n_opts {
        let o = expand(rng.pick(prog.opts), rng);
        // GNU programs permute: options after the operands are still options.
        if rng.chance(20) {
            after.push(o);
        } else {
            words.push(o);
        }
    }
    let args = expand(rng.pick(prog.args), rng);
    if !args.is_empty() {
        words.push(args);
    }
    words.extend(after);
    words.join(" ")
}

fn git_command(rng: &mut Rng) -> String {
    let mut words = vec!["git".to_owned()];
    let n_globals = if rng.chance(50) { 0 } else { 1 + rng.below(2) };
    for _ in 0..n_globals {
        words.push(expand(rng.pick(GIT_GLOBALS), rng));
    }
    let sub = GIT_SUBS.get(rng.below(GIT_SUBS.len()));
    if let Some(sub) = sub {
        words.push(simple(sub, rng));
    }
    words.join(" ")
}

/// One bare command: git (a third of the time) or another program.
fn base_command(rng: &mut Rng) -> String {
    if rng.chance(35) {
        git_command(rng)
    } else {
        match PROGS.get(rng.below(PROGS.len())) {
            Some(prog) => simple(prog, rng),
            None => "true".to_owned(),
        }
    }
}

/// The `index`-th generated command of the stream seeded with `seed`.
pub fn command(rng: &mut Rng) -> String {
    let mut cmd = base_command(rng);
    if rng.chance(12) {
        cmd = format!("{} {cmd}", rng.pick(WRAPPERS));
    }
    if rng.chance(15) {
        cmd = format!("{} {cmd}", expand(rng.pick(ENV_PREFIXES), rng));
    }
    if rng.chance(12) {
        cmd = format!("{cmd} {}", expand(rng.pick(REDIRECTS), rng));
    }
    if rng.chance(10) {
        cmd = format!("{cmd} {}", expand(rng.pick(PIPES), rng));
    }
    if rng.chance(10) {
        let shape = rng.pick(COMPOUNDS);
        let second = base_command(rng);
        // Nested quoting is only attempted when the command holds no double quotes.
        if !(shape.contains('"') && cmd.contains('"')) {
            cmd = shape.replace("{2}", &second).replace("{}", &cmd);
        }
    }
    cmd
}

/// `n` commands from the stream seeded with `seed` (duplicates removed, order kept).
pub fn generate(seed: u64, n: usize) -> Vec<String> {
    let mut rng = Rng::new(seed);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(n);
    // Bounded: a tiny stream could repeat itself forever.
    for _ in 0..n.saturating_mul(4) {
        if out.len() >= n {
            break;
        }
        let c = command(&mut rng);
        if seen.insert(c.clone()) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_sample() {
        assert_eq!(generate(7, 50), generate(7, 50));
        assert_ne!(generate(7, 50), generate(8, 50));
    }

    #[test]
    fn placeholders_are_all_filled() {
        for c in generate(1, 2000) {
            for ph in ["{R}", "{W}", "{X}", "{XS}", "{2}"] {
                assert!(!c.contains(ph), "unfilled {ph} in {c}");
            }
        }
    }

    #[test]
    fn the_stream_is_pinned() {
        // The fixed sample of the test command depends on this stream: a change to the
        // generator changes the sample, and this test says so.
        let mut rng = Rng::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
    }
}
