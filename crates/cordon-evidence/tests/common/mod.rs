//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use cordon_evidence::{EvidenceLog, KeyStore, NewRecord, Outcome};

/// A temp dir holding a database and a key file.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    pub fn db(&self) -> PathBuf {
        self.dir.path().join("evidence.db")
    }
    pub fn key(&self) -> KeyStore {
        KeyStore::File(self.dir.path().join("signing.pem"))
    }
    pub fn key_at(&self, name: &str) -> KeyStore {
        KeyStore::File(self.dir.path().join(name))
    }
    pub fn open(&self) -> EvidenceLog {
        EvidenceLog::open(&self.db(), self.key()).unwrap()
    }
    pub fn raw(&self) -> rusqlite::Connection {
        raw(&self.db())
    }
}

pub fn raw(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .unwrap();
    conn
}

/// A varied record: agents, sessions, topics and outcomes cycle with `i`.
pub fn sample(i: u64) -> NewRecord {
    let topics = [
        (
            "read_file",
            "job.mcp-bridge.read.file",
            "allow",
            Outcome::Allowed,
        ),
        (
            "write_file",
            "job.mcp-bridge.write.file",
            "require_approval",
            Outcome::Approved,
        ),
        (
            "git_push",
            "job.mcp-bridge.git.push",
            "require_approval",
            Outcome::Rejected,
        ),
        (
            "shell",
            "job.mcp-bridge.exec.shell",
            "allow",
            Outcome::Allowed,
        ),
        (
            "read_file",
            "job.mcp-bridge.read.env",
            "deny",
            Outcome::Denied,
        ),
    ];
    let (tool, action, decision, outcome) = topics[(i % 5) as usize];
    NewRecord {
        agent: if i.is_multiple_of(2) {
            "claude-code"
        } else {
            "cursor"
        }
        .into(),
        session_id: format!("sess_{}", i % 3),
        server: "filesystem".into(),
        tool: tool.into(),
        action: action.into(),
        target: Some(format!("src/file_{i}.rs")),
        risk_tags: if i % 5 == 1 {
            vec!["code-change".into()]
        } else {
            vec![]
        },
        decision: decision.into(),
        rule_id: Some(format!("rule-{}", i % 5)),
        reason: "policy".into(),
        policy_version: "v1+abc123".into(),
        reviewer: (outcome == Outcome::Approved || outcome == Outcome::Rejected)
            .then(|| "alice@example.com".to_string()),
        approval_channel: None,
        outcome,
        args: serde_json::json!({"path": format!("src/file_{i}.rs"), "n": i}),
        diff: (i % 5 == 1).then(|| format!("--- a\n+++ b\n@@\n+line {i}\n")),
        duration_ms: i,
        error: None,
        phase: None,
        intent_id: None,
    }
}
