// Package kbustest gives tests a real Kafka broker and a real PostgreSQL
// database, in the spirit of net/http/httptest.
//
// A test asks for what it needs and gets it cleaned up afterwards:
//
//	func TestPaymentFlow(t *testing.T) {
//		brokers := kbustest.Brokers(t)        // a broker that answers
//		topic := kbustest.Topic(t, 3)         // a fresh 3-partition topic, deleted after the test
//		db := kbustest.DB(t)                  // a fresh schema with kbus's migrations applied
//		...
//	}
//
// The broker is found through KAFKA_BROKERS (default 127.0.0.1:9092) and the
// database through DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/kbus?sslmode=disable). kbustest starts
// nothing itself: `make test` starts both services with the project's scripts
// (scripts/kafka.sh and scripts/postgres.sh), and `docker compose up -d` does
// the same on a machine with Docker.
//
// Around them: [Client] and [Admin] give franz-go clients for the broker,
// closed at cleanup; [Name] makes a unique name for a consumer group or any
// other per-test resource; [Database] carries the schema's URL for child
// processes the test starts.
//
// When a service does not answer, the test is skipped, unless
// KBUS_REQUIRE_SERVICES=1 is set (as `make test` and CI do), in which case the
// test fails: a skipped integration test proves nothing.
//
// Every function here may be called from parallel tests.
package kbustest
