//! Talking to the provider: code exchange, refresh, revocation and identity. oauth2-rs does the
//! token endpoint; its secret types are converted into [`Secret`] right here at the border.

use crate::config::{AuthMethod, ClientConfig};
use crate::error::{provider_text, sanitize_provider_text, Error, Result};
use crate::secret::Secret;
use crate::token_response::LenientTokenResponse;
use chrono::{DateTime, Duration, Utc};
use oauth2::basic::{
    BasicErrorResponse, BasicErrorResponseType, BasicRevocationErrorResponse,
    BasicTokenIntrospectionResponse,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, EndpointNotSet, EndpointSet,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope, StandardRevocableToken,
    TokenResponse, TokenUrl,
};
use serde::Deserialize;
use std::time::Duration as StdDuration;

/// oauth2's basic client, but reading token responses leniently (see `token_response.rs`).
type Client = oauth2::Client<
    BasicErrorResponse,
    LenientTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

type UnsetClient = oauth2::Client<
    BasicErrorResponse,
    LenientTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
>;

/// Which token request failed: the same provider error means different things to the user.
#[derive(Clone, Copy)]
enum Request {
    Exchange,
    Refresh,
}

/// Longest access-token lifetime we believe; a hostile or broken `expires_in` is clamped.
const MAX_TOKEN_LIFETIME_DAYS: i64 = 365;

/// The HTTP client for every provider call: bounded time, no redirects (a token endpoint that
/// redirects is not followed, against SSRF and credential leaks).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(StdDuration::from_secs(10))
        .timeout(StdDuration::from_secs(30))
        .user_agent(concat!("Grantkeeper/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// Most of a provider's answer we read: token responses and API envelopes are a few KB, and a
/// hostile or broken endpoint must not fill memory.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;

const TOO_LARGE: &str = "the answer is larger than 256 KiB, far more than any OAuth response";

enum BodyError {
    Transport(reqwest::Error),
    TooLarge,
}

/// Reads a body, refusing one larger than [`MAX_RESPONSE_BYTES`] before it is all in memory.
async fn bounded_body(response: &mut reqwest::Response) -> std::result::Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// oauth2's HTTP client for token requests: reqwest, with the body size bounded.
async fn bounded_call(
    http: &reqwest::Client,
    request: oauth2::HttpRequest,
) -> std::result::Result<oauth2::HttpResponse, oauth2::HttpClientError<reqwest::Error>> {
    let request: reqwest::Request = request.try_into().map_err(Box::new)?;
    let mut response = http.execute(request).await.map_err(Box::new)?;
    let mut builder = oauth2::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let body = match bounded_body(&mut response).await {
        Ok(body) => body,
        Err(BodyError::Transport(e)) => return Err(Box::new(e).into()),
        Err(BodyError::TooLarge) => return Err(oauth2::HttpClientError::Other(TOO_LARGE.into())),
    };
    builder.body(body).map_err(oauth2::HttpClientError::Http)
}

/// oauth2's HTTP client for token requests (see [`bounded_call`]).
struct BoundedHttp<'a>(&'a reqwest::Client);

impl<'c> oauth2::AsyncHttpClient<'c> for BoundedHttp<'_> {
    type Error = oauth2::HttpClientError<reqwest::Error>;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = std::result::Result<oauth2::HttpResponse, Self::Error>>
                + Send
                + 'c,
        >,
    >;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(bounded_call(self.0, request))
    }
}

/// Reads a JSON answer (identity calls) with the body size bounded.
async fn bounded_json<T: serde::de::DeserializeOwned>(
    mut response: reqwest::Response,
) -> Option<T> {
    let body = bounded_body(&mut response).await.ok()?;
    serde_json::from_slice(&body).ok()
}

/// Tokens as the provider issued them, already in our own types.
#[derive(Debug)]
pub struct IssuedTokens {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    /// `None` when the response carried no `scope` (RFC 6749 §5.1: then it equals the request).
    pub granted_scopes: Option<Vec<String>>,
    pub expires_at: Option<DateTime<Utc>>,
}

fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| {
                u.port()
                    .map(|p| format!("{h}:{p}"))
                    .unwrap_or(h.to_string())
            })
        })
        .unwrap_or_else(|| "the provider".into())
}

fn oauth_client(client: &ClientConfig, secret: Option<&Secret>) -> Result<Client> {
    let invalid = |what: &str, e: url::ParseError| {
        Error::Invalid(format!("The {what} URL is not valid: {e}"))
    };
    let mut c = UnsetClient::new(ClientId::new(client.client_id.clone()))
        .set_auth_uri(
            AuthUrl::new(client.endpoints.authorize_url.clone())
                .map_err(|e| invalid("authorization", e))?,
        )
        .set_token_uri(
            TokenUrl::new(client.endpoints.token_url.clone()).map_err(|e| invalid("token", e))?,
        )
        .set_redirect_uri(
            RedirectUrl::new(client.redirect_uri.clone()).map_err(|e| invalid("redirect", e))?,
        )
        .set_auth_type(match client.auth_method {
            AuthMethod::ClientSecretBasic => AuthType::BasicAuth,
            AuthMethod::None | AuthMethod::ClientSecretPost => AuthType::RequestBody,
        });
    if client.auth_method.needs_secret() {
        let secret =
            secret.ok_or_else(|| Error::SecretMissing(format!("client \"{}\"", client.name)))?;
        c = c.set_client_secret(ClientSecret::new(secret.expose().to_string()));
    }
    Ok(c)
}

/// The authorization URL with PKCE S256, state and scopes.
pub fn authorization_url(
    client: &ClientConfig,
    state: &Secret,
    verifier: &Secret,
) -> Result<url::Url> {
    let challenge = oauth2::PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
        verifier.expose().to_string(),
    ));
    let c = oauth_client(client, None).or_else(|e| match e {
        // Building the URL needs no secret; skip the secret check.
        Error::SecretMissing(_) => {
            let mut public = client.clone();
            public.auth_method = AuthMethod::None;
            oauth_client(&public, None)
        }
        other => Err(other),
    })?;
    let state = state.expose().to_string();
    let (url, _) = c
        .authorize_url(move || oauth2::CsrfToken::new(state))
        .add_scopes(client.scopes.iter().cloned().map(Scope::new))
        .set_pkce_challenge(challenge)
        .url();
    Ok(url)
}

type TokenError = RequestTokenError<
    oauth2::HttpClientError<reqwest::Error>,
    oauth2::StandardErrorResponse<BasicErrorResponseType>,
>;

/// Maps a failed token request to what the user needs to know. Provider text is sanitised and
/// anything the app sent (code, verifier, refresh token, client secret) is redacted from it: a
/// hostile or careless provider may echo it back. Bodies that are not OAuth errors are never
/// copied.
fn map_token_error(err: TokenError, token_url: &str, request: Request, sent: &[&str]) -> Error {
    let host = host_of(token_url);
    match err {
        RequestTokenError::ServerResponse(resp) => {
            let description = resp.error_description().map(|d| provider_text(d, sent));
            match (resp.error(), request) {
                (BasicErrorResponseType::InvalidGrant, Request::Refresh) => {
                    Error::NeedsReconsent(description.unwrap_or_else(|| "invalid_grant".into()))
                }
                (BasicErrorResponseType::InvalidGrant, Request::Exchange) => Error::CodeRejected,
                (
                    BasicErrorResponseType::InvalidClient
                    | BasicErrorResponseType::UnauthorizedClient,
                    _,
                ) => Error::ClientRejected,
                (other, _) => Error::ProviderDenied {
                    error: provider_text(other.as_ref(), sent),
                    description,
                },
            }
        }
        RequestTokenError::Request(oauth2::HttpClientError::Other(reason)) => {
            Error::ProviderResponse { host, reason }
        }
        RequestTokenError::Request(e) => Error::Network {
            host,
            reason: describe_transport_error(&e),
        },
        RequestTokenError::Parse(_, body) => Error::ProviderResponse {
            host,
            reason: if looks_like_html(&body) {
                "the token endpoint answered with a web page instead of JSON (possibly a bot challenge)".into()
            } else {
                "the token response is not valid OAuth JSON".into()
            },
        },
        RequestTokenError::Other(msg) => {
            let lower = msg.to_lowercase();
            Error::ProviderResponse {
                host,
                reason: if lower.contains("content-type") {
                    "the token endpoint answered with a web page instead of JSON (possibly a bot challenge)".into()
                } else if lower.contains("empty error response") {
                    "the token endpoint answered with an error status and no body (a redirect, or a proxy in the way); check the token URL".into()
                } else {
                    provider_text(&msg, sent)
                },
            }
        }
    }
}

fn looks_like_html(body: &[u8]) -> bool {
    let start: Vec<u8> = body
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take(1)
        .copied()
        .collect();
    start == b"<"
}

fn describe_transport_error(e: &oauth2::HttpClientError<reqwest::Error>) -> String {
    match e {
        oauth2::HttpClientError::Reqwest(inner) => describe_reqwest_error(inner),
        other => other.to_string(),
    }
}

/// reqwest's Display includes the URL; ours must not (URLs can carry codes). Say what failed.
pub fn describe_reqwest_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "the request timed out".into()
    } else if e.is_connect() {
        "the connection was refused or failed".into()
    } else if e.is_decode() || e.is_body() {
        "the answer could not be read".into()
    } else if e.is_redirect() {
        "the server answered with a redirect".into()
    } else {
        "the request failed".into()
    }
}

fn into_issued(resp: LenientTokenResponse, now: DateTime<Utc>, host: &str) -> Result<IssuedTokens> {
    let access = resp.access_token().secret();
    if access.is_empty() || access.chars().any(|c| c.is_control() || c == ' ') {
        return Err(Error::ProviderResponse {
            host: host.into(),
            reason: "the access token in the response is empty or malformed".into(),
        });
    }
    let expires_at = resp.expires_in().map(|d| {
        let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        now + Duration::seconds(secs.min(MAX_TOKEN_LIFETIME_DAYS * 86_400))
    });
    Ok(IssuedTokens {
        access_token: Secret::new(access.clone()),
        refresh_token: resp
            .refresh_token()
            .map(|r| Secret::new(r.secret().clone()))
            .filter(|r| !r.is_empty()),
        granted_scopes: resp
            .scopes()
            .map(|s| s.iter().map(|s| s.to_string()).collect()),
        expires_at,
    })
}

pub async fn exchange_code(
    http: &reqwest::Client,
    client: &ClientConfig,
    secret: Option<&Secret>,
    code: &str,
    verifier: &Secret,
    now: DateTime<Utc>,
) -> Result<IssuedTokens> {
    let c = oauth_client(client, secret)?;
    let resp = c
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose().to_string()))
        .request_async(&BoundedHttp(http))
        .await
        .map_err(|e| {
            let sent = [
                code,
                verifier.expose(),
                secret.map(Secret::expose).unwrap_or_default(),
            ];
            map_token_error(e, &client.endpoints.token_url, Request::Exchange, &sent)
        })?;
    into_issued(resp, now, &host_of(&client.endpoints.token_url))
}

pub async fn refresh(
    http: &reqwest::Client,
    client: &ClientConfig,
    secret: Option<&Secret>,
    refresh_token: &Secret,
    now: DateTime<Utc>,
) -> Result<IssuedTokens> {
    let c = oauth_client(client, secret)?;
    let token = RefreshToken::new(refresh_token.expose().to_string());
    let resp = c
        .exchange_refresh_token(&token)
        .request_async(&BoundedHttp(http))
        .await
        .map_err(|e| {
            let sent = [
                refresh_token.expose(),
                secret.map(Secret::expose).unwrap_or_default(),
            ];
            map_token_error(e, &client.endpoints.token_url, Request::Refresh, &sent)
        })?;
    into_issued(resp, now, &host_of(&client.endpoints.token_url))
}

/// RFC 7009 revocation of a refresh token. Any 2xx answer is success, whatever its body.
/// `Ok(false)`: the client has no revocation endpoint, so nothing was sent.
pub async fn revoke(
    http: &reqwest::Client,
    client: &ClientConfig,
    secret: Option<&Secret>,
    refresh_token: &Secret,
) -> Result<bool> {
    let Some(url) = client.endpoints.revoke_url.as_deref() else {
        return Ok(false);
    };
    let host = host_of(url);
    let mut form: Vec<(&str, &str)> = vec![
        ("token", refresh_token.expose()),
        ("token_type_hint", "refresh_token"),
    ];
    let mut request = http.post(url);
    let secret_value = match (client.auth_method, secret) {
        (AuthMethod::None, _) => None,
        (_, Some(s)) => Some(s.expose()),
        (_, None) => return Err(Error::SecretMissing(format!("client \"{}\"", client.name))),
    };
    match client.auth_method {
        AuthMethod::None => form.push(("client_id", &client.client_id)),
        AuthMethod::ClientSecretPost => {
            form.push(("client_id", &client.client_id));
            form.push(("client_secret", secret_value.unwrap_or_default()));
        }
        AuthMethod::ClientSecretBasic => {
            // RFC 6749 §2.3.1: form-encode id and secret before Basic.
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            request = request.basic_auth(
                enc(&client.client_id),
                Some(enc(secret_value.unwrap_or_default())),
            );
        }
    }
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let response = request
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| Error::Network {
            host: host.clone(),
            reason: describe_reqwest_error(&e),
        })?;
    let status = response.status();
    if status.is_success() {
        return Ok(true);
    }
    if status.as_u16() == 401 {
        return Err(Error::ClientRejected);
    }
    Err(Error::ProviderResponse {
        host,
        reason: format!("revocation answered HTTP {status}"),
    })
}

#[derive(Deserialize)]
struct Envelope<T> {
    success: bool,
    result: Option<T>,
}

#[derive(Deserialize)]
struct CloudflareUser {
    email: Option<String>,
    id: Option<String>,
}

#[derive(Deserialize)]
struct UserInfo {
    sub: Option<String>,
}

/// Who granted the grant: the e-mail from `GET {api_base}/user` when `user-details.read` was
/// granted, otherwise the `sub` from userinfo. `None` when neither answers; the grant is kept.
pub async fn identity(
    http: &reqwest::Client,
    client: &ClientConfig,
    access_token: &Secret,
    granted: &[String],
) -> Option<String> {
    if let (Some(api), true) = (
        client.endpoints.api_base.as_deref(),
        granted.iter().any(|s| s == "user-details.read"),
    ) {
        let url = format!("{}/user", api.trim_end_matches('/'));
        if let Ok(resp) = http
            .get(&url)
            .bearer_auth(access_token.expose())
            .send()
            .await
        {
            if let Some(env) = bounded_json::<Envelope<CloudflareUser>>(resp).await {
                if let (true, Some(user)) = (env.success, env.result) {
                    if let Some(id) = user.email.or(user.id) {
                        return Some(sanitize_provider_text(&id));
                    }
                }
            }
        }
    }
    let url = client.endpoints.userinfo_url.as_deref()?;
    let resp = http
        .get(url)
        .bearer_auth(access_token.expose())
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let info: UserInfo = bounded_json(resp).await?;
    info.sub.map(|s| sanitize_provider_text(&s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Endpoints;

    fn client() -> ClientConfig {
        ClientConfig {
            id: "dns".into(),
            name: "DNS".into(),
            client_id: "my client".into(),
            auth_method: AuthMethod::None,
            redirect_uri: "grantkeeper://oauth/callback".into(),
            scopes: vec!["dns.read".into(), "user-details.read".into()],
            secret_stored_at: None,
            endpoints: Endpoints::cloudflare(),
        }
    }

    #[test]
    fn pkce_challenge_matches_rfc7636_appendix_b() {
        let verifier = PkceCodeVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into());
        let challenge = oauth2::PkceCodeChallenge::from_code_verifier_sha256(&verifier);
        assert_eq!(
            challenge.as_str(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(challenge.method().as_str(), "S256");
    }

    #[test]
    fn authorization_url_carries_every_required_parameter() {
        let url = authorization_url(
            &client(),
            &Secret::new("the-state"),
            &Secret::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        )
        .expect("url");
        assert!(url
            .as_str()
            .starts_with("https://dash.cloudflare.com/oauth2/auth?"));
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "my client");
        assert_eq!(q["redirect_uri"], "grantkeeper://oauth/callback");
        assert_eq!(q["scope"], "dns.read user-details.read");
        assert_eq!(q["state"], "the-state");
        assert_eq!(
            q["code_challenge"],
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(q["code_challenge_method"], "S256");
    }
}
