use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use local_cloudflare::TokenFault;

use crate::common::*;

#[tokio::test]
async fn discovery_document_points_at_local_endpoints() {
    let h = harness().await;
    let (_, doc) = h.api("/.well-known/openid-configuration", None).await;
    let base = h.server.base_url();
    assert_eq!(doc["issuer"], base, "the issuer is the base URL");
    assert_eq!(doc["token_endpoint"], format!("{base}/oauth2/token"));
    assert_eq!(doc["authorization_endpoint"], format!("{base}/oauth2/auth"));
    assert_eq!(
        doc["code_challenge_methods_supported"],
        json!(["S256"]),
        "plain PKCE is not offered"
    );
}

#[tokio::test]
async fn user_endpoint_requires_a_live_token_with_user_details_scope() {
    let h = harness().await;
    for token in [None, Some("not-a-token")] {
        let (status, body) = h.api("/client/v4/user", token).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{token:?} is not a live token"
        );
        assert_eq!(body["success"], false);
        assert_eq!(
            body["errors"][0]["code"], 10000,
            "Cloudflare's authentication error code"
        );
    }
    let code = h
        .code_for("public-app", LOOPBACK_REDIRECT, "dns.read")
        .await;
    let (_, narrow) = h.exchange("public-app", &code).await;
    let (status, body) = h
        .api("/client/v4/user", Some(str_of(&narrow, "access_token")))
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "dns.read alone does not allow reading the user"
    );
    assert_eq!(body["errors"][0]["code"], 9109);

    let login = h.login().await;
    let access = str_of(&login, "access_token");
    let (status, body) = h.api("/client/v4/user", Some(access)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["success"], true);
    assert_eq!(body["result"]["email"], "demo@example.com");
    assert_eq!(body["result"]["first_name"], serde_json::Value::Null);
    let (_, info) = h.api("/oauth2/userinfo", Some(access)).await;
    assert_eq!(
        info["sub"], body["result"]["id"],
        "userinfo gives the subject only"
    );

    h.server.advance_clock(Duration::from_secs(3601));
    assert_eq!(
        h.api("/client/v4/user", Some(access)).await.0,
        StatusCode::UNAUTHORIZED,
        "expired after 1 h"
    );
}

#[tokio::test]
async fn accounts_endpoint_lists_accounts_with_result_info() {
    let h = harness().await;
    let login = h.login().await;
    let (status, body) = h
        .api("/client/v4/accounts", Some(str_of(&login, "access_token")))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"][0]["type"], "standard");
    assert_eq!(body["result_info"]["total_count"], 1);
}

#[tokio::test]
async fn scope_catalogue_needs_no_auth() {
    let h = harness().await;
    let (status, body) = h.api("/client/v4/oauth/scopes", None).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = body["result"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    for id in [
        "account.read",
        "zone.read",
        "dns.read",
        "dns.write",
        "user-details.read",
        "workers-scripts.write",
    ] {
        assert!(ids.contains(&id), "catalogue has {id}");
    }
}

#[tokio::test]
async fn stats_count_grants_refreshes_failures_and_revocations() {
    let h = harness().await;
    assert_eq!(
        h.stats().await["token_requests"],
        0,
        "nothing called the token endpoint yet"
    );
    let login = h.login().await;
    let refresh = str_of(&login, "refresh_token");
    assert_eq!(h.refresh("public-app", refresh).await.0, StatusCode::OK);
    assert_eq!(
        h.refresh("public-app", refresh).await.0,
        StatusCode::BAD_REQUEST
    );
    let form = [("token", "unknown"), ("client_id", "public-app")];
    h.send(h.http.post(h.url("/oauth2/revoke")).form(&form))
        .await;
    let expected = json!({
        "authorization_code_grants": 1,
        "refresh_grants": 1,
        "refresh_failures": 1,
        "revocations": 1,
        "token_requests": 3,
    });
    assert_eq!(
        h.stats().await,
        expected,
        "one login, one refresh, one replayed refresh, one revoke"
    );
    assert_eq!(h.server.stats().refresh_grants, 1, "in-process stats agree");
}

#[tokio::test]
async fn html_challenge_fault_answers_next_token_request_then_reverts() {
    let h = harness().await;
    let login = h.login().await;
    let fault = h
        .http
        .post(h.url("/_local/faults"))
        .json(&json!({"token_endpoint": "html_challenge"}));
    assert!(fault.send().await.expect("answers").status().is_success());
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", "public-app"),
        ("refresh_token", str_of(&login, "refresh_token")),
    ];
    let response = h
        .http
        .post(h.url("/oauth2/token"))
        .form(&form)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(
        content_type.starts_with("text/html"),
        "a bot challenge is HTML, not JSON"
    );
    assert!(response
        .text()
        .await
        .expect("body")
        .contains("Just a moment..."));
    assert_eq!(
        h.token(&form).await.0,
        StatusCode::OK,
        "the fault hit one request; the token was not consumed"
    );

    h.server.fail_next_token_request(TokenFault::ServerError);
    let (status, _) = h.token(&form).await;
    assert_eq!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "in-process fault injection works too"
    );
    let answer = h.token(&form).await;
    assert_error(
        &answer,
        400,
        "invalid_grant",
        "back to JSON; that token was already rotated",
    );
}
