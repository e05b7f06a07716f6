//! The main job against the local Cloudflare-compatible server over real HTTP: log in, hand out
//! tokens, refresh, revoke — and the ways each can go wrong.

mod common;

use chrono::Duration;
use common::{env, env_with_port, free_port};
use grantkeeper_core::{AuthMethod, GrantState};
use std::sync::Arc;

#[tokio::test]
async fn login_stores_the_grant_with_granted_scopes_and_identity() {
    let env = env().await;
    let client = env.public_client().await;
    let grant = env.login(&client, &["dns.write"]).await;

    assert_eq!(
        grant.identity, "demo@example.com",
        "identity comes from /client/v4/user"
    );
    assert!(grant.granted_scopes.contains(&"dns.read".to_string()));
    assert!(
        !grant.granted_scopes.contains(&"dns.write".to_string()),
        "declined scope is not granted"
    );
    assert_eq!(
        grant.missing_scopes,
        vec!["dns.write"],
        "the declined scope stands out"
    );
    assert_eq!(grant.state, GrantState::Healthy);
    assert_eq!(env.server.stats().authorization_code_grants, 1);

    let tokens = env.stored_tokens(&grant.id);
    assert!(
        tokens.refresh_token.is_some(),
        "the refresh token is in the keychain"
    );
    let meta = env.metadata_text();
    assert!(meta.contains(&grant.id), "metadata lists the grant");
    assert!(
        !meta.contains(tokens.access_token.expose()),
        "no access token in the metadata file"
    );
    assert!(!meta.contains(
        tokens
            .refresh_token
            .as_ref()
            .map(|r| r.expose())
            .unwrap_or("-")
    ));
}

#[tokio::test]
async fn a_fresh_token_is_handed_out_without_refreshing_and_recorded_as_used() {
    let env = env().await;
    let client = env.public_client().await;
    let grant = env.login(&client, &[]).await;
    assert!(grant.last_used_at.is_none());

    let token = env
        .keeper
        .access_token(&grant.id, "test")
        .await
        .expect("token");
    assert!(
        env.api_accepts(&token).await,
        "the provider accepts the token"
    );
    assert_eq!(
        env.server.stats().refresh_grants,
        0,
        "a fresh token needs no refresh"
    );
    let after = env.keeper.grants().await.expect("grants");
    assert!(
        after[0].last_used_at.is_some(),
        "the copy is recorded as last use"
    );
}

#[tokio::test]
async fn a_token_near_expiry_is_refreshed_once_and_the_old_refresh_token_dies() {
    let env = env().await;
    let client = env.public_client().await;
    let grant = env.login(&client, &[]).await;
    let before = env.stored_tokens(&grant.id);

    // 57 minutes later the hour-long token is inside the 5-minute margin.
    env.clock.advance(Duration::minutes(57));
    assert_eq!(
        env.keeper.grants().await.expect("grants")[0].state,
        GrantState::ExpiringSoon
    );
    let token = env
        .keeper
        .access_token(&grant.id, "test")
        .await
        .expect("token");

    assert_eq!(env.server.stats().refresh_grants, 1, "exactly one refresh");
    assert_ne!(&token, &before.access_token, "a new access token");
    assert!(env.api_accepts(&token).await);
    let after = env.stored_tokens(&grant.id);
    assert_ne!(
        after.refresh_token, before.refresh_token,
        "the rotated refresh token is stored"
    );
    let old = before.refresh_token.expect("had a refresh token");
    assert!(
        !env.refresh_token_works(&old).await,
        "the old refresh token no longer works"
    );
    let status = &env.keeper.grants().await.expect("grants")[0];
    assert_eq!(status.state, GrantState::Healthy);
    assert!(status.refreshed_at.is_some());
}

#[tokio::test]
async fn concurrent_requests_for_an_expired_token_refresh_only_once() {
    let env = env().await;
    let client = env.public_client().await;
    let grant = env.login(&client, &[]).await;
    env.clock.advance(Duration::hours(2));

    let (a, b, c) = tokio::join!(
        env.keeper.access_token(&grant.id, "a"),
        env.keeper.access_token(&grant.id, "b"),
        env.keeper.access_token(&grant.id, "c"),
    );
    let (a, b, c) = (a.expect("a"), b.expect("b"), c.expect("c"));
    assert_eq!(
        env.server.stats().refresh_grants,
        1,
        "one refresh for three callers"
    );
    assert_eq!(
        env.server.stats().refresh_failures,
        0,
        "nobody spent a dead refresh token"
    );
    assert!(a == b && b == c, "all callers get the same new token");
}

#[tokio::test]
async fn a_refused_refresh_marks_the_grant_for_re_consent_and_keeps_it() {
    let env = env().await;
    let client = env.public_client().await;
    let grant = env.login(&client, &[]).await;
    // Someone else spends the refresh token (e.g. a copy made before rotation).
    let refresh = env
        .stored_tokens(&grant.id)
        .refresh_token
        .expect("refresh token");
    assert!(env.refresh_token_works(&refresh).await);

    env.clock.advance(Duration::hours(2));
    let err = env
        .keeper
        .access_token(&grant.id, "test")
        .await
        .expect_err("refresh refused");
    assert_eq!(err.code(), "needs_reconsent");
    let grants = env.keeper.grants().await.expect("grants");
    assert_eq!(grants.len(), 1, "the grant is kept");
    assert_eq!(grants[0].state, GrantState::NeedsReconsent);

    // Logging in again repairs the same grant instead of adding a second one.
    let again = env.login(&client, &[]).await;
    assert_eq!(again.id, grant.id);
    assert_eq!(again.state, GrantState::Healthy);
    assert_eq!(env.keeper.grants().await.expect("grants").len(), 1);
}

#[tokio::test]
async fn unknown_and_reused_states_are_rejected_without_a_token_request() {
    let env = env().await;
    let client = env.public_client().await;
    let start = env.keeper.start_login(&client.id).await.expect("start");
    let callback = env.consent(&start.authorize_url, true, &[]).await;
    env.keeper
        .complete_login(&callback)
        .await
        .expect("first use works");
    let requests = env.server.stats().token_requests;

    let err = env
        .keeper
        .complete_login(&callback)
        .await
        .expect_err("second use");
    assert_eq!(err.code(), "unknown_state");
    let forged = callback.replace("state=", "state=forged");
    let err = env
        .keeper
        .complete_login(&forged)
        .await
        .expect_err("forged state");
    assert_eq!(err.code(), "unknown_state");
    assert_eq!(
        env.server.stats().token_requests,
        requests,
        "no request reached the token endpoint"
    );
}

#[tokio::test]
async fn a_flow_older_than_ten_minutes_is_rejected() {
    let env = env().await;
    let client = env.public_client().await;
    let start = env.keeper.start_login(&client.id).await.expect("start");
    let callback = env.consent(&start.authorize_url, true, &[]).await;
    env.clock.advance(Duration::minutes(11));
    let err = env
        .keeper
        .complete_login(&callback)
        .await
        .expect_err("expired");
    assert_eq!(err.code(), "flow_expired");
    assert_eq!(env.server.stats().token_requests, 0);
    assert!(env.keeper.grants().await.expect("grants").is_empty());
}

#[tokio::test]
async fn a_denied_consent_is_reported_and_retires_the_flow() {
    let env = env().await;
    let client = env.public_client().await;
    // A denial needs no verifier: it is reported even while the keychain is locked.
    for locked in [false, true] {
        let start = env.keeper.start_login(&client.id).await.expect("start");
        let callback = env.consent(&start.authorize_url, false, &[]).await;
        env.store.set_locked(locked);
        let err = env
            .keeper
            .complete_login(&callback)
            .await
            .expect_err("denied");
        env.store.set_locked(false);
        assert_eq!(err.code(), "provider_denied", "keychain locked: {locked}");
        assert!(
            err.to_string().contains("access_denied"),
            "the user sees the provider's error: {err}"
        );
        assert!(
            env.metadata_text().contains("\"pending\": []"),
            "the flow is retired"
        );
    }
}

#[tokio::test]
async fn confidential_clients_authenticate_with_basic_and_post() {
    let env = env().await;
    for (name, id, method) in [
        ("Basic", "basic-client", AuthMethod::ClientSecretBasic),
        ("Post", "post-client", AuthMethod::ClientSecretPost),
    ] {
        let client = env
            .add_client(name, id, method, "dev.grantkeeper.app:/oauth/callback")
            .await;
        assert!(
            client.secret_stored_at.is_some(),
            "the date the secret was stored is recorded"
        );
        assert!(
            !std::fs::read_to_string(&env.keeper.paths().config_file)
                .expect("config")
                .contains(common::SECRET),
            "the secret is not in the config file"
        );
        let grant = env.login(&client, &[]).await;
        env.clock.advance(Duration::hours(2));
        env.keeper
            .access_token(&grant.id, "test")
            .await
            .expect("refresh with client auth");
        env.keeper
            .revoke(&grant.id)
            .await
            .expect("revoke with client auth");
    }
    assert_eq!(env.server.stats().refresh_grants, 2);
    assert_eq!(env.server.stats().revocations, 2);
}

#[tokio::test]
async fn a_bot_challenge_page_from_the_token_endpoint_is_a_clear_error_and_loses_nothing() {
    let env = env().await;
    let client = env.public_client().await;
    let grant = env.login(&client, &[]).await;
    let before = env.stored_tokens(&grant.id);
    env.clock.advance(Duration::hours(2));
    env.http
        .post(format!("{}/_local/faults", env.server.base_url()))
        .json(&serde_json::json!({"token_endpoint": "html_challenge"}))
        .send()
        .await
        .expect("fault set");
    let err = env
        .keeper
        .access_token(&grant.id, "test")
        .await
        .expect_err("challenge");
    assert_eq!(err.code(), "provider_response");
    assert!(
        err.to_string().contains("web page"),
        "says what happened: {err}"
    );
    let after = env.stored_tokens(&grant.id);
    assert_eq!(
        after.refresh_token, before.refresh_token,
        "the refresh token is untouched"
    );
    // The next attempt (challenge gone) works.
    env.keeper
        .access_token(&grant.id, "test")
        .await
        .expect("works again");
}

#[tokio::test]
async fn revoke_kills_the_refresh_token_and_forgets_the_grant() {
    let env = env().await;
    let client = env.public_client().await;
    let grant = env.login(&client, &[]).await;
    let tokens = env.stored_tokens(&grant.id);
    env.keeper.revoke(&grant.id).await.expect("revoke");
    assert_eq!(env.server.stats().revocations, 1);
    assert!(env.keeper.grants().await.expect("grants").is_empty());
    use grantkeeper_core::SecretStore;
    assert!(env
        .store
        .get(&format!("grant:{}", grant.id))
        .expect("read")
        .is_none());
    let refresh = tokens.refresh_token.expect("refresh");
    assert!(
        !env.refresh_token_works(&refresh).await,
        "revoked at the provider"
    );
}

#[tokio::test]
async fn revoke_with_the_provider_unreachable_keeps_the_grant() {
    let env = env().await;
    let mut client = env.public_client().await;
    let grant = env.login(&client, &[]).await;
    // Point the client's revocation endpoint at a closed port.
    client.endpoints.revoke_url = Some(format!("http://127.0.0.1:{}/oauth2/revoke", free_port()));
    env.replace_client_config(client);

    let err = env.keeper.revoke(&grant.id).await.expect_err("unreachable");
    assert_eq!(err.code(), "network");
    assert_eq!(
        env.keeper.grants().await.expect("grants").len(),
        1,
        "the grant stays"
    );
    env.stored_tokens(&grant.id);
}

#[tokio::test]
async fn a_locked_keychain_is_reported_and_nothing_is_lost() {
    let env = env().await;
    let client = env.public_client().await;
    let grant = env.login(&client, &[]).await;
    env.store.set_locked(true);
    let err = env
        .keeper
        .access_token(&grant.id, "test")
        .await
        .expect_err("locked");
    assert_eq!(err.code(), "keychain_locked");
    assert_eq!(
        env.keeper.grants().await.expect("grants")[0].state,
        GrantState::KeychainLocked
    );
    env.store.set_locked(false);
    env.keeper
        .access_token(&grant.id, "test")
        .await
        .expect("unlocked again");
    assert_eq!(
        env.keeper.grants().await.expect("grants")[0].state,
        GrantState::Healthy
    );
}

#[tokio::test]
async fn a_loopback_redirect_is_received_while_the_flow_is_pending() {
    let port = free_port();
    let env = env_with_port(port).await;
    let redirect = format!("http://127.0.0.1:{port}/oauth/callback");
    let client = env
        .add_client("Loopback", "public-client", AuthMethod::None, &redirect)
        .await;
    let listeners = Arc::new(grantkeeper_core::loopback::Listeners::default());

    let start = env.keeper.start_login(&client.id).await.expect("start");
    let (host, lport, path) = start.loopback.clone().expect("a loopback flow");
    assert_eq!(lport, port);
    grantkeeper_core::loopback::ensure_listening(
        env.keeper.clone(),
        listeners.clone(),
        host,
        lport,
        path,
    )
    .await
    .expect("listening");
    let callback = env.consent(&start.authorize_url, true, &[]).await;
    assert!(callback.starts_with(&redirect));
    let page = env
        .http
        .get(&callback)
        .send()
        .await
        .expect("browser reaches the app");
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .expect("page")
        .contains("demo@example.com"));
    assert_eq!(env.keeper.grants().await.expect("grants").len(), 1);

    // No flow pending any more: the port is released.
    for _ in 0..50 {
        if !listeners.is_listening(port) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        !listeners.is_listening(port),
        "the listener stops when no flow is pending"
    );
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "the port is free again"
    );
}

#[tokio::test]
async fn clients_are_validated_and_a_secret_is_required_where_the_method_needs_one() {
    let env = env().await;
    let bad = grantkeeper_core::ClientInput {
        id: None,
        name: "Bad".into(),
        client_id: "x".into(),
        auth_method: AuthMethod::ClientSecretBasic,
        redirect_uri: "grantkeeper://oauth/callback".into(),
        scopes: "dns.read".into(),
        secret: None,
        endpoints: None,
    };
    let err = env.keeper.save_client(bad).await.expect_err("no secret");
    assert_eq!(err.code(), "invalid_input");
    let bad_scope = grantkeeper_core::ClientInput {
        id: None,
        name: "Bad".into(),
        client_id: "x".into(),
        auth_method: AuthMethod::None,
        redirect_uri: "grantkeeper://oauth/callback".into(),
        scopes: "DNS:Read".into(),
        secret: None,
        endpoints: None,
    };
    let err = env
        .keeper
        .save_client(bad_scope)
        .await
        .expect_err("bad scope");
    assert!(err.to_string().contains("DNS:Read"));
    assert!(
        env.keeper.clients().await.expect("clients").is_empty(),
        "nothing was saved"
    );
}

#[tokio::test]
async fn an_error_link_for_a_flow_we_did_not_start_is_ignored_without_its_text() {
    let env = env().await;
    env.public_client().await;
    for link in [
        "grantkeeper://oauth/callback?error=access_denied&error_description=%3Cb%3ESECURITY+ALERT%3C%2Fb%3E",
        "grantkeeper://oauth/callback?error=access_denied&error_description=call+us&state=not-ours",
    ] {
        let err = env.keeper.complete_login(link).await.expect_err(link);
        assert_eq!(err.code(), "unknown_state", "{link}");
        assert!(!err.to_string().contains("SECURITY") && !err.to_string().contains("call us"));
    }
}

#[tokio::test]
async fn a_callback_that_finds_the_keychain_locked_keeps_the_flow_for_a_retry() {
    let env = env().await;
    let client = env.public_client().await;
    let start = env.keeper.start_login(&client.id).await.expect("start");
    let callback = env.consent(&start.authorize_url, true, &[]).await;
    let before = env.server.stats().token_requests;

    env.store.set_locked(true);
    let err = env
        .keeper
        .complete_login(&callback)
        .await
        .expect_err("locked");
    assert_eq!(err.code(), "keychain_locked");
    assert_eq!(
        env.server.stats().token_requests,
        before,
        "no token request without the verifier"
    );

    env.store.set_locked(false);
    let grant = env
        .keeper
        .complete_login(&callback)
        .await
        .expect("the same callback completes the login once the keychain is unlocked");
    assert_eq!(grant.identity, "demo@example.com");
    let err = env
        .keeper
        .complete_login(&callback)
        .await
        .expect_err("used");
    assert_eq!(err.code(), "unknown_state", "and then it is used up");
}

#[tokio::test]
async fn a_probe_shows_a_locked_keychain_before_any_token_is_asked_for() {
    let env = env().await;
    let client = env.public_client().await;
    env.login(&client, &[]).await;
    assert!(env.keeper.probe_keychain().await);

    env.store.set_locked(true);
    let mut events = env.keeper.subscribe();
    assert!(!env.keeper.probe_keychain().await, "a locked keychain");
    assert!(
        matches!(
            events.try_recv(),
            Ok(grantkeeper_core::Event::GrantsChanged)
        ),
        "listeners (tray, window) are told the state changed"
    );
    let grants = env.keeper.grants().await.expect("grants");
    assert_eq!(grants[0].state, GrantState::KeychainLocked);

    env.store.set_locked(false);
    assert!(env.keeper.probe_keychain().await);
    assert_eq!(
        env.keeper.grants().await.expect("grants")[0].state,
        GrantState::Healthy
    );
}

#[tokio::test]
async fn revoking_without_a_revocation_endpoint_forgets_the_grant_and_says_so() {
    let env = env().await;
    let mut client = env.public_client().await;
    let grant = env.login(&client, &[]).await;
    client.endpoints.revoke_url = None;
    env.replace_client_config(client);

    let outcome = env.keeper.revoke(&grant.id).await.expect("revoke");
    assert_eq!(outcome, grantkeeper_core::Revoked::NoRevocationEndpoint);
    assert!(
        outcome
            .message()
            .contains("revoke the grant at the provider"),
        "the user learns the grant lives on at the provider"
    );
    assert_eq!(env.server.stats().revocations, 0);
    assert!(env.keeper.grants().await.expect("grants").is_empty());
}

#[tokio::test]
async fn a_client_is_edited_and_removed_and_its_secret_follows() {
    use grantkeeper_core::{ClientInput, SecretStore};
    let env = env().await;
    let client = env
        .add_client(
            "Workers",
            "basic-client",
            AuthMethod::ClientSecretBasic,
            "grantkeeper://oauth/callback",
        )
        .await;
    let key = format!("client-secret:{}", client.id);
    let stored_at = client.secret_stored_at.expect("secret date recorded");
    let edit = |name: &str, method: AuthMethod, secret: Option<&str>| ClientInput {
        id: Some(client.id.clone()),
        name: name.into(),
        client_id: client.client_id.clone(),
        auth_method: method,
        redirect_uri: client.redirect_uri.clone(),
        scopes: client.scopes.join(" "),
        secret: secret.map(grantkeeper_core::Secret::new),
        endpoints: Some(client.endpoints.clone()),
    };

    // A new name without a new secret keeps the stored secret and its date.
    let renamed = env
        .keeper
        .save_client(edit("Workers deploys", AuthMethod::ClientSecretBasic, None))
        .await
        .expect("rename");
    assert_eq!(renamed.id, client.id, "editing keeps the local id");
    assert_eq!(renamed.secret_stored_at, Some(stored_at));
    assert_eq!(
        env.store.get(&key).expect("read").expect("kept").expose(),
        common::SECRET
    );

    // A new secret replaces the old one and records when.
    env.clock.advance(Duration::days(3));
    let rotated = env
        .keeper
        .save_client(edit(
            "Workers deploys",
            AuthMethod::ClientSecretBasic,
            Some("new secret"),
        ))
        .await
        .expect("new secret");
    assert_eq!(
        rotated.secret_stored_at,
        Some(stored_at + Duration::days(3))
    );
    assert_eq!(
        env.store.get(&key).expect("read").expect("new").expose(),
        "new secret"
    );

    // Back to the secret the provider knows, for a grant.
    let restored = env
        .keeper
        .save_client(edit(
            "Workers deploys",
            AuthMethod::ClientSecretBasic,
            Some(common::SECRET),
        ))
        .await
        .expect("restore");

    // A grant blocks removal: it would be orphaned.
    let grant = env.login(&restored, &[]).await;
    let err = env
        .keeper
        .remove_client(&client.id)
        .await
        .expect_err("has a grant");
    assert!(err.to_string().contains("Revoke"), "{err}");
    env.keeper.revoke(&grant.id).await.expect("revoke");

    // With the keychain locked, removing changes nothing (the secret would be left behind).
    env.store.set_locked(true);
    let err = env
        .keeper
        .remove_client(&client.id)
        .await
        .expect_err("locked");
    assert_eq!(err.code(), "keychain_locked");
    assert_eq!(env.keeper.clients().await.expect("clients").len(), 1);
    env.store.set_locked(false);

    env.keeper.remove_client(&client.id).await.expect("remove");
    assert!(env.keeper.clients().await.expect("clients").is_empty());
    assert!(
        env.store.get(&key).expect("read").is_none(),
        "the secret leaves the keychain with its client"
    );
}

#[tokio::test]
async fn switching_a_client_to_pkce_deletes_its_secret() {
    use grantkeeper_core::{ClientInput, SecretStore};
    let env = env().await;
    let client = env
        .add_client(
            "Analytics",
            "post-client",
            AuthMethod::ClientSecretPost,
            "grantkeeper://oauth/callback",
        )
        .await;
    let public = env
        .keeper
        .save_client(ClientInput {
            id: Some(client.id.clone()),
            name: client.name.clone(),
            client_id: client.client_id.clone(),
            auth_method: AuthMethod::None,
            redirect_uri: client.redirect_uri.clone(),
            scopes: client.scopes.join(" "),
            secret: None,
            endpoints: Some(client.endpoints.clone()),
        })
        .await
        .expect("switch to none");
    assert!(public.secret_stored_at.is_none());
    assert!(env
        .store
        .get(&format!("client-secret:{}", client.id))
        .expect("read")
        .is_none());
}

#[tokio::test]
async fn a_pending_loopback_login_is_listened_for_again_after_a_restart() {
    let port = free_port();
    let env = env_with_port(port).await;
    let redirect = format!("http://127.0.0.1:{port}/oauth/callback");
    let client = env
        .add_client("Loopback", "public-client", AuthMethod::None, &redirect)
        .await;
    // The login starts, then the app quits before the user approves.
    let start = env.keeper.start_login(&client.id).await.expect("start");
    let callback = env.consent(&start.authorize_url, true, &[]).await;

    // The app starts again (a new Keeper on the same files and keychain) and resumes.
    let restarted = Arc::new(grantkeeper_core::Keeper::new(
        env.keeper.paths().clone(),
        grantkeeper_core::Keychain::new(env.store.clone(), std::time::Duration::from_secs(5)),
        env.clock.clone(),
    ));
    let pending = restarted.pending_loopbacks().await.expect("pending");
    assert_eq!(
        pending
            .iter()
            .map(|l| (l.host.as_str(), l.port, l.path.as_str(), l.expires_at))
            .collect::<Vec<_>>(),
        vec![("127.0.0.1", port, "/oauth/callback", start.expires_at)]
    );
    let listeners = Arc::new(grantkeeper_core::loopback::Listeners::default());
    for l in pending {
        grantkeeper_core::loopback::ensure_listening(
            restarted.clone(),
            listeners.clone(),
            l.host,
            l.port,
            l.path,
        )
        .await
        .expect("listening again");
    }
    let page = env
        .http
        .get(&callback)
        .send()
        .await
        .expect("browser reaches the restarted app");
    assert_eq!(page.status(), 200);
    assert_eq!(restarted.grants().await.expect("grants").len(), 1);
    assert!(
        restarted
            .pending_loopbacks()
            .await
            .expect("pending")
            .is_empty(),
        "nothing is pending any more"
    );
}

#[tokio::test]
async fn a_grant_whose_client_was_removed_by_hand_can_still_be_forgotten() {
    let env = env().await;
    let client = env.public_client().await;
    let grant = env.login(&client, &[]).await;
    std::fs::write(&env.keeper.paths().config_file, "version = 1\n").expect("hand edit");

    let outcome = env.keeper.revoke(&grant.id).await.expect("forgotten");
    assert_eq!(outcome, grantkeeper_core::Revoked::ClientGone);
    assert!(
        outcome.message().contains("revoke the grant there too"),
        "the user learns the provider was not asked"
    );
    assert!(env.keeper.grants().await.expect("grants").is_empty());
    use grantkeeper_core::SecretStore;
    assert!(env
        .store
        .get(&format!("grant:{}", grant.id))
        .expect("read")
        .is_none());
}
