//! The organisation policy in the engine (`policy: {repo: …}` in the config).
//!
//! At start the engine pulls the policy repository; when that fails it re-verifies the last good
//! commit from its cache; when there is none it refuses every call (rule
//! [`UNAVAILABLE_RULE`], the reason saying why) until a pull succeeds. Then it pulls every
//! `pull_every`: a new commit that verifies and loads is recorded in the evidence (version = the
//! commit id, sources = the files read from it) and swapped in; a pull that fails — network, an
//! unsigned commit, an untrusted signer, a tampered cache, YAML that does not load — keeps the
//! policy in force and is reported by `cordon status` and the log.
//!
//! A local policy (`policy.local`) is layered on top with [`Policy::layered`]: it can only make
//! the organisation's decisions stricter. A local policy that does not load, or tries what only
//! the organisation may do, keeps the engine from starting (as a broken policy always has); at
//! a later pull it keeps the last good policy in force.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cordon_fleet::orgpolicy::{OrgPolicySource, Pulled};
use cordon_policy::{CordonPaths, Policy, Source};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, OrgPolicySpec};
use crate::error::GatewayError;
use crate::pipeline::Pipeline;

/// The rule that refuses every call while no good organisation policy is available.
pub const UNAVAILABLE_RULE: &str = "org-policy-unavailable";
/// The version label recorded while no good organisation policy is available (plus the refusal
/// text's hash, like any policy version).
pub const UNAVAILABLE_VERSION: &str = "org-policy-unavailable";

/// What `cordon status` shows about the organisation policy.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct OrgPolicyStatus {
    /// The repository.
    pub repo: String,
    /// `branch main` / `tag v3`.
    pub reference: String,
    /// The commit in force (None: no good policy yet, every call is refused).
    pub commit: Option<String>,
    /// Who signed it.
    pub signer: Option<String>,
    /// The full policy version in force (the commit, plus the local layer's version).
    pub version: String,
    /// When the last pull was tried (RFC 3339).
    pub last_pull: Option<String>,
    /// Why the last pull (or start) did not apply a policy; None when it did or nothing changed.
    pub last_error: Option<String>,
}

/// The organisation policy's state in a running engine.
pub struct OrgPolicy {
    spec: OrgPolicySpec,
    local: Option<PathBuf>,
    protect: CordonPaths,
    status: Mutex<OrgPolicyStatus>,
    /// The organisation policy in force, without the local layer (None: none yet).
    org: Mutex<Option<Policy>>,
}

impl OrgPolicy {
    /// The organisation policy the config names, if any.
    pub fn from_config(config: &Config) -> Option<Arc<OrgPolicy>> {
        let spec = config.org_policy.clone()?;
        let status = OrgPolicyStatus {
            repo: spec.source.repo.clone(),
            reference: spec.source.reference.to_string(),
            ..OrgPolicyStatus::default()
        };
        Some(Arc::new(OrgPolicy {
            spec,
            local: config.policy.clone(),
            protect: crate::engine::cordon_paths(config),
            status: Mutex::new(status),
            org: Mutex::new(None),
        }))
    }

    /// The source being pulled.
    pub fn source(&self) -> &OrgPolicySource {
        &self.spec.source
    }

    /// How often it is pulled.
    pub fn pull_every(&self) -> Duration {
        self.spec.pull_every
    }

    /// A copy of the status.
    pub fn status(&self) -> OrgPolicyStatus {
        match self.status.lock() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn update(&self, f: impl FnOnce(&mut OrgPolicyStatus)) {
        match self.status.lock() {
            Ok(mut s) => f(&mut s),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// The policy to start with: a fresh pull, else the last good commit, else one that refuses
    /// every call. Errs only when the local policy is broken (the engine then refuses to start,
    /// as with any broken policy).
    pub async fn initial(&self) -> Result<Policy, GatewayError> {
        let now = now();
        let pulled = match self.spec.source.pull().await {
            Ok(p) => match self.build(&p) {
                Ok(policy) => Ok((p, policy)),
                Err(Failure::Org(why)) => Err(why),
                Err(Failure::Local(e)) => return Err(e),
            },
            Err(e) => Err(e.to_string()),
        };
        let (pulled, policy, error) = match pulled {
            Ok((p, policy)) => (p, policy, None),
            Err(pull_error) => {
                tracing::warn!("organisation policy: pull failed: {pull_error}");
                match self.spec.source.last_good().await {
                    Ok(Some(p)) => match self.build(&p) {
                        Ok(policy) => (
                            p,
                            policy,
                            Some(format!(
                                "pull failed ({pull_error}); the last good policy stays in force"
                            )),
                        ),
                        Err(Failure::Local(e)) => return Err(e),
                        Err(Failure::Org(why)) => return self.unavailable(&now, &pull_error, &why),
                    },
                    Ok(None) => {
                        return self.unavailable(&now, &pull_error, "none pulled yet");
                    }
                    Err(e) => return self.unavailable(&now, &pull_error, &e.to_string()),
                }
            }
        };
        if error.is_none()
            && let Err(e) = self.spec.source.mark_good(&pulled.commit)
        {
            tracing::warn!("organisation policy: cannot record the last good commit: {e}");
        }
        self.applied(&pulled, &policy, &now, error);
        Ok(policy)
    }

    /// Pulls once; returns the new policy when a new commit verified and loaded (the caller
    /// records and applies it), None when nothing changed or the pull failed (the status says
    /// why; the policy in force stays).
    pub async fn refresh(&self, in_force: &str) -> Option<Policy> {
        let now = now();
        let result = match self.spec.source.pull().await {
            Err(e) => Err(e.to_string()),
            Ok(p) => match self.build(&p) {
                Ok(policy) => Ok((p, policy)),
                Err(Failure::Org(why)) => Err(why),
                Err(Failure::Local(e)) => Err(format!("the local policy: {e}")),
            },
        };
        match result {
            Ok((pulled, policy)) => {
                if let Err(e) = self.spec.source.mark_good(&pulled.commit) {
                    tracing::warn!("organisation policy: cannot record the last good commit: {e}");
                }
                let changed = policy.version() != in_force;
                self.applied(&pulled, &policy, &now, None);
                changed.then_some(policy)
            }
            Err(why) => {
                let kept = self.status().commit.map_or_else(
                    || "no good policy yet: every call is refused".to_owned(),
                    |c| format!("commit {c} stays in force"),
                );
                tracing::warn!("organisation policy: pull refused: {why}; {kept}");
                self.update(|s| {
                    s.last_pull = Some(now);
                    s.last_error = Some(format!("{why}; {kept}"));
                });
                None
            }
        }
    }

    /// Layers `local` (a reloaded local policy) on the organisation policy in force: what a
    /// local edit between pulls must go through, so it can only make the policy stricter. With
    /// no organisation policy in force yet, it is refused (every call stays refused).
    pub fn layer_local(&self, local: Policy) -> Result<Policy, GatewayError> {
        let org = match self.org.lock() {
            Ok(o) => o.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let Some(org) = org else {
            return Err(GatewayError::Policy {
                path: self.spec.source.repo.clone(),
                message: "no verified organisation policy is in force yet: the local policy \
                          cannot apply on its own, every call stays refused"
                    .to_owned(),
            });
        };
        Policy::layered(org, local)
            .map(|p| p.with_cordon_paths(self.protect.clone()))
            .map_err(|e| GatewayError::Policy {
                path: self
                    .local
                    .as_ref()
                    .map_or_else(|| "<local policy>".to_owned(), |p| p.display().to_string()),
                message: e.to_string(),
            })
    }

    fn applied(&self, pulled: &Pulled, policy: &Policy, now: &str, error: Option<String>) {
        tracing::info!(
            commit = %pulled.commit,
            signer = %pulled.signer,
            version = policy.version(),
            "organisation policy in force"
        );
        if let Ok(org) = org_of(pulled) {
            match self.org.lock() {
                Ok(mut o) => *o = Some(org),
                Err(poisoned) => *poisoned.into_inner() = Some(org),
            }
        }
        self.update(|s| {
            s.commit = Some(pulled.commit.clone());
            s.signer = Some(pulled.signer.clone());
            s.version = policy.version().to_owned();
            s.last_pull = Some(now.to_owned());
            s.last_error = error;
        });
    }

    fn unavailable(
        &self,
        now: &str,
        pull_error: &str,
        last_good: &str,
    ) -> Result<Policy, GatewayError> {
        let reason = format!(
            "no verified organisation policy is available yet, so every call is refused: the \
             pull from {} failed ({pull_error}); last good policy: {last_good}",
            self.spec.source.repo
        );
        tracing::error!("organisation policy: {reason}");
        let policy =
            Policy::refuse_all(UNAVAILABLE_RULE, &reason, UNAVAILABLE_VERSION).map_err(|e| {
                GatewayError::Policy {
                    path: self.spec.source.repo.clone(),
                    message: e.to_string(),
                }
            })?;
        self.update(|s| {
            s.commit = None;
            s.signer = None;
            s.version = policy.version().to_owned();
            s.last_pull = Some(now.to_owned());
            s.last_error = Some(reason.clone());
        });
        Ok(policy.with_cordon_paths(self.protect.clone()))
    }

    /// The organisation policy read from `pulled` (version = its commit), with the local policy
    /// layered on top.
    fn build(&self, pulled: &Pulled) -> Result<Policy, Failure> {
        let org = org_of(pulled).map_err(Failure::Org)?;
        let policy = match &self.local {
            None => org,
            Some(path) => {
                let local_error = |message: String| {
                    Failure::Local(GatewayError::Policy {
                        path: path.display().to_string(),
                        message,
                    })
                };
                let local = Policy::load(path).map_err(|e| local_error(e.to_string()))?;
                Policy::layered(org, local).map_err(|e| local_error(e.to_string()))?
            }
        };
        Ok(policy.with_cordon_paths(self.protect.clone()))
    }
}

/// The organisation policy read from `pulled`, version = its commit id.
fn org_of(pulled: &Pulled) -> Result<Policy, String> {
    let sources: Vec<Source> = pulled
        .files
        .iter()
        .map(|f| Source {
            name: format!("org:{}", f.path),
            text: f.text.clone(),
        })
        .collect();
    Policy::from_sources(&sources)
        .map(|p| p.with_version(pulled.commit.clone()))
        .map_err(|e| {
            format!(
                "the policy at commit {} does not load: {}",
                pulled.commit,
                e.to_string().replace('\n', "; ")
            )
        })
}

enum Failure {
    /// The organisation's side failed: keep the last good policy.
    Org(String),
    /// The local policy is broken.
    Local(GatewayError),
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Pulls every `pull_every` until `stop`; a new policy is recorded in the evidence first, then
/// swapped in.
pub fn spawn(
    org: Arc<OrgPolicy>,
    pipeline: Arc<Pipeline>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(org.pull_every());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // The first tick is immediate: the start already pulled.
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let in_force = pipeline.policy().version().to_owned();
            let Some(policy) = org.refresh(&in_force).await else {
                continue;
            };
            if let Err(e) = apply(&pipeline, policy).await {
                tracing::error!("organisation policy: not applied: {e}");
                org.update(|s| {
                    s.last_error = Some(format!(
                        "not applied: {e}; the previous policy stays in force"
                    ));
                });
            }
        }
    })
}

/// Applies `policy` through the pipeline's one policy-change function (it records the snapshot
/// in the evidence first, then swaps the policy in), off the async threads (one SQLite write).
pub async fn apply(pipeline: &Arc<Pipeline>, policy: Policy) -> Result<String, GatewayError> {
    let pipeline = pipeline.clone();
    tokio::task::spawn_blocking(move || pipeline.apply_policy(policy))
        .await
        .map_err(|e| GatewayError::Evidence(e.to_string()))?
        .map_err(|e| GatewayError::Evidence(e.to_string()))
}
