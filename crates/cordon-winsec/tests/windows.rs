//! The Win32 parts on Windows itself (here: under Wine, run by tests/windows/run): a directory
//! made private reads back as admitting the current user only, and so does a file created in it
//! afterwards (inheritance); a kill-on-close job ends a whole process tree.
#![cfg(windows)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;
use std::process::{Command, Stdio};

use cordon_winsec::{Job, admits_only, current_user_sid, make_path_private, path_sddl};

#[test]
fn a_private_directory_and_what_is_created_in_it_admit_only_the_user() {
    let me = current_user_sid().unwrap();
    let dir = std::env::temp_dir().join(format!("cordon-winsec-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    make_path_private(&dir).unwrap();
    let sddl = path_sddl(&dir).unwrap();
    assert!(admits_only(&sddl, &me), "directory: {sddl}");

    let file = dir.join("key");
    std::fs::write(&file, b"secret").unwrap();
    let sddl = path_sddl(&file).unwrap();
    assert!(admits_only(&sddl, &me), "file created inside: {sddl}");
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
    assert!(!child.wait().unwrap().success());
}

#[test]
fn terminating_the_job_ends_the_whole_tree() {
    let job = Job::new().unwrap();
    let (mut child, out) = counting_tree(&job);
    job.terminate();
    assert_cut_short(out, &mut child);
}

#[test]
fn dropping_the_job_ends_the_tree_too() {
    let job = Job::new().unwrap();
    let (mut child, out) = counting_tree(&job);
    drop(job);
    assert_cut_short(out, &mut child);
}
