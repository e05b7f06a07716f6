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

    #[error("The provider refused the request ({error}{}). Try again, or check the client's settings.", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    ProviderDenied {
        error: String,
        description: Option<String>,
    },

    #[error("The provider no longer accepts this grant's refresh token ({0}). Log in again to renew consent.")]
    NeedsReconsent(String),

    #[error("The provider did not accept the authorization code (invalid_grant); it may have expired or been used. Log in again.")]
    CodeRejected,

    #[error("The keychain could not store the renewed tokens. Grantkeeper holds them in memory and stores them as soon as the keychain answers again: unlock it, then copy the token again (quitting Grantkeeper before that loses the grant).")]
    TokensHeldInMemory,

    #[error("The provider rejected the client's credentials. Check the client ID, authentication method and secret.")]
    ClientRejected,

    #[error(
        "Could not reach {host}: {reason}. Check the network and try again; nothing was changed."
    )]
    Network { host: String, reason: String },

    #[error("The provider at {host} sent an answer Grantkeeper cannot use: {reason}. Grantkeeper kept what it had; try again later.")]
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
            Error::CodeRejected => "code_rejected",
            Error::TokensHeldInMemory => "keychain_locked",
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

/// Provider-supplied text, made safe to show: no control or invisible formatting characters
/// (bidi overrides, zero-width), at most 200 characters.
pub fn sanitize_provider_text(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .filter(|c| !c.is_control() && !is_format_char(*c))
        .take(200)
        .collect();
    cleaned.trim().to_string()
}

/// Unicode "format" characters that change how text displays without being seen.
fn is_format_char(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// Provider text about a request we made: sanitised, with every secret we sent redacted, and
/// any long token-like run of characters hidden too (a provider may echo back credentials we
/// don't know by value).
pub fn provider_text(text: &str, sent: &[&str]) -> String {
    let mut out = text.to_string();
    for secret in sent.iter().filter(|s| s.len() >= 4) {
        out = out.replace(secret, "[redacted]");
    }
    let token_like = |w: &str| {
        w.len() >= 24
            && w.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '+' | '/' | '=')
            })
    };
    let words: Vec<String> = out
        .split(' ')
        .map(|w| {
            if token_like(w) {
                "[redacted]".to_string()
            } else {
                w.to_string()
            }
        })
        .collect();
    sanitize_provider_text(&words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_text_redacts_what_we_sent_and_anything_token_like() {
        let text = "bad token tok-abc123 and xYz0123456789abcdefghijKLMNOP_-.~ here";
        let shown = provider_text(text, &["tok-abc123"]);
        assert_eq!(shown, "bad token [redacted] and [redacted] here");
    }

    #[test]
    fn invisible_formatting_characters_are_removed() {
        assert_eq!(sanitize_provider_text("a\u{202E}b\u{200B}c"), "abc");
    }

    #[test]
    fn provider_text_is_stripped_of_control_characters_and_truncated() {
        let hostile = format!("bad\u{1b}[31m\n{}", "x".repeat(500));
        let clean = sanitize_provider_text(&hostile);
        assert!(!clean.chars().any(char::is_control));
        assert_eq!(clean.chars().count(), 200);
    }
}
