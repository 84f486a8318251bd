//! Install and uninstall: plan every file's change first (refusing a malformed file before any
//! write), then back up the originals once and write atomically; uninstall restores them byte
//! for byte or, when the user changed a file since, removes only Cordon's entries.

use std::path::{Path, PathBuf};

use crate::{
    AgentError, BACKUP_SUFFIX, CREATED_SUFFIX, Server,
    agent::{Agent, Bases, Format},
    edit::{files, strip, transform},
    entry::is_enabled,
    import::import_yaml,
};

/// Options of install and uninstall.
#[derive(Debug, Clone)]
pub struct Options {
    /// Absolute path of the `cordon` binary the agent should launch.
    pub cordon: PathBuf,
    /// Move the agent's other MCP servers out of its config (printed as Cordon upstreams).
    pub import: bool,
    /// Compute the change without writing anything.
    pub dry_run: bool,
}

/// One file's change.
#[derive(Debug, Clone, PartialEq)]
pub struct FileChange {
    /// The file.
    pub path: PathBuf,
    /// Its bytes now (None: absent).
    pub before: Option<Vec<u8>>,
    /// Its bytes after (None: deleted).
    pub after: Option<Vec<u8>>,
}

impl FileChange {
    /// A unified diff of the change, for `--print`.
    pub fn diff(&self) -> String {
        let text = |b: &Option<Vec<u8>>| {
            b.as_deref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        let (old, new) = (text(&self.before), text(&self.after));
        let name = self.path.display().to_string();
        let from = if self.before.is_some() {
            format!("a{name}")
        } else {
            "/dev/null".to_owned()
        };
        let to = if self.after.is_some() {
            format!("b{name}")
        } else {
            "/dev/null".to_owned()
        };
        similar::TextDiff::from_lines(&old, &new)
            .unified_diff()
            .context_radius(3)
            .header(&from, &to)
            .to_string()
    }
}

/// What install or uninstall did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Files changed (empty: nothing to do).
    pub changes: Vec<FileChange>,
    /// MCP servers of the agent that do not go through Cordon (left in place).
    pub ungoverned: Vec<Server>,
    /// Servers moved out of the agent's config by `--import`.
    pub imported: Vec<Server>,
    /// The `servers:` YAML for Cordon's config, for the imported servers.
    pub import_yaml: Option<String>,
    /// Secret-looking env/header values of imported servers: `(server, variable, keychain name)`.
    pub secrets: Vec<(String, String, String)>,
    /// Things the user should know.
    pub notes: Vec<String>,
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AgentError + '_ {
    move |source| AgentError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn read_opt(path: &Path) -> Result<Option<Vec<u8>>, AgentError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

pub(crate) fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

pub(crate) fn as_text<'a>(bytes: &'a [u8], path: &Path) -> Result<&'a str, AgentError> {
    std::str::from_utf8(bytes).map_err(|_| AgentError::Malformed {
        what: path.display().to_string(),
        reason: "not UTF-8 text".into(),
    })
}

/// Routes `agent` through Cordon (and sets up its native-tool hooks). Idempotent; refuses a
/// malformed file without touching any file.
pub fn install(agent: Agent, bases: &Bases, opts: &Options) -> Result<Report, AgentError> {
    let mut report = Report::default();
    let mut plans = Vec::new();
    for (path, format) in files(agent, bases) {
        let before = read_opt(&path)?;
        let what = path.display().to_string();
        let text = before.as_deref().map(|b| as_text(b, &path)).transpose()?;
        let (after, others) = transform(agent, format, text, opts, &what)?;
        if matches!(
            format,
            Format::McpJson { .. } | Format::McpToml | Format::GeminiSettings
        ) {
            if opts.import {
                let (moved, kept): (Vec<_>, Vec<_>) =
                    others.into_iter().partition(|s| is_enabled(&s.spec));
                report.imported = moved;
                report.ungoverned = Vec::new();
                if !kept.is_empty() {
                    report.notes.push(format!(
                        "left disabled server(s) in place: {}",
                        names(&kept)
                    ));
                }
            } else {
                report.ungoverned = others.into_iter().filter(|s| is_enabled(&s.spec)).collect();
            }
        }
        if Some(after.as_bytes()) != before.as_deref() {
            plans.push(FileChange {
                path,
                before,
                after: Some(after.into_bytes()),
            });
        }
    }
    if !report.imported.is_empty() {
        let imported = import_yaml(&report.imported)?;
        report.import_yaml = Some(imported.yaml);
        report.secrets = imported.secrets;
        for name in imported.incomplete {
            report.notes.push(format!(
                "server `{name}` has neither a command nor a url: fill its entry in by hand"
            ));
        }
    }
    if !opts.dry_run {
        for change in &plans {
            backup(change)?;
            write(&change.path, change.after.as_deref())?;
        }
    }
    report.changes = plans;
    Ok(report)
}

pub(crate) fn names(servers: &[Server]) -> String {
    servers
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Saves the original bytes once (the first install's original is the one to restore).
pub(crate) fn backup(change: &FileChange) -> Result<(), AgentError> {
    let backup = sidecar(&change.path, BACKUP_SUFFIX);
    let created = sidecar(&change.path, CREATED_SUFFIX);
    if backup.exists() || created.exists() {
        return Ok(());
    }
    if let Some(dir) = change.path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    match &change.before {
        Some(bytes) => write(&backup, Some(bytes)),
        None => write(&created, Some(b"")),
    }
}

/// Writes (atomically, keeping the permissions) or deletes a file.
pub(crate) fn write(path: &Path, bytes: Option<&[u8]>) -> Result<(), AgentError> {
    let Some(bytes) = bytes else {
        return match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(path)(e)),
            _ => Ok(()),
        };
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    // A unique temp name and fsyncs (`cordon-atomic`): an agent rewriting its own config at the
    // same moment never shares a temp file with us, and a power loss leaves old or new bytes.
    cordon_atomic::write(path, bytes, cordon_atomic::Permissions::KeepOrDefault)
        .map_err(|e| io(path)(e.source))
}

/// Takes `agent` out from under Cordon: restores each file's backup byte for byte, or, when the
/// file changed since install in other ways, removes only Cordon's entries (and says so).
pub fn uninstall(agent: Agent, bases: &Bases, opts: &Options) -> Result<Report, AgentError> {
    let mut report = Report::default();
    let mut plans = Vec::new();
    let mut cleanup = Vec::new();
    for (path, format) in files(agent, bases) {
        let what = path.display().to_string();
        let current = read_opt(&path)?;
        let backup_path = sidecar(&path, BACKUP_SUFFIX);
        let created_path = sidecar(&path, CREATED_SUFFIX);
        let original = read_opt(&backup_path)?;
        let created = created_path.exists();
        let Some(current_bytes) = current.clone() else {
            if original.is_some() || created {
                report.notes.push(format!(
                    "{what} no longer exists; {} kept",
                    if original.is_some() {
                        format!("its backup {} is", backup_path.display())
                    } else {
                        "nothing".to_owned()
                    }
                ));
            }
            continue;
        };
        let current_text = as_text(&current_bytes, &path)?;
        // What install would have produced from the original (with and without --import).
        let matches_install = |orig: Option<&str>| -> bool {
            [false, true].iter().any(|import| {
                let o = Options {
                    import: *import,
                    ..opts.clone()
                };
                transform(agent, format, orig, &o, &what)
                    .is_ok_and(|(text, _)| text == current_text)
            })
        };
        if let Some(orig) = &original {
            let orig_text = std::str::from_utf8(orig).ok();
            if orig_text.is_some() && matches_install(orig_text) {
                plans.push(FileChange {
                    path: path.clone(),
                    before: current,
                    after: Some(orig.clone()),
                });
                cleanup.push(backup_path);
                continue;
            }
        } else if created && matches_install(None) {
            plans.push(FileChange {
                path: path.clone(),
                before: current,
                after: None,
            });
            cleanup.push(created_path);
            continue;
        }
        let stripped = strip(agent, format, current_text, &what)?;
        if stripped != current_text {
            if original.is_some() {
                report.notes.push(format!(
                    "{what} changed since install: removed only Cordon's entry; the original is kept at {}",
                    backup_path.display()
                ));
            } else if created {
                report.notes.push(format!(
                    "{what} changed since Cordon created it: removed only Cordon's entry"
                ));
                cleanup.push(created_path);
            }
            plans.push(FileChange {
                path,
                before: current,
                after: Some(stripped.into_bytes()),
            });
        } else if created {
            cleanup.push(created_path);
        }
    }
    if !opts.dry_run {
        for change in &plans {
            write(&change.path, change.after.as_deref())?;
        }
        for path in &cleanup {
            write(path, None)?;
        }
    }
    report.changes = plans;
    Ok(report)
}
