//! Whether the log's files are still where readers look for them.
//!
//! SQLite writes through the descriptors it opened: if any process of the user (the agent runs as
//! the same one) removes, moves or replaces `evidence.db` or its write-ahead log while the engine
//! runs, every later record lands in a file that `cordon log`, exports and the next engine start
//! never read, and is lost with it. A call recorded there would run with no evidence anyone can
//! see. So the log remembers which files it opened (device and inode) and checks before every
//! use of its connection that its path still names them; if not, every use fails (so every call is
//! refused) until the same files are back in place.
//!
//! Unix only: Windows does not let another process delete or rename a file SQLite holds open (it
//! opens without `FILE_SHARE_DELETE`), so there is nothing to check there.

use std::path::{Path, PathBuf};

use crate::EvidenceError;

/// The files a file log opened, by identity.
#[derive(Debug, Default)]
pub(crate) struct Placement {
    #[cfg(unix)]
    files: Vec<(PathBuf, (u64, u64))>,
}

impl Placement {
    /// Remembers the database at `database` and its write-ahead log (`-wal`), as they are now:
    /// call it once the connection has opened both (WAL mode creates the log at the first read).
    /// A write-ahead log not there yet is left unchecked rather than refused: SQLite creates it
    /// when it needs it.
    pub(crate) fn of(database: &Path) -> Result<Placement, EvidenceError> {
        #[cfg(unix)]
        {
            let mut files = Vec::new();
            for path in [database.to_path_buf(), with_suffix(database, "-wal")] {
                match identity(&path) {
                    Ok(id) => files.push((path, id)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && path != database => {}
                    Err(e) => return Err(EvidenceError::io(&path, e)),
                }
            }
            Ok(Placement { files })
        }
        #[cfg(not(unix))]
        {
            let _ = database;
            Ok(Placement::default())
        }
    }

    /// Fails with [`EvidenceError::Displaced`] when a remembered path no longer names the file
    /// that was opened there (removed, moved away, or replaced by another file).
    pub(crate) fn check(&self) -> Result<(), EvidenceError> {
        #[cfg(unix)]
        for (path, opened) in &self.files {
            let how = match identity(path) {
                Ok(id) if id == *opened => continue,
                Ok(_) => "replaced by another file",
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => "removed or moved away",
                Err(e) => return Err(EvidenceError::io(path, e)),
            };
            return Err(EvidenceError::Displaced {
                path: path.clone(),
                how,
            });
        }
        Ok(())
    }

    /// Fails with [`EvidenceError::Displaced`] when `file`, just opened at `path`, is not the
    /// file remembered there: checked on the open file itself, so no swap of the path between
    /// the open and the check can hide.
    pub(crate) fn check_opened(
        &self,
        path: &Path,
        file: &std::fs::File,
    ) -> Result<(), EvidenceError> {
        #[cfg(unix)]
        if let Some((_, opened)) = self.files.iter().find(|(p, _)| p == path) {
            let id = identity_of(file).map_err(|e| EvidenceError::io(path, e))?;
            if id != *opened {
                return Err(EvidenceError::Displaced {
                    path: path.to_path_buf(),
                    how: "replaced by another file",
                });
            }
        }
        #[cfg(not(unix))]
        let _ = (path, file);
        Ok(())
    }
}

/// `path` with `suffix` appended to its file name (SQLite's `-wal`, `-shm`).
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The device and inode `path` names now (following symbolic links, as SQLite's open did).
///
/// On Linux only the inode number is asked for (`statx`), never the times: a file whose change
/// time was read gets a fine-grained time stamp at its next write (multigrain time stamps,
/// Linux 6.13+), and its inode must then be written out by the write-ahead log's `fdatasync` (a
/// second disk write for every intent, measured at +0.03 to +0.07 ms on ext4).
#[cfg(unix)]
fn identity(path: &Path) -> std::io::Result<(u64, u64)> {
    #[cfg(target_os = "linux")]
    if let Some(id) = statx_identity(rustix::fs::CWD, path, rustix::fs::AtFlags::empty())? {
        return Ok(id);
    }
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)?;
    Ok((meta.dev(), meta.ino()))
}

/// The device and inode of an open file (as [`identity`]: no times asked for).
#[cfg(unix)]
fn identity_of(file: &std::fs::File) -> std::io::Result<(u64, u64)> {
    #[cfg(target_os = "linux")]
    if let Some(id) = statx_identity(file, "", rustix::fs::AtFlags::EMPTY_PATH)? {
        return Ok(id);
    }
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata()?;
    Ok((meta.dev(), meta.ino()))
}

/// `statx` asking for the inode number alone (the device always comes with it); None where the
/// kernel has no `statx` (before 4.11), so the caller falls back to a full `stat`. The device is
/// composed as `stat`'s `st_dev` is, so both ways give the same identity.
#[cfg(target_os = "linux")]
fn statx_identity(
    dir: impl rustix::fd::AsFd,
    path: impl rustix::path::Arg,
    flags: rustix::fs::AtFlags,
) -> std::io::Result<Option<(u64, u64)>> {
    match rustix::fs::statx(dir, path, flags, rustix::fs::StatxFlags::INO) {
        Ok(st) => Ok(Some((
            rustix::fs::makedev(st.stx_dev_major, st.stx_dev_minor),
            st.stx_ino,
        ))),
        Err(rustix::io::Errno::NOSYS) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn files(dir: &Path) -> PathBuf {
        let db = dir.join("e.db");
        std::fs::write(&db, b"db").unwrap();
        std::fs::write(with_suffix(&db, "-wal"), b"wal").unwrap();
        db
    }

    #[test]
    fn files_left_in_place_pass_and_written_ones_too() {
        let dir = tempfile::tempdir().unwrap();
        let db = files(dir.path());
        let placed = Placement::of(&db).unwrap();
        std::fs::write(with_suffix(&db, "-wal"), b"more").unwrap();
        placed.check().unwrap();
    }

    /// Differential: the identity read without times (`statx` on Linux) is the one a full
    /// `stat` gives, by path and by open file, so a check never mistakes the same file for
    /// another.
    #[test]
    fn the_identity_is_the_one_stat_gives() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let db = files(dir.path());
        for path in [
            db.clone(),
            with_suffix(&db, "-wal"),
            dir.path().to_path_buf(),
        ] {
            let meta = std::fs::metadata(&path).unwrap();
            assert_eq!(identity(&path).unwrap(), (meta.dev(), meta.ino()));
            let file = std::fs::File::open(&path).unwrap();
            assert_eq!(identity_of(&file).unwrap(), (meta.dev(), meta.ino()));
        }
        let missing = identity(&dir.path().join("missing")).unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    }

    /// The file a flush opened is judged by what it is, not by what its path names later.
    #[test]
    fn an_opened_file_is_checked_by_identity() {
        let dir = tempfile::tempdir().unwrap();
        let db = files(dir.path());
        let wal = with_suffix(&db, "-wal");
        let placed = Placement::of(&db).unwrap();
        let original = std::fs::File::open(&wal).unwrap();
        placed.check_opened(&wal, &original).unwrap();
        std::fs::rename(&wal, dir.path().join("moved")).unwrap();
        std::fs::write(&wal, b"impostor").unwrap();
        let impostor = std::fs::File::open(&wal).unwrap();
        let refused = placed.check_opened(&wal, &impostor).unwrap_err();
        assert!(
            matches!(refused, EvidenceError::Displaced { .. }),
            "{refused}"
        );
        // The original, still open, is still the file remembered.
        placed.check_opened(&wal, &original).unwrap();
    }

    #[test]
    fn a_removed_moved_or_replaced_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let db = files(dir.path());
        let wal = with_suffix(&db, "-wal");
        let placed = Placement::of(&db).unwrap();

        std::fs::rename(&wal, dir.path().join("aside")).unwrap();
        let err = placed.check().unwrap_err().to_string();
        assert!(
            err.contains("e.db-wal") && err.contains("removed or moved"),
            "{err}"
        );

        std::fs::rename(dir.path().join("aside"), &wal).unwrap();
        placed.check().unwrap();

        let copy = dir.path().join("copy");
        std::fs::copy(&db, &copy).unwrap();
        std::fs::rename(&copy, &db).unwrap();
        let err = placed.check().unwrap_err().to_string();
        assert!(err.contains("e.db ") && err.contains("replaced"), "{err}");
    }

    #[test]
    fn a_write_ahead_log_not_there_yet_is_not_checked_but_a_missing_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("e.db");
        assert!(Placement::of(&db).is_err());
        std::fs::write(&db, b"db").unwrap();
        let placed = Placement::of(&db).unwrap();
        std::fs::write(with_suffix(&db, "-wal"), b"wal").unwrap();
        placed.check().unwrap();
    }

    #[test]
    fn a_log_refuses_appends_while_its_files_are_away_and_takes_them_once_back() {
        use crate::{EvidenceLog, KeyStore, NewRecord, Outcome};
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("fresh.db");
        let log = EvidenceLog::open(&db, KeyStore::File(dir.path().join("k"))).unwrap();
        let record = || NewRecord {
            agent: "a".into(),
            session_id: "s".into(),
            action: "job.mcp-bridge.read.file".into(),
            decision: "allow".into(),
            outcome: Outcome::Allowed,
            ..NewRecord::default()
        };
        log.append(record()).unwrap();
        let before = log.count().unwrap();
        // A fresh log's write-ahead log is known from the start, as well as its database.
        for suffix in ["-wal", ""] {
            let file = with_suffix(&db, suffix);
            std::fs::rename(&file, dir.path().join("aside")).unwrap();
            let err = log.append(record()).unwrap_err();
            assert!(
                matches!(err, EvidenceError::Displaced { .. }),
                "{suffix}: {err}"
            );
            assert!(log.count().is_err(), "{suffix}: a read of a displaced log");
            std::fs::rename(dir.path().join("aside"), &file).unwrap();
            log.append(record()).unwrap();
        }
        assert_eq!(log.count().unwrap(), before + 2);
        assert!(log.verify().unwrap().ok);
    }
}
