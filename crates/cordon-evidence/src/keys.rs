//! Where the checkpoint signing key lives, and how public keys are named and parsed.

use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, spki::der::pem::LineEnding,
};
use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::EvidenceError;
use crate::record::sha256_hex;

/// The keychain user name under which the signing key is stored.
pub const KEYCHAIN_USER: &str = "evidence-signing-key";

/// Where the ed25519 key that signs checkpoints is kept.
///
/// The private key never enters the database; only its public half does (and every bundle).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyStore {
    /// The OS keychain (Secret Service, macOS Keychain, Windows Credential Manager), entry
    /// `service` / [`KEYCHAIN_USER`]. Created on first use. If no keychain is reachable, opening
    /// fails with [`EvidenceError::KeychainUnavailable`]: there is no silent fallback.
    Keychain {
        /// Keychain service name, normally `cordon`.
        service: String,
    },
    /// A PKCS#8 PEM file readable only by the user (created 0600 on first use; refused if group-
    /// or world-accessible). Explicit opt-in for headless servers without a keychain. Weaker: any
    /// process running as the user (or root, or a backup) can read the key and forge checkpoints.
    File(PathBuf),
    /// No private key: query, export and verify only; appends and checkpoints are refused.
    ReadOnly,
}

impl KeyStore {
    /// Loads the signing key, creating and storing a new one if none exists yet.
    pub fn load_or_create(&self) -> Result<Option<SigningKey>, EvidenceError> {
        match self {
            Self::Keychain { service } => keychain_load(service, true),
            Self::File(path) => file_load(path, true),
            Self::ReadOnly => Ok(None),
        }
        .map(|k| k.map(|(key, _)| key))
    }

    /// The public key of an existing signing key, without creating one (for verification).
    pub fn existing_public_key(&self) -> Result<Option<VerifyingKey>, EvidenceError> {
        let key = match self {
            Self::Keychain { service } => keychain_load(service, false)?,
            Self::File(path) => file_load(path, false)?,
            Self::ReadOnly => None,
        };
        Ok(key.map(|(k, _)| k.verifying_key()))
    }
}

/// A short, stable name for a public key: `ed25519:` + the first 32 hex digits of its sha256.
pub fn fingerprint(key: &VerifyingKey) -> String {
    let digest = sha256_hex(key.as_bytes());
    format!("ed25519:{}", digest.get(..32).unwrap_or(&digest))
}

/// Parses a public key given as 64 hex characters (optionally `ed25519:`-prefixed) or as a PEM
/// `PUBLIC KEY` block, for `--trusted-key`.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, EvidenceError> {
    let text = text.trim();
    if text.contains("BEGIN PUBLIC KEY") {
        return VerifyingKey::from_public_key_pem(text)
            .map_err(|e| EvidenceError::PublicKey(e.to_string()));
    }
    let hex_text = text.strip_prefix("ed25519:").unwrap_or(text);
    let bytes = hex::decode(hex_text).map_err(|e| EvidenceError::PublicKey(e.to_string()))?;
    let array: [u8; 32] = bytes
        .try_into()
        .map_err(|_| EvidenceError::PublicKey("an ed25519 public key is 32 bytes".into()))?;
    VerifyingKey::from_bytes(&array).map_err(|e| EvidenceError::PublicKey(e.to_string()))
}

/// Hex of the raw 32-byte public key (how keys are stored in the database and in bundles).
pub fn public_key_hex(key: &VerifyingKey) -> String {
    hex::encode(key.as_bytes())
}

fn new_key() -> SigningKey {
    SigningKey::generate(&mut rand::rngs::OsRng)
}

fn to_pem(key: &SigningKey) -> Result<String, EvidenceError> {
    key.to_pkcs8_pem(LineEnding::LF)
        .map(|pem| pem.to_string())
        .map_err(|e| EvidenceError::Keychain(format!("cannot encode key: {e}")))
}

fn keychain_error(error: keyring::Error) -> EvidenceError {
    match error {
        keyring::Error::PlatformFailure(e) => EvidenceError::KeychainUnavailable {
            detail: e.to_string(),
        },
        // Locked (its prompt dismissed or not shown) or access refused: a keychain is there.
        keyring::Error::NoStorageAccess(e) => EvidenceError::KeychainLocked {
            detail: e.to_string(),
        },
        other => EvidenceError::Keychain(other.to_string()),
    }
}

fn keychain_load(service: &str, create: bool) -> Result<Option<(SigningKey, bool)>, EvidenceError> {
    let entry = keyring::Entry::new(service, KEYCHAIN_USER).map_err(keychain_error)?;
    match entry.get_password() {
        Ok(pem) => SigningKey::from_pkcs8_pem(&pem)
            .map(|k| Some((k, false)))
            .map_err(|e| EvidenceError::Keychain(format!("stored key is not PKCS#8 PEM: {e}"))),
        Err(keyring::Error::NoEntry) if create => {
            let key = new_key();
            entry.set_password(&to_pem(&key)?).map_err(keychain_error)?;
            // Another process may have raced us: use whatever the keychain now holds.
            let stored = entry.get_password().map_err(keychain_error)?;
            let key = SigningKey::from_pkcs8_pem(&stored).map_err(|e| {
                EvidenceError::Keychain(format!("stored key is not PKCS#8 PEM: {e}"))
            })?;
            tracing::info!(
                service,
                "created a new evidence signing key in the OS keychain"
            );
            Ok(Some((key, true)))
        }
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(e) => Err(keychain_error(e)),
    }
}

fn file_load(path: &Path, create: bool) -> Result<Option<(SigningKey, bool)>, EvidenceError> {
    match std::fs::read_to_string(path) {
        Ok(pem) => {
            check_private(path)?;
            let key = SigningKey::from_pkcs8_pem(&pem).map_err(|e| EvidenceError::KeyFile {
                path: path.to_path_buf(),
                reason: format!("not an ed25519 PKCS#8 PEM private key: {e}"),
            })?;
            Ok(Some((key, false)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            create_key_file(path)?;
            file_load(path, false)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(EvidenceError::io(path, e)),
    }
}

/// Writes a new key to a private temporary file, then hard-links it into place so that a racing
/// process either wins or reads the complete file (never a half-written one).
fn create_key_file(path: &Path) -> Result<(), EvidenceError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::store::create_private_dir(parent)?;
    }
    let key = new_key();
    let pem = to_pem(&key)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(|e| EvidenceError::io(&tmp, e))?;
    // Windows: the counterpart of 0600, set before the key's first byte is written.
    #[cfg(windows)]
    if let Err(e) = cordon_winsec::make_path_private(&tmp) {
        drop(file);
        let _ = std::fs::remove_file(&tmp);
        return Err(EvidenceError::io(&tmp, e));
    }
    file.write_all(pem.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| EvidenceError::io(&tmp, e))?;
    drop(file);
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(EvidenceError::io(path, e)),
    }
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), EvidenceError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| EvidenceError::io(path, e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(EvidenceError::KeyFile {
            path: path.to_path_buf(),
            reason: format!(
                "permissions {:o} let other users read the signing key; run `chmod 600 {}`",
                mode & 0o777,
                path.display()
            ),
        });
    }
    Ok(())
}

/// Windows: refuses a key file whose DACL lets anyone but the user, SYSTEM and the
/// Administrators read it (the counterpart of a mode wider than 0600).
#[cfg(windows)]
fn check_private(path: &Path) -> Result<(), EvidenceError> {
    let sddl = cordon_winsec::path_sddl(path).map_err(|e| EvidenceError::io(path, e))?;
    let me = cordon_winsec::current_user_sid().map_err(|e| EvidenceError::io(path, e))?;
    if !cordon_winsec::allows_only(&sddl, &[me.as_str(), "SY", "BA"]) {
        return Err(EvidenceError::KeyFile {
            path: path.to_path_buf(),
            reason: format!(
                "its ACL ({sddl}) lets other users read the signing key; allow only yourself \
                 (`icacls \"{}\" /inheritance:r /grant:r \"%USERNAME%\":F`)",
                path.display()
            ),
        });
    }
    Ok(())
}

#[cfg(not(any(unix, windows)))]
fn check_private(_path: &Path) -> Result<(), EvidenceError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_key_is_created_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/key.pem");
        let store = KeyStore::File(path.clone());
        assert!(store.existing_public_key().unwrap().is_none());
        let a = store.load_or_create().unwrap().unwrap();
        let b = store.load_or_create().unwrap().unwrap();
        assert_eq!(a.verifying_key(), b.verifying_key());
        assert_eq!(
            store.existing_public_key().unwrap(),
            Some(a.verifying_key())
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = store.load_or_create().unwrap_err();
            assert!(err.to_string().contains("chmod 600"), "{err}");
        }
    }

    #[test]
    fn garbage_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        std::fs::write(&path, "not a key").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert!(KeyStore::File(path).load_or_create().is_err());
    }

    #[test]
    fn public_keys_parse_from_hex_and_pem() {
        use ed25519_dalek::pkcs8::EncodePublicKey;
        let key = new_key().verifying_key();
        let hex_text = public_key_hex(&key);
        assert_eq!(parse_public_key(&hex_text).unwrap(), key);
        assert_eq!(
            parse_public_key(&format!("ed25519:{hex_text}\n")).unwrap(),
            key
        );
        let pem = key.to_public_key_pem(LineEnding::LF).unwrap();
        assert_eq!(parse_public_key(&pem).unwrap(), key);
        assert!(parse_public_key("abcd").is_err());
        assert!(parse_public_key("zz").is_err());
        assert!(fingerprint(&key).starts_with("ed25519:"));
        assert_eq!(fingerprint(&key).len(), 8 + 32);
    }
}
