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
// nothing itself: `make test` starts both services natively with the
// project's scripts (scripts/kafka.sh and scripts/postgres.sh), and `docker
// compose up -d` does the same on a machine with Docker.
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
//
// # Services in containers
//
// To have a package's tests start their own services in Docker, through
// testcontainers-go, add the module github.com/kbus-dev/kbus/kbustest/containers
// to your tests (a module of its own, so that the Docker client stays out of
// kbus's dependencies) and call its Main from TestMain:
//
//	import "github.com/kbus-dev/kbus/kbustest/containers"
//
//	func TestMain(m *testing.M) { os.Exit(containers.Main(m)) }
//
// Main starts Kafka (Apache Kafka's official image, a single KRaft node) and
// PostgreSQL in containers, points KAFKA_BROKERS and DATABASE_URL at them for
// the tests, and removes them afterwards, when [ChooseServices] says so:
//
//	KBUS_SERVICES=containers   always; the tests fail, saying why, when no Docker engine answers
//	KBUS_SERVICES=native       never; Docker is not asked
//	unset, or auto             for each of KAFKA_BROKERS and DATABASE_URL that is unset, when a Docker engine answers
//
// Otherwise the tests use the services at KAFKA_BROKERS and DATABASE_URL (or
// their defaults), as without Main. `make test` sets both variables, so it
// never needs Docker. `go doc github.com/kbus-dev/kbus/kbustest/containers`
// has the rest, and its example_test.go is a test to copy.
package kbustest
