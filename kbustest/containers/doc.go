// Package containers starts the Kafka and PostgreSQL that
// [github.com/kbus-dev/kbus/kbustest] gives tests in Docker containers, through
// testcontainers-go, when a Docker engine answers.
//
// It is a module of its own (github.com/kbus-dev/kbus/kbustest/containers), so
// that the Docker client and testcontainers stay out of the dependencies of
// kbus and of programs that import it; add it to your tests only:
//
//	go get github.com/kbus-dev/kbus/kbustest/containers
//
// and call [Main] from the TestMain of each package whose tests use kbustest:
//
//	func TestMain(m *testing.M) { os.Exit(containers.Main(m)) }
//
// Main decides with [kbustest.ChooseServices], from KBUS_SERVICES,
// KAFKA_BROKERS, DATABASE_URL and whether Docker answers:
//
//	KBUS_SERVICES        KAFKA_BROKERS / DATABASE_URL   Docker answers   the tests run on
//	native               any                            not asked        the services at the variables (or their defaults)
//	containers           any                            yes              new containers, for both
//	containers           any                            no               nothing: Main fails, saying why
//	unset or auto        both set                       not asked        the services at the variables
//	unset or auto        one or both unset              yes              a new container for each unset one
//	unset or auto        one or both unset              no               the services at the variables' defaults
//
// so that `go test ./...` on a laptop with Docker needs nothing else, while
// `make test` (which sets both variables and starts the services natively
// with the project's scripts) never needs Docker.
//
// Kafka runs from Apache Kafka's official image ([KafkaImage]) as a single
// KRaft node, configured like the native broker of scripts/kafka.sh through
// the image's documented variables; PostgreSQL runs from [PostgresImage] with
// the database kbus. Both publish their ports on random host ports. The
// containers live as long as the test binary: one pair per package, removed
// after its tests (or by testcontainers' reaper if the binary dies).
//
// [Start] starts them without Main, for a TestMain of your own.
package containers
