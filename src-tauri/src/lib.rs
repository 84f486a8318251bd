//! Cordon's desktop app: a thin Tauri tray shell around the engine, hosted in-process.
//!
//! Module map: [`core`] (the engine in app state, the command logic and its error type),
//! [`watch`] (new held calls and burst grouping), [`notify`] (native notifications),
//! [`windows`] (approval and placeholder windows), [`commands`] (the Tauri commands).
//! Everything that decides lives in the engine; this crate only shows and forwards.

pub mod commands;
pub mod core;
pub mod notify;
pub mod watch;
pub mod windows;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cordon_gateway::{Config, Engine};
use tauri::image::Image;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, RunEvent};

use crate::core::Core;
use crate::watch::Watch;

/// How often the pending list is polled (the engine has no notification stream yet).
pub const POLL_INTERVAL: Duration = Duration::from_millis(300);

const TRAY_ID: &str = "cordon";
const ICON: &[u8] = include_bytes!("../icons/tray.png");
const ICON_PENDING: &[u8] = include_bytes!("../icons/tray-pending.png");

/// The command line: `cordon-desktop [--config FILE] [--show-approvals]`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Args {
    /// `--config FILE` (else `CORDON_CONFIG`, else the default config path).
    pub config: Option<PathBuf>,
    /// Open the approval window at start (also what a second launch forwards).
    pub show_approvals: bool,
}

/// Parses the arguments after the program name; unknown ones are errors (never ignored).
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Args, String> {
    let mut parsed = Args::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" => {
                let path = args.next().ok_or("--config needs a file")?;
                parsed.config = Some(PathBuf::from(path));
            }
            "--show-approvals" => parsed.show_approvals = true,
            "-h" | "--help" => {
                return Err("usage: cordon-desktop [--config FILE] [--show-approvals]".into());
            }
            other => match other.strip_prefix("--config=") {
                Some(path) if !path.is_empty() => parsed.config = Some(PathBuf::from(path)),
                _ => return Err(format!("unknown argument `{other}`")),
            },
        }
    }
    Ok(parsed)
}

/// Runs the tray app until Quit. Refuses to start (exit code 1) when the engine cannot start:
/// no silent fallback to an ungoverned state.
pub fn run() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CORDON_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("cordon-desktop: {message}");
            return ExitCode::from(2);
        }
    };
    let config = match Config::resolve(args.config.clone()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("cordon-desktop: {error}");
            return ExitCode::FAILURE;
        }
    };
    let show_at_start = args.show_approvals;

    let app = tauri::Builder::default()
        // Must be the first plugin: a second launch hands its arguments here and exits.
        .plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            let forwarded = parse_args(argv.into_iter().skip(1)).unwrap_or_default();
            if forwarded.config.is_some() {
                tracing::warn!(
                    "a second launch asked for another config: ignored (one engine per user)"
                );
            }
            windows::open_approval(app, None);
        }))
        .invoke_handler(tauri::generate_handler![
            commands::list_pending,
            commands::get_approval,
            commands::approve,
            commands::deny
        ])
        .setup(move |app| {
            let engine = tauri::async_runtime::block_on(Engine::start(config))?;
            tracing::info!(socket = %engine.config().socket.display(), "engine started in-process");
            app.manage(Core::new(engine));
            build_tray(app.handle())?;
            start_polling(app.handle().clone());
            quit_on_signal(app.handle().clone());
            if show_at_start {
                windows::open_approval(app.handle(), None);
            }
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(error) => {
            eprintln!("cordon-desktop: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    app.run(|app, event| match event {
        // A tray app keeps running with no window open; only Quit (an explicit exit code) ends it.
        RunEvent::ExitRequested {
            code: None, api, ..
        } => api.prevent_exit(),
        RunEvent::Exit => shutdown_engine(app),
        _ => {}
    });
    ExitCode::SUCCESS
}

/// Stops the engine: held calls are refused and recorded, a checkpoint is written.
fn shutdown_engine(app: &AppHandle) {
    if let Some(core) = app.try_state::<Core>()
        && let Some(engine) = core.take()
    {
        match tauri::async_runtime::block_on(engine.shutdown()) {
            Ok(()) => tracing::info!("engine stopped"),
            Err(error) => tracing::error!("engine shutdown: {error}"),
        }
    }
}

fn build_tray(app: &AppHandle) -> tauri::Result<()> {
    let pending = MenuItem::with_id(app, "pending", "No pending approvals", true, None::<&str>)?;
    let evidence = MenuItem::with_id(app, "evidence", "Evidence…", true, None::<&str>)?;
    let settings = MenuItem::with_id(app, "settings", "Settings…", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit Cordon", true, None::<&str>)?;
    let menu = Menu::with_items(
        app,
        &[
            &pending,
            &PredefinedMenuItem::separator(app)?,
            &evidence,
            &settings,
            &PredefinedMenuItem::separator(app)?,
            &quit,
        ],
    )?;
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(Image::from_bytes(ICON)?)
        .tooltip("Cordon: running")
        .menu(&menu)
        .on_menu_event(|app, event| match event.id().as_ref() {
            "pending" => windows::open_approval(app, None),
            "evidence" => windows::open_placeholder(app, "evidence", "Cordon — evidence"),
            "settings" => windows::open_placeholder(app, "settings", "Cordon — settings"),
            "quit" => app.exit(0),
            _ => {}
        })
        .build(app)?;
    app.manage(TrayItems { pending });
    Ok(())
}

/// The tray menu entries that change with the engine's state.
struct TrayItems {
    pending: MenuItem<tauri::Wry>,
}

/// The tray's text for `n` waiting calls.
pub fn pending_label(n: usize) -> String {
    match n {
        0 => "No pending approvals".to_owned(),
        1 => "1 pending approval…".to_owned(),
        n => format!("{n} pending approvals…"),
    }
}

/// Updates the tray's count, tooltip and icon.
pub(crate) fn refresh_tray(app: &AppHandle, core: &Core) {
    let n = core.pending().map(|p| p.len()).unwrap_or(0);
    set_tray_count(app, n);
}

fn set_tray_count(app: &AppHandle, n: usize) {
    if let Some(items) = app.try_state::<TrayItems>() {
        let _ = items.pending.set_text(pending_label(n));
    }
    if let Some(tray) = app.tray_by_id(TRAY_ID) {
        set_tray_state(&tray, n);
    }
}

fn set_tray_state(tray: &TrayIcon, n: usize) {
    let tooltip = if n == 0 {
        "Cordon: running".to_owned()
    } else {
        format!("Cordon: {}", pending_label(n))
    };
    let _ = tray.set_tooltip(Some(tooltip));
    if let Ok(icon) = Image::from_bytes(if n == 0 { ICON } else { ICON_PENDING }) {
        let _ = tray.set_icon(Some(icon));
    }
}

/// SIGTERM / SIGINT quit like the tray's Quit: held calls are refused and recorded, not lost.
fn quit_on_signal(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                tracing::warn!("cannot listen for SIGTERM/SIGINT");
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        tracing::info!("signal received: quitting");
        app.exit(0);
    });
}

/// Polls the engine's pending list; announces new calls and keeps the tray count current.
fn start_polling(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        let mut watch = Watch::new();
        let mut shown = usize::MAX;
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(core) = app.try_state::<Core>() else {
                return;
            };
            let Ok(pending) = core.pending() else {
                return; // engine shut down
            };
            if let Some(notice) = watch.observe(&pending, Instant::now()) {
                notify::show(&app, notice);
            }
            // Touch the tray only when the count changes: idle stays idle.
            if pending.len() != shown {
                shown = pending.len();
                set_tray_count(&app, shown);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args, String> {
        parse_args(list.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn arguments() {
        assert_eq!(args(&[]), Ok(Args::default()));
        assert_eq!(
            args(&["--config", "/tmp/c.yaml", "--show-approvals"]),
            Ok(Args {
                config: Some("/tmp/c.yaml".into()),
                show_approvals: true
            })
        );
        assert_eq!(
            args(&["--config=/x.yaml"]).map(|a| a.config),
            Ok(Some("/x.yaml".into()))
        );
        assert!(args(&["--config"]).is_err());
        assert!(args(&["--config="]).is_err());
        assert!(args(&["--bogus"]).is_err());
    }

    #[test]
    fn tray_labels() {
        assert_eq!(pending_label(0), "No pending approvals");
        assert_eq!(pending_label(1), "1 pending approval…");
        assert_eq!(pending_label(7), "7 pending approvals…");
    }
}
