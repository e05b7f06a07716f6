"""Helpers for Grantkeeper's end-to-end tests: secrets that never print, processes, the servers,
the app, the keychain, the clipboard, notifications and step timings.

Everything here runs inside tests/e2e/desktop-session.sh (Xvfb, private D-Bus session, unlocked
gnome-keyring, dunst) with Debian's /usr/bin/python3.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import tray as traymod

REPO = Path(__file__).resolve().parents[2]
E2E = REPO / "tests" / "e2e"
OUT_ROOT = Path(os.environ.get("GK_E2E_OUT", REPO / "tests" / "out"))
BROWSER = E2E / "browser.py"
KEYCHAIN_SERVICE = "grantkeeper"
STATES = ("healthy", "expiring soon", "expired", "needs re-consent", "keychain locked")
GRANT_LABEL = re.compile(r"^(?P<identity>.+) — (?P<client>.+): (?P<state>" + "|".join(STATES) + r")$")
PUBLIC_CLIENT_ID = "grantkeeper-demo"
CALLBACK = "grantkeeper://oauth/callback"


# The app refreshes an access token that expires within its refresh margin before handing it out,
# and shows the grant as "expiring soon" from then on. The tests shorten the margin
# (GRANTKEEPER_REFRESH_MARGIN_SECS; the app's default is 5 minutes) and use tokens living a bit
# longer than it: "healthy" right after login, close to expiry a few seconds later.
REFRESH_MARGIN = int(os.environ.get("GK_E2E_REFRESH_MARGIN", "10"))
ACCESS_TTL = int(os.environ.get("GK_E2E_ACCESS_TTL", str(REFRESH_MARGIN + 12)))
# A token shorter than the margin: "expiring soon" at once, expired within seconds.
SHORT_ACCESS_TTL = int(os.environ.get("GK_E2E_SHORT_ACCESS_TTL", str(max(2, REFRESH_MARGIN - 2))))


def secret_roots() -> list[Path]:
    """Every place a test run writes plain files: the session (HOME, logs) and the test outputs."""
    roots = [Path(os.environ["GK_E2E_ROOT"]), OUT_ROOT]
    log_dir = os.environ.get("GK_E2E_LOG_DIR")
    if log_dir and not any(Path(log_dir).resolve().is_relative_to(r.resolve()) for r in roots):
        roots.append(Path(log_dir))
    return roots


def app_binary() -> Path:
    return Path(os.environ.get("GK_APP", REPO / "target" / "debug" / "grantkeeper"))


def local_cloudflare_binary() -> Path:
    return Path(os.environ.get("GK_LOCAL_CLOUDFLARE", REPO / "target" / "debug" / "local-cloudflare"))


# ------------------------------------------------------------------------------------------------
# Secrets


class Secret:
    """A token or secret read by a test. Prints as <redacted> (so pytest's assertion rewriting and
    tracebacks can't show it) and compares by value."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        if isinstance(value, Secret):
            value = value.expose()
        self._value = str(value)

    def expose(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__

    def __format__(self, spec) -> str:
        return "<redacted>"

    def __eq__(self, other) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __ne__(self, other) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __reduce__(self):
        raise TypeError("a Secret is not serialisable")


def files_containing(roots: Iterable[Path], secrets: Iterable[Secret], max_bytes: int = 64 << 20) -> list[str]:
    """Regular files under roots whose bytes contain any secret (paths only, never the secret)."""
    needles = [s.expose().encode() for s in secrets if s]
    hits = []
    for root in roots:
        for dirpath, _dirs, files in os.walk(root, followlinks=False):
            for name in files:
                path = Path(dirpath) / name
                try:
                    if not path.is_file() or path.is_symlink() or path.stat().st_size > max_bytes:
                        continue
                    data = path.read_bytes()
                except OSError:
                    continue
                if any(n in data for n in needles):
                    hits.append(str(path))
    return hits


# ------------------------------------------------------------------------------------------------
# Waiting and timings


def wait_until(fn: Callable[[], object], timeout: float, what: str, interval: float = 0.1):
    """Poll fn until it returns something truthy; return it, or fail saying what was awaited."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = fn()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - reported on timeout
            last_exc = e
        if time.monotonic() >= deadline:
            extra = f" (last error: {type(last_exc).__name__}: {last_exc})" if last_exc else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{extra}")
        time.sleep(interval)


class Timings:
    """Step timings (time.monotonic) for the whole session: (test, step, seconds)."""

    def __init__(self):
        self.rows: list[tuple[str, str, float]] = []
        self.current_test = "-"

    @contextlib.contextmanager
    def step(self, name: str):
        t0 = time.monotonic()
        ok = False
        try:
            yield
            ok = True
        finally:
            self.rows.append((self.current_test, name if ok else f"{name} (failed)", time.monotonic() - t0))

    def table(self) -> str:
        if not self.rows:
            return "(no steps recorded)"
        w_test = max(len("test"), *(len(r[0]) for r in self.rows))
        w_step = max(len("step"), *(len(r[1]) for r in self.rows))
        lines = [f"{'test':<{w_test}}  {'step':<{w_step}}  seconds", f"{'-' * w_test}  {'-' * w_step}  -------"]
        for test, step, secs in self.rows:
            lines.append(f"{test:<{w_test}}  {step:<{w_step}}  {secs:7.2f}")
        total = sum(r[2] for r in self.rows)
        lines.append(f"{'':<{w_test}}  {'total of steps':<{w_step}}  {total:7.2f}")
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# Processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: subprocess.Popen | None, timeout: float = 5.0) -> None:
    """SIGTERM a process we started (its own process group if it has one), then SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM) if os.getpgid(proc.pid) == proc.pid else proc.terminate()
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL) if os.getpgid(proc.pid) == proc.pid else proc.kill()
        proc.wait(timeout=5)


def start_logged(cmd: list[str], log_path: Path, env: dict | None = None, cwd: Path | None = None,
                 stdout_path: Path | None = None) -> subprocess.Popen:
    """Start cmd in its own process group with stdout/stderr in files (stdout to stdout_path if given)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    err = open(log_path, "ab")
    out = open(stdout_path, "ab") if stdout_path else err
    try:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=cwd,
                                start_new_session=True)
    finally:
        err.close()
        if stdout_path:
            out.close()


def wait_for_line(path: Path, pattern: str, proc: subprocess.Popen, timeout: float, what: str) -> re.Match:
    rx = re.compile(pattern)

    def check():
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with status {proc.returncode}; see {path}")
        m = rx.search(path.read_text(errors="replace")) if path.exists() else None
        return m

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = check()
        if m:
            return m
        time.sleep(0.05)
    raise AssertionError(f"{what} did not print {pattern!r} within {timeout:.0f}s; see {path}")


def http(method: str, url: str, *, data: dict | None = None, headers: dict | None = None,
         timeout: float = 10) -> tuple[int, bytes]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def bearer(token: Secret) -> dict:
    return {"Authorization": f"Bearer {token.expose()}"}


# ------------------------------------------------------------------------------------------------
# The providers


LOCAL_SCOPES = ["account.read", "user-details.read", "zone.read", "dns.read", "dns.write"]


def refresh_error(token_url: str, client_id: str, refresh_token: Secret) -> tuple[int, str | None]:
    """Try a refresh with this token as a public client; returns (status, OAuth error code) and
    throws any tokens issued away."""
    status, body = http("POST", token_url, data={
        "grant_type": "refresh_token", "refresh_token": refresh_token.expose(), "client_id": client_id})
    try:
        err = json.loads(body).get("error")
    except ValueError:
        err = None
    return status, err


class LocalCloudflare:
    """The local Cloudflare-compatible server (crates/local-cloudflare), one per test."""

    def __init__(self, out_dir: Path, access_ttl: int, clients: list[dict] | None = None):
        self.out_dir = out_dir
        self.client_id = PUBLIC_CLIENT_ID
        config = {
            "clients": clients
            or [
                {
                    "client_id": PUBLIC_CLIENT_ID,
                    "client_secret": None,
                    "auth_method": "none",
                    "redirect_uris": [CALLBACK, "dev.grantkeeper.app:/oauth/callback"],
                    "scopes": LOCAL_SCOPES,
                    "optional_scopes": ["dns.write"],
                    "grant_types": ["authorization_code", "refresh_token"],
                }
            ],
            "access_ttl_secs": access_ttl,
        }
        self.config_path = out_dir / "local-cloudflare.json"
        self.config_path.write_text(json.dumps(config, indent=2))
        binary = local_cloudflare_binary()
        if not binary.exists():
            raise AssertionError(f"{binary} does not exist: build it first (cargo build -p local-cloudflare)")
        stdout = out_dir / "local-cloudflare.stdout"
        self.proc = start_logged(
            [str(binary), "--listen", "127.0.0.1:0", "--config", str(self.config_path), "--access-ttl", str(access_ttl)],
            out_dir / "local-cloudflare.log",
            env={**os.environ, "RUST_LOG": os.environ.get("GK_SERVER_LOG", "info")},
            stdout_path=stdout,
        )
        m = wait_for_line(stdout, r"local-cloudflare listening on (http://127\.0\.0\.1:\d+)", self.proc, 15,
                          "local-cloudflare")
        self.base = m.group(1)

    def endpoints(self) -> dict:
        return {
            "authorize_url": f"{self.base}/oauth2/auth",
            "token_url": f"{self.base}/oauth2/token",
            "revoke_url": f"{self.base}/oauth2/revoke",
            "userinfo_url": f"{self.base}/oauth2/userinfo",
            "api_base": f"{self.base}/client/v4",
        }

    def stats(self) -> dict:
        status, body = http("GET", f"{self.base}/_local/stats")
        assert status == 200, f"/_local/stats answered {status}"
        return json.loads(body)

    def user_status(self, token: Secret) -> int:
        status, _ = http("GET", f"{self.base}/client/v4/user", headers=bearer(token))
        return status

    def refresh_error(self, refresh_token: Secret) -> tuple[int, str | None]:
        return refresh_error(f"{self.base}/oauth2/token", self.client_id, refresh_token)

    def stop(self):
        stop_process(self.proc)


class OidcProvider:
    """panva/oidc-provider (tests/e2e/oidc/server.mjs), an independent implementation."""

    CLIENT_ID = "grantkeeper-interop"

    def __init__(self, out_dir: Path, access_ttl: int):
        oidc_dir = E2E / "oidc"
        if not (oidc_dir / "node_modules" / "oidc-provider").is_dir():
            raise AssertionError("oidc-provider is not installed: run `npm ci` in tests/e2e/oidc (tests/e2e/run.sh does)")
        node = shutil.which("node")
        if not node:
            raise AssertionError("node is not installed (tests/e2e/run.sh installs nodejs)")
        stdout = out_dir / "oidc-provider.stdout"
        self.proc = start_logged([node, "server.mjs", "--access-ttl", str(access_ttl), "--client-id", self.CLIENT_ID],
                                 out_dir / "oidc-provider.log", cwd=oidc_dir, stdout_path=stdout)
        m = wait_for_line(stdout, r"oidc-provider listening on (http://127\.0\.0\.1:\d+)", self.proc, 30, "oidc-provider")
        self.base = m.group(1)
        status, body = http("GET", f"{self.base}/.well-known/openid-configuration")
        assert status == 200, f"oidc-provider discovery answered {status}"
        self.discovery = json.loads(body)

    def endpoints(self) -> dict:
        d = self.discovery
        return {
            "authorize_url": d["authorization_endpoint"],
            "token_url": d["token_endpoint"],
            "revoke_url": d["revocation_endpoint"],
            "userinfo_url": d["userinfo_endpoint"],
        }

    def userinfo(self, token: Secret) -> tuple[int, dict]:
        status, body = http("GET", self.discovery["userinfo_endpoint"], headers=bearer(token))
        try:
            return status, json.loads(body)
        except ValueError:
            return status, {}

    def refresh_error(self, refresh_token: Secret) -> tuple[int, str | None]:
        return refresh_error(self.discovery["token_endpoint"], self.CLIENT_ID, refresh_token)

    def stop(self):
        stop_process(self.proc)


# ------------------------------------------------------------------------------------------------
# The app's files


def config_dir() -> Path:
    return Path(os.environ["XDG_CONFIG_HOME"]) / "grantkeeper"


def data_dir() -> Path:
    return Path(os.environ["XDG_DATA_HOME"]) / "grantkeeper"


def _toml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid TOML basic string for our inputs


def write_clients_toml(clients: list[dict]) -> Path:
    """clients: dicts with id, name, client_id, auth_method, redirect_uri, scopes, endpoints (opt)."""
    lines = ["version = 1", ""]
    for c in clients:
        lines.append("[[clients]]")
        for key in ("id", "name", "client_id", "auth_method", "redirect_uri"):
            lines.append(f"{key} = {_toml_str(c[key])}")
        lines.append("scopes = [" + ", ".join(_toml_str(s) for s in c["scopes"]) + "]")
        if c.get("endpoints"):
            lines.append("[clients.endpoints]")
            for k, v in c["endpoints"].items():
                lines.append(f"{k} = {_toml_str(v)}")
        lines.append("")
    path = config_dir() / "clients.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


def read_grants() -> list[dict]:
    path = data_dir() / "grants.json"
    if not path.exists():
        return []
    doc = json.loads(path.read_text())
    assert doc.get("version") == 1, f"grants.json has version {doc.get('version')!r}, expected 1"
    return doc.get("grants", [])


def reset_app_state() -> None:
    """Forget every client, grant and keychain item of a previous test."""
    shutil.rmtree(config_dir(), ignore_errors=True)
    shutil.rmtree(data_dir(), ignore_errors=True)
    subprocess.run(["secret-tool", "clear", "service", KEYCHAIN_SERVICE], stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20, check=False)


# ------------------------------------------------------------------------------------------------
# Keychain, clipboard, notifications


def keychain_lookup(username: str) -> Secret | None:
    r = subprocess.run(["secret-tool", "lookup", "service", KEYCHAIN_SERVICE, "username", username],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=20, check=False)
    value = r.stdout.decode()
    return Secret(value) if r.returncode == 0 and value else None


def keychain_usernames() -> list[str]:
    """`username` attributes of every grantkeeper item (the secrets in the output are dropped)."""
    r = subprocess.run(["secret-tool", "search", "--all", "service", KEYCHAIN_SERVICE],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=20, check=False)
    text = r.stdout.decode(errors="replace") + "\n" + r.stderr.decode(errors="replace")
    names = re.findall(r"^attribute\.username = (.*)$", text, re.M)
    del text
    return sorted(names)


class Keyring:
    """The session's gnome-keyring "login" collection, locked and unlocked the way a desktop does
    (screen lock, the user typing the password), over the Secret Service D-Bus API."""

    def __init__(self):
        import dbus  # python3-dbus

        self._dbus = dbus
        self.bus = dbus.SessionBus()
        self.service = self.bus.get_object("org.freedesktop.secrets", "/org/freedesktop/secrets")
        self.api = dbus.Interface(self.service, "org.freedesktop.Secret.Service")
        self.collection = self.api.ReadAlias("default")

    def locked(self) -> bool:
        obj = self.bus.get_object("org.freedesktop.secrets", self.collection)
        return bool(obj.Get("org.freedesktop.Secret.Collection", "Locked",
                            dbus_interface="org.freedesktop.DBus.Properties"))

    def lock(self) -> None:
        self.api.Lock([self.collection])
        assert self.locked(), "the login keyring must be locked now"

    def unlock(self) -> None:
        """With the password, no prompt: gnome-keyring's own interface for its unlock dialogs."""
        dbus = self._dbus
        _, session = self.api.OpenSession("plain", dbus.String("", variant_level=1))
        internal = dbus.Interface(self.service, "org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface")
        password = os.environ["GK_KEYRING_PASSWORD"].encode()
        internal.UnlockWithMasterPassword(
            self.collection, (session, dbus.ByteArray(b""), dbus.ByteArray(password), "text/plain"))
        assert not self.locked(), "the login keyring must be unlocked now"


@dataclass
class GrantTokens:
    access_token: Secret
    refresh_token: Secret | None


def grant_tokens(grant_id: str) -> GrantTokens | None:
    item = keychain_lookup(f"grant:{grant_id}")
    if item is None:
        return None
    try:
        doc = json.loads(item.expose())
    except ValueError:
        raise AssertionError(f"keychain item grant:{grant_id} is not JSON") from None
    assert "access_token" in doc, f"keychain item grant:{grant_id} has no access_token (keys: {sorted(doc)})"
    refresh = doc.get("refresh_token")
    return GrantTokens(Secret(doc["access_token"]), Secret(refresh) if refresh else None)


def read_clipboard() -> Secret | None:
    try:
        r = subprocess.run(["xclip", "-o", "-selection", "clipboard"], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=5, check=False)
    except subprocess.TimeoutExpired:
        return None
    value = r.stdout.decode(errors="replace")
    return Secret(value) if r.returncode == 0 and value else None


@dataclass
class Notification:
    appname: str
    summary: str
    body: str


class Notifications:
    """What dunst -print logged ($GK_DUNST_LOG)."""

    _BLOCK = re.compile(r"^\{\n(.*?)^\}\n", re.S | re.M)

    def __init__(self):
        self.path = Path(os.environ["GK_DUNST_LOG"])

    def mark(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def since(self, mark: int) -> list[Notification]:
        with open(self.path, "rb") as f:
            f.seek(mark)
            text = f.read().decode(errors="replace")
        out = []
        for block in self._BLOCK.findall(text):
            def field(name, blk=block):
                m = re.search(rf"^\t{name}: '(.*?)'\n\t\w[\w ]*:", blk, re.S | re.M)
                return m.group(1) if m else ""
            out.append(Notification(field("appname"), field("summary"), field("body")))
        return out

    def wait_for(self, mark: int, *, summary: str | None = None, contains: str | None = None,
                 timeout: float = 15) -> Notification:
        def find():
            for n in self.since(mark):
                if summary is not None and n.summary != summary:
                    continue
                if contains is not None and contains.lower() not in (n.summary + " " + n.body).lower():
                    continue
                return n
            return None
        try:
            return wait_until(find, timeout, f"a notification (summary={summary!r}, containing {contains!r})")
        except AssertionError as e:
            seen = [(n.summary, n.body) for n in self.since(mark)]
            raise AssertionError(f"{e}; notifications since: {seen}") from None


# ------------------------------------------------------------------------------------------------
# The app


class BrowserControl:
    """Settings for browser.py that the app's $BROWSER reads at each invocation."""

    def __init__(self, path: Path):
        self.path = path
        self.set()

    def set(self, **settings) -> None:
        self.path.write_text(json.dumps(settings))


class DetachedProcess:
    """A process the test did not start itself (the tray app a cold start detached), with the
    part of Popen's interface the helpers use. Its exit status is unknown: 0 once it is gone."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and not pid_alive(self.pid):
            self.returncode = 0
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(0.05)
        return self.returncode

    def terminate(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)


def pid_alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return not re.search(r"^State:\s*Z", status, re.M)


class App:
    """The Grantkeeper binary, started directly (warm) or by xdg-open (cold start)."""

    def __init__(self, out_dir: Path, bus, extra_env: dict | None = None):
        self.out_dir = out_dir
        self.bus = bus
        self.browser = BrowserControl(out_dir / "browser-control.json")
        self.browser_log = out_dir / "browser.log"
        self.env = {
            **os.environ,
            "BROWSER": str(BROWSER),
            "GK_BROWSER_LOG": str(self.browser_log),
            "GK_BROWSER_CONTROL": str(self.browser.path),
            "RUST_LOG": os.environ.get("GK_APP_LOG", "info"),
            "RUST_BACKTRACE": "1",
            "GRANTKEEPER_REFRESH_MARGIN_SECS": str(REFRESH_MARGIN),
            **(extra_env or {}),
        }
        self.proc: subprocess.Popen | None = None
        self.tray: traymod.Tray | None = None
        self.runs = 0

    # -- lifecycle --------------------------------------------------------------------------------

    def _known_items(self) -> set[str]:
        try:
            return set(traymod.registered_items(self.bus))
        except Exception:  # noqa: BLE001
            return set()

    def start(self, *args: str) -> "App":
        binary = app_binary()
        if not binary.exists():
            raise AssertionError(f"{binary} does not exist: build the app first (cargo build -p grantkeeper)")
        self.runs += 1
        known = self._known_items()
        log = self.out_dir / f"app-{self.runs}.log"
        self.proc = start_logged([str(binary), *args], log, env=self.env)
        self.tray = traymod.wait_for_item(self.bus, timeout=30, exclude=known,
                                          owner_alive=lambda: self.proc.poll() is None)
        return self

    def start_via_xdg_open(self, url: str) -> None:
        """Cold start: xdg-open runs the desktop entry's Exec. That process hands the callback to
        a detached tray app and exits, so xdg-open returns at once (without a desktop environment
        it waits for the handler)."""
        self.runs += 1
        known = self._known_items()
        before = set(pids_of(app_binary()))
        log = self.out_dir / f"app-{self.runs}-xdg-open.log"
        launcher = start_logged(["xdg-open", url], log, env=self.env)
        try:
            launcher.wait(timeout=30)
        except subprocess.TimeoutExpired:
            stop_process(launcher)
            raise AssertionError("xdg-open did not return: the cold-started app keeps its launcher (and the "
                                 f"callback in its arguments) waiting; see {log}") from None
        assert launcher.returncode == 0, f"xdg-open exited {launcher.returncode}; see {log}"
        started = wait_until(lambda: [p for p in pids_of(app_binary()) if p not in before] or None, 10,
                             "the tray app the cold start detached")
        assert len(started) == 1, f"one tray app, not {len(started)}"
        self.proc = DetachedProcess(started[0])
        self.tray = traymod.wait_for_item(self.bus, timeout=30, exclude=known,
                                          owner_alive=lambda: self.proc.poll() is None)

    def xdg_open(self, url: str, timeout: float = 20) -> int:
        """Hand a URL to the running app through the desktop entry (a second instance forwards it)."""
        r = subprocess.run(["xdg-open", url], env=self.env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout, check=False)
        return r.returncode

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def quit(self, timeout: float = 15) -> None:
        """Quit through the tray menu, as a user would, and wait for the process to end."""
        assert self.tray is not None
        self.tray.click("Quit Grantkeeper")
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the app did not exit within {timeout:.0f}s of 'Quit Grantkeeper'") from None

    def stop(self) -> None:
        if self.alive() and self.tray is not None:
            with contextlib.suppress(Exception):
                self.tray.click("Quit Grantkeeper")
                self.proc.wait(timeout=10)
        stop_process(self.proc)

    # -- tray -------------------------------------------------------------------------------------

    def grant_items(self, root=None) -> list[tuple[traymod.MenuItem, re.Match]]:
        root = root or self.tray.layout()
        out = []
        for item in root.children:
            m = GRANT_LABEL.match(item.label)
            if m and item.children:
                out.append((item, m))
        return out

    def wait_for_grant(self, client_name: str, *, state: str | None = None, timeout: float = 30):
        """Wait for exactly one grant submenu of this client (optionally in this state)."""
        def find(root):
            items = [(i, m) for i, m in self.grant_items(root) if m["client"] == client_name]
            if len(items) == 1 and (state is None or items[0][1]["state"] == state):
                return items[0]
            return None
        return self.tray.wait_until(find, timeout, f"a grant of {client_name!r}" + (f" in state {state!r}" if state else ""))

    def grant_submenu(self, identity: str, client_name: str):
        for item, m in self.grant_items():
            if m["identity"] == identity and m["client"] == client_name:
                return item, m
        raise AssertionError(f"no grant submenu for {identity} — {client_name}; menu:\n{self.tray.layout().render()}")

    def click_in_grant(self, identity: str, client_name: str, label: str) -> None:
        item, _ = self.grant_submenu(identity, client_name)
        self.tray.click(self.tray.get(label, within=item))


def make_browser_py_the_default_browser() -> Path:
    """Without a desktop environment xdg-open asks the x-scheme-handler/http(s) default before
    $BROWSER: make browser.py that default too, so a real browser installed on the machine is never
    used. Returns the session's applications folder."""
    apps = Path(os.environ["XDG_DATA_HOME"]) / "applications"
    apps.mkdir(parents=True, exist_ok=True)
    (apps / "gk-e2e-browser.desktop").write_text(
        "[Desktop Entry]\nType=Application\nName=Grantkeeper e2e browser\n"
        f"Exec={BROWSER} %u\nTerminal=false\nNoDisplay=true\n"
        "MimeType=x-scheme-handler/http;x-scheme-handler/https;text/html;\n"
    )
    subprocess.run(["update-desktop-database", "-q", str(apps)], check=False, timeout=30)
    for mime in ("x-scheme-handler/http", "x-scheme-handler/https", "text/html"):
        subprocess.run(["xdg-mime", "default", "gk-e2e-browser.desktop", mime], check=True, timeout=30)
    return apps


def screenshot(path: Path) -> None:
    if shutil.which("import"):
        subprocess.run(["import", "-window", "root", str(path)], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20, check=False)


def cmdline(pid: int) -> bytes:
    """A process's arguments as `ps` shows them to any local user (NUL-separated)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def environ(pid: int) -> bytes:
    """A process's initial environment (readable by the same user)."""
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return b""


def all_pids() -> list[int]:
    return [int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit()]


def pids_of(binary: Path) -> list[int]:
    """Running processes of this executable."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "exe")) == Path(binary).resolve():
                    out.append(int(entry.name))
            except OSError:
                continue
    return out
