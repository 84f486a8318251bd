//! The secrets page (keyring's mock-style in-memory store, and the real Secret Service when a
//! D-Bus session is present) and the agents page (a temporary home).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use cordon_admin::Admin;
use cordon_agents::Bases;
use cordon_secrets::SecretStore;
use cordon_secrets::memory::MemoryKeychain as Memory;

const CONFIG: &str = "socket: ./c.sock\nevidence: ./e.db\nsigning_key: file:./k.pem\nservers:\n  github:\n    command: gh-mcp\n    env:\n      GITHUB_TOKEN: \"${keychain:GH_TOKEN}\"\n  remote:\n    url: https://mcp.example.com/mcp\n    headers:\n      Authorization: \"Bearer ${keychain:REMOTE_TOKEN}\"\n";

fn admin_with(dir: &Path, store: SecretStore) -> Admin {
    let path = dir.join("config.yaml");
    std::fs::write(&path, CONFIG).unwrap();
    let config = cordon_gateway::Config::load(&path).unwrap();
    Admin::new(&config).with_secret_store(store)
}

fn exercise_secrets(admin: &Admin) {
    let list = admin.secrets_list().unwrap();
    let rows: Vec<_> = list.iter().map(|e| (e.name.as_str(), e.stored)).collect();
    assert_eq!(rows, [("GH_TOKEN", false), ("REMOTE_TOKEN", false)]);
    assert_eq!(list[0].used_by, ["github (env GITHUB_TOKEN)"]);
    assert_eq!(list[1].used_by, ["remote (header Authorization)"]);

    let value = "ghp_secret-value-1234567890";
    let list = admin.secret_set("GH_TOKEN", value).unwrap();
    assert!(list.iter().any(|e| e.name == "GH_TOKEN" && e.stored));
    let json = serde_json::to_string(&list).unwrap();
    assert!(
        !json.contains(value),
        "a value must never come back: {json}"
    );
    let list = admin
        .secret_set("UNUSED_ONE", "another-long-value")
        .unwrap();
    let unused = list.iter().find(|e| e.name == "UNUSED_ONE").unwrap();
    assert!(unused.stored && unused.used_by.is_empty());

    for (name, value, kind) in [
        ("bad name", "long-enough-value", "invalid"),
        ("../x", "long-enough-value", "invalid"),
        ("SHORT", "short", "invalid"),
        ("NUL", "long-enough\0value", "invalid"),
        ("EMPTY", "", "invalid"),
    ] {
        let e = admin.secret_set(name, value).unwrap_err();
        assert_eq!(e.kind(), kind, "{name:?}");
        if !value.is_empty() {
            assert!(!e.to_string().contains(value), "value echoed: {e}");
        }
    }
    let list = admin.secret_remove("UNUSED_ONE").unwrap();
    assert!(list.iter().all(|e| e.name != "UNUSED_ONE"));
    assert_eq!(
        admin.secret_remove("UNUSED_ONE").unwrap_err().kind(),
        "not_found"
    );
    let list = admin.secret_remove("GH_TOKEN").unwrap();
    assert!(
        list.iter().any(|e| e.name == "GH_TOKEN" && !e.stored),
        "still referenced: {list:?}"
    );
}

#[test]
fn secrets_page_with_an_in_memory_keychain() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        SecretStore::with_builder("cordon-admin-test", Box::new(Memory::default())).unwrap();
    exercise_secrets(&admin_with(dir.path(), store));
}

#[test]
fn secrets_page_with_the_real_secret_service() {
    if std::env::var("DBUS_SESSION_BUS_ADDRESS").map_or(true, |a| a.is_empty()) {
        eprintln!(
            "SKIPPED: no D-Bus session (scripts/test runs this inside dbus-run-session with gnome-keyring)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let service = format!("cordon-admin-test-{}", ulid::Ulid::new());
    let store = SecretStore::new(&service).unwrap();
    exercise_secrets(&admin_with(dir.path(), store));
}

fn agents_admin(home: &Path) -> Admin {
    let config = cordon_gateway::Config::parse("", &home.join("config.yaml")).unwrap();
    Admin::new(&config).with_agents(
        Bases::for_home(home),
        Path::new("/opt/cordon/bin/cordon").to_path_buf(),
    )
}

#[test]
fn agents_page_lists_installs_and_restores() {
    let home = tempfile::tempdir().unwrap();
    let cursor_dir = home.path().join(".cursor");
    std::fs::create_dir(&cursor_dir).unwrap();
    let original = "{\n  // my servers\n  \"mcpServers\": {\n    \"github\": {\"command\": \"gh-mcp\"}\n  }\n}\n";
    std::fs::write(cursor_dir.join("mcp.json"), original).unwrap();
    let admin = agents_admin(home.path());

    let list = admin.agents_list().unwrap();
    assert_eq!(list.len(), 6);
    let cursor = list.iter().find(|a| a.name == "cursor").unwrap();
    assert!(cursor.detected && !cursor.installed && !cursor.governed && !cursor.hooks);
    assert_eq!(cursor.display_name, "Cursor");
    assert!(
        cursor.drift.is_empty(),
        "not onboarded yet: {:?}",
        cursor.drift
    );
    assert!(!list.iter().find(|a| a.name == "codex").unwrap().detected);

    let list = admin.agent_install("cursor").unwrap();
    let cursor = list.iter().find(|a| a.name == "cursor").unwrap();
    assert!(cursor.hooks);
    assert!(
        cursor.installed,
        "Cordon's entry is there: the page must offer to uninstall it"
    );
    assert!(!cursor.governed, "github still bypasses Cordon");
    assert!(
        cursor
            .drift
            .iter()
            .any(|d| d == "server `github` bypasses Cordon"),
        "{:?}",
        cursor.drift
    );
    let text = std::fs::read_to_string(cursor_dir.join("mcp.json")).unwrap();
    assert!(
        text.contains("/opt/cordon/bin/cordon") && text.contains("// my servers"),
        "{text}"
    );

    let list = admin.agent_uninstall("cursor").unwrap();
    let cursor = list.iter().find(|a| a.name == "cursor").unwrap();
    assert!(!cursor.installed && !cursor.governed);
    assert_eq!(
        std::fs::read_to_string(cursor_dir.join("mcp.json")).unwrap(),
        original
    );

    assert_eq!(
        admin.agent_install("emacs").unwrap_err().kind(),
        "not_found"
    );
    std::fs::write(cursor_dir.join("mcp.json"), "{ not json").unwrap();
    assert_eq!(admin.agent_install("cursor").unwrap_err().kind(), "invalid");
    assert_eq!(
        std::fs::read_to_string(cursor_dir.join("mcp.json")).unwrap(),
        "{ not json"
    );
}
