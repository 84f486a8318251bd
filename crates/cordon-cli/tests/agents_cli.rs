//! `cordon agents list|install|uninstall` against a temporary home (`CORDON_AGENTS_HOME`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_cordon");

const CURSOR_MCP: &str = r#"{
    // my servers
    "mcpServers": {
        "postgres": {
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-postgres"],
            "env": {"PGPASSWORD": "s3cret-value"}
        }
    }
}
"#;

fn agents(home: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("agents")
        .args(args)
        .env("CORDON_AGENTS_HOME", home)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn list(home: &Path) -> Vec<Value> {
    let out = agents(home, &["list", "--json"]);
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn cursor_status(home: &Path) -> Value {
    list(home)
        .into_iter()
        .find(|s| s["agent"] == "cursor")
        .unwrap()
}

fn binary() -> PathBuf {
    PathBuf::from(BIN).canonicalize().unwrap()
}

#[test]
fn install_print_import_list_and_uninstall_cursor() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let status = cursor_status(home);
    assert_eq!(status["installed"], false);
    assert_eq!(status["governed"], false);

    let mcp = home.join(".cursor/mcp.json");
    std::fs::create_dir_all(mcp.parent().unwrap()).unwrap();
    std::fs::write(&mcp, CURSOR_MCP).unwrap();
    let status = cursor_status(home);
    assert_eq!(status["installed"], true);
    assert_eq!(status["ungoverned"], serde_json::json!(["postgres"]));

    // --print: a diff, nothing written.
    let out = agents(home, &["install", "cursor", "--print"]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "+            \"command\": \"{}\"",
            binary().display()
        )),
        "{text}"
    );
    assert!(text.contains("nothing was written"), "{text}");
    assert_eq!(std::fs::read_to_string(&mcp).unwrap(), CURSOR_MCP);
    assert!(!home.join(".cursor/hooks.json").exists());

    let out = agents(home, &["install", "cursor"]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains("bypass Cordon (ungoverned): postgres"),
        "{text}"
    );
    let written = std::fs::read_to_string(&mcp).unwrap();
    assert!(written.contains("// my servers"), "{written}");
    assert!(
        written.contains("\"args\": [\"mcp\", \"--agent\", \"cursor\"]"),
        "{written}"
    );
    let hooks = std::fs::read_to_string(home.join(".cursor/hooks.json")).unwrap();
    assert!(
        hooks.contains(&format!("{} hook cursor", binary().display())),
        "{hooks}"
    );
    let status = cursor_status(home);
    assert_eq!(status["routes_through_cordon"], true);
    assert_eq!(status["governed"], false);
    assert_eq!(status["hooks"], true);

    // Idempotent.
    let out = agents(home, &["install", "cursor"]);
    assert!(stdout(&out).contains("nothing to change"), "{out:?}");
    assert_eq!(std::fs::read_to_string(&mcp).unwrap(), written);

    // --import moves postgres out and prints it as a Cordon upstream, secret withheld.
    let out = agents(home, &["install", "cursor", "--import"]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains("servers:\n  postgres:\n    command: npx\n"),
        "{text}"
    );
    assert!(text.contains("${keychain:postgres-pgpassword}"), "{text}");
    // The printed snippet is a config Cordon loads, with the secret as a keychain reference.
    let start = text.find("servers:\n").unwrap();
    let snippet = &text[start..];
    let snippet = &snippet[..snippet.find("\n\n").unwrap_or(snippet.len())];
    let config = cordon_gateway::Config::parse(snippet, Path::new("import.yaml"))
        .unwrap_or_else(|e| panic!("{e}\n{snippet}"));
    let postgres = format!("{:?}", config.servers.get("postgres").unwrap());
    assert!(
        postgres.contains("${keychain:postgres-pgpassword}"),
        "{postgres}"
    );
    assert!(!text.contains("s3cret-value"), "{text}");
    assert!(!std::fs::read_to_string(&mcp).unwrap().contains("postgres"));
    let status = cursor_status(home);
    assert_eq!(status["governed"], true, "{status}");

    // The table names the agents.
    let out = agents(home, &["list"]);
    assert!(stdout(&out).contains("cursor"), "{out:?}");

    let out = agents(home, &["uninstall", "cursor"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read_to_string(&mcp).unwrap(), CURSOR_MCP);
    assert!(!home.join(".cursor/hooks.json").exists());
    let leftovers: Vec<_> = std::fs::read_dir(home.join(".cursor"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
}

#[test]
fn malformed_config_is_refused_and_untouched() {
    let home = tempfile::tempdir().unwrap();
    let path = home.path().join(".codex/config.toml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let bad = "model = \"x\"\n[mcp_servers.a\n";
    std::fs::write(&path, bad).unwrap();
    let out = agents(home.path(), &["install", "codex"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("malformed") && stderr.contains("changed nothing"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), bad);
    let status: Vec<Value> = list(home.path());
    let codex = status.iter().find(|s| s["agent"] == "codex").unwrap();
    assert!(
        codex["problems"][0].as_str().unwrap().contains("malformed"),
        "{codex}"
    );
}

#[test]
fn unknown_agent_is_an_error() {
    let home = tempfile::tempdir().unwrap();
    let out = agents(home.path(), &["install", "emacs"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown agent"));
}
