//! The app's windows, created on demand (a tray app shows none at start).

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

/// Opens (or focuses) a placeholder window for a part of the app still to come.
pub fn open_placeholder(app: &AppHandle, label: &str, title: &str) {
    open(app, label, &format!("{label}.html"), title, (640.0, 420.0));
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
