//! Cloudflare API v4 endpoints (`/client/v4/...`) and OAuth userinfo, authenticated by bearer token.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{header, HeaderMap, StatusCode, Uri},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{json, Value};

use crate::state::Shared;

/// Cloudflare's response envelope.
fn envelope(status: StatusCode, result: Value, extra: Option<(&str, Value)>) -> Response {
    let mut body = json!({"success": true, "errors": [], "messages": [], "result": result});
    if let Some((key, value)) = extra {
        body[key] = value;
    }
    (status, Json(body)).into_response()
}

fn failure(status: StatusCode, code: u32, message: &str) -> Response {
    let body = json!({
        "success": false,
        "errors": [{"code": code, "message": message}],
        "messages": [],
        "result": null,
    });
    (status, Json(body)).into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Why an API call was refused, in Cloudflare's codes.
enum Refused {
    Unauthenticated,
    MissingScope,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Self::Unauthenticated => {
                failure(StatusCode::UNAUTHORIZED, 10000, "Authentication error")
            }
            Self::MissingScope => failure(
                StatusCode::FORBIDDEN,
                9109,
                "Unauthorized to access requested resource",
            ),
        }
    }
}

/// Checks the bearer token is live and carries `scope`.
fn authorize(shared: &Shared, headers: &HeaderMap, scope: &str) -> Result<(), Refused> {
    let inner = shared.lock();
    let token = bearer(headers)
        .and_then(|t| inner.bearer(t))
        .ok_or(Refused::Unauthenticated)?;
    if token.scopes.iter().any(|s| s == scope) {
        Ok(())
    } else {
        Err(Refused::MissingScope)
    }
}

pub(crate) async fn user(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorize(&shared, &headers, "user-details.read") {
        return refused.into_response();
    }
    let user = &shared.config.user;
    let result = json!({
        "id": user.id,
        "email": user.email,
        "first_name": null,
        "last_name": null,
        "username": user.id,
        "telephone": null,
        "country": null,
        "zipcode": null,
        "two_factor_authentication_enabled": false,
        "suspended": false,
    });
    envelope(StatusCode::OK, result, None)
}

pub(crate) async fn accounts(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorize(&shared, &headers, "account.read") {
        return refused.into_response();
    }
    let accounts = &shared.config.accounts;
    let result: Vec<Value> = accounts
        .iter()
        .map(|a| json!({"id": a.id, "name": a.name, "type": "standard"}))
        .collect();
    let info =
        json!({"page": 1, "per_page": 20, "count": accounts.len(), "total_count": accounts.len()});
    envelope(StatusCode::OK, result.into(), Some(("result_info", info)))
}

const SCOPES: [(&str, &str, &str); 8] = [
    ("account.read", "Account Read", "Account"),
    ("user-details.read", "User Details Read", "User"),
    ("zone.read", "Zone Read", "Zone"),
    ("dns.read", "DNS Read", "DNS"),
    ("dns.write", "DNS Write", "DNS"),
    ("workers-scripts.read", "Workers Scripts Read", "Workers"),
    ("workers-scripts.write", "Workers Scripts Write", "Workers"),
    ("analytics.read", "Analytics Read", "Analytics"),
];

pub(crate) async fn scopes() -> Response {
    let result: Vec<Value> = SCOPES
        .iter()
        .map(|(id, name, category)| json!({"id": id, "name": name, "category": category}))
        .collect();
    envelope(StatusCode::OK, result.into(), None)
}

pub(crate) async fn userinfo(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let live = bearer(&headers).is_some_and(|t| shared.lock().bearer(t).is_some());
    if !live {
        let challenge = [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")];
        return (
            StatusCode::UNAUTHORIZED,
            challenge,
            Json(json!({"error": "invalid_token"})),
        )
            .into_response();
    }
    Json(json!({"sub": shared.config.user.id})).into_response()
}

pub(crate) async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    let base = &shared.base_url;
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/oauth2/auth"),
        "token_endpoint": format!("{base}/oauth2/token"),
        "revocation_endpoint": format!("{base}/oauth2/revoke"),
        "userinfo_endpoint": format!("{base}/oauth2/userinfo"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "scopes_supported": SCOPES
            .iter()
            .map(|(id, _, _)| *id)
            .chain(["offline_access", "openid"])
            .collect::<Vec<_>>(),
    }))
    .into_response()
}

/// Unknown paths answer like the API does, in the envelope.
pub(crate) async fn not_found(uri: Uri) -> Response {
    failure(
        StatusCode::NOT_FOUND,
        7003,
        &format!("No route for the URI {}", uri.path()),
    )
}
