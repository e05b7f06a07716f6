//! A provider that misbehaves, played by a small axum server on loopback: the app must keep the
//! grant working, keep secrets out of messages, and never lose a rotated refresh token.

use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{TimeZone, Utc};
use grantkeeper_core::{
    AuthMethod, ClientInput, Endpoints, Keeper, Keychain, ManualClock, MemoryStore, Paths,
    SecretStore,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the token endpoint answers to the next refresh.
#[derive(Clone)]
enum Refresh {
    /// Rotate, with odd side fields.
    Odd(Value),
    /// 400 with an error_description that echoes the refresh token it got.
    EchoError,
    /// Rotate, but lock the keychain before answering (it locked mid-refresh).
    LockKeychainThenRotate,
    /// A new access token and no refresh token (RFC 6749 §6 allows that: keep the old one).
    NoRotation,
    /// 400 whose description quotes the request body, form-encoded as it arrived.
    EchoBody,
    /// 200 with a body of several megabytes.
    Huge,
}

/// The refresh token issued at login: with characters that form-encoding changes for `EchoBody`.
fn first_refresh_token(behaviour: &Refresh) -> &'static str {
    match behaviour {
        Refresh::EchoBody => "ref+0/abc==",
        _ => "refresh-0",
    }
}

struct Provider {
    refresh: Mutex<Refresh>,
    refreshes: Mutex<u32>,
    store: Arc<MemoryStore>,
}

async fn token(
    State(p): State<Arc<Provider>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let refresh = first_refresh_token(&p.refresh.lock().expect("lock"));
            Json(json!({
                "access_token": "access-0", "token_type": "bearer", "expires_in": 3600, "refresh_token": refresh,
            }))
            .into_response()
        }
        Some("refresh_token") => {
            let sent = form.get("refresh_token").cloned().unwrap_or_default();
            let n = {
                let mut n = p.refreshes.lock().expect("lock");
                *n += 1;
                *n
            };
            let behaviour = p.refresh.lock().expect("lock").clone();
            match behaviour {
                Refresh::Odd(mut body) => {
                    body["access_token"] = json!(format!("access-{n}"));
                    body["refresh_token"] = json!(format!("refresh-{n}"));
                    Json(body).into_response()
                }
                Refresh::EchoError => (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"error": "invalid_request", "error_description": format!("bad token {sent}")})),
                )
                    .into_response(),
                Refresh::NoRotation => {
                    if sent != "refresh-0" {
                        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant"})))
                            .into_response();
                    }
                    Json(json!({"access_token": format!("access-{n}"), "expires_in": 3600}))
                        .into_response()
                }
                Refresh::EchoBody => {
                    let body = url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(form.iter())
                        .finish();
                    (
                        StatusCode::BAD_REQUEST,
                        Json(json!({"error": "invalid_request", "error_description": format!("bad request body: {body}")})),
                    )
                        .into_response()
                }
                Refresh::Huge => {
                    let padding = "x".repeat(8 << 20);
                    Json(json!({"access_token": "access-huge", "expires_in": 3600, "padding": padding}))
                        .into_response()
                }
                Refresh::LockKeychainThenRotate => {
                    p.store.set_locked(true);
                    Json(json!({"access_token": format!("access-{n}"), "refresh_token": format!("refresh-{n}"), "expires_in": 3600}))
                        .into_response()
                }
            }
        }
        _ => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "unsupported_grant_type"})),
        )
            .into_response(),
    }
}

struct Env {
    keeper: Arc<Keeper>,
    clock: Arc<ManualClock>,
    store: Arc<MemoryStore>,
    provider: Arc<Provider>,
    _dir: tempfile::TempDir,
    client: String,
}

async fn env(refresh: Refresh) -> Env {
    let store = Arc::new(MemoryStore::default());
    let provider = Arc::new(Provider {
        refresh: Mutex::new(refresh),
        refreshes: Mutex::new(0),
        store: store.clone(),
    });
    let app = Router::new()
        .route("/token", post(token))
        .with_state(provider.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0)
            .single()
            .expect("time"),
    ));
    let keeper = Arc::new(Keeper::new(
        Paths::in_dirs(&dir.path().join("c"), &dir.path().join("d")),
        Keychain::new(store.clone(), Duration::from_secs(5)),
        clock.clone(),
    ));
    let client = keeper
        .save_client(ClientInput {
            id: None,
            name: "Odd provider".into(),
            client_id: "odd".into(),
            auth_method: AuthMethod::None,
            redirect_uri: "grantkeeper://oauth/callback".into(),
            scopes: "dns.read".into(),
            secret: None,
            // No identity endpoints: the identity stays unknown.
            endpoints: Some(Endpoints {
                authorize_url: format!("{base}/auth"),
                token_url: format!("{base}/token"),
                revoke_url: None,
                userinfo_url: None,
                api_base: None,
            }),
        })
        .await
        .expect("client")
        .id;
    Env {
        keeper,
        clock,
        store,
        provider,
        _dir: dir,
        client,
    }
}

impl Env {
    /// Logs in without a browser: the provider here accepts any code.
    async fn login(&self) -> String {
        let start = self.keeper.start_login(&self.client).await.expect("start");
        let url = url::Url::parse(&start.authorize_url).expect("url");
        let state = url
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .expect("state");
        let callback = format!("grantkeeper://oauth/callback?code=any&state={state}");
        self.keeper
            .complete_login(&callback)
            .await
            .expect("login")
            .id
    }

    /// Two hours on: the access token has expired and the next hand-out must refresh.
    async fn token_after_expiry(
        &self,
        grant: &str,
    ) -> grantkeeper_core::Result<grantkeeper_core::Secret> {
        self.clock.advance(chrono::Duration::hours(2));
        self.keeper.access_token(grant, "test").await
    }

    fn stored_refresh_token(&self, grant: &str) -> Option<String> {
        let item = self
            .store
            .get(&format!("grant:{grant}"))
            .expect("read")
            .expect("item");
        let v: Value = serde_json::from_str(item.expose()).expect("json");
        v["refresh_token"].as_str().map(str::to_string)
    }
}

#[tokio::test]
async fn a_rotated_refresh_token_is_kept_even_when_side_fields_are_malformed() {
    for odd in [
        json!({"expires_in": "3600"}),
        json!({"expires_in": -1, "token_type": "Bearer"}),
        json!({"expires_in": 3600.5, "scope": ["dns.read"]}),
        json!({}),
    ] {
        let env = env(Refresh::Odd(odd.clone())).await;
        let grant = env.login().await;
        let token = env
            .token_after_expiry(&grant)
            .await
            .unwrap_or_else(|e| panic!("{odd}: {e}"));
        assert_eq!(
            token.expose(),
            "access-1",
            "{odd}: the new access token is handed out"
        );
        assert_eq!(
            env.stored_refresh_token(&grant).as_deref(),
            Some("refresh-1"),
            "{odd}: the rotated refresh token is stored"
        );
    }
}

#[tokio::test]
async fn a_provider_error_that_echoes_the_refresh_token_does_not_leak_it() {
    let env = env(Refresh::EchoError).await;
    let grant = env.login().await;
    let err = env.token_after_expiry(&grant).await.expect_err("refused");
    let message = err.to_string();
    assert!(
        !message.contains("refresh-0"),
        "the refresh token must not appear in the message"
    );
    assert!(
        message.contains("invalid_request"),
        "the provider's error code is shown: {message}"
    );
}

#[tokio::test]
async fn tokens_renewed_while_the_keychain_locks_are_held_until_it_unlocks() {
    let env = env(Refresh::LockKeychainThenRotate).await;
    let grant = env.login().await;
    let err = env
        .token_after_expiry(&grant)
        .await
        .expect_err("keychain locked mid-refresh");
    assert_eq!(err.code(), "keychain_locked");
    assert!(
        err.to_string().contains("memory"),
        "the user learns the tokens are held: {err}"
    );

    env.store.set_locked(false);
    let token = env
        .keeper
        .access_token(&grant, "test")
        .await
        .expect("works after unlocking");
    assert_eq!(token.expose(), "access-1", "the held token is handed out");
    assert_eq!(
        *env.provider.refreshes.lock().expect("lock"),
        1,
        "no second refresh with the dead token"
    );
    assert_eq!(
        env.stored_refresh_token(&grant).as_deref(),
        Some("refresh-1"),
        "and now stored"
    );
}

#[tokio::test]
async fn logins_without_a_known_identity_do_not_replace_each_other() {
    let env = env(Refresh::Odd(json!({}))).await;
    let first = env.login().await;
    let second = env.login().await;
    assert_ne!(first, second);
    assert_eq!(env.keeper.grants().await.expect("grants").len(), 2);
}

#[tokio::test]
async fn concurrent_callers_refresh_once_even_when_tokens_live_shorter_than_the_margin() {
    let env = env(Refresh::Odd(json!({"expires_in": 60}))).await;
    // A margin longer than the token lifetime: every new token is "expiring soon" at once.
    let keeper = Arc::new(
        Keeper::new(
            env.keeper.paths().clone(),
            Keychain::new(env.store.clone(), Duration::from_secs(5)),
            env.clock.clone(),
        )
        .with_refresh_margin(chrono::Duration::minutes(5)),
    );
    let grant = env.login().await;
    env.clock.advance(chrono::Duration::hours(2));
    let (a, b, c) = tokio::join!(
        keeper.access_token(&grant, "a"),
        keeper.access_token(&grant, "b"),
        keeper.access_token(&grant, "c"),
    );
    let tokens: Vec<String> = [a, b, c]
        .into_iter()
        .map(|t| t.expect("token").expose().to_string())
        .collect();
    assert_eq!(
        *env.provider.refreshes.lock().expect("lock"),
        1,
        "one refresh for three callers"
    );
    assert!(
        tokens.iter().all(|t| t == "access-1"),
        "all get the same token: {tokens:?}"
    );
}

#[tokio::test]
async fn a_refresh_answer_without_a_refresh_token_keeps_the_old_one() {
    let env = env(Refresh::NoRotation).await;
    let grant = env.login().await;
    for round in 1..=2 {
        let token = env
            .token_after_expiry(&grant)
            .await
            .unwrap_or_else(|e| panic!("refresh {round}: {e}"));
        assert_eq!(token.expose(), format!("access-{round}"));
        assert_eq!(
            env.stored_refresh_token(&grant).as_deref(),
            Some("refresh-0"),
            "refresh {round}: the refresh token the provider still honours is kept"
        );
    }
}

#[tokio::test]
async fn a_provider_that_echoes_the_request_body_does_not_leak_the_refresh_token() {
    let env = env(Refresh::EchoBody).await;
    let grant = env.login().await;
    let err = env.token_after_expiry(&grant).await.expect_err("refused");
    let message = err.to_string();
    for form in ["ref+0/abc==", "ref%2B0%2Fabc%3D%3D", "ref%2B0"] {
        assert!(
            !message.contains(form),
            "the refresh token leaks as {form}: {message}"
        );
    }
    assert!(message.contains("invalid_request"), "{message}");
}

#[tokio::test]
async fn an_oversized_token_response_is_refused_and_the_grant_kept() {
    let env = env(Refresh::Huge).await;
    let grant = env.login().await;
    let err = env.token_after_expiry(&grant).await.expect_err("too large");
    assert_eq!(err.code(), "provider_response");
    assert!(err.to_string().contains("256 KiB"), "{err}");
    assert_eq!(
        env.stored_refresh_token(&grant).as_deref(),
        Some("refresh-0"),
        "the refresh token is kept for the next try"
    );
}
