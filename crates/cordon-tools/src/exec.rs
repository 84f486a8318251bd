//! Running a child process with a hard time limit, capped output and a process-group kill
//! (a kill-on-close job object on Windows).
//! Used by `run_command` and by every git tool, so neither can hang the gateway.

use std::ffi::OsString;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// How long to wait for the output pipes to close after the child is gone (a process that
/// escaped the process group may still hold them).
const PIPE_GRACE: Duration = Duration::from_secs(2);

/// How long a child that is stopped or past its time limit gets to exit after SIGTERM before
/// its group is killed: git removes its lock files (`.git/index.lock`) on SIGTERM but cannot on
/// SIGKILL, and a lock left behind fails every later git call in that repository. A child that
/// ignores SIGTERM gains this much time, no more.
#[cfg(unix)]
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Output captured from one stream.
#[derive(Debug, Default, Clone)]
pub(crate) struct Captured {
    /// The first `cap` bytes.
    pub bytes: Vec<u8>,
    /// Total bytes the stream produced.
    pub total: u64,
    /// More than `cap` bytes were produced.
    pub truncated: bool,
}

impl Captured {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// How a run ended.
#[derive(Debug)]
pub(crate) struct Finished {
    /// Exit code; `None` when killed by a signal or on timeout.
    pub code: Option<i32>,
    /// Terminating signal, on Unix.
    pub signal: Option<i32>,
    /// The time limit passed and the process group was killed.
    pub timed_out: bool,
    pub stdout: Captured,
    pub stderr: Captured,
}

/// What to run.
pub(crate) struct Spec<'a> {
    pub program: &'a std::ffi::OsStr,
    pub args: Vec<OsString>,
    pub cwd: &'a Path,
    pub env: Vec<(OsString, OsString)>,
    pub env_remove: &'a [&'a str],
    /// Start from exactly this environment (None: inherit the current process's).
    pub base_env: Option<&'a [(OsString, OsString)]>,
    pub timeout: Duration,
    pub cap: usize,
    /// Asked while the child runs: true stops it (its whole group ended, see [`Group::stop`])
    /// and fails the run with [`std::io::ErrorKind::Interrupted`]. For a call its agent
    /// cancelled or abandoned: its place among the calls running is only free once nothing of
    /// it runs.
    pub stop: Stop<'a>,
}

/// What ends a run early when it answers true: the engine passes "the agent cancelled or went
/// away".
pub(crate) type Stop<'a> = Option<&'a (dyn Fn() -> bool + Sync)>;

type Shared = Arc<Mutex<Captured>>;

fn reader<R: Read + Send + 'static>(mut source: R, cap: usize) -> (Shared, mpsc::Receiver<()>) {
    let shared: Shared = Arc::new(Mutex::new(Captured::default()));
    let (tx, rx) = mpsc::channel();
    let sink = Arc::clone(&shared);
    thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match source.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let mut c = sink.lock().unwrap_or_else(PoisonError::into_inner);
                    let chunk = buf.get(..n).unwrap_or_default();
                    let room = cap.saturating_sub(c.bytes.len());
                    let take = room.min(chunk.len());
                    c.bytes
                        .extend_from_slice(chunk.get(..take).unwrap_or_default());
                    if take < chunk.len() {
                        c.truncated = true;
                    }
                    c.total = c.total.saturating_add(n as u64);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let _ = tx.send(());
    });
    (shared, rx)
}

fn take(shared: &Shared) -> Captured {
    shared
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// Sends `signal` to every process in the child's process group (the child is the leader).
#[cfg(unix)]
fn signal_group(pid: u32, signal: nix::sys::signal::Signal) {
    use nix::sys::signal::killpg;
    use nix::unistd::Pid;
    if let Ok(raw) = i32::try_from(pid) {
        // ESRCH (group already gone) is the expected, harmless failure.
        let _ = killpg(Pid::from_raw(raw), signal);
    }
}

/// Everything the child started: on Unix its process group (the child is the leader), on
/// Windows a kill-on-close job object the child was started in (suspended until it is inside;
/// processes it starts inherit the job).
struct Group {
    #[cfg(unix)]
    pid: u32,
    #[cfg(windows)]
    job: cordon_winsec::Job,
}

impl Group {
    /// Starts `cmd` as the first member of a new group.
    fn spawn(cmd: &mut Command) -> std::io::Result<(Self, std::process::Child)> {
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
            let child = cmd.spawn()?;
            Ok((Group { pid: child.id() }, child))
        }
        #[cfg(windows)]
        {
            // No job, no run: a child that could not be contained could leave processes behind.
            let job = cordon_winsec::Job::new()?;
            let child = job.spawn(cmd)?;
            Ok((Group { job }, child))
        }
        #[cfg(not(any(unix, windows)))]
        {
            let child = cmd.spawn()?;
            Ok((Group {}, child))
        }
    }

    /// Ends every process of the group.
    fn kill(&self) {
        #[cfg(unix)]
        signal_group(self.pid, nix::sys::signal::Signal::SIGKILL);
        #[cfg(windows)]
        self.job.terminate();
    }

    /// Ends the group, letting `child` clean up first: SIGTERM to the group, up to
    /// [`STOP_GRACE`] for the child to exit, then SIGKILL to whatever is left. (Windows has no
    /// such request: the job is terminated at once.)
    fn stop(&self, child: &mut std::process::Child) {
        #[cfg(unix)]
        {
            signal_group(self.pid, nix::sys::signal::Signal::SIGTERM);
            let end = Instant::now() + STOP_GRACE;
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < end {
                thread::sleep(Duration::from_millis(5));
            }
        }
        self.kill();
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Run `spec` to completion or until its time limit, then kill its whole process group.
/// Any background processes left in the group after the child exits are killed too, so a
/// tool call never leaves anything running behind it.
pub(crate) fn run(spec: Spec<'_>) -> std::io::Result<Finished> {
    let mut cmd = Command::new(spec.program);
    cmd.args(&spec.args)
        .current_dir(spec.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(base) = spec.base_env {
        cmd.env_clear();
        cmd.envs(base.iter().map(|(k, v)| (k, v)));
    }
    for key in spec.env_remove {
        cmd.env_remove(key);
    }
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    let (group, mut child) = Group::spawn(&mut cmd)?;
    let out = child.stdout.take().map(|s| reader(s, spec.cap));
    let err = child.stderr.take().map(|s| reader(s, spec.cap));

    let deadline = Instant::now() + spec.timeout;
    let mut step = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) => {}
            Err(e) => {
                group.kill();
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        }
        if spec.stop.is_some_and(|stop| stop()) {
            group.stop(&mut child);
            return Err(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "stopped: the agent cancelled the call",
            ));
        }
        let now = Instant::now();
        if now >= deadline {
            group.stop(&mut child);
            break None;
        }
        thread::sleep(step.min(deadline - now));
        step = (step * 2).min(Duration::from_millis(20));
    };
    // Leftover background members of the group would keep the pipes open: end them.
    group.kill();

    let grace_end = Instant::now() + PIPE_GRACE;
    let collect = |r: Option<(Shared, mpsc::Receiver<()>)>| -> Captured {
        match r {
            Some((shared, rx)) => {
                let left = grace_end.saturating_duration_since(Instant::now());
                let _ = rx.recv_timeout(left);
                take(&shared)
            }
            None => Captured::default(),
        }
    };
    let stdout = collect(out);
    let stderr = collect(err);

    #[cfg(unix)]
    let signal = {
        use std::os::unix::process::ExitStatusExt;
        status.and_then(|s| s.signal())
    };
    #[cfg(not(unix))]
    let signal = None;

    Ok(Finished {
        code: status.and_then(|s| s.code()),
        signal,
        timed_out: status.is_none(),
        stdout,
        stderr,
    })
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A stopped run kills the child's whole group at once (not at its time limit) and says so.
    #[test]
    fn a_stop_ends_the_group_long_before_the_time_limit() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let stop = AtomicBool::new(false);
        let script = format!("sleep 300 & echo $! > {}; wait", pid_file.display());
        let result = thread::scope(|scope| {
            scope.spawn(|| {
                while !pid_file.exists() {
                    thread::sleep(Duration::from_millis(5));
                }
                stop.store(true, Ordering::Release);
            });
            let check = || stop.load(Ordering::Acquire);
            run(Spec {
                program: "sh".as_ref(),
                args: vec!["-c".into(), script.into()],
                cwd: dir.path(),
                env: Vec::new(),
                env_remove: &[],
                base_env: None,
                timeout: Duration::from_secs(300),
                cap: 1024,
                stop: Some(&check),
            })
        });
        let error = result.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::Interrupted, "{error}");
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The background member of the group is gone too (killed, then reaped by init; /proc
        // is why this test is Linux's).
        let mut gone = false;
        for _ in 0..200 {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if state.is_empty() || state.contains(") Z ") {
                gone = true;
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        assert!(gone, "the group's background sleep survived the stop");
    }

    fn spec<'a>(dir: &'a Path, script: &str, timeout: Duration) -> Spec<'a> {
        Spec {
            program: "sh".as_ref(),
            args: vec!["-c".into(), script.into()],
            cwd: dir,
            env: Vec::new(),
            env_remove: &[],
            base_env: None,
            timeout,
            cap: 1024,
            stop: None,
        }
    }

    /// A child past its time limit is asked to stop first (SIGTERM), so it can clean up as git
    /// removes its lock files; then the run ends as timed out.
    #[test]
    fn a_timed_out_child_gets_sigterm_and_may_clean_up() {
        let dir = tempfile::tempdir().unwrap();
        let cleaned = dir.path().join("cleaned");
        let script = format!(
            "trap 'touch {}; exit 1' TERM; while :; do sleep 0.05; done",
            cleaned.display()
        );
        let finished = run(spec(dir.path(), &script, Duration::from_millis(300))).unwrap();
        assert!(finished.timed_out);
        assert!(
            cleaned.exists(),
            "the child was killed without SIGTERM first"
        );
    }

    /// A child that ignores SIGTERM is killed once the grace period ends: asking first never
    /// lets a call outlive its limit by more than [`STOP_GRACE`].
    #[test]
    fn a_child_that_ignores_sigterm_is_killed_after_the_grace() {
        let dir = tempfile::tempdir().unwrap();
        let began = Instant::now();
        let script = "trap '' TERM; while :; do sleep 0.05; done";
        let finished = run(spec(dir.path(), script, Duration::from_millis(200))).unwrap();
        assert!(finished.timed_out);
        let took = began.elapsed();
        assert!(
            took >= STOP_GRACE && took < STOP_GRACE + Duration::from_secs(10),
            "took {took:?}"
        );
    }
}
