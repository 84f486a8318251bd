//! Atomic file replacement, and opening a file an agent names without waiting on it or following a
//! link swapped in ([`open_regular`], see `regular.rs`).
//!
//! Atomic replacement: a reader (the engine, an editor, an agent, the settings watcher) sees
//! the old bytes or the new bytes, never a torn file, and a failure anywhere leaves the old file
//! in place and no temp file behind.
//!
//! Why a crate of its own: the settings window (`cordon-admin`), the built-in file tools
//! (`cordon-tools`), agent onboarding (`cordon-agents`) and the tool pins (`cordon-secrets`) all
//! replace files, and none of them may depend on another (ARCHITECTURE.md's arrows). They used to
//! carry four copies with different details: one had no fsync and a fixed temp name (two writers
//! clobbered each other's temp file), one reused its temp name within a process, one ignored a
//! failed directory fsync. This is the one implementation, with the strictest of each.
//!
//! The steps: a temp file with a name unique to this process and write (`create_new`, so a
//! stale or foreign file is never reused) in the same directory, the bytes, the final
//! permissions, fsync, rename over the target, fsync of the directory (unix) so the rename itself
//! survives a power loss. On unix all of them happen in the target's directory held open, never
//! through its path again (`dir.rs`): a directory renamed or swapped for a link meanwhile cannot
//! send the bytes elsewhere. For a path an agent named, [`write_resolved`] also reaches that
//! directory without following any link.

mod dir;
mod regular;

pub use regular::{RegularError, open_regular};

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{ErrorKind, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use dir::{Dir, Links};

/// Distinguishes temp files of concurrent writes within one process (the process id tells
/// processes apart).
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// How many taken temp names are skipped (a stale temp file of a crashed process with the same
/// id) before giving up.
const TEMP_ATTEMPTS: u32 = 16;

/// The permissions the replaced file ends up with (unix modes; elsewhere the directory's
/// inherited ACL applies and these are ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permissions {
    /// An existing file keeps its permissions; a new file gets the process default (the umask's).
    /// For files that belong to the user, e.g. a workspace file an agent edits.
    KeepOrDefault,
    /// An existing file keeps its permissions (the user may have loosened or tightened them); a
    /// new file gets this mode. The temp file is private (0600) until then.
    KeepOr(u32),
    /// Always this mode, whatever the old file had: for files only Cordon writes and only the
    /// user may read (tool pins).
    Exactly(u32),
}

/// A failed step, with the path it failed on; the old file is untouched unless `what` says the
/// directory could not be synced after the rename.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct AtomicError {
    /// What failed, in words, with the path ("cannot fsync /x/.c.yaml.cordon-tmp-1-0").
    pub what: String,
    /// The operating system's error.
    pub source: std::io::Error,
}

impl AtomicError {
    fn new(what: String, source: std::io::Error) -> AtomicError {
        AtomicError { what, source }
    }

    /// Whether [`write_resolved`] refused because a symbolic link (or a file) stood where the
    /// checked path had a directory: the path changed since it was checked.
    pub fn is_link_refusal(&self) -> bool {
        dir::is_link_refusal(&self.source)
    }
}

/// Replaces `path` with `bytes` atomically (see the crate documentation). Links on the way are
/// followed: for files of the user's own setup (configuration, agent settings), which may live
/// behind the user's links.
pub fn write(path: &Path, bytes: &[u8], permissions: Permissions) -> Result<(), AtomicError> {
    replace_in(
        path,
        Links::Follow,
        permissions,
        write_all(path, bytes),
        |_| Ok(()),
    )
}

/// Replaces the file at a resolved path an agent named with `bytes` atomically, creating missing
/// directories. No symbolic link is followed anywhere on the way (unix): `path` was resolved and
/// checked (inside the workspace), so a link there now was swapped in since, by another process
/// of the user, to send the write elsewhere. It is refused ([`AtomicError::is_link_refusal`]) and
/// nothing is written. Once the directory is open, every step happens in it, whatever becomes of
/// the path meanwhile. Windows: links are followed (see `dir.rs`).
pub fn write_resolved(
    path: &Path,
    bytes: &[u8],
    permissions: Permissions,
) -> Result<(), AtomicError> {
    replace_in(
        path,
        Links::Refuse,
        permissions,
        write_all(path, bytes),
        |_| Ok(()),
    )
}

fn write_all<'a>(
    path: &'a Path,
    bytes: &'a [u8],
) -> impl FnOnce(&mut File) -> Result<(), AtomicError> + 'a {
    move |file| {
        file.write_all(bytes)
            .map_err(|e| AtomicError::new(format!("cannot write {}", path.display()), e))
    }
}

/// Replaces `path` with what `write` streams into the temp file (an export, a large document).
/// On any failure, `write`'s included, the temp file is removed and `path` is untouched.
pub fn replace_with<T, E: From<AtomicError>>(
    path: &Path,
    permissions: Permissions,
    write: impl FnOnce(&mut File) -> Result<T, E>,
) -> Result<T, E> {
    replace_in(path, Links::Follow, permissions, write, |_| Ok(()))
}

/// [`replace_with`] with a hook run just before the rename: tests use it to fail mid-way.
#[doc(hidden)]
pub fn replace_with_hook<T, E: From<AtomicError>>(
    path: &Path,
    permissions: Permissions,
    write: impl FnOnce(&mut File) -> Result<T, E>,
    before_rename: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<T, E> {
    replace_in(path, Links::Follow, permissions, write, before_rename)
}

/// The one replacement: open the directory (as `links` says), then every step in it.
fn replace_in<T, E: From<AtomicError>>(
    path: &Path,
    links: Links,
    permissions: Permissions,
    write: impl FnOnce(&mut File) -> Result<T, E>,
    before_rename: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<T, E> {
    let dir_path = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let Some(file_name) = path.file_name() else {
        return Err(AtomicError::new(
            format!("{} is not a file path", path.display()),
            std::io::Error::new(ErrorKind::InvalidInput, "no file name"),
        )
        .into());
    };
    let dir = Dir::open(dir_path, links).map_err(|e| {
        let what = if dir::is_link_refusal(&e) {
            format!(
                "cannot open {}: a symbolic link or file stands on the way (swapped in since the \
                 path was checked)",
                dir_path.display()
            )
        } else {
            format!("cannot open {}", dir_path.display())
        };
        AtomicError::new(what, e)
    })?;
    let (tmp, file) = create_temp(&dir, file_name, permissions)?;
    let result = write_then_rename(
        &dir,
        file_name,
        &tmp,
        file,
        (links, permissions),
        write,
        before_rename,
    );
    if result.is_err() {
        let _ = dir.remove(&tmp);
    }
    let value = result?;
    dir.sync()
        .map_err(|e| AtomicError::new(format!("cannot fsync {}", dir.path().display()), e))?;
    Ok(value)
}

/// A new temp file beside the target, private from the first byte when a mode is asked for.
fn create_temp(
    dir: &Dir,
    file_name: &OsStr,
    permissions: Permissions,
) -> Result<(OsString, File), AtomicError> {
    let mut attempt = 0;
    loop {
        let mut tmp = OsString::from(".");
        tmp.push(file_name);
        tmp.push(format!(
            ".cordon-tmp-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        // Start private when a mode is asked for; the final mode is set before any byte is
        // visible under the target.
        match dir.create_new(&tmp, permissions != Permissions::KeepOrDefault) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists && attempt < TEMP_ATTEMPTS => {
                attempt += 1;
            }
            Err(e) => {
                return Err(AtomicError::new(
                    format!("cannot create {}", dir::entry(dir, &tmp).display()),
                    e,
                ));
            }
        }
    }
}

fn write_then_rename<T, E: From<AtomicError>>(
    dir: &Dir,
    file_name: &OsStr,
    tmp: &OsStr,
    mut file: File,
    (links, permissions): (Links, Permissions),
    write: impl FnOnce(&mut File) -> Result<T, E>,
    before_rename: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<T, E> {
    let tmp_path = dir::entry(dir, tmp);
    let what = |action: &str| format!("cannot {action} {}", tmp_path.display());
    let value = write(&mut file)?;
    set_mode(&file, dir.mode_of(file_name, links), permissions)
        .map_err(|e| AtomicError::new(what("set permissions of"), e))?;
    file.sync_all()
        .map_err(|e| AtomicError::new(what("fsync"), e))?;
    // Closed before the rename: Windows refuses to rename an open file.
    drop(file);
    before_rename(&tmp_path).map_err(|e| AtomicError::new(what("finish"), e))?;
    dir.rename(tmp, file_name).map_err(|e| {
        AtomicError::new(
            format!(
                "cannot replace {} (old file kept)",
                dir::entry(dir, file_name).display()
            ),
            e,
        )
    })?;
    Ok(value)
}

/// Gives the temp file its final mode: `existing` is the mode of the file it replaces, if any.
#[cfg(unix)]
fn set_mode(file: &File, existing: Option<u32>, permissions: Permissions) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = match permissions {
        Permissions::Exactly(mode) => Some(mode),
        Permissions::KeepOr(new_mode) => Some(existing.unwrap_or(new_mode)),
        Permissions::KeepOrDefault => existing,
    };
    match mode {
        Some(mode) => file.set_permissions(std::fs::Permissions::from_mode(mode)),
        None => Ok(()),
    }
}

/// Windows: keep an existing file's read-only flag; new files follow the directory's ACL.
#[cfg(not(unix))]
fn set_mode(file: &File, existing: Option<u32>, permissions: Permissions) -> std::io::Result<()> {
    match (permissions, existing) {
        (Permissions::Exactly(_), _) | (_, None) => Ok(()),
        (_, Some(mode)) => {
            let mut kept = file.metadata()?.permissions();
            kept.set_readonly(mode & 0o222 == 0);
            file.set_permissions(kept)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn entries(dir: &Path) -> usize {
        std::fs::read_dir(dir).unwrap().count()
    }

    #[cfg(unix)]
    fn mode_of(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[cfg(unix)]
    fn chmod(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn replaces_and_keeps_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, "old").unwrap();
        #[cfg(unix)]
        chmod(&path, 0o640);
        write(&path, b"new", Permissions::KeepOr(0o600)).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        #[cfg(unix)]
        assert_eq!(mode_of(&path), 0o640);
        assert_eq!(entries(dir.path()), 1);
    }

    #[cfg(unix)]
    #[test]
    fn new_files_get_the_asked_mode_and_exactly_overrides_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("new.yaml");
        write(&fresh, b"x", Permissions::KeepOr(0o640)).unwrap();
        assert_eq!(mode_of(&fresh), 0o640);
        let pins = dir.path().join("pins.json");
        std::fs::write(&pins, "old").unwrap();
        chmod(&pins, 0o644);
        write(&pins, b"{}", Permissions::Exactly(0o600)).unwrap();
        assert_eq!(
            mode_of(&pins),
            0o600,
            "a loosened private file is tightened"
        );
        let kept = dir.path().join("script.sh");
        std::fs::write(&kept, "old").unwrap();
        chmod(&kept, 0o755);
        write(&kept, b"new", Permissions::KeepOrDefault).unwrap();
        assert_eq!(mode_of(&kept), 0o755, "an executable stays executable");
        assert_eq!(entries(dir.path()), 3);
    }

    #[test]
    fn failure_before_rename_keeps_old_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.yaml");
        std::fs::write(&path, "old").unwrap();
        let error = replace_with_hook(
            &path,
            Permissions::KeepOr(0o644),
            |file| {
                file.write_all(b"new")
                    .map_err(|e| AtomicError::new("write".to_owned(), e))
            },
            |_| Err(std::io::Error::other("disk full (simulated)")),
        )
        .unwrap_err();
        assert!(error.to_string().contains("disk full"), "{error}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(entries(dir.path()), 1);
    }

    #[test]
    fn a_failing_writer_keeps_old_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.jsonl");
        std::fs::write(&path, "old").unwrap();
        let error = replace_with(&path, Permissions::KeepOr(0o600), |file| {
            file.write_all(b"half").unwrap();
            Err::<(), _>(AtomicError::new(
                "the export failed".to_owned(),
                std::io::Error::other("query failed"),
            ))
        })
        .unwrap_err();
        assert_eq!(error.what, "the export failed");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(entries(dir.path()), 1);
    }

    #[test]
    fn rename_onto_a_directory_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("export.jsonl");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("keep"), "x").unwrap();
        assert!(write(&target, b"data", Permissions::KeepOr(0o600)).is_err());
        assert_eq!(std::fs::read_to_string(target.join("keep")).unwrap(), "x");
        assert_eq!(entries(dir.path()), 1);
    }

    #[test]
    fn a_stale_temp_name_is_skipped_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.txt");
        // Squat the next name this process would pick: a stale temp of a crashed writer.
        let next = COUNTER.load(Ordering::Relaxed);
        let squatted =
            dir.path()
                .join(format!(".f.txt.cordon-tmp-{}-{}", std::process::id(), next));
        std::fs::write(&squatted, "someone else's").unwrap();
        write(&path, b"mine", Permissions::KeepOrDefault).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "mine");
        // Either the squatted name was skipped or another test took it first; never overwritten.
        assert_eq!(
            std::fs::read_to_string(&squatted).unwrap(),
            "someone else's"
        );
    }

    #[test]
    fn concurrent_writers_never_tear_the_file_or_leave_temps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared.json");
        let contents: Vec<String> = (0..8).map(|i| format!("{i}").repeat(4096)).collect();
        std::thread::scope(|s| {
            for content in &contents {
                let path = &path;
                s.spawn(move || {
                    for _ in 0..10 {
                        write(path, content.as_bytes(), Permissions::KeepOrDefault).unwrap();
                    }
                });
            }
        });
        let last = std::fs::read_to_string(&path).unwrap();
        assert!(contents.contains(&last), "a torn file");
        assert_eq!(entries(dir.path()), 1);
    }

    #[cfg(unix)]
    #[test]
    fn a_resolved_write_through_a_swapped_in_link_is_refused_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let outside_root = outside.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("real")).unwrap();
        // `sub` was a directory when the path was checked; now it is a link to elsewhere.
        std::os::unix::fs::symlink(&outside_root, root.join("sub")).unwrap();
        for target in [root.join("sub/f"), root.join("sub/deeper/f")] {
            let error = write_resolved(&target, b"x", Permissions::KeepOrDefault).unwrap_err();
            assert!(error.is_link_refusal(), "{error}");
            assert!(error.to_string().contains("swapped in"), "{error}");
        }
        assert_eq!(
            entries(&outside_root),
            0,
            "nothing was written through the link"
        );
        // The same write with links followed (a user's own configuration) goes through it.
        write(&root.join("sub/f"), b"x", Permissions::KeepOrDefault).unwrap();
        assert_eq!(entries(&outside_root), 1);
    }

    #[cfg(unix)]
    #[test]
    fn a_resolved_write_creates_missing_directories_and_needs_an_absolute_path() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let target = root.join("a/b/c.txt");
        write_resolved(&target, b"deep", Permissions::KeepOrDefault).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "deep");
        write_resolved(&target, b"again", Permissions::KeepOrDefault).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "again");
        assert_eq!(entries(&root.join("a/b")), 1, "no temp file left");
        for bad in ["rel/c.txt", "/tmp/../tmp/c.txt"] {
            let error =
                write_resolved(Path::new(bad), b"x", Permissions::KeepOrDefault).unwrap_err();
            assert_eq!(
                error.source.kind(),
                ErrorKind::InvalidInput,
                "{bad}: {error}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_swapped_mid_write_does_not_move_the_write() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        let target = root.join("sub/f");
        // After the temp file is written, `sub` is moved aside and a link to elsewhere put in
        // its place: the rename still happens in the directory that was opened.
        replace_with_hook(
            &target,
            Permissions::KeepOrDefault,
            |file| {
                file.write_all(b"mine")
                    .map_err(|e| AtomicError::new("write".to_owned(), e))
            },
            |_| {
                std::fs::rename(root.join("sub"), root.join("moved"))?;
                std::os::unix::fs::symlink(outside.path(), root.join("sub"))
            },
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("moved/f")).unwrap(),
            "mine"
        );
        assert_eq!(entries(outside.path()), 0);
    }
}
