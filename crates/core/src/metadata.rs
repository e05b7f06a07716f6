//! Non-secret grant metadata in `grants.json`, so listing grants and their status never needs a
//! keychain read. Updates are read-modify-write under a cross-process lock, written atomically.

use crate::atomic_file::{write_atomically, FileLock};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const METADATA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantMeta {
    pub id: String,
    /// Local id of the client the grant belongs to.
    pub client: String,
    /// E-mail from the Cloudflare API, or the provider's subject.
    pub identity: String,
    pub requested_scopes: Vec<String>,
    pub granted_scopes: Vec<String>,
    pub access_expires_at: Option<DateTime<Utc>>,
    pub obtained_at: DateTime<Utc>,
    pub refreshed_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// The provider refused the refresh token; only a new login helps.
    #[serde(default)]
    pub needs_reconsent: bool,
}

/// A login that has been started and not yet completed. The PKCE verifier is in the keychain;
/// here only what is needed to reject an unknown, used or expired state without a keychain read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingMeta {
    /// SHA-256 of the `state` value (hex); the state itself is not stored.
    pub state_hash: String,
    pub client: String,
    pub redirect_uri: String,
    pub requested_scopes: Vec<String>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataFile {
    pub version: u32,
    #[serde(default)]
    pub grants: Vec<GrantMeta>,
    #[serde(default)]
    pub pending: Vec<PendingMeta>,
}

impl Default for MetadataFile {
    fn default() -> Self {
        Self {
            version: METADATA_VERSION,
            grants: Vec::new(),
            pending: Vec::new(),
        }
    }
}

impl MetadataFile {
    pub fn grant(&self, id: &str) -> Result<&GrantMeta> {
        self.grants
            .iter()
            .find(|g| g.id == id)
            .ok_or_else(|| Error::UnknownGrant(id.into()))
    }

    pub fn grant_mut(&mut self, id: &str) -> Result<&mut GrantMeta> {
        self.grants
            .iter_mut()
            .find(|g| g.id == id)
            .ok_or_else(|| Error::UnknownGrant(id.into()))
    }
}

/// The metadata file and its lock.
#[derive(Debug, Clone)]
pub struct MetadataStore {
    path: PathBuf,
    lock_path: PathBuf,
}

impl MetadataStore {
    pub fn new(path: &Path, lock_dir: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            lock_path: lock_dir.join("grants.lock"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file; missing means empty, unreadable is an error and the file is left alone.
    pub fn load(&self) -> Result<MetadataFile> {
        let bad = |reason: String| Error::Metadata {
            path: self.path.clone(),
            reason,
        };
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(MetadataFile::default())
            }
            Err(e) => return Err(bad(e.to_string())),
        };
        let file: MetadataFile = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if file.version != METADATA_VERSION {
            return Err(bad(format!(
                "version {} is not supported (this Grantkeeper reads version {METADATA_VERSION})",
                file.version
            )));
        }
        Ok(file)
    }

    /// Read-modify-write under the cross-process lock. Blocking: call from a blocking context.
    /// When `change` fails nothing is written.
    pub fn update<T>(&self, change: impl FnOnce(&mut MetadataFile) -> Result<T>) -> Result<T> {
        let _lock = FileLock::acquire(&self.lock_path)?;
        let mut file = self.load()?;
        let out = change(&mut file)?;
        let json = serde_json::to_vec_pretty(&file).map_err(|e| Error::Write {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        write_atomically(&self.path, &json)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_change_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = MetadataStore::new(&dir.path().join("grants.json"), dir.path());
        store
            .update(|f| {
                f.pending.push(PendingMeta {
                    state_hash: "h".into(),
                    client: "c".into(),
                    redirect_uri: "grantkeeper://oauth/callback".into(),
                    requested_scopes: vec![],
                    expires_at: Utc::now(),
                });
                Ok(())
            })
            .expect("first update");
        let before = std::fs::read(store.path()).expect("read");
        let result: Result<()> = store.update(|f| {
            f.pending.clear();
            Err(Error::UnknownState)
        });
        assert!(result.is_err());
        assert_eq!(std::fs::read(store.path()).expect("read"), before);
    }

    #[test]
    fn unreadable_metadata_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("grants.json");
        std::fs::write(&path, b"{not json").expect("write");
        let store = MetadataStore::new(&path, dir.path());
        let err = store.load().expect_err("broken metadata must not load");
        assert!(err.to_string().contains("grants.json"));
        let err = store
            .update(|_| Ok(()))
            .expect_err("and must not be overwritten");
        assert_eq!(err.code(), "metadata_unreadable");
        assert_eq!(std::fs::read(&path).expect("read"), b"{not json");
    }
}
