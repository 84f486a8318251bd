//! The one error type of the crate, shaped for the desktop front end (`{kind, message}`).

use serde::Serialize;

/// Why an admin operation failed. Every variant means "nothing changed": a refused save leaves
/// the file, the keychain and the running engine exactly as they were.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The engine is not running (quitting, restarting, or it never started).
    #[error("the Cordon engine is not running")]
    NotRunning,
    /// No held call has this id (already decided, expired or never existed).
    #[error("no pending approval with id {0} (already decided or expired)")]
    UnknownApproval(String),
    /// The request or the edited text is malformed or would produce an invalid file.
    #[error("{0}")]
    Invalid(String),
    /// The engine (or a library it wraps) refused or failed.
    #[error("engine: {0}")]
    Engine(String),
    /// The thing named does not exist (a server, a secret, a record, an agent).
    #[error("{0}")]
    NotFound(String),
    /// The change collides with something that exists (e.g. a server name already taken).
    #[error("{0}")]
    Conflict(String),
    /// A file, directory, database or keychain could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, naming the file.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl AdminError {
    /// A stable machine-readable name the front end switches on (the contract's kinds).
    pub fn kind(&self) -> &'static str {
        match self {
            AdminError::NotRunning => "not_running",
            AdminError::UnknownApproval(_) => "unknown_approval",
            AdminError::Invalid(_) => "invalid",
            AdminError::Engine(_) => "engine",
            AdminError::NotFound(_) => "not_found",
            AdminError::Conflict(_) => "conflict",
            AdminError::Io { .. } => "io",
        }
    }

    /// Wraps an I/O error with what was being done, so the message names the file.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> AdminError {
        AdminError::Io {
            what: what.into(),
            source,
        }
    }

    /// An I/O-kind error from a library whose error is not a `std::io::Error` (SQLite, keychain).
    pub(crate) fn io_other(what: impl Into<String>, detail: impl std::fmt::Display) -> AdminError {
        AdminError::Io {
            what: what.into(),
            source: std::io::Error::other(detail.to_string()),
        }
    }
}

impl Serialize for AdminError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("AdminError", 2)?;
        s.serialize_field("kind", self.kind())?;
        s.serialize_field("message", &self.to_string())?;
        s.end()
    }
}

impl From<cordon_gateway::GatewayError> for AdminError {
    fn from(error: cordon_gateway::GatewayError) -> Self {
        match error {
            cordon_gateway::GatewayError::UnknownApproval(id) => AdminError::UnknownApproval(id),
            cordon_gateway::GatewayError::NotRunning { .. } => AdminError::NotRunning,
            other => AdminError::Engine(other.to_string()),
        }
    }
}

impl From<cordon_evidence::EvidenceError> for AdminError {
    fn from(error: cordon_evidence::EvidenceError) -> Self {
        use cordon_evidence::EvidenceError as E;
        match error {
            E::Io { path, source } => AdminError::io(path.display().to_string(), source),
            E::Write(source) => AdminError::io("evidence export", source),
            E::InvalidRecord(message) => AdminError::Invalid(message),
            other => AdminError::Engine(other.to_string()),
        }
    }
}

impl From<cordon_secrets::SecretError> for AdminError {
    fn from(error: cordon_secrets::SecretError) -> Self {
        use cordon_secrets::SecretError as E;
        match error {
            E::InvalidName { .. }
            | E::TooShort { .. }
            | E::BadValue { .. }
            | E::Reference { .. } => AdminError::Invalid(error.to_string()),
            E::Missing { .. } => AdminError::NotFound(error.to_string()),
            other => AdminError::io_other("keychain", other),
        }
    }
}

impl From<cordon_agents::AgentError> for AdminError {
    fn from(error: cordon_agents::AgentError) -> Self {
        use cordon_agents::AgentError as E;
        match error {
            E::UnknownAgent(_) => AdminError::NotFound(error.to_string()),
            E::Malformed { .. } => AdminError::Invalid(error.to_string()),
            E::Io { path, source } => AdminError::io(path.display().to_string(), source),
            other => AdminError::Engine(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_kind_and_message() {
        let error = AdminError::Conflict("server `gh` exists".into());
        let json = serde_json::to_value(&error).ok();
        assert_eq!(
            json,
            Some(serde_json::json!({"kind": "conflict", "message": "server `gh` exists"}))
        );
        assert_eq!(AdminError::NotRunning.kind(), "not_running");
        assert_eq!(AdminError::io("x", std::io::Error::other("y")).kind(), "io");
    }
}
