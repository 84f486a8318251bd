//! The engine's standby: the evidence log cannot be written at start (a full disk, a read-only
//! file or file system, another process's lock, no OS keychain for its signing key yet), so
//! nothing may be governed yet.
//!
//! Exiting would leave the user with no engine to ask and no one to retry (the tray app starts
//! it once, at login). Instead the engine holds its control socket and answers there: `ping`
//! says why it is not serving (`cordon status` and the tray show it), a native hook call is
//! denied with that reason, an MCP session is refused with it (the bridge then refuses the
//! agent's calls with it), every other request gets it as its error. Meanwhile the start is
//! retried every [`RETRY_EVERY`] (every [`LOCKED_RETRY_EVERY`] while the keychain is locked: each
//! try may show its unlock prompt again); the first that works ends the standby and the engine
//! starts on the same socket. Nothing is forwarded, executed or allowed before then (fail
//! closed).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::Semaphore;

use crate::control::{IDLE_TIMEOUT, Listener, MAX_CONNECTIONS, MAX_REQUEST_BYTES, Request};
use crate::error::GatewayError;
use crate::recorder::EvidenceHealth;

/// How often a start that found the evidence log unwritable is tried again.
pub const RETRY_EVERY: Duration = Duration::from_secs(1);

/// How often a start that found the keychain locked is tried again: each try may show the
/// keychain's unlock prompt, and a prompt the user dismissed must not come back every second.
pub const LOCKED_RETRY_EVERY: Duration = Duration::from_secs(60);

/// Why the engine cannot serve yet.
#[derive(Debug)]
pub enum NotReady {
    /// The storage refuses writes for now: stand by and retry every [`RETRY_EVERY`] (the text
    /// says what happened).
    Fault(String),
    /// The keychain holding the signing key is locked: stand by and retry every
    /// [`LOCKED_RETRY_EVERY`].
    Locked(String),
    /// Anything else (a corrupt log, an insecure directory, a missing key): the start fails.
    Fatal(GatewayError),
}

impl NotReady {
    /// Why, and how long until the next try; the error itself when the start fails for good.
    fn pace(self) -> Result<(String, Duration), GatewayError> {
        match self {
            NotReady::Fault(reason) => Ok((reason, RETRY_EVERY)),
            NotReady::Locked(reason) => Ok((reason, LOCKED_RETRY_EVERY)),
            NotReady::Fatal(error) => Err(error),
        }
    }
}

/// What every refused request is told while the engine stands by (`again`: the pace of its
/// tries).
pub fn refusal(reason: &str, again: Duration) -> String {
    let pace = match again.as_secs() {
        1 => "every second".to_owned(),
        60 => "every minute".to_owned(),
        n => format!("every {n} s"),
    };
    format!(
        "Cordon cannot record evidence, so it refuses every call until it can: {reason} (the \
         engine tries again {pace} and serves as soon as the log can be written)"
    )
}

/// Answers on `listener` (and on the HTTP port `http`, when the config has one) as a standby
/// engine until `retry` works (its value is returned) or fails for good. `first` is why the
/// first try failed.
pub async fn until_ready<T, F, Fut>(
    listener: &mut Listener,
    http: Option<&tokio::net::TcpListener>,
    first: NotReady,
    policy_version: &str,
    mut retry: F,
) -> Result<T, GatewayError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, NotReady>>,
{
    let (mut reason, mut again) = first.pace()?;
    let since = crate::recorder::now_text();
    tracing::error!(
        "standing by, every call refused: {}",
        refusal(&reason, again)
    );
    let places = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    // Apart: connecting to HTTP needs no token, and a flood there must not silence the socket.
    let http_places = Arc::new(Semaphore::new(HTTP_CONNECTIONS));
    // One try at a time, each a pause after the last ended (see `NotReady`), run beside the
    // answering: a try can take long (another process's lock, a keychain waiting to be
    // unlocked) and the socket must go on saying why meanwhile.
    let later = |attempt: Fut, wait: Duration| async move {
        tokio::time::sleep(wait).await;
        attempt.await
    };
    let mut attempt = Box::pin(later(retry(), again));
    let mut accept_failed = false;
    loop {
        tokio::select! {
            tried = &mut attempt => match tried {
                Ok(ready) => {
                    tracing::info!("the evidence log can be written again: starting");
                    return Ok(ready);
                }
                Err(not_ready) => {
                    let (now, pace) = not_ready.pace()?;
                    if now != reason {
                        tracing::error!("still standing by: {}", refusal(&now, pace));
                        reason = now;
                    }
                    again = pace;
                    attempt = Box::pin(later(retry(), again));
                }
            },
            Some(accepted) = accept_http(http) => match accepted {
                Ok((stream, _)) => {
                    if let Ok(place) = http_places.clone().try_acquire_owned() {
                        tokio::spawn(async move {
                            let _ = tokio::time::timeout(HTTP_WAIT, unavailable(stream)).await;
                            drop(place);
                        });
                    }
                }
                // Out of descriptors, say: do not spin on it.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            },
            accepted = crate::control::accept(listener) => match accepted {
                Ok((read, write)) => {
                    accept_failed = false;
                    // Beyond the limit a connection is closed unanswered: a flood costs nothing.
                    let Ok(place) = places.clone().try_acquire_owned() else {
                        continue;
                    };
                    let ping = json!({
                        "ok": true,
                        "engine": "cordon",
                        "version": env!("CARGO_PKG_VERSION"),
                        "standby": refusal(&reason, again),
                        "evidence": EvidenceHealth {
                            ok: false,
                            error: Some(reason.clone()),
                            since: since.clone(),
                            failed_appends: 0,
                        },
                        "policy_version": policy_version,
                        "org_policy": null,
                    });
                    let message = refusal(&reason, again);
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(IDLE_TIMEOUT, answer(read, write, ping, &message)).await;
                        drop(place);
                    });
                }
                Err(error) => {
                    if !accept_failed {
                        tracing::warn!("control channel accept failed (backing off): {error}");
                        accept_failed = true;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

/// HTTP connections answered at once while standing by (beyond: closed unanswered).
const HTTP_CONNECTIONS: usize = 64;

/// How long a standby HTTP connection may take to send its request head.
const HTTP_WAIT: Duration = Duration::from_secs(5);

/// What every HTTP request gets while standing by: 503 and a JSON-RPC error. No details:
/// anyone on this machine can connect before any token is checked (`cordon status` tells the
/// user why).
fn http_unavailable() -> String {
    let body = json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {
            "code": -32000,
            "message": "Cordon cannot record evidence yet, so it refuses every call until it \
                        can: `cordon status` says why",
        },
    })
    .to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n\
         Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// The next HTTP connection while standing by (never, without an HTTP port).
async fn accept_http(
    http: Option<&tokio::net::TcpListener>,
) -> Option<std::io::Result<(tokio::net::TcpStream, std::net::SocketAddr)>> {
    match http {
        Some(listener) => Some(listener.accept().await),
        None => std::future::pending().await,
    }
}

/// Reads a request's head (at most 16 KiB), answers 503, closes.
async fn unavailable(stream: tokio::net::TcpStream) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read.take(16 * 1024));
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) if line == b"\r\n" || line == b"\n" => break,
            Ok(_) => {}
        }
    }
    let _ = write.write_all(http_unavailable().as_bytes()).await;
    let _ = write.shutdown().await;
}

/// One standby connection: one request, its answer, then closed.
async fn answer<R, W>(read: R, mut write: W, ping: Value, message: &str)
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut reader = BufReader::new(read.take(MAX_REQUEST_BYTES));
    let mut line = Vec::new();
    if reader.read_until(b'\n', &mut line).await.unwrap_or(0) == 0 {
        return;
    }
    let reply = standby_reply(&line, ping, message);
    let _ = write.write_all(format!("{reply}\n").as_bytes()).await;
    let _ = write.flush().await;
}

/// The standby's answer to one request line.
fn standby_reply(line: &[u8], ping: Value, message: &str) -> Value {
    match serde_json::from_slice::<Request>(line) {
        Ok(Request::Ping) => ping,
        // A native tool call: the agent's hook asks and is told no, with why.
        Ok(Request::Hook { .. }) => json!({"ok": true, "decision": "deny", "reason": message}),
        Ok(_) => json!({"ok": false, "error": message}),
        Err(error) => json!({"ok": false, "error": format!("bad request: {error}")}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_http_answer_is_a_well_formed_503_with_a_json_rpc_error() {
        let answer = http_unavailable();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{head}"
        );
        let error: Value = serde_json::from_str(body).unwrap();
        assert_eq!(error["error"]["code"], -32000);
    }

    #[test]
    fn a_standby_answers_ping_denies_hooks_and_refuses_the_rest_with_why() {
        let ping = json!({"ok": true, "standby": "x"});
        let why = refusal("database or disk is full", RETRY_EVERY);
        assert_eq!(
            standby_reply(b"{\"op\":\"ping\"}\n", ping.clone(), &why),
            ping
        );
        let hook = standby_reply(
            br#"{"op":"hook","agent":"a","session_id":"s","tool":"Bash","args":{"command":"rm -rf /"}}"#,
            ping.clone(),
            &why,
        );
        assert_eq!(hook["decision"], "deny");
        assert!(
            hook["reason"]
                .as_str()
                .is_some_and(|r| r.contains("disk is full"))
        );
        for line in [
            &br#"{"op":"mcp","agent":"a"}"#[..],
            br#"{"op":"approve","id":"x","code":"1"}"#,
            br#"{"op":"resume"}"#,
        ] {
            let reply = standby_reply(line, ping.clone(), &why);
            assert_eq!(reply["ok"], false, "{reply}");
            assert!(
                reply["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("disk is full"))
            );
        }
        let bad = standby_reply(b"{not json", ping, &why);
        assert_eq!(bad["ok"], false);
    }

    /// A locked keychain is tried again every minute, not every second: each try may show its
    /// unlock prompt, and a dismissed prompt must not come back at once. A storage fault met on
    /// the way is tried again every second. (Tokio's paused clock: no real waiting.)
    #[cfg(unix)]
    #[tokio::test(start_paused = true)]
    async fn a_locked_keychain_is_tried_again_every_minute_a_full_disk_every_second() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let mut listener = crate::control::bind(&dir.path().join("s.sock"))
            .await
            .unwrap();
        let tries = Arc::new(AtomicUsize::new(0));
        let start = tokio::time::Instant::now();
        let seen = tries.clone();
        let at = Arc::new(std::sync::Mutex::new(Vec::new()));
        let times = at.clone();
        let ready = until_ready(
            &mut listener,
            None,
            NotReady::Locked("locked".into()),
            "v1",
            move || {
                let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
                times.lock().unwrap().push(start.elapsed());
                async move {
                    match n {
                        1 => Err(NotReady::Locked("still locked".into())),
                        2 => Err(NotReady::Fault("database or disk is full".into())),
                        _ => Ok(n),
                    }
                }
            },
        )
        .await
        .unwrap();
        assert_eq!(ready, 3);
        // Each try's future is made when the previous one failed; it runs after its pause.
        let elapsed = start.elapsed();
        assert!(
            elapsed >= 2 * LOCKED_RETRY_EVERY + RETRY_EVERY
                && elapsed < 2 * LOCKED_RETRY_EVERY + 2 * RETRY_EVERY,
            "{elapsed:?}"
        );
        assert_eq!(at.lock().unwrap().len(), 3);
        assert!(refusal("locked", LOCKED_RETRY_EVERY).contains("every minute"));
        assert!(refusal("full", RETRY_EVERY).contains("every second"));
    }
}
