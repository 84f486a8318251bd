//! Symlink resolution: the only module that touches the file system, kept behind a trait so the
//! classifier core stays pure and the gateway decides when the world is consulted.

use std::path::{Path, PathBuf};

/// Supplies the real (symlink-resolved) path of a normalised path, so that `notes.txt ->
/// .env` is classified like `.env`. The classifier checks both the literal and the resolved
/// path; the stricter wins.
pub trait PathResolver {
    /// The resolved path, or `None` when it cannot be resolved (the literal path then stands).
    fn resolve(&self, normalised: &str) -> Option<String>;
}

/// A resolver that resolves nothing: pure classification.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopResolver;

impl PathResolver for NoopResolver {
    fn resolve(&self, _normalised: &str) -> Option<String> {
        None
    }
}

/// Resolves paths on the real file system, relative paths against a workspace root, following
/// symlinks. For a path that does not exist yet (a file about to be written), the longest
/// existing parent is canonicalised and the rest appended, so a write through a symlinked
/// directory is still seen.
#[derive(Debug, Clone)]
pub struct FsResolver {
    root: PathBuf,
    home: Option<PathBuf>,
}

impl FsResolver {
    /// A resolver for paths relative to `root` (the agent's workspace).
    pub fn new(root: impl Into<PathBuf>) -> FsResolver {
        FsResolver {
            root: root.into(),
            home: None,
        }
    }

    /// Also expand `~` and `~/...` to `home` (the classifier core keeps `~` literal).
    pub fn with_home(mut self, home: impl Into<PathBuf>) -> FsResolver {
        self.home = Some(home.into());
        self
    }

    fn absolute(&self, normalised: &str) -> Option<PathBuf> {
        if normalised.contains('\0') {
            return None;
        }
        if normalised == "~" {
            return self.home.clone();
        }
        if let Some(rest) = normalised.strip_prefix("~/") {
            return self.home.as_ref().map(|h| h.join(rest));
        }
        if normalised.starts_with('~') {
            return None;
        }
        let p = Path::new(normalised);
        Some(if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.root.join(p)
        })
    }
}

impl PathResolver for FsResolver {
    fn resolve(&self, normalised: &str) -> Option<String> {
        let abs = self.absolute(normalised)?;
        if let Ok(real) = abs.canonicalize() {
            return Some(real.to_string_lossy().into_owned());
        }
        // Longest existing parent, then the missing tail appended.
        let mut tail: Vec<std::ffi::OsString> = Vec::new();
        let mut cur = abs.as_path();
        loop {
            let name = cur.file_name()?.to_os_string();
            tail.push(name);
            cur = cur.parent()?;
            if let Ok(real) = cur.canonicalize() {
                let mut out = real;
                for part in tail.iter().rev() {
                    out.push(part);
                }
                return Some(out.to_string_lossy().into_owned());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noop_resolves_nothing() {
        assert_eq!(NoopResolver.resolve(".env"), None);
    }

    #[cfg(unix)]
    #[test]
    fn fs_resolver_follows_symlinks_and_missing_tails() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let real = dir.path().canonicalize()?;
        std::fs::write(real.join(".env"), "X=1")?;
        std::os::unix::fs::symlink(real.join(".env"), real.join("notes.txt"))?;
        std::fs::create_dir(real.join("target"))?;
        std::os::unix::fs::symlink(real.join("target"), real.join("link"))?;
        let r = FsResolver::new(&real);
        assert_eq!(
            r.resolve("notes.txt"),
            Some(real.join(".env").to_string_lossy().into_owned())
        );
        assert_eq!(
            r.resolve("link/new/file.txt"),
            Some(
                real.join("target/new/file.txt")
                    .to_string_lossy()
                    .into_owned()
            )
        );
        assert_eq!(r.resolve("~/x"), None);
        Ok(())
    }
}
