//! The governed MCP gateway: upstream servers, agent transports, pipeline and approvals.
//!
//! Module map: [`config`] (the YAML file), [`upstream`] (MCP clients to the real tools),
//! [`pipeline`] (classify → policy → decide → forward → record), [`retry`] (what a
//! multi-round-trip retry carries on), [`approvals`] (held calls),
//! [`diff`] (proposed file changes), [`builtin`] (Cordon's own workspace tools, server `cordon`),
//! [`recorder`] (durable evidence writes), [`server`] (the MCP
//! server agents see), [`control`] (Unix socket or Windows named pipe), [`private`] (0700/0600, foreign owners refused), [`http`] (Streamable HTTP), [`bridge`] (the
//! `cordon mcp` stdio bridge), [`engine`] (owns it all).

pub mod agent_session;
pub mod approvals;
pub mod bridge;
pub mod budget;
pub mod builtin;
pub mod config;
pub mod constraints;
pub mod control;
pub mod diff;
pub mod engine;
pub mod eras;
pub mod error;
pub mod fleet;
pub mod http;
pub mod ids;
pub mod inflight;
pub mod native;
pub mod orgpolicy;
pub mod pipeline;
pub mod places;
pub mod private;
pub mod recorder;
pub mod retry;
pub mod secrets;
pub mod server;
pub mod standby;
pub mod summary;
pub mod upstream;

pub use approvals::PendingApproval;
pub use config::{Config, ConfigError};
pub use constraints::PauseState;
/// How untrusted text is shown to a human (one owner, re-exported for the desktop shell).
pub use cordon_text as text;
pub use engine::Engine;
pub use error::GatewayError;
