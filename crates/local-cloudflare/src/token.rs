//! Token endpoint (`POST /oauth2/token`), revocation (`POST /oauth2/revoke`) and client authentication.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use base64::{
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
    Engine as _,
};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::{
    config::{AuthMethod, ClientConfig, Config, GrantType},
    params::{form_decode, split_scopes, Params},
    state::{AuthorizationCode, Inner, IssuedTokens, Shared, TokenFault},
};

/// An OAuth error answer: JSON `{"error","error_description"}` (RFC 6749 §5.2).
pub(crate) struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    basic_challenge: bool,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
            basic_challenge: false,
        }
    }

    fn invalid_client(description: impl Into<String>, basic_challenge: bool) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            basic_challenge,
            ..Self::new("invalid_client", description)
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        let mut response = (self.status, no_store(), Json(body)).into_response();
        if self.basic_challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"local-cloudflare\""),
            );
        }
        response
    }
}

fn no_store() -> [(header::HeaderName, &'static str); 2] {
    [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ]
}

fn param<'a>(params: &'a Params, name: &str) -> Result<Option<&'a str>, OAuthError> {
    params
        .one(name)
        .map_err(|e| OAuthError::new("invalid_request", e))
}

fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, OAuthError> {
    param(params, name)?
        .ok_or_else(|| OAuthError::new("invalid_request", format!("{name} is missing")))
}

fn form_body(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Err(OAuthError::new(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    Ok(Params::parse(body))
}

/// Authenticates the client with the method it registered (RFC 6749 §2.3).
fn authenticate<'c>(
    config: &'c Config,
    headers: &HeaderMap,
    params: &Params,
) -> Result<&'c ClientConfig, OAuthError> {
    let basic =
        match headers.get(header::AUTHORIZATION) {
            None => None,
            Some(value) => {
                Some(value.to_str().ok().and_then(parse_basic).ok_or_else(|| {
                    OAuthError::invalid_client("malformed Basic credentials", true)
                })?)
            }
        };
    let used_basic = basic.is_some();
    let body_id = param(params, "client_id")?;
    let body_secret = param(params, "client_secret")?;
    let (client_id, secret, method) = match (basic, body_secret) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::new(
                "invalid_request",
                "use only one client authentication method",
            ))
        }
        (Some((id, secret)), None) => {
            if body_id.is_some_and(|b| b != id) {
                return Err(OAuthError::invalid_client(
                    "client_id differs from Basic credentials",
                    true,
                ));
            }
            (id, Some(secret), AuthMethod::ClientSecretBasic)
        }
        (None, Some(secret)) => {
            let id =
                body_id.ok_or_else(|| OAuthError::invalid_client("client_id is missing", false))?;
            (
                id.to_string(),
                Some(secret.to_string()),
                AuthMethod::ClientSecretPost,
            )
        }
        (None, None) => {
            let id = body_id.ok_or_else(|| {
                OAuthError::invalid_client("client authentication is missing", false)
            })?;
            (id.to_string(), None, AuthMethod::None)
        }
    };
    let client = config
        .client(&client_id)
        .ok_or_else(|| OAuthError::invalid_client("unknown client", used_basic))?;
    let challenge = used_basic || client.auth_method == AuthMethod::ClientSecretBasic;
    if client.auth_method != method {
        return Err(OAuthError::invalid_client(
            format!("this client must authenticate with {}", client.auth_method),
            challenge,
        ));
    }
    let secret_ok = match (&client.client_secret, &secret) {
        (Some(expected), Some(given)) => constant_time_eq(expected.as_bytes(), given.as_bytes()),
        (None, None) => true,
        _ => false,
    };
    if !secret_ok {
        return Err(OAuthError::invalid_client(
            "client authentication failed",
            challenge,
        ));
    }
    Ok(client)
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` → (id, secret).
fn parse_basic(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut inner = shared.lock();
    inner.stats.token_requests += 1;
    match std::mem::take(&mut inner.next_token_fault) {
        TokenFault::HtmlChallenge => return challenge_page(),
        TokenFault::ServerError => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error (injected fault)\n",
            )
                .into_response()
        }
        TokenFault::None => {}
    }
    let mut is_refresh = false;
    let result = form_body(&headers, &body).and_then(|params| {
        is_refresh = params.one("grant_type") == Ok(Some("refresh_token"));
        let client = authenticate(&shared.config, &headers, &params)?;
        match required(&params, "grant_type")? {
            "authorization_code" => exchange_code(&mut inner, &shared, client, &params),
            "refresh_token" => refresh(&mut inner, &shared, client, &params),
            other => Err(OAuthError::new(
                "unsupported_grant_type",
                format!("grant_type {other:?} is not supported"),
            )),
        }
    });
    result.unwrap_or_else(|err| {
        if is_refresh {
            inner.stats.refresh_failures += 1;
        }
        tracing::info!(error = err.error, description = %err.description, "token request refused");
        err.into_response()
    })
}

fn exchange_code(
    inner: &mut Inner,
    shared: &Shared,
    client: &ClientConfig,
    params: &Params,
) -> Result<Response, OAuthError> {
    let invalid_grant = |d: &str| OAuthError::new("invalid_grant", d);
    let code = required(params, "code")?;
    let redirect_uri = param(params, "redirect_uri")?;
    let verifier = required(params, "code_verifier")?;
    let now = inner.now();
    let entry = inner
        .codes
        .remove(code)
        .ok_or_else(|| invalid_grant("unknown or expired authorization code"))?;
    if let Some(grant_id) = entry.redeemed_by {
        inner.revoke_grant(grant_id);
        inner.codes.insert(code.to_string(), entry);
        return Err(invalid_grant(
            "authorization code was already used; its tokens are revoked",
        ));
    }
    if entry.expires_at <= now {
        return Err(invalid_grant("authorization code has expired"));
    }
    if entry.client_id != client.client_id {
        return Err(invalid_grant(
            "authorization code was issued to another client",
        ));
    }
    if redirect_uri != Some(entry.redirect_uri.as_str()) {
        return Err(invalid_grant(
            "redirect_uri differs from the authorization request",
        ));
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if !constant_time_eq(computed.as_bytes(), entry.code_challenge.as_bytes()) {
        return Err(invalid_grant("code_verifier does not match code_challenge"));
    }
    let scopes = entry.scopes.clone();
    let grant_id = inner.new_grant(&client.client_id, scopes.clone());
    inner.codes.insert(
        code.to_string(),
        AuthorizationCode {
            redeemed_by: Some(grant_id),
            ..entry
        },
    );
    inner.stats.authorization_code_grants += 1;
    tracing::info!(client_id = %client.client_id, grant_id, "authorization code exchanged");
    Ok(issue(inner, shared, client, grant_id, scopes))
}

fn refresh(
    inner: &mut Inner,
    shared: &Shared,
    client: &ClientConfig,
    params: &Params,
) -> Result<Response, OAuthError> {
    if !client.allows(GrantType::RefreshToken) {
        return Err(OAuthError::new(
            "unauthorized_client",
            "this client is not registered for the refresh_token grant",
        ));
    }
    let token = required(params, "refresh_token")?;
    let invalid_grant = || {
        OAuthError::new(
            "invalid_grant",
            "refresh token is invalid, used, or revoked",
        )
    };
    let grant_id = *inner.refresh_tokens.get(token).ok_or_else(invalid_grant)?;
    let grant = inner.grants.get(&grant_id).ok_or_else(invalid_grant)?;
    if grant.client_id != client.client_id {
        return Err(invalid_grant());
    }
    let scopes = match param(params, "scope")? {
        None => grant.scopes.clone(),
        Some(asked) => {
            let mut asked = split_scopes(asked);
            asked.retain(|s| s != "offline_access" && s != "openid");
            if let Some(extra) = asked.iter().find(|s| !grant.scopes.contains(s)) {
                return Err(OAuthError::new(
                    "invalid_scope",
                    format!("scope {extra} was not granted"),
                ));
            }
            asked
        }
    };
    inner.refresh_tokens.remove(token);
    inner.stats.refresh_grants += 1;
    tracing::info!(client_id = %client.client_id, grant_id, "refresh token rotated");
    Ok(issue(inner, shared, client, grant_id, scopes))
}

fn issue(
    inner: &mut Inner,
    shared: &Shared,
    client: &ClientConfig,
    grant_id: u64,
    scopes: Vec<String>,
) -> Response {
    let with_refresh = client.allows(GrantType::RefreshToken);
    let mut scope = scopes.join(" ");
    if with_refresh {
        scope.push_str(" offline_access");
    }
    let ttl = shared.access_ttl();
    let IssuedTokens {
        access_token,
        refresh_token,
    } = inner.issue_tokens(grant_id, &client.client_id, scopes, ttl, with_refresh);
    let mut body = json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": ttl.as_secs(),
        "scope": scope,
    });
    if let Some(refresh_token) = refresh_token {
        body["refresh_token"] = refresh_token.into();
    }
    (StatusCode::OK, no_store(), Json(body)).into_response()
}

/// What Cloudflare's bot protection answers instead of the API.
fn challenge_page() -> Response {
    let html = "<!DOCTYPE html><html lang=\"en-US\"><head><title>Just a moment...</title>\
        <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\"></head>\
        <body><div class=\"main-wrapper\" role=\"main\"><div class=\"main-content\">\
        <h1>Just a moment...</h1><p>Checking if the site connection is secure</p>\
        <noscript>Enable JavaScript and cookies to continue</noscript></div></div>\
        <p>Injected by the local Cloudflare-compatible server — not Cloudflare.</p></body></html>";
    (
        StatusCode::FORBIDDEN,
        [
            (header::CONTENT_TYPE, "text/html; charset=UTF-8"),
            (header::HeaderName::from_static("cf-mitigated"), "challenge"),
            (
                header::CACHE_CONTROL,
                "private, max-age=0, no-store, no-cache",
            ),
        ],
        html,
    )
        .into_response()
}

/// RFC 7009: 200 with an empty body for any token, known or not.
pub(crate) async fn revoke(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = form_body(&headers, &body).and_then(|params| {
        let client = authenticate(&shared.config, &headers, &params)?;
        let token = required(&params, "token")?;
        let mut inner = shared.lock();
        inner.stats.revocations += 1;
        let own_grant = inner.refresh_tokens.get(token).copied().filter(|id| {
            inner
                .grants
                .get(id)
                .is_some_and(|g| g.client_id == client.client_id)
        });
        if let Some(grant_id) = own_grant {
            inner.revoke_grant(grant_id);
            tracing::info!(client_id = %client.client_id, grant_id, "grant revoked");
        } else if inner
            .access_tokens
            .get(token)
            .is_some_and(|t| t.client_id == client.client_id)
        {
            inner.access_tokens.remove(token);
            tracing::info!(client_id = %client.client_id, "access token revoked");
        }
        Ok(StatusCode::OK.into_response())
    });
    result.unwrap_or_else(IntoResponse::into_response)
}
