use std::time::Duration;

use reqwest::StatusCode;

use crate::common::*;

#[tokio::test]
async fn full_code_flow_with_rfc7636_pkce_pair_issues_tokens() {
    let h = harness().await;
    let code = h.code_for("public-app", LOOPBACK_REDIRECT, SCOPES).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", "public-app"),
        ("code", &code),
        ("redirect_uri", LOOPBACK_REDIRECT),
        ("code_verifier", RFC_VERIFIER),
    ];
    let request = h.http.post(h.url("/oauth2/token")).form(&form);
    let response = request.send().await.expect("token endpoint answers");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "RFC 7636 Appendix B pair verifies"
    );
    assert_eq!(
        response.headers()["cache-control"],
        "no-store",
        "tokens are not cached"
    );
    let body: serde_json::Value = response.json().await.expect("JSON token response");
    assert_eq!(
        (&body["token_type"], &body["expires_in"]),
        (&"bearer".into(), &3600.into())
    );
    let scope = format!("{SCOPES} offline_access");
    assert_eq!(
        str_of(&body, "scope"),
        scope,
        "the refresh grant adds offline_access"
    );
    let access = str_of(&body, "access_token");
    assert!(access.len() >= 22, "at least 128 random bits");
    assert_ne!(access, str_of(&body, "refresh_token"));
}

#[tokio::test]
async fn wrong_code_verifier_is_rejected_with_invalid_grant() {
    let h = harness().await;
    let code = h.code_for("public-app", LOOPBACK_REDIRECT, SCOPES).await;
    let wrong = "x".repeat(43);
    let answer = h
        .exchange_with("public-app", &code, LOOPBACK_REDIRECT, &wrong)
        .await;
    assert_error(
        &answer,
        400,
        "invalid_grant",
        "S256(verifier) must equal the challenge",
    );
}

#[tokio::test]
async fn reused_authorization_code_is_rejected_and_revokes_its_tokens() {
    let h = harness().await;
    let code = h.code_for("public-app", LOOPBACK_REDIRECT, SCOPES).await;
    let (status, first) = h.exchange("public-app", &code).await;
    assert_eq!(status, StatusCode::OK);
    let answer = h.exchange("public-app", &code).await;
    assert_error(&answer, 400, "invalid_grant", "codes are single-use");
    let (status, _) = h
        .api("/client/v4/user", Some(str_of(&first, "access_token")))
        .await;
    assert_eq!(
        status, 401,
        "a replayed code revokes what it issued (RFC 6749 §4.1.2)"
    );
}

#[tokio::test]
async fn expired_authorization_code_is_rejected() {
    let h = harness().await;
    let code = h.code_for("public-app", LOOPBACK_REDIRECT, SCOPES).await;
    h.server.advance_clock(Duration::from_secs(61));
    let answer = h.exchange("public-app", &code).await;
    assert_error(&answer, 400, "invalid_grant", "codes live 60 s");
}

#[tokio::test]
async fn token_redirect_uri_must_match_authorization_request() {
    let h = harness().await;
    let code = h
        .code_for("public-app", "grantkeeper://oauth/callback", SCOPES)
        .await;
    let answer = h.exchange("public-app", &code).await; // sends the loopback URI
    assert_error(
        &answer,
        400,
        "invalid_grant",
        "redirect_uri differs from /auth",
    );
}

#[tokio::test]
async fn basic_client_auth_decodes_form_encoded_credentials() {
    let h = harness().await;
    let code = h.code_for("basic-app", LOOPBACK_REDIRECT, SCOPES).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", LOOPBACK_REDIRECT),
        ("code_verifier", RFC_VERIFIER),
    ];
    let (status, body) = h
        .post("/oauth2/token", Some(("basic-app", BASIC_SECRET)), &form)
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "id and secret are form-encoded before base64: {body}"
    );
}

#[tokio::test]
async fn wrong_secret_or_wrong_method_is_invalid_client_401() {
    let h = harness().await;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", "whatever"),
    ];
    let request = h
        .http
        .post(h.url("/oauth2/token"))
        .header("authorization", basic("basic-app", "no"));
    let response = request.form(&form).send().await.expect("answers");
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "wrong Basic secret"
    );
    assert!(
        response.headers().contains_key("www-authenticate"),
        "Basic failures carry a challenge"
    );

    let cases: [(&str, &[(&str, &str)]); 5] = [
        (
            "wrong post secret",
            &[("client_id", "post-app"), ("client_secret", "nope")],
        ),
        (
            "basic client posting",
            &[("client_id", "basic-app"), ("client_secret", BASIC_SECRET)],
        ),
        (
            "confidential client without secret",
            &[("client_id", "post-app")],
        ),
        (
            "public client sending a secret",
            &[("client_id", "public-app"), ("client_secret", "x")],
        ),
        ("unknown client", &[("client_id", "nobody")]),
    ];
    for (why, auth) in cases {
        let answer = h.token(&[&form[..], auth].concat()).await;
        assert_error(&answer, 401, "invalid_client", why);
    }
}

#[tokio::test]
async fn client_secret_post_and_refresh_work_for_confidential_client() {
    let h = harness().await;
    let code = h.code_for("post-app", LOOPBACK_REDIRECT, SCOPES).await;
    let auth = [("client_id", "post-app"), ("client_secret", POST_SECRET)];
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", LOOPBACK_REDIRECT),
        ("code_verifier", RFC_VERIFIER),
    ];
    let (status, body) = h.token(&[&form[..], &auth].concat()).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "client_secret_post in the body: {body}"
    );
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", str_of(&body, "refresh_token")),
    ];
    let (status, body) = h.token(&[&form[..], &auth].concat()).await;
    assert_eq!(status, StatusCode::OK, "the same client refreshes: {body}");
}

#[tokio::test]
async fn reused_refresh_token_is_rejected_with_invalid_grant() {
    let h = harness().await;
    let login = h.login().await;
    let old = str_of(&login, "refresh_token");
    let (status, rotated) = h.refresh("public-app", old).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "first use of a refresh token works: {rotated}"
    );
    let new = str_of(&rotated, "refresh_token");
    assert_ne!(new, old, "each refresh returns a new refresh token");
    assert_ne!(
        str_of(&rotated, "access_token"),
        str_of(&login, "access_token")
    );

    let answer = h.refresh("public-app", old).await;
    assert_error(
        &answer,
        400,
        "invalid_grant",
        "the old refresh token is dead",
    );
    let (status, _) = h.refresh("public-app", new).await;
    assert_eq!(status, StatusCode::OK, "the rotated token still works");
}

#[tokio::test]
async fn refresh_token_of_another_client_is_rejected() {
    let h = harness().await;
    let login = h.login().await;
    let refresh = str_of(&login, "refresh_token");
    let answer = h.refresh("no-refresh-app", refresh).await;
    assert_error(
        &answer,
        400,
        "unauthorized_client",
        "client lacks the refresh grant",
    );
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    let answer = h
        .post("/oauth2/token", Some(("basic-app", BASIC_SECRET)), &form)
        .await;
    assert_error(&answer, 400, "invalid_grant", "token belongs to public-app");
}

#[tokio::test]
async fn declined_optional_scope_is_missing_from_granted_scope() {
    let h = harness().await;
    let consent = h
        .open_consent(&auth_query("public-app", LOOPBACK_REDIRECT, SCOPES))
        .await;
    let code = h.approve(&consent, &[]).await;
    let (_, body) = h.exchange("public-app", &code).await;
    let expected = "account.read user-details.read dns.read offline_access";
    assert_eq!(
        str_of(&body, "scope"),
        expected,
        "the unchecked dns.write was declined"
    );
}

#[tokio::test]
async fn refresh_may_narrow_scope_but_not_widen_it() {
    let h = harness().await;
    let login = h.login().await;
    let form = |token, scope| {
        [
            ("grant_type", "refresh_token"),
            ("client_id", "public-app"),
            ("refresh_token", token),
            ("scope", scope),
        ]
    };
    let (_, body) = h
        .token(&form(str_of(&login, "refresh_token"), "dns.read"))
        .await;
    assert_eq!(
        str_of(&body, "scope"),
        "dns.read offline_access",
        "narrowed: {body}"
    );
    let answer = h
        .token(&form(str_of(&body, "refresh_token"), "zone.read"))
        .await;
    assert_error(&answer, 400, "invalid_scope", "zone.read was never granted");
}

#[tokio::test]
async fn client_without_refresh_grant_gets_no_refresh_token() {
    let h = harness().await;
    let code = h
        .code_for("no-refresh-app", LOOPBACK_REDIRECT, "dns.read")
        .await;
    let (_, body) = h.exchange("no-refresh-app", &code).await;
    assert!(
        body.get("refresh_token").is_none(),
        "no refresh grant, no refresh_token: {body}"
    );
    assert_eq!(
        str_of(&body, "scope"),
        "dns.read",
        "no offline_access either"
    );
}

#[tokio::test]
async fn unsupported_grant_type_is_reported() {
    let h = harness().await;
    let answer = h
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", "public-app"),
        ])
        .await;
    assert_error(
        &answer,
        400,
        "unsupported_grant_type",
        "only code and refresh grants exist",
    );
}

#[tokio::test]
async fn revoke_returns_empty_200_and_kills_refresh_and_access_token() {
    let h = harness().await;
    let login = h.login().await;
    let (access, refresh) = (
        str_of(&login, "access_token"),
        str_of(&login, "refresh_token"),
    );
    let form = [("token", refresh), ("client_id", "public-app")];
    let response = h
        .http
        .post(h.url("/oauth2/revoke"))
        .form(&form)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.text().await.expect("body").is_empty(),
        "RFC 7009: empty body"
    );
    let answer = h.refresh("public-app", refresh).await;
    assert_error(
        &answer,
        400,
        "invalid_grant",
        "a revoked refresh token is dead",
    );
    let (status, _) = h.api("/client/v4/user", Some(access)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "access tokens of the grant die with it"
    );

    let unknown = [("token", "never-issued"), ("client_id", "public-app")];
    let answer = h.post("/oauth2/revoke", None, &unknown).await;
    assert_eq!(
        answer,
        (StatusCode::OK, serde_json::Value::Null),
        "unknown tokens also get 200"
    );
    let bad = [
        ("token", "x"),
        ("client_id", "post-app"),
        ("client_secret", "nope"),
    ];
    let answer = h.post("/oauth2/revoke", None, &bad).await;
    assert_error(
        &answer,
        401,
        "invalid_client",
        "revocation authenticates the client",
    );
}
