"""The window, driven over WebDriver (tauri-driver + WebKitWebDriver + selenium): add a client through
the form, log in from the client's row, and see the grant with its scopes and a live countdown.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.options import ArgOptions
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

import gk
import tray as traymod
from gk import CALLBACK, LOCAL_SCOPES, files_containing, read_grants, secret_roots, wait_until

CLIENT_NAME = "DNS manager"
DECLINED = "dns.write"
COUNTDOWN = re.compile(r"expires in (\d+:)?\d{1,2}:\d{2}")


def tauri_driver_binary() -> str:
    found = shutil.which("tauri-driver")
    if not found:
        cargo_home = Path(os.environ.get("CARGO_HOME", Path(os.environ.get("GK_REAL_HOME", "~")).expanduser() / ".cargo"))
        candidate = cargo_home / "bin" / "tauri-driver"
        found = str(candidate) if candidate.exists() else None
    if not found:
        pytest.fail("tauri-driver is not installed: `cargo install tauri-driver --locked` (tests/e2e/run.sh does it)")
    if not shutil.which("WebKitWebDriver"):
        pytest.fail("WebKitWebDriver is not installed (Debian package webkit2gtk-driver)")
    return found


@pytest.fixture
def window(app, out_dir, bus, timings):
    """A WebDriver session on the app's window; yields (driver, tray)."""
    port, native_port = gk.free_port(), gk.free_port()
    known = set(traymod.registered_items(bus))
    with timings.step("start tauri-driver"):
        driver_proc = gk.start_logged([tauri_driver_binary(), "--port", str(port), "--native-port", str(native_port)],
                                      out_dir / "tauri-driver.log", env=app.env)
        wait_until(lambda: driver_proc.poll() is None and _port_open(port), 20, "tauri-driver to listen")
    opts = ArgOptions()
    opts.set_capability("browserName", "wry")
    opts.set_capability("tauri:options", {"application": str(gk.app_binary())})
    driver = tray = None
    try:
        with timings.step("open a WebDriver session (starts the app with its window)"):
            driver = webdriver.Remote(command_executor=f"http://127.0.0.1:{port}", options=opts)
            tray = traymod.wait_for_item(bus, timeout=30, exclude=known)
        yield driver, tray
    finally:
        if driver is not None:
            try:
                driver.execute_script("window.scrollTo(0, 0)")
                (out_dir / "window.png").write_bytes(driver.get_screenshot_as_png())
            except WebDriverException:
                pass
            with timings.step("close the WebDriver session"):
                try:
                    driver.quit()
                except WebDriverException:
                    pass
        # Ending the session should end the app; if not, quit it (a leftover instance would swallow
        # the next test's app through single-instance).
        if tray is not None:
            try:
                wait_until(lambda: not tray.alive(), 5, "the app to exit with the WebDriver session")
            except AssertionError:
                try:
                    tray.click("Quit Grantkeeper")
                    wait_until(lambda: not tray.alive(), 10, "the app to quit")
                except Exception:  # noqa: BLE001
                    pass
        gk.stop_process(driver_proc)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def fill_client_form(driver, server, *, name=CLIENT_NAME, auth="none", scopes=" ".join(LOCAL_SCOPES),
                     secret=None) -> None:
    """Types a client into the form as a user would, endpoints pointed at `server`."""
    wait = WebDriverWait(driver, 20)
    wait.until(EC.presence_of_element_located((By.ID, "client-form")))
    driver.find_element(By.ID, "client-name").send_keys(name)
    driver.find_element(By.ID, "client-id").send_keys(server.client_id)
    Select(driver.find_element(By.ID, "client-auth")).select_by_value(auth)
    if secret is not None:
        driver.find_element(By.ID, "client-secret").send_keys(secret.expose())
    redirect = driver.find_element(By.ID, "client-redirect")
    redirect.clear()
    redirect.send_keys(CALLBACK)
    driver.find_element(By.ID, "client-scopes").send_keys(scopes)
    driver.find_element(By.CSS_SELECTOR, "#endpoints summary").click()
    endpoints = server.endpoints()
    for field, key in [("client-authorize-url", "authorize_url"), ("client-token-url", "token_url"),
                       ("client-revoke-url", "revoke_url"), ("client-userinfo-url", "userinfo_url"),
                       ("client-api-base", "api_base")]:
        element = wait.until(EC.visibility_of_element_located((By.ID, field)))
        element.clear()
        element.send_keys(endpoints[key])


# The lists re-render when something changes (our own saves, file events): an element found a
# moment ago may be gone. Look up and act in one retried step.
RETRY = (StaleElementReferenceException,)


def client_row(driver, name: str, timeout: float = 20):
    return WebDriverWait(driver, timeout, ignored_exceptions=RETRY).until(
        lambda d: next((r for r in d.find_elements(By.CSS_SELECTOR, "#clients li.client")
                        if r.find_element(By.CSS_SELECTOR, ".identity").text == name), None))


def click_in_client(driver, name: str, button: str) -> None:
    def attempt(d):
        client_row(d, name).find_element(By.CSS_SELECTOR, button).click()
        return True
    WebDriverWait(driver, 20, ignored_exceptions=RETRY).until(attempt)


def click_in_grant(driver, button: str) -> None:
    def attempt(d):
        grant_row(d).find_element(By.CSS_SELECTOR, button).click()
        return True
    WebDriverWait(driver, 20, ignored_exceptions=RETRY).until(attempt)


def add_client(driver, server, **form) -> str:
    fill_client_form(driver, server, **form)
    driver.find_element(By.ID, "client-save").click()
    name = form.get("name", CLIENT_NAME)
    client_row(driver, name)
    return name


def login_from_window(driver, name: str):
    click_in_client(driver, name, ".login")
    return grant_row(driver, timeout=30)


def grant_row(driver, timeout: float = 10):
    """The (only) grant in the list, looked up afresh: the list re-renders when a grant changes."""
    return WebDriverWait(driver, timeout, ignored_exceptions=RETRY).until(
        lambda d: next(iter(d.find_elements(By.CSS_SELECTOR, "#grants li.grant")), None))


def confirm_dialog(driver) -> None:
    """Accepts the page's confirm() as the user would click OK."""
    WebDriverWait(driver, 10).until(EC.alert_is_present()).accept()


def banner(driver, contains: str, timeout: float = 15) -> str:
    return WebDriverWait(driver, timeout).until(
        lambda d: (lambda b: b.text if b.is_displayed() and contains in b.text else None)(
            d.find_element(By.ID, "banner")))


def test_add_client_in_window_then_login_shows_grant(app, local_server, window, timings, out_dir):
    server = local_server()
    driver, tray = window
    app.browser.set(decline=[DECLINED])

    with timings.step("fill in and save the client form"):
        row = add_client(driver, server)
    endpoints = server.endpoints()
    toml = (gk.config_dir() / "clients.toml").read_text()
    assert server.client_id in toml and endpoints["token_url"] in toml, "the form must be saved to clients.toml"
    tray.wait_for(f"Log in with {CLIENT_NAME}", timeout=10)

    with timings.step("log in from the window until the grant is listed"):
        grant_el = login_from_window(driver, row)
    grant = read_grants()[0]
    granted = {e.text for e in grant_el.find_elements(By.CSS_SELECTOR, ".scope:not(.missing)")}
    missing = {e.text for e in grant_el.find_elements(By.CSS_SELECTOR, ".scope.missing")}
    assert granted == set(grant["granted_scopes"]), "the window must list exactly the granted scopes"
    assert DECLINED not in granted and missing == {DECLINED}, "the declined scope must show as not granted"
    assert grant_el.find_element(By.CSS_SELECTOR, ".identity").text == grant["identity"]

    countdown = grant_el.find_element(By.CSS_SELECTOR, ".countdown")
    first = countdown.text
    assert COUNTDOWN.fullmatch(first), f"countdown reads {first!r}"
    # The countdown ticks every second; two ticks always change the seconds shown.
    try:
        WebDriverWait(driver, 2.5, poll_frequency=0.1).until(lambda d: countdown.text != first)
    except TimeoutException:
        raise AssertionError(f"the countdown must be live: it read {first!r} for 2.5 s") from None

    tokens = gk.grant_tokens(grant["id"])
    page = driver.page_source
    assert tokens.access_token.expose() not in page and tokens.refresh_token.expose() not in page, \
        "no token may reach the webview"
    del page
    assert files_containing(secret_roots(), [tokens.access_token, tokens.refresh_token]) == []


def test_secret_field_only_for_confidential_clients(window):
    """A public (PKCE) client has no secret: the form hides the secret field unless a secret-based
    authentication method is chosen (app.js toggles `hidden` on #secret-row)."""
    driver, _tray = window
    WebDriverWait(driver, 20).until(EC.presence_of_element_located((By.ID, "client-form")))
    auth = Select(driver.find_element(By.ID, "client-auth"))
    secret = driver.find_element(By.ID, "client-secret")
    auth.select_by_value("client_secret_basic")
    assert secret.is_displayed(), "client_secret_basic needs the secret field"
    auth.select_by_value("none")
    row_display = driver.execute_script("return getComputedStyle(document.getElementById('secret-row')).display")
    assert not secret.is_displayed(), (
        f"with 'None: public client with PKCE' the secret field must be hidden; #secret-row has the hidden "
        f"attribute but computed display {row_display!r}")


def test_window_copies_a_token_edits_revokes_and_removes(app, local_server, notifications, window, timings):
    """Every button of a grant and a client, as the window offers them."""
    server = local_server()
    driver, tray = window
    row = add_client(driver, server)
    login_from_window(driver, row)
    grant = read_grants()[0]
    tokens = gk.grant_tokens(grant["id"])

    with timings.step("copy token from the window"):
        click_in_grant(driver, ".copy")
        banner(driver, "on the clipboard")
        clip = wait_until(gk.read_clipboard, 5, "the token on the clipboard")
    assert clip == tokens.access_token and server.user_status(clip) == 200
    assert read_grants()[0]["last_used_at"], "the copy is recorded as the grant's last use"
    WebDriverWait(driver, 10).until(
        lambda d: "last used never" not in d.find_element(By.CSS_SELECTOR, "#grants li.grant").text)

    with timings.step("rename the client in the window"):
        click_in_client(driver, CLIENT_NAME, ".edit")
        name = driver.find_element(By.ID, "client-name")
        name.clear()
        name.send_keys("DNS admin")
        driver.find_element(By.ID, "client-save").click()
        client_row(driver, "DNS admin")
        tray.wait_for("Log in with DNS admin", timeout=10)
    toml = (gk.config_dir() / "clients.toml").read_text()
    assert 'name = "DNS admin"' in toml and CLIENT_NAME not in toml, "the edit replaces the client in place"

    with timings.step("revoke from the window until the grant is gone"):
        click_in_grant(driver, ".revoke")
        confirm_dialog(driver)
        WebDriverWait(driver, 15).until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#grants li.grant"))
    assert "revoked it" in banner(driver, "Grant revoked")
    assert read_grants() == [] and gk.grant_tokens(grant["id"]) is None
    assert server.refresh_error(tokens.refresh_token) == (400, "invalid_grant"), "revoked at the provider"

    with timings.step("remove the client from the window"):
        click_in_client(driver, "DNS admin", ".remove")
        confirm_dialog(driver)
        WebDriverWait(driver, 15).until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#clients li.client"))
    assert "client_id" not in (gk.config_dir() / "clients.toml").read_text(), "clients.toml forgets it"
    tray.wait_for("No clients yet: open Grantkeeper to add one", timeout=10)


def test_window_state_follows_the_clock(app, local_server, window, timings):
    """The badge changes from "expiring soon" to "expired" by itself, like the tray."""
    server = local_server(access_ttl=gk.SHORT_ACCESS_TTL)
    driver, _tray = window
    login_from_window(driver, add_client(driver, server))
    state = grant_row(driver).find_element(By.CSS_SELECTOR, ".state").text
    assert state in ("expiring soon", "expired"), state
    with timings.step("wait for the window to show the token expired"):
        WebDriverWait(driver, gk.SHORT_ACCESS_TTL + 10, poll_frequency=0.2).until(
            lambda d: d.find_element(By.CSS_SELECTOR, "#grants li.grant .state").text == "expired")
    assert driver.find_element(By.CSS_SELECTOR, "#grants li.grant .countdown").text == "expired"


def test_a_rejected_client_form_keeps_what_was_typed(app, local_server, window):
    """A mistake in the form is explained; nothing is saved and nothing typed is lost."""
    server = local_server()
    driver, _tray = window
    secret = gk.Secret("typed-secret-" + os.urandom(8).hex())
    fill_client_form(driver, server, auth="client_secret_post", scopes="dns.read DNS:Write", secret=secret)
    driver.find_element(By.ID, "client-save").click()
    assert "not a Cloudflare scope" in banner(driver, "DNS:Write"), "the error names the bad scope"
    assert driver.find_element(By.ID, "client-name").get_attribute("value") == CLIENT_NAME
    assert driver.find_element(By.ID, "client-secret").get_attribute("value") == secret.expose(), \
        "the secret the user typed stays in the field to save again"
    assert not (gk.config_dir() / "clients.toml").exists() or CLIENT_NAME not in (gk.config_dir() / "clients.toml").read_text()
    assert gk.keychain_usernames() == [], "no secret is stored for a client that was not saved"

    # Fixing the scope saves the client with its secret.
    scopes = driver.find_element(By.ID, "client-scopes")
    scopes.clear()
    scopes.send_keys("dns.read dns.write")
    driver.find_element(By.ID, "client-save").click()
    client_row(driver, CLIENT_NAME)
    assert gk.keychain_usernames() == ["client-secret:dns-manager"]
    assert gk.keychain_lookup("client-secret:dns-manager") == secret
    assert driver.find_element(By.ID, "client-secret").get_attribute("value") == "", "cleared once stored"
