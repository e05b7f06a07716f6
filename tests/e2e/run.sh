#!/usr/bin/env bash
# Grantkeeper's end-to-end tests:
#
#   tests/e2e/run.sh [PYTEST ARGS...]        e.g. tests/e2e/run.sh -k tray -x
#
# 1. installs what the tests need if it is missing: Debian packages (Xvfb, D-Bus, gnome-keyring,
#    dunst, xclip, xdg-utils, WebKitWebDriver, python3 modules, Node.js), oidc-provider
#    (`npm ci` in tests/e2e/oidc) and tauri-driver (`cargo install tauri-driver --locked`);
# 2. runs pytest (Debian's /usr/bin/python3) inside tests/e2e/desktop-session.sh, a private headless
#    desktop.
# It does not build the app: set GK_APP / GK_LOCAL_CLOUDFLARE to the binaries (default
# target/debug/grantkeeper and target/debug/local-cloudflare).
#
# Outputs: tests/out/<test>/ (app, server, browser logs; screenshot and tray menu on failure),
# tests/out/session/ (Xvfb, keyring, dunst logs), tests/out/e2e-timings.txt.
# Knobs: GK_E2E_REFRESH_MARGIN (default 10 s, given to the app as GRANTKEEPER_REFRESH_MARGIN_SECS),
# GK_E2E_ACCESS_TTL (default margin + 12 s), GK_E2E_SHORT_ACCESS_TTL (default margin - 2 s),
# GK_E2E_KEEP=1 (keep the session's temporary HOME), GK_E2E_SKIP_INSTALL=1 (install nothing).

set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
log() { printf 'e2e: %s\n' "$*" >&2; }

export GK_APP="${GK_APP:-$repo/target/debug/grantkeeper}"
export GK_LOCAL_CLOUDFLARE="${GK_LOCAL_CLOUDFLARE:-$repo/target/debug/local-cloudflare}"
for bin in "$GK_APP" "$GK_LOCAL_CLOUDFLARE"; do
    [[ -x "$bin" ]] || { log "$bin is missing: build it first (cargo build --workspace)"; exit 2; }
done

if [[ "${GK_E2E_SKIP_INSTALL:-0}" != 1 ]]; then
    packages=(xvfb xauth dbus dbus-x11 gnome-keyring libsecret-tools dunst libnotify-bin xclip xdg-utils
        desktop-file-utils webkit2gtk-driver imagemagick libayatana-appindicator3-1 gir1.2-ayatanaappindicator3-0.1
        gir1.2-gtk-3.0 python3 python3-dbus python3-gi python3-pytest python3-selenium)
    command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
    missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        log "installing ${missing[*]}"
        sudo=""
        [[ $(id -u) -eq 0 ]] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi

    oidc="$repo/tests/e2e/oidc"
    if [[ ! -d "$oidc/node_modules/oidc-provider" || "$oidc/package-lock.json" -nt "$oidc/node_modules/.package-lock.json" ]]; then
        log "npm ci (oidc-provider)"
        (cd "$oidc" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    fi

    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
    if ! command -v tauri-driver >/dev/null; then
        log "cargo install tauri-driver --locked"
        cargo install tauri-driver --locked --quiet
    fi
fi
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

mkdir -p tests/out
rm -rf tests/out/session
export GK_E2E_LOG_DIR="$repo/tests/out/session"
# Debian's python3 (python3-dbus, python3-gi, selenium, pytest), whatever python3 comes first in PATH.
exec tests/e2e/desktop-session.sh -- /usr/bin/python3 -m pytest -c tests/e2e/pytest.ini --rootdir tests/e2e tests/e2e "$@"
