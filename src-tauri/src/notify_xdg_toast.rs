//! Linux (XDG over D-Bus) and Windows (WinRT toasts), both through notify-rust.
//!
//! On Linux every bubble waits for its action on its own thread and can be withdrawn from
//! outside ([`withdraw`]): the thread holds the handle and closes it (`CloseNotification`) when
//! its call was decided elsewhere. The group bubble is replaced in place (the daemon's id is
//! reused) as its count changes.

use notify_rust::{Notification, Timeout, Urgency};
use tauri::AppHandle;

use super::{act, text};
use crate::watch::Notice;

/// Shows the notice and waits (on its own thread) for the user's action.
pub fn show(app: &AppHandle, notice: Notice) {
    let (summary, body) = text(&notice);
    let mut note = Notification::new();
    note.appname("Cordon")
        .summary(&summary)
        .body(&body)
        .icon("dialog-warning")
        .urgency(Urgency::Critical)
        .timeout(Timeout::Never);
    // Windows attributes a toast to an AppUserModelID: the bundle identifier the installer
    // registers for the app's Start menu entry (else it would show under PowerShell).
    #[cfg(windows)]
    note.app_id(&app.config().identifier);
    let id = match &notice {
        Notice::One(p) => {
            note.action("approve", "Approve")
                .action("deny", "Deny")
                .action("view", "View");
            // XDG: "default" is the click on the bubble. On Windows every action is a button,
            // and a click on the toast comes back as its own response (see below).
            #[cfg(not(windows))]
            note.action("default", "View");
            Some(p.id.clone())
        }
        Notice::Many { .. } => {
            note.action("view", "View");
            #[cfg(not(windows))]
            {
                note.action("default", "View");
                // Replace the group bubble in place when one is shown.
                if let Some(shown) = bubbles::daemon_id(None) {
                    note.id(shown);
                }
            }
            None
        }
    };
    let app = app.clone();
    let spawned = std::thread::Builder::new()
        .name("cordon-notification".into())
        .spawn(move || match note.show() {
            #[cfg(not(windows))]
            Ok(handle) => {
                if let Some(action) = bubbles::wait(handle, id.as_deref()) {
                    act(&app, &action, id.as_deref());
                }
            }
            #[cfg(windows)]
            Ok(handle) => {
                use notify_rust::NotificationResponse;
                let _ =
                    handle.wait_for_response(|response: &NotificationResponse| match response {
                        NotificationResponse::Action(action) => act(&app, action, id.as_deref()),
                        NotificationResponse::Default => act(&app, "view", id.as_deref()),
                        _ => {}
                    });
            }
            // The tray's count and menu still show the held call.
            Err(error) => tracing::warn!("cannot show a notification: {error}"),
        });
    if let Err(error) = spawned {
        tracing::warn!("cannot start the notification thread: {error}");
    }
}

/// Withdraws the bubble of a decided call (`None`: the group bubble). Windows toasts stay in
/// the Action Center until dismissed (their buttons then answer "already decided").
pub fn withdraw(id: Option<&str>) {
    #[cfg(not(windows))]
    bubbles::withdraw(id);
    #[cfg(windows)]
    let _ = id;
}

/// The bubbles on screen, by approval id (the group under the empty key), each with the daemon's
/// id and a channel to its waiting thread.
#[cfg(not(windows))]
mod bubbles {
    use std::collections::HashMap;
    use std::sync::{Mutex, MutexGuard, OnceLock};

    use notify_rust::{NotificationHandle, NotificationResponse};
    use tokio::sync::oneshot;

    /// What a bubble's thread is told: close the bubble (its call was decided elsewhere), or
    /// stop waiting because a newer bubble replaced it in place (the group).
    enum Order {
        Close,
        Replaced,
    }

    struct Bubble {
        daemon_id: u32,
        order: oneshot::Sender<Order>,
    }

    fn table() -> MutexGuard<'static, HashMap<String, Bubble>> {
        static TABLE: OnceLock<Mutex<HashMap<String, Bubble>>> = OnceLock::new();
        let table = TABLE.get_or_init(Mutex::default);
        match table.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn key(id: Option<&str>) -> String {
        id.unwrap_or_default().to_owned()
    }

    /// The daemon's id of the bubble shown for `id` (None: the group), if one is shown.
    pub fn daemon_id(id: Option<&str>) -> Option<u32> {
        table().get(&key(id)).map(|b| b.daemon_id)
    }

    /// Closes the bubble of `id` (None: the group), if one is shown.
    pub fn withdraw(id: Option<&str>) {
        if let Some(bubble) = table().remove(&key(id)) {
            let _ = bubble.order.send(Order::Close);
        }
    }

    /// Registers the bubble, then waits for the user's action or an order from [`withdraw`].
    /// Returns the action to carry out (None: closed, withdrawn or replaced).
    pub fn wait(handle: NotificationHandle, id: Option<&str>) -> Option<String> {
        let daemon_id = handle.id();
        let (order, orders) = oneshot::channel();
        if let Some(older) = table().insert(key(id), Bubble { daemon_id, order }) {
            let _ = older.order.send(Order::Replaced);
        }
        let mut chosen: Option<String> = None;
        let ordered = tauri::async_runtime::block_on(async {
            tokio::select! {
                () = handle.wait_for_action_async(|response| {
                    chosen = match response {
                        NotificationResponse::Default => Some("default".to_owned()),
                        NotificationResponse::Action(action) => Some(action.clone()),
                        _ => None,
                    };
                }) => None,
                order = orders => Some(order),
            }
        });
        match ordered {
            Some(Ok(Order::Close)) => {
                tauri::async_runtime::block_on(handle.close_async());
                None
            }
            Some(Ok(Order::Replaced) | Err(_)) => None,
            None => {
                // Answered or closed by the user: forget it, unless a newer bubble took the slot.
                let mut table = table();
                if table
                    .get(&key(id))
                    .is_some_and(|b| b.daemon_id == daemon_id)
                {
                    table.remove(&key(id));
                }
                chosen
            }
        }
    }
}
