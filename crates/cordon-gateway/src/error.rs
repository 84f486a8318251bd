//! The gateway's error type: every way the engine can refuse to start or to act.

use std::path::PathBuf;

/// Why the engine (or one of its operations) failed. Callers show the message to the user.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The config file is missing, malformed or invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The policy did not load: the engine refuses to start rather than run ungoverned.
    #[error("policy {path}: {message}")]
    Policy {
        /// The policy file or directory (or `<shipped default>`).
        path: String,
        /// The diagnostics.
        message: String,
    },
    /// The evidence log could not be opened or written.
    #[error("evidence log: {0}")]
    Evidence(String),
    /// Evidence shipping (`fleet:`) is configured but cannot run.
    #[error("fleet: {0}")]
    Fleet(String),
    /// Another engine already answers on the control socket.
    #[error("another Cordon engine is already running on {0}")]
    AlreadyRunning(PathBuf),
    /// A socket, listener or file could not be set up.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No pending approval has this id (already decided, expired or never existed).
    #[error("no pending approval with id {0}")]
    UnknownApproval(String),
    /// The engine is not reachable over its control socket.
    #[error("Cordon is not running (no engine at {socket}): {reason}")]
    NotRunning {
        /// The socket path tried.
        socket: PathBuf,
        /// Why the connection failed.
        reason: String,
    },
    /// The engine answered a control request with an error or garbage.
    #[error("engine: {0}")]
    Control(String),
    /// A directory or socket the engine would trust is owned by another user or writable by
    /// others: someone else could plant an impostor engine or read the evidence.
    #[error("{path}: {reason}; refusing to use it")]
    Insecure {
        /// The directory or socket.
        path: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// This platform lacks a feature (said with the reason, never silently skipped).
    #[error("{0}")]
    Unsupported(String),
    /// A reviewer's input the broker refuses (a malformed approval id, a reason with control
    /// characters): said before anything is decided.
    #[error("{0}")]
    InvalidInput(String),
}

impl GatewayError {
    /// Wraps an I/O error with what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> GatewayError {
        GatewayError::Io {
            what: what.into(),
            source,
        }
    }
}
