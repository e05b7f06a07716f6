//! Authorization endpoint (`GET /oauth2/auth`) and the consent decision (`POST /oauth2/auth/decision`).

use std::{sync::Arc, time::Instant};

use axum::{
    body::Bytes,
    extract::{RawQuery, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
};

use crate::{
    config::GrantType,
    html::{error_page, escape, page},
    params::{split_scopes, Params},
    state::{random_token, AuthorizationCode, PendingConsent, Shared, CODE_TTL, CONSENT_TTL},
};

/// Scopes Cloudflare adds itself from the client's grant types; accepted and ignored when asked for.
const IMPLIED_SCOPES: [&str; 2] = ["offline_access", "openid"];

/// Why an authorization request was refused.
enum Refusal {
    /// Client or redirect URI can't be trusted: show a page, never redirect (RFC 6749 §4.1.2.1).
    Page(String),
    /// Send the error back to the (verified) redirect URI.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: String,
    },
}

pub(crate) async fn authorize(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let mut inner = shared.lock();
    inner.purge_expired();
    let expires_at = inner.now() + CONSENT_TTL;
    let pending = match check_request(&shared, &params, expires_at) {
        Ok(pending) => pending,
        Err(Refusal::Page(message)) => return error_page(&message),
        Err(Refusal::Redirect {
            redirect_uri,
            state,
            error,
            description,
        }) => {
            tracing::info!(error, %description, "authorization request refused");
            let mut pairs = vec![("error", error), ("error_description", &description)];
            pairs.extend(state.as_deref().map(|s| ("state", s)));
            return redirect(StatusCode::FOUND, &redirect_uri, &pairs);
        }
    };
    let consent_id = random_token();
    let body = consent_body(&consent_id, &pending, &shared.config.user.email);
    inner.pending.insert(consent_id, pending);
    page(StatusCode::OK, "Authorize application", &body)
}

fn check_request(
    shared: &Shared,
    params: &Params,
    expires_at: Instant,
) -> Result<PendingConsent, Refusal> {
    let client_id = params
        .one("client_id")
        .map_err(Refusal::Page)?
        .ok_or_else(|| Refusal::Page("The request has no client_id.".into()))?;
    let client = shared
        .config
        .client(client_id)
        .ok_or_else(|| Refusal::Page(format!("Unknown client_id {client_id:?}.")))?;
    let redirect_uri = params
        .one("redirect_uri")
        .map_err(Refusal::Page)?
        .ok_or_else(|| Refusal::Page("The request has no redirect_uri.".into()))?;
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err(Refusal::Page(format!(
            "redirect_uri {redirect_uri:?} is not registered for client {client_id:?} \
             (redirect URIs must match exactly, port included)."
        )));
    }
    let state = params.one("state").ok().flatten().map(str::to_string);
    let refuse = |error: &'static str, description: String| Refusal::Redirect {
        redirect_uri: redirect_uri.to_string(),
        state: state.clone(),
        error,
        description,
    };
    let invalid = |description: String| refuse("invalid_request", description);
    params.one("state").map_err(invalid)?;

    match params.one("response_type").map_err(invalid)? {
        Some("code") => {}
        Some(other) => {
            return Err(refuse(
                "unsupported_response_type",
                format!("response_type {other:?} is not supported; use code"),
            ))
        }
        None => return Err(invalid("response_type is missing".into())),
    }
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(refuse(
            "unauthorized_client",
            "client may not use the authorization code grant".into(),
        ));
    }
    let challenge = params
        .one("code_challenge")
        .map_err(invalid)?
        .ok_or_else(|| invalid("PKCE is required: code_challenge is missing".into()))?;
    match params.one("code_challenge_method").map_err(invalid)? {
        Some("S256") => {}
        Some(other) => {
            return Err(invalid(format!(
                "code_challenge_method {other:?} is not supported; use S256"
            )))
        }
        None => return Err(invalid("code_challenge_method=S256 is required".into())),
    }
    let well_formed = challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(invalid(
            "code_challenge must be BASE64URL(SHA256(code_verifier)) without padding".into(),
        ));
    }

    let requested = params.one("scope").map_err(invalid)?.unwrap_or_default();
    let mut scopes = split_scopes(requested);
    scopes.retain(|s| !IMPLIED_SCOPES.contains(&s.as_str()));
    if scopes.is_empty() {
        return Err(refuse("invalid_scope", "no scope was requested".into()));
    }
    if let Some(s) = scopes.iter().find(|s| !client.scopes.contains(s)) {
        return Err(refuse(
            "invalid_scope",
            format!("scope {s} is not allowed for this client"),
        ));
    }
    let (optional_scopes, required_scopes) = scopes
        .into_iter()
        .partition(|s| client.optional_scopes.contains(s));
    Ok(PendingConsent {
        client_id: client_id.to_string(),
        redirect_uri: redirect_uri.to_string(),
        state,
        code_challenge: challenge.to_string(),
        required_scopes,
        optional_scopes,
        expires_at,
    })
}

fn consent_body(consent_id: &str, pending: &PendingConsent, email: &str) -> String {
    let mut items = String::new();
    for scope in &pending.required_scopes {
        items.push_str(&format!("<li>{}</li>\n", escape(scope)));
    }
    for scope in &pending.optional_scopes {
        let scope = escape(scope);
        items.push_str(&format!(
            "<li><label><input type=\"checkbox\" name=\"optional_scope\" value=\"{scope}\" checked> \
             {scope} <span class=\"optional\">(optional)</span></label></li>\n"
        ));
    }
    format!(
        "<h1>Authorize application</h1>\n\
         <p><strong>{client}</strong> wants to access your account <strong>{email}</strong> with these permissions:</p>\n\
         <form method=\"post\" action=\"/oauth2/auth/decision\">\n\
         <input type=\"hidden\" name=\"consent\" value=\"{consent}\">\n<ul>\n{items}</ul>\n\
         <button name=\"decision\" value=\"approve\">Approve</button>\n\
         <button name=\"decision\" value=\"deny\">Deny</button>\n</form>",
        client = escape(&pending.client_id),
        email = escape(email),
        consent = escape(consent_id),
    )
}

pub(crate) async fn decide(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let params = Params::parse(&body);
    let Ok(Some(consent_id)) = params.one("consent") else {
        return error_page("The form has no consent id.");
    };
    let mut inner = shared.lock();
    let now = inner.now();
    let Some(pending) = inner.pending.remove(consent_id) else {
        return error_page("This consent request is unknown or was already answered.");
    };
    if pending.expires_at <= now {
        return error_page(
            "This consent request has expired (10 minutes). Start again from the application.",
        );
    }
    let state = pending.state.as_deref();
    match params.one("decision") {
        Ok(Some("approve")) => {
            let checked: Vec<&str> = params.all("optional_scope").collect();
            let mut scopes = pending.required_scopes.clone();
            scopes.extend(
                pending
                    .optional_scopes
                    .iter()
                    .filter(|s| checked.contains(&s.as_str()))
                    .cloned(),
            );
            let code = random_token();
            inner.codes.insert(
                code.clone(),
                AuthorizationCode {
                    client_id: pending.client_id.clone(),
                    redirect_uri: pending.redirect_uri.clone(),
                    code_challenge: pending.code_challenge.clone(),
                    scopes,
                    expires_at: now + CODE_TTL,
                    redeemed_by: None,
                },
            );
            tracing::info!(client_id = %pending.client_id, "consent approved, code issued");
            let mut pairs = vec![("code", code.as_str())];
            pairs.extend(state.map(|s| ("state", s)));
            redirect(StatusCode::SEE_OTHER, &pending.redirect_uri, &pairs)
        }
        Ok(Some("deny")) => {
            tracing::info!(client_id = %pending.client_id, "consent denied");
            let mut pairs = vec![
                ("error", "access_denied"),
                ("error_description", "The user denied the request"),
            ];
            pairs.extend(state.map(|s| ("state", s)));
            redirect(StatusCode::SEE_OTHER, &pending.redirect_uri, &pairs)
        }
        _ => error_page("The form has no valid decision (approve or deny)."),
    }
}

/// Redirects to a registered URI with `pairs` added to its query (works for custom schemes too).
fn redirect(status: StatusCode, redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return error_page("The registered redirect_uri is not a valid URL.");
    };
    url.query_pairs_mut().extend_pairs(pairs);
    (
        status,
        [
            (header::LOCATION, url.as_str()),
            (header::CACHE_CONTROL, "no-store"),
        ],
    )
        .into_response()
}
