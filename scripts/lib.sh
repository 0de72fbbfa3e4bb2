# Shared helpers for the service scripts. Sourced, not executed.

KBUS_CACHE="${KBUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kbus}"
KBUS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '%s\n' "$*" >&2; }
die() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

# devsvc runs the small Go helper (cmd/kbus-devsvc, a developer tool) that checks services
# the way a client does (a Kafka metadata request, a PostgreSQL connection) instead of just
# probing a port.
devsvc() {
	local bin="$KBUS_CACHE/bin/kbus-devsvc"
	# Rebuild when the source is newer than the binary (go build is cached anyway). Build
	# beside it and rename, so that scripts running at the same time never run a half-written one.
	if [ ! -x "$bin" ] || [ -n "$(find "$KBUS_ROOT/cmd/kbus-devsvc" -newer "$bin" -name '*.go' 2>/dev/null | head -1)" ]; then
		mkdir -p "$KBUS_CACHE/bin"
		(cd "$KBUS_ROOT" && go build -o "$bin.$$" ./cmd/kbus-devsvc && mv -f "$bin.$$" "$bin") ||
			{ rm -f "$bin.$$"; die "cannot build cmd/kbus-devsvc"; }
	fi
	"$bin" "$@"
}

# as_root runs a command as root, through sudo when we are not root.
as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root for: $*"; fi
}
