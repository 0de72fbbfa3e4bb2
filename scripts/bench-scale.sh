#!/usr/bin/env bash
# scripts/bench-scale.sh — scaling the way users grow: a consumer group's
# instances on 12 partitions, and Transactional dedup as processed_events
# grows. Runs BenchmarkGroupScaling and BenchmarkDedupGrowth
# (consumer/scale_bench_test.go) against the real broker and database, writes
# the chart (cmd/kbus-benchplot) and prints the "## Scaling" section of
# BENCHMARKS.md on stdout, also copied to BENCH_SCALE_MD; progress goes to
# stderr. The services must be up (make bench starts them).
#
# Environment: BENCH_SCALE_EVENTS (the group's backlog, default 100000),
# BENCH_DEDUP_EVENTS (new events per dedup run, default 50000),
# BENCH_DEDUP_ROWS (largest processed_events measured: default 1000000, or
# 10000000 with BENCH_FULL=1; filling 10M rows takes a few minutes),
# BENCH_SCALE_COUNT (repetitions, default 3; the median is reported),
# BENCH_SCALE_SVG (default docs/bench/scaling.svg), BENCH_SCALE_MD (default
# .bench/scaling.md), KAFKA_BROKERS, DATABASE_URL.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$KBUS_ROOT"

SCALE_EVENTS="${BENCH_SCALE_EVENTS:-100000}"
DEDUP_EVENTS="${BENCH_DEDUP_EVENTS:-50000}"
if [ "${BENCH_FULL:-}" = 1 ]; then
	DEDUP_ROWS="${BENCH_DEDUP_ROWS:-10000000}"
else
	DEDUP_ROWS="${BENCH_DEDUP_ROWS:-1000000}"
fi
COUNT="${BENCH_SCALE_COUNT:-3}"
SVG="${BENCH_SCALE_SVG:-docs/bench/scaling.svg}"
MD="${BENCH_SCALE_MD:-.bench/scaling.md}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

go build -o "$TMP/kbus-benchplot" ./cmd/kbus-benchplot

log "bench-scale: BenchmarkGroupScaling (${SCALE_EVENTS} events, 1/2/4 instances x ${COUNT})"
BENCH_SCALE_EVENTS="$SCALE_EVENTS" KBUS_REQUIRE_SERVICES=1 \
	go test ./consumer -run '^$' -bench '^BenchmarkGroupScaling$' -benchtime 1x -count "$COUNT" -timeout 60m \
	| tee "$TMP/scale.txt" >&2
log "bench-scale: BenchmarkDedupGrowth (${DEDUP_EVENTS} events at 0..${DEDUP_ROWS} rows x ${COUNT})"
BENCH_DEDUP_EVENTS="$DEDUP_EVENTS" BENCH_DEDUP_ROWS="$DEDUP_ROWS" KBUS_REQUIRE_SERVICES=1 \
	go test ./consumer -run '^$' -bench '^BenchmarkDedupGrowth$' -benchtime 1x -count "$COUNT" -timeout 60m -v \
	| grep -v '^=== ' | tee -a "$TMP/scale.txt" >&2

mkdir -p "$(dirname "$SVG")" "$(dirname "$MD")"
"$TMP/kbus-benchplot" -svg "$SVG" <"$TMP/scale.txt" >"$TMP/tables.md"
log "bench-scale: wrote $SVG"

cat >"$MD" <<MD
## Scaling: instances of a group, and a growing dedup table

Both benchmarks (consumer/scale_bench_test.go) run kbus in Transactional mode with a trivial
handler that inserts one row through the transaction (no index on its table), so that what they
measure is kbus's per-event work (fetch, decode, the dedup row in \`processed_events\`, the
transaction, the offset commit) and the broker and PostgreSQL under it, all on this machine's
$(nproc) CPUs. "events/s" runs from \`Run\` (group join and rebalances included) to the last event
processed; "steady events/s" starts once every instance has processed its first event. "machine
CPU busy" is all CPUs over the run (100 % is every core busy); "cores used by the consumers'
process" is the benchmark process's CPU time over the run, the broker and PostgreSQL using the
rest. Median of ${COUNT} runs.

**Instances of one group** (\`BenchmarkGroupScaling\`): a 12-partition topic holds a backlog of
${SCALE_EVENTS} events; 1, 2 or 4 instances of one group, each a \`consumer.Consumer\` with its own
database pool and the default Concurrency 4 and MaxBatch 500, share it (in one process, as separate
processes would: each has its own Kafka client and group membership).

**A growing dedup table** (\`BenchmarkDedupGrowth\`): one instance processes ${DEDUP_EVENTS} new events
from a 4-partition topic while \`processed_events\` already holds 0 up to ${DEDUP_ROWS} rows
of the same group, with message ids shaped like kbus's (older ones, since a ULID begins with its
time), filled with \`generate_series\`, vacuumed and checkpointed before the step. The table keeps
growing through the steps, so each row shows its size when the runs started.

![Scaling: events/s by instances of one group, and by rows in processed_events]($SVG)

$(cat "$TMP/tables.md")

\`\`\`
$(grep -E '^Benchmark|processed_events:' "$TMP/scale.txt")
\`\`\`

MD
log "bench-scale: wrote $MD"
cat "$MD"
