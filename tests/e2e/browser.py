#!/usr/bin/python3
"""A stand-in for the system web browser that plays the user on an OAuth consent page.

Set it as ``$BROWSER`` (``xdg-open`` without a desktop environment runs ``$BROWSER URL`` for http(s)
URLs) or register it as the default http/https handler. Given an authorization URL it:

1. fetches it with urllib (cookie jar, no proxy, redirects followed by hand and only on http/https);
2. on the local Cloudflare-compatible server's consent page (a form with ``decision`` buttons):
   unchecks the optional scopes listed in ``GK_BROWSER_DECLINE`` and submits ``approve`` (or ``deny``
   when ``GK_BROWSER_DECISION=deny``);
   on oidc-provider's development interactions: submits the login form with any login
   (``GK_BROWSER_LOGIN``), then the consent form (or follows the abort link when denying);
3. stops at the first redirect to a non-http(s) scheme (``grantkeeper://oauth/callback?...``) or to
   the client's own ``redirect_uri`` (a loopback redirect), without following it;
4. hands a custom-scheme callback to ``xdg-open`` (so it travels through the real desktop entry), or
   fetches a loopback callback itself like a browser would.

What it did goes to the file named by ``GK_BROWSER_LOG`` (appended), with the values of ``code``,
``state`` and any token-like query parameter redacted. Exit status: 0 when the callback was handed
over, 1 when the page could not be handled (message on stderr and in the log), 2 for bad usage.

Settings (environment variables; a JSON file named by ``GK_BROWSER_CONTROL``, if it exists, overrides
them per invocation with the lower-case keys in brackets, so a test can change the behaviour of a
browser the app was started with):

- ``GK_BROWSER_DECISION`` [decision]: ``approve`` (default) or ``deny``
- ``GK_BROWSER_DECLINE`` [decline]: comma-separated optional scopes to uncheck (JSON: list or string)
- ``GK_BROWSER_LOGIN`` [login]: login for oidc-provider's login page (default ``e2e-user@example.test``)
- ``GK_BROWSER_HOLD`` [hold]: write the final callback URL to this file (mode 0600) and do NOT open it
  (the test opens it later, e.g. for a cold start)
- ``GK_BROWSER_SAVE`` [save]: also write the final callback URL to this file (mode 0600), then open it
- ``GK_BROWSER_OPENER`` [opener]: command that opens the callback (default ``xdg-open``)
- ``GK_BROWSER_OPENER_TIMEOUT`` [opener_timeout]: seconds to wait for the opener (default 20); after
  that it is left running (a cold-start ``xdg-open`` only returns when the app exits)
- ``GK_BROWSER_LOG`` [log]: log file
"""

from __future__ import annotations

import datetime as _dt
import html.parser
import http.cookiejar
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

SENSITIVE_PARAMS = {
    "code",
    "state",
    "access_token",
    "refresh_token",
    "id_token",
    "token",
    "code_verifier",
    "client_secret",
    "password",
}
_SENSITIVE_RE = re.compile(
    r"(?i)\b(" + "|".join(sorted(SENSITIVE_PARAMS, key=len, reverse=True)) + r")=([^&\s\"'<>#]+)"
)
MAX_STEPS = 25
HTTP_TIMEOUT = 15


class BrowserError(Exception):
    """The page could not be handled like a user would."""


def redact(text: str) -> str:
    """Redact values of sensitive query parameters in a URL or in free text."""
    return _SENSITIVE_RE.sub(lambda m: f"{m.group(1)}=REDACTED", text)


class Settings:
    def __init__(self, args: dict[str, str]):
        env = os.environ
        control: dict = {}
        control_path = env.get("GK_BROWSER_CONTROL")
        if control_path and os.path.exists(control_path):
            with open(control_path, encoding="utf-8") as f:
                control = json.load(f)

        def pick(key: str, env_key: str, default=None):
            if key in args:
                return args[key]
            if key in control:
                return control[key]
            return env.get(env_key, default)

        self.decision = str(pick("decision", "GK_BROWSER_DECISION", "approve")).strip().lower()
        if self.decision not in ("approve", "deny"):
            raise SystemExit(f"browser.py: decision must be approve or deny, not {self.decision!r}")
        decline = pick("decline", "GK_BROWSER_DECLINE", "") or ""
        if isinstance(decline, str):
            decline = decline.split(",")
        self.decline = {s.strip() for s in decline if s and s.strip()}
        self.login = str(pick("login", "GK_BROWSER_LOGIN", "e2e-user@example.test"))
        self.hold = pick("hold", "GK_BROWSER_HOLD") or None
        self.save = pick("save", "GK_BROWSER_SAVE") or None
        self.opener = pick("opener", "GK_BROWSER_OPENER", "xdg-open") or "xdg-open"
        self.opener_timeout = float(pick("opener_timeout", "GK_BROWSER_OPENER_TIMEOUT", "20"))
        self.log = pick("log", "GK_BROWSER_LOG") or None


class Log:
    def __init__(self, path: str | None):
        self.path = path

    def __call__(self, msg: str) -> None:
        line = f"{_dt.datetime.now().isoformat(timespec='milliseconds')} browser[{os.getpid()}] {redact(msg)}"
        if self.path:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line + "\n")

    def error(self, msg: str) -> None:
        self(f"ERROR: {msg}")
        print(f"browser.py: {redact(msg)}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# HTML forms


class Form:
    def __init__(self, attrs: dict[str, str]):
        self.action = attrs.get("action") or ""
        self.method = (attrs.get("method") or "get").lower()
        self.id = attrs.get("id")
        self.fields: list[dict[str, str | bool | None]] = []  # inputs, selects, textareas
        self.submits: list[dict[str, str | None]] = []  # submit buttons (name, value, text)

    def has_input_type(self, typ: str) -> bool:
        return any(f["type"] == typ for f in self.fields)

    def submit_named(self, name: str) -> list[dict[str, str | None]]:
        return [s for s in self.submits if s.get("name") == name]


class PageParser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.links: list[tuple[str, str]] = []  # (href, text)
        self.title = ""
        self._form: Form | None = None
        self._button: dict | None = None
        self._link: list | None = None
        self._in_title = False
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._form = Form(a)
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None:
            typ = (a.get("type") or "text").lower()
            if typ in ("submit", "image"):
                self._form.submits.append({"name": a.get("name"), "value": a.get("value", ""), "text": a.get("value", "")})
            elif typ not in ("button", "reset", "file"):
                self._form.fields.append(
                    {
                        "type": typ,
                        "name": a.get("name"),
                        "value": a.get("value", "on" if typ in ("checkbox", "radio") else ""),
                        "checked": "checked" in a,
                    }
                )
        elif tag == "button" and self._form is not None:
            typ = (a.get("type") or "submit").lower()
            if typ == "submit":
                self._button = {"name": a.get("name"), "value": a.get("value", ""), "text": ""}
                self._form.submits.append(self._button)
        elif tag == "textarea" and self._form is not None:
            self._form.fields.append({"type": "textarea", "name": a.get("name"), "value": "", "checked": False})
        elif tag == "a":
            self._link = [a.get("href", ""), ""]
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "button":
            self._button = None
        elif tag == "a" and self._link is not None:
            self.links.append((self._link[0], self._link[1].strip()))
            self._link = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._button is not None:
            self._button["text"] = (self._button["text"] or "") + data
        if self._link is not None:
            self._link[1] += data
        if self._in_title:
            self.title += data
        self._text.append(data)

    def text(self) -> str:
        return " ".join(" ".join(self._text).split())


# ---------------------------------------------------------------------------------------------
# HTTP


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102
        return None


class Response:
    def __init__(self, status: int, headers, body: bytes, url: str):
        self.status = status
        self.headers = headers
        self.body = body
        self.url = url

    @property
    def location(self) -> str | None:
        loc = self.headers.get("Location")
        return urllib.parse.urljoin(self.url, loc) if loc else None

    def text(self) -> str:
        charset = self.headers.get_content_charset() or "utf-8"
        return self.body.decode(charset, errors="replace")


class Browser:
    def __init__(self, log: Log):
        self.log = log
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPCookieProcessor(self.jar),
            _NoRedirect(),
        )
        self.opener.addheaders = [
            ("User-Agent", "grantkeeper-e2e-browser/1 (urllib)"),
            ("Accept", "text/html,application/xhtml+xml,*/*;q=0.8"),
        ]

    def request(self, url: str, data: list[tuple[str, str]] | None = None, referer: str | None = None) -> Response:
        scheme = urllib.parse.urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise BrowserError(f"refusing to fetch non-http(s) URL {url}")
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
        if body is not None:
            req.add_header("Content-Type", "application/x-www-form-urlencoded")
            origin = urllib.parse.urlsplit(url)
            req.add_header("Origin", f"{origin.scheme}://{origin.netloc}")
        if referer:
            req.add_header("Referer", referer)
        method = req.get_method()
        try:
            with self.opener.open(req, timeout=HTTP_TIMEOUT) as resp:
                r = Response(resp.status, resp.headers, resp.read(), url)
        except urllib.error.HTTPError as e:
            r = Response(e.code, e.headers, e.read() if e.fp else b"", url)
        except (urllib.error.URLError, OSError) as e:
            raise BrowserError(f"{method} {url} failed: {getattr(e, 'reason', e)}") from None
        extra = f" Location: {r.location}" if r.location else ""
        self.log(f"{method} {url} -> {r.status}{extra}")
        return r


# ---------------------------------------------------------------------------------------------
# Playing the user


def _same_endpoint(a: str, b: str) -> bool:
    """True if URL a points at redirect URI b (scheme, host, port, path; query ignored)."""
    pa, pb = urllib.parse.urlsplit(a), urllib.parse.urlsplit(b)
    return (pa.scheme.lower(), pa.netloc.lower(), pa.path or "/") == (pb.scheme.lower(), pb.netloc.lower(), pb.path or "/")


def _fill(form: Form, settings: Settings, log: Log) -> list[tuple[str, str]]:
    """The fields a user would send: hidden/text values kept, checkboxes as ticked (minus declined)."""
    data: list[tuple[str, str]] = []
    declined, kept = [], []
    for f in form.fields:
        name, typ, value = f["name"], f["type"], f["value"]
        if not name:
            continue
        if typ in ("checkbox", "radio"):
            if not f["checked"]:
                continue
            if typ == "checkbox" and value in settings.decline:
                declined.append(value)
                continue
            if typ == "checkbox":
                kept.append(value)
            data.append((name, value))
        elif typ == "password":
            data.append((name, "e2e-password"))
        elif typ in ("text", "email") and not value and name.lower() in ("login", "username", "email", "user"):
            data.append((name, settings.login))
        else:
            data.append((name, value or ""))
    if declined or kept:
        log(f"scopes left ticked: {sorted(kept)}; unticked (declined): {sorted(declined)}")
    missing = settings.decline - set(declined)
    if missing and any(f["type"] == "checkbox" for f in form.fields):
        log(f"note: asked to decline {sorted(missing)} but no such optional scope checkbox was ticked")
    return data


def _choose_action(page: PageParser, base_url: str, settings: Settings, log: Log):
    """Decide what to do on an HTML page: returns ('post'|'get', url, data)."""
    forms = [f for f in page.forms if f.submits or f.fields]
    # (a) The local Cloudflare-compatible server: one form with decision=approve|deny buttons.
    decision_forms = [f for f in forms if f.submit_named("decision")]
    if decision_forms:
        if len(decision_forms) != 1:
            raise BrowserError(f"{len(decision_forms)} forms with decision buttons on {base_url}; expected one")
        form = decision_forms[0]
        values = {s.get("value") for s in form.submit_named("decision")}
        if settings.decision not in values:
            raise BrowserError(f"consent form has no decision={settings.decision} button (has {sorted(v for v in values if v)})")
        data = _fill(form, settings, log)
        data.append(("decision", settings.decision))
        log(f"consent page: submitting decision={settings.decision}")
        return form.method, urllib.parse.urljoin(base_url, form.action), data

    # Denying on a page without a deny button: follow an abort/cancel link if there is one.
    if settings.decision == "deny":
        for href, text in page.links:
            if "abort" in href.lower() or text.lower() in ("cancel", "deny", "[ cancel ]"):
                log(f"denying: following link {text!r}")
                return "get", urllib.parse.urljoin(base_url, href), None

    # (b) A login form (oidc-provider's development interactions and similar): any login works.
    login_forms = [f for f in forms if f.has_input_type("password")]
    if len(login_forms) == 1:
        form = login_forms[0]
        log(f"login page: signing in as {settings.login!r}")
        return form.method, urllib.parse.urljoin(base_url, form.action), _fill(form, settings, log)
    if len(login_forms) > 1:
        raise BrowserError(f"{len(login_forms)} login forms on {base_url}; don't know which to use")

    # (c) A plain consent/confirmation page: one POST form with a submit button.
    post_forms = [f for f in forms if f.method == "post" and f.submits]
    if len(post_forms) == 1:
        form = post_forms[0]
        if settings.decision == "deny":
            raise BrowserError(f"asked to deny but the page at {base_url} has no deny button or abort link")
        button = form.submits[0]
        data = _fill(form, settings, log)
        if button.get("name"):
            data.append((button["name"], button.get("value") or ""))
        log(f"confirmation page: pressing {(button.get('text') or button.get('value') or 'submit').strip()!r}")
        return "post", urllib.parse.urljoin(base_url, form.action), data

    snippet = page.text()[:300]
    raise BrowserError(
        f"don't know how to handle the page at {base_url} (title {page.title.strip()!r}, "
        f"{len(forms)} forms): {snippet!r}"
    )


def walk(start_url: str, settings: Settings, log: Log) -> str:
    """Walk the consent flow from the authorization URL to the callback URL (returned)."""
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(start_url).query))
    redirect_uri = query.get("redirect_uri")
    browser = Browser(log)
    url, method, data, referer = start_url, "get", None, None
    for _ in range(MAX_STEPS):
        resp = browser.request(url, data if method == "post" else None, referer)
        if resp.status in (301, 302, 303, 307, 308):
            loc = resp.location
            if not loc:
                raise BrowserError(f"{resp.status} without Location from {url}")
            scheme = urllib.parse.urlsplit(loc).scheme.lower()
            if scheme not in ("http", "https"):
                return loc
            if redirect_uri and _same_endpoint(loc, redirect_uri):
                return loc
            referer = url
            if resp.status in (307, 308) and method == "post":
                url = loc  # keep method and body
            else:
                url, method, data = loc, "get", None
            continue
        if resp.status != 200:
            page = PageParser()
            page.feed(resp.text())
            raise BrowserError(f"{url} answered {resp.status}: {page.title.strip()!r} {page.text()[:300]!r}")
        ctype = (resp.headers.get_content_type() or "").lower()
        if "html" not in ctype:
            raise BrowserError(f"{url} answered 200 with {ctype}, not a page a user can act on")
        page = PageParser()
        page.feed(resp.text())
        method, next_url, data = _choose_action(page, url, settings, log)
        if method == "get" and data:
            next_url = next_url.split("?", 1)[0] + "?" + urllib.parse.urlencode(data)
            data = None
        referer, url = url, next_url
    raise BrowserError(f"gave up after {MAX_STEPS} steps without reaching the redirect URI")


def _write_private(path: str, content: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(content + "\n")


def hand_over(callback: str, settings: Settings, log: Log) -> int:
    if settings.save:
        _write_private(settings.save, callback)
        log(f"saved callback URL to {settings.save}")
    if settings.hold:
        _write_private(settings.hold, callback)
        log(f"holding callback (not opening it); written to {settings.hold}")
        return 0
    scheme = urllib.parse.urlsplit(callback).scheme.lower()
    if scheme in ("http", "https"):
        # A loopback redirect: the browser itself delivers it to the app's listener.
        resp = Browser(log).request(callback)
        return 0 if resp.status < 400 else 1
    cmd = shlex.split(settings.opener) + [callback]
    log(f"handing callback to {shlex.split(settings.opener)[0]}: {callback}")
    fd, out_path = tempfile.mkstemp(prefix="gk-browser-opener-", suffix=".log")
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, start_new_session=True)
    except OSError as e:
        os.close(fd)
        os.unlink(out_path)
        log.error(f"cannot run {cmd[0]}: {e}")
        return 1
    os.close(fd)
    try:
        rc = proc.wait(timeout=settings.opener_timeout)
    except subprocess.TimeoutExpired:
        log(f"{cmd[0]} still running after {settings.opener_timeout:.0f}s (a cold start blocks until the app exits); leaving it")
        os.unlink(out_path)
        return 0
    with open(out_path, encoding="utf-8", errors="replace") as f:
        out = f.read().strip()
    os.unlink(out_path)
    log(f"{cmd[0]} exited {rc} after {time.monotonic() - t0:.2f}s" + (f"; output: {out}" if out else ""))
    if rc != 0:
        log.error(f"{cmd[0]} failed with status {rc}")
        return 1
    return 0


def main(argv: list[str]) -> int:
    args: dict[str, str] = {}
    rest = []
    it = iter(argv)
    for a in it:
        if a in ("-h", "--help"):
            print(__doc__)
            return 0
        if a in ("--decision", "--decline", "--login", "--hold", "--save", "--opener", "--log"):
            try:
                args[a[2:]] = next(it)
            except StopIteration:
                print(f"browser.py: {a} needs a value", file=sys.stderr)
                return 2
        else:
            rest.append(a)
    if len(rest) != 1:
        print("usage: browser.py [--decision approve|deny] [--decline S1,S2] [--login L] [--hold FILE] URL", file=sys.stderr)
        return 2
    url = rest[0]
    settings = Settings(args)
    log = Log(settings.log)
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        log.error(f"not an http(s) URL: {url}")
        return 2
    log(f"opening {url} (decision={settings.decision}, decline={sorted(settings.decline)})")
    try:
        callback = walk(url, settings, log)
    except BrowserError as e:
        log.error(str(e))
        return 1
    log(f"reached the redirect URI: {callback}")
    return hand_over(callback, settings, log)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
