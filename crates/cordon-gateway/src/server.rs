//! The MCP server agents talk to: Cordon's aggregate of every upstream, governed.
//!
//! One [`AgentServer`] serves one agent session (a control-socket connection or an HTTP MCP
//! session). Tools are `<server>__<tool>`; resources keep their URIs (routed to the upstream that
//! listed them); prompts are `<server>__<prompt>`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use std::collections::BTreeSet;

use cordon_classify::{Classification, Part};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CompleteRequestParams, CompleteResult,
    GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, Reference, ResultType, ServerCapabilities,
    ServerConfig,
};
use rmcp::service::{
    NotificationContext, Peer, RequestContext, RoleClient, RoleServer, ServiceError,
};
use rmcp::{ErrorData as McpError, ServerHandler};
use serde_json::json;

use crate::config::BUILTIN_SERVER;
use crate::pipeline::{CallContext, Gate, Pipeline};
use crate::retry::Retry;
use crate::upstream::{UpstreamEvent, split_tool_name};

/// The authenticated agent name an HTTP request carries (set by the auth middleware).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentIdentity(pub String);

/// One agent session's view of the gateway.
#[derive(Clone)]
pub struct AgentServer {
    pipeline: Arc<Pipeline>,
    /// Fixed agent (control socket); None = taken from the HTTP request's [`AgentIdentity`].
    agent: Option<String>,
    session_id: String,
    resource_routes: Arc<Mutex<HashMap<String, String>>>,
    /// Resource template URI → the upstream that listed it (for completion/complete).
    template_routes: Arc<Mutex<HashMap<String, String>>>,
    /// Set by the session's first `notifications/initialized`: later ones are ignored. Each
    /// started a task for the session's lifetime and asked the client for its roots, so a flood
    /// of them grew the engine without bound (100,000 took it from 47 MiB to 545 MiB).
    initialized: Arc<std::sync::atomic::AtomicBool>,
}

/// The topic of a `prompts/get`: Cordon classifies it itself (a prompt renders templated
/// text from the upstream, it touches no file and runs nothing), as a read the policy judges.
pub const PROMPT_TOPIC: &str = "job.mcp-bridge.read.prompt";

/// The topic of a `completion/complete`: the agent's partial argument value goes to the
/// upstream that owns the prompt or resource template, which suggests values and runs nothing.
/// A read the policy judges, so the value meets the exfiltration check and leaves a record
/// like any other data sent upstream.
pub const COMPLETION_TOPIC: &str = "job.mcp-bridge.read.completion";

/// The gateway's classification of a `prompts/get` of `prompt` on `server`.
pub fn prompt_classification(server: &str, prompt: &str) -> Classification {
    gateway_read(
        PROMPT_TOPIC,
        format!("{server}/{prompt}"),
        "prompts/get: classified by the gateway as a read of a prompt",
    )
}

/// The gateway's classification of a `completion/complete` for `target` (a prompt's
/// `<server>/<prompt>` or a resource template's URI).
pub fn completion_classification(target: String) -> Classification {
    gateway_read(
        COMPLETION_TOPIC,
        target,
        "completion/complete: classified by the gateway as a read of suggested values",
    )
}

/// A read the gateway classifies itself (no file, no command): one part under `topic`.
fn gateway_read(topic: &str, target: String, diagnostic: &str) -> Classification {
    Classification {
        topic: topic.to_owned(),
        risk_tags: BTreeSet::new(),
        target: Some(target),
        parts: vec![Part {
            topic: topic.to_owned(),
            risk_tags: BTreeSet::new(),
            paths: Vec::new(),
            command: None,
            writes: Vec::new(),
        }],
        diagnostics: vec![diagnostic.to_owned()],
    }
}

impl AgentServer {
    /// A session for `agent` (None: the HTTP layer names the agent per request).
    pub fn new(pipeline: Arc<Pipeline>, agent: Option<String>) -> AgentServer {
        AgentServer {
            pipeline,
            agent,
            session_id: new_session_id(),
            resource_routes: Arc::new(Mutex::new(HashMap::new())),
            template_routes: Arc::new(Mutex::new(HashMap::new())),
            initialized: Arc::default(),
        }
    }

    /// A session for `agent` that carries the agent's own session id (e.g. Claude Code's
    /// `CLAUDE_CODE_SESSION_ID`), so its MCP calls and its native-tool hooks (which report the
    /// same id) form one evidence session. The id must be a plausible session id
    /// ([`is_agent_session_id`]); otherwise a fresh `sess_` id is used.
    pub fn with_session_id(
        pipeline: Arc<Pipeline>,
        agent: Option<String>,
        session_id: &str,
    ) -> AgentServer {
        let mut server = AgentServer::new(pipeline, agent);
        if is_agent_session_id(session_id) {
            server.session_id = session_id.to_owned();
        }
        server
    }

    /// `text` with every known secret redacted (error messages to the agent).
    fn redact(&self, text: &str) -> String {
        self.pipeline.redactor().redact(text).into_owned()
    }

    /// A redacted copy of an upstream's answer (withheld if it cannot be redacted).
    fn redacted<T: serde::Serialize + serde::de::DeserializeOwned>(
        &self,
        message: T,
    ) -> Result<T, McpError> {
        crate::secrets::redact_message(self.pipeline.redactor(), message)
            .map_err(|text| McpError::internal_error(text, None))
    }

    /// This session's id.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    fn context(&self, ctx: &RequestContext<RoleServer>) -> Result<CallContext, McpError> {
        let parts = ctx.extensions.get::<axum::http::request::Parts>();
        let agent = match (&self.agent, parts) {
            (Some(agent), _) => agent.clone(),
            (None, Some(parts)) => parts
                .extensions
                .get::<AgentIdentity>()
                .map(|a| a.0.clone())
                .ok_or_else(|| McpError::invalid_request("unauthenticated request", None))?,
            (None, None) => {
                return Err(McpError::invalid_request("unauthenticated request", None));
            }
        };
        let session_id = parts
            .and_then(|p| p.headers.get("mcp-session-id"))
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 128)
            .map(str::to_owned)
            .unwrap_or_else(|| self.session_id.clone());
        let progress = ctx
            .meta
            .get_progress_token()
            .map(|token| (ctx.peer.clone(), token));
        Ok(CallContext {
            agent,
            session_id,
            progress,
            cancel: ctx.ct.clone(),
        })
    }

    fn route_resource(&self, uri: &str) -> Option<String> {
        let routes = match self.resource_routes.lock() {
            Ok(r) => r,
            Err(p) => p.into_inner(),
        };
        routes.get(uri).cloned()
    }

    fn route_template(&self, uri: &str) -> Option<String> {
        let routes = match self.template_routes.lock() {
            Ok(r) => r,
            Err(p) => p.into_inner(),
        };
        routes.get(uri).cloned()
    }

    /// Asks the client for its workspace roots, where it offers them: the blast radius of this
    /// session (unless the config names the agent's roots). Roots are deprecated by SEP-2577,
    /// but the clients in use today still announce them.
    #[allow(deprecated)]
    fn fetch_client_roots(&self, context: &NotificationContext<RoleServer>) {
        let supports_roots = context
            .peer
            .peer_info()
            .is_some_and(|info| info.capabilities.roots.is_some());
        if supports_roots {
            let session = context
                .extensions
                .get::<axum::http::request::Parts>()
                .and_then(|p| p.headers.get("mcp-session-id"))
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty() && v.len() <= 128)
                .map_or_else(|| self.session_id.clone(), str::to_owned);
            let (peer, pipeline) = (context.peer.clone(), self.pipeline.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(std::time::Duration::from_secs(10), peer.list_roots())
                    .await
                {
                    Ok(Ok(result)) => {
                        let uris: Vec<String> = result.roots.into_iter().map(|r| r.uri).collect();
                        tracing::info!(%session, roots = ?uris, "client workspace roots");
                        pipeline.constraints().set_client_roots(&session, &uris);
                    }
                    Ok(Err(e)) => tracing::debug!(%session, "roots/list failed: {e}"),
                    Err(_) => tracing::debug!(%session, "roots/list: no answer within 10s"),
                }
            });
        }
    }

    /// The only running upstream that offers resources, if exactly one does.
    fn sole_resource_server(&self) -> Option<String> {
        let running = self.pipeline.upstreams().running();
        let with: Vec<_> = running
            .iter()
            .filter(|(_, p)| {
                p.peer_info()
                    .is_some_and(|i| i.capabilities.resources.is_some())
            })
            .collect();
        match with.as_slice() {
            [(server, _)] => Some(server.clone()),
            _ => None,
        }
    }

    /// One `tools/call`: unknown tools refused (and recorded), built-in tools run, upstream tools
    /// forwarded, all through the pipeline.
    async fn governed_call(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let ctx = self.context(&context)?;
        let (server, tool) = split_tool_name(&request.name).unwrap_or(("", &request.name));
        let unknown = if server.is_empty() {
            Some(format!(
                "unknown tool `{}`: Cordon's tools are named <server>__<tool>",
                request.name
            ))
        } else if server == BUILTIN_SERVER && self.pipeline.builtin().enabled() {
            match self.pipeline.builtin().resolve(tool) {
                Some(own) => {
                    return Ok(self
                        .pipeline
                        .call_builtin(&ctx, own, request.arguments)
                        .await);
                }
                None => Some(format!(
                    "unknown tool `{}`: Cordon has no built-in tool `{tool}`",
                    request.name
                )),
            }
        } else if !self.pipeline.upstreams().has_server(server) {
            Some(format!(
                "unknown tool `{}`: no server named `{server}`",
                request.name
            ))
        } else if self.pipeline.upstreams().lists_tool(server, tool) == Some(false)
            && self.pipeline.upstreams().withheld(server, tool).is_none()
        {
            Some(format!(
                "unknown tool `{}`: server `{server}` has no tool `{tool}`",
                request.name
            ))
        } else {
            None
        };
        if let Some(text) = unknown {
            // Refused, and recorded: a probe for tools leaves evidence like any call.
            let args = request
                .arguments
                .map(serde_json::Value::Object)
                .unwrap_or(serde_json::Value::Null);
            let text = self
                .pipeline
                .refuse_unknown(&ctx, server, tool, args, text)
                .await;
            return Err(McpError::invalid_params(self.redact(&text), None));
        }
        let retry = Retry::of_call(&request);
        Ok(self
            .pipeline
            .call_tool(&ctx, server, tool, request.arguments, retry)
            .await)
    }
}

/// Whether an agent-supplied session id is acceptable as an evidence session id: 1 to 128
/// characters of `[A-Za-z0-9_.:-]` (agents use UUIDs).
pub fn is_agent_session_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c))
}

/// A fresh session id: `sess_<ULID>`.
pub fn new_session_id() -> String {
    format!("sess_{}", ulid::Ulid::new())
}

/// A request that is not a tool call, as the gate judges it.
struct Judged<'a> {
    /// What it is recorded as: `resources/read`, `prompts/get`, `completion/complete`.
    tool: &'static str,
    /// Its arguments as judged and recorded.
    args: serde_json::Value,
    /// The gateway's own classification, where it classifies the request itself.
    classification: Option<Classification>,
    /// What a multi-round-trip retry carries besides the arguments.
    retry: &'a Retry,
}

impl AgentServer {
    /// Runs one request that is not a tool call through the gate: admitted as `judged` on
    /// `server`, `run` against the upstream under the policy's timeout and the agent's
    /// cancellation, its outcome recorded. Err is the agent's answer: a refusal, an upstream
    /// failure, or an outcome that could not be recorded.
    async fn governed<T, Fut>(
        &self,
        ctx: &CallContext,
        server: &str,
        judged: Judged<'_>,
        run: impl FnOnce(Peer<RoleClient>) -> Fut,
    ) -> Result<T, McpError>
    where
        Fut: std::future::Future<Output = Result<T, ServiceError>>,
    {
        let Judged {
            tool,
            args,
            classification,
            retry,
        } = judged;
        let admission = match self
            .pipeline
            .admit_as(ctx, server, tool, args, classification, retry)
            .await
        {
            Gate::Pass(admission) => admission,
            Gate::Refused(refused) => {
                return Err(McpError::invalid_request(self.redact(&refused.text), None));
            }
        };
        let result = match self.pipeline.upstreams().peer(server) {
            Err(e) => Err(e.to_string()),
            Ok(peer) => {
                let call = async {
                    run(peer)
                        .await
                        .map_err(|e| format!("upstream {server} failed: {e}"))
                };
                self.pipeline.perform(ctx, server, &admission, call).await
            }
        };
        let error = result.as_ref().err().cloned();
        self.pipeline
            .finish(*admission, error.is_some(), error)
            .await
            .map_err(|text| McpError::internal_error(self.redact(&text), None))?;
        result.map_err(|text| McpError::internal_error(self.redact(&text), None))
    }
}

impl ServerHandler for AgentServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_completions()
                .enable_prompts()
                .enable_prompts_list_changed()
                .enable_resources()
                .enable_resources_list_changed()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new("cordon", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Cordon governs these tools: some calls pass, some wait for a human approval, some are refused by policy.",
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let mut tools = self.pipeline.builtin().tools();
        // Waits (bounded) for upstreams still starting: see `Upstreams::tools_when_ready`.
        tools.extend(self.pipeline.upstreams().tools_when_ready().await);
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        // An upstream speaking an older protocol leaves out `resultType`, which 2026-07-28
        // clients require; rmcp strips it again for older clients.
        self.governed_call(request, context)
            .await
            .map(|response| match response {
                CallToolResponse::Complete(mut result) => {
                    result.result_type = Some(ResultType::COMPLETE);
                    CallToolResponse::Complete(result)
                }
                other => other,
            })
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let mut all = Vec::new();
        let mut routes = HashMap::new();
        for (server, peer) in self.pipeline.upstreams().running() {
            let has = peer
                .peer_info()
                .is_some_and(|info| info.capabilities.resources.is_some());
            if !has {
                continue;
            }
            if let Ok(resources) = peer.list_all_resources().await {
                for resource in resources {
                    routes
                        .entry(resource.uri.clone())
                        .or_insert_with(|| server.clone());
                    all.push(resource);
                }
            }
        }
        match self.resource_routes.lock() {
            Ok(mut r) => *r = routes,
            Err(p) => *p.into_inner() = routes,
        }
        self.redacted(ListResourcesResult::with_all_items(all))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        let mut all = Vec::new();
        let mut routes = HashMap::new();
        for (server, peer) in self.pipeline.upstreams().running() {
            let has = peer
                .peer_info()
                .is_some_and(|info| info.capabilities.resources.is_some());
            if has && let Ok(templates) = peer.list_all_resource_templates().await {
                for template in templates {
                    routes
                        .entry(template.uri_template.clone())
                        .or_insert_with(|| server.clone());
                    all.push(template);
                }
            }
        }
        match self.template_routes.lock() {
            Ok(mut r) => *r = routes,
            Err(p) => *p.into_inner() = routes,
        }
        self.redacted(ListResourceTemplatesResult::with_all_items(all))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let ctx = self.context(&context)?;
        let server = match self.route_resource(&request.uri) {
            Some(server) => server,
            None => match self.sole_resource_server() {
                Some(server) => server,
                None => {
                    // Refused, and recorded: a probe for resources leaves evidence like any call.
                    let text = format!("unknown resource {} (list resources first)", request.uri);
                    let text = self
                        .pipeline
                        .refuse_unknown(
                            &ctx,
                            "",
                            "resources/read",
                            json!({"uri": request.uri}),
                            text,
                        )
                        .await;
                    return Err(McpError::resource_not_found(self.redact(&text), None));
                }
            },
        };
        let args = json!({"uri": request.uri});
        let retry = Retry::of_read(&request);
        let params = retry
            .clone()
            .onto_read(ReadResourceRequestParams::new(request.uri));
        let read = |peer: Peer<RoleClient>| async move { peer.read_resource_once(params).await };
        match self
            .governed(
                &ctx,
                &server,
                Judged {
                    tool: "resources/read",
                    args,
                    classification: None,
                    retry: &retry,
                },
                read,
            )
            .await?
        {
            ReadResourceResponse::Complete(r) => {
                self.redacted(r).map(ReadResourceResponse::Complete)
            }
            ReadResourceResponse::InputRequired(r) => {
                self.redacted(r).map(ReadResourceResponse::InputRequired)
            }
            _ => Err(McpError::internal_error(
                "an answer of an unknown kind cannot be checked for secrets",
                None,
            )),
        }
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let mut all = Vec::new();
        for (server, peer) in self.pipeline.upstreams().running() {
            let has = peer
                .peer_info()
                .is_some_and(|info| info.capabilities.prompts.is_some());
            if has && let Ok(prompts) = peer.list_all_prompts().await {
                for mut prompt in prompts {
                    prompt.name = format!("{server}__{}", prompt.name);
                    all.push(prompt);
                }
            }
        }
        self.redacted(ListPromptsResult::with_all_items(all))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let ctx = self.context(&context)?;
        let (server, prompt) = split_tool_name(&request.name).unwrap_or(("", &request.name));
        let args = json!({"name": prompt, "arguments": request.arguments});
        let unknown = if server.is_empty() {
            Some(format!(
                "unknown prompt `{}`: Cordon's prompts are named <server>__<prompt>",
                request.name
            ))
        } else if !self.pipeline.upstreams().has_server(server) {
            Some(format!(
                "unknown prompt `{}`: no server named `{server}`",
                request.name
            ))
        } else {
            None
        };
        if let Some(text) = unknown {
            // Refused, and recorded: a probe for prompts leaves evidence like any call.
            let text = self
                .pipeline
                .refuse_unknown(&ctx, server, "prompts/get", args, text)
                .await;
            return Err(McpError::invalid_params(self.redact(&text), None));
        }
        // Judged and recorded like any call: tool `prompts/get`, the gateway's read topic.
        let retry = Retry::of_prompt(&request);
        let mut params = retry
            .clone()
            .onto_prompt(GetPromptRequestParams::new(prompt.to_owned()));
        params.arguments = request.arguments;
        let get = |peer: Peer<RoleClient>| async move { peer.get_prompt_once(params).await };
        let classification = Some(prompt_classification(server, prompt));
        match self
            .governed(
                &ctx,
                server,
                Judged {
                    tool: "prompts/get",
                    args,
                    classification,
                    retry: &retry,
                },
                get,
            )
            .await?
        {
            GetPromptResponse::Complete(r) => self.redacted(r).map(GetPromptResponse::Complete),
            GetPromptResponse::InputRequired(r) => {
                self.redacted(r).map(GetPromptResponse::InputRequired)
            }
            _ => Err(McpError::internal_error(
                "an answer of an unknown kind cannot be checked for secrets",
                None,
            )),
        }
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let ctx = self.context(&context)?;
        // Judged and recorded like any call (tool `completion/complete`): the partial value the
        // agent typed goes to the upstream, so it meets the policy and the exfiltration check.
        let mut request = request;
        let routed = match &mut request.r#ref {
            Reference::Prompt(prompt) => match split_tool_name(&prompt.name) {
                Some((server, bare)) if self.pipeline.upstreams().has_server(server) => {
                    let (server, bare) = (server.to_owned(), bare.to_owned());
                    let target = format!("{server}/{bare}");
                    prompt.name = bare;
                    Ok((server, target))
                }
                Some((server, _)) => Err((
                    server.to_owned(),
                    format!(
                        "unknown prompt `{}`: no server named `{server}`",
                        prompt.name
                    ),
                )),
                None => Err((String::new(), format!("unknown prompt `{}`", prompt.name))),
            },
            Reference::Resource(resource) => self
                .route_template(&resource.uri)
                .or_else(|| self.route_resource(&resource.uri))
                .or_else(|| self.sole_resource_server())
                .map(|server| (server, resource.uri.clone()))
                .ok_or_else(|| {
                    (
                        String::new(),
                        format!(
                            "unknown resource template {} (list resource templates first)",
                            resource.uri
                        ),
                    )
                }),
            _ => Err((String::new(), "unsupported completion reference".to_owned())),
        };
        // What goes upstream is what is judged and recorded; a request that cannot be shown as
        // JSON could not be checked for secrets, so it goes nowhere.
        let Ok(args) = serde_json::to_value(&request) else {
            return Err(McpError::invalid_params(
                "Cordon refused this completion: its request cannot be inspected",
                None,
            ));
        };
        let (server, target) = match routed {
            Ok(routed) => routed,
            Err((server, text)) => {
                // Refused, and recorded: a probe leaves evidence like any call.
                let text = self
                    .pipeline
                    .refuse_unknown(&ctx, &server, "completion/complete", args, text)
                    .await;
                return Err(McpError::invalid_params(self.redact(&text), None));
            }
        };
        // An upstream that offers no completion gets nothing: the empty answer is Cordon's.
        let complete = |peer: Peer<RoleClient>| async move {
            if peer
                .peer_info()
                .is_none_or(|info| info.capabilities.completions.is_none())
            {
                return Ok(CompleteResult::default());
            }
            peer.complete(request).await
        };
        let classification = Some(completion_classification(target));
        let result = self
            .governed(
                &ctx,
                &server,
                Judged {
                    tool: "completion/complete",
                    args,
                    classification,
                    retry: &Retry::default(),
                },
                complete,
            )
            .await?;
        self.redacted(result)
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        if self
            .initialized
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            tracing::debug!(session = %self.session_id, "ignored a repeated notifications/initialized");
            return;
        }
        self.fetch_client_roots(&context);
        // Forward upstream list changes to this agent until its connection closes.
        let mut events = self.pipeline.upstreams().subscribe();
        let peer = context.peer.clone();
        tokio::spawn(async move {
            loop {
                let event = match events.recv().await {
                    Ok(event) => event,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        UpstreamEvent::ToolsChanged
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                };
                if peer.is_transport_closed() {
                    break;
                }
                let sent = match event {
                    UpstreamEvent::ToolsChanged => peer.notify_tool_list_changed().await,
                    UpstreamEvent::ResourcesChanged => peer.notify_resource_list_changed().await,
                    UpstreamEvent::PromptsChanged => peer.notify_prompt_list_changed().await,
                };
                if sent.is_err() {
                    break;
                }
            }
        });
    }
}
