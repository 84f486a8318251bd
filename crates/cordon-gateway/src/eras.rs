//! MCP protocol eras toward upstream servers: Cordon negotiates, so an upstream speaking only
//! 2026-07-28 (no initialize handshake) and one speaking only 2025-11-25 or older both work.
//!
//! The connection starts with `server/discover` (2026-07-28); a server that answers it as a
//! legacy server would (an error, or nothing within rmcp's 10 s) gets the `initialize`
//! handshake with 2025-11-25 instead (rmcp's `ClientLifecycleMode::Auto`). In 2026-07-28 a
//! server's list-changed notifications arrive only on a subscription the client opens
//! (`subscriptions/listen`): Cordon opens one for tools, resources and prompts, and hands each
//! notification to the same place the 2025 callbacks do, so a changed tool is re-listed and
//! checked against its pin in both eras (a rug pull must not hide behind the newer protocol).
//! Agents, too, are served in both eras (see `bridge` and `http`).

use rmcp::model::{ProtocolVersion, ServerNotification, SubscriptionFilter};
use rmcp::service::{RoleClient, RunningService, Service};
use rmcp::transport::IntoTransport;
use rmcp::{ClientLifecycleMode, ClientServiceExt};

/// The versions Cordon offers an upstream, newest first, and the handshake version it falls
/// back to.
pub const PREFERRED: ProtocolVersion = ProtocolVersion::V_2026_07_28;
/// The handshake version for an upstream that does not speak 2026-07-28.
pub const LEGACY: ProtocolVersion = ProtocolVersion::V_2025_11_25;

/// Which list changed, as the upstream notified it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListChanged {
    /// `notifications/tools/list_changed`.
    Tools,
    /// `notifications/resources/list_changed`.
    Resources,
    /// `notifications/prompts/list_changed`.
    Prompts,
}

/// Connects `handler` to an upstream over `transport` in whichever era the upstream speaks;
/// in 2026-07-28, also subscribes to its list changes and passes each to `changed`.
pub async fn connect<S, T, E, A>(
    name: &str,
    handler: S,
    transport: T,
    changed: impl Fn(ListChanged) + Send + Sync + 'static,
) -> Result<RunningService<RoleClient, S>, String>
where
    S: Service<RoleClient>,
    T: IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    let lifecycle = ClientLifecycleMode::Auto {
        preferred_versions: vec![PREFERRED],
        legacy_version: Some(LEGACY),
    };
    let running = handler
        .serve_with_lifecycle(transport, lifecycle)
        .await
        .map_err(|e| format!("initialize failed: {e}"))?;
    let modern = running
        .peer()
        .peer_info()
        .is_some_and(|info| info.protocol_version >= PREFERRED);
    if let Some(info) = running.peer().peer_info() {
        tracing::info!(server = %name, protocol = %info.protocol_version, "upstream connected");
    }
    if modern {
        let peer = running.peer().clone();
        tokio::spawn(async move {
            let filter = SubscriptionFilter::builder()
                .tools_list_changed()
                .resources_list_changed()
                .prompts_list_changed()
                .build();
            let mut subscription = match peer.listen(filter).await {
                Ok(subscription) => subscription,
                Err(error) => {
                    // Without it a changed tool would go unnoticed: say so loudly.
                    tracing::warn!(
                        "upstream speaks 2026-07-28 but refused subscriptions/listen ({error}): \
                         its tool changes are seen only when Cordon lists its tools again"
                    );
                    return;
                }
            };
            while let Ok(Some(notification)) = subscription.next().await {
                match notification {
                    ServerNotification::ToolListChangedNotification(_) => {
                        changed(ListChanged::Tools)
                    }
                    ServerNotification::ResourceListChangedNotification(_) => {
                        changed(ListChanged::Resources)
                    }
                    ServerNotification::PromptListChangedNotification(_) => {
                        changed(ListChanged::Prompts)
                    }
                    _ => {}
                }
            }
        });
    }
    Ok(running)
}
