//! The OS keychain as Cordon's secret store, with an index of names (never values).
//!
//! Layout under one keychain *service* (default `cordon`):
//! - `secret:NAME` holds the value of secret NAME. The prefix keeps user-chosen names apart from
//!   Cordon's own entries (the evidence signing key is `evidence-signing-key` in the same
//!   service: `cordon secret set evidence-signing-key` must not overwrite it);
//! - `secrets-index` holds `{"version":1,"names":[...]}`: the names only, because keyrings offer
//!   no portable way to enumerate entries. Where each name is used is not stored (it would go
//!   stale): it is computed from the config when listing (see [`SecretUsage`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use keyring::credential::CredentialBuilder;

use crate::name::{Secret, SecretName};
use crate::{MAX_SECRET_LEN, MIN_SECRET_LEN, SecretError};

/// The keychain service Cordon uses unless configured otherwise.
pub const DEFAULT_SERVICE: &str = "cordon";

/// Environment variable overriding the keychain service (tests use a unique one so they never
/// touch a user's real entries).
pub const SERVICE_ENV: &str = "CORDON_KEYCHAIN_SERVICE";

/// Prefix of the keychain user name of every secret entry.
pub const ENTRY_PREFIX: &str = "secret:";

/// Keychain user name of the name index (not a valid `secret:` entry, so it cannot collide).
pub const INDEX_USER: &str = "secrets-index";

/// Where secret values come from when references are expanded: the keychain in production, a
/// map in tests.
pub trait SecretSource {
    /// The secret called `name`, or [`SecretError::Missing`].
    fn secret(&self, name: &SecretName) -> Result<Secret, SecretError>;
}

impl SecretSource for BTreeMap<SecretName, String> {
    fn secret(&self, name: &SecretName) -> Result<Secret, SecretError> {
        self.get(name)
            .map(|v| Secret::new(name.clone(), v.clone()))
            .ok_or_else(|| SecretError::Missing {
                name: name.to_string(),
            })
    }
}

/// Where each secret is referenced, e.g. `GITHUB_TOKEN` → `["github (env GITHUB_TOKEN)"]`.
/// Built by the caller from the config with [`crate::record_usage`].
pub type SecretUsage = BTreeMap<SecretName, Vec<String>>;

/// One line of `cordon secret list`: a name, whether it is stored, where it is used.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SecretInfo {
    /// The secret's name.
    pub name: SecretName,
    /// Whether the index says the keychain holds it (false: referenced but never set).
    pub stored: bool,
    /// The config places that reference it.
    pub used_by: Vec<String>,
}

/// Secrets in the OS keychain under one service name.
#[derive(Clone)]
pub struct SecretStore {
    service: String,
    /// None: keyring's default (real) backend; Some: an explicit one (tests).
    builder: Option<Arc<CredentialBuilder>>,
}

impl std::fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretStore")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Index {
    version: u32,
    names: BTreeSet<SecretName>,
}

impl SecretStore {
    /// A store over the platform keychain (Secret Service, macOS Keychain, Windows Credential
    /// Manager) under `service`.
    pub fn new(service: &str) -> Result<SecretStore, SecretError> {
        Self::check_service(service)?;
        Ok(SecretStore {
            service: service.to_owned(),
            builder: None,
        })
    }

    /// A store over an explicit keyring backend (keyring's mock store or a test double).
    pub fn with_builder(
        service: &str,
        builder: Box<CredentialBuilder>,
    ) -> Result<SecretStore, SecretError> {
        Self::check_service(service)?;
        Ok(SecretStore {
            service: service.to_owned(),
            builder: Some(Arc::from(builder)),
        })
    }

    fn check_service(service: &str) -> Result<(), SecretError> {
        if service.trim().is_empty() {
            return Err(SecretError::Keychain {
                name: String::new(),
                detail: "the keychain service name must not be empty".to_owned(),
            });
        }
        Ok(())
    }

    /// The keychain service name.
    pub fn service(&self) -> &str {
        &self.service
    }

    fn entry(&self, user: &str) -> Result<keyring::Entry, SecretError> {
        match &self.builder {
            None => keyring::Entry::new(&self.service, user),
            Some(builder) => builder
                .build(None, &self.service, user)
                .map(keyring::Entry::new_with_credential),
        }
        .map_err(|e| SecretError::from_keyring(user, e))
    }

    fn secret_entry(&self, name: &SecretName) -> Result<keyring::Entry, SecretError> {
        self.entry(&format!("{ENTRY_PREFIX}{name}"))
    }

    /// Stores (or replaces) a secret, then adds its name to the index.
    ///
    /// Refuses values that cannot be injected or redacted safely (see [`check_value`]).
    pub fn set(&self, name: &SecretName, value: &str) -> Result<(), SecretError> {
        check_value(name, value)?;
        self.secret_entry(name)?
            .set_password(value)
            .map_err(|e| SecretError::from_keyring(name.as_str(), e))?;
        self.update_index(|names| {
            names.insert(name.clone());
        })
    }

    /// Reads a secret.
    pub fn get(&self, name: &SecretName) -> Result<Secret, SecretError> {
        let value = self
            .secret_entry(name)?
            .get_password()
            .map_err(|e| SecretError::from_keyring(name.as_str(), e))?;
        Ok(Secret::new(name.clone(), value))
    }

    /// Deletes a secret and its index entry. A secret that was not stored is
    /// [`SecretError::Missing`] (its stale index entry, if any, is still removed).
    pub fn remove(&self, name: &SecretName) -> Result<(), SecretError> {
        let deleted = self
            .secret_entry(name)?
            .delete_credential()
            .map_err(|e| SecretError::from_keyring(name.as_str(), e));
        match deleted {
            Ok(()) | Err(SecretError::Missing { .. }) => {
                self.update_index(|names| {
                    names.remove(name);
                })?;
                deleted
            }
            Err(other) => Err(other),
        }
    }

    /// The stored names (from the index), without reading any value.
    pub fn names(&self) -> Result<BTreeSet<SecretName>, SecretError> {
        Ok(self.read_index()?.names)
    }

    /// Every stored or referenced secret with where it is used. Never reads a value.
    pub fn list(&self, usage: &SecretUsage) -> Result<Vec<SecretInfo>, SecretError> {
        let stored = self.names()?;
        let all: BTreeSet<&SecretName> = stored.iter().chain(usage.keys()).collect();
        Ok(all
            .into_iter()
            .map(|name| SecretInfo {
                name: name.clone(),
                stored: stored.contains(name),
                used_by: usage.get(name).cloned().unwrap_or_default(),
            })
            .collect())
    }

    fn read_index(&self) -> Result<Index, SecretError> {
        match self.entry(INDEX_USER)?.get_password() {
            Ok(text) => serde_json::from_str(&text).map_err(|e| SecretError::Index {
                service: self.service.clone(),
                detail: e.to_string(),
            }),
            Err(keyring::Error::NoEntry) => Ok(Index {
                version: 1,
                names: BTreeSet::new(),
            }),
            Err(e) => Err(SecretError::from_keyring(INDEX_USER, e)),
        }
    }

    /// Read-modify-write of the index. Two concurrent `set`s may lose one index update (the
    /// value itself is stored); `cordon secret set` again repairs it.
    fn update_index(
        &self,
        change: impl FnOnce(&mut BTreeSet<SecretName>),
    ) -> Result<(), SecretError> {
        let mut index = self.read_index()?;
        let before = index.names.clone();
        change(&mut index.names);
        if index.names == before {
            return Ok(());
        }
        index.version = 1;
        let text = serde_json::to_string(&index).map_err(|e| SecretError::Index {
            service: self.service.clone(),
            detail: e.to_string(),
        })?;
        let entry = self.entry(INDEX_USER)?;
        if index.names.is_empty() {
            match entry.delete_credential() {
                Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
                Err(e) => Err(SecretError::from_keyring(INDEX_USER, e)),
            }
        } else {
            entry
                .set_password(&text)
                .map_err(|e| SecretError::from_keyring(INDEX_USER, e))
        }
    }
}

impl SecretSource for SecretStore {
    fn secret(&self, name: &SecretName) -> Result<Secret, SecretError> {
        self.get(name)
    }
}

/// Checks a value before it is stored: not empty, no NUL byte (it could not be passed in an
/// environment variable or header), at least [`MIN_SECRET_LEN`] bytes (shorter values cannot
/// be redacted without destroying ordinary text, see [`crate::Redactor`]), at most
/// [`MAX_SECRET_LEN`].
pub fn check_value(name: &SecretName, value: &str) -> Result<(), SecretError> {
    let bad = |reason: &str| SecretError::BadValue {
        name: name.to_string(),
        reason: reason.to_owned(),
    };
    if value.is_empty() {
        return Err(bad("the value is empty"));
    }
    if value.contains('\0') {
        return Err(bad(
            "the value contains a NUL byte, which no environment variable or header can carry",
        ));
    }
    if value.len() < MIN_SECRET_LEN {
        return Err(SecretError::TooShort {
            name: name.to_string(),
            len: value.len(),
            min: MIN_SECRET_LEN,
        });
    }
    if value.len() > MAX_SECRET_LEN {
        return Err(bad(&format!(
            "the value is {} bytes; at most {MAX_SECRET_LEN} are accepted",
            value.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use keyring::credential::{Credential, CredentialBuilderApi};

    use super::*;

    use crate::memory::MemoryKeychain as Memory;

    /// keyring's mock store, every credential pre-loaded with one error.
    struct Failing(fn() -> keyring::Error);

    impl CredentialBuilderApi for Failing {
        fn build(
            &self,
            target: Option<&str>,
            service: &str,
            user: &str,
        ) -> keyring::Result<Box<Credential>> {
            let credential =
                keyring::mock::default_credential_builder().build(target, service, user)?;
            if let Some(mock) = credential
                .as_any()
                .downcast_ref::<keyring::mock::MockCredential>()
            {
                mock.set_error((self.0)());
            }
            Ok(credential)
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }

    fn name(n: &str) -> SecretName {
        SecretName::new(n).unwrap()
    }

    #[test]
    fn set_get_list_remove_round_trip() {
        let memory = Memory::default();
        let store = SecretStore::with_builder("svc", Box::new(memory.clone())).unwrap();
        store.set(&name("A_TOKEN"), "value-one-long").unwrap();
        store.set(&name("B"), "value-two-long").unwrap();
        store.set(&name("A_TOKEN"), "value-one-new!").unwrap();
        assert_eq!(
            store.get(&name("A_TOKEN")).unwrap().expose(),
            "value-one-new!"
        );
        let usage = SecretUsage::from([(name("C"), vec!["gh (env C)".to_owned()])]);
        let listed = store.list(&usage).unwrap();
        let summary: Vec<_> = listed
            .iter()
            .map(|i| (i.name.as_str(), i.stored, i.used_by.len()))
            .collect();
        assert_eq!(
            summary,
            [("A_TOKEN", true, 0), ("B", true, 0), ("C", false, 1)]
        );
        // The index holds names only.
        let raw = memory.snapshot();
        let index =
            String::from_utf8(raw[&("svc".to_owned(), INDEX_USER.to_owned())].clone()).unwrap();
        assert!(!index.contains("value"), "{index}");
        // Values live under the prefixed user, apart from Cordon's own entries.
        assert!(raw.contains_key(&("svc".to_owned(), "secret:B".to_owned())));

        store.remove(&name("B")).unwrap();
        assert!(matches!(
            store.get(&name("B")),
            Err(SecretError::Missing { .. })
        ));
        assert!(matches!(
            store.remove(&name("B")),
            Err(SecretError::Missing { .. })
        ));
        store.remove(&name("A_TOKEN")).unwrap();
        assert!(store.names().unwrap().is_empty());
        assert!(memory.snapshot().is_empty(), "empty index is deleted");
    }

    #[test]
    fn missing_secret_says_how_to_fix_it() {
        let store =
            SecretStore::with_builder("svc", keyring::mock::default_credential_builder()).unwrap();
        let error = store.get(&name("GITHUB_TOKEN")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "secret `GITHUB_TOKEN` is not in the keychain: run `cordon secret set GITHUB_TOKEN`"
        );
    }

    #[test]
    fn unreachable_keychain_is_reported_clearly() {
        fn platform() -> keyring::Error {
            keyring::Error::PlatformFailure("no D-Bus".into())
        }
        fn access() -> keyring::Error {
            keyring::Error::NoStorageAccess("locked".into())
        }
        for failure in [platform as fn() -> keyring::Error, access] {
            let store = SecretStore::with_builder("svc", Box::new(Failing(failure))).unwrap();
            for error in [
                store.get(&name("X")).unwrap_err(),
                store.set(&name("X"), "long-enough-value").unwrap_err(),
                store.names().unwrap_err(),
            ] {
                assert!(
                    matches!(error, SecretError::KeychainUnavailable { .. }),
                    "{error}"
                );
                assert!(
                    error.to_string().starts_with(
                        "no OS keychain reachable: on Linux a Secret Service (gnome-keyring, KWallet) must be running in this D-Bus session"
                    ),
                    "{error}"
                );
            }
        }
    }

    #[test]
    fn foreign_non_utf8_value_is_not_printed() {
        fn bad() -> keyring::Error {
            keyring::Error::BadEncoding(b"s3cr3t-bytes\xff".to_vec())
        }
        let store = SecretStore::with_builder("svc", Box::new(Failing(bad))).unwrap();
        let error = store.get(&name("X")).unwrap_err();
        assert!(
            !format!("{error} {error:?}").contains("s3cr3t"),
            "{error:?}"
        );
    }

    #[test]
    fn corrupt_index_is_an_error_not_an_empty_list() {
        let memory = Memory::default();
        memory.insert_raw("svc", INDEX_USER, b"{not json");
        let store = SecretStore::with_builder("svc", Box::new(memory)).unwrap();
        assert!(matches!(store.names(), Err(SecretError::Index { .. })));
    }

    #[test]
    fn bad_values_are_refused_before_storage() {
        let memory = Memory::default();
        let store = SecretStore::with_builder("svc", Box::new(memory.clone())).unwrap();
        for (value, expect) in [
            ("", "empty"),
            ("short", "at least"),
            ("nul\0in-the-middle", "NUL"),
            (&"x".repeat(MAX_SECRET_LEN + 1) as &str, "at most"),
        ] {
            let error = store.set(&name("X"), value).unwrap_err();
            assert!(error.to_string().contains(expect), "{error}");
        }
        assert!(memory.snapshot().is_empty());
        assert!(SecretStore::new(" ").is_err());
    }
}
