//! Linux (XDG over D-Bus) and Windows (WinRT toasts), both through notify-rust.
//!
//! On Linux every bubble waits for its action on its own thread and can be withdrawn from
//! outside ([`withdraw`]): the thread holds the handle and closes it (`CloseNotification`) when
//! its call was decided elsewhere. The group bubble is replaced in place (the daemon's id is
//! reused) as its count changes; `bubbles` owns the order in which that happens.

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
            note.action("default", "View");
            None
        }
    };
    let app = app.clone();
    // The slot is taken in the order the steps come, before the thread runs: a bubble that a
    // newer one superseded or a withdrawal overtook is then never sent (see `bubbles`).
    #[cfg(not(windows))]
    let ticket = bubbles::reserve(id.as_deref());
    let spawned = std::thread::Builder::new()
        .name("cordon-notification".into())
        .spawn(move || {
            #[cfg(not(windows))]
            if let Some((handle, orders)) = bubbles::send(note, id.as_deref(), ticket)
                && let Some(action) = bubbles::wait(handle, orders, id.as_deref(), ticket)
            {
                act(&app, &action, id.as_deref());
            }
            #[cfg(windows)]
            match note.show() {
                Ok(handle) => {
                    use notify_rust::NotificationResponse;
                    let _ =
                        handle.wait_for_response(
                            |response: &NotificationResponse| match response {
                                NotificationResponse::Action(action) => {
                                    act(&app, action, id.as_deref())
                                }
                                NotificationResponse::Default => act(&app, "view", id.as_deref()),
                                _ => {}
                            },
                        );
                }
                // The tray's count and menu still show the held call.
                Err(error) => tracing::warn!("cannot show a notification: {error}"),
            }
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

/// The bubbles on screen, by approval id (the group under the empty key).
///
/// Bubbles are sent one at a time (`SENDING`), each only if it is still the newest for its key
/// and not withdrawn, and a group bubble replaces the one on screen in place (the daemon's id
/// reused). Sending in parallel let two group bubbles race: the newer one, sent before the
/// daemon had answered for the older, became a second bubble and the older stayed on screen
/// after every call was decided.
#[cfg(not(windows))]
mod bubbles {
    use std::sync::{Mutex, MutexGuard, OnceLock};

    use notify_rust::{Notification, NotificationHandle, NotificationResponse};
    use tokio::sync::oneshot;

    pub use slots::{Dispatch, Order, Shown, Slots};

    fn lock<T>(mutex: &'static Mutex<T>) -> MutexGuard<'static, T> {
        match mutex.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn table() -> MutexGuard<'static, Slots> {
        static TABLE: OnceLock<Mutex<Slots>> = OnceLock::new();
        lock(TABLE.get_or_init(Mutex::default))
    }

    /// Held while a bubble is sent and recorded: the next one then knows which bubble it replaces.
    fn sending() -> MutexGuard<'static, ()> {
        static SENDING: Mutex<()> = Mutex::new(());
        lock(&SENDING)
    }

    /// Takes the newest ticket of `id` (None: the group) for a bubble about to be sent.
    pub fn reserve(id: Option<&str>) -> u64 {
        table().reserve(id.unwrap_or_default())
    }

    /// Closes the bubble of `id` (None: the group) and any of its bubbles still being sent.
    pub fn withdraw(id: Option<&str>) {
        table().withdraw(id.unwrap_or_default());
    }

    /// Sends the bubble reserved with `ticket` unless a newer one or a withdrawal overtook it;
    /// returns its handle and the channel of orders for its waiting thread.
    pub fn send(
        mut note: Notification,
        id: Option<&str>,
        ticket: u64,
    ) -> Option<(NotificationHandle, oneshot::Receiver<Order>)> {
        let key = id.unwrap_or_default();
        let _sending = sending();
        match table().before_send(key, ticket) {
            Dispatch::Skip => return None,
            Dispatch::Show { replaces } => {
                if let Some(shown) = replaces {
                    note.id(shown);
                }
            }
        }
        let handle = match note.show() {
            Ok(handle) => handle,
            Err(error) => {
                // The tray's count and menu still show the held call.
                tracing::warn!("cannot show a notification: {error}");
                return None;
            }
        };
        let shown = table().shown(key, ticket, handle.id());
        match shown {
            Shown::Wait(orders) => Some((handle, orders)),
            Shown::Close => {
                tauri::async_runtime::block_on(handle.close_async());
                None
            }
        }
    }

    /// Waits for the user's action or an order; returns the action to carry out (None: closed,
    /// withdrawn or replaced).
    pub fn wait(
        handle: NotificationHandle,
        orders: oneshot::Receiver<Order>,
        id: Option<&str>,
        ticket: u64,
    ) -> Option<String> {
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
                table().gone(id.unwrap_or_default(), ticket);
                chosen
            }
        }
    }

    /// The bookkeeping alone, without D-Bus, so every interleaving can be tested.
    mod slots {
        use std::collections::HashMap;

        use tokio::sync::oneshot;

        /// What a bubble's waiting thread is told.
        #[derive(Debug, PartialEq)]
        pub enum Order {
            /// Close the bubble: its call was decided, or a newer bubble did not take its place.
            Close,
            /// Stop waiting: a newer bubble took its place on screen.
            Replaced,
        }

        /// Whether a reserved bubble is still to be sent.
        #[derive(Debug, PartialEq)]
        pub enum Dispatch {
            /// A newer bubble or a withdrawal overtook it.
            Skip,
            /// Send it, in place of the daemon's bubble `replaces` if one is on screen.
            Show { replaces: Option<u32> },
        }

        /// What to do with a bubble the daemon just showed.
        #[derive(Debug)]
        pub enum Shown {
            /// It is on screen: wait for the user or an order.
            Wait(oneshot::Receiver<Order>),
            /// It was withdrawn while being sent: close it.
            Close,
        }

        struct OnScreen {
            ticket: u64,
            daemon_id: u32,
            order: oneshot::Sender<Order>,
        }

        struct Slot {
            /// The newest reservation: the only one still worth sending.
            newest: u64,
            /// Reservations up to this one belong to a decided call (or an emptied group).
            withdrawn_upto: u64,
            on_screen: Option<OnScreen>,
        }

        /// Every key's slot; a withdrawal removes the slot.
        #[derive(Default)]
        pub struct Slots {
            slots: HashMap<String, Slot>,
            tickets: u64,
        }

        impl Slots {
            /// A new ticket for `key`, newer than every other.
            pub fn reserve(&mut self, key: &str) -> u64 {
                self.tickets += 1;
                let ticket = self.tickets;
                let slot = self.slots.entry(key.to_owned()).or_insert(Slot {
                    newest: ticket,
                    withdrawn_upto: ticket - 1,
                    on_screen: None,
                });
                slot.newest = ticket;
                ticket
            }

            /// Called while no other bubble is being sent.
            pub fn before_send(&self, key: &str, ticket: u64) -> Dispatch {
                match self.slots.get(key) {
                    Some(slot) if slot.newest == ticket && ticket > slot.withdrawn_upto => {
                        Dispatch::Show {
                            replaces: slot.on_screen.as_ref().map(|b| b.daemon_id),
                        }
                    }
                    _ => Dispatch::Skip,
                }
            }

            /// Records the bubble the daemon showed (still while no other is being sent). The
            /// one it was meant to replace stops waiting, or is closed if the daemon made a new
            /// bubble instead (the old one had been closed meanwhile).
            pub fn shown(&mut self, key: &str, ticket: u64, daemon_id: u32) -> Shown {
                let Some(slot) = self.slots.get_mut(key) else {
                    return Shown::Close;
                };
                if ticket <= slot.withdrawn_upto {
                    return Shown::Close;
                }
                let (order, orders) = oneshot::channel();
                let now = OnScreen {
                    ticket,
                    daemon_id,
                    order,
                };
                if let Some(older) = slot.on_screen.replace(now) {
                    let _ = older.order.send(if older.daemon_id == daemon_id {
                        Order::Replaced
                    } else {
                        Order::Close
                    });
                }
                Shown::Wait(orders)
            }

            /// Closes what `key` shows and skips what is being sent for it.
            pub fn withdraw(&mut self, key: &str) {
                if let Some(slot) = self.slots.remove(key)
                    && let Some(bubble) = slot.on_screen
                {
                    let _ = bubble.order.send(Order::Close);
                }
            }

            /// The user answered or dismissed the bubble of `ticket`: it is off screen.
            pub fn gone(&mut self, key: &str, ticket: u64) {
                if let Some(slot) = self.slots.get_mut(key)
                    && slot.on_screen.as_ref().is_some_and(|b| b.ticket == ticket)
                {
                    slot.on_screen = None;
                }
            }
        }

        #[cfg(test)]
        mod tests {
            use super::*;

            fn wait(shown: Shown) -> oneshot::Receiver<Order> {
                match shown {
                    Shown::Wait(orders) => orders,
                    Shown::Close => panic!("the bubble was closed"),
                }
            }

            #[test]
            fn a_newer_group_bubble_replaces_one_whose_daemon_answer_came_late() {
                let mut slots = Slots::default();
                let first = slots.reserve("");
                assert_eq!(
                    slots.before_send("", first),
                    Dispatch::Show { replaces: None }
                );
                // The count changes while the first bubble is still being sent.
                let second = slots.reserve("");
                let mut first_orders = wait(slots.shown("", first, 7));
                assert_eq!(
                    slots.before_send("", second),
                    Dispatch::Show { replaces: Some(7) }
                );
                let mut second_orders = wait(slots.shown("", second, 7));
                assert_eq!(first_orders.try_recv(), Ok(Order::Replaced));
                slots.withdraw("");
                assert_eq!(second_orders.try_recv(), Ok(Order::Close));
            }

            #[test]
            fn a_superseded_bubble_is_never_sent() {
                let mut slots = Slots::default();
                let first = slots.reserve("");
                let second = slots.reserve("");
                assert_eq!(slots.before_send("", first), Dispatch::Skip);
                assert_eq!(
                    slots.before_send("", second),
                    Dispatch::Show { replaces: None }
                );
            }

            #[test]
            fn a_bubble_withdrawn_while_being_sent_is_closed_when_it_appears() {
                let mut slots = Slots::default();
                let ticket = slots.reserve("call-1");
                assert_eq!(
                    slots.before_send("call-1", ticket),
                    Dispatch::Show { replaces: None }
                );
                slots.withdraw("call-1");
                assert!(matches!(slots.shown("call-1", ticket, 3), Shown::Close));
                // Withdrawn before it was sent: not sent at all.
                let later = slots.reserve("call-2");
                slots.withdraw("call-2");
                assert_eq!(slots.before_send("call-2", later), Dispatch::Skip);
            }

            #[test]
            fn a_new_group_after_a_withdrawal_does_not_adopt_the_old_bubble() {
                let mut slots = Slots::default();
                let old = slots.reserve("");
                assert_eq!(
                    slots.before_send("", old),
                    Dispatch::Show { replaces: None }
                );
                slots.withdraw("");
                let new = slots.reserve("");
                assert!(matches!(slots.shown("", old, 4), Shown::Close));
                assert_eq!(
                    slots.before_send("", new),
                    Dispatch::Show { replaces: None }
                );
            }

            #[test]
            fn a_bubble_the_daemon_did_not_replace_in_place_is_closed() {
                let mut slots = Slots::default();
                let first = slots.reserve("");
                let mut first_orders = wait(slots.shown("", first, 5));
                let second = slots.reserve("");
                assert_eq!(
                    slots.before_send("", second),
                    Dispatch::Show { replaces: Some(5) }
                );
                let _second_orders = wait(slots.shown("", second, 6));
                assert_eq!(first_orders.try_recv(), Ok(Order::Close));
            }

            #[test]
            fn after_the_user_answered_the_next_bubble_is_a_new_one() {
                let mut slots = Slots::default();
                let first = slots.reserve("");
                let mut first_orders = wait(slots.shown("", first, 5));
                slots.gone("", first);
                let second = slots.reserve("");
                assert_eq!(
                    slots.before_send("", second),
                    Dispatch::Show { replaces: None }
                );
                let _second_orders = wait(slots.shown("", second, 8));
                assert!(first_orders.try_recv().is_err());
            }
        }
    }
}
