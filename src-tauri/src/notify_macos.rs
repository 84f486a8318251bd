//! macOS: UNUserNotificationCenter with a notification category carrying Approve, Deny and View.
//!
//! The center calls back on a delegate object (an Objective-C class defined here) with the
//! action's identifier and the request's identifier, which is the approval's id. macOS allows
//! UNUserNotificationCenter only to a bundled app (the signed Cordon.app of the dmg); a binary
//! run outside a bundle has no bundle identifier, and then the approval window opens instead.
// Reason: an Objective-C delegate class (objc2's define_class!) needs `unsafe impl` and
// `#[unsafe(method(...))]`; nothing else in this module is unsafe.
#![allow(unsafe_code)]

use std::sync::OnceLock;

use block2::RcBlock;
use objc2::rc::Retained;
use objc2::runtime::{Bool, ProtocolObject};
use objc2::{AllocAnyThread, define_class, msg_send};
use objc2_foundation::{NSArray, NSBundle, NSError, NSObject, NSObjectProtocol, NSSet, NSString};
use objc2_user_notifications::{
    UNAuthorizationOptions, UNMutableNotificationContent, UNNotification, UNNotificationAction,
    UNNotificationActionOptions, UNNotificationCategory, UNNotificationCategoryOptions,
    UNNotificationPresentationOptions, UNNotificationRequest, UNNotificationResponse,
    UNUserNotificationCenter, UNUserNotificationCenterDelegate,
};
use tauri::AppHandle;

use super::{act, text};
use crate::watch::Notice;

/// The category of a single held call (Approve, Deny, View).
const CATEGORY_ONE: &str = "cordon-approval";
/// The category of a burst (View only).
const CATEGORY_MANY: &str = "cordon-approvals";
/// The request id of a burst notification: one replaceable banner.
const GROUP_REQUEST: &str = "cordon-group";
/// Apple's identifiers for a click on the banner and for dismissing it.
const DEFAULT_ACTION: &str = "com.apple.UNNotificationDefaultActionIdentifier";
const DISMISS_ACTION: &str = "com.apple.UNNotificationDismissActionIdentifier";

/// The app, for the delegate's callbacks (set once, on the first notification).
static APP: OnceLock<AppHandle> = OnceLock::new();
/// Whether the center is usable (a bundled app) and set up: categories and delegate registered.
static READY: OnceLock<bool> = OnceLock::new();

define_class!(
    // SAFETY: NSObject has no subclassing requirements; the class holds no instance variables.
    #[unsafe(super(NSObject))]
    #[name = "CordonNotificationDelegate"]
    struct Delegate;

    unsafe impl NSObjectProtocol for Delegate {}

    unsafe impl UNUserNotificationCenterDelegate for Delegate {
        /// The user chose an action (or clicked, or dismissed): approve / deny / open the window.
        #[unsafe(method(userNotificationCenter:didReceiveNotificationResponse:withCompletionHandler:))]
        fn did_receive(
            &self,
            _center: &UNUserNotificationCenter,
            response: &UNNotificationResponse,
            completion_handler: &block2::DynBlock<dyn Fn()>,
        ) {
            let action = response.actionIdentifier().to_string();
            let request = response.notification().request().identifier().to_string();
            respond(&action, &request);
            completion_handler.call(());
        }

        /// Show the banner even while Cordon is the active app.
        #[unsafe(method(userNotificationCenter:willPresentNotification:withCompletionHandler:))]
        fn will_present(
            &self,
            _center: &UNUserNotificationCenter,
            _notification: &UNNotification,
            completion_handler: &block2::DynBlock<dyn Fn(UNNotificationPresentationOptions)>,
        ) {
            completion_handler.call((UNNotificationPresentationOptions::Banner
                | UNNotificationPresentationOptions::List
                | UNNotificationPresentationOptions::Sound,));
        }
    }
);

impl Delegate {
    fn new() -> Retained<Self> {
        let this = Self::alloc().set_ivars(());
        // SAFETY: NSObject's designated initialiser on a freshly allocated instance.
        unsafe { msg_send![super(this), init] }
    }
}

/// Maps Apple's action identifiers to Cordon's and carries the action out.
fn respond(action: &str, request: &str) {
    let Some(app) = APP.get() else {
        return;
    };
    let id = (request != GROUP_REQUEST).then_some(request);
    match action {
        DISMISS_ACTION => {} // the call stays pending until its timeout
        DEFAULT_ACTION => act(app, "view", id),
        other => act(app, other, id),
    }
}

/// Registers the categories and the delegate and asks for permission, once. False when the
/// process is not a bundled app (macOS would raise an exception on the center).
fn ready() -> bool {
    *READY.get_or_init(|| {
        let bundled = NSBundle::mainBundle().bundleIdentifier().is_some();
        if !bundled {
            tracing::warn!(
                "not running from an app bundle: notifications open the approval window"
            );
            return false;
        }
        let center = UNUserNotificationCenter::currentNotificationCenter();
        let action = |id: &str, title: &str, options: UNNotificationActionOptions| {
            UNNotificationAction::actionWithIdentifier_title_options(
                &NSString::from_str(id),
                &NSString::from_str(title),
                options,
            )
        };
        // Approve and Deny need the Mac unlocked (AuthenticationRequired): a passer-by at a
        // locked screen cannot decide; View brings the window forward.
        let approve = action(
            "approve",
            "Approve",
            UNNotificationActionOptions::AuthenticationRequired,
        );
        let deny = action(
            "deny",
            "Deny",
            UNNotificationActionOptions::AuthenticationRequired
                | UNNotificationActionOptions::Destructive,
        );
        let view = action("view", "View", UNNotificationActionOptions::Foreground);
        let one = UNNotificationCategory::categoryWithIdentifier_actions_intentIdentifiers_options(
            &NSString::from_str(CATEGORY_ONE),
            &NSArray::from_retained_slice(&[approve, deny, view.clone()]),
            &NSArray::new(),
            UNNotificationCategoryOptions::CustomDismissAction,
        );
        let many = UNNotificationCategory::categoryWithIdentifier_actions_intentIdentifiers_options(
            &NSString::from_str(CATEGORY_MANY),
            &NSArray::from_retained_slice(&[view]),
            &NSArray::new(),
            UNNotificationCategoryOptions::empty(),
        );
        center.setNotificationCategories(&NSSet::from_retained_slice(&[one, many]));
        // The center holds its delegate weakly: it lives as long as the app.
        let delegate = Delegate::new();
        center.setDelegate(Some(ProtocolObject::from_ref(&*delegate)));
        std::mem::forget(delegate);
        let asked = RcBlock::new(|granted: Bool, _error: *mut NSError| {
            if !granted.as_bool() {
                tracing::warn!("notifications are not allowed for Cordon (System Settings)");
            }
        });
        center.requestAuthorizationWithOptions_completionHandler(
            UNAuthorizationOptions::Alert | UNAuthorizationOptions::Sound,
            &asked,
        );
        true
    })
}

/// Shows the notice (a banner with the category's buttons), or opens the approval window where
/// macOS gives no notification center.
pub fn show(app: &AppHandle, notice: Notice) {
    let _ = APP.set(app.clone());
    let (summary, body) = text(&notice);
    let (request_id, category) = match &notice {
        Notice::One(p) => (p.id.clone(), CATEGORY_ONE),
        Notice::Many { .. } => (GROUP_REQUEST.to_owned(), CATEGORY_MANY),
    };
    if !ready() {
        let id = (request_id != GROUP_REQUEST).then_some(request_id.as_str());
        act(app, "view", id);
        return;
    }
    let content = UNMutableNotificationContent::new();
    content.setTitle(&NSString::from_str(&summary));
    content.setBody(&NSString::from_str(&body));
    content.setCategoryIdentifier(&NSString::from_str(category));
    let request = UNNotificationRequest::requestWithIdentifier_content_trigger(
        &NSString::from_str(&request_id),
        &content,
        None,
    );
    let app = app.clone();
    let added = RcBlock::new(move |error: *mut NSError| {
        if !error.is_null() {
            tracing::warn!("cannot show a notification: opening the approval window");
            let id = (request_id != GROUP_REQUEST).then_some(request_id.as_str());
            act(&app, "view", id);
        }
    });
    UNUserNotificationCenter::currentNotificationCenter()
        .addNotificationRequest_withCompletionHandler(&request, Some(&added));
}

/// Withdraws the banner of a decided call (`None`: the group banner) from the screen and the
/// Notification Center.
pub fn withdraw(id: Option<&str>) {
    if READY.get() != Some(&true) {
        return;
    }
    let request = NSString::from_str(id.unwrap_or(GROUP_REQUEST));
    let ids = NSArray::from_retained_slice(&[request]);
    let center = UNUserNotificationCenter::currentNotificationCenter();
    center.removeDeliveredNotificationsWithIdentifiers(&ids);
    center.removePendingNotificationRequestsWithIdentifiers(&ids);
}
