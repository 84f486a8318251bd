//! Install / uninstall against realistic config files of each agent, in a temporary home.
//!
//! Expected outputs are fixtures (`*.expected`), compared byte for byte. To regenerate them after
//! an intended change, run with `CORDON_UPDATE_FIXTURES=1` and review the diff.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};

use cordon_agents::{Agent, AgentError, Bases, Options};

const CORDON: &str = "/opt/cordon/bin/cordon";

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn opts() -> Options {
    Options {
        cordon: PathBuf::from(CORDON),
        import: false,
        dry_run: false,
    }
}

/// (fixture for the MCP file, fixture for the hooks file or None when absent)
fn inputs(agent: Agent) -> (&'static str, Option<&'static str>) {
    match agent {
        Agent::ClaudeCode => ("claude-code/claude.json", Some("claude-code/settings.json")),
        Agent::Cursor => ("cursor/mcp.json", None),
        Agent::Codex => ("codex/config.toml", None),
        // Its hooks live in the same file as its servers.
        Agent::Gemini => ("gemini/settings.json", None),
        Agent::Vscode => ("vscode/mcp.json", None),
        Agent::Windsurf => ("windsurf/mcp_config.json", None),
    }
}

fn malformed(agent: Agent) -> &'static str {
    match agent {
        Agent::ClaudeCode => "claude-code/malformed.json",
        Agent::Cursor => "cursor/malformed.json",
        Agent::Codex => "codex/malformed.toml",
        Agent::Gemini => "gemini/malformed.json",
        Agent::Vscode => "vscode/malformed.json",
        Agent::Windsurf => "windsurf/malformed.json",
    }
}

struct Home {
    _dir: tempfile::TempDir,
    bases: Bases,
}

fn home() -> Home {
    let dir = tempfile::tempdir().unwrap();
    let bases = Bases::for_home(dir.path());
    Home { _dir: dir, bases }
}

fn place(from: &str, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(fixture(from), to).unwrap();
}

fn setup(agent: Agent) -> Home {
    let h = home();
    let (mcp, hooks) = inputs(agent);
    place(mcp, &agent.mcp_config(&h.bases));
    if let (Some(hooks), Some(path)) = (hooks, agent.hooks_config(&h.bases)) {
        place(hooks, &path);
    }
    h
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push((path.clone(), read(&path)));
            }
        }
    }
    out.sort();
    out
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

fn check_expected(actual: &Path, expected_fixture: &str) {
    let expected = fixture(expected_fixture);
    let bytes = read(actual);
    if std::env::var_os("CORDON_UPDATE_FIXTURES").is_some() {
        std::fs::write(&expected, &bytes).unwrap();
        return;
    }
    let want = std::fs::read(&expected).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        String::from_utf8_lossy(&want),
        "{} differs from {}",
        actual.display(),
        expected.display()
    );
}

fn expected_name(input: &str) -> String {
    format!("{input}.expected")
}

fn hooks_expected(agent: Agent) -> Option<String> {
    match agent {
        Agent::ClaudeCode => Some("claude-code/settings.json.expected".into()),
        Agent::Cursor => Some("cursor/hooks.json.expected".into()),
        Agent::Codex => Some("codex/hooks.json.expected".into()),
        _ => None,
    }
}

#[test]
fn install_writes_the_expected_files_and_backs_up_originals() {
    for agent in Agent::ALL {
        let h = setup(agent);
        let (mcp, hooks) = inputs(agent);
        let report = cordon_agents::install(agent, &h.bases, &opts()).unwrap();
        assert!(!report.changes.is_empty(), "{agent:?}");
        let path = agent.mcp_config(&h.bases);
        check_expected(&path, &expected_name(mcp));
        let backup = PathBuf::from(format!("{}.cordon-backup", path.display()));
        assert_eq!(read(&backup), read(&fixture(mcp)), "{agent:?} backup");
        if let (Some(hooks_path), Some(expected)) =
            (agent.hooks_config(&h.bases), hooks_expected(agent))
        {
            check_expected(&hooks_path, &expected);
            match hooks {
                Some(original) => {
                    let backup = PathBuf::from(format!("{}.cordon-backup", hooks_path.display()));
                    assert_eq!(read(&backup), read(&fixture(original)));
                }
                None => {
                    let marker = PathBuf::from(format!("{}.cordon-created", hooks_path.display()));
                    assert!(marker.exists(), "{agent:?}: created file is marked");
                }
            }
        }
    }
}

#[test]
fn second_install_is_a_no_op() {
    for agent in Agent::ALL {
        let h = setup(agent);
        cordon_agents::install(agent, &h.bases, &opts()).unwrap();
        let path = agent.mcp_config(&h.bases);
        let after_first = read(&path);
        let report = cordon_agents::install(agent, &h.bases, &opts()).unwrap();
        assert!(report.changes.is_empty(), "{agent:?}: {:?}", report.changes);
        assert_eq!(read(&path), after_first);
    }
}

#[test]
fn uninstall_restores_the_originals_byte_for_byte() {
    for agent in Agent::ALL {
        let h = setup(agent);
        let (mcp, hooks) = inputs(agent);
        cordon_agents::install(agent, &h.bases, &opts()).unwrap();
        let report = cordon_agents::uninstall(agent, &h.bases, &opts()).unwrap();
        assert!(report.notes.is_empty(), "{agent:?}: {:?}", report.notes);
        let path = agent.mcp_config(&h.bases);
        assert_eq!(read(&path), read(&fixture(mcp)), "{agent:?}");
        assert!(!PathBuf::from(format!("{}.cordon-backup", path.display())).exists());
        if let Some(hooks_path) = agent
            .hooks_config(&h.bases)
            .filter(|p| *p != agent.mcp_config(&h.bases))
        {
            match hooks {
                Some(original) => assert_eq!(read(&hooks_path), read(&fixture(original))),
                None => assert!(
                    !hooks_path.exists(),
                    "{agent:?}: created hooks file removed"
                ),
            }
            assert!(!PathBuf::from(format!("{}.cordon-created", hooks_path.display())).exists());
        }
        // Nothing left behind in the agent's directory but the original files.
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("cordon"))
            .collect();
        assert!(leftovers.is_empty(), "{agent:?}: {leftovers:?}");
    }
}

#[test]
fn install_into_a_home_without_config_files_creates_them_and_uninstall_removes_them() {
    for agent in Agent::ALL {
        let h = home();
        cordon_agents::install(agent, &h.bases, &opts()).unwrap();
        let path = agent.mcp_config(&h.bases);
        assert!(path.exists(), "{agent:?}");
        let status = cordon_agents::status(agent, &h.bases);
        assert!(status.governed, "{agent:?}: {status:?}");
        cordon_agents::uninstall(agent, &h.bases, &opts()).unwrap();
        assert!(!path.exists(), "{agent:?}");
        if let Some(hooks) = agent.hooks_config(&h.bases) {
            assert!(!hooks.exists(), "{agent:?}");
        }
    }
}

#[test]
fn malformed_files_are_refused_and_left_untouched() {
    for agent in Agent::ALL {
        let h = home();
        let path = agent.mcp_config(&h.bases);
        place(malformed(agent), &path);
        let before = read(&path);
        let err = cordon_agents::install(agent, &h.bases, &opts()).unwrap_err();
        assert!(
            matches!(err, AgentError::Malformed { .. }),
            "{agent:?}: {err}"
        );
        assert!(err.to_string().contains("changed nothing"), "{err}");
        assert_eq!(read(&path), before, "{agent:?}");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names.len(),
            1,
            "{agent:?}: no backup, no temp file: {names:?}"
        );
        // The hooks file was not created either (the whole install was refused).
        if let Some(hooks) = agent.hooks_config(&h.bases).filter(|p| *p != path) {
            assert!(!hooks.exists(), "{agent:?}");
        }
    }
}

#[test]
fn a_malformed_hooks_file_refuses_the_whole_install() {
    let h = setup(Agent::ClaudeCode);
    let hooks = Agent::ClaudeCode.hooks_config(&h.bases).unwrap();
    std::fs::write(&hooks, "{\"hooks\": {\"PreToolUse\": {}}}").unwrap();
    let mcp = Agent::ClaudeCode.mcp_config(&h.bases);
    let before = read(&mcp);
    let err = cordon_agents::install(Agent::ClaudeCode, &h.bases, &opts()).unwrap_err();
    assert!(err.to_string().contains("PreToolUse"), "{err}");
    assert_eq!(read(&mcp), before);
}

#[test]
fn print_writes_nothing_and_shows_a_diff() {
    for agent in Agent::ALL {
        let h = setup(agent);
        let path = agent.mcp_config(&h.bases);
        let before = snapshot(&h.bases.home);
        let dry = Options {
            dry_run: true,
            ..opts()
        };
        let report = cordon_agents::install(agent, &h.bases, &dry).unwrap();
        assert_eq!(
            snapshot(&h.bases.home),
            before,
            "{agent:?}: nothing written"
        );
        let diff = report.changes[0].diff();
        assert!(diff.contains(&format!("+++ b{}", path.display())), "{diff}");
        assert!(diff.contains(CORDON), "{diff}");
        if let (Some(hooks), None) = (agent.hooks_config(&h.bases), inputs(agent).1)
            && hooks != path
        {
            assert!(!hooks.exists());
        }
        // Uninstall --print after a real install writes nothing either.
        cordon_agents::install(agent, &h.bases, &opts()).unwrap();
        let installed = snapshot(&h.bases.home);
        let report = cordon_agents::uninstall(agent, &h.bases, &dry).unwrap();
        assert!(!report.changes.is_empty());
        assert_eq!(snapshot(&h.bases.home), installed, "{agent:?}");
    }
}

#[test]
fn uninstall_after_unrelated_edits_removes_only_cordons_entry() {
    let agent = Agent::Cursor;
    let h = setup(agent);
    cordon_agents::install(agent, &h.bases, &opts()).unwrap();
    let path = agent.mcp_config(&h.bases);
    let edited = String::from_utf8(read(&path))
        .unwrap()
        .replace("// Servers for every workspace", "// edited by the user");
    std::fs::write(&path, &edited).unwrap();
    let report = cordon_agents::uninstall(agent, &h.bases, &opts()).unwrap();
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("removed only Cordon's entry")),
        "{:?}",
        report.notes
    );
    let original = String::from_utf8(read(&fixture("cursor/mcp.json"))).unwrap();
    assert_eq!(
        String::from_utf8(read(&path)).unwrap(),
        original.replace("// Servers for every workspace", "// edited by the user")
    );
    // The backup stays: it still holds the user's original.
    assert!(PathBuf::from(format!("{}.cordon-backup", path.display())).exists());
}

#[test]
fn ungoverned_servers_are_listed_and_import_moves_them_out() {
    let agent = Agent::ClaudeCode;
    let h = setup(agent);
    let report = cordon_agents::install(agent, &h.bases, &opts()).unwrap();
    let names: Vec<_> = report.ungoverned.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["github", "sentry"]);
    let status = cordon_agents::status(agent, &h.bases);
    assert!(
        status.routes_through_cordon && !status.governed,
        "{status:?}"
    );
    assert!(
        status
            .problems
            .iter()
            .any(|p| p.contains("bypass Cordon: github, sentry")),
        "{status:?}"
    );
    cordon_agents::uninstall(agent, &h.bases, &opts()).unwrap();

    let import = Options {
        import: true,
        ..opts()
    };
    let report = cordon_agents::install(agent, &h.bases, &import).unwrap();
    let yaml = report.import_yaml.unwrap();
    assert_eq!(
        yaml,
        "servers:\n  github:\n    command: npx\n    args:\n    - -y\n    - '@modelcontextprotocol/server-github'\n    env:\n      GITHUB_PERSONAL_ACCESS_TOKEN: ${keychain:github-github-personal-access-token}\n  sentry:\n    url: https://mcp.sentry.dev/mcp\n"
    );
    // The same config as the hand-written generator produced (its exact text, which carried
    // the `cordon secret set` hint as a comment; the CLI prints that hint for each secret).
    let before = "servers:\n  github:\n    command: \"npx\"\n    args: [\"-y\", \"@modelcontextprotocol/server-github\"]\n    env:\n      \"GITHUB_PERSONAL_ACCESS_TOKEN\": \"${keychain:github-github-personal-access-token}\"   # run: cordon secret set github-github-personal-access-token\n  sentry:\n    url: \"https://mcp.sentry.dev/mcp\"\n";
    let parse = |text: &str| yaml_serde::from_str::<serde_json::Value>(text).unwrap();
    assert_eq!(parse(&yaml), parse(before));
    assert_eq!(
        report.secrets,
        [(
            "github".to_owned(),
            "GITHUB_PERSONAL_ACCESS_TOKEN".to_owned(),
            "github-github-personal-access-token".to_owned()
        )]
    );
    assert!(!yaml.contains("ghp_"), "secret values are never printed");
    assert_eq!(report.secrets.len(), 1);
    let path = agent.mcp_config(&h.bases);
    let text = String::from_utf8(read(&path)).unwrap();
    assert!(
        !text.contains("server-github") && !text.contains("sentry"),
        "{text}"
    );
    assert!(text.contains("\"userID\": \"0f3c2b1a\""));
    let status = cordon_agents::status(agent, &h.bases);
    assert!(status.governed, "{status:?}");
    assert_eq!(status.hooks, Some(true));
    // Uninstall puts the imported servers back: byte for byte.
    cordon_agents::uninstall(agent, &h.bases, &opts()).unwrap();
    assert_eq!(read(&path), read(&fixture("claude-code/claude.json")));
}

#[test]
fn disabled_servers_do_not_count_as_bypasses() {
    let agent = Agent::Windsurf;
    let h = setup(agent);
    let report = cordon_agents::install(agent, &h.bases, &opts()).unwrap();
    let names: Vec<_> = report.ungoverned.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["puppeteer"]);
}

/// Options naming a real (empty, executable) `cordon` file in the temporary home, so that
/// status finds the binary the entries name.
fn real_binary(h: &Home) -> Options {
    let bin = h.bases.home.join("bin/cordon");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::write(&bin, b"").unwrap();
    Options {
        cordon: bin,
        ..opts()
    }
}

#[test]
fn drift_is_reported() {
    let agent = Agent::Codex;
    let h = home();
    let path = agent.mcp_config(&h.bases);
    cordon_agents::install(agent, &h.bases, &real_binary(&h)).unwrap();
    let status = cordon_agents::status(agent, &h.bases);
    assert!(
        status.governed && status.installed && status.problems.is_empty(),
        "{status:?}"
    );
    // The user adds a server by hand: it bypasses Cordon.
    let mut text = String::from_utf8(read(&path)).unwrap();
    text.push_str("\n[mcp_servers.shell]\ncommand = \"mcp-shell\"\n");
    std::fs::write(&path, &text).unwrap();
    let status = cordon_agents::status(agent, &h.bases);
    assert!(!status.governed);
    assert!(
        status
            .problems
            .iter()
            .any(|p| p.contains("bypass Cordon: shell")),
        "{status:?}"
    );
    // Then Cordon's entry disappears.
    std::fs::write(&path, "[mcp_servers.shell]\ncommand = \"mcp-shell\"\n").unwrap();
    let status = cordon_agents::status(agent, &h.bases);
    assert!(!status.routes_through_cordon);
    assert!(
        status
            .problems
            .iter()
            .any(|p| p.contains("no longer routes through Cordon")),
        "{status:?}"
    );
}

#[test]
fn status_of_an_absent_agent() {
    let h = home();
    for agent in Agent::ALL {
        let status = cordon_agents::status(agent, &h.bases);
        assert!(
            !status.installed && !status.governed && status.problems.is_empty(),
            "{status:?}"
        );
    }
    std::fs::create_dir_all(h.bases.home.join(".cursor")).unwrap();
    assert!(cordon_agents::status(Agent::Cursor, &h.bases).installed);
}

#[test]
fn a_changed_cordon_path_updates_the_entry() {
    let agent = Agent::Vscode;
    let h = setup(agent);
    cordon_agents::install(agent, &h.bases, &opts()).unwrap();
    let moved = Options {
        cordon: PathBuf::from("/usr/local/bin/cordon"),
        ..opts()
    };
    let report = cordon_agents::install(agent, &h.bases, &moved).unwrap();
    assert_eq!(report.changes.len(), 1);
    let text = String::from_utf8(read(&agent.mcp_config(&h.bases))).unwrap();
    assert!(
        text.contains("/usr/local/bin/cordon") && !text.contains(CORDON),
        "{text}"
    );
    // Uninstall still removes it (the file no longer matches a fresh install from the backup
    // with the new path... it does: same path now), and restores the original.
    cordon_agents::uninstall(agent, &h.bases, &moved).unwrap();
    assert_eq!(
        read(&agent.mcp_config(&h.bases)),
        read(&fixture("vscode/mcp.json"))
    );
}

#[test]
fn import_then_uninstall_restores_every_agent_byte_for_byte() {
    let import = Options {
        import: true,
        ..opts()
    };
    for agent in Agent::ALL {
        let h = setup(agent);
        let report = cordon_agents::install(agent, &h.bases, &import).unwrap();
        assert!(!report.imported.is_empty(), "{agent:?}");
        let status = cordon_agents::status(agent, &h.bases);
        assert!(status.governed, "{agent:?}: {status:?}");
        // Import again: nothing left to move, nothing changes.
        let again = cordon_agents::install(agent, &h.bases, &import).unwrap();
        assert!(
            again.changes.is_empty() && again.imported.is_empty(),
            "{agent:?}"
        );
        cordon_agents::uninstall(agent, &h.bases, &opts()).unwrap();
        let (mcp, _) = inputs(agent);
        assert_eq!(
            read(&agent.mcp_config(&h.bases)),
            read(&fixture(mcp)),
            "{agent:?}"
        );
    }
}

#[test]
fn every_agent_installs_fail_closed_and_reports_no_drift() {
    for agent in Agent::ALL {
        let h = setup(agent);
        let o = real_binary(&h);
        cordon_agents::install(agent, &h.bases, &o).unwrap();
        let status = cordon_agents::status_for(agent, &h.bases, Some(&o.cordon));
        let bypass = |p: &String| p.contains("bypass Cordon");
        assert!(
            status.problems.iter().all(bypass),
            "{agent:?}: {:?}",
            status.problems
        );
        if agent.hooks_config(&h.bases).is_some() {
            assert_eq!(status.hooks, Some(true), "{agent:?}");
        }
        // Every file Cordon wrote names the binary by its absolute path, never a bare `cordon`.
        for path in [
            Some(agent.mcp_config(&h.bases)),
            agent.hooks_config(&h.bases),
        ]
        .into_iter()
        .flatten()
        {
            let text = String::from_utf8(read(&path)).unwrap();
            assert!(text.contains(&o.cordon.display().to_string()), "{text}");
            assert!(!text.contains("\"cordon hook"), "{text}");
            assert!(!text.contains("\"command\": \"cordon\""), "{text}");
        }
    }
}

/// (agent, file, text to find, its replacement, expected drift)
const FAIL_CLOSED_EDITS: &[(Agent, &str, &str, &str, &str)] = &[
    (
        Agent::ClaudeCode,
        "hooks",
        "\"onFailure\": \"block\"",
        "\"x\": 1",
        "onFailure",
    ),
    (
        Agent::ClaudeCode,
        "hooks",
        "\"matcher\": \"*\"",
        "\"matcher\": \"Bash|Read\"",
        "does not cover every tool",
    ),
    (
        Agent::ClaudeCode,
        "hooks",
        "\"timeout\": 600",
        "\"timeout\": 60",
        "timeout",
    ),
    (
        Agent::ClaudeCode,
        "hooks",
        "\"mcp__cordon\"",
        "\"Read\"",
        "permissions.allow",
    ),
    (
        Agent::ClaudeCode,
        "hooks",
        "\"model\": \"opus\"",
        "\"model\": \"opus\", \"disableAllHooks\": true",
        "disableAllHooks",
    ),
    (Agent::Codex, "mcp", "env_vars", "x_env_vars", "env_vars"),
    (
        Agent::Codex,
        "mcp",
        "default_tools_approval_mode = \"approve\"",
        "default_tools_approval_mode = \"prompt\"",
        "default_tools_approval_mode",
    ),
    (
        Agent::Codex,
        "hooks",
        "\"matcher\": \"*\"",
        "\"matcher\": \"Bash\"",
        "does not cover every tool",
    ),
    (
        Agent::Gemini,
        "mcp",
        "\"trust\": true",
        "\"trust\": false",
        "trust",
    ),
    (
        Agent::Gemini,
        "mcp",
        "\"security\": {",
        "\"hooksConfig\": {\"enabled\": false}, \"security\": {",
        "hooksConfig.enabled",
    ),
    (
        Agent::Cursor,
        "hooks",
        "\"failClosed\": true",
        "\"failClosed\": false",
        "failClosed",
    ),
];

#[test]
fn removing_a_fail_closed_setting_is_drift() {
    for (agent, file, from, to, expected) in FAIL_CLOSED_EDITS {
        let h = setup(*agent);
        let o = real_binary(&h);
        cordon_agents::install(*agent, &h.bases, &o).unwrap();
        let path = if *file == "mcp" {
            agent.mcp_config(&h.bases)
        } else {
            agent.hooks_config(&h.bases).unwrap()
        };
        let text = String::from_utf8(read(&path)).unwrap();
        assert!(text.contains(from), "{agent:?}: `{from}` not in {text}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        let status = cordon_agents::status_for(*agent, &h.bases, Some(&o.cordon));
        assert!(
            status
                .problems
                .iter()
                .any(|p| p.starts_with("drift:") && p.contains(expected)),
            "{agent:?} {from} -> {to}: {:?}",
            status.problems
        );
        // Installing again restores it.
        cordon_agents::install(*agent, &h.bases, &o).unwrap();
        let status = cordon_agents::status_for(*agent, &h.bases, Some(&o.cordon));
        assert!(
            !status.problems.iter().any(|p| p.contains(expected)),
            "{agent:?}: {:?}",
            status.problems
        );
    }
}

#[test]
fn a_stale_or_bare_binary_path_is_drift() {
    for agent in Agent::ALL {
        let h = home();
        let o = real_binary(&h);
        cordon_agents::install(agent, &h.bases, &o).unwrap();
        // Another Cordon (an upgrade elsewhere) is running now: the entries are stale.
        let other = h.bases.home.join("other/cordon");
        std::fs::create_dir_all(other.parent().unwrap()).unwrap();
        std::fs::write(&other, b"").unwrap();
        let status = cordon_agents::status_for(agent, &h.bases, Some(&other));
        assert!(
            status
                .problems
                .iter()
                .any(|p| p.contains("stale Cordon path")),
            "{agent:?}: {:?}",
            status.problems
        );
        // The binary the entries name is gone.
        std::fs::remove_file(&o.cordon).unwrap();
        let status = cordon_agents::status(agent, &h.bases);
        assert!(
            status.problems.iter().any(|p| p.contains("does not exist")),
            "{agent:?}: {:?}",
            status.problems
        );
        // A bare `cordon` resolves through PATH (another package installs one too).
        let bare = Options {
            cordon: PathBuf::from("cordon"),
            ..opts()
        };
        cordon_agents::install(agent, &h.bases, &bare).unwrap();
        let status = cordon_agents::status(agent, &h.bases);
        assert!(
            status
                .problems
                .iter()
                .any(|p| p.contains("not an absolute path")),
            "{agent:?}: {:?}",
            status.problems
        );
    }
}

#[test]
fn an_old_install_with_a_tool_list_matcher_is_replaced_by_one_covering_every_tool() {
    let h = setup(Agent::ClaudeCode);
    let hooks = Agent::ClaudeCode.hooks_config(&h.bases).unwrap();
    std::fs::write(
        &hooks,
        format!(
            "{{\"hooks\": {{\"PreToolUse\": [{{\"matcher\": \"Bash|Read|Glob|Grep|LS\", \"hooks\": [{{\"type\": \"command\", \"command\": \"{CORDON} hook claude-code\", \"timeout\": 600}}]}}]}}}}\n"
        ),
    )
    .unwrap();
    cordon_agents::install(Agent::ClaudeCode, &h.bases, &opts()).unwrap();
    let text = String::from_utf8(read(&hooks)).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let entries = value["hooks"]["PreToolUse"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{text}");
    assert_eq!(entries[0]["matcher"], "*");
    assert_eq!(entries[0]["hooks"][0]["onFailure"], "block");
    assert_eq!(value["permissions"]["allow"][0], "mcp__cordon");
}
