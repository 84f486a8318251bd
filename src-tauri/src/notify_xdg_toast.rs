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
    // The slot is taken before the bubble is sent: a withdrawal that arrives while the daemon
    // is still being asked is then kept for the bubble instead of being lost.
    #[cfg(not(windows))]
    let ticket = bubbles::reserve(id.as_deref());
    let spawned = std::thread::Builder::new()
        .name("cordon-notification".into())
        .spawn(move || match note.show() {
            #[cfg(not(windows))]
            Ok(handle) => {
                if let Some(action) = bubbles::wait(handle, id.as_deref(), ticket) {
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
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Mutex, MutexGuard, OnceLock};

    use notify_rust::{NotificationHandle, NotificationResponse};
    use tokio::sync::oneshot;

    /// What a bubble's thread is told: close the bubble (its call was decided elsewhere), or
    /// stop waiting because a newer bubble replaced it in place (the group).
    enum Order {
        Close,
        Replaced,
    }

    /// A slot: taken by [`reserve`] before the bubble is sent, filled by [`wait`] once the
    /// daemon answered. A withdrawal in between is remembered (`withdrawn`) and carried out as
    /// soon as the bubble exists: otherwise a bubble whose call was decided while it was being
    /// shown stayed on screen (and a group bubble replaced in place could come back after its
    /// close, the two D-Bus messages racing).
    struct Bubble {
        /// Which [`reserve`] the slot belongs to: a newer one replaced this bubble.
        ticket: u64,
        daemon_id: Option<u32>,
        order: Option<oneshot::Sender<Order>>,
        withdrawn: bool,
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
        table().get(&key(id)).and_then(|b| b.daemon_id)
    }

    /// Takes the slot of `id` (None: the group) for a bubble about to be sent; an older bubble
    /// in it (the group's, replaced in place) stops waiting. Returns the ticket for [`wait`].
    pub fn reserve(id: Option<&str>) -> u64 {
        static TICKETS: AtomicU64 = AtomicU64::new(1);
        let ticket = TICKETS.fetch_add(1, Ordering::Relaxed);
        let mut table = table();
        let slot = table.entry(key(id)).or_insert(Bubble {
            ticket,
            daemon_id: None,
            order: None,
            withdrawn: false,
        });
        if let Some(older) = slot.order.take() {
            let _ = older.send(Order::Replaced);
        }
        slot.ticket = ticket;
        slot.withdrawn = false;
        ticket
    }

    /// Closes the bubble of `id` (None: the group): at once if it is shown, else as soon as the
    /// bubble being sent exists.
    pub fn withdraw(id: Option<&str>) {
        let mut table = table();
        let Some(slot) = table.get_mut(&key(id)) else {
            return;
        };
        match slot.order.take() {
            Some(order) => {
                table.remove(&key(id));
                let _ = order.send(Order::Close);
            }
            None => slot.withdrawn = true,
        }
    }

    /// Fills the slot taken with `ticket`, then waits for the user's action or an order from
    /// [`withdraw`]. Returns the action to carry out (None: closed, withdrawn or replaced).
    pub fn wait(handle: NotificationHandle, id: Option<&str>, ticket: u64) -> Option<String> {
        let daemon_id = handle.id();
        let (order, orders) = oneshot::channel();
        let withdrawn = {
            let mut table = table();
            match table.get_mut(&key(id)) {
                // A newer bubble took the slot (it reuses this one's place): nothing to do.
                Some(slot) if slot.ticket != ticket => return None,
                Some(slot) if slot.withdrawn => {
                    table.remove(&key(id));
                    true
                }
                Some(slot) => {
                    slot.daemon_id = Some(daemon_id);
                    slot.order = Some(order);
                    false
                }
                // Withdrawn and forgotten already: the call was decided.
                None => true,
            }
        };
        if withdrawn {
            tauri::async_runtime::block_on(handle.close_async());
            return None;
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
                if table.get(&key(id)).is_some_and(|b| b.ticket == ticket) {
                    table.remove(&key(id));
                }
                chosen
            }
        }
    }
}
