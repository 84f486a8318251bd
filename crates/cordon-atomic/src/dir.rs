//! The directory a replacement happens in, held open for the whole replacement (unix).
//!
//! Every step after opening it (the temp file, the old file's mode, the rename, the removal of a
//! failed temp file, the directory's fsync) names an entry of this one open directory, never a
//! path again. So whatever happens to the path meanwhile (a directory on the way renamed, or
//! swapped for a symbolic link to elsewhere by another process of the user), the bytes land in the
//! directory that was opened: with [`Links::Refuse`], one reached without following any link.
//!
//! Elsewhere (Windows) the steps use paths; see `imp` at the bottom.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// How the directories on the way to a file are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Links {
    /// Symbolic links are followed: a configuration file may live behind the user's own links
    /// (a dotfiles repository).
    Follow,
    /// No symbolic link is followed anywhere on the way, and missing directories are created the
    /// same way. For resolved paths an agent named: a link found there now was swapped in after
    /// the path was checked, and the operation is refused (see [`is_link_refusal`]).
    Refuse,
}

/// An open directory and its path (the path for messages and the test hook only).
pub(crate) struct Dir {
    path: PathBuf,
    #[cfg(unix)]
    fd: std::os::fd::OwnedFd,
}

impl Dir {
    /// The directory's path as given, for messages.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// Whether `error` says a symbolic link (or another non-directory) stood where a directory was
/// checked: the refusal of [`Links::Refuse`], and of [`crate::open_regular`].
pub(crate) fn is_link_refusal(error: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        use rustix::io::Errno;
        let raw = error.raw_os_error();
        raw == Some(Errno::LOOP.raw_os_error()) || raw == Some(Errno::NOTDIR.raw_os_error())
    }
    #[cfg(not(unix))]
    {
        let _ = error;
        false
    }
}

#[cfg(unix)]
mod imp {
    use std::ffi::OsStr;
    use std::fs::File;
    use std::os::fd::OwnedFd;
    use std::path::{Component, Path};

    use rustix::fs::{AtFlags, FileType, Mode, OFlags};

    use super::{Dir, Links};

    const DIR_FLAGS: OFlags = OFlags::RDONLY
        .union(OFlags::DIRECTORY)
        .union(OFlags::CLOEXEC)
        .union(OFlags::NOCTTY);

    impl Dir {
        /// Opens `path` as directed by `links`.
        pub(crate) fn open(path: &Path, links: Links) -> std::io::Result<Dir> {
            let fd = match links {
                Links::Follow => rustix::fs::open(path, DIR_FLAGS, Mode::empty())?,
                Links::Refuse => open_without_links(path, true)?,
            };
            Ok(Dir {
                path: path.to_owned(),
                fd,
            })
        }

        /// Opens `path` without following any link and without creating anything.
        pub(crate) fn open_existing_without_links(path: &Path) -> std::io::Result<Dir> {
            Ok(Dir {
                path: path.to_owned(),
                fd: open_without_links(path, false)?,
            })
        }

        /// Creates `name` here, new (never an existing entry, never through a link), for writing.
        /// `private`: mode 0600 from the first byte; else the umask's default.
        pub(crate) fn create_new(&self, name: &OsStr, private: bool) -> std::io::Result<File> {
            let flags = OFlags::WRONLY
                | OFlags::CREATE
                | OFlags::EXCL
                | OFlags::NOFOLLOW
                | OFlags::CLOEXEC
                | OFlags::NOCTTY;
            let mode = Mode::from_raw_mode(if private { 0o600 } else { 0o666 });
            Ok(File::from(rustix::fs::openat(&self.fd, name, flags, mode)?))
        }

        /// Opens `name` here for reading, never through a link and never waiting (a FIFO opens at
        /// once); the caller checks what it opened.
        pub(crate) fn open_read(&self, name: &OsStr) -> std::io::Result<File> {
            let flags = OFlags::RDONLY
                | OFlags::NONBLOCK
                | OFlags::NOFOLLOW
                | OFlags::CLOEXEC
                | OFlags::NOCTTY;
            Ok(File::from(rustix::fs::openat(
                &self.fd,
                name,
                flags,
                Mode::empty(),
            )?))
        }

        /// The permission bits of the regular file `name` here, if there is one (through a link
        /// only when links are followed).
        pub(crate) fn mode_of(&self, name: &OsStr, links: Links) -> Option<u32> {
            let flags = match links {
                Links::Follow => AtFlags::empty(),
                Links::Refuse => AtFlags::SYMLINK_NOFOLLOW,
            };
            let stat = rustix::fs::statat(&self.fd, name, flags).ok()?;
            // `st_mode` is 32 bits on Linux, 16 on macOS.
            #[allow(clippy::useless_conversion)]
            let mode = u32::from(stat.st_mode);
            (FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile)
                .then_some(mode & 0o7777)
        }

        /// Renames `from` over `to`, both here.
        pub(crate) fn rename(&self, from: &OsStr, to: &OsStr) -> std::io::Result<()> {
            Ok(rustix::fs::renameat(&self.fd, from, &self.fd, to)?)
        }

        /// Removes the file `name` here.
        pub(crate) fn remove(&self, name: &OsStr) -> std::io::Result<()> {
            Ok(rustix::fs::unlinkat(&self.fd, name, AtFlags::empty())?)
        }

        /// Makes the directory's entries durable (a rename survives a power loss).
        pub(crate) fn sync(&self) -> std::io::Result<()> {
            Ok(rustix::fs::fsync(&self.fd)?)
        }
    }

    /// Walks an absolute `path` from the root one directory at a time, following no symbolic
    /// link (`O_NOFOLLOW` on each step: a link fails with `ELOOP` or `ENOTDIR`), creating missing
    /// directories when `create` (mode 0777 less the umask, as `create_dir_all` does). Portable
    /// across unix systems, unlike `openat2`, and it can create as it goes.
    fn open_without_links(path: &Path, create: bool) -> std::io::Result<OwnedFd> {
        let not_resolved = || {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{} is not a resolved absolute path", path.display()),
            )
        };
        if !path.is_absolute() {
            return Err(not_resolved());
        }
        let step = DIR_FLAGS | OFlags::NOFOLLOW;
        let mut dir = rustix::fs::open("/", DIR_FLAGS, Mode::empty())?;
        for component in path.components() {
            let name = match component {
                Component::RootDir => continue,
                Component::Normal(name) => name,
                Component::CurDir | Component::ParentDir | Component::Prefix(_) => {
                    return Err(not_resolved());
                }
            };
            dir = match rustix::fs::openat(&dir, name, step, Mode::empty()) {
                Ok(next) => next,
                Err(rustix::io::Errno::NOENT) if create => {
                    match rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(0o777)) {
                        // EEXIST: created meanwhile by someone else; the open below checks it.
                        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                    rustix::fs::openat(&dir, name, step, Mode::empty())?
                }
                Err(e) => return Err(e.into()),
            };
        }
        Ok(dir)
    }
}

#[cfg(not(unix))]
mod imp {
    //! Paths, step by step: Windows holds no directory open for `*at` calls here. Creating a
    //! symbolic link there needs a privilege or developer mode, but a junction does not: the
    //! directory-swap race this module closes on unix stays open on Windows (noted in
    //! ARCHITECTURE.md).
    use std::ffi::OsStr;
    use std::fs::File;
    use std::path::Path;

    use super::{Dir, Links};

    impl Dir {
        pub(crate) fn open(path: &Path, links: Links) -> std::io::Result<Dir> {
            if links == Links::Refuse {
                std::fs::create_dir_all(path)?;
            }
            if !std::fs::metadata(path)?.is_dir() {
                return Err(std::io::Error::other(format!(
                    "{} is not a directory",
                    path.display()
                )));
            }
            Ok(Dir {
                path: path.to_owned(),
            })
        }

        pub(crate) fn create_new(&self, name: &OsStr, _private: bool) -> std::io::Result<File> {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(self.path.join(name))
        }

        /// On Windows the "mode" kept is the read-only flag: 0o444 when set, 0o666 when not.
        pub(crate) fn mode_of(&self, name: &OsStr, _links: Links) -> Option<u32> {
            let meta = std::fs::metadata(self.path.join(name)).ok()?;
            meta.is_file().then(|| {
                if meta.permissions().readonly() {
                    0o444
                } else {
                    0o666
                }
            })
        }

        pub(crate) fn rename(&self, from: &OsStr, to: &OsStr) -> std::io::Result<()> {
            std::fs::rename(self.path.join(from), self.path.join(to))
        }

        pub(crate) fn remove(&self, name: &OsStr) -> std::io::Result<()> {
            std::fs::remove_file(self.path.join(name))
        }

        pub(crate) fn sync(&self) -> std::io::Result<()> {
            Ok(())
        }
    }
}

/// The path of entry `name` of `dir`, for messages.
pub(crate) fn entry(dir: &Dir, name: &OsStr) -> PathBuf {
    dir.path().join(name)
}
