//! An in-memory keychain for unit tests of code built on [`crate::SecretStore`]: keyring's own
//! mock store forgets a value as soon as its entry is dropped, which makes "set, then list, then
//! read" untestable. Compiled only for this crate's tests and with the `test-support` feature;
//! the real stores are what users get, and the Secret Service tests use the real one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use keyring::credential::{Credential, CredentialApi, CredentialBuilderApi};

type Entries = HashMap<(String, String), Vec<u8>>;

/// A keychain held in memory, shared by every credential it builds (clones share it too).
#[derive(Default, Clone)]
pub struct MemoryKeychain(Arc<Mutex<Entries>>);

impl MemoryKeychain {
    fn entries(&self) -> MutexGuard<'_, Entries> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every stored (service, user) → bytes, to check what really reached the keychain.
    pub fn snapshot(&self) -> HashMap<(String, String), Vec<u8>> {
        self.entries().clone()
    }

    /// Stores raw bytes under (service, user), e.g. a corrupt entry a test wants to meet.
    pub fn insert_raw(&self, service: &str, user: &str, bytes: &[u8]) {
        self.entries()
            .insert((service.to_owned(), user.to_owned()), bytes.to_vec());
    }
}

struct MemoryCredential {
    store: MemoryKeychain,
    key: (String, String),
}

impl CredentialApi for MemoryCredential {
    fn set_secret(&self, secret: &[u8]) -> keyring::Result<()> {
        self.store
            .entries()
            .insert(self.key.clone(), secret.to_vec());
        Ok(())
    }

    fn get_secret(&self) -> keyring::Result<Vec<u8>> {
        self.store
            .entries()
            .get(&self.key)
            .cloned()
            .ok_or(keyring::Error::NoEntry)
    }

    fn delete_credential(&self) -> keyring::Result<()> {
        self.store
            .entries()
            .remove(&self.key)
            .map(|_| ())
            .ok_or(keyring::Error::NoEntry)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl CredentialBuilderApi for MemoryKeychain {
    fn build(
        &self,
        _target: Option<&str>,
        service: &str,
        user: &str,
    ) -> keyring::Result<Box<Credential>> {
        Ok(Box::new(MemoryCredential {
            store: self.clone(),
            key: (service.to_owned(), user.to_owned()),
        }))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
