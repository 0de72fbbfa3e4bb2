#!/usr/bin/env bash
# scripts/soak.sh [kbus-soak flags] — the fault-injection soak (cmd/kbus-soak).
#
# Starts a fresh three-node Kafka cluster (KBUS_KAFKA_NODES=3 scripts/kafka.sh, ports
# 29091-29093) and a PostgreSQL of its own (port 5433, database kbus_soak), builds kbus and
# kbus-soak, runs the soak with the flags given (make soak: the long form; CI: -short), then
# stops both. Process logs and the JSON figures go to .soak/run (kept after the run); with
# SOAK_MARKDOWN=FILE (make soak: RELIABILITY.md) the figures are written into FILE too.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$KBUS_ROOT"

export KBUS_KAFKA_NODES=3
SOAK_DB="${SOAK_DATABASE_URL:-postgres://postgres@127.0.0.1:5433/kbus_soak?sslmode=disable}"
OUT=.soak/run
rm -rf "$OUT" && mkdir -p "$OUT" .soak/bin

postgres_version() {
	local bin
	bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
	if [ -n "$bin" ]; then "$bin/postgres" --version | sed 's/^postgres (PostgreSQL) /PostgreSQL /'; else echo PostgreSQL; fi
}

cleanup() {
	bash scripts/kafka.sh down || true
	DATABASE_URL="$SOAK_DB" bash scripts/postgres.sh down || true
}
trap cleanup EXIT

go build -o .soak/bin/ ./cmd/kbus ./cmd/kbus-soak
bash scripts/kafka.sh reset
bash scripts/kafka.sh up
DATABASE_URL="$SOAK_DB" bash scripts/postgres.sh up
log "soak: running .soak/bin/kbus-soak $*"
about=(
	-about "Machine: $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr); shared with the cluster, the database and the kbus processes"
	-about "Apache Kafka ${KBUS_KAFKA_VERSION:-4.1.2}, three nodes (KRaft, each broker and controller, heap 512 MiB, loopback) started by scripts/kafka.sh; $(postgres_version); $(go version | cut -d' ' -f3-), $(java -version 2>&1 | head -1)"
	-about "Reproduce: \`make soak\` (the long form, about 10 minutes; \`SOAK_FLAGS=-events=100000\` and the other flags of \`go doc ./cmd/kbus-soak\`), or \`make soak-short\` (CI's form)"
)
markdown=()
[ -n "${SOAK_MARKDOWN:-}" ] && markdown=(-markdown "$SOAK_MARKDOWN")
.soak/bin/kbus-soak -kbus .soak/bin/kbus -root . -brokers "$(bash scripts/kafka.sh brokers)" \
	-database-url "$SOAK_DB" -dir "$OUT" -json "$OUT/soak.json" "${about[@]}" "${markdown[@]}" "$@"
