//! The sandbox: a scratch git repository (the workspace) and a scratch HOME, the only writable
//! trees, inside bubblewrap (everything else read-only, no network, no capabilities, its own
//! PID namespace) with `strace -ff` watching every process.
//!
//! A run is judged twice: by the trace (attempted writes anywhere, programs started, sockets)
//! and by comparing a snapshot of the writable trees before and after (what really changed,
//! including through calls not traced). After a run that changed anything the trees are
//! restored from a pristine copy.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::OracleError;
use crate::trace::{self, EffectKind, TracedEffect};

/// PATH inside the sandbox.
const SANDBOX_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Wrapper programs the classifier unwraps (`timeout 5 git log` is `git log` to it): when one of
/// them appears as a word of the command, starting it is the command's own doing.
const WRAPPERS: &[&str] = &[
    "env",
    "nice",
    "nohup",
    "timeout",
    "stdbuf",
    "ionice",
    "xargs",
    "setsid",
    "time",
    "sudo",
    "doas",
    "chrt",
    "taskset",
    "command",
    "builtin",
    "exec",
    "watch",
    "flock",
    "unbuffer",
    "caffeinate",
    "sh",
    "bash",
    "dash",
];

/// Programs some reads start on their own, with no say of the caller: decompressors for
/// compressed archives and files, git re-running itself. Starting them is reported as
/// "expected helper", not as a finding.
const HELPERS: &[(&str, &[&str])] = &[
    // git runs its own programs (`git-upload-pack` for a local remote, through `sh -c`); a
    // program configured to run is another matter, and is seen as its own exec.
    ("git", &["git", "sh"]),
    ("xargs", &["echo"]),
    ("egrep", &["grep"]),
    ("fgrep", &["grep"]),
    ("yq", &["jq", "python3"]),
    (
        "tar",
        &[
            "gzip", "bzip2", "xz", "zstd", "lzip", "lzma", "lzop", "gunzip",
        ],
    ),
    (
        "file",
        &[
            "gzip", "bzip2", "xz", "zstd", "lzip", "lzma", "lrzip", "lz4",
        ],
    ),
    ("zcat", &["gzip"]),
    ("zless", &["gzip", "less", "sh"]),
    ("zgrep", &["gzip", "grep"]),
    (
        "rg",
        &[
            "gzip",
            "bzip2",
            "xz",
            "zstd",
            "lz4",
            "brotli",
            "lzma",
            "uncompress",
        ],
    ),
];

/// The scratch world: `repo` (the workspace), `home`, the trace `log` directory and the
/// pristine copies they are restored from.
pub struct Sandbox {
    _dir: Option<tempfile::TempDir>,
    root: PathBuf,
    /// The scratch git repository, the working directory of every command.
    pub repo: PathBuf,
    /// The scratch HOME.
    pub home: PathBuf,
    log: PathBuf,
    pristine: PathBuf,
    timeout: Duration,
}

/// What one run did.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Effects the trace or the snapshot showed.
    pub effects: Vec<Effect>,
    /// Programs started that are expected helpers of the command (reported, not findings).
    pub helpers: Vec<String>,
    /// The command did not finish in time (killed).
    pub timed_out: bool,
    /// The exit status of the sandbox (the command's, through bwrap and strace).
    pub status: Option<i32>,
    /// The start of the standard error, for reports.
    pub stderr: String,
    /// git refreshed its index (`.git/index.lock` taken, `.git/index` rewritten): a cache of
    /// file metadata every `git status` keeps up to date; counted, not a finding.
    pub index_refresh: bool,
}

/// One observed effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    /// What kind.
    pub kind: EffectKind,
    /// Seen how: `trace` or `snapshot`.
    pub seen_by: &'static str,
    /// What happened.
    pub detail: String,
}

/// One entry of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    kind: char,
    mode: u32,
    mtime_ns: i128,
    content: String,
}

type Snapshot = BTreeMap<String, Entry>;

impl Sandbox {
    /// Builds the scratch world under the system temporary directory and checks that bwrap
    /// and strace work here.
    pub fn new(timeout: Duration) -> Result<Sandbox, OracleError> {
        for tool in ["bwrap", "strace", "git"] {
            let ok = Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return Err(OracleError::Tool(format!(
                    "`{tool}` is missing or does not run (scripts/install-deps --test installs it)"
                )));
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("cordon-oracle.")
            .tempdir()
            .map_err(|e| OracleError::io("create the scratch directory", e))?;
        // The real path: bwrap binds by path, and the classifier resolves symlinks.
        let root = dir
            .path()
            .canonicalize()
            .map_err(|e| OracleError::io("resolve the scratch directory", e))?;
        // CORDON_ORACLE_KEEP=1 keeps the scratch world for a look after the run.
        let (dir, kept) = if std::env::var_os("CORDON_ORACLE_KEEP").is_some() {
            (None, Some(dir.keep()))
        } else {
            (Some(dir), None)
        };
        if let Some(k) = &kept {
            eprintln!(
                "cordon-oracle: keeping the scratch world in {}",
                k.display()
            );
        }
        let sb = Sandbox {
            repo: root.join("repo"),
            home: root.join("home"),
            log: root.join("log"),
            pristine: root.join("pristine"),
            root,
            _dir: dir,
            timeout,
        };
        sb.build_fixture()?;
        Ok(sb)
    }

    fn build_fixture(&self) -> Result<(), OracleError> {
        let origin = self.root.join("origin.git");
        for d in [&self.repo, &self.home, &self.log, &self.pristine] {
            std::fs::create_dir_all(d)
                .map_err(|e| OracleError::io(format!("create {}", d.display()), e))?;
        }
        let files: &[(&str, &str)] = &[
            ("README.md", "# scratch\nmain line\nanother line\n"),
            ("src/main.rs", "fn main() {\n    println!(\"main\");\n}\n"),
            ("src/lib.rs", "pub fn f() -> u32 {\n    1\n}\n"),
            ("notes.txt", "b\na\na\nc\nb\nmain\n"),
            ("nums.txt", "1 one\n2 two\n3 three\n"),
            ("with space.txt", "spaced\n"),
            ("data.json", "{\"name\": \"scratch\", \"a\": [1, 2]}\n"),
            ("data.csv", "1,a\n2,b\n"),
            ("dir/sub/file.txt", "nested\n"),
            ("files0.txt", "README.md\0notes.txt\0"),
            ("files.txt", "README.md\nnotes.txt\n"),
            ("b64.txt", "aGVsbG8K\n"),
            (
                "sums.txt",
                "0000000000000000000000000000000000000000000000000000000000000000  README.md\n",
            ),
            (".gitignore", "out.txt\n"),
            // What a hostile project can ship: a cloned repository's files are the agent's
            // to read and pass to options.
            (
                "hostile.gitconfig",
                "[core]\n\tfsmonitor = \"touch PWNED; false\"\n\tpager = touch PWNED-pager\n[diff]\n\texternal = ./hostile.sh\n",
            ),
            ("hostile.gitattributes", "*.md diff=txt\n*.rs filter=x\n"),
            ("hostile.sed", "1w sed-out.txt\n"),
            ("hostile.awk", "BEGIN { system(\"touch PWNED\") }\n"),
            ("hostile.jq", "def x: 1;\n"),
            ("hostile.sh", "#!/bin/sh\ntouch PWNED\n"),
            ("hostile.lesskey", "#command\n! shell\n"),
            ("hostile.magic", "0\tstring\tx\tx\n"),
            ("hostile.rgrc", "--pre=./hostile.sh\n"),
        ];
        for (name, text) in files {
            let path = self.repo.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| OracleError::io(format!("create {}", parent.display()), e))?;
            }
            std::fs::write(&path, text)
                .map_err(|e| OracleError::io(format!("write {}", path.display()), e))?;
        }
        let hostile = self.repo.join("hostile.sh");
        std::fs::set_permissions(&hostile, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| OracleError::io("chmod hostile.sh", e))?;
        std::os::unix::fs::symlink("README.md", self.repo.join("link.txt"))
            .map_err(|e| OracleError::io("symlink link.txt", e))?;
        std::fs::write(self.home.join(".bashrc"), "# scratch bashrc\n")
            .map_err(|e| OracleError::io("write .bashrc", e))?;
        std::fs::write(
            self.home.join(".gitconfig"),
            "[user]\n\tname = Oracle\n\temail = oracle@example.invalid\n[init]\n\tdefaultBranch = main\n",
        )
        .map_err(|e| OracleError::io("write .gitconfig", e))?;

        let git = |args: &[&str], cwd: &Path| -> Result<(), OracleError> {
            let out = self
                .host_git(cwd)
                .args(args)
                .output()
                .map_err(|e| OracleError::io("run git", e))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(OracleError::Tool(format!(
                    "git {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                )))
            }
        };
        let repo = self.repo.as_path();
        git(&["init", "-q", "-b", "main"], repo)?;
        git(&["add", "-A"], repo)?;
        git(&["commit", "-q", "-m", "first"], repo)?;
        std::fs::write(
            self.repo.join("README.md"),
            "# scratch\nmain line\nanother line\nthird\n",
        )
        .map_err(|e| OracleError::io("write README.md", e))?;
        git(&["commit", "-q", "-am", "second"], repo)?;
        git(&["tag", "v1"], repo)?;
        git(&["branch", "feature"], repo)?;
        std::fs::write(
            self.repo.join("src/main.rs"),
            "fn main() {\n    println!(\"main 2\");\n}\n",
        )
        .map_err(|e| OracleError::io("write src/main.rs", e))?;
        git(&["commit", "-q", "-am", "third"], repo)?;
        // An archive and a compressed one, for tar/zcat/file.
        let tar = Command::new("tar")
            .args(["-cf", "archive.tar", "README.md", "notes.txt"])
            .current_dir(repo)
            .status()
            .map_err(|e| OracleError::io("run tar", e))?;
        let gz = Command::new("sh")
            .args(["-c", "gzip -c archive.tar > archive.tar.gz"])
            .current_dir(repo)
            .status()
            .map_err(|e| OracleError::io("run gzip", e))?;
        if !tar.success() || !gz.success() {
            return Err(OracleError::Tool(
                "tar/gzip failed building the fixture".into(),
            ));
        }
        git(&["add", "archive.tar", "archive.tar.gz"], repo)?;
        git(&["commit", "-q", "-m", "archives"], repo)?;
        // A remote that is a local path (ls-remote, remote show), one on the network.
        git(
            &[
                "clone",
                "-q",
                "--bare",
                ".",
                origin.to_string_lossy().as_ref(),
            ],
            repo,
        )?;
        git(
            &["remote", "add", "origin", origin.to_string_lossy().as_ref()],
            repo,
        )?;
        git(&["remote", "add", "net", "https://127.0.0.1:9/x.git"], repo)?;
        git(&["fetch", "-q", "origin"], repo)?;
        // An uncommitted change, so status and diff have something to say.
        std::fs::write(
            self.repo.join("notes.txt"),
            "b\na\na\nc\nb\nmain\nchanged\n",
        )
        .map_err(|e| OracleError::io("write notes.txt", e))?;
        for (live, copy) in [("repo", "repo"), ("home", "home")] {
            copy_tree(&self.root.join(live), &self.pristine.join(copy))?;
        }
        // Every run starts from a restored copy, the first one too.
        self.restore()
    }

    /// A git command on the host with the scratch HOME (fixture building and settling).
    fn host_git(&self, cwd: &Path) -> Command {
        let mut c = Command::new("git");
        c.current_dir(cwd)
            .env_clear()
            .env("PATH", SANDBOX_PATH)
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_AUTHOR_DATE", "2020-01-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2020-01-01T00:00:00Z")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    }

    /// Brings git's index up to date with the files' metadata, so that a read like
    /// `git status` has nothing to refresh: without this, a restored tree (new inodes and
    /// change times) would make every git read rewrite `.git/index`, and hide real findings
    /// among those writes. Files get a modification time in the past first (git's "racily
    /// clean" rule otherwise re-checks, and rewrites the index, on every run).
    fn settle(&self) -> Result<(), OracleError> {
        let past = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_577_836_800);
        set_mtimes(&self.repo, past)?;
        let out = self
            .host_git(&self.repo)
            .args(["update-index", "-q", "--really-refresh"])
            .output()
            .map_err(|e| OracleError::io("run git update-index", e))?;
        // Exit 1 just means "needs update" entries (the uncommitted change): not an error.
        if out.status.code().is_none_or(|c| c > 1) {
            return Err(OracleError::Tool(format!(
                "git update-index: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        // And once more through status, which writes what update-index leaves.
        let _ = self.host_git(&self.repo).arg("status").output();
        Ok(())
    }

    /// Puts the scratch trees back as they were built.
    fn restore(&self) -> Result<(), OracleError> {
        for name in ["repo", "home"] {
            let live = self.root.join(name);
            if live.exists() {
                make_writable(&live);
                std::fs::remove_dir_all(&live)
                    .map_err(|e| OracleError::io(format!("remove {}", live.display()), e))?;
            }
            copy_tree(&self.pristine.join(name), &live)?;
        }
        self.settle()
    }

    fn snapshot(&self) -> Result<Snapshot, OracleError> {
        let mut snap = Snapshot::new();
        for (label, dir) in [("~", &self.home), (".", &self.repo)] {
            scan(dir, label, &mut snap)?;
        }
        Ok(snap)
    }

    /// Runs `command` with `sh -c` (as `run_command` does) in the sandbox and reports what it
    /// did. `programs` are the command's own programs (from the classification: every
    /// non-option word of its parts' argv).
    pub fn run(&self, command: &str, programs: &[String]) -> Result<RunResult, OracleError> {
        let before = self.snapshot()?;
        // A fresh trace directory per run.
        if self.log.exists() {
            std::fs::remove_dir_all(&self.log)
                .map_err(|e| OracleError::io("clear the trace directory", e))?;
        }
        std::fs::create_dir_all(&self.log)
            .map_err(|e| OracleError::io("create the trace directory", e))?;
        let trace_prefix = self.log.join("t");
        let secs = self.timeout.as_secs().max(1).to_string();
        let mut cmd = Command::new("timeout");
        cmd.args(["-k", "2", &secs, "bwrap"])
            .args([
                "--ro-bind",
                "/",
                "/",
                "--dev",
                "/dev",
                "--proc",
                "/proc",
                "--tmpfs",
                "/tmp",
            ])
            .arg("--bind")
            .arg(&self.repo)
            .arg(&self.repo)
            .arg("--bind")
            .arg(&self.home)
            .arg(&self.home)
            .arg("--bind")
            .arg(&self.log)
            .arg(&self.log)
            .arg("--ro-bind")
            .arg(self.root.join("origin.git"))
            .arg(self.root.join("origin.git"))
            .args([
                "--unshare-all",
                "--cap-drop",
                "ALL",
                "--die-with-parent",
                "--new-session",
            ])
            .args(["--clearenv", "--setenv", "PATH", SANDBOX_PATH])
            .arg("--setenv")
            .arg("HOME")
            .arg(&self.home)
            .args([
                "--setenv",
                "LANG",
                "C.UTF-8",
                "--setenv",
                "GIT_TERMINAL_PROMPT",
                "0",
            ])
            .args(["--setenv", "USER", "oracle", "--setenv", "TERM", "dumb"])
            .arg("--chdir")
            .arg(&self.repo)
            .args(["--", "strace", "-ff", "-qq", "-s", "4096", "-o"])
            .arg(&trace_prefix)
            .arg("-e")
            .arg(format!("trace={}", trace::TRACED.join(",")))
            .args(["--", "sh", "-c", command])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let out = cmd.output().map_err(|e| OracleError::io("run bwrap", e))?;
        let status = out.status.code();
        let timed_out = matches!(status, Some(124 | 137));
        let stderr: String = String::from_utf8_lossy(&out.stderr)
            .chars()
            .take(600)
            .collect();
        if stderr.starts_with("bwrap:") {
            return Err(OracleError::Tool(format!(
                "the sandbox does not work here: {}",
                stderr.trim()
            )));
        }

        // The trace: one file per process, `t.<pid>`.
        let mut files: Vec<(u32, PathBuf)> = std::fs::read_dir(&self.log)
            .map_err(|e| OracleError::io("read the trace directory", e))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_prefix("t.")
                    .and_then(|p| p.parse::<u32>().ok())
                    .map(|pid| (pid, e.path()))
            })
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(OracleError::Tool(format!(
                "strace wrote no trace for `{command}` (status {status:?}): {}",
                stderr.trim()
            )));
        }
        let root_pid = files.first().map(|(p, _)| *p).unwrap_or(0);
        let mut events = Vec::new();
        for (pid, path) in &files {
            let text = std::fs::read(path).map_err(|e| OracleError::io("read a trace", e))?;
            events.extend(trace::parse_file(*pid, &String::from_utf8_lossy(&text)));
        }
        let words: Vec<&str> = command
            .split(|c: char| c.is_whitespace() || ";|&()`$\"'".contains(c))
            .filter(|w| !w.is_empty())
            .map(crate::judge::basename)
            .collect();
        let own = |prog: &str| {
            programs.iter().any(|p| p == prog)
                || (WRAPPERS.contains(&prog) && words.contains(&prog))
        };
        let helper = |prog: &str| {
            programs.iter().any(|p| {
                HELPERS.iter().any(|(owner, helpers)| {
                    owner == p
                        && (helpers.contains(&prog)
                            || (*owner == "git" && prog.starts_with("git-")))
                })
            })
        };
        let mut helpers = Vec::new();
        let allowed = |prog: &str| own(prog) || helper(prog);
        for e in &events {
            if matches!(e.syscall.as_str(), "execve" | "execveat") {
                let prog =
                    crate::judge::basename(e.strings.first().map(String::as_str).unwrap_or(""));
                if !own(prog) && helper(prog) && !helpers.iter().any(|h| h == prog) {
                    helpers.push(prog.to_owned());
                }
            }
        }
        let mut effects: Vec<Effect> = trace::effects(&events, root_pid, &allowed)
            .into_iter()
            .map(|TracedEffect { kind, detail }| Effect {
                kind,
                seen_by: "trace",
                detail,
            })
            .collect();

        let after = self.snapshot()?;
        let changes = diff(&before, &after);
        let changed = !changes.is_empty();
        effects.extend(changes.into_iter().map(|detail| Effect {
            kind: EffectKind::Write,
            seen_by: "snapshot",
            detail,
        }));
        // git's index refresh: only these exact paths, and only when git is the command's.
        let mut index_refresh = false;
        if programs.iter().any(|p| p == "git") {
            let lock = format!("{}/.git/index.lock", self.repo.display());
            let index = format!("{}/.git/index", self.repo.display());
            let refresh = |e: &Effect| match e.seen_by {
                "trace" => {
                    e.detail == format!("openat {lock} O_RDWR|O_CREAT (done)")
                        || e.detail == format!("unlink {lock} (done)")
                        || e.detail == format!("rename {lock} -> {index} (done)")
                }
                _ => {
                    e.detail == "changed ./.git (entries (mtime))"
                        || e.detail.starts_with("changed ./.git/index (")
                }
            };
            let before_len = effects.len();
            effects.retain(|e| !refresh(e));
            index_refresh = effects.len() != before_len;
        }
        if changed {
            self.restore()?;
        }
        Ok(RunResult {
            effects,
            helpers,
            timed_out,
            status,
            stderr,
            index_refresh,
        })
    }

    /// Proves the oracle can see: control commands that write, execute and connect must be
    /// seen doing so, and a plain read must be seen doing nothing. Returns what went wrong.
    pub fn self_test(&self) -> Result<Vec<String>, OracleError> {
        let mut problems = Vec::new();
        let controls: &[(&str, &[&str], Option<EffectKind>)] = &[
            ("cat README.md", &["cat"], None),
            ("git status", &["git"], None),
            ("git log -1", &["git"], None),
            ("touch out.txt", &["touch"], Some(EffectKind::Write)),
            (
                "cat README.md > ~/.bashrc",
                &["cat"],
                Some(EffectKind::Write),
            ),
            (
                "touch /etc/cordon-oracle-probe",
                &["touch"],
                Some(EffectKind::Write),
            ),
            ("touch /tmp/x", &["touch"], Some(EffectKind::Write)),
            (
                "git log --output=.git/config -1",
                &["git"],
                Some(EffectKind::Write),
            ),
            ("cat README.md; id", &["cat"], Some(EffectKind::Exec)),
            (
                "git -c core.fsmonitor='id' status",
                &["git"],
                Some(EffectKind::Exec),
            ),
            (
                "git ls-remote https://127.0.0.1:9/x.git",
                &["git"],
                Some(EffectKind::Network),
            ),
        ];
        for (cmd, progs, expect) in controls {
            let progs: Vec<String> = progs.iter().map(|s| (*s).to_owned()).collect();
            let r = self.run(cmd, &progs)?;
            match expect {
                None if !r.effects.is_empty() => problems.push(format!(
                    "control read `{cmd}` showed effects (the oracle would report noise): {:?}",
                    r.effects
                )),
                Some(kind) if !r.effects.iter().any(|e| e.kind == *kind) => problems.push(format!(
                    "control `{cmd}` showed no {kind} effect (the oracle is blind): saw {:?}, stderr {}",
                    r.effects, r.stderr
                )),
                _ => {}
            }
        }
        // The snapshot alone must see a write (not only the trace).
        let r = self.run("echo x >> README.md", &["echo".to_owned()])?;
        if !r.effects.iter().any(|e| e.seen_by == "snapshot") {
            problems.push("the snapshot did not see `echo x >> README.md`".to_owned());
        }
        Ok(problems)
    }
}

/// Entries of `dir` into `snap`, keyed by `label/relative path`.
fn scan(dir: &Path, label: &str, snap: &mut Snapshot) -> Result<(), OracleError> {
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| OracleError::io(format!("stat {}", dir.display()), e))?;
    snap.insert(label.to_owned(), entry(dir, &meta)?);
    if !meta.is_dir() {
        return Ok(());
    }
    let mut names: Vec<std::fs::DirEntry> = std::fs::read_dir(dir)
        .map_err(|e| OracleError::io(format!("read {}", dir.display()), e))?
        .filter_map(|e| e.ok())
        .collect();
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let child = format!("{label}/{}", e.file_name().to_string_lossy());
        scan(&e.path(), &child, snap)?;
    }
    Ok(())
}

fn entry(path: &Path, meta: &std::fs::Metadata) -> Result<Entry, OracleError> {
    let ft = meta.file_type();
    let (kind, content) = if ft.is_symlink() {
        let target = std::fs::read_link(path).map_err(|e| OracleError::io("readlink", e))?;
        ('l', target.to_string_lossy().into_owned())
    } else if ft.is_dir() {
        ('d', String::new())
    } else if ft.is_file() {
        // An unreadable file (mode changed by the command) still counts: its hash is unknown.
        let hash = std::fs::read(path)
            .map(|b| hex::encode(Sha256::digest(&b)))
            .unwrap_or_else(|e| format!("unreadable: {e}"));
        ('f', hash)
    } else {
        ('o', String::new())
    };
    Ok(Entry {
        kind,
        mode: meta.mode(),
        mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        content,
    })
}

/// What changed between two snapshots, one line per entry.
fn diff(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    for (k, b) in before {
        match after.get(k) {
            None => out.push(format!("removed {k}")),
            Some(a) if a != b => {
                let mut what = Vec::new();
                if a.kind != b.kind {
                    what.push("type");
                }
                if a.content != b.content {
                    what.push("content");
                }
                if a.mode != b.mode {
                    what.push("mode");
                }
                if a.mtime_ns != b.mtime_ns {
                    what.push(if a.kind == 'd' {
                        "entries (mtime)"
                    } else {
                        "mtime"
                    });
                }
                out.push(format!("changed {k} ({})", what.join(", ")));
            }
            Some(_) => {}
        }
    }
    for k in after.keys() {
        if !before.contains_key(k) {
            out.push(format!("created {k}"));
        }
    }
    out
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), OracleError> {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .map_err(|e| OracleError::io("run cp", e))?;
    if status.success() {
        Ok(())
    } else {
        Err(OracleError::Tool(format!(
            "cp -a {} {} failed",
            from.display(),
            to.display()
        )))
    }
}

/// A command may have removed permissions; restoring needs them back.
fn make_writable(dir: &Path) {
    let _ = Command::new("chmod")
        .args(["-R", "u+rwX"])
        .arg(dir)
        .status();
}

fn set_mtimes(dir: &Path, when: std::time::SystemTime) -> Result<(), OracleError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| OracleError::io(format!("read {}", dir.display()), e))?;
    for e in entries.filter_map(|e| e.ok()) {
        let path = e.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if e.file_name() == ".git" {
                continue;
            }
            set_mtimes(&path, when)?;
        } else if meta.is_file() {
            let f = std::fs::File::options()
                .write(true)
                .open(&path)
                .map_err(|e| OracleError::io(format!("open {}", path.display()), e))?;
            f.set_modified(when)
                .map_err(|e| OracleError::io(format!("set mtime of {}", path.display()), e))?;
        }
    }
    Ok(())
}
