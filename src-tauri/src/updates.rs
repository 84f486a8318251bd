//! Opt-in updates: the Tauri updater plugin, with no network check unless the user enabled it.
//!
//! The choice lives in `<app config dir>/updates.json` (`{"enabled": true}`). A missing file means
//! off, and so does an unreadable or malformed one (logged): a security tool does not phone home
//! by default, nor because a settings file got damaged. When enabled, the check at start fetches
//! the update manifest (`latest.json`) from the endpoints in `tauri.conf.json`; the plugin verifies
//! the download's minisign signature against the public key compiled into the app (and, with
//! `requireSignedVersion`, that the signature was made for the announced version) before anything
//! is installed, and nothing is downloaded or installed without the user's yes in a native dialog.
//! A build with no endpoint (local builds: the release workflow injects the real one) reports
//! [`UpdateError::NotConfigured`] instead of checking anything.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tauri::plugin::TauriPlugin;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_dialog::{DialogExt, MessageDialogButtons, MessageDialogKind};
use tauri_plugin_updater::UpdaterExt;

/// The settings file's name in the app's config directory.
pub const SETTINGS_FILE: &str = "updates.json";

/// The user's update choice. The default (and anything unreadable) is off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct UpdateSettings {
    /// Check for a new version when the app starts (and ask before installing it).
    pub enabled: bool,
}

/// Why the settings could not be read or written, or a check did not complete.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// The platform gives the app no config directory.
    #[error("no config directory for Cordon: {0}")]
    ConfigDir(#[source] tauri::Error),
    /// Reading or writing the settings file failed.
    #[error("update settings {}: {source}", path.display())]
    Io {
        /// The settings file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The settings file is not `{"enabled": true|false}`.
    #[error("update settings {}: {source}", path.display())]
    Parse {
        /// The settings file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// This build has no update endpoint (a local build): nothing was checked.
    #[error("updates are not configured in this build (no update endpoint)")]
    NotConfigured,
    /// The check, the download or the signature verification failed: nothing was installed.
    #[error("update failed, nothing was installed: {0}")]
    Updater(#[source] tauri_plugin_updater::Error),
    /// The question to the user could not be shown: nothing was installed.
    #[error("cannot ask before installing, nothing was installed: {0}")]
    Dialog(String),
}

impl From<tauri_plugin_updater::Error> for UpdateError {
    fn from(error: tauri_plugin_updater::Error) -> Self {
        match error {
            tauri_plugin_updater::Error::EmptyEndpoints => Self::NotConfigured,
            other => Self::Updater(other),
        }
    }
}

/// What a check did, for the settings page and the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum CheckOutcome {
    /// The user has not enabled update checks: no request was made.
    Disabled,
    /// The manifest announces no newer version.
    UpToDate,
    /// A newer version exists and the user said not now.
    Declined {
        /// The version offered.
        version: String,
    },
    /// The newer version was downloaded, its signature verified and installed; it runs after a restart.
    Installed {
        /// The version installed.
        version: String,
    },
}

/// The updater plugin, configured from `plugins.updater` in `tauri.conf.json` (public key,
/// endpoints). Registering it makes no network request: only [`check_and_ask`] does.
pub fn plugin<R: Runtime>() -> TauriPlugin<R, tauri_plugin_updater::Config> {
    tauri_plugin_updater::Builder::new().build()
}

/// Where the update choice is stored for this app.
pub fn settings_path<R: Runtime>(app: &AppHandle<R>) -> Result<PathBuf, UpdateError> {
    app.path()
        .app_config_dir()
        .map(|dir| dir.join(SETTINGS_FILE))
        .map_err(UpdateError::ConfigDir)
}

/// Reads the choice: a missing file is the default (off); a damaged one is an error.
pub fn load_settings(path: &Path) -> Result<UpdateSettings, UpdateError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(UpdateSettings::default());
        }
        Err(source) => {
            return Err(UpdateError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    serde_json::from_str(&text).map_err(|source| UpdateError::Parse {
        path: path.to_owned(),
        source,
    })
}

/// Whether a check may run: only an explicit, readable `enabled: true` says yes.
pub fn checks_enabled(path: &Path) -> bool {
    match load_settings(path) {
        Ok(settings) => settings.enabled,
        Err(error) => {
            tracing::warn!("{error}: update checks stay off");
            false
        }
    }
}

/// Stores the choice atomically (`cordon-atomic`: a unique temporary file in the same
/// directory, fsync, rename, fsync of the directory), so a crash never leaves a half-written file.
pub fn save_settings(path: &Path, settings: UpdateSettings) -> Result<(), UpdateError> {
    let io = |source| UpdateError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = path
        .parent()
        .ok_or_else(|| io(std::io::Error::other("no parent directory")))?;
    std::fs::create_dir_all(dir).map_err(io)?;
    let json = serde_json::to_vec_pretty(&settings).map_err(|source| UpdateError::Parse {
        path: path.to_owned(),
        source,
    })?;
    cordon_atomic::write(path, &json, cordon_atomic::Permissions::KeepOrDefault)
        .map_err(|e| io(e.source))
}

/// Checks the update endpoint; when a newer version is announced, asks the user, and only on
/// yes downloads it, verifies its signature (the plugin refuses a bad or missing one) and
/// installs it. Callers decide whether a check may run at all ([`checks_enabled`]); a click on
/// "Check now" is itself that consent.
pub async fn check_and_ask<R: Runtime>(app: &AppHandle<R>) -> Result<CheckOutcome, UpdateError> {
    let Some(update) = app.updater()?.check().await? else {
        return Ok(CheckOutcome::UpToDate);
    };
    let version = update.version.clone();
    let mut question = format!(
        "Cordon {version} is available (you have {}).\n\nInstall it now? Cordon restarts \
         afterwards; calls waiting for approval are denied when it quits.",
        update.current_version
    );
    if let Some(notes) = update
        .body
        .as_deref()
        .filter(|notes| !notes.trim().is_empty())
    {
        question.push_str("\n\n");
        question.push_str(notes.trim());
    }
    let dialog = app.clone();
    let install = tauri::async_runtime::spawn_blocking(move || {
        dialog
            .dialog()
            .message(question)
            .title("Cordon update")
            .kind(MessageDialogKind::Info)
            .buttons(MessageDialogButtons::OkCancelCustom(
                "Install and restart".into(),
                "Not now".into(),
            ))
            .blocking_show()
    })
    .await
    .map_err(|error| UpdateError::Dialog(error.to_string()))?;
    if !install {
        return Ok(CheckOutcome::Declined { version });
    }
    update.download_and_install(|_, _| {}, || {}).await?;
    Ok(CheckOutcome::Installed { version })
}

/// At start: checks in the background if, and only if, the user enabled it; an installed
/// update restarts the app through the normal exit path (the engine shuts down cleanly first).
pub fn check_at_startup<R: Runtime>(app: &AppHandle<R>) {
    let path = match settings_path(app) {
        Ok(path) => path,
        Err(error) => {
            tracing::warn!("{error}: update checks stay off");
            return;
        }
    };
    if !checks_enabled(&path) {
        return;
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        match check_and_ask(&app).await {
            Ok(CheckOutcome::Installed { version }) => {
                tracing::info!(%version, "update installed: restarting");
                app.request_restart();
            }
            Ok(outcome) => tracing::info!(?outcome, "update check"),
            Err(error) => tracing::warn!("{error}"),
        }
    });
}

/// The settings page reads the choice (a damaged file reads as an error, shown to the user).
#[tauri::command]
pub fn get_update_settings<R: Runtime>(app: AppHandle<R>) -> Result<UpdateSettings, String> {
    settings_path(&app)
        .and_then(|path| load_settings(&path))
        .map_err(|error| error.to_string())
}

/// The settings page stores the choice; it applies from the next start (or "Check now").
#[tauri::command]
pub fn set_update_settings<R: Runtime>(
    app: AppHandle<R>,
    enabled: bool,
) -> Result<UpdateSettings, String> {
    let settings = UpdateSettings { enabled };
    settings_path(&app)
        .and_then(|path| save_settings(&path, settings))
        .map(|()| settings)
        .map_err(|error| error.to_string())
}

/// "Check now" on the settings page: one check the user asked for, then the same question
/// before anything is installed. An installed update restarts the app.
#[tauri::command]
pub async fn check_for_updates<R: Runtime>(app: AppHandle<R>) -> Result<CheckOutcome, String> {
    let outcome = check_and_ask(&app)
        .await
        .map_err(|error| error.to_string())?;
    if matches!(outcome, CheckOutcome::Installed { .. }) {
        app.request_restart();
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn missing_file_means_off() {
        let dir = dir();
        let path = dir.path().join(SETTINGS_FILE);
        assert_eq!(
            load_settings(&path).unwrap(),
            UpdateSettings { enabled: false }
        );
        assert!(!checks_enabled(&path));
    }

    #[test]
    fn explicit_opt_in_is_on_and_opt_out_is_off() {
        let dir = dir();
        let path = dir.path().join(SETTINGS_FILE);
        std::fs::write(&path, r#"{"enabled": true}"#).unwrap();
        assert!(checks_enabled(&path));
        std::fs::write(&path, r#"{"enabled": false}"#).unwrap();
        assert!(!checks_enabled(&path));
    }

    #[test]
    fn damaged_or_unexpected_settings_fail_closed() {
        let dir = dir();
        let path = dir.path().join(SETTINGS_FILE);
        for text in [
            "",
            "{",
            "true",
            r#"{"enabled": "yes"}"#,
            r#"{"enabled": 1}"#,
            r#"{"enabled": true, "endpoint": "http://evil.example"}"#,
            "[]",
            r#"{}"#,
        ] {
            std::fs::write(&path, text).unwrap();
            assert!(load_settings(&path).is_err(), "accepted {text:?}");
            assert!(!checks_enabled(&path), "enabled by {text:?}");
        }
    }

    #[test]
    fn a_directory_in_place_of_the_file_is_an_error_and_off() {
        let dir = dir();
        let path = dir.path().join(SETTINGS_FILE);
        std::fs::create_dir(&path).unwrap();
        assert!(matches!(load_settings(&path), Err(UpdateError::Io { .. })));
        assert!(!checks_enabled(&path));
    }

    #[test]
    fn save_creates_the_directory_and_round_trips() {
        let dir = dir();
        let path = dir.path().join("nested/config").join(SETTINGS_FILE);
        save_settings(&path, UpdateSettings { enabled: true }).unwrap();
        assert!(checks_enabled(&path));
        save_settings(&path, UpdateSettings { enabled: false }).unwrap();
        assert!(!checks_enabled(&path));
        // Only the settings file is left behind (no temporary files).
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(SETTINGS_FILE)]);
    }

    #[test]
    fn the_shipped_updater_config_is_signed_https_only() {
        let conf: serde_json::Value =
            serde_json::from_str(include_str!("../tauri.conf.json")).unwrap();
        let config: tauri_plugin_updater::Config =
            serde_json::from_value(conf["plugins"]["updater"].clone()).unwrap();
        assert!(!config.pubkey.trim().is_empty());
        assert!(config.require_signed_version);
        assert!(!config.dangerous_insecure_transport_protocol);
        assert!(!config.dangerous_accept_invalid_certs);
        assert!(!config.dangerous_accept_invalid_hostnames);
        assert!(config.endpoints.iter().all(|url| url.scheme() == "https"));
    }

    #[test]
    fn empty_endpoints_mean_not_configured() {
        let error = UpdateError::from(tauri_plugin_updater::Error::EmptyEndpoints);
        assert!(matches!(error, UpdateError::NotConfigured));
    }

    #[test]
    fn outcomes_serialize_for_the_settings_page() {
        let json = serde_json::to_value(CheckOutcome::Declined {
            version: "0.2.0".into(),
        })
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"outcome": "declined", "version": "0.2.0"})
        );
    }
}
