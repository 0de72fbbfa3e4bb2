package containers

import (
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/modules/postgres"
)

// PostgresImage is the image PostgreSQL runs from (the one docker-compose.yml
// runs).
const PostgresImage = "postgres:16"

// The PostgreSQL container's user, password and database: the user and
// database of kbustest.DefaultDatabaseURL, with a password because the image
// requires one.
const (
	postgresUser     = "postgres"
	postgresPassword = "kbustest"
	postgresDB       = "kbus"
)

// postgresOptions configures the PostgreSQL container, on top of what the
// testcontainers postgres module sets (its port, fsync off): the user,
// password and database, as many connections as scripts/postgres.sh allows,
// and the module's wait for the server's second start (the image starts it
// once to run its init scripts).
func postgresOptions() []testcontainers.ContainerCustomizer {
	return []testcontainers.ContainerCustomizer{
		postgres.WithUsername(postgresUser),
		postgres.WithPassword(postgresPassword),
		postgres.WithDatabase(postgresDB),
		testcontainers.WithCmdArgs("-c", "max_connections=200"),
		testcontainers.WithLabels(map[string]string{"dev.kbus.service": "postgres"}),
		postgres.BasicWaitStrategies(),
	}
}
