//! Everything the desktop app's settings window and evidence viewer do, as plain Rust, so the
//! Tauri shell is a set of one-line wrappers and the logic is tested without a display.
//!
//! Module map: [`policy`] (editor: validate, test, replay, save), [`watch`] (hot reload of
//! edits made in another editor), [`settings`] (servers, reviewer, timeout in the YAML config,
//! edited as text so comments survive), [`secrets`] (keychain page), [`agents`] (agents page),
//! [`evidence`] (viewer), [`status`] (tray and windows), [`error`] (`{kind, message}`).
//! [`Admin`] ties them to the running engine. The front end's TypeScript types are generated
//! from these types ([`typescript`], into `ui/src/generated/engine.ts`), so they cannot drift.
//!
//! Fail closed: an edit that does not validate changes nothing (file, keychain, running
//! engine); a broken policy edited elsewhere is refused and the last good policy stays.

pub mod agents;
pub mod error;
pub mod evidence;
pub mod fsutil;
pub mod policy;
pub mod secrets;
pub mod settings;
pub mod status;
pub mod typescript;
pub mod watch;
pub mod yamledit;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use cordon_agents::Bases;
use cordon_gateway::pipeline::Pipeline;
use cordon_gateway::{Config, Engine};
use cordon_policy::Policy;
use cordon_secrets::SecretStore;

pub use crate::agents::AgentEntry;
pub use crate::error::AdminError;
pub use crate::evidence::{
    ActivityBucket, Evidence, EvidencePage, EvidenceQuery, ExportKind, Exported, RecordRow,
    VerifySummary,
};
pub use crate::policy::{
    Diagnostic, Location, PolicyDoc, PolicyEvent, PolicyFile, Replay, ReplayChange, Saved,
    TestResult, TestRun, Validation,
};
pub use crate::secrets::SecretEntry;
pub use crate::settings::{ConfigFile, ServerEntry, Settings, Transport};
pub use crate::status::{ShellState, Status};

/// Recent policy events kept for the editor.
pub const MAX_EVENTS: usize = 50;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not lock the settings window out; the data stays consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// State shared with the policy watcher's thread.
struct Inner {
    /// The config file the settings edit (None: no file and no default location).
    config_file: Option<ConfigFile>,
    /// The engine's config, used when the file cannot be read.
    fallback: Config,
    /// The running engine's pipeline (None: stopped or restarting).
    pipeline: RwLock<Option<Arc<Pipeline>>>,
    /// Recent reloads and refusals, newest last.
    events: Mutex<VecDeque<PolicyEvent>>,
    /// Serialises saves and reloads so the snapshot and the swap of one policy stay together.
    apply: Mutex<()>,
}

impl Inner {
    fn pipeline(&self) -> Option<Arc<Pipeline>> {
        match self.pipeline.read() {
            Ok(p) => p.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The config as the file says now (it may differ from the engine's after an edit).
    fn config(&self) -> Config {
        self.config_file
            .as_ref()
            .and_then(|f| f.load().ok())
            .unwrap_or_else(|| self.fallback.clone())
    }

    fn location(&self) -> Location {
        let config = self.config();
        let dir = self
            .config_file
            .as_ref()
            .and_then(|f| f.path().parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("."));
        Location::of(config.policy.as_deref(), &dir)
    }

    fn event(&self, ok: bool, version: Option<String>, message: String) {
        if ok {
            tracing::info!("policy: {message}");
        } else {
            tracing::warn!("policy: {message}");
        }
        let mut events = lock(&self.events);
        events.push_back(PolicyEvent {
            at: now(),
            ok,
            version,
            message,
        });
        while events.len() > MAX_EVENTS {
            events.pop_front();
        }
    }

    /// Records the snapshot, then swaps the policy in: the evidence knows a version before any
    /// record cites it.
    fn apply(&self, pipeline: &Pipeline, policy: Policy) -> Result<String, AdminError> {
        // A local edit never replaces the organisation policy: it is layered on it (and can
        // only make it stricter).
        let policy = match pipeline.org_policy() {
            Some(org) => org.layer_local(policy)?,
            None => policy,
        };
        Ok(pipeline.apply_policy(policy)?)
    }

    /// Reloads the policy from disk after an outside edit (the watcher calls this).
    fn reload(&self) {
        let _apply = lock(&self.apply);
        let Some(pipeline) = self.pipeline() else {
            return;
        };
        let location = self.location();
        if pipeline.org_policy().is_some() && matches!(location, Location::Default { .. }) {
            return; // the organisation policy alone: its pulls apply it, not file edits
        }
        let shown = location
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if let Some(path) = location.path()
            && let Err(error) = cordon_gateway::private::check_trusted_input(path, "policy")
        {
            let message = format!("edit of {shown} refused, the previous policy stays: {error}");
            self.event(false, None, message);
            return;
        }
        match location.load() {
            Ok(policy) => {
                if policy.version() == pipeline.policy().version() {
                    return; // our own save, or a change that does not change the policy
                }
                match self.apply(&pipeline, policy) {
                    Ok(version) => self.event(
                        true,
                        Some(version.clone()),
                        format!("reloaded {shown}: policy {version} in force"),
                    ),
                    Err(e) => self.event(
                        false,
                        None,
                        format!("edit of {shown} not applied, the previous policy stays: {e}"),
                    ),
                }
            }
            Err(error) => {
                let names: Vec<(String, String)> = Vec::new();
                let diags = policy::diagnostics(&error.diagnostics, &names);
                self.event(
                    false,
                    None,
                    format!(
                        "edit of {shown} refused, the previous policy stays: {}",
                        policy::first_error(&diags)
                    ),
                );
            }
        }
    }
}

/// The current time as RFC 3339 UTC.
fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The settings window's and evidence viewer's backend, one per app.
pub struct Admin {
    inner: Arc<Inner>,
    watcher: Mutex<Option<watch::PolicyWatcher>>,
    /// Whether the caller asked for watching (the shipped default has nothing to watch until
    /// it is first saved to a file).
    watching: std::sync::atomic::AtomicBool,
    secrets: Option<SecretStore>,
    agents: Option<(Bases, PathBuf)>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("config_file", &self.inner.config_file)
            .finish_non_exhaustive()
    }
}

impl Admin {
    /// An admin for the engine configured by `config` (its file, else the default location, is
    /// what the settings page edits). Attach the engine with [`Admin::attach`].
    pub fn new(config: &Config) -> Admin {
        Admin::editing(ConfigFile::for_config(config), config.clone())
    }

    /// An admin editing `config_file`, showing `fallback` while the file is missing or broken.
    fn editing(config_file: Option<ConfigFile>, fallback: Config) -> Admin {
        Admin {
            inner: Arc::new(Inner {
                config_file,
                fallback,
                pipeline: RwLock::new(None),
                events: Mutex::new(VecDeque::new()),
                apply: Mutex::new(()),
            }),
            watcher: Mutex::new(None),
            watching: std::sync::atomic::AtomicBool::new(false),
            secrets: None,
            agents: None,
        }
    }

    /// An admin for the config file at `path`, which does not load (the desktop app launched
    /// with a broken file): the settings layer edits that file, and [`Admin::restart_config`]
    /// reads it again, so a restart runs the engine once it is fixed. The built-in defaults are
    /// only what it shows while the file is broken: a restart loads the file or fails (a file
    /// since removed means the defaults, as at a launch without one).
    pub fn for_unloadable(path: &Path) -> Result<Admin, AdminError> {
        let fallback = Config::defaults().map_err(|e| AdminError::Invalid(e.to_string()))?;
        Ok(Admin::editing(Some(ConfigFile::new(path)), fallback))
    }

    /// Uses this keychain store instead of the platform one under the config's service (tests).
    pub fn with_secret_store(mut self, store: SecretStore) -> Admin {
        self.secrets = Some(store);
        self
    }

    /// Uses these agent directories and this `cordon` binary instead of the user's home and
    /// [`agents::find_cordon_binary`] (tests, bundled installs).
    pub fn with_agents(mut self, bases: Bases, cordon: PathBuf) -> Admin {
        self.agents = Some((bases, cordon));
        self
    }

    /// Connects the running engine (after start and after every restart).
    pub fn attach(&self, engine: &Engine) {
        self.attach_pipeline(engine.pipeline().clone());
    }

    /// Connects a pipeline directly (tests, embedders without an [`Engine`]).
    pub fn attach_pipeline(&self, pipeline: Arc<Pipeline>) {
        match self.inner.pipeline.write() {
            Ok(mut p) => *p = Some(pipeline),
            Err(p) => *p.into_inner() = Some(pipeline),
        }
    }

    /// Disconnects the engine (before shutdown or restart): saves still write files, nothing
    /// is swapped in.
    pub fn detach(&self) {
        match self.inner.pipeline.write() {
            Ok(mut p) => *p = None,
            Err(p) => *p.into_inner() = None,
        }
    }

    /// Starts (or restarts) watching the policy file/directory for outside edits. No-op for the
    /// shipped default, which has no file.
    pub fn watch_policy(&self) -> Result<(), AdminError> {
        let location = self.inner.location();
        let inner = Arc::downgrade(&self.inner);
        let watcher = watch::start(&location, move || {
            if let Some(inner) = inner.upgrade() {
                inner.reload();
            }
        })?;
        *lock(&self.watcher) = watcher;
        self.watching
            .store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// Stops watching.
    pub fn unwatch_policy(&self) {
        self.watching
            .store(false, std::sync::atomic::Ordering::SeqCst);
        *lock(&self.watcher) = None;
    }

    /// The config as the file says now.
    pub fn config(&self) -> Config {
        self.inner.config()
    }

    /// The config a restarted engine should use: the file as it is now, validated (servers,
    /// reviewer and timeout edits take effect this way). Call it BEFORE shutting the old engine
    /// down, so a config broken by hand keeps the old engine running:
    /// `let c = admin.restart_config()?; admin.detach(); old.shutdown().await?;
    /// let new = Engine::start(c).await?; admin.attach(&new);`.
    pub fn restart_config(&self) -> Result<Config, AdminError> {
        match &self.inner.config_file {
            Some(file) if file.path().exists() => file.load(),
            _ => Ok(self.inner.fallback.clone()),
        }
    }

    /// Where the policy lives now.
    pub fn policy_location(&self) -> Location {
        self.inner.location()
    }

    fn pipeline(&self) -> Result<Arc<Pipeline>, AdminError> {
        self.inner.pipeline().ok_or(AdminError::NotRunning)
    }

    fn config_file(&self) -> Result<&ConfigFile, AdminError> {
        self.inner.config_file.as_ref().ok_or_else(|| {
            AdminError::NotFound(
                "no config file and no default config location (no home directory)".to_owned(),
            )
        })
    }

    // ---- status ----

    /// The status for the tray and the windows (`engine`: None while stopped or restarting).
    pub fn status(&self, engine: Option<&Engine>, shell: &ShellState) -> Status {
        let policy_path = self
            .inner
            .location()
            .path()
            .map(|p| p.display().to_string());
        match engine {
            Some(engine) => Status::running(engine, policy_path, shell),
            None => Status::stopped(&self.inner.fallback, policy_path, shell),
        }
    }

    // ---- policy ----

    /// The policy as the editor opens it.
    pub fn policy_get(&self) -> Result<PolicyDoc, AdminError> {
        let running = self
            .inner
            .pipeline()
            .map(|p| p.policy().version().to_owned());
        self.inner.location().doc(running.as_deref())
    }

    /// Validates an edit of file `name` (the others as on disk).
    pub fn policy_validate(&self, name: &str, text: &str) -> Result<Validation, AdminError> {
        policy::validate(&self.inner.location(), name, text)
    }

    /// Runs the edited policy's own tests.
    pub fn policy_test(&self, name: &str, text: &str) -> Result<TestRun, AdminError> {
        policy::test(&self.inner.location(), name, text)
    }

    /// Judges the last `limit` (default 500) evidence records under the edited policy.
    pub fn policy_replay(
        &self,
        name: &str,
        text: &str,
        limit: Option<usize>,
    ) -> Result<Replay, AdminError> {
        let (built, _) = policy::build(&self.inner.location(), name, text)?;
        let policy = built.map_err(|d| {
            AdminError::Invalid(format!(
                "the edited policy is invalid: {}",
                policy::first_error(&d)
            ))
        })?;
        let pipeline = self.pipeline()?;
        policy::replay(pipeline.recorder().log(), &policy, limit)
    }

    /// Saves an edit: refuses an invalid policy (nothing changes); otherwise records the
    /// snapshot in the evidence log, replaces the file atomically and swaps the policy into the
    /// running engine. Saving the shipped default writes `<config dir>/policy.yaml` and points
    /// the config at it.
    pub fn policy_save(&self, name: &str, text: &str) -> Result<Saved, AdminError> {
        let _apply = lock(&self.inner.apply);
        let location = self.inner.location();
        let target = location.file_for(name)?;
        let (built, _) = policy::build(&location, name, text)?;
        let policy = built.map_err(|d| {
            AdminError::Invalid(format!(
                "the policy is invalid, nothing was saved: {}",
                policy::first_error(&d)
            ))
        })?;
        let is_default = matches!(location, Location::Default { .. });
        if is_default && self.inner.config().org_policy.is_some() {
            // Saving "the default" would point `policy:` at a file, dropping the organisation's.
            return Err(AdminError::Conflict(
                "this machine follows the organisation policy from git; to add local rules, \
                 name a file in the config's `policy.local:` and edit that"
                    .to_owned(),
            ));
        }
        // With an organisation policy, the local policy is layered on it (it can only make it
        // stricter); a local policy that tries more is refused before anything is written.
        let policy = match self.inner.pipeline().and_then(|p| p.org_policy().cloned()) {
            Some(org) => org.layer_local(policy)?,
            None => policy,
        };
        if is_default && target.exists() {
            // Never overwrite a file the config does not use: it may be someone's policy.
            return Err(AdminError::Conflict(format!(
                "{} already exists but the config does not use it: point the config's                  `policy:` at it, or move it away, then save again",
                target.display()
            )));
        }
        let version = policy.version().to_owned();
        let pipeline = self.inner.pipeline();
        // 1. The evidence knows the version before anything can cite it.
        if let Some(pipeline) = &pipeline {
            let sources: Vec<(String, String)> = policy
                .sources()
                .iter()
                .map(|s| (s.name.clone(), s.text.clone()))
                .collect();
            pipeline
                .recorder()
                .log()
                .record_policy(&version, &sources)?;
        }
        // 2. The file.
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| AdminError::io(format!("cannot create {}", dir.display()), e))?;
        }
        fsutil::write_atomic(&target, text.as_bytes(), 0o644)?;
        if is_default {
            self.config_file()?.set_policy(&target)?;
        }
        // 3. The running engine (recording it again is a no-op; it is the one way in).
        if let Some(pipeline) = &pipeline {
            pipeline.apply_policy(policy)?;
        }
        self.inner.event(
            true,
            Some(version.clone()),
            format!("saved {}: policy {version} in force", target.display()),
        );
        drop(_apply);
        if is_default && self.watching.load(std::sync::atomic::Ordering::SeqCst) {
            // The policy now lives in a file: watch it.
            self.watch_policy()?;
        }
        Ok(Saved {
            version,
            path: target.display().to_string(),
        })
    }

    /// Recent reloads and refusals, oldest first.
    pub fn policy_events(&self) -> Vec<PolicyEvent> {
        lock(&self.inner.events).iter().cloned().collect()
    }

    // ---- settings ----

    /// The settings page.
    pub fn config_get(&self) -> Result<Settings, AdminError> {
        match &self.inner.config_file {
            Some(file) => file.settings(),
            None => {
                let c = &self.inner.fallback;
                Ok(Settings {
                    reviewer: c.reviewer.clone(),
                    approval_timeout_secs: c.approval_timeout.as_secs(),
                    servers: Vec::new(),
                    config_path: None,
                })
            }
        }
    }

    /// Adds a server or edits `original_name` (takes effect at the engine's restart).
    pub fn server_save(
        &self,
        entry: &ServerEntry,
        original_name: Option<&str>,
    ) -> Result<Settings, AdminError> {
        self.config_file()?.server_save(entry, original_name)
    }

    /// Removes a server (takes effect at the engine's restart).
    pub fn server_remove(&self, name: &str) -> Result<Settings, AdminError> {
        self.config_file()?.server_remove(name)
    }

    /// Sets the reviewer identity and the approval timeout (take effect at the restart).
    pub fn settings_save(
        &self,
        reviewer: &str,
        approval_timeout_secs: u64,
    ) -> Result<Settings, AdminError> {
        self.config_file()?
            .settings_save(reviewer, approval_timeout_secs)
    }

    // ---- secrets ----

    fn secret_store(&self, config: &Config) -> Result<SecretStore, AdminError> {
        match &self.secrets {
            Some(store) => Ok(store.clone()),
            None => Ok(SecretStore::new(&config.keychain_service)?),
        }
    }

    /// Secret names with where the config uses them and whether the keychain holds them.
    pub fn secrets_list(&self) -> Result<Vec<SecretEntry>, AdminError> {
        let config = self.config();
        secrets::list(&self.secret_store(&config)?, &config)
    }

    /// Stores a secret (the value is never returned or logged).
    pub fn secret_set(&self, name: &str, value: &str) -> Result<Vec<SecretEntry>, AdminError> {
        let config = self.config();
        secrets::set(&self.secret_store(&config)?, &config, name, value)
    }

    /// Deletes a secret.
    pub fn secret_remove(&self, name: &str) -> Result<Vec<SecretEntry>, AdminError> {
        let config = self.config();
        secrets::remove(&self.secret_store(&config)?, &config, name)
    }

    // ---- agents ----

    fn agent_env(&self) -> Result<(Bases, Option<PathBuf>), AdminError> {
        match &self.agents {
            Some((bases, cordon)) => Ok((bases.clone(), Some(cordon.clone()))),
            None => Ok((agents::system_bases()?, agents::find_cordon_binary())),
        }
    }

    /// Every supported agent with its state and drift.
    pub fn agents_list(&self) -> Result<Vec<AgentEntry>, AdminError> {
        Ok(agents::list(&self.agent_env()?.0))
    }

    /// Routes an agent through Cordon.
    pub fn agent_install(&self, name: &str) -> Result<Vec<AgentEntry>, AdminError> {
        let (bases, cordon) = self.agent_env()?;
        let cordon = cordon.ok_or_else(|| {
            AdminError::NotFound(
                "cannot find the `cordon` binary (next to the app or on PATH)".to_owned(),
            )
        })?;
        agents::install(&bases, &cordon, name)
    }

    /// Takes an agent out from under Cordon.
    pub fn agent_uninstall(&self, name: &str) -> Result<Vec<AgentEntry>, AdminError> {
        let (bases, cordon) = self.agent_env()?;
        let cordon = cordon.unwrap_or_else(|| PathBuf::from("/usr/bin/cordon"));
        agents::uninstall(&bases, &cordon, name)
    }

    // ---- evidence ----

    /// The evidence viewer over the running engine's log.
    pub fn evidence(&self) -> Result<Evidence, AdminError> {
        Ok(Evidence::new(self.pipeline()?.recorder().log().clone()))
    }

    /// One page of records.
    pub fn evidence_query(&self, query: &EvidenceQuery) -> Result<EvidencePage, AdminError> {
        self.evidence()?.query(query)
    }

    /// One full record.
    pub fn evidence_record(&self, id: &str) -> Result<cordon_evidence::Record, AdminError> {
        self.evidence()?.record(id)
    }

    /// Distinct agents.
    pub fn evidence_agents(&self) -> Result<Vec<String>, AdminError> {
        self.evidence()?.agents()
    }

    /// Activity buckets.
    pub fn evidence_activity(
        &self,
        since: Option<&str>,
        bucket_secs: u64,
    ) -> Result<Vec<ActivityBucket>, AdminError> {
        self.evidence()?.activity(since, bucket_secs)
    }

    /// Chain and signature verification.
    pub fn evidence_verify(&self) -> Result<VerifySummary, AdminError> {
        self.evidence()?.verify()
    }

    /// Export to a file chosen in the save dialog.
    pub fn evidence_export(
        &self,
        kind: ExportKind,
        path: &Path,
        query: Option<&EvidenceQuery>,
    ) -> Result<Exported, AdminError> {
        self.evidence()?.export(kind, path, query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared<T: Send + Sync + 'static>() {}

    #[test]
    fn admin_can_live_in_tauri_app_state() {
        // Tauri's `manage` needs Send + Sync + 'static.
        shared::<Admin>();
        shared::<Evidence>();
    }

    #[test]
    fn events_are_bounded() {
        let text =
            "socket: /nonexistent/c.sock\nevidence: /nonexistent/e.db\npins: /nonexistent/p.json\n";
        let config = Config::parse(text, Path::new("/nonexistent/config.yaml"));
        assert!(config.is_ok(), "{config:?}");
        let Ok(config) = config else { return };
        let admin = Admin::new(&config);
        for i in 0..(MAX_EVENTS + 10) {
            admin.inner.event(true, None, format!("event {i}"));
        }
        let events = admin.policy_events();
        assert_eq!(events.len(), MAX_EVENTS);
        assert_eq!(
            events.last().map(|e| e.message.as_str()),
            Some(format!("event {}", MAX_EVENTS + 9).as_str())
        );
    }
}
