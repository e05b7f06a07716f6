#!/usr/bin/env bash
# Runs Grantkeeper. Sets up everything first on a fresh Debian/Ubuntu machine.
# With no OAuth client configured, it starts the local Cloudflare-compatible server
# (crates/local-cloudflare, a stand-in: NOT Cloudflare) on 127.0.0.1:8787 as a demo provider and
# adds a demo client for it, so you can log in, copy tokens and revoke right away.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
export PATH="$HOME/.cargo/bin:$PATH"

profile=${GRANTKEEPER_PROFILE:-release}
packages=(-p grantkeeper -p grantkeeper-cli -p local-cloudflare)
if [[ "$profile" == release ]]; then
  cargo build --release --features grantkeeper/custom-protocol "${packages[@]}"
else
  cargo build "${packages[@]}"
fi
target_dir="${CARGO_TARGET_DIR:-target}"
[[ "$target_dir" == /* ]] || target_dir="$PWD/$target_dir"
bin="$target_dir/$profile"
echo "Built $bin/grantkeeper and the command-line companion $bin/gk" >&2

# The OS hands grantkeeper:// URLs to the app through this desktop entry.
scripts/install-desktop-entry.sh "$bin/grantkeeper"

config="${XDG_CONFIG_HOME:-$HOME/.config}/grantkeeper/clients.toml"
# Real clients: any but the demo client the app adds for the demo server.
real_clients=0
if [[ -f "$config" ]]; then
  real_clients=$(grep -E '^client_id = ' "$config" | grep -vc '"grantkeeper-demo"' || true)
fi
demo_pid=""
if ((real_clients == 0)); then
  port=${GRANTKEEPER_DEMO_PORT:-8787}
  echo "No OAuth client configured: starting the local Cloudflare-compatible demo server on 127.0.0.1:$port" >&2
  "$bin/local-cloudflare" --listen "127.0.0.1:$port" --demo > >(sed -u 's/^/[demo server] /' >&2) 2>&1 &
  demo_pid=$!
  trap '[[ -n "$demo_pid" ]] && kill "$demo_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 50); do
    curl -fsS "http://127.0.0.1:$port/.well-known/openid-configuration" >/dev/null 2>&1 && break
    sleep 0.1
  done
  export GRANTKEEPER_DEMO_PROVIDER="http://127.0.0.1:$port"
fi

echo "Grantkeeper is in the tray. Quit it from its menu." >&2
"$bin/grantkeeper"
