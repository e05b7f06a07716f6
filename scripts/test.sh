#!/usr/bin/env bash
# Runs all of Grantkeeper's tests. Sets up everything first on a fresh Debian/Ubuntu machine.
#   1. formatting and clippy (warnings are errors)
#   2. unit and integration tests of every crate, inside a private headless desktop (Xvfb, D-Bus,
#      unlocked gnome-keyring, dunst) so the keychain tests use the real Secret Service
#   3. end-to-end tests of the built app (tray over D-Bus, xdg-open deep links, clipboard,
#      notifications, WebDriver) against the local Cloudflare-compatible server and oidc-provider
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh --tests
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR=never

step() { printf '\n== %s (%s)\n' "$1" "$(date +%T)" >&2; }

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build"
cargo build --workspace --all-targets --locked

step "unit and integration tests (real Secret Service)"
tests/e2e/desktop-session.sh -- cargo test --workspace --locked

step "end-to-end tests"
target_dir="${CARGO_TARGET_DIR:-target}"
[[ "$target_dir" == /* ]] || target_dir="$PWD/$target_dir"
GK_APP="$target_dir/debug/grantkeeper" GK_LOCAL_CLOUDFLARE="$target_dir/debug/local-cloudflare" tests/e2e/run.sh
