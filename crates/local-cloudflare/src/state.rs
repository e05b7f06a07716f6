//! In-memory state shared by all handlers: pending consents, codes, grants, tokens, counters.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};

use crate::config::Config;

pub(crate) const CONSENT_TTL: Duration = Duration::from_secs(600);
pub(crate) const CODE_TTL: Duration = Duration::from_secs(60);

/// Request counters, served at `/_local/stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Successful `authorization_code` exchanges.
    pub authorization_code_grants: u64,
    /// Successful `refresh_token` exchanges.
    pub refresh_grants: u64,
    /// Failed `refresh_token` requests, whatever the reason.
    pub refresh_failures: u64,
    /// Revocation requests from authenticated clients.
    pub revocations: u64,
    /// Every request to the token endpoint, including failed and faulted ones.
    pub token_requests: u64,
}

/// What the next token-endpoint request answers instead of its normal response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenFault {
    /// Answer normally.
    #[default]
    None,
    /// `403` `text/html` "Just a moment..." page, like Cloudflare's bot challenge.
    HtmlChallenge,
    /// `500` with a plain-text body.
    ServerError,
}

pub(crate) struct PendingConsent {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub code_challenge: String,
    pub required_scopes: Vec<String>,
    pub optional_scopes: Vec<String>,
    pub expires_at: Instant,
}

pub(crate) struct AuthorizationCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub scopes: Vec<String>,
    pub expires_at: Instant,
    /// Set once exchanged; a second exchange revokes this grant.
    pub redeemed_by: Option<u64>,
}

/// One user approval of one client; refresh tokens rotate within it.
pub(crate) struct Grant {
    pub client_id: String,
    pub scopes: Vec<String>,
}

pub(crate) struct AccessToken {
    pub grant_id: u64,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub expires_at: Instant,
}

pub(crate) struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
}

pub(crate) struct Shared {
    pub config: Config,
    pub base_url: String,
    inner: Mutex<Inner>,
}

#[derive(Default)]
pub(crate) struct Inner {
    clock_offset: Duration,
    next_grant_id: u64,
    pub pending: HashMap<String, PendingConsent>,
    pub codes: HashMap<String, AuthorizationCode>,
    pub grants: HashMap<u64, Grant>,
    pub access_tokens: HashMap<String, AccessToken>,
    /// Only the current refresh token of each grant is here; rotated ones are gone.
    pub refresh_tokens: HashMap<String, u64>,
    pub stats: Stats,
    pub next_token_fault: TokenFault,
}

impl Shared {
    pub(crate) fn new(config: Config, base_url: String) -> Self {
        Self {
            config,
            base_url,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Handlers never await while holding this, and a panic elsewhere leaves data usable.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn access_ttl(&self) -> Duration {
        Duration::from_secs(self.config.access_ttl_secs)
    }
}

impl Inner {
    /// The server's clock; tests move it forward instead of sleeping.
    pub(crate) fn now(&self) -> Instant {
        Instant::now() + self.clock_offset
    }

    pub(crate) fn advance_clock(&mut self, by: Duration) {
        self.clock_offset += by;
    }

    pub(crate) fn new_grant(&mut self, client_id: &str, scopes: Vec<String>) -> u64 {
        self.next_grant_id += 1;
        let id = self.next_grant_id;
        let client_id = client_id.to_string();
        self.grants.insert(id, Grant { client_id, scopes });
        id
    }

    pub(crate) fn issue_tokens(
        &mut self,
        grant_id: u64,
        client_id: &str,
        scopes: Vec<String>,
        ttl: Duration,
        with_refresh: bool,
    ) -> IssuedTokens {
        let access_token = random_token();
        let expires_at = self.now() + ttl;
        self.access_tokens.insert(
            access_token.clone(),
            AccessToken {
                grant_id,
                client_id: client_id.to_string(),
                scopes,
                expires_at,
            },
        );
        let refresh_token = with_refresh.then(|| {
            let token = random_token();
            self.refresh_tokens.insert(token.clone(), grant_id);
            token
        });
        IssuedTokens {
            access_token,
            refresh_token,
        }
    }

    /// Ends a grant: its refresh token and every access token issued from it stop working.
    pub(crate) fn revoke_grant(&mut self, grant_id: u64) {
        self.grants.remove(&grant_id);
        self.refresh_tokens.retain(|_, g| *g != grant_id);
        self.access_tokens.retain(|_, t| t.grant_id != grant_id);
    }

    /// A live access token, if `token` is one.
    pub(crate) fn bearer(&self, token: &str) -> Option<&AccessToken> {
        let now = self.now();
        self.access_tokens.get(token).filter(|t| t.expires_at > now)
    }

    /// Drops expired consents, codes and access tokens so memory stays bounded.
    pub(crate) fn purge_expired(&mut self) {
        let now = self.now();
        self.pending.retain(|_, p| p.expires_at > now);
        self.codes.retain(|_, c| c.expires_at > now);
        self.access_tokens.retain(|_, t| t.expires_at > now);
    }
}

/// 256 random bits, base64url without padding.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}
