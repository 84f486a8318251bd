//! The app's windows, created on demand (a tray app shows none at start). Each window has its own
//! label and capability file, so a page can call only the commands it needs.

use tauri::{AppHandle, Manager, WebviewUrl, WebviewWindowBuilder};

/// Label of the approval window (capabilities/approval.json grants it the approval commands).
pub const APPROVAL: &str = "approval";

/// Opens (or focuses) the approval window, on the call `id` when given.
pub fn open_approval(app: &AppHandle, id: Option<&str>) {
    // Ids are checked by the engine; only the URL-safe ones get into the fragment.
    let fragment = id
        .filter(|id| {
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .map(|id| format!("#{id}"))
        .unwrap_or_default();
    let page = format!("approval.html{fragment}");
    open(app, APPROVAL, &page, "Cordon — approval", (980.0, 760.0));
}

/// Label of the settings window (capabilities/settings.json).
pub const SETTINGS: &str = "settings";
/// Label of the evidence viewer (capabilities/evidence.json).
pub const EVIDENCE: &str = "evidence";

/// The windows a launch (or a second launch, forwarded) can ask for with `--show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// The calls waiting for a human.
    Approvals,
    /// Policy, servers, secrets, agents, general settings.
    Settings,
    /// The evidence log viewer.
    Evidence,
}

impl Page {
    /// Parses the `--show` value.
    pub fn parse(name: &str) -> Option<Page> {
        match name {
            "approvals" | "approval" => Some(Page::Approvals),
            "settings" => Some(Page::Settings),
            "evidence" => Some(Page::Evidence),
            _ => None,
        }
    }
}

/// Opens (or focuses) one of the app's windows.
pub fn show(app: &AppHandle, page: Page) {
    match page {
        Page::Approvals => open_approval(app, None),
        Page::Settings => open_settings(app),
        Page::Evidence => open_evidence(app),
    }
}

/// Opens (or focuses) the settings window.
pub fn open_settings(app: &AppHandle) {
    open(
        app,
        SETTINGS,
        "settings.html",
        "Cordon — settings",
        (1100.0, 800.0),
    );
}

/// Opens (or focuses) the evidence viewer.
pub fn open_evidence(app: &AppHandle) {
    open(
        app,
        EVIDENCE,
        "evidence.html",
        "Cordon — evidence",
        (1200.0, 820.0),
    );
}

fn open(app: &AppHandle, label: &str, page: &str, title: &str, size: (f64, f64)) {
    let app2 = app.clone();
    let (label, page, title) = (label.to_owned(), page.to_owned(), title.to_owned());
    // Windows must be created on the main thread (notification actions come from other threads).
    let result = app.run_on_main_thread(move || {
        if let Some(window) = app2.get_webview_window(&label) {
            if let Ok(next) = window.url().map(|url| url.join(&page))
                && let Ok(next) = next
            {
                let _ = window.navigate(next);
            }
            let _ = window.unminimize();
            let _ = window.show();
            let _ = window.set_focus();
            return;
        }
        let built = WebviewWindowBuilder::new(&app2, &label, WebviewUrl::App(page.into()))
            .title(&title)
            .inner_size(size.0, size.1)
            .focused(true)
            .build();
        if let Err(error) = built {
            tracing::warn!(label, "cannot open window: {error}");
        }
    });
    if let Err(error) = result {
        tracing::warn!("cannot reach the main thread: {error}");
    }
}
