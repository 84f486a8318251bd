//! The one error type of this crate: every message says what failed and how to fix it, and none
//! ever contains a secret value.

use std::path::PathBuf;

/// Why a credentials operation failed. Callers treat every variant as "refuse": a server whose
/// secret cannot be resolved does not start, a call that cannot be checked is not forwarded.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// A secret name outside `[A-Za-z0-9_.-]+` (or too long).
    #[error("invalid secret name `{name}`: {reason}")]
    InvalidName {
        /// The rejected name (names are not secret).
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No OS keychain could be reached (no Secret Service, locked, no D-Bus session...).
    #[error(
        "no OS keychain reachable: on Linux a Secret Service (gnome-keyring, KWallet) must be \
         running in this D-Bus session ({detail})"
    )]
    KeychainUnavailable {
        /// The platform's own error text.
        detail: String,
    },
    /// The keychain answered, but with an error other than "unreachable" or "no entry".
    #[error("keychain error for `{name}`: {detail}")]
    Keychain {
        /// The entry concerned.
        name: String,
        /// The platform's own error text.
        detail: String,
    },
    /// A referenced secret is not stored.
    #[error("secret `{name}` is not in the keychain: run `cordon secret set {name}`")]
    Missing {
        /// The missing secret's name.
        name: String,
    },
    /// A value too short to be redacted without destroying unrelated text (see
    /// [`crate::MIN_SECRET_LEN`]).
    #[error(
        "secret `{name}` is {len} bytes long; Cordon needs at least {min} bytes to recognise it \
         (and its encodings) in tool results without redacting ordinary text: use a longer value"
    )]
    TooShort {
        /// The secret's name.
        name: String,
        /// Its length in bytes.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// A secret value the keychain cannot hold or that would break the place it is injected
    /// into (empty, not UTF-8, a NUL byte, too large).
    #[error("secret `{name}`: {reason}")]
    BadValue {
        /// The secret's name.
        name: String,
        /// What is wrong with the value (never the value itself).
        reason: String,
    },
    /// A `${keychain:NAME}` reference that does not parse.
    #[error("malformed keychain reference at byte {position}: {message}")]
    Reference {
        /// Byte offset of the `$` that starts the bad reference.
        position: usize,
        /// What is wrong and how to write it.
        message: String,
    },
    /// The secrets name index in the keychain is not what Cordon wrote.
    #[error("the secret name index in the keychain (service `{service}`) is corrupt: {detail}")]
    Index {
        /// The keychain service.
        service: String,
        /// The parse error.
        detail: String,
    },
    /// The tool pin file could not be read or written.
    #[error("tool pins {path}: {reason}")]
    Pins {
        /// The pin file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// A pin operation named a tool that has nothing to approve, or an outdated definition.
    #[error("{0}")]
    PinState(String),
}

impl SecretError {
    /// Maps a keyring error for entry `name`: unreachable backends get the clear "no keychain"
    /// message, a missing entry the "run `cordon secret set`" one.
    pub(crate) fn from_keyring(name: &str, error: keyring::Error) -> SecretError {
        match error {
            keyring::Error::PlatformFailure(e) | keyring::Error::NoStorageAccess(e) => {
                SecretError::KeychainUnavailable {
                    detail: e.to_string(),
                }
            }
            keyring::Error::NoEntry => SecretError::Missing {
                name: name.to_owned(),
            },
            // BadEncoding carries the stored bytes: never print them.
            keyring::Error::BadEncoding(_) => SecretError::Keychain {
                name: name.to_owned(),
                detail: "the stored value is not UTF-8 (it was not written by Cordon)".to_owned(),
            },
            keyring::Error::Ambiguous(items) => SecretError::Keychain {
                name: name.to_owned(),
                detail: format!(
                    "{} keychain items match this entry; remove the duplicates with your keychain tool",
                    items.len()
                ),
            },
            other => SecretError::Keychain {
                name: name.to_owned(),
                detail: other.to_string(),
            },
        }
    }
}
