//! The Tauri commands' logic ([`Core`]) against a real in-process engine, without a display:
//! a held call is approved / denied through the same calls the approval window makes.

#![allow(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]
use std::sync::Arc;

use cordon_desktop::core::{Core, DesktopError, Refusing};
use cordon_gateway::approvals::{ApprovalBroker, ApprovalDecision, ApprovalRequest, Ticket};
use cordon_gateway::{Config, Engine};

struct Fixture {
    _dir: tempfile::TempDir,
    core: Core,
    broker: Arc<ApprovalBroker>,
}

async fn start() -> Fixture {
    let dir = tempfile::Builder::new()
        .prefix("cdesk-")
        .tempdir_in("/tmp")
        .unwrap();
    let root = dir.path();
    let text = format!(
        "socket: {sock:?}\nevidence: {ev:?}\nsigning_key: \"file:{key}\"\n\
         keychain_service: cordon-desktop-test\napproval_timeout: 60s\n\
         reviewer: desk-reviewer@example.com\nworkspace:\n  builtin_tools: false\n",
        sock = root.join("c.sock"),
        ev = root.join("evidence.db"),
        key = root.join("signing.key").display(),
    );
    let path = root.join("cordon.yaml");
    std::fs::write(&path, text).unwrap();
    let config = Config::load(&path).unwrap();
    let engine = Engine::start(config).await.unwrap();
    let broker = engine.pipeline().broker().clone();
    Fixture {
        _dir: dir,
        core: Core::new(engine),
        broker,
    }
}

/// Stops the fixture's engine; returns its config, and its config file's path and text (to break
/// the file and put it back).
async fn stopped(f: &Fixture) -> (Config, std::path::PathBuf, String) {
    let engine = f.core.take().unwrap();
    let config = engine.config().clone();
    engine.shutdown().await.unwrap();
    let path = config.source.clone().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    (config, path, text)
}

fn hold(broker: &ApprovalBroker, target: &str) -> (String, Ticket) {
    let request = ApprovalRequest {
        agent: "claude".into(),
        session_id: "session-1".into(),
        server: "filesystem".into(),
        tool: "write_file".into(),
        action: "job.mcp-bridge.write.file".into(),
        target: Some(target.into()),
        risk_tags: vec!["code-write".into()],
        rule_id: Some("approve-code-write".into()),
        reason: "File writes need developer review".into(),
        diff: Some("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n".into()),
        args: serde_json::json!({"path": target, "content": "b\n"}),
        root: None,
        policy_version: "test".into(),
    };
    let (pending, ticket) = broker.hold(request).unwrap();
    (pending.id, ticket)
}

#[tokio::test]
async fn approve_once_releases_exactly_that_call_with_the_configured_reviewer() {
    let f = start().await;
    let (a, ticket_a) = hold(&f.broker, "a.txt");
    let (b, _ticket_b) = hold(&f.broker, "b.txt");

    let listed = f.core.pending().unwrap();
    assert_eq!(listed.len(), 2);
    let shown = f.core.approval(&a).unwrap();
    assert_eq!(shown.target.as_deref(), Some("a.txt"));
    assert!(shown.diff.is_some());

    let decided = f.core.approve(&a, false).unwrap();
    assert_eq!((decided.decision, decided.session), ("approved", false));
    assert_eq!(
        ticket_a.wait(&f.broker).await,
        ApprovalDecision::Approved {
            reviewer: "desk-reviewer@example.com".into(),
            session: false,
            // The window approves in-process: recorded as such in the evidence.
            channel: cordon_gateway::approvals::Channel::TrayWindow,
        }
    );
    let left: Vec<String> = f
        .core
        .pending()
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(left, vec![b]);

    // Used once: a second decision on the same id is refused, not silently accepted.
    assert!(matches!(
        f.core.approve(&a, false),
        Err(DesktopError::UnknownApproval(_))
    ));
    assert!(matches!(
        f.core.deny(&a, None),
        Err(DesktopError::UnknownApproval(_))
    ));
    f.core.take().unwrap().shutdown().await.unwrap();
}

#[tokio::test]
async fn approve_for_session_is_passed_to_the_engine() {
    let f = start().await;
    let (id, ticket) = hold(&f.broker, "a.txt");
    assert!(f.core.approve(&id, true).unwrap().session);
    assert!(matches!(
        ticket.wait(&f.broker).await,
        ApprovalDecision::Approved { session: true, .. }
    ));
    // Scoped to that target: the same file passes, another file does not.
    let grant = |target: &str| {
        f.broker.session_grant(
            "claude",
            "session-1",
            "filesystem",
            "write_file",
            "job.mcp-bridge.write.file",
            Some(target),
        )
    };
    assert!(grant("a.txt").is_some());
    assert!(grant("b.txt").is_none());
    f.core.take().unwrap().shutdown().await.unwrap();
}

#[tokio::test]
async fn the_window_is_shown_hostile_text_escaped() {
    let f = start().await;
    let (id, _ticket) = hold(&f.broker, "a\n+++ b/fake\u{1b}[2K\u{202e}txt.exe");
    let shown = f.core.approval(&id).unwrap();
    let target = shown.request.target.clone().unwrap_or_default();
    assert_eq!(target, "a\\n+++ b/fake\\x1b[2K\\u{202e}txt.exe");
    assert_eq!(
        shown.args["path"].as_str(),
        Some("a\\n+++ b/fake\\x1b[2K\\u{202e}txt.exe")
    );
    // Deciding still goes by the id it was listed under.
    assert!(f.core.deny(&id, None).is_ok());
    f.core.take().unwrap().shutdown().await.unwrap();
}

#[tokio::test]
async fn deny_carries_the_trimmed_reason() {
    let f = start().await;
    let (id, ticket) = hold(&f.broker, "a.txt");
    let decided = f.core.deny(&id, Some("  not this file  ")).unwrap();
    assert_eq!(decided.decision, "denied");
    assert_eq!(
        ticket.wait(&f.broker).await,
        ApprovalDecision::Rejected {
            reviewer: "desk-reviewer@example.com".into(),
            reason: Some("not this file".into())
        }
    );
    f.core.take().unwrap().shutdown().await.unwrap();
}

#[tokio::test]
async fn hostile_input_is_refused_and_the_call_stays_held() {
    let f = start().await;
    let (id, _ticket) = hold(&f.broker, "a.txt");
    for bad in ["", "../../etc/passwd", "id with spaces", &"x".repeat(500)] {
        assert!(
            matches!(f.core.approve(bad, false), Err(DesktopError::Invalid(_))),
            "{bad:?}"
        );
        assert!(f.core.approval(bad).is_err());
    }
    assert!(matches!(
        f.core.approve("01UNKNOWN", false),
        Err(DesktopError::UnknownApproval(_))
    ));
    assert!(matches!(
        f.core.deny(&id, Some(&"r".repeat(5000))),
        Err(DesktopError::Invalid(_))
    ));
    assert_eq!(f.core.pending().unwrap().len(), 1, "nothing was decided");
    f.core.take().unwrap().shutdown().await.unwrap();
}

#[tokio::test]
async fn quitting_refuses_held_calls_and_later_commands_fail_closed() {
    let f = start().await;
    let (id, ticket) = hold(&f.broker, "a.txt");
    let engine = f.core.take().unwrap();
    engine.shutdown().await.unwrap();
    assert_eq!(ticket.wait(&f.broker).await, ApprovalDecision::Shutdown);
    assert!(matches!(f.core.pending(), Err(DesktopError::NotRunning)));
    assert!(matches!(
        f.core.approve(&id, false),
        Err(DesktopError::NotRunning)
    ));
    assert!(f.core.take().is_none());
}

/// Without an engine yet (it stands by), every command says so, the status carries why, Restart
/// says the engine starts by itself (a second start would only find the socket taken), and an
/// engine attached later serves.
#[tokio::test(flavor = "multi_thread")]
async fn a_core_without_an_engine_yet_says_why_and_takes_one_in_later() {
    let f = start().await;
    let engine = f.core.take().unwrap();
    let admin = cordon_admin::Admin::new(engine.config());
    let core = Core::without_engine(admin, None);
    assert!(!core.has_engine());
    assert_eq!(core.pending().unwrap_err().kind(), "not_running");
    assert_eq!(core.refusing(), Some(Refusing::NotRunning));
    core.set_standby(Some("Cordon cannot record evidence: disk full".into()));
    assert_eq!(core.refusing(), Some(Refusing::StandingBy));
    let status = core.status(false);
    assert!(!status.running);
    assert_eq!(
        status.standby.as_deref(),
        Some("Cordon cannot record evidence: disk full")
    );
    let refused = core.restart().await.unwrap_err().to_string();
    assert!(refused.contains("standing by"), "{refused}");
    core.attach(engine);
    assert!(core.has_engine());
    assert_eq!(core.refusing(), None);
    assert_eq!(core.status(false).standby, None);
    assert!(core.pending().unwrap().is_empty());
    core.take().unwrap().shutdown().await.unwrap();
}

/// A start that failed for good (at launch or on Restart) is said until a start works: the tray
/// refuses with "cannot start", the status carries the engine's own reason (updated by each
/// failed Restart), and a Restart after the cause is fixed runs the engine and clears it.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_start_is_said_until_a_restart_works() {
    let f = start().await;
    let (config, path, good) = stopped(&f).await;
    let admin = cordon_admin::Admin::new(&config);
    std::fs::write(&path, format!("{good}policy: ./missing-policy.yaml\n")).unwrap();
    let core = Core::without_engine(admin, Some(path.clone()));
    core.set_start_error("the policy does not load");
    assert_eq!(core.refusing(), Some(Refusing::CannotStart));
    let status = core.status(false);
    assert!(!status.running && status.standby.is_none());
    assert_eq!(
        status.start_error.as_deref(),
        Some("the policy does not load")
    );
    // Restart before the fix: refused, and the status now says the engine's own reason.
    let refused = core.restart().await.unwrap_err().to_string();
    assert!(refused.contains("missing-policy.yaml"), "{refused}");
    let said = core.status(false).start_error.unwrap_or_default();
    assert!(said.contains("missing-policy.yaml"), "{said}");
    assert_eq!(core.refusing(), Some(Refusing::CannotStart));
    // Fixed: Restart runs it, and nothing is said any more.
    std::fs::write(&path, good).unwrap();
    core.restart().await.unwrap();
    assert!(core.has_engine());
    assert_eq!(core.refusing(), None);
    assert_eq!(core.status(false).start_error, None);
    core.take().unwrap().shutdown().await.unwrap();
}

/// A config file that does not load at launch (a YAML slip made by hand) is said like any start
/// that failed, and Restart reads that very file again: no engine runs until it loads, and then
/// one runs with that file's settings, never the built-in defaults shown meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn a_config_that_does_not_load_is_retried_from_its_own_file() {
    let f = start().await;
    let (config, path, good) = stopped(&f).await;
    std::fs::write(&path, format!("servers: [\n{good}")).unwrap();
    let error = Config::load(&path).unwrap_err().to_string();
    let core = Core::without_engine(cordon_admin::Admin::for_unloadable(&path).unwrap(), None);
    core.set_start_error(&error);
    assert_eq!(core.refusing(), Some(Refusing::CannotStart));
    assert_eq!(core.status(false).start_error.as_deref(), Some(&*error));
    // Still broken: Restart refuses, naming the file, and nothing runs.
    let refused = core.restart().await.unwrap_err().to_string();
    assert!(refused.contains(&*path.display().to_string()), "{refused}");
    assert!(!core.has_engine());
    assert_eq!(core.refusing(), Some(Refusing::CannotStart));
    // Fixed: Restart runs the engine of that file (its own socket, not the default one).
    std::fs::write(&path, good).unwrap();
    core.restart().await.unwrap();
    assert_eq!(core.refusing(), None);
    assert_eq!(core.status(false).start_error, None);
    let engine = core.take().unwrap();
    assert_eq!(engine.config().socket, config.socket);
    engine.shutdown().await.unwrap();
}
