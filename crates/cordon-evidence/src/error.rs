//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong while writing, reading or checking the evidence log. Every variant
/// means "refuse": the gateway treats a failed append as a failed call (fail closed).
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// SQLite failed (disk full, locked for longer than the busy timeout, corrupt file ...).
    #[error("evidence database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Reading or writing a file (key file, export, bundle) failed.
    #[error("evidence I/O error on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Writing an export failed.
    #[error("evidence export failed: {0}")]
    Write(#[source] std::io::Error),
    /// The OS keychain could not be reached; no silent fallback to a weaker store.
    #[error(
        "no OS keychain reachable (is a Secret Service running in this D-Bus session?): {detail}; \
         start one (e.g. gnome-keyring, KeePassXC) or opt in to a key file: `signing_key: \
         file:PATH` in the config (or CORDON_SIGNING_KEY=file:PATH for `cordon log`)"
    )]
    KeychainUnavailable {
        /// What the platform said.
        detail: String,
    },
    /// The OS keychain is there but locked, or refused access: its unlock prompt was dismissed
    /// or could not be shown. Told apart from [`EvidenceError::KeychainUnavailable`] because a
    /// retry may show the prompt again (the engine's standby retries it slowly).
    #[error(
        "the OS keychain holding the evidence signing key is locked or refused access: {detail}; \
         unlock it (your keyring manager, or log in again)"
    )]
    KeychainLocked {
        /// What the platform said.
        detail: String,
    },
    /// The keychain answered but the stored key is unusable.
    #[error("the evidence signing key in the keychain is unusable: {0}")]
    Keychain(String),
    /// A key file exists but is malformed or too widely readable.
    #[error("evidence signing key file {path}: {reason}")]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A public key given to pin verification could not be parsed.
    #[error("cannot read public key: {0} (expected 64 hex characters or a PEM public key)")]
    PublicKey(String),
    /// The log was opened without a signing key and asked to write.
    #[error(
        "this evidence log was opened read-only (no signing key): appends and checkpoints are refused"
    )]
    ReadOnly,
    /// A record to append is malformed.
    #[error("invalid evidence record: {0}")]
    InvalidRecord(String),
    /// Stored data is inconsistent (e.g. a record's args blob is missing): run `cordon log verify`.
    #[error("evidence database is corrupt or was tampered with: {0} (run `cordon log verify`)")]
    Corrupt(String),
    /// Records wait in the journal and could not be folded into the log: a read refuses rather
    /// than show a log without them.
    #[error(
        "{waiting} evidence records wait in the journal and could not be folded into the log \
         (a read-only database or a full disk?): {cause}"
    )]
    Unfolded {
        /// Journal rows not folded.
        waiting: u64,
        /// Why folding failed.
        cause: String,
    },
    /// A bundle or export could not be parsed.
    #[error("malformed evidence bundle at line {line}: {reason}")]
    Bundle {
        /// 1-based line number in the bundle.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// JSON (de)serialisation failed.
    #[error("evidence JSON error: {0}")]
    Json(#[from] serde_json::Error),
    /// CSV (de)serialisation failed.
    #[error("evidence CSV error: {0}")]
    Csv(#[from] csv::Error),
    /// The grouped commit that carried this record failed (the message is the cause).
    #[error("evidence append failed: {0}")]
    GroupCommit(String),
    /// The log's file is no longer where it was opened (see `placement.rs`): records would go
    /// where no reader looks, so nothing is written until it is back.
    #[error(
        "the evidence log file {path} was {how} while Cordon had it open: records written now \
         would be lost, so every call is refused until the file is back in place (or Cordon \
         restarts, starting a new log there)"
    )]
    Displaced {
        /// The file that is not where it was.
        path: PathBuf,
        /// What happened to it.
        how: &'static str,
    },
    /// A lock was poisoned by a panic in another thread.
    #[error("evidence log lock poisoned by an earlier panic")]
    Poisoned,
    /// Formatting a timestamp failed.
    #[error("timestamp error: {0}")]
    Time(String),
}

impl EvidenceError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

impl EvidenceError {
    /// Whether this is the storage refusing writes for now (a full disk, a read-only file or
    /// file system, an I/O error, another process's lock) rather than a log or a setup that is
    /// wrong: the engine then stays up, refuses every call and retries, instead of exiting.
    pub fn is_storage_fault(&self) -> bool {
        use rusqlite::ErrorCode;
        match self {
            Self::Sqlite(error) => matches!(
                error.sqlite_error_code(),
                Some(
                    ErrorCode::DiskFull
                        | ErrorCode::SystemIoFailure
                        | ErrorCode::ReadOnly
                        | ErrorCode::DatabaseBusy
                        | ErrorCode::DatabaseLocked
                        | ErrorCode::PermissionDenied
                )
            ),
            Self::Io { source, .. } | Self::Write(source) => is_storage_io_fault(source),
            Self::Unfolded { .. } | Self::GroupCommit(_) => true,
            _ => false,
        }
    }
}

/// Whether an I/O error is the storage refusing writes for now (see
/// [`EvidenceError::is_storage_fault`]).
pub fn is_storage_io_fault(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::StorageFull
            | ErrorKind::ReadOnlyFilesystem
            | ErrorKind::QuotaExceeded
            | ErrorKind::PermissionDenied
    ) || (cfg!(unix) && error.raw_os_error() == Some(5)) // EIO
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(code: i32) -> EvidenceError {
        EvidenceError::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            None,
        ))
    }

    #[test]
    fn storage_that_refuses_writes_for_now_is_a_fault_and_a_broken_log_is_not() {
        use rusqlite::ffi;
        for code in [
            ffi::SQLITE_FULL,
            ffi::SQLITE_IOERR,
            ffi::SQLITE_IOERR_SHMSIZE,
            ffi::SQLITE_READONLY,
            ffi::SQLITE_BUSY,
        ] {
            assert!(sqlite(code).is_storage_fault(), "{code}");
        }
        for code in [
            ffi::SQLITE_CORRUPT,
            ffi::SQLITE_NOTADB,
            ffi::SQLITE_MISMATCH,
            // A directory where the database should be, say: no retry makes it a log.
            ffi::SQLITE_CANTOPEN,
        ] {
            assert!(!sqlite(code).is_storage_fault(), "{code}");
        }
        let io = |kind| EvidenceError::io("/x", std::io::Error::from(kind));
        assert!(io(std::io::ErrorKind::StorageFull).is_storage_fault());
        assert!(io(std::io::ErrorKind::ReadOnlyFilesystem).is_storage_fault());
        assert!(!io(std::io::ErrorKind::InvalidData).is_storage_fault());
        assert!(!EvidenceError::Corrupt("chain".into()).is_storage_fault());
        assert!(
            !EvidenceError::KeyFile {
                path: "/k".into(),
                reason: "world-readable".into()
            }
            .is_storage_fault()
        );
    }
}
