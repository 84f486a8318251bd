//! The approval window's commands (capabilities/approval.json grants them to that window only).

use cordon_gateway::summary::Review;
use tauri::State;

use crate::core::{Core, Decided, DesktopError};

/// The calls waiting for a human (the approval window's list), each with its summary in words
/// and a warning when its file changed on disk since the hold.
#[tauri::command]
pub fn list_pending(core: State<'_, Core>) -> Result<Vec<Review>, DesktopError> {
    core.reviews()
}

/// The approval window's feed: the pending list and its generation.
#[derive(serde::Serialize, ts_rs::TS)]
pub struct PendingFeed {
    /// Pass it back as `seen` to wait for the next change.
    pub generation: u64,
    /// The calls waiting now, each with its summary in words and a warning when its file
    /// changed on disk since the hold.
    pub approvals: Vec<Review>,
}

/// Longest wait of one `wait_pending` (the window then asks again).
const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The pending list, at once when it changed since generation `seen`, else as soon as it does
/// (a long poll on the engine's change feed: the window follows decisions made anywhere without
/// polling, and its capability needs no event API).
#[tauri::command]
pub async fn wait_pending(
    core: State<'_, Core>,
    seen: Option<u64>,
) -> Result<PendingFeed, DesktopError> {
    let mut changes = core.approval_changes()?;
    let now = *changes.borrow_and_update();
    if seen == Some(now) {
        let _ = tokio::time::timeout(WAIT, changes.changed()).await;
    }
    let generation = *changes.borrow();
    Ok(PendingFeed {
        generation,
        approvals: core.reviews()?,
    })
}

/// One waiting call with everything needed to decide.
#[tauri::command]
pub fn get_approval(core: State<'_, Core>, id: String) -> Result<Review, DesktopError> {
    core.review(&id)
}

/// Approve once, or for the rest of the agent's session.
#[tauri::command]
pub fn approve(
    app: tauri::AppHandle,
    core: State<'_, Core>,
    id: String,
    session: bool,
) -> Result<Decided, DesktopError> {
    let decided = core.approve(&id, session)?;
    crate::refresh_tray(&app, core.inner());
    Ok(decided)
}

/// Deny with an optional reason (shown to the agent, recorded in the evidence).
#[tauri::command]
pub fn deny(
    app: tauri::AppHandle,
    core: State<'_, Core>,
    id: String,
    reason: Option<String>,
) -> Result<Decided, DesktopError> {
    let decided = core.deny(&id, reason.as_deref())?;
    crate::refresh_tray(&app, core.inner());
    Ok(decided)
}
