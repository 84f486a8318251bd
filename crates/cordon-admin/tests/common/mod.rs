//! Shared harness: a real engine (no upstreams) with its config, policy and evidence log in a
//! temporary directory, and an [`Admin`] attached to it.
#![allow(
    dead_code,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cordon_admin::Admin;
use cordon_evidence::{NewRecord, Outcome};
use cordon_gateway::{Config, Engine};

pub const POLICY: &str = "version: t1\ndefault_decision: deny\nrules:\n  - id: allow-reads\n    match:\n      topics: [\"job.mcp-bridge.read.*\"]\n    decision: allow\n    reason: reads are fine\n  - id: hold-writes\n    match:\n      topics: [\"job.mcp-bridge.write.*\"]\n    decision: require_approval\n    reason: writes need review\ntests:\n  - name: reads pass\n    call: {tool: read_file, args: {path: src/main.rs}}\n    expect: allow\n  - call: {tool: write_file, args: {path: a.txt, content: x}}\n    expect: require_approval\n";

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub engine: Option<Engine>,
    pub admin: Admin,
}

impl Harness {
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }

    pub fn engine(&self) -> &Engine {
        self.engine.as_ref().unwrap()
    }

    pub fn running_version(&self) -> String {
        self.engine().pipeline().policy().version().to_owned()
    }

    pub async fn stop(mut self) {
        self.admin.unwatch_policy();
        self.admin.detach();
        if let Some(engine) = self.engine.take() {
            engine.shutdown().await.unwrap();
        }
    }
}

/// The config text; `policy_line` e.g. `policy: ./policy.yaml\n` or "".
pub fn config_text(policy_line: &str) -> String {
    format!(
        "# Cordon test config\nsocket: ./c.sock   # the control socket\n{policy_line}evidence: ./evidence.db\n\
         signing_key: file:./key.pem\npins: ./pins.json\nkeychain_service: cordon-admin-test\n\n\
         # who approves\nreviewer: rev@example.com\n"
    )
}

/// Starts an engine with `policy` (None: the shipped default) and attaches an admin.
pub async fn start(policy: Option<&str>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let policy_line = match policy {
        Some(text) => {
            std::fs::write(dir.path().join("policy.yaml"), text).unwrap();
            "policy: ./policy.yaml\n"
        }
        None => "",
    };
    let config_path = dir.path().join("config.yaml");
    std::fs::write(&config_path, config_text(policy_line)).unwrap();
    let config = Config::load(&config_path).unwrap();
    let engine = Engine::start(config.clone()).await.unwrap();
    let admin = Admin::new(engine.config());
    admin.attach(&engine);
    Harness {
        dir,
        engine: Some(engine),
        admin,
    }
}

/// A record as the gateway would write it.
pub fn record(agent: &str, server: &str, tool: &str, args: serde_json::Value) -> NewRecord {
    NewRecord {
        agent: agent.into(),
        session_id: "s1".into(),
        server: server.into(),
        tool: tool.into(),
        action: "job.mcp-bridge.read.file".into(),
        target: args.get("path").and_then(|p| p.as_str()).map(str::to_owned),
        risk_tags: vec![],
        decision: "allow".into(),
        rule_id: Some("allow-reads".into()),
        reason: "reads are fine".into(),
        policy_version: "t1+000000000000".into(),
        reviewer: None,
        approval_channel: None,
        outcome: Outcome::Allowed,
        args,
        diff: None,
        duration_ms: 3,
        error: None,
        phase: None,
        intent_id: None,
    }
}

/// Polls `check` until it holds (generous bound; no assertion on speed).
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for: {what}");
}
