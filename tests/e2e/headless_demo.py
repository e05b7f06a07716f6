#!/usr/bin/python3
"""Grantkeeper's demo for a machine without a desktop: run it with scripts/demo-headless.sh.

Inside the tests' private headless desktop (tests/e2e/desktop-session.sh) it starts a tray host
(sni_watcher.py), runs scripts/run.sh (the app with the local Cloudflare-compatible demo server),
and plays the user through the real parts: "Log in with Demo" from the tray menu over D-Bus,
browser.py as the web browser approving the demo consent page, the callback through xdg-open and
the desktop entry, "Copy token", `gk list`, "Revoke", "Quit". It prints what it sees; never a token.
Everything lives in the session's temporary HOME and is gone when it ends.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gk  # noqa: E402
import tray as traymod  # noqa: E402

DEMO_CLIENT = "Demo (local Cloudflare stand-in)"


def say(message: str) -> None:
    print(f"demo: {message}", file=sys.stderr, flush=True)


def main() -> int:
    if os.environ.get("GK_E2E_SESSION") != "1":
        say("run me through scripts/demo-headless.sh (a private headless desktop)")
        return 2
    root = Path(os.environ["GK_E2E_ROOT"])
    bus = traymod.session_bus()
    watcher = gk.start_logged(["/usr/bin/python3", str(gk.E2E / "sni_watcher.py"), "--log", str(root / "sni.jsonl")],
                              root / "sni-watcher.log")
    gk.wait_until(lambda: bus.name_has_owner(traymod.WATCHER_NAME), 15, "the tray host")
    gk.make_browser_py_the_default_browser()

    env = {**os.environ, "BROWSER": str(gk.BROWSER), "GK_BROWSER_LOG": str(root / "browser.log"),
           "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
    say("building and starting Grantkeeper with scripts/run.sh (the first build takes minutes)")
    app = subprocess.Popen([str(gk.REPO / "scripts" / "run.sh")], env=env, stdin=subprocess.DEVNULL)
    try:
        tray = traymod.wait_for_item(bus, timeout=3600, owner_alive=lambda: app.poll() is None)
        tray.wait_for(f"Log in with {DEMO_CLIENT}", timeout=30)
        say("the tray menu:\n" + tray.layout().render())

        say(f"clicking \"Log in with {DEMO_CLIENT}\"; browser.py approves the consent page")
        tray.click(f"Log in with {DEMO_CLIENT}")
        def grant_item(root):
            return next((i for i in root.children if gk.GRANT_LABEL.match(i.label) and i.children), None)

        grant = tray.wait_until(grant_item, 30, "the grant in the tray menu")
        say(f"logged in: {grant.label}")

        tray.click_in(grant_item(tray.layout()), "Copy token")
        token = gk.wait_until(gk.read_clipboard, 10, "the token on the clipboard")
        say(f"\"Copy token\": an access token of {len(token)} characters is on the clipboard "
            "(cleared again after 60 s)")

        bin_dir = Path(os.environ.get("CARGO_TARGET_DIR", gk.REPO / "target"))
        profile = os.environ.get("GRANTKEEPER_PROFILE", "release")
        listing = subprocess.run([str(bin_dir / profile / "gk"), "list"], capture_output=True, text=True, timeout=30)
        say("gk list (what a script sees):\n" + (listing.stdout or listing.stderr).rstrip())

        tray.click_in(grant_item(tray.layout()), "Revoke")
        tray.wait_until(lambda root: not any(gk.GRANT_LABEL.match(i.label) for i in root.children), 15,
                        "the grant to leave the menu")
        say("\"Revoke\": revoked at the demo server and forgotten; the menu is back to:\n" + tray.layout().render())

        tray.click("Quit Grantkeeper")
        app.wait(timeout=15)
        say("quit from the tray. That was the whole flow, with the real keychain, tray menu, deep link "
            "and clipboard.")
        return 0
    finally:
        gk.stop_process(app)
        gk.stop_process(watcher)


if __name__ == "__main__":
    sys.exit(main())
