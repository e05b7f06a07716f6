"""Fixtures for Grantkeeper's end-to-end tests.

Run them with tests/e2e/run.sh (installs what is missing, then runs pytest inside
tests/e2e/desktop-session.sh). Outputs of each test (app, servers, browser.py logs, screenshot on
failure) go to tests/out/<test>/; step timings to tests/out/e2e-timings.txt.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gk  # noqa: E402
import tray as traymod  # noqa: E402

TIMINGS = gk.Timings()


def pytest_configure(config):
    if os.environ.get("GK_E2E_SESSION") != "1":
        raise pytest.UsageError(
            "the end-to-end tests need the private desktop session: run tests/e2e/run.sh, or "
            "tests/e2e/desktop-session.sh -- /usr/bin/python3 -m pytest tests/e2e"
        )
    gk.OUT_ROOT.mkdir(parents=True, exist_ok=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


def pytest_terminal_summary(terminalreporter):
    table = TIMINGS.table()
    path = gk.OUT_ROOT / "e2e-timings.txt"
    path.write_text(table + "\n")
    terminalreporter.write_sep("-", f"e2e step timings (also in {path})")
    terminalreporter.write_line(table)


# ------------------------------------------------------------------------------------------------
# Session-wide: the tray watcher, the desktop entries


@pytest.fixture(scope="session")
def timings():
    return TIMINGS


@pytest.fixture(scope="session")
def bus():
    return traymod.session_bus()


@pytest.fixture(scope="session")
def watcher(bus):
    log_dir = gk.OUT_ROOT / "session"
    log_dir.mkdir(parents=True, exist_ok=True)
    proc = gk.start_logged(["/usr/bin/python3", str(gk.E2E / "sni_watcher.py"), "--log", str(log_dir / "sni-watcher.jsonl")],
                           log_dir / "sni-watcher.log")
    gk.wait_until(lambda: proc.poll() is None and bus.name_has_owner(traymod.WATCHER_NAME), 15,
                  "the StatusNotifierWatcher on the session bus")
    yield proc
    gk.stop_process(proc)


@pytest.fixture(scope="session")
def desktop_entry():
    """grantkeeper.desktop for the app under test, and browser.py as the default web browser."""
    app = gk.app_binary()
    if not app.exists():
        pytest.fail(f"{app} does not exist: build the app first (GK_APP names another binary)")
    r = subprocess.run([str(gk.REPO / "scripts" / "install-desktop-entry.sh"), str(app)], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, f"install-desktop-entry.sh failed: {r.stderr}"
    apps = gk.make_browser_py_the_default_browser()
    for scheme in ("grantkeeper", "dev.grantkeeper.app"):
        got = subprocess.run(["xdg-mime", "query", "default", f"x-scheme-handler/{scheme}"], capture_output=True,
                             text=True, timeout=30).stdout.strip()
        assert got == "grantkeeper.desktop", f"x-scheme-handler/{scheme} resolves to {got!r}"
    return apps / "grantkeeper.desktop"


# ------------------------------------------------------------------------------------------------
# Per test


@pytest.fixture
def out_dir(request) -> Path:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.split("::", 1)[-1]).strip("_")
    module = Path(request.node.fspath).stem
    path = gk.OUT_ROOT / f"{module}.{name}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@pytest.fixture(autouse=True)
def _timed_test(request):
    TIMINGS.current_test = request.node.name
    yield
    TIMINGS.current_test = "-"


@pytest.fixture
def clean_state():
    """No clients, grants or keychain items left from another test."""
    gk.reset_app_state()
    yield
    gk.reset_app_state()


@pytest.fixture
def keyring():
    """The session's keyring; unlocked again after the test whatever happened."""
    ring = gk.Keyring()
    yield ring
    if ring.locked():
        ring.unlock()


@pytest.fixture
def notifications() -> gk.Notifications:
    return gk.Notifications()


@pytest.fixture
def local_server(out_dir, request):
    servers = []

    def start(access_ttl: int = 3600, clients=None) -> gk.LocalCloudflare:
        with TIMINGS.step("start local-cloudflare"):
            s = gk.LocalCloudflare(out_dir, access_ttl, clients)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def oidc_server(out_dir):
    servers = []

    def start(access_ttl: int = 3600) -> gk.OidcProvider:
        with TIMINGS.step("start oidc-provider"):
            s = gk.OidcProvider(out_dir, access_ttl)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def app(request, out_dir, bus, watcher, desktop_entry, clean_state):
    """A not yet started app; call .start() (or .start_via_xdg_open(url))."""
    the_app = gk.App(out_dir, bus)
    notes = gk.Notifications()
    mark = notes.mark()
    yield the_app
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    if failed:
        gk.screenshot(out_dir / "screenshot.png")
        if the_app.alive() and the_app.tray is not None:
            try:
                (out_dir / "tray-menu.txt").write_text(the_app.tray.layout().render() + "\n")
            except Exception as e:  # noqa: BLE001
                (out_dir / "tray-menu.txt").write_text(f"could not read the menu: {e}\n")
    the_app.stop()
    with open(notes.path, "rb") as f:  # this test's part of the dunst log
        f.seek(mark)
        (out_dir / "notifications.log").write_bytes(f.read())

