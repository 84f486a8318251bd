//! The one error type of the crate.

/// Why a built-in tool refused or failed. Every message says how to fix it, because it is
/// shown verbatim to the agent (and to the user in the evidence log).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    /// The path resolves (after `..` and symlinks) outside every workspace root: the core
    /// confinement guarantee of the built-in tools.
    #[error(
        "path `{path}` is outside the workspace roots ({roots}); use a path inside one of them \
         (relative paths are relative to the first root)"
    )]
    OutsideRoots {
        /// The path as the caller gave it.
        path: String,
        /// The workspace roots, for the message.
        roots: String,
    },
    /// A file, directory, program or git object that the call needs does not exist.
    #[error("{what} not found; check the name (list_directory or search_files can help)")]
    NotFound {
        /// What was missing, e.g. "file `src/x.rs`".
        what: String,
    },
    /// The arguments do not fit the tool's schema or its rules.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// The file on disk is no longer the one whose diff was reviewed: applying the change
    /// would overwrite something the reviewer never saw.
    #[error(
        "`{path}` changed on disk since its diff was prepared for review; call the tool again \
         so the new diff can be reviewed"
    )]
    ChangedSinceReview {
        /// The file that changed.
        path: String,
    },
    /// A `file_edit` replacement did not match exactly once.
    #[error("edit #{index} on `{path}` failed: {message}")]
    EditMismatch {
        /// The file being edited.
        path: String,
        /// 1-based index of the failing edit in `edits`.
        index: usize,
        /// What went wrong and how to fix it.
        message: String,
    },
    /// A command ran past its time limit; its whole process group was killed.
    #[error(
        "command timed out after {timeout_ms} ms and its process group was killed; for \
         run_command raise `timeout_ms` (at most 600000) or run something shorter; for git, \
         check the network and that git is not waiting for a password or passphrase"
    )]
    Timeout {
        /// The limit that was exceeded.
        timeout_ms: u64,
        /// Whatever output was captured before the kill (capped).
        partial_output: String,
    },
    /// An operating-system error while touching a path.
    #[error("I/O error on `{path}`: {source}")]
    Io {
        /// The path (or program) involved.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// git is missing, refused, or failed; the message carries git's own explanation
    /// (credentials redacted) and a hint.
    #[error("git: {0}")]
    Git(String),
    /// The tool does not exist on this operating system; the message says why and what to use.
    #[error("{0}")]
    Unsupported(&'static str),
}

impl ToolError {
    /// Shorthand used throughout the crate for I/O errors.
    pub(crate) fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        ToolError::Io {
            path: path.to_string(),
            source,
        }
    }

    /// Shorthand for argument errors.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        ToolError::InvalidArguments(message.into())
    }
}
