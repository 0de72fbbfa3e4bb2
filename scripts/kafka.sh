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
#
# A three-node cluster, for the fault-injection soak (make soak), with KBUS_KAFKA_NODES=3:
# three JVMs on loopback, each broker and controller, node N (1..3) with PLAINTEXT on
# 127.0.0.1:2909N and CONTROLLER on 127.0.0.1:3909N, static voters, replication factor 3
# and min.insync.replicas=2, so that an acks=all write survives the loss of any one node.
# It ignores KAFKA_BROKERS; the single node stays the default for make test and make demo.
#
#   KBUS_KAFKA_NODES=3 scripts/kafka.sh up|down|status|reset|brokers
#   KBUS_KAFKA_NODES=3 scripts/kafka.sh kill N|stop N|start N|pid N|log N
#
# up      starts the nodes not running and waits until each answers a metadata request.
# down    SIGTERM to every node, SIGKILL after 60 s. reset: down, then delete the data.
# kill N  kill -9 node N (a crash). stop N: SIGTERM and wait. start N: start node N on its
#         existing data and wait until it answers. brokers: the bootstrap list.
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

# ---- three-node cluster (KBUS_KAFKA_NODES=3) ----

CLUSTER="$KBUS_CACHE/kafka-cluster"
NODES=3
node_port() { echo $((29090 + $1)); }
node_cport() { echo $((39090 + $1)); }
node_dir() { echo "$CLUSTER/node$1"; }
cluster_brokers() {
	local out="" n
	for n in $(seq 1 $NODES); do out="$out${out:+,}127.0.0.1:$(node_port "$n")"; done
	echo "$out"
}

node_pid() {
	local f
	f="$(node_dir "$1")/kafka.pid"
	[ -f "$f" ] || return 1
	local pid
	pid=$(cat "$f")
	kill -0 "$pid" 2>/dev/null && echo "$pid"
}

node_config() {
	local n=$1 dir voters="" i
	dir="$(node_dir "$n")"
	mkdir -p "$dir/data" "$dir/tmp"
	for i in $(seq 1 $NODES); do voters="$voters${voters:+,}$i@127.0.0.1:$(node_cport "$i")"; done
	cat >"$dir/server.properties" <<PROPS
# Written by scripts/kafka.sh: node $n of a three-node test cluster on loopback.
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$(node_port "$n"),CONTROLLER://127.0.0.1:$(node_cport "$n")
advertised.listeners=PLAINTEXT://127.0.0.1:$(node_port "$n")
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=6
# Durability under the loss of one node: an acks=all write is on two nodes at least.
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
# Never elect an out-of-sync replica: it would drop acknowledged records.
unclean.leader.election.enable=false
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
# A killed node is fenced after 6 s without heartbeats (default 9 s), so that its
# partitions get new leaders quickly; a replica 10 s behind leaves the ISR (default 30 s).
broker.session.timeout.ms=6000
broker.heartbeat.interval.ms=1000
replica.lag.time.max.ms=10000
log.segment.bytes=67108864
PROPS
	cp "$RUN/log4j2.properties" "$dir/log4j2.properties"
}

node_start() {
	local n=$1 dir
	dir="$(node_dir "$n")"
	if node_pid "$n" >/dev/null; then return 0; fi
	: >>"$dir/kafka.log"
	setsid "$(java_bin)" -Xms128m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
		-Djava.awt.headless=true -Djava.io.tmpdir="$dir/tmp" \
		-Dlog4j2.configurationFile="$dir/log4j2.properties" \
		-cp "$LIBS/*" kafka.Kafka "$dir/server.properties" \
		</dev/null >>"$dir/kafka.log" 2>&1 &
	echo $! >"$dir/kafka.pid"
}

node_wait() {
	local n=$1
	devsvc kafka-ready -brokers "127.0.0.1:$(node_port "$n")" -timeout "${WAIT}s" -pid "$(cat "$(node_dir "$n")/kafka.pid")" \
		|| { tail -30 "$(node_dir "$n")/kafka.log" >&2 || true; die "node $n did not answer within ${WAIT}s (log: $(node_dir "$n")/kafka.log)"; }
}

cluster_up() {
	resolve_jars
	RUN="$CLUSTER" write_config # for log4j2.properties
	local n id=""
	for n in $(seq 1 $NODES); do node_config "$n"; done
	if [ ! -f "$(node_dir 1)/data/meta.properties" ]; then
		id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)
		log "kafka: formatting a $NODES-node cluster in $CLUSTER"
		for n in $(seq 1 $NODES); do
			"$(java_bin)" -Xmx256m -Djava.io.tmpdir="$(node_dir "$n")/tmp" \
				-Dlog4j2.configurationFile="$(node_dir "$n")/log4j2.properties" \
				-cp "$LIBS/*" kafka.tools.StorageTool format -t "$id" -c "$(node_dir "$n")/server.properties" >>"$(node_dir "$n")/kafka.log" 2>&1 \
				|| { tail -20 "$(node_dir "$n")/kafka.log" >&2; die "formatting node $n failed"; }
		done
	fi
	for n in $(seq 1 $NODES); do node_start "$n"; done
	for n in $(seq 1 $NODES); do node_wait "$n"; done
	log "kafka: $NODES-node cluster ready on $(cluster_brokers)"
}

node_stop() {
	local n=$1 pid
	pid=$(node_pid "$n") || { rm -f "$(node_dir "$n")/kafka.pid"; return 0; }
	kill -TERM "$pid"
	for _ in $(seq 1 60); do
		kill -0 "$pid" 2>/dev/null || { rm -f "$(node_dir "$n")/kafka.pid"; return 0; }
		sleep 1
	done
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$(node_dir "$n")/kafka.pid"
}

cluster_down() {
	local n pids=()
	# SIGTERM all at once: one at a time, the last nodes wait for a quorum that left.
	for n in $(seq 1 $NODES); do
		if pid=$(node_pid "$n"); then kill -TERM "$pid"; pids+=("$pid"); fi
	done
	for _ in $(seq 1 60); do
		local alive=0
		for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
		[ $alive = 0 ] && break
		sleep 1
	done
	for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
	rm -f "$CLUSTER"/node*/kafka.pid
	log "kafka: cluster stopped"
}

node_arg() {
	case "${1:-}" in [1-9]) [ "$1" -le $NODES ] && return 0 ;; esac
	die "name a node: 1..$NODES"
}

if [ "${KBUS_KAFKA_NODES:-1}" != 1 ]; then
	[ "$KBUS_KAFKA_NODES" = 3 ] || die "KBUS_KAFKA_NODES must be 1 or 3"
	case "${1:-}" in
		up) cluster_up ;;
		down) cluster_down ;;
		reset) cluster_down; rm -rf "$CLUSTER"; log "kafka: cluster data deleted" ;;
		status) devsvc kafka-ready -brokers "$(cluster_brokers)" -timeout 3s ;;
		brokers) cluster_brokers ;;
		kill) node_arg "${2:-}"; if pid=$(node_pid "$2"); then kill -KILL "$pid"; rm -f "$(node_dir "$2")/kafka.pid"; log "kafka: node $2 ($pid) killed"; fi ;;
		stop) node_arg "${2:-}"; node_stop "$2" ;;
		start) node_arg "${2:-}"; node_start "$2"; node_wait "$2" ;;
		pid) node_arg "${2:-}"; node_pid "$2" ;;
		log) node_arg "${2:-}"; echo "$(node_dir "$2")/kafka.log" ;;
		*) echo "usage: KBUS_KAFKA_NODES=3 $0 up|down|reset|status|brokers|kill N|stop N|start N|pid N|log N" >&2; exit 2 ;;
	esac
	exit 0
fi

case "${1:-}" in
	up) up ;;
	down) down ;;
	status) devsvc kafka-ready -brokers "$BROKERS" -timeout 3s ;;
	log) echo "$LOGFILE" ;;
	*) echo "usage: $0 up|down|status|log" >&2; exit 2 ;;
esac
