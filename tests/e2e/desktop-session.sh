#!/usr/bin/env bash
# Run a command inside a private, headless Linux desktop session:
#
#   tests/e2e/desktop-session.sh [--] CMD [ARGS...]
#
# The session has
#   - its own HOME and XDG_CONFIG_HOME / XDG_DATA_HOME / XDG_CACHE_HOME / XDG_RUNTIME_DIR in a new
#     temporary directory (RUSTUP_HOME, CARGO_HOME and npm's cache keep pointing at the real ones);
#   - an Xvfb X server on a free display (chosen by Xvfb itself, -displayfd), with an xauth cookie;
#   - a private D-Bus session bus (dbus-run-session);
#   - gnome-keyring-daemon (Secret Service) with a "login" keyring created and unlocked with a password,
#     checked with a store/lookup/clear round trip before CMD starts;
#   - dunst as notification daemon, printing every notification to $GK_DUNST_LOG;
#   - no desktop environment (xdg-open runs in its generic mode and honours $BROWSER).
#
# Exported for CMD: GK_E2E_SESSION=1, GK_E2E_ROOT (the temporary directory), GK_E2E_HOME (= HOME),
# GK_E2E_LOG_DIR, GK_DUNST_LOG, GK_KEYRING_PASSWORD, GK_REAL_HOME, DISPLAY, XAUTHORITY, XDG_*.
#
# Environment knobs:
#   GK_E2E_LOG_DIR   where the session's own logs go (Xvfb, keyring, dunst); default $GK_E2E_ROOT/logs
#                    (deleted with the session unless GK_E2E_KEEP=1)
#   GK_E2E_KEEP=1    keep the temporary directory after the session (its path is printed)
#   GK_E2E_TMPDIR    parent of the temporary directory (default $TMPDIR or /tmp)
#   GK_E2E_SCREEN    Xvfb screen geometry (default 1280x800x24)
#   GK_E2E_DBUS_ACTIVATION=1  allow D-Bus activation of the system's session services (by default the
#                    bus starts nothing by itself: no portals, no second keyring, no a11y bus)
#
# When CMD ends (or this script is interrupted), every process that inherited this session's
# environment (found by GK_E2E_ROOT in /proc/PID/environ: the app, WebKit helpers, an xdg-open left
# blocking, D-Bus-activated services) is terminated, then dunst, the keyring, the bus and Xvfb.
# Exit status: CMD's, or 125 when the session could not be set up.
# Works as root, without a TTY and without stdin (CI).

set -Eeuo pipefail

log() { printf 'desktop-session: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 125; }

# A closed stdin would make fd 0 get reused by the first file a child opens.
{ : <&0; } 2>/dev/null || exec </dev/null

self="$(readlink -f "${BASH_SOURCE[0]}")"

# --- helpers shared by both halves ---------------------------------------------------------------

# Sleep without a child process (a concurrent sweep must not find our own `sleep`s): read with a
# timeout from a pipe that never gets data.
exec {nap_fd}<> <(:)
nap() { read -r -t "$1" -u "$nap_fd" _ || true; }

# PIDs of this script and its ancestors (never signalled by the sweep).
ancestors() {
    local pid=$$
    while [[ -n "$pid" && "$pid" != 0 ]]; do
        echo "$pid"
        pid="$(awk '/^PPid:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)"
    done
}

alive() { [[ -d "/proc/$1" ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

# PIDs of processes whose environment carries GK_E2E_ROOT=$GK_E2E_ROOT, minus our ancestors and
# the PIDs given as arguments.
session_pids() {
    local exclude pid file
    exclude=" $(ancestors | tr '\n' ' ') ${BASHPID} $* "
    # grep -z: environ entries are NUL-separated; zombies and vanished processes read as empty.
    for file in $(grep -lzxF "GK_E2E_ROOT=$GK_E2E_ROOT" /proc/[0-9]*/environ 2>/dev/null || true); do
        pid="${file#/proc/}"
        pid="${pid%/environ}"
        # (the grep itself matched its own environ; it is gone by now)
        [[ "$exclude" == *" $pid "* ]] || ! alive "$pid" || echo "$pid"
    done
}


# sweep WHAT [PID_TO_SPARE...]: terminate leftover processes of this session: TERM, up to 3 s grace,
# then KILL.
sweep() {
    local what="$1" pids pid i
    shift
    pids="$(session_pids "$@" || true)"
    [[ -z "$pids" ]] && return 0
    for pid in $pids; do
        log "$what: terminating leftover process $pid ($({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | cut -c1-120))"
        kill -TERM "$pid" 2>/dev/null || true
    done
    for i in $(seq 30); do
        pids="$(for pid in $pids; do alive "$pid" && echo "$pid"; done || true)"
        [[ -z "$pids" ]] && return 0
        nap 0.1
    done
    for pid in $pids; do
        log "$what: killing process $pid that ignored SIGTERM"
        kill -KILL "$pid" 2>/dev/null || true
    done
}

# Stop one process we started: TERM, wait up to $2 tenths of a second, then KILL.
stop_pid() {
    local pid="$1" tenths="${2:-30}" i
    [[ -n "$pid" ]] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq "$tenths"); do
        kill -0 "$pid" 2>/dev/null || break
        nap 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

bus_has_owner() {
    dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.NameHasOwner "string:$1" 2>/dev/null | grep -q 'boolean true'
}

# wait_for SECONDS DESCRIPTION COMMAND...   (bash's own clock: no child processes)
now_us() { local t="${EPOCHREALTIME/[.,]/}"; echo "$((10#$t))"; }
wait_for() {
    local seconds="$1" what="$2" deadline
    shift 2
    deadline=$(($(now_us) + seconds * 1000000))
    until "$@"; do
        (($(now_us) < deadline)) || { log "timed out after ${seconds}s waiting for $what"; return 1; }
        nap 0.05
    done
}

# --- inner half: runs inside dbus-run-session ----------------------------------------------------

inner() {
    local keyring_pid="" dunst_pid="" cmd_pid="" rc=0

    inner_cleanup() {
        local status=$? bus_pid
        trap - EXIT INT TERM HUP
        set +e
        if [[ -n "$cmd_pid" ]] && kill -0 "$cmd_pid" 2>/dev/null; then
            log "stopping the command (pid $cmd_pid)"
            stop_pid "$cmd_pid" 50
        fi
        # The bus daemon is our sibling (child of dbus-run-session); dbus-run-session stops it.
        bus_pid="$(for p in $(ls /proc | grep -E '^[0-9]+$'); do
            [[ "$(awk '/^PPid:/ {print $2}' "/proc/$p/status" 2>/dev/null)" == "$PPID" &&
                "$(cat "/proc/$p/comm" 2>/dev/null)" == dbus-daemon ]] && echo "$p"; done || true)"
        # Leftovers first (they may still talk to dunst or the keyring), then the daemons.
        sweep "after the command" $keyring_pid $dunst_pid $bus_pid
        stop_pid "$dunst_pid" 20
        stop_pid "$keyring_pid" 20
        sweep "session end" $bus_pid
        exit "$status"
    }
    trap inner_cleanup EXIT
    trap 'exit 143' TERM
    trap 'exit 130' INT
    trap 'exit 129' HUP

    [[ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ]] || die "no session bus inside dbus-run-session"

    # Secret Service: create/unlock the "login" keyring with the password read from stdin.
    printf '%s' "$GK_KEYRING_PASSWORD" |
        gnome-keyring-daemon --foreground --unlock --components=secrets \
            >"$GK_E2E_LOG_DIR/gnome-keyring.log" 2>&1 &
    keyring_pid=$!
    wait_for 20 "org.freedesktop.secrets on the session bus" bus_has_owner org.freedesktop.secrets ||
        die "gnome-keyring-daemon did not start (see $GK_E2E_LOG_DIR/gnome-keyring.log)"
    # A store/lookup/clear round trip proves the default collection exists and is unlocked (a locked
    # or missing one would block on an invisible prompt instead).
    local canary
    canary="canary-$RANDOM$RANDOM"
    printf '%s' "$canary" | timeout 15 secret-tool store --label='grantkeeper e2e canary' \
        service gk-e2e-canary username canary ||
        die "secret-tool store failed: the keyring is not usable"
    [[ "$(timeout 15 secret-tool lookup service gk-e2e-canary username canary)" == "$canary" ]] ||
        die "secret-tool lookup did not return what was stored"
    timeout 15 secret-tool clear service gk-e2e-canary username canary || die "secret-tool clear failed"

    # Notifications: dunst prints each one to its stdout.
    : >"$GK_DUNST_LOG"
    dunst -print >>"$GK_DUNST_LOG" 2>"$GK_E2E_LOG_DIR/dunst.err" &
    dunst_pid=$!
    wait_for 20 "org.freedesktop.Notifications on the session bus" bus_has_owner org.freedesktop.Notifications ||
        die "dunst did not start (see $GK_E2E_LOG_DIR/dunst.err)"

    log "ready: DISPLAY=$DISPLAY HOME=$HOME (keyring pid $keyring_pid, dunst pid $dunst_pid)"
    "$@" <&0 &
    cmd_pid=$!
    wait "$cmd_pid" || rc=$?
    cmd_pid=""
    exit "$rc"
}

if [[ "${1:-}" == "--inner" ]]; then
    shift
    [[ "${1:-}" == "--" ]] && shift
    inner "$@"
fi

# --- outer half: temporary home, Xvfb, then the bus --------------------------------------------

[[ "${1:-}" == "--" ]] && shift
(($# > 0)) || {
    sed -n '2,/^$/s/^# \{0,1\}//p' "$self" >&2
    exit 2
}
for tool in Xvfb xauth mcookie dbus-run-session dbus-send gnome-keyring-daemon secret-tool dunst; do
    command -v "$tool" >/dev/null || die "$tool is not installed (run tests/e2e/run.sh, which installs the e2e packages)"
done

# Keep the toolchains reachable once HOME moves.
real_home="${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}"
[[ -z "${RUSTUP_HOME:-}" && -d "$real_home/.rustup" ]] && export RUSTUP_HOME="$real_home/.rustup"
[[ -z "${CARGO_HOME:-}" && -d "$real_home/.cargo" ]] && export CARGO_HOME="$real_home/.cargo"
[[ -z "${npm_config_cache:-}" && -d "$real_home/.npm" ]] && export npm_config_cache="$real_home/.npm"
export GK_REAL_HOME="$real_home"

tmp_parent="${GK_E2E_TMPDIR:-${TMPDIR:-/tmp}}"
GK_E2E_ROOT="$(mktemp -d "$tmp_parent/gk-e2e.XXXXXXXX")" || die "cannot create a temporary directory in $tmp_parent"
export GK_E2E_ROOT
chmod 700 "$GK_E2E_ROOT"
xvfb_pid=""
session_pid=""

outer_cleanup() {
    local status=$? p i
    trap - EXIT INT TERM HUP
    set +e
    # Interrupted: let the inner half stop the command and the daemons in order first.
    if [[ -n "$session_pid" ]] && kill -0 "$session_pid" 2>/dev/null; then
        for p in $(pgrep -P "$session_pid" || true); do
            [[ "$({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null)" == *" --inner "* ]] && kill -TERM "$p" 2>/dev/null
        done
        for i in $(seq 100); do
            kill -0 "$session_pid" 2>/dev/null || break
            nap 0.1
        done
    fi
    sweep "after the bus"
    stop_pid "$xvfb_pid" 30
    if [[ "${GK_E2E_KEEP:-0}" == 1 ]]; then
        log "kept $GK_E2E_ROOT"
    else
        rm -rf "$GK_E2E_ROOT"
    fi
    exit "$status"
}
trap outer_cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

export GK_E2E_HOME="$GK_E2E_ROOT/home"
export HOME="$GK_E2E_HOME"
export XDG_CONFIG_HOME="$HOME/.config"
export XDG_DATA_HOME="$HOME/.local/share"
export XDG_CACHE_HOME="$HOME/.cache"
export XDG_STATE_HOME="$HOME/.local/state"
export XDG_RUNTIME_DIR="$GK_E2E_ROOT/runtime"
export GK_E2E_LOG_DIR="${GK_E2E_LOG_DIR:-$GK_E2E_ROOT/logs}"
export GK_DUNST_LOG="$GK_E2E_LOG_DIR/dunst.log"
export GK_KEYRING_PASSWORD="gk-e2e-$RANDOM$RANDOM$RANDOM"
export GK_E2E_SESSION=1
mkdir -p "$XDG_CONFIG_HOME" "$XDG_DATA_HOME/applications" "$XDG_CACHE_HOME" "$XDG_STATE_HOME" \
    "$XDG_RUNTIME_DIR" "$GK_E2E_LOG_DIR"
chmod 700 "$HOME" "$XDG_RUNTIME_DIR"

# No desktop environment, no Wayland, no inherited bus or display.
unset DBUS_SESSION_BUS_ADDRESS WAYLAND_DISPLAY XDG_CURRENT_DESKTOP XDG_SESSION_DESKTOP DESKTOP_SESSION \
    XDG_SESSION_TYPE GNOME_KEYRING_CONTROL SSH_AUTH_SOCK KDE_FULL_SESSION GNOME_DESKTOP_SESSION_ID \
    BROWSER SESSION_MANAGER DISPLAY XAUTHORITY
export GDK_BACKEND=x11
export NO_AT_BRIDGE="${NO_AT_BRIDGE:-1}"

# Xvfb picks a free display itself and writes its number once it accepts connections. The server
# loads every cookie of its -auth file; clients look a cookie up by display number, so the client
# file gets the same cookie once the number is known. Xvfb is stopped explicitly, last, so it does
# not carry the GK_E2E_ROOT mark that the sweeps look for.
cookie="$(mcookie)"
touch "$GK_E2E_ROOT/xvfb.auth" "$GK_E2E_ROOT/xauthority"
xauth -q -f "$GK_E2E_ROOT/xvfb.auth" add :0 . "$cookie"
display_file="$GK_E2E_ROOT/display"
: >"$display_file"
env -u GK_E2E_ROOT Xvfb -displayfd 3 -screen 0 "${GK_E2E_SCREEN:-1280x800x24}" -nolisten tcp -auth "$GK_E2E_ROOT/xvfb.auth" \
    3>"$display_file" </dev/null >"$GK_E2E_LOG_DIR/xvfb.log" 2>&1 &
xvfb_pid=$!
display_ready() { grep -qE '^[0-9]+$' "$display_file"; }
wait_for 20 "Xvfb to accept connections" display_ready || {
    cat "$GK_E2E_LOG_DIR/xvfb.log" >&2
    die "Xvfb did not start"
}
kill -0 "$xvfb_pid" 2>/dev/null || die "Xvfb exited (see $GK_E2E_LOG_DIR/xvfb.log)"
display_number="$(head -n1 "$display_file" | tr -dc 0-9)"
export DISPLAY=":$display_number"
export XAUTHORITY="$GK_E2E_ROOT/xauthority"
xauth -q -f "$XAUTHORITY" add "$DISPLAY" . "$cookie"
unset cookie

# A hermetic session bus: nothing is started by D-Bus activation (no portals, no second keyring or
# notification daemon, no accessibility bus) unless GK_E2E_DBUS_ACTIVATION=1 asks for the
# standard session services.
bus_args=()
if [[ "${GK_E2E_DBUS_ACTIVATION:-0}" != 1 ]]; then
    mkdir -p "$GK_E2E_ROOT/dbus-services"
    cat >"$GK_E2E_ROOT/session-bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:tmpdir=$XDG_RUNTIME_DIR</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
  <servicedir>$GK_E2E_ROOT/dbus-services</servicedir>
</busconfig>
EOF
    bus_args=(--config-file="$GK_E2E_ROOT/session-bus.conf")
fi

log "Xvfb on $DISPLAY, session in $GK_E2E_ROOT"
rc=0
# In the background + wait, so that a TERM/INT reaches our trap at once.
dbus-run-session "${bus_args[@]}" -- "$self" --inner -- "$@" <&0 &
session_pid=$!
wait "$session_pid" || rc=$?
session_pid=""
exit "$rc"
