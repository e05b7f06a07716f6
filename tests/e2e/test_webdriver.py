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
from selenium.common.exceptions import TimeoutException, WebDriverException
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


def test_add_client_in_window_then_login_shows_grant(app, local_server, window, timings, out_dir):
    server = local_server()
    driver, tray = window
    app.browser.set(decline=[DECLINED])
    wait = WebDriverWait(driver, 20)

    with timings.step("fill in and save the client form"):
        wait.until(EC.presence_of_element_located((By.ID, "client-form")))
        driver.find_element(By.ID, "client-name").send_keys(CLIENT_NAME)
        driver.find_element(By.ID, "client-id").send_keys(server.client_id)
        Select(driver.find_element(By.ID, "client-auth")).select_by_value("none")
        redirect = driver.find_element(By.ID, "client-redirect")
        redirect.clear()
        redirect.send_keys(CALLBACK)
        driver.find_element(By.ID, "client-scopes").send_keys(" ".join(LOCAL_SCOPES))
        driver.find_element(By.CSS_SELECTOR, "#endpoints summary").click()
        endpoints = server.endpoints()
        for field, key in [("client-authorize-url", "authorize_url"), ("client-token-url", "token_url"),
                           ("client-revoke-url", "revoke_url"), ("client-userinfo-url", "userinfo_url"),
                           ("client-api-base", "api_base")]:
            element = wait.until(EC.visibility_of_element_located((By.ID, field)))
            element.clear()
            element.send_keys(endpoints[key])
        driver.find_element(By.ID, "client-save").click()
        row = wait.until(lambda d: next((r for r in d.find_elements(By.CSS_SELECTOR, "#clients li.client")
                                         if CLIENT_NAME in r.text), None))
    toml = (gk.config_dir() / "clients.toml").read_text()
    assert server.client_id in toml and endpoints["token_url"] in toml, "the form must be saved to clients.toml"
    tray.wait_for(f"Log in with {CLIENT_NAME}", timeout=10)

    with timings.step("log in from the window until the grant is listed"):
        row.find_element(By.CSS_SELECTOR, ".login").click()
        grant_el = WebDriverWait(driver, 30).until(
            lambda d: next(iter(d.find_elements(By.CSS_SELECTOR, "#grants li.grant")), None))
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
