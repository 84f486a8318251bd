//! How a stdio upstream runs as a child process: the environment it inherits (an allowlist
//! plus the configured variables, never the engine's whole environment, so secrets of the
//! engine's shell do not leak into tools) and its stderr, logged line by line, redacted.

use std::collections::BTreeMap;
use std::sync::Arc;

use cordon_secrets::Redactor;

/// Environment variables a stdio upstream inherits from the engine (plus `LC_*`).
pub const ENV_ALLOWLIST: &[&str] = &[
    "PATH", "HOME", "LANG", "TMPDIR", "USER", "LOGNAME", "SHELL", "TERM",
];

/// Windows variables a child needs to run at all (matched case-insensitively there).
pub const WINDOWS_ENV_ALLOWLIST: &[&str] = &[
    "SystemRoot",
    "windir",
    "APPDATA",
    "LOCALAPPDATA",
    "USERPROFILE",
    "TEMP",
    "TMP",
    "PATHEXT",
    "COMSPEC",
    "ProgramData",
];

/// The environment of a stdio upstream: the allowlist (and `LC_*`) from the engine, then the
/// configured variables on top.
pub fn child_env(configured: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> =
        std::env::vars().filter(|(k, _)| allowed_env(k)).collect();
    env.extend(configured.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// Whether the engine's variable `key` is passed to a stdio upstream.
pub fn allowed_env(key: &str) -> bool {
    if ENV_ALLOWLIST.contains(&key) || key.starts_with("LC_") {
        return true;
    }
    cfg!(windows)
        && WINDOWS_ENV_ALLOWLIST
            .iter()
            .chain(ENV_ALLOWLIST)
            .any(|k| k.eq_ignore_ascii_case(key))
}

/// Longest stderr line logged in one piece.
const STDERR_LINE: usize = 8192;

/// Splits an upstream's stderr into redacted log lines. A line longer than [`STDERR_LINE`] is
/// flushed in pieces; each piece is redacted whole and its last `max_pattern_len() - 1` bytes
/// are carried into the next piece (and logged again there), so a secret split across the
/// boundary is still redacted whole.
pub struct StderrLines {
    redactor: Arc<Redactor>,
    line: Vec<u8>,
}

impl StderrLines {
    /// A splitter redacting with `redactor`.
    pub fn new(redactor: Arc<Redactor>) -> StderrLines {
        StderrLines {
            redactor,
            line: Vec::new(),
        }
    }

    /// Feeds bytes; returns the finished (redacted) lines.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let keep = self.redactor.max_pattern_len().saturating_sub(1);
        let mut out = Vec::new();
        for &byte in bytes {
            if byte == b'\n' {
                out.push(self.take());
                continue;
            }
            self.line.push(byte);
            if self.line.len() >= STDERR_LINE + keep {
                let redacted = self.redactor.redact_bytes(&self.line).into_owned();
                let split = redacted.len().saturating_sub(keep);
                let (head, tail) = redacted.split_at(split);
                out.push(String::from_utf8_lossy(head).into_owned());
                self.line = tail.to_vec();
            }
        }
        out
    }

    /// The redacted rest (at end of stream), if any.
    pub fn finish(&mut self) -> Option<String> {
        (!self.line.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> String {
        let line = std::mem::take(&mut self.line);
        String::from_utf8_lossy(&self.redactor.redact_bytes(&line)).into_owned()
    }
}

pub(super) async fn log_stderr(
    name: String,
    stderr: tokio::process::ChildStderr,
    redactor: Arc<Redactor>,
) {
    use tokio::io::AsyncReadExt;
    let mut stderr = stderr;
    let mut buf = vec![0u8; 8192];
    let mut lines = StderrLines::new(redactor);
    loop {
        let n = match stderr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for line in lines.push(buf.get(..n).unwrap_or_default()) {
            tracing::info!(server = %name, "stderr: {line}");
        }
    }
    if let Some(line) = lines.finish() {
        tracing::info!(server = %name, "stderr: {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_lines_are_redacted_even_across_forced_flushes() {
        use cordon_secrets::{Secret, SecretName};
        let secret = Secret::new(SecretName::new("K").unwrap(), "s3cr3t-v4lue-xyz".to_owned());
        let redactor = Arc::new(Redactor::new([&secret]).unwrap());
        let keep = redactor.max_pattern_len();
        // Every offset of the secret around the forced-flush boundary.
        for offset in 0..keep + 20 {
            let mut lines = StderrLines::new(redactor.clone());
            let mut text = vec![b'a'; STDERR_LINE + keep - 1 - offset.min(STDERR_LINE)];
            text.extend_from_slice(b"s3cr3t-v4lue-xyz and czNjcjN0LXY0bHVlLXh5eg== tail");
            text.extend(std::iter::repeat_n(b'b', STDERR_LINE * 2));
            text.push(b'\n');
            let mut out = Vec::new();
            // Fed in odd-sized chunks.
            for chunk in text.chunks(777) {
                out.extend(lines.push(chunk));
            }
            out.extend(lines.finish());
            let all = out.join("");
            assert!(!all.contains("s3cr3t"), "offset {offset}");
            assert!(!all.contains("czNjcjN0"), "offset {offset}");
            assert!(all.contains("[REDACTED:K]"), "offset {offset}");
        }
    }

    #[test]
    fn child_env_is_an_allowlist() {
        // The test process has PATH; it has no reason to have this name.
        let configured = BTreeMap::from([("FOO".to_owned(), "bar".to_owned())]);
        let env = child_env(&configured);
        assert_eq!(env.get("FOO").map(String::as_str), Some("bar"));
        for key in env.keys() {
            assert!(
                key == "FOO" || allowed_env(key),
                "{key} leaked into the child environment"
            );
        }
    }
}
