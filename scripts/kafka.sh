#!/usr/bin/env bash
# scripts/kafka.sh up|down|status|log — a real single-node Apache Kafka broker (KRaft,
# combined broker+controller, loopback only) for tests and demos, without Docker.
#
# up      does nothing when a broker already answers on KAFKA_BROKERS. Otherwise it
#         resolves Apache Kafka's jars from Maven Central with mvn (deploy/kafka/pom.xml)
#         into a cache outside the clone, writes a config, formats the storage once,
#         starts kafka.Kafka in the background and waits for a metadata response.
# down    stops the broker this script started (SIGTERM, then SIGKILL after 60 s).
# status  exits 0 when a broker answers.
# log     prints the path of the broker's log.
#
# Environment: KAFKA_BROKERS (default 127.0.0.1:9092), KBUS_KAFKA_VERSION (4.1.2),
# KBUS_CACHE (${XDG_CACHE_HOME:-$HOME/.cache}/kbus), JAVA_HOME, KBUS_KAFKA_WAIT (seconds, 120).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BROKERS="${KAFKA_BROKERS:-127.0.0.1:9092}"
FIRST="${BROKERS%%,*}"
HOST="${FIRST%:*}"
PORT="${FIRST##*:}"
VERSION="${KBUS_KAFKA_VERSION:-4.1.2}"
LIBS="$KBUS_CACHE/kafka-$VERSION/libs"
RUN="$KBUS_CACHE/kafka-run-$PORT"
PIDFILE="$RUN/kafka.pid"
LOGFILE="$RUN/kafka.log"
WAIT="${KBUS_KAFKA_WAIT:-120}"

java_bin() {
	if [ -n "${JAVA_HOME:-}" ]; then echo "$JAVA_HOME/bin/java"; else command -v java || die "java not found (Java 17 or newer is needed)"; fi
}

resolve_jars() {
	[ -f "$LIBS/.complete" ] && return 0
	command -v mvn >/dev/null || die "mvn not found: Maven is needed to fetch Apache Kafka's jars"
	log "kafka: resolving Apache Kafka $VERSION jars with mvn into $LIBS"
	rm -rf "$LIBS" && mkdir -p "$LIBS"
	local log4j=2.25.3
	case "$VERSION" in 4.1.0|4.1.1) log4j=2.24.3 ;; esac
	# pipefail (set above) makes the pipeline fail when mvn does; sed strips
	# the colour codes Maven 3.8 prints even in batch mode.
	if ! mvn -q -B -Dstyle.color=never -f "$KBUS_ROOT/deploy/kafka/pom.xml" \
		-Dkafka.version="$VERSION" -Dlog4j.version="$log4j" \
		dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIBS" 2>&1 \
		| sed -e 's/\x1b\[[0-9;]*m//g' -e '/^$/d' >&2; then
		die "mvn could not resolve Apache Kafka $VERSION"
	fi
	ls "$LIBS"/kafka_2.13-*.jar >/dev/null 2>&1 || die "kafka_2.13 jar missing after mvn"
	touch "$LIBS/.complete"
}

write_config() {
	mkdir -p "$RUN/data" "$RUN/tmp"
	local cport=$((PORT + 1))
	cat >"$RUN/server.properties" <<PROPS
# Written by scripts/kafka.sh: one node, broker and controller, loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$cport
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$cport
advertised.listeners=PLAINTEXT://$HOST:$PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$RUN/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
log.retention.hours=168
log.segment.bytes=268435456
PROPS
	cat >"$RUN/log4j2.properties" <<'PROPS'
# Quiet: warnings and errors only, plus the one "Kafka Server started" line.
status = warn
appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = STDERR
logger.raftserver.name = kafka.server.KafkaRaftServer
logger.raftserver.level = INFO
PROPS
}

format_storage() {
	[ -f "$RUN/data/meta.properties" ] && return 0
	log "kafka: formatting storage in $RUN/data"
	local id
	id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)
	"$(java_bin)" -Xmx256m -Djava.io.tmpdir="$RUN/tmp" \
		-Dlog4j2.configurationFile="$RUN/log4j2.properties" \
		-cp "$LIBS/*" kafka.tools.StorageTool format -t "$id" -c "$RUN/server.properties" >>"$LOGFILE" 2>&1 \
		|| { tail -20 "$LOGFILE" >&2; die "formatting storage failed (log: $LOGFILE)"; }
}

running_pid() {
	[ -f "$PIDFILE" ] || return 1
	local pid
	pid=$(cat "$PIDFILE")
	kill -0 "$pid" 2>/dev/null && echo "$pid"
}

up() {
	if devsvc kafka-ready -brokers "$BROKERS" -timeout 3s 2>/dev/null; then
		log "kafka: a broker already answers on $BROKERS"
		return 0
	fi
	case "$HOST" in 127.*|localhost) ;; *) die "no broker answers on $BROKERS, and it is not a loopback address this script could start" ;; esac
	if pid=$(running_pid); then
		log "kafka: broker process $pid is starting; waiting"
	else
		resolve_jars
		write_config
		format_storage
		log "kafka: starting Apache Kafka $VERSION on $HOST:$PORT (log: $LOGFILE)"
		: >"$LOGFILE"
		# setsid: the broker outlives this script and make's process group.
		setsid "$(java_bin)" -Xms256m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
			-Djava.awt.headless=true -Djava.io.tmpdir="$RUN/tmp" \
			-Dlog4j2.configurationFile="$RUN/log4j2.properties" \
			-cp "$LIBS/*" kafka.Kafka "$RUN/server.properties" \
			</dev/null >>"$LOGFILE" 2>&1 &
		echo $! >"$PIDFILE"
	fi
	if ! devsvc kafka-ready -brokers "$BROKERS" -timeout "${WAIT}s" -pid "$(cat "$PIDFILE")"; then
		tail -30 "$LOGFILE" >&2 || true
		die "broker did not answer on $BROKERS within ${WAIT}s (log: $LOGFILE)"
	fi
	log "kafka: ready on $BROKERS (log: $LOGFILE)"
}

down() {
	local pid
	if ! pid=$(running_pid); then
		log "kafka: no broker started by this script is running"
		rm -f "$PIDFILE"
		return 0
	fi
	log "kafka: stopping broker $pid"
	kill -TERM "$pid"
	for _ in $(seq 1 60); do
		kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; log "kafka: stopped"; return 0; }
		sleep 1
	done
	log "kafka: broker $pid did not stop in 60 s; killing it"
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$PIDFILE"
}

case "${1:-}" in
	up) up ;;
	down) down ;;
	status) devsvc kafka-ready -brokers "$BROKERS" -timeout 3s ;;
	log) echo "$LOGFILE" ;;
	*) echo "usage: $0 up|down|status|log" >&2; exit 2 ;;
esac
