//! Atomic file replacement: a reader (the engine, an editor, the watcher) sees the old bytes or
//! the new bytes, never a torn file, and a failure anywhere leaves the old file in place.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::AdminError;

/// Distinguishes temp files of concurrent writes within one process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Replaces `path` with `bytes`: temp file in the same directory, fsync, rename, fsync of the
/// directory. Keeps the old file's permissions; a new file gets `new_mode` (unix).
pub fn write_atomic(path: &Path, bytes: &[u8], new_mode: u32) -> Result<(), AdminError> {
    replace_with(
        path,
        new_mode,
        |file| {
            file.write_all(bytes)
                .map_err(|e| AdminError::io(format!("cannot write {}", path.display()), e))
        },
        |_| Ok(()),
    )
}

/// [`write_atomic`] with a hook run just before the rename (tests use it to fail mid-way).
#[cfg(test)]
pub(crate) fn write_atomic_with(
    path: &Path,
    bytes: &[u8],
    new_mode: u32,
    before_rename: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<(), AdminError> {
    replace_with(
        path,
        new_mode,
        |file| {
            file.write_all(bytes)
                .map_err(|e| AdminError::io(format!("cannot write {}", path.display()), e))
        },
        before_rename,
    )
}

/// Replaces `path` with what `write` streams into a temp file in the same directory (fsync,
/// rename, fsync of the directory); on any failure the temp file is removed and `path` is
/// untouched. `before_rename` is a test hook.
pub fn replace_with<T>(
    path: &Path,
    new_mode: u32,
    write: impl FnOnce(&mut std::fs::File) -> Result<T, AdminError>,
    before_rename: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<T, AdminError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let file_name = path
        .file_name()
        .ok_or_else(|| AdminError::Invalid(format!("{} is not a file path", path.display())))?
        .to_string_lossy()
        .into_owned();
    let tmp = dir.join(format!(
        ".{file_name}.cordon-tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = write_then_rename(path, &tmp, new_mode, write, before_rename);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    let value = result?;
    sync_dir(dir)?;
    Ok(value)
}

fn write_then_rename<T>(
    path: &Path,
    tmp: &Path,
    new_mode: u32,
    write: impl FnOnce(&mut std::fs::File) -> Result<T, AdminError>,
    before_rename: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<T, AdminError> {
    let what = |action: &str| format!("cannot {action} {}", tmp.display());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Start private; the final mode is set below, before any byte is visible under `path`.
        options.mode(0o600);
    }
    let mut file = options
        .open(tmp)
        .map_err(|e| AdminError::io(what("create"), e))?;
    let value = write(&mut file)?;
    set_mode(&file, path, new_mode).map_err(|e| AdminError::io(what("set permissions of"), e))?;
    file.sync_all()
        .map_err(|e| AdminError::io(what("fsync"), e))?;
    drop(file);
    before_rename(tmp).map_err(|e| AdminError::io(what("finish"), e))?;
    std::fs::rename(tmp, path).map_err(|e| {
        AdminError::io(
            format!("cannot replace {} (old file kept)", path.display()),
            e,
        )
    })?;
    Ok(value)
}

#[cfg(unix)]
fn set_mode(file: &std::fs::File, path: &Path, new_mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = match std::fs::metadata(path) {
        Ok(meta) => meta.permissions().mode() & 0o7777,
        Err(_) => new_mode,
    };
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_file: &std::fs::File, _path: &Path, _new_mode: u32) -> std::io::Result<()> {
    Ok(())
}

/// Makes the rename durable (unix); elsewhere a no-op.
fn sync_dir(dir: &Path) -> Result<(), AdminError> {
    #[cfg(unix)]
    {
        let handle = std::fs::File::open(dir)
            .map_err(|e| AdminError::io(format!("cannot open {}", dir.display()), e))?;
        handle
            .sync_all()
            .map_err(|e| AdminError::io(format!("cannot fsync {}", dir.display()), e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Checks a policy file name from the front end: a plain `*.yaml`/`*.yml` name, no directory
/// part, not hidden, no control characters (it becomes a path on disk).
pub fn check_file_name(name: &str) -> Result<&str, AdminError> {
    let bad = |why: &str| AdminError::Invalid(format!("invalid policy file name {name:?}: {why}"));
    if name.is_empty() || name.len() > 255 {
        return Err(bad("must be 1 to 255 bytes"));
    }
    if name.contains(['/', '\\']) || name == "." || name == ".." {
        return Err(bad("must be a file name without a directory"));
    }
    if name.starts_with('.') {
        return Err(bad("hidden files are not part of a policy"));
    }
    if name.chars().any(char::is_control) {
        return Err(bad("contains control characters"));
    }
    if !(name.ends_with(".yaml") || name.ends_with(".yml")) {
        return Err(bad("must end with .yaml or .yml"));
    }
    Ok(name)
}

/// The last path component of a display path (policy diagnostics name files by full path).
pub fn base_name(display: &str) -> &str {
    display.rsplit(['/', '\\']).next().unwrap_or(display)
}

/// `path` made absolute against the current directory, unchanged if that fails.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn replaces_and_keeps_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, "old").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        }
        write_atomic(&path, b"new", 0o600).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o640);
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn failure_before_rename_keeps_old_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.yaml");
        std::fs::write(&path, "old").unwrap();
        let error = write_atomic_with(&path, b"new", 0o644, |_| {
            Err(std::io::Error::other("disk full (simulated)"))
        })
        .unwrap_err();
        assert_eq!(error.kind(), "io");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn rename_onto_a_directory_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("export.jsonl");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("keep"), "x").unwrap();
        assert!(write_atomic(&target, b"data", 0o600).is_err());
        assert_eq!(std::fs::read_to_string(target.join("keep")).unwrap(), "x");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn file_names_from_the_front_end_are_checked() {
        for ok in ["policy.yaml", "10-base.yml", "a b.yaml"] {
            assert!(check_file_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "../x.yaml",
            "a/b.yaml",
            "a\\b.yaml",
            ".hidden.yaml",
            "x.txt",
            "x\n.yaml",
            "..",
        ] {
            assert!(check_file_name(bad).is_err(), "{bad:?}");
        }
    }
}
