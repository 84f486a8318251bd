//! File helpers of the settings window: atomic replacement (through `cordon-atomic`, the one
//! implementation: a reader sees the old bytes or the new bytes, never a torn file) and checks of
//! file names that come from the front end.

use std::path::{Path, PathBuf};

use cordon_atomic::{AtomicError, Permissions};

use crate::AdminError;

/// Replaces `path` with `bytes` (`cordon_atomic`: temp file in the same directory, fsync,
/// rename, fsync of the directory). Keeps the old file's permissions; a new file gets
/// `new_mode` (unix).
pub fn write_atomic(path: &Path, bytes: &[u8], new_mode: u32) -> Result<(), AdminError> {
    cordon_atomic::write(path, bytes, Permissions::KeepOr(new_mode)).map_err(admin_error)
}

/// Replaces `path` with what `write` streams into a temp file in the same directory; on any
/// failure the temp file is removed and `path` is untouched. Keeps the old file's permissions;
/// a new file gets `new_mode` (unix).
pub fn replace_with<T>(
    path: &Path,
    new_mode: u32,
    write: impl FnOnce(&mut std::fs::File) -> Result<T, AdminError>,
) -> Result<T, AdminError> {
    cordon_atomic::replace_with(path, Permissions::KeepOr(new_mode), |file| {
        write(file).map_err(Failure::Admin)
    })
    .map_err(|failure| match failure {
        Failure::Admin(e) => e,
        Failure::Atomic(e) => admin_error(e),
    })
}

/// The caller's own error or the replacement's, kept apart so neither is rewrapped.
enum Failure {
    Admin(AdminError),
    Atomic(AtomicError),
}

impl From<AtomicError> for Failure {
    fn from(e: AtomicError) -> Self {
        Failure::Atomic(e)
    }
}

fn admin_error(e: AtomicError) -> AdminError {
    AdminError::io(e.what, e.source)
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
    fn a_failed_replacement_is_an_io_error_and_keeps_the_old_file() {
        // The replacement itself is tested in cordon-atomic; this is admin's error mapping.
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("export.jsonl");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("keep"), "x").unwrap();
        let error = write_atomic(&target, b"data", 0o600).unwrap_err();
        assert_eq!(error.kind(), "io");
        assert_eq!(std::fs::read_to_string(target.join("keep")).unwrap(), "x");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let error = replace_with(&dir.path().join("new.csv"), 0o600, |_| {
            Err::<(), _>(AdminError::Invalid("the caller's own error".to_owned()))
        })
        .unwrap_err();
        assert_eq!(
            error.kind(),
            "invalid",
            "the caller's error is passed through"
        );
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
