//! Credentials the agent never sees.
//!
//! - [`SecretStore`]: secrets in the OS keychain (Secret Service, macOS Keychain, Windows
//!   Credential Manager) with an index of names, never values;
//! - [`expand_references`] / [`references`]: `${keychain:NAME}` in an upstream's env, args and
//!   headers, resolved when that server starts;
//! - [`Redactor`]: every known value and its base64, hex, percent- and JSON-escaped forms become
//!   `[REDACTED:NAME]` before anything leaves the engine; [`Redactor::contains_secret`] is the
//!   exfiltration check on a call's arguments;
//! - [`ToolPins`]: rug-pull defence, a tool whose definition changed since it was approved is
//!   withheld until the user re-approves it after reading [`definition_diff`];
//! - [`looks_secret`] / [`has_credential_prefix`]: what a credential looks like, for onboarding
//!   and the settings window.
//!
//! This crate knows nothing of MCP transports or the policy engine: the gateway wires it in.

mod error;
#[cfg(any(test, feature = "test-support"))]
pub mod memory;
mod name;
mod pins;
mod redact;
mod reference;
mod shape;
mod store;

pub use error::SecretError;
pub use name::{MAX_NAME_LEN, Secret, SecretName, marker};
pub use pins::{
    PINNED_FIELDS, PendingChange, PinStatus, PinnedTool, ToolPins, definition_diff, fingerprint,
    render_definition,
};
pub use redact::{MAX_SECRET_LEN, MIN_FRAGMENT_LEN, MIN_SECRET_LEN, Redactor, forms};
pub use reference::{Expander, expand_references, record_usage, references};
pub use shape::{CREDENTIAL_PREFIXES, has_credential_prefix, looks_secret};
pub use store::{
    DEFAULT_SERVICE, ENTRY_PREFIX, INDEX_USER, SERVICE_ENV, SecretInfo, SecretSource, SecretStore,
    SecretUsage, check_value,
};

/// The risk tag of a call refused because its arguments carry a secret (the classifier's
/// existing `credentials` tag).
pub const CREDENTIALS_TAG: &str = "credentials";

/// The evidence topic of such a call (to be added to the classifier's `KNOWN_TOPICS`).
pub const EXFILTRATION_TOPIC: &str = "job.mcp-bridge.credentials.exfiltration";

/// The rule id recorded for such a call: a built-in refusal no policy can override.
pub const EXFILTRATION_RULE: &str = "cordon:credentials-exfiltration";

/// The reason recorded and returned to the agent: names the secret, never its value.
pub fn exfiltration_reason(name: &SecretName) -> String {
    format!(
        "the arguments contain the keychain secret `{name}` (or an encoding of it); Cordon never \
         lets a credential leave through a tool call"
    )
}
