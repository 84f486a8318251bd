//! Opening a file an agent names, for reading: a regular file only, and never a wait.
//!
//! The built-in tools and the reviewer's diff check a path (inside the workspace, a regular file,
//! not too large) and read it later. Between the two, any process of the user can put something
//! else at that path: a FIFO (whose `open` blocks until a writer comes, forever holding the
//! blocking thread that opened it: enough of them and the engine's blocking pool is gone), a
//! symbolic link to a device such as `/dev/zero` (a read that never ends), or a link (in place of
//! the file or of a directory on its way) to a file outside the workspace. So the check is made
//! again on what was actually opened: the open never blocks, follows no symbolic link (callers
//! pass resolved paths, which hold none unless one was swapped in), and the opened file's own
//! metadata must say "regular file". Callers still bound what they read.

use std::fs::File;
use std::path::Path;

#[cfg(unix)]
use crate::dir::Dir;
use crate::dir::is_link_refusal;

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
/// `path` must be free of symbolic links (resolved, as the workspace's paths are): one found in it
/// now was swapped in, and is refused (see [`open_without_links`]).
pub fn open_regular(path: &Path) -> Result<(File, u64), RegularError> {
    let file = open_without_links(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => RegularError::NotFound,
        _ if is_link_refusal(&e) => RegularError::NotRegular,
        _ => RegularError::Io(e),
    })?;
    let meta = file.metadata().map_err(RegularError::Io)?;
    if !meta.is_file() {
        return Err(RegularError::NotRegular);
    }
    Ok((file, meta.len()))
}

/// Opens for reading without waiting (`O_NONBLOCK`: a FIFO opens at once) and without following
/// a symbolic link anywhere in the path, so a directory swapped for a link to elsewhere is refused
/// too: on Linux in one call (`openat2` with `RESOLVE_NO_SYMLINKS`); where that call is missing
/// (kernels before 5.6, sandboxes that filter it) and on other systems, by walking the path one
/// directory at a time (see `dir.rs`).
#[cfg(unix)]
fn open_without_links(path: &Path) -> std::io::Result<File> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::fs::{CWD, Mode, OFlags, ResolveFlags, openat2};
        let flags =
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::NOCTTY | OFlags::CLOEXEC;
        let resolve = ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        match openat2(CWD, path, flags, Mode::empty(), resolve) {
            Ok(fd) => return Ok(File::from(fd)),
            Err(rustix::io::Errno::NOSYS | rustix::io::Errno::PERM) => {}
            Err(errno) => return Err(errno.into()),
        }
    }
    open_walking(path)
}

/// The portable way: the parent reached one directory at a time without following a link, then
/// the file opened in it (`O_NOFOLLOW`, `O_NONBLOCK`).
#[cfg(unix)]
fn open_walking(path: &Path) -> std::io::Result<File> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is not a file path", path.display()),
        ));
    };
    Dir::open_existing_without_links(parent)?.open_read(name)
}

/// Windows: no FIFOs at workspace paths, and creating a link needs a privilege.
#[cfg(not(unix))]
fn open_without_links(path: &Path) -> std::io::Result<File> {
    File::open(path)
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use std::io::Read;

    use super::*;

    #[test]
    fn a_regular_file_opens_with_its_length() {
        let dir = tempfile::tempdir().unwrap();
        // Resolved, as callers' paths are (a temp directory may sit behind a link).
        let root = dir.path().canonicalize().unwrap();
        let path = root.join("f");
        std::fs::write(&path, b"hello").unwrap();
        let (mut file, len) = open_regular(&path).unwrap();
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        assert_eq!((text.as_str(), len), ("hello", 5));
    }

    #[test]
    fn a_fifo_a_device_a_link_and_a_directory_are_refused_without_waiting() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let dir = root.as_path();
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let link = dir.join("zero");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let target = dir.join("t");
        std::fs::write(&target, b"x").unwrap();
        let link_to_file = dir.join("l");
        std::os::unix::fs::symlink(&target, &link_to_file).unwrap();
        // A blocking open of the FIFO would hang this test (no writer ever comes).
        for path in [&fifo, Path::new("/dev/zero"), &link, &link_to_file, dir] {
            match open_regular(path) {
                Err(RegularError::NotRegular) => {}
                other => panic!("{}: {other:?}", path.display()),
            }
        }
        // A directory on the way replaced by a link to elsewhere (Linux: refused anywhere in
        // the path; elsewhere only the last component is checked).
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let real = dir.join("real");
            std::fs::create_dir(&real).unwrap();
            std::fs::write(real.join("secret"), b"s").unwrap();
            let via = dir.join("via");
            std::os::unix::fs::symlink(&real, &via).unwrap();
            assert!(matches!(
                open_regular(&via.join("secret")),
                Err(RegularError::NotRegular)
            ));
            open_regular(&real.join("secret")).unwrap();
        }
        assert!(matches!(
            open_regular(&dir.join("none")),
            Err(RegularError::NotFound)
        ));
    }

    #[test]
    fn the_portable_walk_refuses_a_link_anywhere_in_the_path() {
        // What macOS, old kernels and filtering sandboxes use instead of `openat2`.
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("f"), "outside").unwrap();
        std::fs::create_dir(root.join("real")).unwrap();
        std::fs::write(root.join("real/f"), "inside").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("sub")).unwrap();
        std::os::unix::fs::symlink(root.join("real/f"), root.join("real/link")).unwrap();
        let mut text = String::new();
        open_walking(&root.join("real/f"))
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "inside");
        for path in [root.join("sub/f"), root.join("real/link")] {
            let error = open_walking(&path).unwrap_err();
            assert!(is_link_refusal(&error), "{}: {error}", path.display());
        }
        assert!(open_walking(&root.join("real/missing")).is_err());
    }
}
