#!/usr/bin/env bash
# scripts/soak.sh [kbus-soak flags] — the fault-injection soak (cmd/kbus-soak).
#
# Starts a fresh three-node Kafka cluster (KBUS_KAFKA_NODES=3 scripts/kafka.sh, ports
# 29091-29093) and a PostgreSQL of its own (port 5433, database kbus_soak), builds kbus and
# kbus-soak, runs the soak with the flags given (make soak: the long form; CI: -short), then
# stops both. Process logs and the JSON figures go to .soak/run (kept after the run).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$KBUS_ROOT"

export KBUS_KAFKA_NODES=3
SOAK_DB="${SOAK_DATABASE_URL:-postgres://postgres@127.0.0.1:5433/kbus_soak?sslmode=disable}"
OUT=.soak/run
rm -rf "$OUT" && mkdir -p "$OUT" .soak/bin

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
.soak/bin/kbus-soak -kbus .soak/bin/kbus -root . -brokers "$(bash scripts/kafka.sh brokers)" \
	-database-url "$SOAK_DB" -dir "$OUT" -json "$OUT/soak.json" "$@"
