#!/usr/bin/env bash
# scripts/bench-sse.sh — fan-out latency of `kbus serve sse` under many streams.
# Prints the "## SSE: fan-out latency" section of BENCHMARKS.md on stdout
# (scripts/bench.sh appends it to its report); progress goes to stderr.
#
# For every scenario it starts a fresh `kbus serve sse` on a new 3-partition
# topic, and runs the load client cmd/kbus-ssebench in a separate process: it
# opens the streams (one admin key), waits until all are connected, publishes
# at a steady rate through the kbus producer and records publish-to-client
# latency per delivery (see cmd/kbus-ssebench/doc.go). One JSON line per
# scenario; the table is made from them.
#
# Environment: SSE_SCENARIOS (space-separated name:streams:events-per-s:p99-target-ms,
# default "a:10000:10:150 b:5000:100:1000"), SSE_DURATION (seconds of publishing,
# default 30), SSE_PARSER (fast or sse, the load client's parser, default fast),
# SSE_ADDR (default 127.0.0.1:18081), SSE_JSON (also copy the JSON lines there),
# KAFKA_BROKERS, DATABASE_URL.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$KBUS_ROOT"

BROKERS="${KAFKA_BROKERS:-127.0.0.1:9092}"
DB="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/kbus?sslmode=disable}"
SCENARIOS="${SSE_SCENARIOS:-a:10000:10:150 b:5000:100:1000}"
DURATION="${SSE_DURATION:-30}"
PARSER="${SSE_PARSER:-fast}"
ADDR="${SSE_ADDR:-127.0.0.1:18081}"
TMP="$(mktemp -d)"
TOPIC="bench.sse.$$"
server_pid=""

stop_server() {
	if [ -n "$server_pid" ]; then
		kill -TERM "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
		server_pid=""
	fi
}
cleanup() {
	stop_server
	devsvc delete-topic -brokers "$BROKERS" -topic "$TOPIC" >/dev/null 2>&1 || true
	rm -rf "$TMP"
}
trap cleanup EXIT

log "bench-sse: building kbus and kbus-ssebench"
go build -o "$TMP/kbus" ./cmd/kbus
go build -o "$TMP/kbus-ssebench" ./cmd/kbus-ssebench
devsvc create-topic -brokers "$BROKERS" -topic "$TOPIC" -partitions 3

: >"$TMP/results.jsonl"
for sc in $SCENARIOS; do
	IFS=: read -r name streams rate target <<<"$sc"
	log "bench-sse: scenario $name: $streams streams, $rate events/s for ${DURATION}s (parser $PARSER)"
	"$TMP/kbus" --brokers "$BROKERS" --database-url "$DB" serve sse --event-types "$TOPIC" --addr "$ADDR" \
		--max-conns "$streams" --max-conns-per-key "$streams" >"$TMP/server-$name.log" 2>&1 &
	server_pid=$!
	for _ in $(seq 1 100); do
		# /healthz answers once listening; the stream itself once the source runs.
		code=$(curl -s -o /dev/null -w '%{http_code}' "http://$ADDR/events/stream" || true)
		[ "$code" = 401 ] && break
		kill -0 "$server_pid" 2>/dev/null || { cat "$TMP/server-$name.log" >&2; die "kbus serve sse exited"; }
		sleep 0.2
	done
	"$TMP/kbus-ssebench" -scenario "$name" -url "http://$ADDR" -brokers "$BROKERS" -database-url "$DB" -topic "$TOPIC" \
		-clients "$streams" -rate "$rate" -duration "${DURATION}s" -target-p99-ms "$target" \
		-parser "$PARSER" -server-pid "$server_pid" | tee -a "$TMP/results.jsonl" >&2
	stop_server
	sleep 2 # let the sockets of the last run close
done
[ -n "${SSE_JSON:-}" ] && cp "$TMP/results.jsonl" "$SSE_JSON"

cat <<MD
## SSE: fan-out latency

\`kbus serve sse\` serves one 3-partition topic; the load client \`cmd/kbus-ssebench\`, a separate
process on the same machine (as are Kafka and PostgreSQL), opens the streams with one admin key,
waits until all are connected, then publishes events of ~200 bytes through the kbus producer at a
steady rate for ${DURATION} s. Every stream parses its events (parser: \`${PARSER}\`; \`fast\` is
an allocation-free reader of kbus's own output, \`sse\` is \`sse.Reader\`) and records
publish-to-client latency, the time the event is parsed minus the publish time in its message id
(millisecond precision), in a histogram. "Delivered" is deliveries over streams × events published;
"disconnected" counts streams that ended before the run did; RSS per stream is the server's VmRSS
growth while the streams connect, over their number; CPU is in percent of one core over the
publishing window (\`machine busy\` includes Kafka). "client sched p99" is the load client's own
goroutine scheduling latency (runtime/metrics): when it is large, the latencies include the load
client's queueing and the client, not the server, is the limit.

| | |
|---|---|
| reference (measured earlier on this machine class, not in this run) | a simple channel-per-client stdlib server: (a) 10,000 streams at 10 events/s, p99 229 ms; (b) 5,000 streams at 100 events/s, collapsed: 44 % of clients dropped, p99 2 s |

$("$TMP/kbus-ssebench" -markdown "$TMP/results.jsonl")

\`\`\`
$(cat "$TMP/results.jsonl")
\`\`\`

MD
