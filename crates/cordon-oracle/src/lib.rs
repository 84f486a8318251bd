//! A differential oracle for Cordon's classifier, in the spirit of Cedar's differential testing:
//! the classifier's judgement ("this command is a read") is checked against what the command
//! really does when it runs.
//!
//! Pipeline:
//! 1. [`corpus`] gathers candidate commands: the `run_command` calls of every policy's `tests:`,
//!    the string literals of the classifier's own test cases, and [`generator`], a seeded generator that
//!    combines programs, their options (the dangerous ones included) and paths.
//! 2. [`judge`] classifies each one exactly as the gateway classifies Cordon's built-in
//!    `run_command` tool (the policy's classifier with a file-system resolver rooted in the
//!    workspace, then the policy's judgement).
//! 3. [`sandbox`] runs every command judged a read inside bubblewrap on a scratch git repository
//!    and a scratch HOME (the only writable trees), under `strace`: [`trace`] reads the system
//!    calls, and a snapshot of the writable trees is compared before and after.
//! 4. [`report`] counts and prints: any file written, program executed (beyond the command's
//!    own) or socket opened by a command judged a read is a finding.
//!
//! The oracle proves its own eyes every run: control commands that do write, execute and
//! connect must be seen doing so, and a plain read must be seen doing nothing, or the run fails.

pub mod corpus;
pub mod generator;
pub mod judge;
pub mod report;
pub mod sandbox;
pub mod trace;

/// Errors of the oracle's own machinery (not findings: a finding is a result, not an error).
#[derive(Debug, thiserror::Error)]
pub enum OracleError {
    /// A file or directory could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A tool the oracle needs (bwrap, strace, git) is missing or does not work here.
    #[error("{0}")]
    Tool(String),
    /// A policy could not be loaded.
    #[error("policy: {0}")]
    Policy(String),
}

impl OracleError {
    /// Wraps an I/O error with what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> OracleError {
        OracleError::Io {
            what: what.into(),
            source,
        }
    }
}
