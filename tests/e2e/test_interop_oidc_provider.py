"""Interoperability: the same tray login, copy and refresh against panva/oidc-provider, an OAuth 2 /
OpenID Connect implementation nobody on this project wrote (tests/e2e/oidc/server.mjs): public
client, PKCE S256 required, custom-scheme redirect, single-use refresh tokens, RFC 9207 `iss` in the
callback, identity from the userinfo `sub`.
"""

from __future__ import annotations

import gk
from gk import ACCESS_TTL, CALLBACK, files_containing, read_grants, secret_roots, wait_until

CLIENT_NAME = "Interop provider"
LOGIN = "interop-user@example.test"


def test_login_copy_refresh_revoke_with_oidc_provider(app, oidc_server, notifications, timings, out_dir):
    provider = oidc_server(access_ttl=ACCESS_TTL)
    gk.write_clients_toml([{
        "id": "interop",
        "name": CLIENT_NAME,
        "client_id": provider.CLIENT_ID,
        "auth_method": "none",
        "redirect_uri": CALLBACK,
        "scopes": ["openid", "offline_access", "dns.read", "zone.read"],
        "endpoints": provider.endpoints(),
    }])
    with timings.step("start app until its tray is on the bus"):
        app.start()
    app.tray.wait_for(f"Log in with {CLIENT_NAME}")

    app.browser.set(login=LOGIN)
    mark = notifications.mark()
    with timings.step("tray login (oidc-provider) until the grant is in the menu"):
        app.tray.click(f"Log in with {CLIENT_NAME}")
        try:
            _item, label = app.wait_for_grant(CLIENT_NAME)
        except AssertionError as e:
            seen = [(n.summary, n.body) for n in notifications.since(mark)]
            raise AssertionError(f"{e}\nnotifications: {seen}") from None
    assert label["identity"] == LOGIN, "without an API base the identity is the userinfo `sub`"
    assert label["state"] == "healthy"
    grant = read_grants()[0]
    assert "openid" in grant["granted_scopes"]
    assert {"dns.read", "zone.read"} <= set(grant["granted_scopes"]), \
        "dot-form scopes like Cloudflare's are requested and granted by an independent server too"
    tokens1 = gk.grant_tokens(grant["id"])
    assert tokens1 is not None and tokens1.refresh_token, "oidc-provider issues a refresh token to this client"

    mark = notifications.mark()
    with timings.step("copy token (oidc-provider, no refresh)"):
        app.click_in_grant(LOGIN, CLIENT_NAME, "Copy token")
        notifications.wait_for(mark, summary="Token copied")
        clip1 = wait_until(gk.read_clipboard, 5, "the token on the clipboard")
    assert clip1 == tokens1.access_token
    assert provider.userinfo(clip1) == (200, {"sub": LOGIN}), "the copied token must work on the userinfo endpoint"

    with timings.step("wait until the oidc-provider token is close to expiry"):
        app.wait_for_grant(CLIENT_NAME, state="expiring soon", timeout=ACCESS_TTL + 10)
    mark = notifications.mark()
    with timings.step("copy token (oidc-provider, refresh first)"):
        app.click_in_grant(LOGIN, CLIENT_NAME, "Copy token")
        notifications.wait_for(mark, summary="Token copied")
        clip2 = wait_until(lambda: (c := gk.read_clipboard()) and c != clip1 and c, 5, "a new token on the clipboard")
    assert provider.userinfo(clip2) == (200, {"sub": LOGIN}), "the refreshed token must work on the userinfo endpoint"
    tokens2 = gk.grant_tokens(grant["id"])
    assert tokens2.access_token == clip2
    assert tokens2.refresh_token and tokens2.refresh_token != tokens1.refresh_token, "oidc-provider rotates refresh tokens"
    assert read_grants()[0]["refreshed_at"]

    with timings.step("revoke (oidc-provider) until the grant leaves the menu"):
        app.click_in_grant(LOGIN, CLIENT_NAME, "Revoke")
        app.tray.wait_until(lambda root: not app.grant_items(root), 15, "the grant to leave the tray menu")
    assert read_grants() == [] and gk.keychain_usernames() == []
    assert provider.refresh_error(tokens2.refresh_token) == (400, "invalid_grant"), "the revoked refresh token must be dead"
    # Last, because oidc-provider treats reuse of a rotated refresh token as theft and revokes the grant.
    assert provider.refresh_error(tokens1.refresh_token) == (400, "invalid_grant"), "a rotated refresh token is single-use"

    leaked = files_containing(secret_roots(), [tokens1.access_token, tokens1.refresh_token,
                                                      tokens2.access_token, tokens2.refresh_token])
    assert leaked == [], f"a token was written to plain files: {leaked}"
