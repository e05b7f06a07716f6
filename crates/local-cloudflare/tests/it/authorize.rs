use reqwest::StatusCode;

use crate::common::*;

#[tokio::test]
async fn consent_page_lists_scopes_optional_checkbox_and_stand_in_footer() {
    let h = harness().await;
    let response = h
        .get_auth(&auth_query("public-app", LOOPBACK_REDIRECT, SCOPES))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.expect("page body");
    for needle in [
        "<form method=\"post\" action=\"/oauth2/auth/decision\">",
        "<li>account.read</li>",
        "<input type=\"checkbox\" name=\"optional_scope\" value=\"dns.write\" checked>",
        "<button name=\"decision\" value=\"approve\">Approve</button>",
        "<button name=\"decision\" value=\"deny\">Deny</button>",
        "Local Cloudflare-compatible server — not Cloudflare",
    ] {
        assert!(
            html.contains(needle),
            "consent page must contain {needle:?} for the regex browser"
        );
    }
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external resources"
    );
}

#[tokio::test]
async fn unregistered_redirect_uri_shows_error_page_without_redirect() {
    let h = harness().await;
    // Same as the registered URI but another port: redirect URIs match exactly.
    for (client, redirect) in [
        ("public-app", "http://127.0.0.1:8977/oauth/callback"),
        ("unknown-app", LOOPBACK_REDIRECT),
    ] {
        let response = h.get_auth(&auth_query(client, redirect, SCOPES)).await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{client} {redirect}: error page, not consent"
        );
        assert!(
            response.headers().get("location").is_none(),
            "must never redirect to an unverified URI"
        );
        let content_type = response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .to_string();
        assert!(
            content_type.starts_with("text/html"),
            "the user sees an HTML page"
        );
    }
}

#[tokio::test]
async fn invalid_requests_redirect_back_with_error_and_state() {
    let h = harness().await;
    let cases: [(&str, &str, &str); 5] = [
        ("code_challenge", "", "invalid_request"),
        ("code_challenge_method", "plain", "invalid_request"),
        ("code_challenge_method", "", "invalid_request"),
        ("scope", "dns.read workers-scripts.write", "invalid_scope"),
        ("response_type", "token", "unsupported_response_type"),
    ];
    for (param, value, expected) in cases {
        let mut query = auth_query("public-app", LOOPBACK_REDIRECT, SCOPES);
        query.retain(|(k, _)| *k != param);
        query.push((param, value));
        let response = h.get_auth(&query).await;
        assert_eq!(
            response.status(),
            StatusCode::FOUND,
            "{param}={value:?} is reported to the client"
        );
        let location = location(&response);
        assert!(
            location.starts_with(LOOPBACK_REDIRECT),
            "goes back to the registered URI: {location}"
        );
        assert_eq!(
            query_param(&location, "error").as_deref(),
            Some(expected),
            "{param}={value:?}"
        );
        assert!(
            query_param(&location, "error_description").is_some(),
            "says why"
        );
        assert_eq!(
            query_param(&location, "state").as_deref(),
            Some(STATE),
            "state passes through"
        );
    }
}

#[tokio::test]
async fn denied_consent_redirects_with_access_denied_and_state() {
    let h = harness().await;
    let consent = h
        .open_consent(&auth_query(
            "public-app",
            "grantkeeper://oauth/callback",
            SCOPES,
        ))
        .await;
    let response = h.decide(&consent, "deny", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = location(&response);
    assert!(
        location.starts_with("grantkeeper://oauth/callback?"),
        "custom scheme kept: {location}"
    );
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(query_param(&location, "state").as_deref(), Some(STATE));
    assert!(
        query_param(&location, "code").is_none(),
        "a denial carries no code"
    );
}

#[tokio::test]
async fn approval_appends_code_to_custom_scheme_and_existing_query() {
    let h = harness().await;
    for redirect in [
        "dev.grantkeeper.app:/oauth/callback",
        "https://app.test/cb?tenant=7",
    ] {
        let consent = h
            .open_consent(&auth_query("public-app", redirect, SCOPES))
            .await;
        let location = location(&h.decide(&consent, "approve", &["dns.write"]).await);
        assert!(
            location.starts_with(redirect),
            "{location} keeps {redirect}"
        );
        assert_eq!(
            location.chars().filter(|c| *c == '?').count(),
            1,
            "one query: {location}"
        );
        assert!(
            query_param(&location, "code").is_some(),
            "code added to {location}"
        );
        assert_eq!(
            query_param(&location, "state").as_deref(),
            Some(STATE),
            "state percent-encoded and kept"
        );
    }
}

#[tokio::test]
async fn consent_id_is_single_use_and_expires() {
    let h = harness().await;
    let query = auth_query("public-app", LOOPBACK_REDIRECT, SCOPES);
    let consent = h.open_consent(&query).await;
    assert_eq!(
        h.decide(&consent, "approve", &[]).await.status(),
        StatusCode::SEE_OTHER
    );
    let again = h.decide(&consent, "approve", &[]).await;
    assert_eq!(
        again.status(),
        StatusCode::BAD_REQUEST,
        "a consent can be answered once"
    );

    let consent = h.open_consent(&query).await;
    h.server.advance_clock(std::time::Duration::from_secs(601));
    let late = h.decide(&consent, "approve", &[]).await;
    assert_eq!(
        late.status(),
        StatusCode::BAD_REQUEST,
        "pending consents expire after 10 minutes"
    );
}
