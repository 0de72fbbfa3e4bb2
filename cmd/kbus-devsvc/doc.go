// Command kbus-devsvc is a developer tool, not part of kbus's API: it checks
// the services kbus's tests and demos need, the way a client does (a Kafka
// metadata request, a PostgreSQL connection) instead of just probing a port.
// The scripts in scripts/ build it into $KBUS_CACHE/bin (scripts/lib.sh,
// devsvc) and run it; you do not need to install it.
//
//	kbus-devsvc kafka-ready -brokers 127.0.0.1:9092 -timeout 60s [-pid N]
//	kbus-devsvc pg-ready    -url postgres://... -timeout 60s [-pid N]
//	kbus-devsvc pg-createdb -url postgres://.../kbus
//	kbus-devsvc create-topic -brokers ... -topic T -partitions N
//	kbus-devsvc delete-topic -brokers ... -topic T
//
// With -pid, waiting stops early (and fails) when that process exits.
package main
