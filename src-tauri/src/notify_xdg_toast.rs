//! Linux (XDG over D-Bus) and Windows (WinRT toasts), both through notify-rust.

use notify_rust::{Notification, Timeout, Urgency};
use tauri::AppHandle;

use super::{act, text};
use crate::watch::Notice;

/// One replaceable slot for group notifications, so a burst updates one bubble instead of
/// stacking many.
const GROUP_ID: u32 = 0x00C0_4D0E;

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
            note.id(GROUP_ID).action("view", "View");
            #[cfg(not(windows))]
            note.action("default", "View");
            None
        }
    };
    let app = app.clone();
    let spawned = std::thread::Builder::new()
        .name("cordon-notification".into())
        .spawn(move || match note.show() {
            #[cfg(not(windows))]
            Ok(handle) => handle.wait_for_action(|action| act(&app, action, id.as_deref())),
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
