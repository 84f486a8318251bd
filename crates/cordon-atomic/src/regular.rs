//! Opening a file an agent names, for reading: a regular file only, and never a wait.
//!
//! The built-in tools and the reviewer's diff check a path (inside the workspace, a regular file,
//! not too large) and read it later. Between the two, any process of the user can put something
//! else at that path: a FIFO (whose `open` blocks until a writer comes, forever holding the
//! blocking thread that opened it: enough of them and the engine's blocking pool is gone), a
//! symbolic link to a device such as `/dev/zero` (a read that never ends) or to a file outside
//! the workspace. So the check is made again on what was actually opened: the open never blocks
//! (`O_NONBLOCK`), does not follow a symbolic link in the last component (`O_NOFOLLOW`: callers
//! pass paths already resolved, whose last component is no link unless one was swapped in), and
//! the opened file's own metadata must say "regular file". Callers still bound what they read.

use std::fs::File;
use std::path::Path;

/// Why a path could not be opened as a regular file.
#[derive(Debug, thiserror::Error)]
pub enum RegularError {
    /// Nothing is at the path.
    #[error("no such file")]
    NotFound,
    /// A directory, FIFO, socket, device or symbolic link is at the path.
    #[error("not a regular file (a directory, FIFO, socket, device or symbolic link)")]
    NotRegular,
    /// Opening or inspecting the file failed.
    #[error("{0}")]
    Io(#[source] std::io::Error),
}

/// Opens `path` for reading if, as opened, it is a regular file; returns it with its length.
pub fn open_regular(path: &Path) -> Result<(File, u64), RegularError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY);
    }
    let file = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => RegularError::NotFound,
        // ELOOP: the last component is a symbolic link (O_NOFOLLOW).
        _ if is_link_refusal(&e) => RegularError::NotRegular,
        _ => RegularError::Io(e),
    })?;
    let meta = file.metadata().map_err(RegularError::Io)?;
    if !meta.is_file() {
        return Err(RegularError::NotRegular);
    }
    Ok((file, meta.len()))
}

#[cfg(unix)]
fn is_link_refusal(error: &std::io::Error) -> bool {
    error.raw_os_error() == Some(libc::ELOOP)
}

#[cfg(not(unix))]
fn is_link_refusal(_error: &std::io::Error) -> bool {
    false
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use std::io::Read;

    use super::*;

    #[test]
    fn a_regular_file_opens_with_its_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello").unwrap();
        let (mut file, len) = open_regular(&path).unwrap();
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        assert_eq!((text.as_str(), len), ("hello", 5));
    }

    #[test]
    fn a_fifo_a_device_a_link_and_a_directory_are_refused_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let link = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let target = dir.path().join("t");
        std::fs::write(&target, b"x").unwrap();
        let link_to_file = dir.path().join("l");
        std::os::unix::fs::symlink(&target, &link_to_file).unwrap();
        // A blocking open of the FIFO would hang this test (no writer ever comes).
        for path in [
            &fifo,
            Path::new("/dev/zero"),
            &link,
            &link_to_file,
            dir.path(),
        ] {
            match open_regular(path) {
                Err(RegularError::NotRegular) => {}
                other => panic!("{}: {other:?}", path.display()),
            }
        }
        assert!(matches!(
            open_regular(&dir.path().join("none")),
            Err(RegularError::NotFound)
        ));
    }
}
