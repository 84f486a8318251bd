//! `cordon secret …` against the real binary. Keychain tests run against the real Secret
//! Service when a D-Bus session exists (scripts/test provides one with gnome-keyring unlocked)
//! and fail if it does not work; with no D-Bus session at all they say they are skipped. Each
//! test uses its own keychain service (CORDON_KEYCHAIN_SERVICE), so no real entry is touched.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use cordon_secrets::{SecretName, SecretStore};

const VALUE: &str = "cli-S3cret/Value+=&x y";

struct Env {
    dir: tempfile::TempDir,
    service: String,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.yaml"),
            "servers:\n  gh:\n    command: echo\n    args: [\"--token=${keychain:CLI_TOKEN}\"]\n    \
             env:\n      GITHUB_TOKEN: \"${keychain:CLI_TOKEN}\"\n  remote:\n    url: https://example.com/mcp\n    \
             headers:\n      Authorization: \"Bearer ${keychain:NEVER_SET}\"\n",
        )
        .unwrap();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        Self {
            dir,
            service: format!("cordon-cli-test-{}-{nanos}", std::process::id()),
        }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cordon"));
        cmd.arg("secret")
            .args(args)
            .env("CORDON_KEYCHAIN_SERVICE", &self.service)
            .env("CORDON_CONFIG", self.config())
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("xdg-config"))
            .env("XDG_DATA_HOME", self.dir.path().join("xdg-data"));
        cmd
    }

    /// Runs with `stdin` piped in (never a terminal).
    fn run(&self, args: &[&str], stdin: &str) -> Output {
        self.run_cmd(self.command(args), stdin)
    }

    fn run_cmd(&self, mut cmd: Command, stdin: &str) -> Output {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The command may exit before reading stdin (refusals): a broken pipe is fine.
        let written = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        if let Err(e) = written {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
        }
        child.wait_with_output().unwrap()
    }

    fn store(&self) -> SecretStore {
        SecretStore::new(&self.service).unwrap()
    }
}

fn show(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Fails if any form of `value` appears anywhere in the raw output bytes.
fn assert_no_form(out: &Output, value: &str) {
    let mut raw = out.stdout.clone();
    raw.extend_from_slice(&out.stderr);
    let lower = raw.to_ascii_lowercase();
    for form in cordon_secrets::forms(value) {
        let form_lower = form.to_ascii_lowercase();
        assert!(
            !lower
                .windows(form_lower.len())
                .any(|w| w == form_lower.as_slice()),
            "a form of the secret ({}) leaked:\n{}",
            String::from_utf8_lossy(&form),
            show(out)
        );
    }
}

fn keychain_expected(test: &str) -> bool {
    match std::env::var("DBUS_SESSION_BUS_ADDRESS") {
        Ok(address) if !address.is_empty() => true,
        _ => {
            eprintln!(
                "SKIPPED {test}: DBUS_SESSION_BUS_ADDRESS is not set (run inside \
                 `dbus-run-session` with gnome-keyring unlocked, as scripts/test does)"
            );
            false
        }
    }
}

#[test]
fn value_on_argv_is_refused_with_exit_2_and_never_echoed() {
    let env = Env::new();
    for args in [
        &["set", "CLI_TOKEN", VALUE][..],
        &["set", "CLI_TOKEN", "--value", VALUE],
        &["set", "CLI_TOKEN", &format!("--value={VALUE}")],
        &["set", "CLI_TOKEN", "-v", VALUE],
        &["set", "CLI_TOKEN", "--service", "x", VALUE],
    ] {
        // Broken bus: proves the refusal happens before any keychain access.
        let mut cmd = env.command(args);
        cmd.env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/cordon-cli-test-bus",
        );
        let out = env.run_cmd(cmd, "");
        assert_eq!(out.status.code(), Some(2), "{args:?}\n{}", show(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("refusing to take a secret value from the command line"),
            "{}",
            show(&out)
        );
        assert!(stderr.contains("Nothing was stored"), "{}", show(&out));
        assert_no_form(&out, VALUE);
    }
}

#[test]
fn empty_short_or_binary_values_are_refused_before_the_keychain() {
    let env = Env::new();
    for (stdin, expect) in [
        ("", "the value is empty"),
        ("\n", "the value is empty"),
        ("short\n", "at least 8 bytes"),
        ("with\0nul-byte", "NUL byte"),
    ] {
        let mut cmd = env.command(&["set", "CLI_TOKEN"]);
        cmd.env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/cordon-cli-test-bus",
        );
        let out = env.run_cmd(cmd, stdin);
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(expect),
            "{expect}: {}",
            show(&out)
        );
    }
    let out = env.run(&["set", "bad name"], VALUE);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid secret name"),
        "{}",
        show(&out)
    );
}

#[test]
fn unreachable_keychain_gives_a_clear_error() {
    let env = Env::new();
    for args in [&["set", "CLI_TOKEN"][..], &["list"], &["rm", "CLI_TOKEN"]] {
        let mut cmd = env.command(args);
        cmd.env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/cordon-cli-test-bus",
        );
        let out = env.run_cmd(cmd, VALUE);
        assert_eq!(out.status.code(), Some(1), "{args:?} {}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(
                "no OS keychain reachable: on Linux a Secret Service (gnome-keyring, KWallet) must be running in this D-Bus session"
            ),
            "{}",
            show(&out)
        );
        assert_no_form(&out, VALUE);
    }
}

#[test]
fn set_list_rm_against_the_real_keychain() {
    if !keychain_expected("set_list_rm_against_the_real_keychain") {
        return;
    }
    let env = Env::new();
    let name = SecretName::new("CLI_TOKEN").unwrap();

    // One trailing newline (as `echo` adds) is stripped; nothing is printed but the name.
    let out = env.run(&["set", "CLI_TOKEN"], &format!("{VALUE}\n"));
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("stored secret `CLI_TOKEN`"),
        "{}",
        show(&out)
    );
    assert_no_form(&out, VALUE);
    assert_eq!(env.store().get(&name).unwrap().expose(), VALUE);

    // Only ONE newline is stripped.
    let out = env.run(&["set", "TWO_NEWLINES"], &format!("{VALUE}\n\n"));
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no server in the config references it"),
        "{}",
        show(&out)
    );
    let two = SecretName::new("TWO_NEWLINES").unwrap();
    assert_eq!(
        env.store().get(&two).unwrap().expose(),
        format!("{VALUE}\n")
    );

    for args in [&["list"][..], &["list", "--json"]] {
        let out = env.run(args, "");
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("CLI_TOKEN"), "{}", show(&out));
        assert!(stdout.contains("gh (env GITHUB_TOKEN)"), "{}", show(&out));
        assert!(stdout.contains("gh (args[0])"), "{}", show(&out));
        assert!(stdout.contains("NEVER_SET"), "{}", show(&out));
        assert!(
            stdout.contains("remote (header Authorization)"),
            "{}",
            show(&out)
        );
        assert!(stdout.contains("TWO_NEWLINES"), "{}", show(&out));
        assert_no_form(&out, VALUE);
    }
    let out = env.run(&["list"], "");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let never = stdout.lines().find(|l| l.starts_with("NEVER_SET")).unwrap();
    assert!(never.contains("MISSING"), "{stdout}");

    // --service selects another keychain service: the secret is not there.
    let out = env.run(
        &[
            "rm",
            "CLI_TOKEN",
            "--service",
            &format!("{}-other", env.service),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nothing to remove"),
        "{}",
        show(&out)
    );

    let out = env.run(&["rm", "CLI_TOKEN"], "");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(env.store().get(&name).is_err());
    let out = env.run(&["rm", "CLI_TOKEN"], "");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let out = env.run(&["list"], "");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find(|l| l.starts_with("CLI_TOKEN")).unwrap();
    assert!(line.contains("MISSING"), "{stdout}");

    let out = env.run(&["rm", "TWO_NEWLINES"], "");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(env.store().names().unwrap().is_empty());
}

#[test]
fn malformed_reference_in_the_config_is_reported_by_list() {
    if !keychain_expected("malformed_reference_in_the_config_is_reported_by_list") {
        return;
    }
    let env = Env::new();
    std::fs::write(
        env.config(),
        "servers:\n  gh:\n    command: echo\n    env:\n      T: \"${keychain:OOPS\"\n",
    )
    .unwrap();
    let out = env.run(&["list"], "");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("servers.gh.env.T: malformed keychain reference at byte 0"),
        "{}",
        show(&out)
    );
}

#[cfg(unix)]
#[test]
#[should_panic(expected = "a form of the secret")]
fn the_leak_check_itself_catches_an_encoded_value() {
    use std::os::unix::process::ExitStatusExt;
    let encoded: String = VALUE.bytes().map(|b| format!("{b:02X}")).collect();
    let out = Output {
        status: std::process::ExitStatus::from_raw(0),
        stdout: format!("listing: {encoded}\n").into_bytes(),
        stderr: Vec::new(),
    };
    assert_no_form(&out, VALUE);
}
