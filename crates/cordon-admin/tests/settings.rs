//! The settings page edits the YAML config as text: comments and formatting outside the edited
//! entry survive byte for byte; invalid results are refused and the file is untouched.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::path::Path;

use cordon_admin::{ConfigFile, ServerEntry, Transport};

const CONFIG: &str = "# Cordon config: hand-written, with comments\nsocket: ./c.sock   # control socket\n\n# upstreams\nservers:\n  # the filesystem server\n  fs:\n    command: npx   # via npx\n    args: [\"-y\", \"@modelcontextprotocol/server-filesystem\", \"/tmp\"]\n\n  # GitHub, token from the keychain\n  github:\n    command: github-mcp\n    env:\n      GITHUB_TOKEN: \"${keychain:GH_TOKEN}\"\n\n# who approves\nreviewer: alice@example.com   # me\napproval_timeout: 5m\n";

fn file(dir: &Path, text: &str) -> ConfigFile {
    let path = dir.join("config.yaml");
    std::fs::write(&path, text).unwrap();
    ConfigFile::new(&path)
}

fn stdio(name: &str, command: &str) -> ServerEntry {
    ServerEntry {
        name: name.into(),
        transport: Transport::Stdio,
        command: Some(command.into()),
        args: vec![],
        env: BTreeMap::new(),
        cwd: None,
        url: None,
        headers: BTreeMap::new(),
    }
}

fn read(f: &ConfigFile) -> String {
    std::fs::read_to_string(f.path()).unwrap()
}

#[test]
fn reading_shows_values_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let f = file(dir.path(), CONFIG);
    let s = f.settings().unwrap();
    assert_eq!(s.reviewer, "alice@example.com");
    assert_eq!(s.approval_timeout_secs, 300);
    let names: Vec<_> = s.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["fs", "github"]);
    assert_eq!(s.servers[1].env["GITHUB_TOKEN"], "${keychain:GH_TOKEN}");
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["servers"][0]["transport"], "stdio");
    assert_eq!(json["servers"][0]["url"], serde_json::Value::Null);
}

#[test]
fn adding_a_server_appends_an_entry_and_keeps_every_other_byte() {
    let dir = tempfile::tempdir().unwrap();
    let f = file(dir.path(), CONFIG);
    let mut entry = stdio("everything", "npx");
    entry.args = vec![
        "-y".into(),
        "@modelcontextprotocol/server-everything".into(),
    ];
    entry
        .env
        .insert("API_KEY".into(), "${keychain:EVERYTHING_KEY}".into());
    let s = f.server_save(&entry, None).unwrap();
    assert_eq!(s.servers.len(), 3);
    assert_eq!(s.servers[2], entry);
    let text = read(&f);
    let inserted = "  everything:\n    command: \"npx\"\n    args: [\"-y\", \"@modelcontextprotocol/server-everything\"]\n    env:\n      API_KEY: \"${keychain:EVERYTHING_KEY}\"\n";
    let at = CONFIG.find("\n# who approves").unwrap() + 1;
    // Inserted after github's last line, before the blank line that leads into the next key.
    let expected = format!("{}{}{}", &CONFIG[..at - 1], inserted, &CONFIG[at - 1..]);
    assert_eq!(text, expected);
    cordon_gateway::Config::load(f.path()).unwrap();
}

#[test]
fn editing_and_renaming_replace_only_that_entry() {
    let dir = tempfile::tempdir().unwrap();
    let f = file(dir.path(), CONFIG);
    let mut gh = stdio("gh", "github-mcp-server");
    gh.env
        .insert("GITHUB_TOKEN".into(), "${keychain:GH_TOKEN}".into());
    let s = f.server_save(&gh, Some("github")).unwrap();
    let names: Vec<_> = s.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["fs", "gh"]);
    let text = read(&f);
    let old_entry = "  github:\n    command: github-mcp\n    env:\n      GITHUB_TOKEN: \"${keychain:GH_TOKEN}\"\n";
    let new_entry = "  gh:\n    command: \"github-mcp-server\"\n    env:\n      GITHUB_TOKEN: \"${keychain:GH_TOKEN}\"\n";
    assert_eq!(text, CONFIG.replace(old_entry, new_entry));

    // Remove: only that entry's lines go; its leading comment stays (it may describe others).
    let s = f.server_remove("gh").unwrap();
    assert_eq!(s.servers.len(), 1);
    assert_eq!(read(&f), CONFIG.replace(old_entry, ""));
}

#[test]
fn conflicts_missing_names_and_hostile_names_are_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let f = file(dir.path(), CONFIG);
    assert_eq!(
        f.server_save(&stdio("fs", "x"), None).unwrap_err().kind(),
        "conflict"
    );
    assert_eq!(
        f.server_save(&stdio("fs", "x"), Some("github"))
            .unwrap_err()
            .kind(),
        "conflict"
    );
    assert_eq!(
        f.server_save(&stdio("new", "x"), Some("nope"))
            .unwrap_err()
            .kind(),
        "not_found"
    );
    assert_eq!(f.server_remove("nope").unwrap_err().kind(), "not_found");
    for name in [
        "../etc",
        "a/b",
        "a\\b",
        "a\nsocket: /evil",
        "UPPER",
        "",
        "cordon",
        "a b",
        &"x".repeat(65),
    ] {
        let e = f.server_save(&stdio(name, "x"), None).unwrap_err();
        assert_eq!(e.kind(), "invalid", "{name:?}");
    }
    // A plain credential is refused with the fix; a reference is fine.
    let mut leaky = stdio("leaky", "x");
    leaky.env.insert(
        "GITHUB_TOKEN".into(),
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789".into(),
    );
    let e = f.server_save(&leaky, None).unwrap_err();
    assert!(e.to_string().contains("${keychain:NAME}"), "{e}");
    assert!(
        !e.to_string().contains("ghp_"),
        "the value must not be echoed: {e}"
    );
    // Shape errors.
    let mut http = stdio("remote", "x");
    http.transport = Transport::Http;
    assert_eq!(f.server_save(&http, None).unwrap_err().kind(), "invalid");
    http.command = None;
    http.url = Some("ftp://example.com".into());
    assert_eq!(f.server_save(&http, None).unwrap_err().kind(), "invalid");
    assert_eq!(read(&f), CONFIG);
}

#[test]
fn values_cannot_inject_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let f = file(dir.path(), CONFIG);
    let mut e = stdio("tricky", "run");
    e.args = vec![
        "a\nsocket: /tmp/evil.sock".into(),
        "# not a comment".into(),
        "'q\"".into(),
        "${".into(),
    ];
    e.env.insert("NOTE".into(), "line1\nline2: x".into());
    // `${` alone is a malformed reference: the gateway's loader refuses it, file untouched.
    let err = f.server_save(&e, None).unwrap_err();
    assert_eq!(err.kind(), "invalid", "{err}");
    assert_eq!(read(&f), CONFIG);
    e.args.pop();
    let s = f.server_save(&e, None).unwrap();
    let got = s.servers.iter().find(|s| s.name == "tricky").unwrap();
    assert_eq!(got, &e);
    let config = cordon_gateway::Config::load(f.path()).unwrap();
    assert!(
        config.socket.ends_with("c.sock"),
        "{}",
        config.socket.display()
    );
}

#[test]
fn reviewer_and_timeout_replace_their_lines_only() {
    let dir = tempfile::tempdir().unwrap();
    let f = file(dir.path(), CONFIG);
    let s = f.settings_save("bob@example.com", 90).unwrap();
    assert_eq!(
        (s.reviewer.as_str(), s.approval_timeout_secs),
        ("bob@example.com", 90)
    );
    let expected = CONFIG
        .replace(
            "reviewer: alice@example.com   # me\n",
            "reviewer: \"bob@example.com\"\n",
        )
        .replace("approval_timeout: 5m\n", "approval_timeout: 90s\n");
    assert_eq!(read(&f), expected);
    for (reviewer, secs) in [("", 10), ("a\nb", 10), ("ok", 0), ("ok", 8 * 24 * 3600)] {
        assert_eq!(
            f.settings_save(reviewer, secs).unwrap_err().kind(),
            "invalid"
        );
    }
    assert_eq!(read(&f), expected);
}

#[test]
fn a_config_that_is_already_broken_is_not_edited() {
    let dir = tempfile::tempdir().unwrap();
    let broken = "socket: ./c.sock\nlisten_addr: 1\n";
    let f = file(dir.path(), broken);
    let e = f.server_save(&stdio("a", "x"), None).unwrap_err();
    assert_eq!(e.kind(), "invalid");
    assert!(e.to_string().contains("listen_addr"), "{e}");
    assert_eq!(read(&f), broken);
}

#[test]
fn flow_style_crlf_and_missing_files_are_handled() {
    let dir = tempfile::tempdir().unwrap();
    // Flow style: the block is rewritten; the rest of the file is kept.
    let flow = "# top\nservers: {a: {command: x}}\nreviewer: r # c\n";
    let f = file(dir.path(), flow);
    let s = f.server_save(&stdio("b", "y"), None).unwrap();
    assert_eq!(s.servers.len(), 2);
    let text = read(&f);
    assert!(text.starts_with("# top\nservers:\n  a:\n"), "{text}");
    assert!(text.ends_with("reviewer: r # c\n"), "{text}");

    // CRLF stays CRLF.
    let crlf = "reviewer: r\r\nservers:\r\n  a:\r\n    command: x\r\n";
    let f = file(dir.path(), crlf);
    f.server_save(&stdio("b", "y"), None).unwrap();
    let text = read(&f);
    assert!(text.starts_with(crlf), "{text:?}");
    assert!(!text.replace("\r\n", "").contains('\n'), "{text:?}");

    // No file yet: created, private.
    let path = dir.path().join("sub").join("new.yaml");
    let f = ConfigFile::new(&path);
    assert_eq!(f.settings().unwrap().servers.len(), 0);
    f.server_save(&stdio("a", "x"), None).unwrap();
    assert_eq!(read(&f), "servers:\n  a:\n    command: \"x\"\n");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[test]
fn removing_the_last_server_leaves_a_valid_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = file(dir.path(), "servers:\n  a:\n    command: x\nreviewer: r\n");
    let s = f.server_remove("a").unwrap();
    assert!(s.servers.is_empty());
    cordon_gateway::Config::load(f.path()).unwrap();
    assert!(read(&f).ends_with("reviewer: r\n"));
}
