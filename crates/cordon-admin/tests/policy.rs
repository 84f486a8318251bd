//! The policy editor against a real engine: validation with line/column, tests, replay, atomic
//! save with snapshot + hot swap, the shipped-default case, and the watcher.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{POLICY, eventually, record, start};
use cordon_admin::policy::{DiagSeverity, SourceKind};
use cordon_evidence::{NewRecord, Outcome};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn get_shows_the_file_and_the_running_version() {
    let h = start(Some(POLICY)).await;
    let doc = h.admin.policy_get().unwrap();
    assert_eq!(doc.source, SourceKind::File);
    assert_eq!(doc.files.len(), 1);
    assert_eq!(doc.files[0].name, "policy.yaml");
    assert_eq!(doc.files[0].text, POLICY);
    assert_eq!(doc.version, h.running_version());
    assert!(doc.version.starts_with("t1+"));
    // The JSON shape of the contract.
    let json = serde_json::to_value(&doc).unwrap();
    assert_eq!(json["source"], "file");
    assert!(
        json["files"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("policy.yaml")
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn validation_reports_structured_line_and_column() {
    let h = start(Some(POLICY)).await;
    // Valid: version and counts.
    let ok = h.admin.policy_validate("policy.yaml", POLICY).unwrap();
    assert!(ok.ok);
    assert_eq!((ok.rules, ok.tests), (2, 2));
    assert_eq!(ok.version.as_deref(), Some(h.running_version().as_str()));

    // Unknown key: error at its line and column, with the loader's hint.
    let typo = POLICY.replace(
        "      topics: [\"job.mcp-bridge.read.*\"]",
        "      topic: [\"job.mcp-bridge.read.*\"]",
    );
    let v = h.admin.policy_validate("policy.yaml", &typo).unwrap();
    assert!(!v.ok);
    assert_eq!(v.version, None);
    let d = v
        .diagnostics
        .iter()
        .find(|d| d.severity == DiagSeverity::Error)
        .unwrap();
    assert_eq!(d.file, "policy.yaml");
    assert_eq!((d.line, d.column), (Some(6), Some(7)), "{d:?}");
    assert!(d.message.contains("topic"), "{}", d.message);
    assert!(d.message.contains("did you mean"), "{}", d.message);

    // Broken YAML: a location, never a panic.
    let broken = "version: v1\nrules:\n  - id: x\n    match: {topics: [\"a\"\n";
    let v = h.admin.policy_validate("policy.yaml", broken).unwrap();
    assert!(!v.ok);
    let d = &v.diagnostics[0];
    assert!(d.line.is_some() && d.column.is_some(), "{d:?}");

    // Huge: refused before parsing.
    let huge = format!(
        "version: v1\n#{}\n",
        "x".repeat(cordon_policy::MAX_FILE_BYTES + 10)
    );
    let v = h.admin.policy_validate("policy.yaml", &huge).unwrap();
    assert!(!v.ok);
    assert!(
        v.diagnostics[0].message.contains("limit"),
        "{:?}",
        v.diagnostics
    );

    // Names that are not this policy's file are refused, hostile ones too.
    assert_eq!(
        h.admin
            .policy_validate("other.yaml", POLICY)
            .unwrap_err()
            .kind(),
        "not_found"
    );
    for bad in ["../policy.yaml", "/etc/passwd", "a\nb.yaml", ".policy.yaml"] {
        assert_eq!(
            h.admin.policy_validate(bad, POLICY).unwrap_err().kind(),
            "invalid",
            "{bad:?}"
        );
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tests_are_listed_one_by_one_with_failures_explained() {
    let h = start(Some(POLICY)).await;
    let run = h.admin.policy_test("policy.yaml", POLICY).unwrap();
    assert!(run.ok);
    assert_eq!((run.passed, run.failed), (2, 0));
    assert_eq!(run.results.len(), 2);
    assert_eq!(run.results[0].name, "reads pass");
    assert_eq!(run.results[1].name, "policy.yaml test 2");

    let wrong = POLICY.replace("    expect: allow\n", "    expect: deny\n");
    let run = h.admin.policy_test("policy.yaml", &wrong).unwrap();
    assert!(!run.ok);
    assert_eq!((run.passed, run.failed), (1, 1));
    let failed = run.results.iter().find(|r| !r.passed).unwrap();
    assert_eq!(failed.expected, "deny");
    assert_eq!(failed.actual, "allow");
    assert_eq!(failed.rule_id.as_deref(), Some("allow-reads"));
    assert!(failed.message.as_deref().unwrap().contains("read.file"));

    let run = h.admin.policy_test("policy.yaml", "version: [").unwrap();
    assert!(!run.ok);
    assert!(!run.diagnostics.is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn save_records_the_snapshot_then_swaps_and_refuses_invalid_text() {
    let h = start(Some(POLICY)).await;
    let path = h.root().join("policy.yaml");
    let old_version = h.running_version();

    // Invalid: refused, file and engine unchanged.
    let broken = POLICY.replace("decision: allow", "decision: allwo");
    let error = h.admin.policy_save("policy.yaml", &broken).unwrap_err();
    assert_eq!(error.kind(), "invalid");
    assert!(error.to_string().contains("policy.yaml:"), "{error}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), POLICY);
    assert_eq!(h.running_version(), old_version);

    // Valid: written, snapshot recorded, in force.
    let edited = POLICY.replace("version: t1", "version: t2");
    let saved = h.admin.policy_save("policy.yaml", &edited).unwrap();
    assert!(saved.version.starts_with("t2+"));
    assert_eq!(saved.path, path.display().to_string());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), edited);
    assert_eq!(h.running_version(), saved.version);
    let log = h.engine().pipeline().recorder().log().clone();
    let snapshot = log.policy_snapshot(&saved.version).unwrap().unwrap();
    assert_eq!(snapshot, vec![(path.display().to_string(), edited.clone())]);
    // Exactly what the engine itself records when it loads that file (no conflicting snapshot).
    let loaded = cordon_policy::Policy::load(&path).unwrap();
    assert_eq!(loaded.version(), saved.version);
    assert!(
        log.record_policy(
            loaded.version(),
            &loaded
                .sources()
                .iter()
                .map(|s| (s.name.clone(), s.text.clone()))
                .collect::<Vec<_>>()
        )
        .is_ok()
    );
    let events = h.admin.policy_events();
    assert!(events.last().unwrap().ok);
    // No temp files left behind.
    let stray: Vec<_> = std::fs::read_dir(h.root())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("cordon-tmp"))
        .collect();
    assert!(stray.is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn saving_the_shipped_default_writes_policy_yaml_and_points_the_config_at_it() {
    let mut h = start(None).await;
    let doc = h.admin.policy_get().unwrap();
    assert_eq!(doc.source, SourceKind::Default);
    assert_eq!(doc.files[0].name, "default.yaml");
    assert_eq!(doc.files[0].path, None);
    let config_before = std::fs::read_to_string(h.config_path()).unwrap();
    h.admin.watch_policy().unwrap(); // nothing to watch yet: the default has no file

    let text = doc.files[0].text.clone() + "\n# my edit\n";
    // An unrelated policy.yaml next to the config is never overwritten.
    let written = h.root().join("policy.yaml");
    std::fs::write(&written, "someone else's file").unwrap();
    let e = h.admin.policy_save("default.yaml", &text).unwrap_err();
    assert_eq!(e.kind(), "conflict", "{e}");
    assert_eq!(
        std::fs::read_to_string(&written).unwrap(),
        "someone else's file"
    );
    assert_eq!(
        std::fs::read_to_string(h.config_path()).unwrap(),
        config_before
    );
    std::fs::remove_file(&written).unwrap();

    let v = h.admin.policy_validate("default.yaml", &text).unwrap();
    assert!(v.ok, "{:?}", v.diagnostics);
    let saved = h.admin.policy_save("default.yaml", &text).unwrap();
    assert_eq!(Some(saved.version.clone()), v.version);
    let written = h.root().join("policy.yaml");
    assert_eq!(saved.path, written.display().to_string());
    assert_eq!(std::fs::read_to_string(&written).unwrap(), text);
    assert_eq!(h.running_version(), saved.version);

    // The config gained `policy:`; every other byte is as it was.
    let config_after = std::fs::read_to_string(h.config_path()).unwrap();
    assert_eq!(
        config_after,
        format!("{config_before}policy: \"policy.yaml\"\n")
    );
    let reloaded = cordon_gateway::Config::load(&h.config_path()).unwrap();
    assert_eq!(reloaded.policy.as_deref(), Some(written.as_path()));
    // Now the editor sees a file, and the watcher follows it there.
    assert_eq!(h.admin.policy_get().unwrap().source, SourceKind::File);
    let outside = text.replacen("version: ", "version: x", 1);
    assert_ne!(outside, text);
    std::fs::write(&written, &outside).unwrap();
    eventually("the outside edit of the new file is in force", || {
        h.running_version() != saved.version
    });
    h.admin.unwatch_policy();
    let in_force = h.running_version();
    assert!(in_force.starts_with("xv1+"), "{in_force}");
    // A restarted engine loads the same version, and the evidence log accepts its snapshot
    // (a different snapshot under the same version would stop it from starting).
    let config_path = h.config_path();
    let dir = tempfile::TempDir::new().unwrap();
    let keep = std::mem::replace(&mut h.dir, dir);
    h.stop().await;
    let config = cordon_gateway::Config::load(&config_path).unwrap();
    let engine = cordon_gateway::Engine::start(config).await.unwrap();
    assert_eq!(engine.pipeline().policy().version(), in_force);
    engine.shutdown().await.unwrap();
    drop(keep);
}

#[tokio::test(flavor = "multi_thread")]
async fn directory_policies_edit_one_file_among_several() {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::write(policies.join("10-base.yaml"), POLICY).unwrap();
    std::fs::write(
        policies.join("20-extra.yaml"),
        "version: t1\nrules:\n  - id: deny-push\n    match: {topics: [\"job.mcp-bridge.git.push\"]}\n    decision: deny\n    reason: no pushes\n",
    )
    .unwrap();
    std::fs::write(policies.join(".hidden.yaml"), "garbage: [").unwrap();
    let config_path = dir.path().join("config.yaml");
    std::fs::write(&config_path, common::config_text("policy: ./policies\n")).unwrap();
    let config = cordon_gateway::Config::load(&config_path).unwrap();
    let engine = cordon_gateway::Engine::start(config).await.unwrap();
    let admin = cordon_admin::Admin::new(engine.config());
    admin.attach(&engine);

    let doc = admin.policy_get().unwrap();
    assert_eq!(doc.source, SourceKind::Directory);
    let names: Vec<_> = doc.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["10-base.yaml", "20-extra.yaml"]);

    // A duplicate rule id across files is reported in the file that has it.
    let dup = "version: t1\nrules:\n  - id: allow-reads\n    decision: deny\n    reason: dup\n";
    let v = admin.policy_validate("30-new.yaml", dup).unwrap();
    assert!(!v.ok);
    assert!(
        v.diagnostics
            .iter()
            .any(|d| d.file == "30-new.yaml" && d.line == Some(3)),
        "{:?}",
        v.diagnostics
    );

    // A new file joins the set.
    let extra = "version: t1\nrules:\n  - id: deny-rm\n    match: {topics: [\"job.mcp-bridge.write.remove\"]}\n    decision: deny\n    reason: no removes\n";
    let saved = admin.policy_save("30-new.yaml", extra).unwrap();
    assert_eq!(engine.pipeline().policy().rule_count(), 4);
    assert_eq!(engine.pipeline().policy().version(), saved.version);
    assert_eq!(
        cordon_policy::Policy::load(&policies).unwrap().version(),
        saved.version
    );

    // A save that cannot complete (the target is a directory) changes nothing in force.
    std::fs::create_dir(policies.join("40-dir.yaml")).unwrap();
    let before = engine.pipeline().policy().version().to_owned();
    let error = admin
        .policy_save("40-dir.yaml", &extra.replace("deny-rm", "deny-rm2"))
        .unwrap_err();
    assert_eq!(error.kind(), "io", "{error}");
    assert_eq!(engine.pipeline().policy().version(), before);

    // The watcher sees a new file dropped into the directory by another program.
    std::fs::remove_dir(policies.join("40-dir.yaml")).unwrap();
    admin.watch_policy().unwrap();
    let more = "version: t1\nrules:\n  - id: deny-drop\n    match: {topics: [\"job.mcp-bridge.db.drop\"]}\n    decision: deny\n    reason: no drops\n";
    std::fs::write(policies.join("50-outside.yaml"), more).unwrap();
    eventually("the new file is in force", || {
        engine.pipeline().policy().rule_count() == 5
    });
    admin.unwatch_policy();
    admin.detach();
    engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_judges_prompts_and_completions_as_the_gateway_classified_them() {
    let h = start(Some(POLICY)).await;
    let log = h.engine().pipeline().recorder().log().clone();
    let gateway = |tool: &str, action: &str, target: &str, args| NewRecord {
        action: action.into(),
        target: Some(target.into()),
        ..record("claude-code", "everything", tool, args)
    };
    log.append(gateway(
        "prompts/get",
        cordon_gateway::server::PROMPT_TOPIC,
        "everything/simple-prompt",
        json!({"name": "simple-prompt", "arguments": null}),
    ))
    .unwrap();
    log.append(gateway(
        "completion/complete",
        cordon_gateway::server::COMPLETION_TOPIC,
        "everything/completable-prompt",
        json!({"ref": {"type": "ref/prompt", "name": "completable-prompt"},
               "argument": {"name": "department", "value": "Eng"}}),
    ))
    .unwrap();

    // Both were allowed as reads, and still are: the classifier would not know these tools.
    let same = h.admin.policy_replay("policy.yaml", POLICY, None).unwrap();
    assert_eq!((same.replayed, same.skipped), (2, 0));
    assert!(same.changed.is_empty(), "{:?}", same.changed);

    // A rule on the completion topic changes the completion only.
    let edited = POLICY.replace(
        "rules:\n",
        "rules:\n  - id: no-completion\n    match: {topics: [\"job.mcp-bridge.read.completion\"]}\n    decision: deny\n    reason: completions leak drafts\n",
    );
    let replay = h.admin.policy_replay("policy.yaml", &edited, None).unwrap();
    let changed: Vec<_> = replay
        .changed
        .iter()
        .map(|c| {
            (
                c.tool.as_str(),
                c.new_decision.as_str(),
                c.new_rule.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        changed,
        [("completion/complete", "deny", Some("no-completion"))]
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_lists_decisions_that_would_change_and_skips_builtin_refusals() {
    let h = start(Some(POLICY)).await;
    let log = h.engine().pipeline().recorder().log().clone();
    log.append(record(
        "claude-code",
        "fs",
        "read_file",
        json!({"path": "src/main.rs"}),
    ))
    .unwrap();
    log.append(record(
        "cursor",
        "fs",
        "read_file",
        json!({"path": "README.md"}),
    ))
    .unwrap();
    let mut write = record(
        "claude-code",
        "fs",
        "write_file",
        json!({"path": "a.txt", "content": "x"}),
    );
    write.action = "job.mcp-bridge.write.file".into();
    write.decision = "require_approval".into();
    write.rule_id = Some("hold-writes".into());
    write.outcome = Outcome::Approved;
    log.append(write).unwrap();
    let pin = NewRecord {
        rule_id: Some("cordon:tool-pin".into()),
        decision: "deny".into(),
        outcome: Outcome::Denied,
        ..record("cordon", "fs", "read_file", json!({"approved_hash": "a"}))
    };
    log.append(pin).unwrap();

    // Same policy: nothing changes.
    let same = h.admin.policy_replay("policy.yaml", POLICY, None).unwrap();
    assert_eq!((same.replayed, same.skipped), (3, 1));
    assert!(same.changed.is_empty(), "{:?}", same.changed);

    // Reads of README by cursor now denied.
    let edited = POLICY.replace(
        "rules:\n",
        "rules:\n  - id: no-cursor\n    match: {agents: [cursor]}\n    decision: deny\n    reason: cursor is paused\n",
    );
    let replay = h
        .admin
        .policy_replay("policy.yaml", &edited, Some(10))
        .unwrap();
    assert_eq!(replay.changed.len(), 1);
    let c = &replay.changed[0];
    assert_eq!(
        (
            c.agent.as_str(),
            c.old_decision.as_str(),
            c.new_decision.as_str()
        ),
        ("cursor", "allow", "deny")
    );
    assert_eq!(c.new_rule.as_deref(), Some("no-cursor"));
    assert_eq!(c.target.as_deref(), Some("README.md"));
    assert_eq!(c.seq, 2);

    // The limit counts the newest records only.
    let one = h
        .admin
        .policy_replay("policy.yaml", &edited, Some(1))
        .unwrap();
    assert_eq!(one.replayed + one.skipped, 1);
    // An invalid edit is refused.
    assert_eq!(
        h.admin
            .policy_replay("policy.yaml", "rules: 5", None)
            .unwrap_err()
            .kind(),
        "invalid"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn watcher_reloads_outside_edits_and_refuses_broken_ones() {
    let h = start(Some(POLICY)).await;
    h.admin.watch_policy().unwrap();
    let path = h.root().join("policy.yaml");
    let before = h.running_version();

    // Another editor saves a valid change (write a temp file, rename over: like vim/VS Code).
    let edited = POLICY.replace("version: t1", "version: t3");
    let tmp = h.root().join("policy.yaml.swp-tmp");
    std::fs::write(&tmp, &edited).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    eventually("the outside edit is in force", || {
        h.running_version() != before
    });
    let version = h.running_version();
    assert!(version.starts_with("t3+"), "{version}");
    let log = h.engine().pipeline().recorder().log().clone();
    assert!(log.policy_snapshot(&version).unwrap().is_some());
    eventually("a success event", || {
        h.admin
            .policy_events()
            .iter()
            .any(|e| e.ok && e.version.as_deref() == Some(version.as_str()))
    });

    // A broken edit in place: refused, the t3 policy stays, the event names line:col.
    std::fs::write(
        &path,
        "version: t4\nrules:\n  - id: x\n    decision: maybe\n    reason: r\n",
    )
    .unwrap();
    let refusal = first_refusal(&h.admin);
    assert!(
        refusal.message.contains("policy.yaml:4:"),
        "{}",
        refusal.message
    );
    assert_eq!(refusal.version, None);
    assert_eq!(h.running_version(), version);
    h.stop().await;
}

/// The first refused reload the watcher reported (waited for).
fn first_refusal(admin: &cordon_admin::Admin) -> cordon_admin::policy::PolicyEvent {
    eventually("a refusal event", || {
        admin.policy_events().iter().any(|e| !e.ok)
    });
    admin.policy_events().into_iter().find(|e| !e.ok).unwrap()
}

/// An edit to a policy file that other users can write is not applied: they could have made it.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn watcher_refuses_a_policy_other_users_can_write() {
    use std::os::unix::fs::PermissionsExt;
    let h = start(Some(POLICY)).await;
    h.admin.watch_policy().unwrap();
    let path = h.root().join("policy.yaml");
    let before = h.running_version();
    // Opened up first, so no reload can see the edit while the file was still private.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::fs::write(&path, POLICY.replace("version: t1", "version: t6")).unwrap();
    let refusal = first_refusal(&h.admin);
    assert!(
        refusal.message.contains("writable by every user"),
        "{}",
        refusal.message
    );
    assert_eq!(h.running_version(), before);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn status_has_the_contract_shape() {
    let h = start(Some(POLICY)).await;
    let shell = cordon_admin::ShellState {
        paused: false,
        paused_agents: vec!["cursor".into()],
        autostart: true,
    };
    let status = h.admin.status(Some(h.engine()), &shell);
    assert!(status.running);
    assert_eq!(status.pending, 0);
    assert_eq!(status.policy_version, h.running_version());
    assert_eq!(status.reviewer, "rev@example.com");
    assert_eq!(status.approval_timeout_secs, 300);
    assert!(
        status
            .policy_path
            .as_deref()
            .unwrap()
            .ends_with("policy.yaml")
    );
    assert!(status.evidence_path.ends_with("evidence.db"));
    let json = serde_json::to_value(&status).unwrap();
    for key in [
        "running",
        "paused",
        "paused_agents",
        "pending",
        "policy_version",
        "policy_path",
        "config_path",
        "evidence_path",
        "evidence_fault",
        "standby",
        "reviewer",
        "approval_timeout_secs",
        "http_addr",
        "autostart",
    ] {
        assert!(json.get(key).is_some(), "{key}");
    }
    let stopped = h.admin.status(None, &shell);
    assert!(!stopped.running);
    assert_eq!(stopped.policy_version, "");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn saving_while_the_engine_is_stopped_only_writes_the_file() {
    let h = start(Some(POLICY)).await;
    h.admin.detach();
    let edited = POLICY.replace("version: t1", "version: t5");
    let saved = h.admin.policy_save("policy.yaml", &edited).unwrap();
    assert!(saved.version.starts_with("t5+"));
    assert_eq!(
        std::fs::read_to_string(h.root().join("policy.yaml")).unwrap(),
        edited
    );
    assert!(
        h.running_version().starts_with("t1+"),
        "not attached: nothing swapped"
    );
    assert_eq!(
        h.admin
            .policy_replay("policy.yaml", &edited, None)
            .unwrap_err()
            .kind(),
        "not_running"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_uses_the_edited_config_and_refuses_a_broken_one() {
    let mut h = start(Some(POLICY)).await;
    h.admin.settings_save("carol@example.com", 42).unwrap();
    let config = h.admin.restart_config().unwrap();
    assert_eq!(config.reviewer, "carol@example.com");
    h.admin.detach();
    h.engine.take().unwrap().shutdown().await.unwrap();
    let engine = cordon_gateway::Engine::start(config).await.unwrap();
    h.admin.attach(&engine);
    h.engine = Some(engine);
    let status = h.admin.status(h.engine.as_ref(), &Default::default());
    assert_eq!(
        (status.reviewer.as_str(), status.approval_timeout_secs),
        ("carol@example.com", 42)
    );

    // Broken by hand: the restart is refused before anything stops.
    let path = h.config_path();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}bogus_key: 1\n")).unwrap();
    let e = h.admin.restart_config().unwrap_err();
    assert_eq!(e.kind(), "invalid");
    assert!(e.to_string().contains("bogus_key"), "{e}");
    h.stop().await;
}
