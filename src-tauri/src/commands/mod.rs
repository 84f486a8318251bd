//! Tauri commands: each is one short call into [`crate::core::Core`] or the engine's admin
//! layer (`cordon-admin`), so the logic is tested without a display. Each window's capability
//! file grants exactly the commands of its module.
//!
//! Commands that touch files, the keychain or the evidence log are `async`, so Tauri runs them
//! off the main thread and a slow disk never freezes the windows or the tray.

pub mod approvals;
pub mod evidence;
pub mod settings;

use tauri::{AppHandle, Manager};

use crate::core::{Core, DesktopError};

/// Runs `f` on Tauri's blocking thread pool with the app's [`Core`]: the admin layer does SQLite,
/// keychain and file I/O, which must block neither the main thread nor the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    app: &AppHandle,
    f: impl FnOnce(&Core) -> Result<T, DesktopError> + Send + 'static,
) -> Result<T, DesktopError> {
    let app = app.clone();
    tauri::async_runtime::spawn_blocking(move || match app.try_state::<Core>() {
        Some(core) => f(core.inner()),
        None => Err(DesktopError::NotRunning),
    })
    .await
    .map_err(|e| DesktopError::Engine(format!("the command failed: {e}")))?
}
