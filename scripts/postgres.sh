#!/usr/bin/env bash
# scripts/postgres.sh up|down|status — a real PostgreSQL server for tests and demos.
#
# up      does nothing to the server when one already answers on DATABASE_URL (it only
#         creates the database if missing). Otherwise it installs PostgreSQL from Debian's
#         packages when no server binaries are present (apt-get update first), creates a
#         private cluster (trust authentication, loopback only) in KBUS_PGDATA, starts it
#         and creates the database named in DATABASE_URL. Migrations are not applied here:
#         kbus applies them itself (kbustest, servers, `kbus migrate`).
# down    stops the cluster this script started.
# status  exits 0 when the database answers.
# crash   stops the cluster this script started with `pg_ctl stop -m immediate`: no
#         checkpoint, clients cut off, crash recovery at the next start (the soak's fault).
# start   starts that cluster again (no install, no initdb) and waits until it answers.
#
# Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/kbus?sslmode=disable),
# KBUS_PGDATA (default /var/tmp/kbus-postgres-<port>), KBUS_PG_WAIT (seconds, 60).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/kbus?sslmode=disable}"
# host and port from the URL (postgres://user[:pw]@host:port/db?...).
HOSTPORT="$(printf '%s' "$URL" | sed -E 's#^[a-z]+://([^@/]*@)?([^/?]*).*#\2#')"
HOST="${HOSTPORT%:*}"
PORT="${HOSTPORT##*:}"
[ "$PORT" = "$HOSTPORT" ] && PORT=5432
PGUSER_NAME="$(printf '%s' "$URL" | sed -nE 's#^[a-z]+://([^:@/]+)(:[^@]*)?@.*#\1#p')"
PGUSER_NAME="${PGUSER_NAME:-postgres}"
PGDATA_DIR="${KBUS_PGDATA:-/var/tmp/kbus-postgres-$PORT}"
WAIT="${KBUS_PG_WAIT:-60}"

pg_bindir() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		[ -x "$d/postgres" ] && [ -x "$d/initdb" ] && { echo "$d"; return 0; }
	done
	return 1
}

install_server() {
	pg_bindir >/dev/null && return 0
	command -v apt-get >/dev/null || die "PostgreSQL is not installed and apt-get is not available"
	log "postgres: installing PostgreSQL from Debian's packages"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
	pg_bindir >/dev/null || die "PostgreSQL server binaries not found after installing"
}

# The cluster runs as the postgres system user when we are root (PostgreSQL refuses
# to run as root), as ourselves otherwise.
run_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

up() {
	if devsvc pg-ready -url "$URL" -timeout 3s 2>/dev/null; then
		log "postgres: a server already answers on $HOST:$PORT"
		devsvc pg-createdb -url "$URL"
		return 0
	fi
	case "$HOST" in 127.*|localhost) ;; *) die "no PostgreSQL answers on $HOSTPORT, and it is not a loopback address this script could start" ;; esac
	install_server
	local bin
	bin="$(pg_bindir)"
	if [ ! -f "$PGDATA_DIR/PG_VERSION" ]; then
		log "postgres: creating a cluster in $PGDATA_DIR"
		mkdir -p "$PGDATA_DIR"
		[ "$(id -u)" = 0 ] && chown postgres:postgres "$PGDATA_DIR"
		chmod 700 "$PGDATA_DIR"
		run_pg "$bin/initdb" -D "$PGDATA_DIR" -U "$PGUSER_NAME" -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
	fi
	if ! run_pg "$bin/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1; then
		log "postgres: starting $("$bin/postgres" --version) on $HOST:$PORT (log: $PGDATA_DIR/server.log)"
		run_pg "$bin/pg_ctl" -D "$PGDATA_DIR" -l "$PGDATA_DIR/server.log" -w -t "$WAIT" \
			-o "-c listen_addresses=$HOST -p $PORT -k /tmp -c max_connections=200" start >/dev/null \
			|| { tail -20 "$PGDATA_DIR/server.log" >&2; die "PostgreSQL did not start (log: $PGDATA_DIR/server.log)"; }
	fi
	devsvc pg-createdb -url "$URL" || die "cannot create the database of $URL"
	devsvc pg-ready -url "$URL" -timeout "${WAIT}s" || die "PostgreSQL does not answer on $HOSTPORT"
	log "postgres: ready on $HOST:$PORT (log: $PGDATA_DIR/server.log)"
}

down() {
	local bin
	bin="$(pg_bindir)" || { log "postgres: not installed"; return 0; }
	if [ -f "$PGDATA_DIR/PG_VERSION" ] && run_pg "$bin/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1; then
		run_pg "$bin/pg_ctl" -D "$PGDATA_DIR" -m fast stop >/dev/null
		log "postgres: stopped"
	else
		log "postgres: no cluster started by this script is running"
	fi
}

crash() {
	local bin
	bin="$(pg_bindir)" || die "PostgreSQL is not installed"
	run_pg "$bin/pg_ctl" -D "$PGDATA_DIR" -m immediate stop >/dev/null
	log "postgres: $HOST:$PORT stopped with -m immediate"
}

start() {
	local bin
	bin="$(pg_bindir)" || die "PostgreSQL is not installed"
	[ -f "$PGDATA_DIR/PG_VERSION" ] || die "no cluster in $PGDATA_DIR: run up first"
	if ! run_pg "$bin/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1; then
		run_pg "$bin/pg_ctl" -D "$PGDATA_DIR" -l "$PGDATA_DIR/server.log" -w -t "$WAIT" \
			-o "-c listen_addresses=$HOST -p $PORT -k /tmp -c max_connections=200" start >/dev/null \
			|| { tail -20 "$PGDATA_DIR/server.log" >&2; die "PostgreSQL did not start (log: $PGDATA_DIR/server.log)"; }
	fi
	devsvc pg-ready -url "$URL" -timeout "${WAIT}s" || die "PostgreSQL does not answer on $HOSTPORT"
}

case "${1:-}" in
	up) up ;;
	down) down ;;
	crash) crash ;;
	start) start ;;
	status) devsvc pg-ready -url "$URL" -timeout 3s ;;
	*) echo "usage: $0 up|down|crash|start|status" >&2; exit 2 ;;
esac
