//! Watches the policy file or directory so an edit made in another editor is validated and
//! hot-reloaded (or refused, the old policy staying in force), like a save from the editor.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use crate::AdminError;
use crate::policy::Location;

/// Quiet time after the last change before reloading: editors write a file in several steps
/// (truncate, write, rename a temp file), and only the end result counts.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// A running watch; dropping it stops the watch and its thread.
pub struct PolicyWatcher {
    _watcher: RecommendedWatcher,
    /// The file or directory watched.
    pub target: PathBuf,
}

impl std::fmt::Debug for PolicyWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyWatcher")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// Starts watching `location`, calling `reload` after each burst of relevant changes. None for
/// the shipped default (no file to watch).
pub fn start(
    location: &Location,
    reload: impl Fn() + Send + 'static,
) -> Result<Option<PolicyWatcher>, AdminError> {
    let (dir, only) = match location {
        Location::File(path) => {
            let dir = path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."));
            (dir, path.file_name().map(|n| n.to_os_string()))
        }
        Location::Directory(dir) => (dir.clone(), None),
        Location::Default { .. } => return Ok(None),
    };
    let (tx, rx) = channel();
    let mut watcher = notify::recommended_watcher(move |event| {
        let _ = tx.send(event);
    })
    .map_err(|e| AdminError::io_other(format!("cannot watch {}", dir.display()), e))?;
    // The directory, not the file: editors that save by renaming a temp file replace the inode.
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(|e| AdminError::io_other(format!("cannot watch {}", dir.display()), e))?;
    let relevant = move |event: &notify::Event| {
        !matches!(event.kind, EventKind::Access(_))
            && event.paths.iter().any(|p| {
                let Some(name) = p.file_name() else {
                    return false;
                };
                match &only {
                    Some(file) => name == file,
                    None => {
                        let name = name.to_string_lossy();
                        !name.starts_with('.')
                            && (name.ends_with(".yaml") || name.ends_with(".yml"))
                    }
                }
            })
    };
    let spawned = std::thread::Builder::new()
        .name("cordon-policy-watch".to_owned())
        .spawn(move || run(&rx, relevant, reload));
    if let Err(e) = spawned {
        return Err(AdminError::io("cannot start the policy watcher", e));
    }
    let target = location.path().map(Path::to_path_buf).unwrap_or_default();
    Ok(Some(PolicyWatcher {
        _watcher: watcher,
        target,
    }))
}

fn run(
    rx: &Receiver<notify::Result<notify::Event>>,
    relevant: impl Fn(&notify::Event) -> bool,
    reload: impl Fn(),
) {
    loop {
        match rx.recv() {
            Ok(Ok(event)) if relevant(&event) => {}
            Ok(Ok(_)) => continue,
            Ok(Err(error)) => {
                tracing::warn!("policy watcher: {error}");
                continue;
            }
            Err(_) => return, // the watcher was dropped
        }
        loop {
            match rx.recv_timeout(DEBOUNCE) {
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        reload();
    }
}
