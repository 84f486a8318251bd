//! MCP Streamable HTTP at `/mcp`: loopback only, a bearer token per agent, Origin checked.
//!
//! The middleware runs before rmcp sees the request: a foreign `Origin` (DNS rebinding) is 403,
//! a missing or unknown token is 401, a body declared over 16 MiB is 413. The token maps to the
//! agent name, which travels to the handler as an [`AgentIdentity`] request extension.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::pipeline::Pipeline;
use crate::server::{AgentIdentity, AgentServer};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Agent tokens, checked in constant time.
#[derive(Clone)]
pub struct Auth {
    agents: Arc<Vec<(String, Vec<u8>)>>,
}

impl Auth {
    /// From `agents` (name → token).
    pub fn new(agents: &BTreeMap<String, crate::config::AgentSpec>) -> Auth {
        Auth {
            agents: Arc::new(
                agents
                    .iter()
                    .map(|(name, spec)| (name.clone(), spec.token.as_bytes().to_vec()))
                    .collect(),
            ),
        }
    }

    /// The agent whose token this is. Compares against every token without early exit.
    pub fn agent_for(&self, token: &[u8]) -> Option<String> {
        let mut found = None;
        for (name, expected) in self.agents.iter() {
            if constant_time_eq(token, expected) && !expected.is_empty() {
                found = Some(name.clone());
            }
        }
        found
    }
}

/// Equality whose time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for (i, x) in a.iter().enumerate() {
        let y = b.get(i % b.len().max(1)).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    diff == 0
}

/// Whether an `Origin` header value names this machine (http(s)://localhost|127.0.0.1|[::1]).
pub fn origin_is_local(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = if let Some(v6) = rest.strip_prefix('[') {
        match v6.split_once(']') {
            Some((addr, tail)) => (format!("[{addr}]"), tail),
            None => return false,
        }
    } else {
        match rest.find(':') {
            Some(at) => (
                rest.get(..at).unwrap_or("").to_owned(),
                rest.get(at..).unwrap_or(""),
            ),
            None => (rest.to_owned(), ""),
        }
    };
    let (host, tail) = host;
    let port_ok = tail.is_empty()
        || tail.strip_prefix(':').is_some_and(|p| {
            !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
        });
    port_ok
        && matches!(
            host.to_ascii_lowercase().as_str(),
            "localhost" | "127.0.0.1" | "[::1]"
        )
}

async fn guard(State(auth): State<Auth>, mut request: Request, next: Next) -> Response {
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let local = origin.to_str().map(origin_is_local).unwrap_or(false);
        if !local {
            return (StatusCode::FORBIDDEN, "Cordon: foreign Origin refused\n").into_response();
        }
    }
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(agent) = token.and_then(|t| auth.agent_for(t.as_bytes())) else {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "Cordon: missing or wrong bearer token\n",
        )
            .into_response();
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return (StatusCode::PAYLOAD_TOO_LARGE, "Cordon: body over 16 MiB\n").into_response();
    }
    request.extensions_mut().insert(AgentIdentity(agent));
    next.run(request).await
}

/// The `/mcp` router for `pipeline`, authenticating with `auth`.
pub fn router(
    pipeline: Arc<Pipeline>,
    auth: Auth,
    listen: SocketAddr,
    cancel: CancellationToken,
) -> Router {
    let mut config = StreamableHttpServerConfig::default();
    config.cancellation_token = cancel;
    config.max_request_body_bytes = MAX_BODY_BYTES;
    let ip = listen.ip().to_string();
    if !config.allowed_hosts.contains(&ip) {
        config.allowed_hosts.push(ip);
    }
    let service = StreamableHttpService::new(
        move || Ok(AgentServer::new(pipeline.clone(), None)),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    Router::new()
        .nest_service("/mcp", service)
        .layer(middleware::from_fn_with_state(auth, guard))
}

/// Binds `listen` and serves until `cancel`.
pub async fn serve(
    pipeline: Arc<Pipeline>,
    auth: Auth,
    listen: SocketAddr,
    cancel: CancellationToken,
) -> Result<(tokio::task::JoinHandle<()>, SocketAddr), crate::GatewayError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| crate::GatewayError::io(format!("cannot listen on {listen}"), e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| crate::GatewayError::io("listener address", e))?;
    let app = router(pipeline, auth, bound, cancel.clone());
    let handle = tokio::spawn(async move {
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(async move { cancel.cancelled_owned().await })
            .await;
        if let Err(error) = result {
            tracing::error!("HTTP server failed: {error}");
        }
    });
    Ok((handle, bound))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        for ok in [
            "http://localhost",
            "http://localhost:3000",
            "https://127.0.0.1:7766",
            "http://[::1]:80",
            "http://LOCALHOST:1",
        ] {
            assert!(origin_is_local(ok), "{ok}");
        }
        for bad in [
            "null",
            "http://evil.com",
            "http://localhost.evil.com",
            "http://127.0.0.1.evil.com",
            "http://localhost:80@evil.com",
            "http://localhost:abc",
            "ftp://localhost",
            "http://[::1",
            "http://evil.com#localhost",
            "",
        ] {
            assert!(!origin_is_local(bad), "{bad}");
        }
    }

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"abcdef", b"abcdef"));
        assert!(!constant_time_eq(b"abcdef", b"abcdeg"));
        assert!(!constant_time_eq(b"abc", b"abcdef"));
        assert!(!constant_time_eq(b"abcdef", b"abc"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(!constant_time_eq(b"a", b""));
    }
}
