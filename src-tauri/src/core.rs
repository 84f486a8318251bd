//! The desktop's view of the engine: the Tauri commands, the tray and the notifications all go
//! through [`Core`], which owns the one in-process [`Engine`] (opened once, kept in app state).
//!
//! Nothing here knows about windows or Tauri, so the command logic is tested without a display.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use cordon_admin::{Admin, AdminError, ShellState, Status};
use cordon_gateway::approvals::{Channel, GrantScope};
use cordon_gateway::summary::Review;
use cordon_gateway::{Config, Engine, GatewayError, PauseState, PendingApproval};
use serde::Serialize;

/// Longest deny reason kept (the broker's rule: it is shown to the agent and recorded).
pub use cordon_gateway::approvals::MAX_REASON_CHARS;

/// Why a desktop command failed. Serialised to the front end as `{kind, message}` so the UI can
/// react to the kind (e.g. "already decided") and show the message.
#[derive(Debug, thiserror::Error)]
pub enum DesktopError {
    /// The engine has shut down (the app is quitting) or never started.
    #[error("the Cordon engine is not running")]
    NotRunning,
    /// No call waits under this id: already decided, expired, or never existed.
    #[error("no pending approval with id {0} (already decided or expired)")]
    UnknownApproval(String),
    /// The front end sent something malformed (refused before reaching the engine).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The engine refused or failed.
    #[error("engine: {0}")]
    Engine(String),
    /// A file, the keychain or the OS refused (e.g. the autostart entry).
    #[error("{0}")]
    Io(String),
    /// The settings or evidence layer refused, with its own stable kind.
    #[error("{0}")]
    Admin(#[from] AdminError),
}

impl DesktopError {
    /// A stable machine-readable name for the front end.
    pub fn kind(&self) -> &'static str {
        match self {
            DesktopError::NotRunning => "not_running",
            DesktopError::UnknownApproval(_) => "unknown_approval",
            DesktopError::Invalid(_) => "invalid",
            DesktopError::Engine(_) => "engine",
            DesktopError::Io(_) => "io",
            DesktopError::Admin(error) => error.kind(),
        }
    }
}

impl Serialize for DesktopError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("DesktopError", 2)?;
        s.serialize_field("kind", self.kind())?;
        s.serialize_field("message", &self.to_string())?;
        s.end()
    }
}

impl From<cordon_gateway::ConfigError> for DesktopError {
    fn from(error: cordon_gateway::ConfigError) -> Self {
        DesktopError::Engine(format!("the config does not load: {error}"))
    }
}

impl From<GatewayError> for DesktopError {
    fn from(error: GatewayError) -> Self {
        match error {
            GatewayError::UnknownApproval(id) => DesktopError::UnknownApproval(id),
            other => DesktopError::Engine(other.to_string()),
        }
    }
}

/// Why every call is refused whatever the policy says (what the tray puts first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusing {
    /// No engine runs in this app (stopped, or restarting).
    NotRunning,
    /// The engine could not start (a broken policy, a config others can read): nothing runs
    /// until the cause is fixed and the engine restarted.
    CannotStart,
    /// The engine starting stands by: its evidence log cannot be written at all yet.
    StandingBy,
    /// The running engine cannot write its evidence log now (a full disk, say); it finds out by
    /// itself when it can again.
    EvidenceFault,
}

/// What a decision did, echoed to the front end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct Decided {
    /// The approval id.
    pub id: String,
    /// `approved` or `denied`.
    #[ts(type = "\"approved\" | \"denied\"")]
    pub decision: &'static str,
    /// Whether the approval covers the rest of the session.
    pub session: bool,
}

/// The engine, shared by commands, tray and notifications; `None` once shut down (or while it
/// restarts). The admin layer behind the settings window and the evidence viewer follows it.
pub struct Core {
    engine: Mutex<Option<Engine>>,
    /// While no engine is attached: why the one starting stands by (from its socket).
    standby: Mutex<Option<String>>,
    /// While no engine is attached: why the last start (at launch or on Restart) failed.
    start_error: Mutex<Option<String>>,
    admin: Admin,
    /// `--config` as given at launch: a restart reads that file again.
    config_arg: Option<PathBuf>,
    /// One restart at a time.
    restarting: tokio::sync::Mutex<()>,
}

/// A lock of plain state that a panic elsewhere cannot have left inconsistent.
fn relock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Core {
    /// Wraps a started engine; its config file is what the settings window edits.
    pub fn new(engine: Engine) -> Core {
        let admin = Admin::new(engine.config());
        Core::with_admin(engine, admin, None)
    }

    /// Wraps a started engine with an admin layer (tests give it their own keychain and agent
    /// directories) and the `--config` to read again on restart. Starts watching the policy
    /// for edits made in other editors.
    pub fn with_admin(engine: Engine, admin: Admin, config_arg: Option<PathBuf>) -> Core {
        admin.attach(&engine);
        if let Err(error) = admin.watch_policy() {
            tracing::warn!("cannot watch the policy for outside edits: {error}");
        }
        Core {
            engine: Mutex::new(Some(engine)),
            standby: Mutex::new(None),
            start_error: Mutex::new(None),
            admin,
            config_arg,
            restarting: tokio::sync::Mutex::new(()),
        }
    }

    /// No engine yet: the one starting stands by (its evidence log cannot be written, see
    /// `cordon_gateway::standby`) and is [`Core::attach`]ed once it runs. Until then every
    /// command answers [`DesktopError::NotRunning`] and the agents' calls are refused.
    pub fn without_engine(admin: Admin, config_arg: Option<PathBuf>) -> Core {
        Core {
            engine: Mutex::new(None),
            standby: Mutex::new(None),
            start_error: Mutex::new(None),
            admin,
            config_arg,
            restarting: tokio::sync::Mutex::new(()),
        }
    }

    /// Takes in the engine that finished starting (after [`Core::without_engine`]).
    pub fn attach(&self, engine: Engine) {
        self.admin.attach(&engine);
        if let Err(error) = self.admin.watch_policy() {
            tracing::warn!("cannot watch the policy for outside edits: {error}");
        }
        *self.lock() = Some(engine);
        *self.standby_lock() = None;
        *relock(&self.start_error) = None;
    }

    /// Whether an engine is attached.
    pub fn has_engine(&self) -> bool {
        self.lock().is_some()
    }

    /// Records why the starting engine stands by (None: it does not, or no longer).
    pub fn set_standby(&self, reason: Option<String>) {
        *self.standby_lock() = reason;
    }

    /// Records why the engine could not start: the tray and the windows say it until a start
    /// works.
    pub fn set_start_error(&self, error: &str) {
        *self.standby_lock() = None;
        *relock(&self.start_error) = Some(error.to_owned());
    }

    fn standby_lock(&self) -> MutexGuard<'_, Option<String>> {
        relock(&self.standby)
    }

    /// The settings and evidence layer.
    pub fn admin(&self) -> &Admin {
        &self.admin
    }

    /// The status the windows show (`autostart`: what the OS says).
    pub fn status(&self, autostart: bool) -> Status {
        let guard = self.lock();
        let pause = guard.as_ref().map(Engine::pause_state).unwrap_or_default();
        let shell = ShellState {
            paused: pause.all,
            paused_agents: pause.agents,
            autostart,
        };
        let mut status = self.admin.status(guard.as_ref(), &shell);
        if guard.is_none() {
            status.standby = self.standby_lock().clone();
            status.start_error = relock(&self.start_error).clone();
        }
        status
    }

    /// Stops the engine (held calls refused and recorded, like Quit) and starts it again from
    /// the config file as it is now, so server and reviewer changes apply. If the new config
    /// does not start, no engine runs and every call is refused until it is fixed: never an
    /// ungoverned fallback.
    pub async fn restart(&self) -> Result<(), DesktopError> {
        let _one = self.restarting.lock().await;
        // The engine starting at launch holds the socket while it stands by: a second start
        // would only be told "already running". Say what is going on instead.
        if let Some(reason) = self.standby_lock().clone() {
            return Err(DesktopError::Engine(format!(
                "the engine is standing by and starts by itself once it can: {reason}"
            )));
        }
        // Read and validate the config first: a file broken by hand keeps the old engine running.
        let config: Result<Config, DesktopError> = match self.config_arg {
            Some(_) => Config::resolve(self.config_arg.clone()).map_err(Into::into),
            None => self.admin.restart_config().map_err(Into::into),
        };
        let config = match config {
            Ok(config) => config,
            Err(error) => {
                // With no engine running, this is now why none does.
                if !self.has_engine() {
                    self.set_start_error(&error.to_string());
                }
                return Err(error);
            }
        };
        let old = self.lock().take();
        self.admin.unwatch_policy();
        self.admin.detach();
        if let Some(engine) = old {
            engine.shutdown().await?;
        }
        let engine = match Engine::start(config).await {
            Ok(engine) => engine,
            Err(error) => {
                self.set_start_error(&error.to_string());
                return Err(error.into());
            }
        };
        self.attach(engine);
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Option<Engine>> {
        // A panic elsewhere must not make approvals unreachable: the data is still consistent
        // (the engine's own state has its own locks).
        relock(&self.engine)
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&Engine) -> Result<T, DesktopError>,
    ) -> Result<T, DesktopError> {
        match self.lock().as_ref() {
            Some(engine) => f(engine),
            None => Err(DesktopError::NotRunning),
        }
    }

    /// Wakes each time the engine's pending list changes (see
    /// `ApprovalBroker::subscribe`); Err while the engine is stopped. A restarted engine has a
    /// new feed: the old one reports closed, and the caller subscribes again.
    pub fn approval_changes(&self) -> Result<tokio::sync::watch::Receiver<u64>, DesktopError> {
        self.with(|engine| Ok(engine.pipeline().broker().subscribe()))
    }

    /// The calls waiting for a human, oldest first, as shown to one: every text the agent chose
    /// (names, paths, arguments, diffs) has its control characters, escapes and bidi overrides
    /// made visible ([`PendingApproval::for_display`]).
    pub fn pending(&self) -> Result<Vec<PendingApproval>, DesktopError> {
        self.with(|engine| {
            let mut pending: Vec<PendingApproval> = engine
                .pending_approvals()
                .iter()
                .map(PendingApproval::for_display)
                .collect();
            pending.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
            Ok(pending)
        })
    }

    /// The calls waiting, as the approval window shows them: in words, every agent-chosen text
    /// made visible, and a warning when a file changed on disk since its call was held
    /// ([`cordon_gateway::summary::review`]).
    pub fn reviews(&self) -> Result<Vec<Review>, DesktopError> {
        self.with(|engine| {
            let mut reviews: Vec<Review> = engine
                .pending_approvals()
                .iter()
                .map(cordon_gateway::summary::review)
                .collect();
            reviews.sort_by(|a, b| {
                (a.approval.created_at.as_str(), a.approval.id.as_str())
                    .cmp(&(b.approval.created_at.as_str(), b.approval.id.as_str()))
            });
            Ok(reviews)
        })
    }

    /// One waiting call by id, as the approval window shows it.
    pub fn review(&self, id: &str) -> Result<Review, DesktopError> {
        let id = check_id(id)?;
        self.reviews()?
            .into_iter()
            .find(|r| r.approval.id == id)
            .ok_or_else(|| DesktopError::UnknownApproval(id.to_owned()))
    }

    /// One pending call by id.
    pub fn approval(&self, id: &str) -> Result<PendingApproval, DesktopError> {
        let id = check_id(id)?;
        self.pending()?
            .into_iter()
            .find(|p| p.id == id)
            .ok_or_else(|| DesktopError::UnknownApproval(id.to_owned()))
    }

    /// Approves one held call from the approval window (`session`: the same action on the same
    /// target in that session passes from now on). The reviewer recorded is the config's
    /// `reviewer`, the channel `tray-window`.
    pub fn approve(&self, id: &str, session: bool) -> Result<Decided, DesktopError> {
        self.approve_via(id, session, Channel::TrayWindow)
    }

    /// Approves one held call from an in-process `channel` of the desktop app (the window, a
    /// notification's action button): being inside the engine's process is the proof of a human
    /// that the control socket cannot give.
    pub fn approve_via(
        &self,
        id: &str,
        session: bool,
        channel: Channel,
    ) -> Result<Decided, DesktopError> {
        let id = check_id(id)?;
        self.with(|engine| {
            engine.approve(id, &GrantScope::from_session(session), None, channel)?;
            Ok(Decided {
                id: id.to_owned(),
                decision: "approved",
                session,
            })
        })
    }

    /// Denies one held call, with an optional reason shown to the agent.
    pub fn deny(&self, id: &str, reason: Option<&str>) -> Result<Decided, DesktopError> {
        let id = check_id(id)?;
        let reason = clean_reason(reason)?;
        self.with(|engine| {
            engine.deny(id, reason)?;
            Ok(Decided {
                id: id.to_owned(),
                decision: "denied",
                session: false,
            })
        })
    }

    /// The engine's kill switch state (the tray's check mark).
    pub fn pause_state(&self) -> Result<PauseState, DesktopError> {
        self.with(|engine| Ok(engine.pause_state()))
    }

    /// Why every call is refused now whatever the policy says (None: the engine runs and can
    /// record its evidence).
    pub fn refusing(&self) -> Option<Refusing> {
        match self.lock().as_ref() {
            Some(engine) if engine.evidence_health().ok => None,
            Some(_) => Some(Refusing::EvidenceFault),
            None if self.standby_lock().is_some() => Some(Refusing::StandingBy),
            None if relock(&self.start_error).is_some() => Some(Refusing::CannotStart),
            None => Some(Refusing::NotRunning),
        }
    }

    /// Pauses every agent (their calls are refused and recorded; held calls are denied) or
    /// resumes them all.
    pub fn set_paused(&self, paused: bool) -> Result<PauseState, DesktopError> {
        self.with(|engine| {
            if paused {
                Ok(engine.pause(None)?)
            } else {
                Ok(engine.resume(None)?)
            }
        })
    }

    /// Takes the engine out for shutdown; later calls answer [`DesktopError::NotRunning`].
    pub fn take(&self) -> Option<Engine> {
        self.lock().take()
    }
}

/// The broker's own input checks, as the desktop's error.
fn check_id(id: &str) -> Result<&str, DesktopError> {
    cordon_gateway::approvals::check_approval_id(id).map_err(invalid)
}

fn clean_reason(reason: Option<&str>) -> Result<Option<String>, DesktopError> {
    cordon_gateway::approvals::clean_reason(reason).map_err(invalid)
}

fn invalid(error: GatewayError) -> DesktopError {
    DesktopError::Invalid(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_before_the_engine() {
        assert!(check_id("01JABCDEF-x_1").is_ok());
        for bad in ["", "  ", "../etc", "a b", "id;rm", &"x".repeat(200), "é"] {
            assert!(
                matches!(check_id(bad), Err(DesktopError::Invalid(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn reasons_are_trimmed_and_bounded() {
        assert_eq!(clean_reason(None).ok(), Some(None));
        assert_eq!(clean_reason(Some("   ")).ok(), Some(None));
        assert_eq!(
            clean_reason(Some(" too risky ")).ok(),
            Some(Some("too risky".to_owned()))
        );
        assert!(clean_reason(Some(&"r".repeat(MAX_REASON_CHARS + 1))).is_err());
        assert!(clean_reason(Some("bad\u{1b}[31m")).is_err());
    }

    #[test]
    fn errors_serialise_with_kind_and_message() {
        let json = serde_json::to_value(DesktopError::UnknownApproval("abc".into()));
        let json = json.ok().unwrap_or_default();
        assert_eq!(json["kind"], "unknown_approval");
        assert!(json["message"].as_str().is_some_and(|m| m.contains("abc")));
    }
}
