//! Cordon's desktop app: a thin Tauri tray shell around the engine, hosted in-process.
//!
//! Module map: [`core`] (the engine in app state, the command logic and its error type),
//! [`watch`] (new held calls and burst grouping), [`notify`] (native notifications),
//! [`windows`] (approval, settings and evidence windows), [`commands`] (the Tauri commands,
//! one module per window), [`updates`] (signed updates, only when the user opts in).
//! Everything that decides lives in the engine; this crate only shows and forwards.

pub mod commands;
pub mod core;
pub mod notify;
pub mod typescript;
pub mod updates;
pub mod watch;
pub mod windows;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cordon_gateway::{Config, Engine, GatewayError};
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, RunEvent};

use crate::core::{Core, Refusing};
use crate::watch::Watch;

/// How often the tray looks at what has no change feed (kill switch, engine restarts); held
/// calls wake it at once through the broker's feed.
pub const POLL_INTERVAL: Duration = Duration::from_millis(1000);

const TRAY_ID: &str = "cordon";
const ICON: &[u8] = include_bytes!("../icons/tray.png");
const ICON_PENDING: &[u8] = include_bytes!("../icons/tray-pending.png");
const ICON_PAUSED: &[u8] = include_bytes!("../icons/tray-paused.png");

const USAGE: &str =
    "usage: cordon-desktop [--config FILE] [--show approvals|settings|evidence] [--show-approvals]";

/// The command line: `cordon-desktop [--config FILE] [--show PAGE]`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Args {
    /// `--config FILE` (else `CORDON_CONFIG`, else the default config path).
    pub config: Option<PathBuf>,
    /// A window to open at start; a second launch forwards it to the running app, so desktop
    /// entries and scripts can open a window of the one running instance.
    pub show: Option<windows::Page>,
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
            "--show-approvals" => parsed.show = Some(windows::Page::Approvals),
            "--show" => {
                let name = args.next().ok_or("--show needs a window name")?;
                parsed.show = Some(parse_page(&name)?);
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => {
                if let Some(path) = other.strip_prefix("--config=").filter(|p| !p.is_empty()) {
                    parsed.config = Some(PathBuf::from(path));
                } else if let Some(name) = other.strip_prefix("--show=") {
                    parsed.show = Some(parse_page(name)?);
                } else {
                    return Err(format!("unknown argument `{other}`\n{USAGE}"));
                }
            }
        }
    }
    Ok(parsed)
}

/// GTK and WebKitGTK set up OpenGL (EGL / DMA-BUF) as soon as the app starts, even with no
/// window open; on machines with a software GL (Mesa llvmpipe: VMs, remote desktops, Xvfb) that
/// maps ~50 MB of LLVM into a tray app that mostly shows nothing. Cordon's pages are forms, tables
/// and diffs, for which software rendering is indistinguishable, so the GL paths are off unless the
/// user sets `CORDON_WEBKIT_GPU=1` (variables the user set are left alone).
///
/// Must run at the very start of `main`, before any other thread exists: changing the process
/// environment is only sound while nothing else can read it.
#[allow(unsafe_code)]
pub fn prefer_software_webkit() {
    #[cfg(target_os = "linux")]
    {
        if std::env::var_os("CORDON_WEBKIT_GPU").is_some_and(|v| v == "1") {
            return;
        }
        for (var, value) in [
            ("GDK_GL", "disable"),
            ("WEBKIT_DISABLE_DMABUF_RENDERER", "1"),
            ("WEBKIT_DISABLE_COMPOSITING_MODE", "1"),
        ] {
            if std::env::var_os(var).is_none() {
                // SAFETY: called first thing in `main`, while the process has a single thread, so
                // no concurrent reader of the environment exists (see the doc comment).
                unsafe { std::env::set_var(var, value) };
            }
        }
    }
}

fn parse_page(name: &str) -> Result<windows::Page, String> {
    windows::Page::parse(name)
        .ok_or_else(|| format!("unknown window `{name}` (approvals, settings or evidence)"))
}

/// Runs the tray app until Quit. Exits (code 1) only when another engine already runs on this
/// config. An engine that cannot start (a config file that does not load, an invalid policy)
/// brings the tray up without it, saying why, until Restart runs it: never a silent fallback to an
/// ungoverned state. An engine that stands by (its evidence log cannot be written yet) is
/// attached once it runs. Every call is refused while no engine runs.
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
    let show_at_start = args.show;
    let mut config_arg = args.config.clone();
    // A config file that does not load (a YAML slip made by hand) brings the tray up without an
    // engine, saying why, like any start that fails: exiting would leave a login with no tray,
    // nothing saying why, and every call refused. Restart reads the very file again.
    let config = match Config::resolve(args.config.clone()) {
        Ok(config) => Ok(config),
        Err(error) => {
            let explicit = Config::explicit_path(args.config.clone());
            let Some(path) = explicit.clone().or_else(Config::default_path) else {
                eprintln!("cordon-desktop: {error}");
                return ExitCode::FAILURE;
            };
            eprintln!("cordon-desktop: the engine cannot start: {error}");
            if explicit.is_some() {
                // Restart must load exactly this file, never fall back to the defaults.
                config_arg = Some(path.clone());
            }
            Err((path, error.to_string()))
        }
    };

    let app = tauri::Builder::default()
        // Must be the first plugin: a second launch hands its arguments here and exits.
        .plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            let forwarded = parse_args(argv.into_iter().skip(1)).unwrap_or_default();
            if forwarded.config.is_some() {
                tracing::warn!(
                    "a second launch asked for another config: ignored (one engine per user)"
                );
            }
            windows::show(app, forwarded.show.unwrap_or(windows::Page::Approvals));
        }))
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            None,
        ))
        .plugin(tauri_plugin_dialog::init())
        // Signed updates: nothing is checked unless the user turned it on (see updates.rs).
        .plugin(updates::plugin())
        .invoke_handler(tauri::generate_handler![
            commands::approvals::list_pending,
            commands::approvals::wait_pending,
            commands::approvals::get_approval,
            commands::approvals::approve,
            commands::approvals::deny,
            commands::settings::engine_status,
            commands::settings::set_paused,
            commands::settings::set_autostart,
            commands::settings::policy_get,
            commands::settings::policy_validate,
            commands::settings::policy_test,
            commands::settings::policy_replay,
            commands::settings::policy_save,
            commands::settings::policy_events,
            commands::settings::config_get,
            commands::settings::server_save,
            commands::settings::server_remove,
            commands::settings::settings_save,
            commands::settings::restart_engine,
            commands::settings::secrets_list,
            commands::settings::secret_set,
            commands::settings::secret_remove,
            commands::settings::agents_list,
            commands::settings::agent_install,
            commands::settings::agent_uninstall,
            commands::evidence::evidence_query,
            commands::evidence::evidence_record,
            commands::evidence::evidence_agents,
            commands::evidence::evidence_activity,
            commands::evidence::evidence_verify,
            commands::evidence::evidence_export,
            updates::get_update_settings,
            updates::set_update_settings,
            updates::check_for_updates,
        ])
        .setup(move |app| {
            let socket = match config {
                Ok(config) => Some(start_engine(app, config, config_arg)?),
                Err((path, error)) => {
                    let admin = cordon_admin::Admin::for_unloadable(&path)?;
                    app.manage(unstarted(admin, config_arg, &error));
                    // No engine of this config can be standing by: nothing to ask.
                    None
                }
            };
            build_tray(app.handle())?;
            updates::check_at_startup(app.handle());
            start_polling(app.handle().clone(), socket);
            quit_on_signal(app.handle().clone());
            if let Some(page) = show_at_start {
                windows::show(app.handle(), page);
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

/// Starts the engine of `config` at launch and manages the app's [`Core`]; returns the socket a
/// standing-by engine answers on.
fn start_engine(
    app: &mut tauri::App,
    config: Config,
    config_arg: Option<PathBuf>,
) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let admin = cordon_admin::Admin::new(&config);
    let socket = config.socket.clone();
    let mut starting = tauri::async_runtime::spawn(Engine::start(config));
    // Another engine running on this config fails the app (one tray per engine). Any
    // other start that fails at once (a broken policy, a config other users can read)
    // brings the tray up without an engine, saying why, until the cause is fixed and
    // Restart pressed: an app that just exited at login would leave the user with every
    // call refused and nothing saying so. A start still going after STANDBY_AFTER
    // stands by (its evidence log cannot be written yet): the tray says so, and the
    // engine is attached when it runs.
    match tauri::async_runtime::block_on(async {
        tokio::time::timeout(STANDBY_AFTER, &mut starting).await
    }) {
        Ok(started) => match started {
            Ok(Ok(engine)) => {
                announce(&engine);
                app.manage(Core::with_admin(engine, admin, config_arg));
            }
            Ok(Err(error @ GatewayError::AlreadyRunning(_))) => return Err(error.into()),
            Ok(Err(error)) => {
                app.manage(unstarted(admin, config_arg, &error.to_string()));
            }
            // The start panicked: as much a start that failed.
            Err(error) => {
                app.manage(unstarted(admin, config_arg, &error.to_string()));
            }
        },
        Err(_) => {
            tracing::warn!("the engine is standing by: the tray shows why");
            app.manage(Core::without_engine(admin, config_arg));
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                let started = starting.await.map_err(|e| e.to_string());
                let Some(core) = handle.try_state::<Core>() else {
                    return;
                };
                match started {
                    Ok(Ok(engine)) => {
                        announce(&engine);
                        core.attach(engine);
                        refresh_tray(&handle, &core);
                    }
                    // No engine, every call refused, the reason in the tray and the
                    // settings window; Restart in the window tries again.
                    Ok(Err(error)) => cannot_start(&handle, &core, &error.to_string()),
                    Err(error) => cannot_start(&handle, &core, &error),
                }
            });
        }
    }
    Ok(socket)
}

/// Why the engine starting on `socket` stands by (its `ping` answer), if it does.
async fn standby_reason(socket: &std::path::Path) -> Option<String> {
    use cordon_gateway::control::{Request, request};
    let reply = request(socket, &Request::Ping).await.ok()?;
    reply.get("standby")?.as_str().map(str::to_owned)
}

/// How long the app waits for the engine at launch before showing the tray without it (the
/// engine then stands by: see `cordon_gateway::standby`).
const STANDBY_AFTER: Duration = Duration::from_secs(3);

/// Says where the engine listens and who approvals are recorded as.
fn announce(engine: &Engine) {
    tracing::info!(socket = %engine.config().socket.display(), "engine started in-process");
    // Who the evidence names as the reviewer of every decision made here: said aloud, so a
    // fallback (no USER/LOGNAME: the OS account of the uid) is never silent.
    tracing::info!(
        "approvals are recorded as reviewer `{}` (from {}; set `reviewer:` in the config to \
         change it)",
        cordon_gateway::text::visible(&engine.config().reviewer),
        engine.config().reviewer_origin
    );
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
    let pause =
        CheckMenuItem::with_id(app, "pause", "Pause all agents", true, false, None::<&str>)?;
    let evidence = MenuItem::with_id(app, "evidence", "Evidence…", true, None::<&str>)?;
    let settings = MenuItem::with_id(app, "settings", "Settings…", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit Cordon", true, None::<&str>)?;
    let menu = Menu::with_items(
        app,
        &[
            &pending,
            &pause,
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
            "pause" => toggle_pause(app),
            "evidence" => windows::open_evidence(app),
            "settings" => windows::open_settings(app),
            "quit" => app.exit(0),
            _ => {}
        })
        .build(app)?;
    app.manage(TrayItems { pending, pause });
    Ok(())
}

/// The tray's kill switch: every agent's calls are refused (and recorded) until resumed; calls
/// waiting for a human are denied.
fn toggle_pause(app: &AppHandle) {
    let Some(core) = app.try_state::<Core>() else {
        return;
    };
    let paused = core.pause_state().map(|s| s.all).unwrap_or(false);
    if let Err(error) = core.set_paused(!paused) {
        tracing::error!(
            "cannot {} the agents: {error}",
            if paused { "resume" } else { "pause" }
        );
    }
    refresh_tray(app, core.inner());
}

/// The tray menu entries that change with the engine's state.
struct TrayItems {
    pending: MenuItem<tauri::Wry>,
    pause: CheckMenuItem<tauri::Wry>,
}

/// The tray's text for `n` waiting calls.
pub fn pending_label(n: usize) -> String {
    match n {
        0 => "No pending approvals".to_owned(),
        1 => "1 pending approval…".to_owned(),
        n => format!("{n} pending approvals…"),
    }
}

/// What the tray shows: the number of waiting calls, whether agents are paused, and why every
/// call is refused whatever the policy says, if it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrayState {
    /// Calls waiting for a human.
    pub pending: usize,
    /// Every agent paused (the kill switch).
    pub paused: bool,
    /// No engine, a standby, or an evidence fault (see [`Refusing`]).
    pub refusing: Option<Refusing>,
}

impl TrayState {
    /// The tray's state as `core` has it now.
    fn of(core: &Core) -> TrayState {
        TrayState {
            pending: core.pending().map(|p| p.len()).unwrap_or(0),
            paused: core.pause_state().map(|s| s.all).unwrap_or(false),
            refusing: core.refusing(),
        }
    }

    /// The tooltip: why everything is refused wins, then paused, over the count, since nothing
    /// passes while either lasts.
    pub fn tooltip(self) -> String {
        match self.refusing {
            Some(Refusing::NotRunning) => {
                return "Cordon: not running — every call is refused (see Settings)".to_owned();
            }
            Some(Refusing::CannotStart) => {
                return "Cordon: cannot start — every call is refused until the cause is fixed \
                        (see Settings)"
                    .to_owned();
            }
            Some(Refusing::StandingBy) => {
                return "Cordon: standing by — every call is refused until the evidence log can \
                        be written (see Settings)"
                    .to_owned();
            }
            Some(Refusing::EvidenceFault) => {
                return "Cordon: the evidence log cannot be written — every call is refused (see \
                        Settings)"
                    .to_owned();
            }
            None => {}
        }
        match (self.paused, self.pending) {
            (true, _) => "Cordon: paused — every call is refused".to_owned(),
            (false, 0) => "Cordon: running".to_owned(),
            (false, n) => format!("Cordon: {}", pending_label(n)),
        }
    }
}

/// The core of an app whose engine could not start at launch: no engine, and why (see
/// [`Core::set_start_error`]).
fn unstarted(admin: cordon_admin::Admin, config_arg: Option<PathBuf>, error: &str) -> Core {
    tracing::error!("the engine cannot start: {error}");
    let core = Core::without_engine(admin, config_arg);
    core.set_start_error(error);
    core
}

/// The engine's start failed for good: said in the log, the tray and the windows.
fn cannot_start(app: &AppHandle, core: &Core, error: &str) {
    tracing::error!("the engine cannot start: {error}");
    core.set_start_error(error);
    refresh_tray(app, core);
}

/// Reads the engine's state and updates the tray's count, check mark, tooltip and icon.
pub(crate) fn refresh_tray(app: &AppHandle, core: &Core) {
    set_tray(app, TrayState::of(core));
}

fn set_tray(app: &AppHandle, state: TrayState) {
    if let Some(items) = app.try_state::<TrayItems>() {
        let _ = items.pending.set_text(pending_label(state.pending));
        let _ = items.pause.set_checked(state.paused);
    }
    if let Some(tray) = app.tray_by_id(TRAY_ID) {
        set_tray_icon(&tray, state);
    }
}

fn set_tray_icon(tray: &TrayIcon, state: TrayState) {
    let _ = tray.set_tooltip(Some(state.tooltip()));
    // Refusing everything (paused, no engine, or no evidence can be written) has its own icon.
    let bytes = match (state.paused || state.refusing.is_some(), state.pending) {
        (true, _) => ICON_PAUSED,
        (false, 0) => ICON,
        (false, _) => ICON_PENDING,
    };
    if let Ok(icon) = Image::from_bytes(bytes) {
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

/// Follows the engine's pending list: wakes the moment it changes (the broker's feed), announces
/// new calls, withdraws the notifications of decided ones (decided anywhere: window,
/// notification, CLI, timeout, the agent going away), updates a group bubble's count, and keeps
/// the tray count current. The slow tick only catches what has no feed (the
/// kill switch toggled by the CLI or a policy edit, an engine restart).
fn start_polling(app: AppHandle, socket: Option<PathBuf>) {
    tauri::async_runtime::spawn(async move {
        let mut watch = Watch::new();
        let mut shown: Option<TrayState> = None;
        let mut changes: Option<tokio::sync::watch::Receiver<u64>> = None;
        loop {
            let Some(core) = app.try_state::<Core>() else {
                return;
            };
            if changes.is_none() {
                changes = core.approval_changes().ok();
            }
            if let Some(rx) = changes.as_mut() {
                rx.borrow_and_update();
            }
            if let Ok(pending) = core.pending() {
                for step in watch.steps(&pending, Instant::now()) {
                    match step {
                        watch::Step::Show(notice) => notify::show(&app, notice),
                        watch::Step::Withdraw(id) => notify::withdraw(Some(&id)),
                        watch::Step::WithdrawGroup => notify::withdraw(None),
                    }
                }
            } else if !core.has_engine()
                && let Some(socket) = &socket
            {
                // Starting: the engine answers on its socket while it stands by, with why.
                core.set_standby(standby_reason(socket).await);
            }
            // Touch the tray only when its state changes: idle stays idle.
            let state = TrayState::of(&core);
            if shown != Some(state) {
                shown = Some(state);
                set_tray(&app, state);
            }
            // Stopped or restarting: nothing waits; look again at the next tick.
            let feed = async {
                match changes.as_mut() {
                    Some(rx) => rx.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                alive = feed => if !alive { changes = None },
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
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
                show: Some(windows::Page::Approvals)
            })
        );
        assert_eq!(
            args(&["--show", "evidence"]).map(|a| a.show),
            Ok(Some(windows::Page::Evidence))
        );
        assert_eq!(
            args(&["--show=settings"]).map(|a| a.show),
            Ok(Some(windows::Page::Settings))
        );
        assert!(args(&["--show"]).is_err());
        assert!(args(&["--show", "../etc"]).is_err());
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
        let running = TrayState {
            pending: 0,
            paused: false,
            refusing: None,
        };
        assert_eq!(running.tooltip(), "Cordon: running");
        let waiting = TrayState {
            pending: 2,
            ..running
        };
        assert_eq!(waiting.tooltip(), "Cordon: 2 pending approvals…");
        let paused = TrayState {
            paused: true,
            ..waiting
        };
        assert!(paused.tooltip().contains("paused"));
        let faulted = TrayState {
            refusing: Some(Refusing::EvidenceFault),
            ..paused
        };
        assert!(faulted.tooltip().contains("evidence log cannot be written"));
        let standing_by = TrayState {
            refusing: Some(Refusing::StandingBy),
            ..running
        };
        assert!(standing_by.tooltip().contains("standing by"));
        let stopped = TrayState {
            refusing: Some(Refusing::NotRunning),
            ..waiting
        };
        assert!(stopped.tooltip().contains("not running"));
        let broken = TrayState {
            refusing: Some(Refusing::CannotStart),
            ..waiting
        };
        assert!(broken.tooltip().contains("cannot start"));
    }
}
