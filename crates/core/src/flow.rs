//! The parts of a login that need no I/O: fresh state and verifier, and reading the callback.

use crate::error::{sanitize_provider_text, Error, Result};
use crate::secret::Secret;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A pending login lives this long (the issue: 10 minutes).
pub const FLOW_LIFETIME_MINUTES: i64 = 10;

/// 256 random bits, base64url: used for `state` (≥128 bits required) and the PKCE verifier
/// (43 characters, within RFC 7636's 43–128).
pub fn random_token() -> Secret {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Secret::new(URL_SAFE_NO_PAD.encode(bytes))
}

/// What pending flows are filed under: a hash, so the state itself is never written down.
pub fn state_hash(state: &str) -> String {
    let digest = Sha256::digest(state.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a callback URL says.
#[derive(Debug, PartialEq, Eq)]
pub enum Callback {
    Code {
        code: Secret,
        state: Secret,
    },
    Error {
        error: String,
        description: Option<String>,
        state: Option<Secret>,
    },
}

/// Parses `grantkeeper://oauth/callback?code=…&state=…` (or the loopback equivalent).
/// Duplicate parameters are refused: a URL with two `state`s or `code`s is not from the provider.
pub fn parse_callback(url: &str) -> Result<Callback> {
    if url.len() > 8192 {
        return Err(Error::BadCallback("the URL is too long".into()));
    }
    let parsed = url::Url::parse(url).map_err(|_| Error::BadCallback("it is not a URL".into()))?;
    let mut code = None;
    let mut state = None;
    let mut error = None;
    let mut description = None;
    for (key, value) in parsed.query_pairs() {
        let slot = match key.as_ref() {
            "code" => &mut code,
            "state" => &mut state,
            "error" => &mut error,
            "error_description" => &mut description,
            _ => continue,
        };
        if slot.is_some() {
            return Err(Error::BadCallback(format!(
                "the parameter \"{key}\" appears twice"
            )));
        }
        *slot = Some(value.into_owned());
    }
    let state = state.filter(|s| !s.is_empty()).map(Secret::new);
    if let Some(error) = error {
        return Ok(Callback::Error {
            error: sanitize_provider_text(&error),
            description: description.map(|d| sanitize_provider_text(&d)),
            state,
        });
    }
    match (code.filter(|c| !c.is_empty()), state) {
        (Some(code), Some(state)) => Ok(Callback::Code {
            code: Secret::new(code),
            state,
        }),
        (None, _) => Err(Error::BadCallback(
            "it carries no authorization code".into(),
        )),
        (_, None) => Err(Error::BadCallback("it carries no state".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_tokens_have_256_bits_and_differ() {
        let a = random_token();
        let b = random_token();
        assert_eq!(a.expose().len(), 43, "32 bytes base64url without padding");
        assert_ne!(a, b);
    }

    #[test]
    fn callbacks_are_parsed_with_percent_encoding_intact() {
        let cb =
            parse_callback("grantkeeper://oauth/callback?code=a%2Bb%3D&state=s1").expect("parse");
        assert_eq!(
            cb,
            Callback::Code {
                code: Secret::new("a+b="),
                state: Secret::new("s1")
            }
        );
    }

    #[test]
    fn provider_errors_are_reported_with_their_description() {
        let cb = parse_callback(
            "grantkeeper://oauth/callback?error=access_denied&error_description=User+said+no&state=s",
        )
        .expect("parse");
        assert_eq!(
            cb,
            Callback::Error {
                error: "access_denied".into(),
                description: Some("User said no".into()),
                state: Some(Secret::new("s")),
            }
        );
    }

    #[test]
    fn malformed_callbacks_are_refused() {
        for bad in [
            "not a url",
            "grantkeeper://oauth/callback",
            "grantkeeper://oauth/callback?code=x",
            "grantkeeper://oauth/callback?state=x",
            "grantkeeper://oauth/callback?code=x&state=a&state=b",
        ] {
            let err = parse_callback(bad).expect_err(bad);
            assert_eq!(err.code(), "bad_callback", "{bad}");
        }
    }

    #[test]
    fn state_hash_is_sha256_hex() {
        assert_eq!(
            state_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
