//! A tiny MCP stdio server with one `echo` tool: the upstream of the gateway's tests and bench.
//!
//! `echo {text}` returns `text`. Set `ECHO_EXIT_AFTER=N` to make it exit after N calls (crash
//! tests). `echo {notify: true}` first announces resource and prompt list changes.
//! `echo {text, progress: N}` first sends N progress notifications (when the caller gave
//! a progress token); `echo {wait: true}` creates `$ECHO_CANCEL_MARK.started`, never answers,
//! and when the call is cancelled creates the file `$ECHO_CANCEL_MARK` (cancellation tests). `ECHO_HTTP=ADDR` serves
//! MCP Streamable HTTP at `http://ADDR/mcp` instead of stdio and prints `listening on ADDR` on
//! stdout (remote upstream tests; port 0 picks a free port). `echo {env: NAME}` returns the
//! value of its environment variable NAME and prints it to stderr (credentials tests);
//! `ECHO_DESCRIPTION` replaces the tool's description (tool pinning tests).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData as McpError, ServerHandler, ServiceExt};

#[derive(Clone)]
struct Echo {
    calls: Arc<AtomicU64>,
    exit_after: Option<u64>,
}

impl ServerHandler for Echo {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_resources_list_changed()
                .enable_prompts()
                .enable_prompts_list_changed()
                .build(),
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {"text": {"type": "string"}},
        });
        let schema = match schema {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        let description = std::env::var("ECHO_DESCRIPTION")
            .unwrap_or_else(|_| "Returns its text argument.".to_owned());
        Ok(ListToolsResult::with_all_items(vec![Tool::new(
            "echo",
            description,
            Arc::new(schema),
        )]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self.exit_after.is_some_and(|limit| n > limit) {
            std::process::exit(3);
        }
        let args = request.arguments.clone().unwrap_or_default();
        let steps = args
            .get("progress")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        if let Some(token) = context.meta.get_progress_token() {
            for step in 1..=steps {
                let note = rmcp::model::ProgressNotificationParam::new(token.clone(), step as f64)
                    .with_total(steps as f64);
                let _ = context.peer.notify_progress(note).await;
            }
        }
        if args.get("notify").and_then(serde_json::Value::as_bool) == Some(true) {
            let _ = context.peer.notify_resource_list_changed().await;
            let _ = context.peer.notify_prompt_list_changed().await;
        }
        if args.get("wait").and_then(serde_json::Value::as_bool) == Some(true) {
            if let Ok(mark) = std::env::var("ECHO_CANCEL_MARK") {
                let _ = std::fs::write(format!("{mark}.started"), b"started");
            }
            context.ct.cancelled().await;
            if let Ok(mark) = std::env::var("ECHO_CANCEL_MARK") {
                let _ = std::fs::write(mark, b"cancelled");
            }
            return Err(McpError::internal_error("cancelled", None));
        }
        if let Some(name) = args.get("env").and_then(serde_json::Value::as_str) {
            let value = std::env::var(name).unwrap_or_default();
            eprintln!("echo_upstream: {name}={value}");
            return Ok(CallToolResult::success(vec![ContentBlock::text(value)]).into());
        }
        let text = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("text"))
            .and_then(|t| t.as_str())
            .unwrap_or_default()
            .to_owned();
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let exit_after = std::env::var("ECHO_EXIT_AFTER")
        .ok()
        .and_then(|v| v.parse().ok());
    let server = Echo {
        calls: Arc::new(AtomicU64::new(0)),
        exit_after,
    };
    if let Ok(addr) = std::env::var("ECHO_HTTP") {
        use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
        use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        let bound = listener.local_addr()?;
        let service = StreamableHttpService::new(
            move || Ok(server.clone()),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default(),
        );
        let app = axum::Router::new().nest_service("/mcp", service);
        println!("listening on {bound}");
        axum::serve(listener, app).await?;
        return Ok(());
    }
    let running = server.serve(rmcp::transport::stdio()).await?;
    running.waiting().await?;
    Ok(())
}
