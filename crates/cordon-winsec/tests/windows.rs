//! The Win32 parts on Windows itself (here: under Wine, run by tests/windows/run): a directory
//! and a file made private read back as keeping other users out; a kill-on-close job ends a
//! whole process tree.
#![cfg(windows)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;
use std::process::{Command, Stdio};

use cordon_winsec::{Job, current_user_sid, make_path_private, path_sddl, private_to};

/// A directory and a file made private read back as keeping everyone else out: no Everyone,
/// Users or other account in the DACL (under Wine the DACL becomes the Unix mode, 0700/0600,
/// and reads back with SYSTEM added). Inheritance into files created later is the Windows
/// kernel's part, which Wine does not model: key files are made private explicitly.
#[test]
fn a_private_directory_and_file_keep_everyone_else_out() {
    let me = current_user_sid().unwrap();
    let dir = std::env::temp_dir().join(format!("cordon-winsec-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    let before = path_sddl(&dir).unwrap();
    make_path_private(&dir).unwrap();
    let sddl = path_sddl(&dir).unwrap();
    assert!(
        private_to(&sddl, &me),
        "directory: {sddl} (before: {before})"
    );
    assert!(sddl.contains(&me), "the user lost access: {sddl}");

    let file = dir.join("key");
    std::fs::write(&file, b"secret").unwrap();
    make_path_private(&file).unwrap();
    let sddl = path_sddl(&file).unwrap();
    assert!(private_to(&sddl, &me), "file: {sddl}");
    assert_eq!(std::fs::read(&file).unwrap(), b"secret");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_path_is_an_error_not_a_pass() {
    let missing = std::env::temp_dir().join("cordon-winsec-missing\\nothing");
    assert!(make_path_private(&missing).is_err());
    assert!(path_sddl(&missing).is_err());
}

/// A tree of two processes: `cmd` that waits for a line on stdin (so the test can put it in the
/// job first), then starts a second `cmd` counting to 100000 on the shared stdout pipe. Stopped
/// early, the count never reaches the end; if only the first `cmd` were killed, the second would
/// keep counting to 100000 and the pipe would stay open until then.
fn counting_tree(job: &Job) -> (std::process::Child, std::process::ChildStdout) {
    use std::io::Write;
    use std::os::windows::process::CommandExt;
    let mut child = Command::new("cmd")
        .raw_arg("/c set /p go= & cmd /c for /l %i in (1,1,100000) do @echo %i")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    job.assign(&child).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"go\r\n").unwrap();
    drop(stdin);
    let mut out = child.stdout.take().unwrap();
    // The grandchild is counting (so it exists, started after the assignment: in the job).
    let mut first = [0u8; 1];
    out.read_exact(&mut first).unwrap();
    (child, out)
}

/// Reads what is left once the tree is gone (end of file comes only when every process holding
/// the pipe's write end has exited) and checks the count was cut short.
fn assert_cut_short(mut out: std::process::ChildStdout, child: &mut std::process::Child) {
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(
        !rest.lines().any(|line| line.trim() == "100000"),
        "the grandchild ran to the end: the job did not end the tree"
    );
    // Closing a kill-on-close job may end its processes with exit code 0: the count cut short
    // is the proof, not the status.
    let _ = child.wait().unwrap();
}

#[test]
fn terminating_the_job_ends_the_whole_tree() {
    let job = Job::new().unwrap();
    let (mut child, out) = counting_tree(&job);
    job.terminate();
    assert_cut_short(out, &mut child);
    // Terminated with the job's exit code, 1.
    assert_eq!(child.wait().unwrap().code(), Some(1));
}

#[test]
fn dropping_the_job_ends_the_tree_too() {
    let job = Job::new().unwrap();
    let (mut child, out) = counting_tree(&job);
    drop(job);
    assert_cut_short(out, &mut child);
}
