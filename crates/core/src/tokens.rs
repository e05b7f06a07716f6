//! The keychain item of a grant: its access and refresh token together, so one write stores a
//! rotated pair atomically.

use crate::error::{Error, Result};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Stored {
    access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

#[derive(Debug, Clone)]
pub struct GrantTokens {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
}

impl GrantTokens {
    pub fn to_secret(&self) -> Secret {
        let stored = Stored {
            access_token: self.access_token.expose().to_string(),
            refresh_token: self.refresh_token.as_ref().map(|r| r.expose().to_string()),
        };
        Secret::new(serde_json::to_string(&stored).unwrap_or_default())
    }

    /// The parse error never includes the item's content.
    pub fn from_secret(secret: &Secret, grant_id: &str) -> Result<Self> {
        let stored: Stored = serde_json::from_str(secret.expose()).map_err(|_| {
            Error::KeychainUnavailable(format!(
                "the keychain item of grant {grant_id} is not in Grantkeeper's format"
            ))
        })?;
        Ok(Self {
            access_token: Secret::new(stored.access_token),
            refresh_token: stored.refresh_token.map(Secret::new),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_an_error_without_content() {
        let t = GrantTokens {
            access_token: Secret::new("acc"),
            refresh_token: Some(Secret::new("ref")),
        };
        let back = GrantTokens::from_secret(&t.to_secret(), "g").expect("round trip");
        assert_eq!(back.access_token.expose(), "acc");
        assert_eq!(back.refresh_token.as_ref().map(Secret::expose), Some("ref"));
        let err =
            GrantTokens::from_secret(&Secret::new("tok-12345 not json"), "g").expect_err("garbage");
        assert!(!err.to_string().contains("tok-12345"));
    }
}
