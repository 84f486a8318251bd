//! Path confinement: the single gate every path argument goes through.

use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

use crate::ToolError;

/// Longest path argument accepted, in bytes (Linux `PATH_MAX`).
const MAX_PATH_BYTES: usize = 4096;

fn outside(roots: &[PathBuf], path: &str) -> ToolError {
    ToolError::OutsideRoots {
        path: path.to_owned(),
        roots: roots
            .iter()
            .map(|r| r.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn inside(roots: &[PathBuf], real: &Path) -> bool {
    // `Path::starts_with` compares whole components: `/rootx` is not inside `/root`.
    roots.iter().any(|r| real.starts_with(r))
}

pub(crate) fn resolve(roots: &[PathBuf], path: &str) -> Result<PathBuf, ToolError> {
    if path.is_empty() {
        return Err(ToolError::invalid(
            "path is empty; give a path inside the workspace roots (`.` is the first root)",
        ));
    }
    if path.contains('\0') {
        return Err(ToolError::invalid("path contains a NUL byte"));
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(ToolError::invalid(format!(
            "path is {} bytes long; at most {MAX_PATH_BYTES} are accepted",
            path.len()
        )));
    }
    let first = roots.first().ok_or_else(|| outside(roots, path))?;
    let given = Path::new(path);
    let joined = if given.is_absolute() {
        given.to_path_buf()
    } else {
        first.join(given)
    };

    match canonicalize(&joined) {
        Ok(real) => {
            return if inside(roots, &real) {
                Ok(real)
            } else {
                Err(outside(roots, path))
            };
        }
        Err(e) if e.kind() == ErrorKind::NotFound || e.kind() == ErrorKind::NotADirectory => {}
        // Symlink loops, over-long names, permission problems: refuse (fail closed).
        Err(e) => return Err(ToolError::io(path, e)),
    }

    // The path does not exist (yet): canonicalise its longest existing ancestor and append
    // the remaining names, which must be plain names.
    let comps: Vec<Component<'_>> = joined.components().collect();
    for split in (0..=comps.len()).rev() {
        let head: PathBuf = comps.iter().take(split).collect();
        if head.as_os_str().is_empty() {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&head) else {
            continue;
        };
        let base = match canonicalize(&head) {
            Ok(b) => b,
            // An existing entry that cannot be canonicalised is a dangling or looping
            // symlink: whatever it points at cannot be checked, so refuse.
            Err(_) if meta.file_type().is_symlink() => return Err(outside(roots, path)),
            Err(e) => return Err(ToolError::io(path, e)),
        };
        let mut real = base;
        for c in comps.iter().skip(split) {
            match c {
                Component::Normal(name) => real.push(name),
                Component::CurDir => {}
                // `..` after a missing directory: the OS would refuse it anyway; refuse
                // rather than guess.
                _ => return Err(outside(roots, path)),
            }
        }
        return if inside(roots, &real) {
            Ok(real)
        } else {
            Err(outside(roots, path))
        };
    }
    Err(outside(roots, path))
}

/// True when a path has a `.git` component: writes there could plant hooks or config that
/// git would later execute, so the file tools refuse them.
/// Only the part below the containing root is checked.
pub(crate) fn in_git_dir(roots: &[PathBuf], path: &Path) -> bool {
    let rel = roots
        .iter()
        .find_map(|r| path.strip_prefix(r).ok())
        .unwrap_or(path);
    rel.components()
        .any(|c| matches!(c, Component::Normal(n) if n.eq_ignore_ascii_case(".git")))
}

/// `std::fs::canonicalize`, except that on Windows a plain drive path comes back as `C:\x`
/// rather than `\\?\C:\x`: the verbatim form would reach the classifier and the blast-radius
/// check as a different path than the configured roots (`C:\...`), and refuse every write.
/// UNC and device paths keep their verbatim form (they have no simpler equivalent).
pub(crate) fn canonicalize(path: &Path) -> std::io::Result<PathBuf> {
    let real = std::fs::canonicalize(path)?;
    #[cfg(windows)]
    {
        let text = real.to_string_lossy();
        if let Some(rest) = text.strip_prefix(r"\\?\") {
            let bytes = rest.as_bytes();
            if bytes.get(1) == Some(&b':') && bytes.first().is_some_and(u8::is_ascii_alphabetic) {
                return Ok(PathBuf::from(rest));
            }
        }
    }
    Ok(real)
}
