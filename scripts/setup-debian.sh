#!/usr/bin/env bash
# Installs what Grantkeeper needs on Debian/Ubuntu: build libraries, the headless-desktop tools the
# tests use, and a Rust toolchain if there is none. Idempotent and quiet when all is there.
#   scripts/setup-debian.sh           build + run
#   scripts/setup-debian.sh --tests   also the test tools
set -euo pipefail

packages=(libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev libdbus-1-dev pkg-config
  build-essential xdg-utils desktop-file-utils gnome-keyring libsecret-tools dbus-x11 curl ca-certificates)
if [[ "${1:-}" == "--tests" ]]; then
  packages+=(xvfb xauth dunst libnotify-bin xclip webkit2gtk-driver imagemagick python3 python3-dbus
    python3-gi python3-xlib python3-pytest python3-selenium nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node and npm may come from elsewhere (nodesource, nvm): accept any working pair.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  if [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "setup: installing the Rust toolchain with rustup" >&2
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy,rustfmt
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
fi
