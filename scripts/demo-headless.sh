#!/usr/bin/env bash
# The demo on a machine without a desktop (a server, a container, CI): runs Grantkeeper with the
# local Cloudflare-compatible demo server inside the tests' private headless desktop and plays the
# user through log in, copy token, gk list, revoke and quit, printing what it sees (never a token).
# Sets up everything first on a fresh Debian/Ubuntu machine. Nothing outlives the session.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh --tests
export PATH="$HOME/.cargo/bin:$PATH"
exec tests/e2e/desktop-session.sh -- /usr/bin/python3 tests/e2e/headless_demo.py
