//! Where Grantkeeper keeps its files. Tauri's shell and the command line use the same paths.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Paths {
    /// `clients.toml`: the user's OAuth clients (no secrets).
    pub config_file: PathBuf,
    /// `grants.json`: grant metadata and pending logins (no secrets).
    pub metadata_file: PathBuf,
    /// Lock files that serialise refreshes and metadata updates across processes.
    pub lock_dir: PathBuf,
}

impl Paths {
    /// `$XDG_CONFIG_HOME/grantkeeper` and `$XDG_DATA_HOME/grantkeeper` on Linux, and the
    /// platform's equivalents elsewhere.
    pub fn from_environment() -> Option<Self> {
        let config = dirs::config_dir()?.join("grantkeeper");
        let data = dirs::data_dir()?.join("grantkeeper");
        Some(Self::in_dirs(&config, &data))
    }

    pub fn in_dirs(config_dir: &Path, data_dir: &Path) -> Self {
        Self {
            config_file: config_dir.join("clients.toml"),
            metadata_file: data_dir.join("grants.json"),
            lock_dir: data_dir.join("locks"),
        }
    }
}
