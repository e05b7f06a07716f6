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

/// Most of a provider's text shown to the user.
const MAX_PROVIDER_TEXT_CHARS: usize = 200;

/// Provider-supplied text, made safe to show: no control or invisible formatting characters
/// (bidi overrides, zero-width), at most 200 characters.
pub fn sanitize_provider_text(text: &str) -> String {
    truncate(&strip_invisible(text))
}

fn strip_invisible(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() && !is_invisible(*c))
        .collect()
}

fn truncate(text: &str) -> String {
    let cut: String = text.chars().take(MAX_PROVIDER_TEXT_CHARS).collect();
    cut.trim().to_string()
}

/// Characters that change how text displays without being seen: Unicode's format characters
/// (category Cf: bidi controls, zero-width, tags), line and paragraph separators, and the
/// fillers and joiners that render as nothing.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{0600}'..='\u{0605}' | '\u{061C}' | '\u{06DD}' | '\u{070F}'
        | '\u{0890}'..='\u{0891}' | '\u{08E2}' | '\u{115F}'..='\u{1160}' | '\u{17B4}'..='\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{FFF9}'..='\u{FFFB}' | '\u{110BD}' | '\u{110CD}' | '\u{13430}'..='\u{1343F}'
        | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// The forms in which a value we sent may come back: as sent, and form- or percent-encoded (with
/// upper- or lower-case hex), as a provider that echoes its request body would show it.
fn echoed_forms(secret: &str) -> Vec<String> {
    let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    // RFC 3986: everything but the unreserved characters as %XX.
    let percent: String = secret
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let lower_hex = |s: &str| {
        let mut out = String::with_capacity(s.len());
        let mut hex_left = 0;
        for c in s.chars() {
            if c == '%' {
                hex_left = 2;
                out.push(c);
            } else if hex_left > 0 {
                hex_left -= 1;
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    };
    let mut forms = vec![
        secret.to_string(),
        lower_hex(&form),
        lower_hex(&percent),
        form,
        percent,
    ];
    // Longest first, so a longer form is not left half-replaced by a shorter one.
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms.dedup();
    forms
}

/// A character of a token, or of one echoed in a form body.
fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '+' | '/' | '=' | '%' | '&')
}

/// Hides every run of 24 or more token characters: a provider may echo back credentials we
/// don't know by value.
fn redact_token_runs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.chars().count() >= 24 {
            out.push_str("[redacted]");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if token_char(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Provider text about a request we made: sanitised, with every secret we sent redacted in any
/// form it may come back in, and any long token-like run of characters hidden too. Invisible
/// characters go first, so one hidden inside a token cannot shield it.
pub fn provider_text(text: &str, sent: &[&str]) -> String {
    let mut out = strip_invisible(text);
    for secret in sent.iter().filter(|s| s.len() >= 4) {
        for form in echoed_forms(secret) {
            out = out.replace(&form, "[redacted]");
        }
    }
    truncate(&redact_token_runs(&out))
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
    fn a_secret_echoed_form_encoded_or_split_by_invisible_characters_is_redacted() {
        let code = "4/0A+b=c d~";
        for echoed in [
            "body: grant_type=authorization_code&code=4%2F0A%2Bb%3Dc+d~&x=1",
            "code 4%2f0A%2bb%3dc%20d~",
            "code 4%2F0A%2Bb%3Dc+d%7E",
            "code 4/0A+b\u{200B}=c d~ refused",
        ] {
            let shown = provider_text(echoed, &[code]);
            assert!(!shown.contains("0A"), "{echoed:?} shows as {shown:?}");
        }
        let token = "ref+abc/def==";
        let shown = provider_text(
            "bad request body: refresh_token=ref%2Babc%2Fdef%3D%3D",
            &[token],
        );
        assert_eq!(shown, "bad request body: refresh_token=[redacted]");
    }

    #[test]
    fn long_token_like_runs_are_hidden_inside_other_text() {
        let shown = provider_text(
            "got \"grant_type=refresh_token&refresh_token=abc\" here",
            &[],
        );
        assert_eq!(shown, "got \"[redacted]\" here");
    }

    #[test]
    fn invisible_formatting_characters_are_removed() {
        assert_eq!(sanitize_provider_text("a\u{202E}b\u{200B}c"), "abc");
        assert_eq!(
            sanitize_provider_text("a\u{2028}b\u{E0041}c\u{034F}d\u{3164}e\u{FFF9}f\u{1D173}g"),
            "abcdefg"
        );
    }

    #[test]
    fn provider_text_is_stripped_of_control_characters_and_truncated() {
        let hostile = format!("bad\u{1b}[31m\n{}", "x".repeat(500));
        let clean = sanitize_provider_text(&hostile);
        assert!(!clean.chars().any(char::is_control));
        assert_eq!(clean.chars().count(), 200);
    }
}
