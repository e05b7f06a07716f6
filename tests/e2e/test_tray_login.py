"""Logging in from the tray against the local Cloudflare-compatible server, end to end.

The user's path: tray → "Log in with DNS manager" → the system browser (browser.py, via xdg-open and
$BROWSER) shows the consent page and approves while declining the optional dns.write scope → the
provider redirects to grantkeeper://oauth/callback → xdg-open → the desktop entry → the running app
(single instance) → code exchange → grant in the keychain, grants.json and the tray menu.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import urllib.parse
from pathlib import Path

import gk
from gk import ACCESS_TTL, CALLBACK, LOCAL_SCOPES, Secret, files_containing, read_grants, secret_roots, wait_until

CLIENT_NAME = "DNS manager"
DECLINED = "dns.write"
DEMO_EMAIL = "demo@example.com"  # the local server's default user


def dns_client(server: gk.LocalCloudflare) -> dict:
    return {
        "id": "dns",
        "name": CLIENT_NAME,
        "client_id": server.client_id,
        "auth_method": "none",
        "redirect_uri": CALLBACK,
        "scopes": LOCAL_SCOPES,
        "endpoints": server.endpoints(),
    }


def parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def start_app_with_dns_client(app: gk.App, server: gk.LocalCloudflare, timings) -> None:
    gk.write_clients_toml([dns_client(server)])
    with timings.step("start app until its tray is on the bus"):
        app.start()
    app.tray.wait_for(f"Log in with {CLIENT_NAME}")


def login_from_tray(app: gk.App, timings, **browser):
    app.browser.set(**browser)
    with timings.step("tray login until the grant is in the menu"):
        app.tray.click(f"Log in with {CLIENT_NAME}")
        return app.wait_for_grant(CLIENT_NAME)


def copy_token(app: gk.App, notifications: gk.Notifications, identity: str, timings, step: str) -> Secret:
    mark = notifications.mark()
    with timings.step(step):
        app.click_in_grant(identity, CLIENT_NAME, "Copy token")
        notifications.wait_for(mark, summary="Token copied")
        return wait_until(gk.read_clipboard, 5, "the token on the clipboard")


def test_tray_login_copy_refresh_revoke(app, local_server, notifications, timings, out_dir):
    server = local_server(access_ttl=ACCESS_TTL)
    start_app_with_dns_client(app, server, timings)
    stats0 = server.stats()

    item, label = login_from_tray(app, timings, decline=[DECLINED])
    identity = label["identity"]

    # --- the grant as the tray, grants.json and the keychain show it ---------------------------
    grants = wait_until(lambda: read_grants() or None, 10, "the grant in grants.json")
    assert len(grants) == 1, f"one login must make one grant, grants.json has {len(grants)}"
    grant = grants[0]
    assert grant["client"] == "dns"
    assert identity == grant["identity"] == DEMO_EMAIL, "identity must come from /client/v4/user"
    assert label["state"] == "healthy", (
        f"a fresh {ACCESS_TTL}s token is healthy with a {gk.REFRESH_MARGIN}s refresh margin "
        f"(GRANTKEEPER_REFRESH_MARGIN_SECS), the tray says {label['state']!r}")
    assert set(grant["requested_scopes"]) == set(LOCAL_SCOPES)
    assert DECLINED not in grant["granted_scopes"], "the user declined dns.write on the consent page"
    # Cloudflare adds offline_access (refresh_token grant) and openid by itself.
    assert set(grant["granted_scopes"]) - {"offline_access", "openid"} == set(LOCAL_SCOPES) - {DECLINED}
    assert grant["needs_reconsent"] is False
    expires1 = parse_time(grant["access_expires_at"])
    assert server.stats()["authorization_code_grants"] == stats0["authorization_code_grants"] + 1

    tokens1 = gk.grant_tokens(grant["id"])
    assert tokens1 is not None, "the grant's tokens must be in the keychain (service=grantkeeper, username=grant:<id>)"
    assert tokens1.refresh_token, "the local server issues a refresh token for this client"
    assert gk.keychain_usernames() == [f"grant:{grant['id']}"], "only the grant's item may remain (no pending flow)"
    leaked = files_containing(secret_roots(), [tokens1.access_token, tokens1.refresh_token])
    assert leaked == [], f"a token was written to plain files: {leaked}"

    # --- Copy token: the current access token, accepted by the API, no refresh ---------------
    before = server.stats()
    clip1 = copy_token(app, notifications, identity, timings, "copy token (no refresh)")
    assert clip1 == tokens1.access_token, "a healthy grant's token is handed out as it is"
    assert server.user_status(clip1) == 200, "the copied token must work on /client/v4/user"
    assert server.stats()["refresh_grants"] == before["refresh_grants"], "no refresh for a healthy token"

    # --- close to expiry: Copy token refreshes exactly once (past expiry: see the next test) -----
    with timings.step("wait until the token is close to expiry"):
        app.wait_for_grant(CLIENT_NAME, state="expiring soon", timeout=ACCESS_TTL + 10)
    before = server.stats()
    clip2 = copy_token(app, notifications, identity, timings, "copy token (refresh first)")
    after = server.stats()
    assert after["refresh_grants"] == before["refresh_grants"] + 1, (
        f"Copy token near expiry must refresh exactly once (refresh grants {before['refresh_grants']} → {after['refresh_grants']})")
    assert clip2 != clip1, "the clipboard must hold the new access token"
    assert server.user_status(clip2) == 200, "the refreshed token must work on /client/v4/user"
    tokens2 = gk.grant_tokens(grant["id"])
    assert tokens2.access_token == clip2, "the keychain must hold the token that was handed out"
    assert tokens2.refresh_token and tokens2.refresh_token != tokens1.refresh_token, "the rotated refresh token must be stored"
    grant2 = read_grants()[0]
    assert grant2["refreshed_at"], "grants.json must record the refresh"
    assert grant2["last_used_at"], "grants.json must record the hand-out"
    assert parse_time(grant2["access_expires_at"]) > expires1
    app.wait_for_grant(CLIENT_NAME, state="healthy", timeout=10)
    # Refresh tokens are single-use: the one read before the refresh is dead now.
    assert server.refresh_error(tokens1.refresh_token) == (400, "invalid_grant")

    # --- Revoke: gone from the provider, the menu, grants.json and the keychain ----------------
    before = server.stats()
    mark = notifications.mark()
    with timings.step("revoke until the grant leaves the menu"):
        app.click_in_grant(identity, CLIENT_NAME, "Revoke")
        app.tray.wait_until(lambda root: not app.grant_items(root), 15, "the grant to leave the tray menu")
    notifications.wait_for(mark, summary="Grant revoked")
    assert read_grants() == [], "grants.json must forget the revoked grant"
    assert gk.grant_tokens(grant["id"]) is None, "the keychain item must be deleted"
    assert gk.keychain_usernames() == []
    assert server.stats()["revocations"] == before["revocations"] + 1, "the provider must be asked to revoke"
    assert server.user_status(clip2) == 401, "after revocation the access token must be dead at the provider"
    assert server.refresh_error(tokens2.refresh_token) == (400, "invalid_grant")

    # --- no token in any plain file: HOME (config, data, cache), session logs, test outputs -----
    all_secrets = [tokens1.access_token, tokens1.refresh_token, tokens2.access_token, tokens2.refresh_token]
    leaked = files_containing(secret_roots(), all_secrets)
    assert leaked == [], f"a token was written to plain files: {leaked}"


def test_copy_after_expiry_refreshes_once(app, local_server, notifications, timings):
    """A token that really expired (per grants.json and the provider) is refreshed before it is
    handed out; the previous refresh token is dead afterwards."""
    ttl = gk.SHORT_ACCESS_TTL
    server = local_server(access_ttl=ttl)
    start_app_with_dns_client(app, server, timings)
    _item, label = login_from_tray(app, timings)
    identity = label["identity"]
    assert label["state"] in ("expiring soon", "expired"), (
        f"a {ttl}s token is within the {gk.REFRESH_MARGIN}s refresh margin at once, the tray says {label['state']!r}")
    grant = read_grants()[0]
    expires = parse_time(grant["access_expires_at"])
    tokens1 = gk.grant_tokens(grant["id"])

    with timings.step(f"wait for a {ttl}s access token to expire"):
        wait_until(lambda: dt.datetime.now(dt.timezone.utc) > expires, ttl + 10, "access_expires_at to pass")
        app.wait_for_grant(CLIENT_NAME, state="expired", timeout=15)
    assert server.user_status(tokens1.access_token) == 401, "the provider must refuse the expired token too"

    before = server.stats()
    clip = copy_token(app, notifications, identity, timings, "copy token (expired: refresh first)")
    after = server.stats()
    assert after["refresh_grants"] == before["refresh_grants"] + 1, (
        f"Copy token after expiry must refresh exactly once (refresh grants {before['refresh_grants']} → {after['refresh_grants']})")
    assert clip != tokens1.access_token and server.user_status(clip) == 200, "the clipboard must hold a fresh, working token"
    tokens2 = gk.grant_tokens(grant["id"])
    assert tokens2.access_token == clip and tokens2.refresh_token != tokens1.refresh_token
    assert server.refresh_error(tokens1.refresh_token) == (400, "invalid_grant"), "the old refresh token is single-use"
    assert files_containing(secret_roots(), [tokens1.access_token, tokens1.refresh_token,
                                             tokens2.access_token, tokens2.refresh_token]) == []


def test_replayed_callback_is_rejected_without_token_request(app, local_server, notifications, timings, out_dir):
    server = local_server()
    start_app_with_dns_client(app, server, timings)
    saved = Path(os.environ["GK_E2E_ROOT"]) / "replay-callback-url"
    saved.unlink(missing_ok=True)
    login_from_tray(app, timings, save=str(saved))
    callback_url = Secret(saved.read_text().strip())
    saved.unlink()
    code = Secret(urllib.parse.parse_qs(urllib.parse.urlsplit(callback_url.expose()).query)["code"][0])
    before = server.stats()
    grants_before = read_grants()

    mark = notifications.mark()
    with timings.step("replay the used callback until the app reports it"):
        assert app.xdg_open(callback_url.expose()) == 0, "xdg-open must hand the URL to the running app"
        failure = notifications.wait_for(mark, summary="Login failed")
    assert server.stats()["token_requests"] == before["token_requests"], "a replayed callback must not reach the token endpoint"
    assert read_grants() == grants_before, "a replayed callback must not change the grants"
    assert len(app.grant_items()) == 1
    assert code.expose() not in failure.body, "the notification must not repeat the code"
    assert files_containing(secret_roots(), [code]) == [], "the authorization code must not be logged"


def test_denied_consent_creates_nothing(app, local_server, notifications, timings):
    server = local_server()
    start_app_with_dns_client(app, server, timings)
    before = server.stats()
    mark = notifications.mark()
    app.browser.set(decision="deny")
    with timings.step("deny consent until the app reports it"):
        app.tray.click(f"Log in with {CLIENT_NAME}")
        notifications.wait_for(mark, summary="Login failed")
    assert server.stats()["token_requests"] == before["token_requests"], "a denied consent must not reach the token endpoint"
    assert read_grants() == []
    assert app.grant_items() == []
    assert [u for u in gk.keychain_usernames() if u.startswith("pending:")] == [], "the denied flow must be retired"


def test_cold_start_by_callback_completes_login(app, local_server, notifications, timings, out_dir):
    server = local_server()
    start_app_with_dns_client(app, server, timings)
    held = Path(os.environ["GK_E2E_ROOT"]) / "cold-start-callback-url"
    held.unlink(missing_ok=True)
    app.browser.set(hold=str(held), decline=[DECLINED])
    with timings.step("start a login; the browser holds the callback"):
        app.tray.click(f"Log in with {CLIENT_NAME}")
        wait_until(held.exists, 20, "browser.py to reach the callback")
    callback_url = held.read_text().strip()
    held.unlink()
    assert any(u.startswith("pending:") for u in gk.keychain_usernames()), "the pending flow must be in the keychain"

    with timings.step("quit from the tray"):
        app.quit()
    old_entry = app.tray.entry
    stats = server.stats()

    mark = notifications.mark()
    with timings.step("cold start by xdg-open until the grant is in the menu"):
        app.start_via_xdg_open(callback_url)
        assert app.tray.entry != old_entry
        app.wait_for_grant(CLIENT_NAME)
    notifications.wait_for(mark, summary="Logged in")
    grants = read_grants()
    assert len(grants) == 1 and DECLINED not in grants[0]["granted_scopes"]
    assert gk.grant_tokens(grants[0]["id"]) is not None
    assert [u for u in gk.keychain_usernames() if u.startswith("pending:")] == [], "the used flow must be retired"
    assert server.stats()["authorization_code_grants"] == stats["authorization_code_grants"] + 1
    # No process may carry the code in its arguments (world-readable via ps): not the tray app,
    # not xdg-open waiting for it. Nor may the app's initial environment hold it.
    code = urllib.parse.parse_qs(urllib.parse.urlparse(callback_url).query)["code"][0]
    carriers = [pid for pid in gk.all_pids() if code.encode() in gk.cmdline(pid)]
    assert carriers == [], f"processes {carriers} show the authorization code in their arguments"
    assert code.encode() not in gk.environ(app.proc.pid), "the app's environment must not hold the code"

    with timings.step("quit the cold-started app"):
        app.quit()


def test_grant_survives_restart_and_a_second_process_hands_out_its_token(app, local_server, notifications, timings):
    """Quit and restart: the grant is still there; `gk`, a separate process, reads it from the keychain."""
    server = local_server(access_ttl=ACCESS_TTL)
    start_app_with_dns_client(app, server, timings)
    _, label = login_from_tray(app, timings)
    grant_id = read_grants()[0]["id"]
    with timings.step("quit and start the app again"):
        app.quit()
        app.start()
    _, label2 = app.wait_for_grant(CLIENT_NAME)
    assert label2["identity"] == label["identity"], "the grant survives a restart"

    gk_cli = Path(gk.app_binary()).with_name("gk")
    env = {**os.environ, "GRANTKEEPER_REFRESH_MARGIN_SECS": str(gk.REFRESH_MARGIN)}
    with timings.step("gk token (second process)"):
        out = subprocess.run([str(gk_cli), "token", CLIENT_NAME], env=env, capture_output=True, timeout=30)
    assert out.returncode == 0, f"gk token failed: {out.stderr.decode(errors='replace')}"
    token = Secret(out.stdout.decode().strip())
    assert token == gk.grant_tokens(grant_id).access_token, "gk hands out the grant's token from the keychain"
    assert server.user_status(token) == 200, "and the provider accepts it"
    assert out.stderr == b"" or token.expose() not in out.stderr.decode(errors="replace"), "stderr never carries the token"

    listing = subprocess.run([str(gk_cli), "list", "--json"], env=env, capture_output=True, timeout=30)
    assert listing.returncode == 0
    assert grant_id in listing.stdout.decode(), "gk list shows the grant"
    assert token.expose() not in listing.stdout.decode(), "gk list never shows a token"
    assert read_grants()[0]["last_used_at"], "the hand-out by gk is recorded as the grant's last use"


def test_tray_follows_a_refresh_made_by_another_process(app, local_server, timings):
    """`gk token` refreshes an expired grant in another process; the tray notices without a click."""
    server = local_server(access_ttl=gk.SHORT_ACCESS_TTL)
    start_app_with_dns_client(app, server, timings)
    login_from_tray(app, timings)
    with timings.step("wait for the short-lived token to expire"):
        app.wait_for_grant(CLIENT_NAME, state="expired", timeout=gk.SHORT_ACCESS_TTL + 15)
    env = {**os.environ, "GRANTKEEPER_REFRESH_MARGIN_SECS": str(gk.REFRESH_MARGIN)}
    before = server.stats()["refresh_grants"]
    out = subprocess.run([str(Path(gk.app_binary()).with_name("gk")), "token"], env=env,
                         capture_output=True, timeout=30)
    assert out.returncode == 0, f"gk token failed: {out.stderr.decode(errors='replace')}"
    assert server.stats()["refresh_grants"] == before + 1, "gk refreshed the expired grant"
    with timings.step("tray shows the refreshed state"):
        # The new token is again inside the refresh margin, so "expiring soon", no longer "expired".
        app.wait_for_grant(CLIENT_NAME, state="expiring soon", timeout=5)


def test_loopback_redirect_login_listens_only_while_pending(app, local_server, notifications, timings):
    """A client registered with http://127.0.0.1:PORT/…: the browser delivers the redirect to the
    app's own listener, which exists only while the login is pending."""
    port = gk.free_port()
    redirect = f"http://127.0.0.1:{port}/oauth/callback"
    server = local_server(clients=[{
        "client_id": "loopback-client", "client_secret": None, "auth_method": "none",
        "redirect_uris": [redirect], "scopes": LOCAL_SCOPES, "optional_scopes": ["dns.write"],
        "grant_types": ["authorization_code", "refresh_token"],
    }])
    client = {**dns_client(server), "client_id": "loopback-client", "redirect_uri": redirect}
    gk.write_clients_toml([client])
    app.start()
    app.tray.wait_for(f"Log in with {CLIENT_NAME}")

    def listening() -> bool:
        with gk.socket.socket() as s:
            s.settimeout(0.2)
            return s.connect_ex(("127.0.0.1", port)) == 0

    assert not listening(), "no listener before a login starts"
    mark = notifications.mark()
    with timings.step("loopback login until the grant is in the menu"):
        app.tray.click(f"Log in with {CLIENT_NAME}")
        app.wait_for_grant(CLIENT_NAME)
    notifications.wait_for(mark, summary="Logged in")
    assert read_grants()[0]["identity"] == DEMO_EMAIL
    wait_until(lambda: not listening(), 5, "the loopback listener to stop once no login is pending")


def test_a_browser_that_fails_to_start_is_reported(app, local_server, notifications, timings):
    """The default browser exits with an error (here: browser.py, which cannot load the page):
    the user is told instead of waiting for a consent page that never comes."""
    server = local_server()
    client = dns_client(server)
    client["endpoints"] = {**server.endpoints(), "authorize_url": f"http://127.0.0.1:{gk.free_port()}/oauth2/auth"}
    gk.write_clients_toml([client])
    app.start()
    mark = notifications.mark()
    with timings.step("login with a failing browser until the user is told"):
        app.tray.click(f"Log in with {CLIENT_NAME}")
        notifications.wait_for(mark, summary="Could not open the web browser", timeout=20)
    assert read_grants() == []


def test_a_locked_keychain_shows_in_the_tray_and_loses_nothing(app, local_server, notifications, keyring, timings):
    """The desktop locks the keyring (as a screen lock may): the tray says so without a click,
    Copy token tells the user what to do and changes nothing; once unlocked, all works again."""
    server = local_server()
    start_app_with_dns_client(app, server, timings)
    _, label = login_from_tray(app, timings)
    identity = label["identity"]
    grants_before = read_grants()
    grant_id = grants_before[0]["id"]
    tokens = gk.grant_tokens(grant_id)

    with timings.step("lock the keyring until the tray shows it"):
        keyring.lock()
        app.wait_for_grant(CLIENT_NAME, state="keychain locked", timeout=15)
    before = server.stats()
    mark = notifications.mark()
    with timings.step("copy token with the keyring locked until the user is told"):
        app.click_in_grant(identity, CLIENT_NAME, "Copy token")
        failure = notifications.wait_for(mark, summary="Copy token failed", timeout=40)
    assert "locked" in failure.body and "Unlock" in failure.body, f"the user learns what to do: {failure.body!r}"
    assert gk.read_clipboard() != tokens.access_token, "no token while the keychain is locked"
    assert server.stats()["token_requests"] == before["token_requests"], "nothing was sent to the provider"
    assert read_grants() == grants_before, "grants.json is unchanged"

    gk_cli = str(Path(gk.app_binary()).with_name("gk"))
    listing = subprocess.run([gk_cli, "list", "--json"], capture_output=True, timeout=30)
    assert listing.returncode == 0
    assert [g["state"] for g in json.loads(listing.stdout)["grants"]] == ["keychain_locked"], \
        "gk list tells a script why it cannot have a token"
    out = subprocess.run([gk_cli, "token"], capture_output=True, timeout=60)
    assert out.returncode != 0 and out.stdout == b"", "gk token prints no token while locked"
    assert b"locked" in out.stderr, out.stderr.decode(errors="replace")

    with timings.step("unlock the keyring until the tray shows the grant healthy"):
        keyring.unlock()
        app.wait_for_grant(CLIENT_NAME, state="healthy", timeout=15)
    after = gk.grant_tokens(grant_id)
    assert after.access_token == tokens.access_token and after.refresh_token == tokens.refresh_token, \
        "the grant's tokens survived the lock"
    clip = copy_token(app, notifications, identity, timings, "copy token after unlocking")
    assert clip == tokens.access_token and server.user_status(clip) == 200


def test_unreadable_files_are_reported_and_never_overwritten(app, local_server, notifications, timings):
    """A grant list broken while the app runs, a client file broken before it starts: the user is
    told which file, the tray says so, and neither file is reset, whatever the user clicks."""
    server = local_server()
    start_app_with_dns_client(app, server, timings)
    login_from_tray(app, timings)
    grants_file = gk.data_dir() / "grants.json"
    good = grants_file.read_bytes()
    broken = b'{"version": 1, "grants": [{"id": 7}]'

    mark = notifications.mark()
    with timings.step("break grants.json until the user is told"):
        grants_file.write_bytes(broken)
        told = notifications.wait_for(mark, summary="Grantkeeper cannot read a file", timeout=10)
    assert str(grants_file) in told.body, f"the notification names the file: {told.body!r}"
    app.tray.wait_for("Grant list unreadable (metadata_unreadable)", timeout=10)
    mark = notifications.mark()
    app.tray.click(f"Log in with {CLIENT_NAME}")
    failed = notifications.wait_for(mark, summary="Login failed", timeout=10)
    assert "grants.json" in failed.body
    assert grants_file.read_bytes() == broken, "a file Grantkeeper cannot read is never overwritten"

    with timings.step("repair grants.json until the grant is back"):
        grants_file.write_bytes(good)
        app.wait_for_grant(CLIENT_NAME, timeout=10)

    app.quit()
    clients_file = gk.config_dir() / "clients.toml"
    clients_file.write_bytes(b"version = 1\n[[clients]]\nname = 3\n")
    mark = notifications.mark()
    with timings.step("start with a broken clients.toml until the user is told"):
        app.start()
        told = notifications.wait_for(mark, summary="Grantkeeper cannot read a file", timeout=10)
    assert str(clients_file) in told.body and "line 3" in told.body, told.body
    app.tray.wait_for("Client settings unreadable (config_unreadable)", timeout=10)
    assert clients_file.read_bytes() == b"version = 1\n[[clients]]\nname = 3\n"


def test_a_garbled_argument_is_refused_without_a_crash_or_an_echo(app):
    """A launcher passing bytes that are not UTF-8 gets a clear refusal, not a panic that prints them."""
    garbled = b"grantkeeper://oauth/callback?code=\xff\xfesecretcode&state=x"
    out = subprocess.run([os.fsencode(gk.app_binary()), garbled], capture_output=True, timeout=30, env=app.env)
    assert out.returncode == 2, f"exit {out.returncode}: {out.stderr.decode(errors='replace')[-300:]}"
    assert b"not valid UTF-8" in out.stderr
    assert b"panicked" not in out.stderr and b"secretcode" not in out.stderr
