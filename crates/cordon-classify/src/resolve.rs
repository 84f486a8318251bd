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
            return Some(simplified(real).to_string_lossy().into_owned());
        }
        // Longest existing parent, then the missing tail appended.
        let mut tail: Vec<std::ffi::OsString> = Vec::new();
        let mut cur = abs.as_path();
        loop {
            let name = cur.file_name()?.to_os_string();
            tail.push(name);
            cur = cur.parent()?;
            if let Ok(real) = cur.canonicalize() {
                let mut out = simplified(real);
                for part in tail.iter().rev() {
                    out.push(part);
                }
                return Some(out.to_string_lossy().into_owned());
            }
        }
    }
}

/// Most symlinks followed while resolving one path (the kernel's own limit is 40).
const MAX_LINKS: usize = 40;

/// Resolves `path` (absolute, or relative to `base`) the way the kernel would: component by
/// component, following every symlink of the existing prefix (a link's target is resolved
/// again), `..` taken physically (the parent of where a link led, not of the link's name). A
/// missing tail is appended as written, except that a `..` in it is resolved lexically against
/// what was already resolved. `~` and NUL bytes are refused (`None`), as are symlink loops.
/// This is the blast-radius check's view of where a write really lands.
pub fn resolve_physical(base: &Path, path: &str) -> Option<PathBuf> {
    if path.contains('\0') || path.starts_with('~') {
        return None;
    }
    let joined = if Path::new(path).is_absolute() {
        PathBuf::from(path)
    } else {
        base.join(path)
    };
    let mut pending: Vec<std::ffi::OsString> = joined
        .components()
        .rev()
        .filter_map(|c| match c {
            std::path::Component::Normal(n) => Some(n.to_os_string()),
            std::path::Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    if !joined.is_absolute() {
        return None;
    }
    let mut out = root_of(&joined);
    let mut exists = true;
    let mut links = 0usize;
    while let Some(name) = pending.pop() {
        if name == ".." {
            out.pop();
            // Back in territory that may exist: its symlinks count again.
            exists = true;
            continue;
        }
        let next = out.join(&name);
        if exists {
            match std::fs::symlink_metadata(&next) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    links += 1;
                    if links > MAX_LINKS {
                        return None;
                    }
                    let target = std::fs::read_link(&next).ok()?;
                    if target.is_absolute() {
                        out = root_of(&target);
                    }
                    for c in target.components().rev() {
                        match c {
                            std::path::Component::Normal(n) => pending.push(n.to_os_string()),
                            std::path::Component::ParentDir => pending.push("..".into()),
                            _ => {}
                        }
                    }
                    continue;
                }
                Ok(_) => {}
                Err(_) => exists = false,
            }
        }
        out = next;
    }
    Some(out)
}

/// A canonical path as the user writes it: on Windows `C:\x`, not the verbatim `\\?\C:\x` that
/// `canonicalize` returns (which would never match a configured root). Elsewhere unchanged.
fn simplified(path: PathBuf) -> PathBuf {
    #[cfg(windows)]
    {
        let text = path.to_string_lossy();
        if let Some(rest) = text.strip_prefix(r"\\?\") {
            let bytes = rest.as_bytes();
            if bytes.get(1) == Some(&b':') && bytes.first().is_some_and(u8::is_ascii_alphabetic) {
                return PathBuf::from(rest);
            }
        }
    }
    path
}

/// The root an absolute path starts from: `/` on Unix; on Windows its prefix and root (`C:\`,
/// `\\server\share\`), so paths on different drives never compare equal.
fn root_of(path: &Path) -> PathBuf {
    let mut root = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::Prefix(_) | std::path::Component::RootDir => {
                root.push(component.as_os_str());
            }
            _ => break,
        }
    }
    if root.as_os_str().is_empty() {
        root.push("/");
    }
    root
}

/// Whether `path` (as [`resolve_physical`] resolves it against `base`) lies inside one of
/// `roots` (each resolved the same way). Unresolvable paths are outside (fail closed).
/// Components are compared whole, so `/work/app-evil` is not inside `/work/app`.
pub fn within_roots(base: &Path, path: &str, roots: &[PathBuf]) -> bool {
    let Some(real) = resolve_physical(base, path) else {
        return false;
    };
    roots.iter().any(|root| {
        let root = root.to_string_lossy();
        resolve_physical(Path::new("/"), &root).is_some_and(|r| real.starts_with(&r))
    })
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

    #[cfg(unix)]
    #[test]
    fn physical_resolution_confines_writes() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let top = dir.path().canonicalize()?;
        let root = top.join("ws");
        let outside = top.join("outside");
        std::fs::create_dir_all(root.join("src"))?;
        std::fs::create_dir_all(outside.join("deep"))?;
        std::os::unix::fs::symlink(&outside, root.join("escape"))?;
        std::os::unix::fs::symlink(outside.join("deep"), root.join("deeplink"))?;
        std::os::unix::fs::symlink("../outside", root.join("relescape"))?;
        std::os::unix::fs::symlink(root.join("loop"), root.join("loop"))?;
        let roots = vec![root.clone()];
        let inside = |p: &str| within_roots(&root, p, &roots);
        assert!(inside("src/main.rs"));
        assert!(inside("new/dir/file.txt"));
        assert!(inside(&root.join("a.txt").to_string_lossy()));
        assert!(inside("src/../b.txt"));
        assert!(inside("ünïcode/ファイル.txt"));
        // `..`, absolute paths and symlinks that leave the root.
        assert!(!inside("../outside/x"));
        assert!(!inside("src/../../outside/x"));
        assert!(!inside("/etc/passwd"));
        assert!(!inside("escape/x"));
        assert!(!inside("relescape/new/x"));
        assert!(!inside("escape"));
        // `deeplink/..` is the parent of where the link leads (`outside`), not `ws`.
        assert!(!inside("deeplink/../x"));
        // A sibling with the root's name as a prefix is not inside.
        std::fs::create_dir_all(top.join("ws-evil"))?;
        assert!(!inside("../ws-evil/x"));
        // Missing tail with `..` climbing out.
        assert!(!inside("nothere/../../outside"));
        // Loops, NUL and `~` are unresolvable: outside.
        assert!(!inside("loop/x"));
        assert!(!inside("a\0b"));
        assert!(!inside("~/x"));
        // A root given through a symlink still contains its real files.
        std::os::unix::fs::symlink(&root, top.join("wslink"))?;
        assert!(within_roots(&root, "src/x", &[top.join("wslink")]));
        Ok(())
    }
}
