//! The settings window's commands (capabilities/settings.json): engine status, pause, start at
//! login, the policy editor, servers, reviewer and timeout, secrets and agents.

use cordon_admin::{
    AgentEntry, PolicyDoc, PolicyEvent, Replay, Saved, SecretEntry, ServerEntry, Settings, Status,
    TestRun, Validation,
};
#[cfg(target_os = "linux")]
use tauri::Manager;
use tauri::{AppHandle, State};
use tauri_plugin_autostart::ManagerExt;

use super::blocking;
use crate::core::{Core, DesktopError};

/// Whether the OS starts the app at login (false when it cannot tell).
fn autostart(app: &AppHandle) -> bool {
    app.autolaunch().is_enabled().unwrap_or(false)
}

/// The engine's state for the header of every window and the General page.
#[tauri::command]
pub async fn engine_status(app: AppHandle, core: State<'_, Core>) -> Result<Status, DesktopError> {
    Ok(core.status(autostart(&app)))
}

/// The kill switch: pause every agent (calls refused and recorded) or resume them.
#[tauri::command]
pub async fn set_paused(
    app: AppHandle,
    core: State<'_, Core>,
    paused: bool,
) -> Result<Status, DesktopError> {
    core.set_paused(paused)?;
    crate::refresh_tray(&app, core.inner());
    Ok(core.status(autostart(&app)))
}

/// Starts the app at login, or stops doing so (off by default).
#[tauri::command]
pub async fn set_autostart(
    app: AppHandle,
    core: State<'_, Core>,
    enabled: bool,
) -> Result<Status, DesktopError> {
    // The autostart library creates `~/.config/autostart` but not a missing `~/.config` (a
    // fresh account): make the parents first.
    #[cfg(target_os = "linux")]
    if enabled && let Ok(home) = app.path().home_dir() {
        let dir = home.join(".config").join("autostart");
        std::fs::create_dir_all(&dir)
            .map_err(|e| DesktopError::Io(format!("cannot create {}: {e}", dir.display())))?;
    }
    let launcher = app.autolaunch();
    let result = if enabled {
        launcher.enable()
    } else {
        launcher.disable()
    };
    result.map_err(|e| DesktopError::Io(format!("cannot change start at login: {e}")))?;
    Ok(core.status(autostart(&app)))
}

/// The policy as the editor opens it.
#[tauri::command]
pub async fn policy_get(app: AppHandle) -> Result<PolicyDoc, DesktopError> {
    blocking(&app, move |core| Ok(core.admin().policy_get()?)).await
}

/// Live validation of an edit (errors at their line and column).
#[tauri::command]
pub async fn policy_validate(
    app: AppHandle,
    name: String,
    text: String,
) -> Result<Validation, DesktopError> {
    blocking(&app, move |core| {
        Ok(core.admin().policy_validate(&name, &text)?)
    })
    .await
}

/// The edited policy's own tests.
#[tauri::command]
pub async fn policy_test(
    app: AppHandle,
    name: String,
    text: String,
) -> Result<TestRun, DesktopError> {
    blocking(&app, move |core| {
        Ok(core.admin().policy_test(&name, &text)?)
    })
    .await
}

/// The last `limit` evidence records judged again under the edit: what would change.
#[tauri::command]
pub async fn policy_replay(
    app: AppHandle,
    name: String,
    text: String,
    limit: Option<usize>,
) -> Result<Replay, DesktopError> {
    blocking(&app, move |core| {
        Ok(core.admin().policy_replay(&name, &text, limit)?)
    })
    .await
}

/// Saves a valid edit atomically and swaps it into the running engine; refuses an invalid one.
#[tauri::command]
pub async fn policy_save(
    app: AppHandle,
    name: String,
    text: String,
) -> Result<Saved, DesktopError> {
    blocking(&app, move |core| {
        Ok(core.admin().policy_save(&name, &text)?)
    })
    .await
}

/// Recent reloads and refusals of edits made in other editors.
#[tauri::command]
pub async fn policy_events(core: State<'_, Core>) -> Result<Vec<PolicyEvent>, DesktopError> {
    Ok(core.admin().policy_events())
}

/// Servers, reviewer and timeout as the config file says.
#[tauri::command]
pub async fn config_get(app: AppHandle) -> Result<Settings, DesktopError> {
    blocking(&app, move |core| Ok(core.admin().config_get()?)).await
}

/// Adds or edits an upstream server (applies at the engine's restart).
#[tauri::command]
pub async fn server_save(
    app: AppHandle,
    entry: ServerEntry,
    original_name: Option<String>,
) -> Result<Settings, DesktopError> {
    blocking(&app, move |core| {
        Ok(core.admin().server_save(&entry, original_name.as_deref())?)
    })
    .await
}

/// Removes an upstream server (applies at the engine's restart).
#[tauri::command]
pub async fn server_remove(app: AppHandle, name: String) -> Result<Settings, DesktopError> {
    blocking(&app, move |core| Ok(core.admin().server_remove(&name)?)).await
}

/// Sets the reviewer identity and the approval timeout (apply at the engine's restart).
#[tauri::command]
pub async fn settings_save(
    app: AppHandle,
    reviewer: String,
    approval_timeout_secs: u64,
) -> Result<Settings, DesktopError> {
    blocking(&app, move |core| {
        Ok(core
            .admin()
            .settings_save(&reviewer, approval_timeout_secs)?)
    })
    .await
}

/// Restarts the engine with the config file as it is now (held calls are refused, recorded).
#[tauri::command]
pub async fn restart_engine(app: AppHandle, core: State<'_, Core>) -> Result<Status, DesktopError> {
    core.restart().await?;
    crate::refresh_tray(&app, core.inner());
    Ok(core.status(autostart(&app)))
}

/// Secret names, where they are used, whether the keychain holds them (never values).
#[tauri::command]
pub async fn secrets_list(app: AppHandle) -> Result<Vec<SecretEntry>, DesktopError> {
    blocking(&app, move |core| Ok(core.admin().secrets_list()?)).await
}

/// Stores a secret in the OS keychain; the value is never sent back.
#[tauri::command]
pub async fn secret_set(
    app: AppHandle,
    name: String,
    value: String,
) -> Result<Vec<SecretEntry>, DesktopError> {
    let value = zeroize::Zeroizing::new(value);
    blocking(&app, move |core| {
        Ok(core.admin().secret_set(&name, &value)?)
    })
    .await
}

/// Deletes a secret from the keychain.
#[tauri::command]
pub async fn secret_remove(app: AppHandle, name: String) -> Result<Vec<SecretEntry>, DesktopError> {
    blocking(&app, move |core| Ok(core.admin().secret_remove(&name)?)).await
}

/// The supported agents, whether each is governed, and drift.
#[tauri::command]
pub async fn agents_list(app: AppHandle) -> Result<Vec<AgentEntry>, DesktopError> {
    blocking(&app, move |core| Ok(core.admin().agents_list()?)).await
}

/// Routes an agent through Cordon (its MCP config and hooks).
#[tauri::command]
pub async fn agent_install(app: AppHandle, name: String) -> Result<Vec<AgentEntry>, DesktopError> {
    blocking(&app, move |core| Ok(core.admin().agent_install(&name)?)).await
}

/// Puts an agent's configuration back as it was.
#[tauri::command]
pub async fn agent_uninstall(
    app: AppHandle,
    name: String,
) -> Result<Vec<AgentEntry>, DesktopError> {
    blocking(&app, move |core| Ok(core.admin().agent_uninstall(&name)?)).await
}
