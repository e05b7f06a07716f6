//! A token response read leniently. After a refresh the provider has already retired the old
//! refresh token, so a response with a usable access token must not be thrown away over a
//! malformed side field (`expires_in` as a string, a `scope` array, no `token_type`): that would
//! lose the grant. Only `access_token` is required; odd fields are read conservatively.

use oauth2::basic::BasicTokenType;
use oauth2::{AccessToken, RefreshToken, Scope, TokenResponse};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::time::Duration;

#[derive(Debug, Serialize, Deserialize)]
pub struct LenientTokenResponse {
    access_token: AccessToken,
    #[serde(default = "bearer", deserialize_with = "token_type")]
    token_type: BasicTokenType,
    /// `None`: not given (RFC 6749 allows that). A value that is not a non-negative number reads
    /// as 0, so the token counts as expired and is refreshed before its next use.
    #[serde(default, deserialize_with = "expires_in")]
    expires_in: Option<u64>,
    #[serde(default, deserialize_with = "refresh_token")]
    refresh_token: Option<RefreshToken>,
    #[serde(default, deserialize_with = "scope")]
    scope: Option<Vec<Scope>>,
}

fn bearer() -> BasicTokenType {
    BasicTokenType::Bearer
}

fn token_type<'de, D: Deserializer<'de>>(d: D) -> Result<BasicTokenType, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) if !s.eq_ignore_ascii_case("bearer") => BasicTokenType::Extension(s),
        _ => BasicTokenType::Bearer,
    })
}

fn expires_in<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let seconds = |f: f64| {
        if f.is_finite() && f > 0.0 {
            f.min(u64::MAX as f64) as u64
        } else {
            0
        }
    };
    Ok(match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(
            n.as_u64()
                .unwrap_or_else(|| seconds(n.as_f64().unwrap_or(0.0))),
        ),
        Some(Value::String(s)) => Some(s.trim().parse::<f64>().map(seconds).unwrap_or(0)),
        Some(_) => Some(0),
    })
}

fn refresh_token<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RefreshToken>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) if !s.is_empty() => Some(RefreshToken::new(s)),
        _ => None,
    })
}

fn scope<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Scope>>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => {
            Some(s.split_whitespace().map(|s| Scope::new(s.into())).collect())
        }
        Some(Value::Array(items)) => Some(
            items
                .into_iter()
                .filter_map(|v| v.as_str().map(|s| Scope::new(s.into())))
                .collect(),
        ),
        _ => None,
    })
}

impl TokenResponse for LenientTokenResponse {
    type TokenType = BasicTokenType;

    fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    fn token_type(&self) -> &BasicTokenType {
        &self.token_type
    }

    fn expires_in(&self) -> Option<Duration> {
        self.expires_in.map(Duration::from_secs)
    }

    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }

    fn scopes(&self) -> Option<&Vec<Scope>> {
        self.scope.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> LenientTokenResponse {
        serde_json::from_str(json).expect("lenient parse")
    }

    #[test]
    fn odd_side_fields_do_not_lose_the_tokens() {
        for (json, expires) in [
            (
                r#"{"access_token":"a","refresh_token":"r","expires_in":"3600"}"#,
                Some(3600),
            ),
            (
                r#"{"access_token":"a","refresh_token":"r","expires_in":3600.5}"#,
                Some(3600),
            ),
            (
                r#"{"access_token":"a","refresh_token":"r","expires_in":-1}"#,
                Some(0),
            ),
            (
                r#"{"access_token":"a","refresh_token":"r","expires_in":"soon"}"#,
                Some(0),
            ),
            (
                r#"{"access_token":"a","refresh_token":"r","expires_in":{}}"#,
                Some(0),
            ),
            (r#"{"access_token":"a","refresh_token":"r"}"#, None),
        ] {
            let r = parse(json);
            assert_eq!(r.access_token().secret(), "a", "{json}");
            assert_eq!(
                r.refresh_token().map(|t| t.secret().as_str()),
                Some("r"),
                "{json}"
            );
            assert_eq!(r.expires_in().map(|d| d.as_secs()), expires, "{json}");
        }
    }

    #[test]
    fn scope_may_be_a_string_or_an_array() {
        let s = |r: LenientTokenResponse| {
            r.scopes()
                .map(|v| v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        assert_eq!(
            s(parse(
                r#"{"access_token":"a","scope":"dns.read zone.read"}"#
            )),
            Some(vec!["dns.read".into(), "zone.read".into()])
        );
        assert_eq!(
            s(parse(r#"{"access_token":"a","scope":["dns.read",3]}"#)),
            Some(vec!["dns.read".into()])
        );
        assert_eq!(s(parse(r#"{"access_token":"a","scope":null}"#)), None);
    }

    #[test]
    fn a_response_without_an_access_token_is_still_refused() {
        assert!(serde_json::from_str::<LenientTokenResponse>(r#"{"refresh_token":"r"}"#).is_err());
        assert!(serde_json::from_str::<LenientTokenResponse>(r#"{"access_token":5}"#).is_err());
    }
}
