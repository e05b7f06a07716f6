#!/usr/bin/env bash
# Measures a release build: start-to-tray time and idle memory of the whole process tree
# (window never opened, open, closed again). Sets up what it needs on Debian/Ubuntu.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh --tests
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked --features grantkeeper/custom-protocol -p grantkeeper
target_dir="${CARGO_TARGET_DIR:-target}"
[[ "$target_dir" == /* ]] || target_dir="$PWD/$target_dir"
tests/e2e/desktop-session.sh -- /usr/bin/python3 benches/startup_memory.py "$target_dir/release/grantkeeper" "$@"
