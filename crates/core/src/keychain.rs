//! The keychain behind one trait. `KeyringStore` is the OS keychain (Secret Service, macOS
//! Keychain, Windows Credential Manager through the `keyring` crate); `MemoryStore` is for tests
//! of code that is not about the keychain. Both pass the same contract tests.
//!
//! "No entry" is `Ok(None)`; a locked or absent keychain is an error of its own, so callers can
//! tell "not logged in" from "cannot look right now".

use crate::error::{Error, Result};
use crate::secret::Secret;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The `service` attribute of every item Grantkeeper stores.
pub const SERVICE: &str = "grantkeeper";

/// Blocking key-value access to secrets. Keys are like `grant:<id>`.
pub trait SecretStore: Send + Sync {
    fn get(&self, key: &str) -> Result<Option<Secret>>;
    fn set(&self, key: &str, value: &Secret) -> Result<()>;
    /// Deleting a key that does not exist is not an error.
    fn delete(&self, key: &str) -> Result<()>;
    /// Whether the keychain is locked, asked without unlocking it or showing a prompt. A read of
    /// a missing key cannot tell: the Secret Service searches a locked collection without
    /// complaint and finds nothing.
    fn is_locked(&self) -> Result<bool> {
        Ok(false)
    }
}

pub struct KeyringStore {
    service: String,
}

impl KeyringStore {
    pub fn new(service: &str) -> Self {
        Self {
            service: service.into(),
        }
    }

    fn entry(&self, key: &str) -> Result<keyring::Entry> {
        keyring::Entry::new(&self.service, key).map_err(map_keyring_error)
    }
}

/// keyring reports a locked collection, an unanswered unlock prompt and a hung service all as
/// platform errors; tell them apart by what the Secret Service said.
fn map_keyring_error(e: keyring::Error) -> Error {
    let text = match &e {
        keyring::Error::NoStorageAccess(inner) | keyring::Error::PlatformFailure(inner) => {
            inner.to_string()
        }
        other => return Error::KeychainUnavailable(other.to_string()),
    };
    let lower = text.to_lowercase();
    if lower.contains("noreply")
        || lower.contains("no reply")
        || lower.contains("did not receive a reply")
        || lower.contains("timed out")
        || lower.contains("timeout")
    {
        Error::KeychainUnavailable("the keychain service did not answer".into())
    } else if lower.contains("locked") || lower.contains("prompt") || lower.contains("dismissed") {
        Error::KeychainLocked
    } else {
        Error::KeychainUnavailable(text)
    }
}

impl SecretStore for KeyringStore {
    fn get(&self, key: &str) -> Result<Option<Secret>> {
        match self.entry(key)?.get_password() {
            Ok(value) => Ok(Some(Secret::new(value))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_keyring_error(e)),
        }
    }

    fn set(&self, key: &str, value: &Secret) -> Result<()> {
        self.entry(key)?
            .set_password(value.expose())
            .map_err(map_keyring_error)
    }

    fn delete(&self, key: &str) -> Result<()> {
        match self.entry(key)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(map_keyring_error(e)),
        }
    }

    /// keyring keeps its items in the default collection; ask that collection (Linux).
    #[cfg(target_os = "linux")]
    fn is_locked(&self) -> Result<bool> {
        use dbus_secret_service::{EncryptionType, SecretService};
        let unavailable = |e: dbus_secret_service::Error| {
            map_keyring_error(keyring::Error::PlatformFailure(Box::new(e)))
        };
        let service = SecretService::connect(EncryptionType::Plain).map_err(unavailable)?;
        match service.get_default_collection() {
            Ok(collection) => collection.is_locked().map_err(unavailable),
            // No default collection yet: the first write creates one.
            Err(dbus_secret_service::Error::NoResult) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }
}

/// In-memory store; can be told to fail like a locked keychain.
#[derive(Default)]
pub struct MemoryStore {
    items: Mutex<HashMap<String, String>>,
    locked: Mutex<bool>,
}

impl MemoryStore {
    pub fn set_locked(&self, locked: bool) {
        *self.locked.lock().unwrap_or_else(|e| e.into_inner()) = locked;
    }

    fn check(&self) -> Result<()> {
        if *self.locked.lock().unwrap_or_else(|e| e.into_inner()) {
            Err(Error::KeychainLocked)
        } else {
            Ok(())
        }
    }

    fn items(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl SecretStore for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<Secret>> {
        self.check()?;
        Ok(self.items().get(key).map(|v| Secret::new(v.clone())))
    }

    fn set(&self, key: &str, value: &Secret) -> Result<()> {
        self.check()?;
        self.items().insert(key.into(), value.expose().into());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.check()?;
        self.items().remove(key);
        Ok(())
    }

    fn is_locked(&self) -> Result<bool> {
        Ok(*self.locked.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Runs blocking keychain calls off the async runtime with a deadline: a keychain waiting for an
/// unlock prompt nobody answers must not hang the tray.
#[derive(Clone)]
pub struct Keychain {
    store: Arc<dyn SecretStore>,
    timeout: Duration,
}

impl Keychain {
    pub fn new(store: Arc<dyn SecretStore>, timeout: Duration) -> Self {
        Self { store, timeout }
    }

    async fn run<T: Send + 'static>(
        &self,
        op: impl FnOnce(&dyn SecretStore) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = self.store.clone();
        let task = tokio::task::spawn_blocking(move || op(store.as_ref()));
        match tokio::time::timeout(self.timeout, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(Error::KeychainUnavailable(format!(
                "keychain call failed: {join}"
            ))),
            Err(_) => Err(Error::KeychainTimeout(self.timeout.as_secs())),
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<Secret>> {
        let key = key.to_string();
        self.run(move |s| s.get(&key)).await
    }

    pub async fn set(&self, key: &str, value: Secret) -> Result<()> {
        let key = key.to_string();
        self.run(move |s| s.set(&key, &value)).await
    }

    pub async fn delete(&self, key: &str) -> Result<()> {
        let key = key.to_string();
        self.run(move |s| s.delete(&key)).await
    }

    pub async fn is_locked(&self) -> Result<bool> {
        self.run(|s| s.is_locked()).await
    }
}

/// Blocks the calling thread, calling `changed` each time the Secret Service announces that a
/// collection changed (gnome-keyring and KeePassXC send `CollectionChanged` when one is locked or
/// unlocked), so the lock state is pushed rather than polled. Returns only when the session bus
/// connection fails.
#[cfg(target_os = "linux")]
pub fn watch_lock_changes(changed: impl Fn() + Send + 'static) -> Result<()> {
    use dbus::blocking::Connection;
    use dbus::message::MatchRule;
    let fail =
        |e: dbus::Error| Error::KeychainUnavailable(format!("cannot watch the keychain: {e}"));
    let connection = Connection::new_session().map_err(fail)?;
    let rule = MatchRule::new_signal("org.freedesktop.Secret.Service", "CollectionChanged");
    connection
        .add_match(rule, move |(): (), _, _| {
            changed();
            true
        })
        .map_err(fail)?;
    loop {
        connection
            .process(Duration::from_secs(3600))
            .map_err(fail)?;
    }
}

/// Other keychains are asked at each use; there is nothing to watch.
#[cfg(not(target_os = "linux"))]
pub fn watch_lock_changes(_changed: impl Fn() + Send + 'static) -> Result<()> {
    Ok(())
}

pub fn grant_key(grant_id: &str) -> String {
    format!("grant:{grant_id}")
}

pub fn client_secret_key(client_id: &str) -> String {
    format!("client-secret:{client_id}")
}

pub fn pending_key(state_hash: &str) -> String {
    format!("pending:{state_hash}")
}

/// The same contract, run against every store (see also tests/real_keychain.rs, which runs it
/// against the real Secret Service).
pub mod contract {
    use super::*;

    pub fn check_store_contract(store: &dyn SecretStore, key_prefix: &str) {
        let key = format!("{key_prefix}contract-test");
        store.delete(&key).expect("cleanup before test");
        assert!(
            store.get(&key).expect("get of a missing key").is_none(),
            "a missing key reads as None"
        );
        store.set(&key, &Secret::new("first")).expect("set");
        assert_eq!(
            store
                .get(&key)
                .expect("get")
                .map(|s| s.expose().to_string())
                .as_deref(),
            Some("first")
        );
        store.set(&key, &Secret::new("second")).expect("overwrite");
        assert_eq!(
            store
                .get(&key)
                .expect("get")
                .map(|s| s.expose().to_string())
                .as_deref(),
            Some("second"),
            "set replaces the value"
        );
        store.delete(&key).expect("delete");
        assert!(store.get(&key).expect("get after delete").is_none());
        store.delete(&key).expect("deleting a missing key is fine");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_meets_the_contract() {
        contract::check_store_contract(&MemoryStore::default(), "");
    }

    #[test]
    fn a_locked_store_is_an_error_not_a_missing_entry() {
        let store = MemoryStore::default();
        store.set_locked(true);
        let err = store
            .get("grant:x")
            .expect_err("locked must not read as None");
        assert_eq!(err.code(), "keychain_locked");
    }

    #[tokio::test]
    async fn a_keychain_that_hangs_times_out() {
        struct Hanging;
        impl SecretStore for Hanging {
            fn get(&self, _: &str) -> Result<Option<Secret>> {
                std::thread::sleep(Duration::from_millis(500));
                Ok(None)
            }
            fn set(&self, _: &str, _: &Secret) -> Result<()> {
                Ok(())
            }
            fn delete(&self, _: &str) -> Result<()> {
                Ok(())
            }
        }
        let keychain = Keychain::new(Arc::new(Hanging), Duration::from_millis(50));
        let err = keychain.get("grant:x").await.expect_err("must time out");
        assert_eq!(err.code(), "keychain_timeout");
    }
}
