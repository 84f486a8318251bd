//! Reading `strace -ff` output: the system calls that change files, start programs, open
//! sockets or change the machine, attempted or done.

use std::fmt;

/// The system calls traced (`strace -e trace=…`).
pub const TRACED: &[&str] = &[
    "execve",
    "execveat",
    "open",
    "openat",
    "openat2",
    "creat",
    "truncate",
    "rename",
    "renameat",
    "renameat2",
    "unlink",
    "unlinkat",
    "rmdir",
    "mkdir",
    "mkdirat",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "chmod",
    "fchmodat",
    "chown",
    "lchown",
    "fchownat",
    "utimensat",
    "utimes",
    "utime",
    "mknod",
    "mknodat",
    "socket",
    "connect",
    "bind",
    "settimeofday",
    "clock_settime",
    "sethostname",
    "setdomainname",
    "mount",
];

/// What kind of effect a system call had (or tried to have).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EffectKind {
    /// A file created, written, renamed, removed, linked or its metadata changed.
    Write,
    /// A program started that is not the command's own.
    Exec,
    /// A network socket, or a connection to a local socket.
    Network,
    /// The machine's clock, name or mounts.
    System,
}

impl EffectKind {
    /// The name used in reports.
    pub fn as_str(&self) -> &'static str {
        match self {
            EffectKind::Write => "write",
            EffectKind::Exec => "exec",
            EffectKind::Network => "network",
            EffectKind::System => "system",
        }
    }
}

impl fmt::Display for EffectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One traced system call of interest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The process id (in the sandbox's PID namespace).
    pub pid: u32,
    /// The system call.
    pub syscall: String,
    /// Its string arguments (paths), in order.
    pub strings: Vec<String>,
    /// The raw line, for reports.
    pub line: String,
    /// Whether the call returned an error (`= -1 …`): attempted, not done.
    pub failed: bool,
}

/// Opening with one of these flags writes (or may write) the file.
const WRITE_FLAGS: &[&str] = &[
    "O_WRONLY",
    "O_RDWR",
    "O_CREAT",
    "O_TRUNC",
    "O_APPEND",
    "O_TMPFILE",
];

/// Files any program may open for writing without changing anything: the null device, the
/// terminal, its own standard streams.
const HARMLESS_WRITE_TARGETS: &[&str] = &[
    "/dev/null",
    "/dev/tty",
    "/dev/zero",
    "/dev/full",
    "/dev/stdout",
    "/dev/stderr",
    "/dev/fd/1",
    "/dev/fd/2",
    "/proc/self/fd/1",
    "/proc/self/fd/2",
];

/// The C library asks the name-service cache daemon for user names (`ls -l`, `id`): a local
/// lookup, not a connection anywhere.
/// The system log socket is local too (a program logging, not talking to anyone).
const LOCAL_SOCKETS: &[&str] = &["/var/run/nscd/socket", "/run/nscd/socket", "/dev/log"];

/// Parses one `strace -ff` output file (one process).
pub fn parse_file(pid: u32, text: &str) -> Vec<Event> {
    text.lines().filter_map(|l| parse_line(pid, l)).collect()
}

/// Parses one line; `None` for signals, exits and calls not traced.
pub fn parse_line(pid: u32, line: &str) -> Option<Event> {
    let paren = line.find('(')?;
    let syscall = line.get(..paren)?.trim();
    if syscall.is_empty()
        || !syscall
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return None;
    }
    let rest = line.get(paren..).unwrap_or("");
    let failed = result_of(rest).is_some_and(|r| r.starts_with('-'));
    Some(Event {
        pid,
        syscall: syscall.to_owned(),
        strings: quoted_strings(rest),
        line: line.to_owned(),
        failed,
    })
}

/// The result: the text after the last ` = ` (strace pads short calls with spaces before it).
fn result_of(rest: &str) -> Option<&str> {
    rest.rfind(" = ")
        .and_then(|i| rest.get(i + 3..))
        .map(str::trim_start)
}

/// The double-quoted strings of a strace line, unescaped (`\"`, `\\`, `\n`, `\t`, `\xHH`, octal).
fn quoted_strings(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        if b != b'"' {
            i += 1;
            continue;
        }
        let mut buf: Vec<u8> = Vec::new();
        i += 1;
        while let Some(&c) = bytes.get(i) {
            match c {
                b'"' => {
                    i += 1;
                    break;
                }
                b'\\' => {
                    let e = bytes.get(i + 1).copied();
                    i += 2;
                    match e {
                        Some(b'n') => buf.push(b'\n'),
                        Some(b't') => buf.push(b'\t'),
                        Some(b'r') => buf.push(b'\r'),
                        Some(b'v') => buf.push(0x0b),
                        Some(b'f') => buf.push(0x0c),
                        Some(b'x') => {
                            let hex = bytes
                                .get(i..i + 2)
                                .and_then(|h| std::str::from_utf8(h).ok());
                            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                                buf.push(v);
                            }
                            i += 2;
                        }
                        Some(d @ b'0'..=b'7') => {
                            let mut v = u32::from(d - b'0');
                            let mut k = 0;
                            while k < 2 {
                                match bytes.get(i) {
                                    Some(&o @ b'0'..=b'7') => {
                                        v = v * 8 + u32::from(o - b'0');
                                        i += 1;
                                    }
                                    _ => break,
                                }
                                k += 1;
                            }
                            buf.push(u8::try_from(v & 0xff).unwrap_or(0));
                        }
                        Some(other) => buf.push(other),
                        None => {}
                    }
                }
                _ => {
                    buf.push(c);
                    i += 1;
                }
            }
        }
        out.push(String::from_utf8_lossy(&buf).into_owned());
    }
    out
}

/// An effect seen in the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracedEffect {
    /// Its kind.
    pub kind: EffectKind,
    /// What happened, for reports (`openat out.txt O_WRONLY|O_CREAT (done)`).
    pub detail: String,
}

/// The effects of a traced run. `root_pid` is the wrapper shell's process (its first `execve`
/// is the command being started); `allowed_programs` are the program basenames the command
/// itself names (an `execve` of one of them is the command's own).
pub fn effects(
    events: &[Event],
    root_pid: u32,
    allowed_programs: &dyn Fn(&str) -> bool,
) -> Vec<TracedEffect> {
    let mut out = Vec::new();
    let mut root_exec_seen = false;
    for e in events {
        let path = e.strings.first().map(String::as_str).unwrap_or("");
        let status = if e.failed { "attempted" } else { "done" };
        let mut push = |kind: EffectKind, what: String| {
            out.push(TracedEffect {
                kind,
                detail: format!("{what} ({status})"),
            });
        };
        match e.syscall.as_str() {
            "execve" | "execveat" => {
                if e.pid == root_pid && !root_exec_seen {
                    root_exec_seen = true;
                    continue;
                }
                let prog = crate::judge::basename(path);
                if !allowed_programs(prog) {
                    push(EffectKind::Exec, format!("execve {path}"));
                }
            }
            "open" | "openat" | "openat2" => {
                let flags = flags_after_path(&e.line);
                if WRITE_FLAGS.iter().any(|f| flags.contains(f))
                    && !HARMLESS_WRITE_TARGETS.contains(&path)
                    && !path.starts_with("/dev/pts/")
                {
                    let shown: Vec<&str> = WRITE_FLAGS
                        .iter()
                        .copied()
                        .filter(|f| flags.contains(f))
                        .collect();
                    push(
                        EffectKind::Write,
                        format!("{} {path} {}", e.syscall, shown.join("|")),
                    );
                }
            }
            "creat" | "truncate" | "unlink" | "unlinkat" | "rmdir" | "mkdir" | "mkdirat"
            | "chmod" | "fchmodat" | "chown" | "lchown" | "fchownat" | "mknod" | "mknodat"
            | "utimes" | "utime" => {
                push(EffectKind::Write, format!("{} {path}", e.syscall));
            }
            // utimensat(fd, NULL, …) is futimens on an open file: only with a path it names a
            // file (the open for writing is reported on its own).
            "utimensat" if !e.strings.is_empty() => {
                push(EffectKind::Write, format!("utimensat {path}"));
            }
            "rename" | "renameat" | "renameat2" | "link" | "linkat" | "symlink" | "symlinkat" => {
                let to = e.strings.get(1).map(String::as_str).unwrap_or("");
                push(EffectKind::Write, format!("{} {path} -> {to}", e.syscall));
            }
            "socket" => {
                let family = e.line.split(['(', ',']).nth(1).map(str::trim).unwrap_or("");
                // Local sockets are judged by what they connect to.
                if family != "AF_UNIX" && family != "AF_LOCAL" {
                    push(EffectKind::Network, format!("socket {family}"));
                }
            }
            "connect" | "bind" => {
                let unix_path = e.line.contains("AF_UNIX") || e.line.contains("AF_LOCAL");
                if unix_path && LOCAL_SOCKETS.contains(&path) {
                    continue;
                }
                let target = if path.is_empty() {
                    e.line
                        .split_once('{')
                        .and_then(|(_, r)| r.split_once('}'))
                        .map(|(t, _)| t.to_owned())
                        .unwrap_or_default()
                } else {
                    path.to_owned()
                };
                push(EffectKind::Network, format!("{} {target}", e.syscall));
            }
            "settimeofday" | "clock_settime" | "sethostname" | "setdomainname" | "mount" => {
                push(EffectKind::System, e.syscall.clone());
            }
            _ => {}
        }
    }
    out
}

/// The open flags of an `open`/`openat`/`openat2` line: the text after the path string.
fn flags_after_path(line: &str) -> String {
    // The path is the first quoted string; flags follow it.
    let mut in_str = false;
    let mut escaped = false;
    let mut quotes = 0;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_str => escaped = true,
            '"' => {
                in_str = !in_str;
                quotes += 1;
                if quotes == 2 {
                    let rest = line.get(i + 1..).unwrap_or("");
                    // Stop at the result: flags never follow ` = `.
                    return rest.rsplit_once(" = ").map_or(rest, |(f, _)| f).to_owned();
                }
            }
            _ => {}
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(_: &str) -> bool {
        true
    }

    fn none(_: &str) -> bool {
        false
    }

    #[test]
    fn writes_are_seen_and_reads_are_not() {
        let text = r#"execve("/usr/bin/sh", ["sh", "-c", "x"], 0x7ffc /* 3 vars */) = 0
openat(AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3
openat(AT_FDCWD, "/dev/null", O_WRONLY|O_CREAT|O_TRUNC, 0666) = 3
openat(AT_FDCWD, "out \"q\".txt", O_WRONLY|O_CREAT|O_TRUNC, 0666) = 3
openat(AT_FDCWD, "/etc/foo", O_WRONLY|O_CREAT|O_NOCTTY|O_NONBLOCK, 0666) = -1 EROFS (Read-only file system)
renameat2(AT_FDCWD, "a.lock", AT_FDCWD, "a", RENAME_NOREPLACE) = 0
sethostname("x", 1)                     = -1 EPERM (Operation not permitted)
+++ exited with 0 +++
"#;
        let ev = parse_file(3, text);
        let fx = effects(&ev, 3, &all);
        let details: Vec<&str> = fx.iter().map(|f| f.detail.as_str()).collect();
        assert_eq!(
            details,
            vec![
                "openat out \"q\".txt O_WRONLY|O_CREAT|O_TRUNC (done)",
                "openat /etc/foo O_WRONLY|O_CREAT (attempted)",
                "renameat2 a.lock -> a (done)",
                "sethostname (attempted)",
            ]
        );
    }

    #[test]
    fn a_second_exec_is_seen_unless_it_is_the_commands_own() {
        let text = "execve(\"/usr/bin/sh\", [\"sh\"], 0x1 /* 1 vars */) = 0\nexecve(\"/usr/bin/id\", [\"id\"], 0x1 /* 1 vars */) = 0\n";
        let ev = parse_file(7, text);
        assert!(effects(&ev, 7, &all).is_empty());
        let fx = effects(&ev, 7, &none);
        assert_eq!(fx.len(), 1);
        assert_eq!(fx.first().map(|f| f.kind), Some(EffectKind::Exec));
        // The first exec of another process is not the wrapper.
        assert_eq!(effects(&ev, 1, &none).len(), 2);
    }

    #[test]
    fn sockets_are_seen_but_the_name_service_cache_is_not() {
        let text = r#"socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, 0) = 3
connect(3, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT (No such file or directory)
socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) = 4
connect(4, {sa_family=AF_INET, sin_port=htons(9), sin_addr=inet_addr("127.0.0.1")}, 16) = -1 ECONNREFUSED (Connection refused)
"#;
        let fx = effects(&parse_file(2, text), 1, &all);
        let kinds: Vec<EffectKind> = fx.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, vec![EffectKind::Network, EffectKind::Network]);
    }

    #[test]
    fn escapes_in_paths_are_decoded() {
        assert_eq!(
            quoted_strings(r#"open("a\nb\x41\101\"", O_RDONLY)"#),
            vec!["a\nbAA\"".to_owned()]
        );
    }
}
