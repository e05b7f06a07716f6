"""Self-tests of the e2e harness that need neither the app nor its window: the desktop session,
the keychain, notifications, the clipboard, the tray watcher and helpers (on a GTK appindicator
stand-in), the desktop entry and browser.py. If one of these fails, the harness is broken, not the app.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import subprocess
import urllib.parse
from pathlib import Path

import pytest

import gk
import tray as traymod
from gk import Secret, wait_until


def run(cmd, **kw):
    if "input" not in kw:
        kw["stdin"] = subprocess.DEVNULL
    return subprocess.run(cmd, capture_output=True, text=True, timeout=kw.pop("timeout", 30), check=False, **kw)


def test_secret_never_prints_its_value():
    s = Secret("very-secret-value")
    assert repr(s) == str(s) == f"{s}" == "<redacted>"
    assert s == Secret("very-secret-value") and s != Secret("other")
    assert "very-secret-value" not in repr([s, {"k": s}])


def test_files_containing_finds_a_planted_secret(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "f.bin").write_bytes(b"\x00prefix-planted-token-suffix")
    assert gk.files_containing([tmp_path], [Secret("planted-token")]) == [str(tmp_path / "sub" / "f.bin")]
    assert gk.files_containing([tmp_path], [Secret("absent")]) == []


def test_session_is_private_and_keyring_unlocked(tmp_path):
    home = Path(os.environ["HOME"])
    assert home == Path(os.environ["GK_E2E_HOME"]) and home.is_relative_to(os.environ["GK_E2E_ROOT"])
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        assert Path(os.environ[var]).is_relative_to(home), var
    value = "harness-" + secrets.token_hex(16)
    stored = run(["secret-tool", "store", "--label=harness", "service", "gk-harness", "username", "u"], input=value)
    assert stored.returncode == 0, stored.stderr
    try:
        assert run(["secret-tool", "lookup", "service", "gk-harness", "username", "u"]).stdout == value
        # The keyring file is encrypted: the secret is in no plain file.
        assert gk.files_containing([home], [Secret(value)]) == []
    finally:
        run(["secret-tool", "clear", "service", "gk-harness", "username", "u"])
    assert run(["secret-tool", "lookup", "service", "gk-harness", "username", "u"]).returncode != 0


def test_notifications_reach_the_dunst_log(notifications):
    mark = notifications.mark()
    assert run(["notify-send", "-a", "harness", "Harness summary", "Body with 'quotes'\nand a second line"]).returncode == 0
    n = notifications.wait_for(mark, summary="Harness summary", timeout=10)
    assert n.appname == "harness" and "second line" in n.body


def test_clipboard_round_trip():
    value = "clip-" + secrets.token_hex(8)
    owner = subprocess.Popen(["xclip", "-i", "-selection", "clipboard", "-loops", "1"], stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    owner.stdin.write(value.encode())
    owner.stdin.close()
    try:
        assert wait_until(gk.read_clipboard, 5, "the clipboard") == Secret(value)
    finally:
        gk.stop_process(owner)


def test_watcher_and_tray_helpers_drive_a_gtk_appindicator_menu(bus, watcher, out_dir):
    known = set(traymod.registered_items(bus))
    proc = gk.start_logged(["/usr/bin/python3", str(gk.E2E / "fake_tray_app.py")], out_dir / "fake-app.log")
    try:
        t = traymod.wait_for_item(bus, timeout=20, exclude=known, owner_alive=lambda: proc.poll() is None)
        assert t.bus_name.startswith(":"), "the watcher must report the unique bus name"
        t.click("Log in with DNS manager")
        grant = t.wait_for(regex=r"^user_1@example\.test — DNS manager: healthy$", timeout=10)
        assert [c.label for c in grant.children] == ["Copy token", "Revoke"]
        t.click(t.get("Copy token", within=grant))
        assert wait_until(gk.read_clipboard, 5, "the clipboard") == Secret("fake-token-user_1@example.test")
        t.click(t.get("Revoke", within=t.get(prefix="user_1@")))
        t.wait_gone(prefix="user_1@", timeout=10)
        entry = t.entry
        t.click("Quit Grantkeeper")
        proc.wait(timeout=10)
        wait_until(lambda: entry not in traymod.registered_items(bus), 10, "the watcher to drop the item")
    finally:
        gk.stop_process(proc)


def test_strip_mnemonic():
    assert traymod.strip_mnemonic("_Quit Grant__keeper") == "Quit Grant_keeper"
    assert traymod.strip_mnemonic("a_b__c") == "ab_c"


@pytest.mark.parametrize("dirname", ["bin", "bin with space"])
def test_desktop_entry_routes_deep_links_to_the_handler(tmp_path, dirname):
    """install-desktop-entry.sh in a throwaway XDG tree, with a handler that records its arguments."""
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    handler = tmp_path / dirname / "handler"
    handler.parent.mkdir()
    record = tmp_path / "args.json"
    handler.write_text(f"#!/usr/bin/python3\nimport json, sys\njson.dump(sys.argv[1:], open({str(record)!r}, 'w'))\n")
    handler.chmod(0o755)
    r = run([str(gk.REPO / "scripts" / "install-desktop-entry.sh"), str(handler)], env=env)
    assert r.returncode == 0, r.stderr
    entry = (tmp_path / "data" / "applications" / "grantkeeper.desktop").read_text()
    assert "MimeType=x-scheme-handler/grantkeeper;x-scheme-handler/dev.grantkeeper.app;" in entry
    exec_line = next(line for line in entry.splitlines() if line.startswith("Exec="))
    if " " in str(handler):
        assert exec_line == f'Exec="{handler}" %u', "a path with spaces is quoted (Desktop Entry spec)"
        opener = ["gio", "open"]  # xdg-open 1.1.3 without a desktop splits Exec at spaces
    else:
        assert exec_line == f"Exec={handler} %u"
        opener = ["xdg-open"]
    for scheme in ("grantkeeper", "dev.grantkeeper.app"):
        assert run(["xdg-mime", "query", "default", f"x-scheme-handler/{scheme}"], env=env).stdout.strip() == "grantkeeper.desktop"
    url = "grantkeeper://oauth/callback?code=a%2Fb%20c&state=x-y_z&iss=http%3A%2F%2F127.0.0.1"
    record.unlink(missing_ok=True)
    r = run([*opener, url], env=env)
    assert r.returncode == 0, r.stderr
    assert wait_until(lambda: record.exists() and json.loads(record.read_text()), 10, "the handler to run") == [url]


@pytest.fixture
def oidc(out_dir):
    provider = gk.OidcProvider(out_dir, access_ttl=60)
    yield provider
    provider.stop()


def test_browser_walks_oidc_provider_login_and_consent(oidc, tmp_path):
    """browser.py logs in and consents on oidc-provider; the code exchanges with PKCE and refreshes."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(16)
    query = urllib.parse.urlencode({
        "response_type": "code", "client_id": oidc.CLIENT_ID, "redirect_uri": gk.CALLBACK,
        "scope": "openid offline_access", "state": state, "code_challenge": challenge, "code_challenge_method": "S256"})
    hold, log = tmp_path / "callback", tmp_path / "browser.log"
    r = run([str(gk.BROWSER), "--hold", str(hold), "--log", str(log),
             f"{oidc.discovery['authorization_endpoint']}?{query}"])
    assert r.returncode == 0, r.stderr
    callback = urllib.parse.urlsplit(hold.read_text().strip())
    params = dict(urllib.parse.parse_qsl(callback.query))
    assert (callback.scheme, callback.netloc, callback.path) == ("grantkeeper", "oauth", "/callback")
    assert params["state"] == state and params["iss"] == oidc.base
    code = Secret(params["code"])
    assert code.expose() not in log.read_text() and state not in log.read_text(), "browser.py must redact code and state"

    status, body = gk.http("POST", oidc.discovery["token_endpoint"], data={
        "grant_type": "authorization_code", "code": code.expose(), "redirect_uri": gk.CALLBACK,
        "client_id": oidc.CLIENT_ID, "code_verifier": verifier})
    assert status == 200, f"code exchange answered {status}"
    tokens = json.loads(body)
    access, refresh = Secret(tokens.pop("access_token")), Secret(tokens.pop("refresh_token"))
    assert oidc.userinfo(access) == (200, {"sub": "e2e-user@example.test"})
    status, body = gk.http("POST", oidc.discovery["token_endpoint"], data={
        "grant_type": "refresh_token", "refresh_token": refresh.expose(), "client_id": oidc.CLIENT_ID})
    assert status == 200
    assert Secret(json.loads(body)["refresh_token"]) != refresh, "refresh tokens rotate"
    assert oidc.refresh_error(refresh) == (400, "invalid_grant"), "a rotated refresh token is single-use"


def test_browser_refuses_what_it_cannot_handle(tmp_path):
    log = tmp_path / "browser.log"
    r = run([str(gk.BROWSER), "--log", str(log), "ftp://example.invalid/x"])
    assert r.returncode == 2 and "not an http(s) URL" in r.stderr
    r = run([str(gk.BROWSER), "--log", str(log), f"http://127.0.0.1:{gk.free_port()}/oauth2/auth?code=leak"])
    assert r.returncode == 1 and "failed" in r.stderr
    assert "leak" not in log.read_text() and "leak" not in r.stderr, "query values named code are redacted"


@pytest.mark.parametrize("decision", ["approve", "deny"])
def test_browser_env_settings_on_the_local_server_consent_page(out_dir, tmp_path, decision):
    """GK_BROWSER_DECISION / GK_BROWSER_DECLINE / GK_BROWSER_HOLD drive the local server's consent form."""
    server = gk.LocalCloudflare(out_dir, access_ttl=60)
    try:
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = urllib.parse.urlencode({
            "response_type": "code", "client_id": server.client_id, "redirect_uri": gk.CALLBACK,
            "scope": " ".join(gk.LOCAL_SCOPES), "state": "s1", "code_challenge": challenge, "code_challenge_method": "S256"})
        hold = tmp_path / "callback"
        env = {**os.environ, "GK_BROWSER_DECISION": decision, "GK_BROWSER_DECLINE": "dns.write",
               "GK_BROWSER_HOLD": str(hold), "GK_BROWSER_LOG": str(tmp_path / "browser.log")}
        r = run([str(gk.BROWSER), f"{server.base}/oauth2/auth?{query}"], env=env)
        assert r.returncode == 0, r.stderr
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(hold.read_text().strip()).query))
        assert params["state"] == "s1"
        if decision == "deny":
            assert params.get("error") == "access_denied" and "code" not in params
            return
        status, body = gk.http("POST", f"{server.base}/oauth2/token", data={
            "grant_type": "authorization_code", "code": params["code"], "redirect_uri": gk.CALLBACK,
            "client_id": server.client_id, "code_verifier": verifier})
        assert status == 200
        scope = json.loads(body)["scope"].split()
        assert "dns.write" not in scope and "dns.read" in scope, "the declined optional scope is not granted"
    finally:
        server.stop()
