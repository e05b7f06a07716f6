#!/usr/bin/env bash
# Register Grantkeeper as the handler of its deep-link URL schemes for the current user (Linux):
#
#   scripts/install-desktop-entry.sh /absolute/path/to/grantkeeper
#
# Writes ${XDG_DATA_HOME:-~/.local/share}/applications/grantkeeper.desktop with
#   Exec=<path> %u   and   MimeType=x-scheme-handler/grantkeeper;x-scheme-handler/dev.grantkeeper.app;
# (the path quoted per the Desktop Entry Specification when it contains spaces or other reserved
# characters), installs the icon if the repository has one, refreshes the desktop database and makes
# the entry the default handler of both schemes (xdg-mime default). Then
#   xdg-open 'grantkeeper://oauth/callback?code=...&state=...'
# starts the app with that URL, or hands it to the running instance.
#
# Note: xdg-open 1.1.3 (Debian 12) without a desktop environment splits Exec at the first space and
# cannot start an app whose path contains spaces even when quoted correctly; `gio open` can. Install
# the binary under a path without spaces on such systems.

set -euo pipefail

die() { printf 'install-desktop-entry: %s\n' "$*" >&2; exit 1; }

[[ $# -eq 1 ]] || die "usage: $0 /absolute/path/to/grantkeeper"
app="$1"
[[ "$app" == /* ]] || die "the path must be absolute: $app"
[[ -f "$app" && -x "$app" ]] || die "not an executable file: $app"
[[ "$app" != *$'\n'* && "$app" != *$'\t'* && "$app" != *$'\r'* ]] ||
    die "the path contains a control character; a desktop entry cannot name it reliably"

desktop_id="grantkeeper.desktop"
schemes=(grantkeeper dev.grantkeeper.app)
data_home="${XDG_DATA_HOME:-$HOME/.local/share}"
apps_dir="$data_home/applications"
script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(dirname "$script_dir")"

# One Exec argument per the Desktop Entry Specification ("The Exec key"):
#  1. an argument with a reserved character is put in double quotes, and inside the quotes ", `, $
#     and \ are escaped with a backslash;
#  2. a literal % is written %%;
#  3. the value-level string escaping then doubles every backslash (so a backslash in a quoted
#     argument ends up as four).
exec_arg() {
    local a="$1"
    local reserved=$' \t"\'\\><~|&;$*?#()`'
    if [[ "$a" == *["$reserved"]* ]]; then
        a="${a//\\/\\\\}"
        a="${a//\"/\\\"}"
        a="${a//\`/\\\`}"
        a="${a//\$/\\\$}"
        a="\"$a\""
    fi
    a="${a//%/%%}"
    a="${a//\\/\\\\}"
    printf '%s' "$a"
}

mime_types=""
for s in "${schemes[@]}"; do mime_types+="x-scheme-handler/$s;"; done

mkdir -p "$apps_dir"
tmp="$(mktemp --suffix=.desktop "$apps_dir/.grantkeeper-XXXXXX")"
trap 'rm -f "$tmp"' EXIT
cat >"$tmp" <<EOF
[Desktop Entry]
Type=Application
Name=Grantkeeper
GenericName=OAuth grant keeper
Comment=Keeps Cloudflare OAuth grants in the system keychain and hands out fresh tokens
Exec=$(exec_arg "$app") %u
Icon=grantkeeper
Terminal=false
NoDisplay=false
StartupNotify=false
Categories=Utility;
MimeType=$mime_types
EOF
if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate "$tmp" || die "desktop-file-validate rejected the generated entry"
fi
chmod 644 "$tmp"
mv -f "$tmp" "$apps_dir/$desktop_id"
trap - EXIT

# The icon, if the repository ships one (Icon=grantkeeper looks it up in the icon theme).
for candidate in "$repo_dir/icons/128x128.png" "$repo_dir/icons/icon.png" "$repo_dir/icons/32x32.png"; do
    if [[ -f "$candidate" ]]; then
        size="$(basename "$candidate" .png)"
        [[ "$size" == icon ]] && size=128x128
        mkdir -p "$data_home/icons/hicolor/$size/apps"
        cp -f "$candidate" "$data_home/icons/hicolor/$size/apps/grantkeeper.png"
        break
    fi
done

if command -v update-desktop-database >/dev/null; then
    update-desktop-database -q "$apps_dir" || die "update-desktop-database failed"
else
    printf 'install-desktop-entry: update-desktop-database not found (package desktop-file-utils); skipped\n' >&2
fi

command -v xdg-mime >/dev/null || die "xdg-mime not found (package xdg-utils)"
for s in "${schemes[@]}"; do
    xdg-mime default "$desktop_id" "x-scheme-handler/$s" || die "xdg-mime default failed for $s"
    got="$(xdg-mime query default "x-scheme-handler/$s" 2>/dev/null || true)"
    [[ "$got" == "$desktop_id" ]] ||
        printf 'install-desktop-entry: warning: x-scheme-handler/%s resolves to %q, not %s\n' "$s" "$got" "$desktop_id" >&2
done

printf 'install-desktop-entry: %s handles %s\n' "$apps_dir/$desktop_id" "${schemes[*]/%/://}"
