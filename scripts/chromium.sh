#!/usr/bin/env bash
# scripts/chromium.sh — make sure Debian's Chromium is installed for the browser tests
# (integration/). Does nothing when the browser is already there; otherwise installs the
# `chromium` package with apt-get (apt-get update first; through sudo when not root).
#
# Environment: KBUS_CHROMIUM (default /usr/bin/chromium), the browser the tests start.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BIN="${KBUS_CHROMIUM:-/usr/bin/chromium}"

if [ -x "$BIN" ]; then
	log "chromium: $("$BIN" --version 2>/dev/null || echo "$BIN")"
	exit 0
fi
command -v apt-get >/dev/null || die "$BIN is missing and apt-get is not available: install Chromium and set KBUS_CHROMIUM"
log "chromium: installing Debian's chromium package"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
# apt's and dpkg's chatter goes to a file, printed only when the install fails.
if ! { as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } >"$out" 2>&1; then
	cat "$out" >&2
	die "apt-get could not install chromium"
fi
[ -x "$BIN" ] || die "$BIN not found after installing chromium"
log "chromium: installed $("$BIN" --version 2>/dev/null || echo "$BIN")"
