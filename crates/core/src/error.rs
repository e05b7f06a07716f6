//! Typed errors with a closed set of codes for the UI.
//!
//! Every message says what happened and what to do, and never contains a secret: errors that
//! carry provider text keep only sanitised, length-limited descriptions.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("The client settings in {path} cannot be read: {reason}. Fix or move that file; Grantkeeper leaves it untouched until then.")]
    Config { path: PathBuf, reason: String },

    #[error("The grant list in {path} cannot be read: {reason}. Fix or move that file; Grantkeeper leaves it untouched until then.")]
    Metadata { path: PathBuf, reason: String },

    #[error("Cannot write {path}: {reason}. Check the folder's permissions and free space.")]
    Write { path: PathBuf, reason: String },

    #[error("{0}")]
    Invalid(String),

    #[error("There is no client \"{0}\". It may have been removed; reload the client list.")]
    UnknownClient(String),

    #[error("There is no grant \"{0}\". It may have been revoked; reload the grant list.")]
    UnknownGrant(String),

    #[error("The keychain is locked. Unlock it (log in to your desktop session's keyring) and try again.")]
    KeychainLocked,

    #[error("The keychain did not answer within {0} seconds; it may be waiting for an unlock prompt. Unlock it and try again.")]
    KeychainTimeout(u64),

    #[error("The keychain is not available: {0}. Make sure a Secret Service (e.g. gnome-keyring) is running.")]
    KeychainUnavailable(String),

    #[error("The secret for {0} is missing from the keychain. Log in again (for a grant) or enter the client secret again (for a client).")]
    SecretMissing(String),

    #[error("The login callback is not valid: {0}. Start the login again from the tray.")]
    BadCallback(String),

    #[error("This login link is unknown or was already used, so it was ignored. Start the login again from the tray.")]
    UnknownState,

    #[error(
        "This login took longer than 10 minutes and expired. Start the login again from the tray."
    )]
    FlowExpired,

    #[error("The provider refused the login ({error}{}). Try again, or check the client's settings.", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    ProviderDenied {
        error: String,
        description: Option<String>,
    },

    #[error("The provider no longer accepts this grant's refresh token ({0}). Log in again to renew consent.")]
    NeedsReconsent(String),

    #[error("The provider rejected the client's credentials. Check the client ID, authentication method and secret.")]
    ClientRejected,

    #[error(
        "Could not reach {host}: {reason}. Check the network and try again; nothing was changed."
    )]
    Network { host: String, reason: String },

    #[error("The provider at {host} sent an answer Grantkeeper cannot use: {reason}. Nothing was changed; try again later.")]
    ProviderResponse { host: String, reason: String },
}

impl Error {
    /// A stable code the window switches on.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Config { .. } => "config_unreadable",
            Error::Metadata { .. } => "metadata_unreadable",
            Error::Write { .. } => "write_failed",
            Error::Invalid(_) => "invalid_input",
            Error::UnknownClient(_) => "unknown_client",
            Error::UnknownGrant(_) => "unknown_grant",
            Error::KeychainLocked => "keychain_locked",
            Error::KeychainTimeout(_) => "keychain_timeout",
            Error::KeychainUnavailable(_) => "keychain_unavailable",
            Error::SecretMissing(_) => "secret_missing",
            Error::BadCallback(_) => "bad_callback",
            Error::UnknownState => "unknown_state",
            Error::FlowExpired => "flow_expired",
            Error::ProviderDenied { .. } => "provider_denied",
            Error::NeedsReconsent(_) => "needs_reconsent",
            Error::ClientRejected => "client_rejected",
            Error::Network { .. } => "network",
            Error::ProviderResponse { .. } => "provider_response",
        }
    }

    /// True when the keychain could not be used (locked, slow or absent).
    pub fn is_keychain_unavailable(&self) -> bool {
        matches!(
            self,
            Error::KeychainLocked | Error::KeychainTimeout(_) | Error::KeychainUnavailable(_)
        )
    }
}

/// Provider-supplied text, made safe to show: printable characters only, at most 200 of them.
pub fn sanitize_provider_text(text: &str) -> String {
    let cleaned: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
    cleaned.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_text_is_stripped_of_control_characters_and_truncated() {
        let hostile = format!("bad\u{1b}[31m\n{}", "x".repeat(500));
        let clean = sanitize_provider_text(&hostile);
        assert!(!clean.chars().any(char::is_control));
        assert_eq!(clean.chars().count(), 200);
    }
}
