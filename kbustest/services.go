package kbustest

import (
	"errors"
	"fmt"
	"strings"
)

// ServicesEnv is the environment variable that chooses where a test binary's
// Kafka and PostgreSQL come from; see [ChooseServices].
const ServicesEnv = "KBUS_SERVICES"

// The values of ServicesEnv. Unset means ServicesAuto.
const (
	// ServicesAuto starts in a container each service whose variable
	// (KAFKA_BROKERS, DATABASE_URL) is unset, when a Docker engine answers;
	// otherwise it uses the services at KAFKA_BROKERS and DATABASE_URL (or
	// their defaults).
	ServicesAuto = "auto"
	// ServicesNative uses the services at KAFKA_BROKERS and DATABASE_URL (or
	// their defaults), which `make test` starts natively with the project's
	// scripts. Docker is not consulted.
	ServicesNative = "native"
	// ServicesContainers starts both services in containers, whatever
	// KAFKA_BROKERS and DATABASE_URL say, and fails when no Docker engine
	// answers.
	ServicesContainers = "containers"
)

// ErrNoContainerEngine is wrapped by the error of [ChooseServices] when
// ServicesEnv asks for containers and no Docker engine answers.
var ErrNoContainerEngine = errors.New("no Docker engine answers")

// Plan says where a test binary's services come from, as decided by
// [ChooseServices]. Its zero value starts nothing: both services are the ones
// at KAFKA_BROKERS and DATABASE_URL (or their defaults).
type Plan struct {
	// Kafka is true when Kafka is to be started in a container.
	Kafka bool
	// Postgres is true when PostgreSQL is to be started in a container.
	Postgres bool
	// Reason says in one line why, for a test log.
	Reason string
}

// Containers reports whether the plan starts any container.
func (p Plan) Containers() bool { return p.Kafka || p.Postgres }

// ChooseServices decides, from the environment, whether a test binary starts
// Kafka and PostgreSQL in containers or uses the services at KAFKA_BROKERS and
// DATABASE_URL. It starts nothing itself: the module
// github.com/kbus-dev/kbus/kbustest/containers acts on the plan, so that the
// Docker client stays out of kbus's own dependencies.
//
// getenv reads the environment (os.Getenv). docker reports whether a Docker
// engine answers (nil when it does); it is called at most once, and only when
// the answer matters.
//
//   - ServicesEnv=native: no containers, Docker is not asked.
//   - ServicesEnv=containers: both services in containers; an error wrapping
//     [ErrNoContainerEngine] when docker fails.
//   - unset or auto: each service whose variable (KAFKA_BROKERS, DATABASE_URL)
//     is unset goes in a container if docker succeeds; when both are set,
//     Docker is not asked. With no engine, nothing is started.
//
// Any other value of ServicesEnv is an error.
func ChooseServices(getenv func(string) string, docker func() error) (Plan, error) {
	mode := strings.ToLower(strings.TrimSpace(getenv(ServicesEnv)))
	switch mode {
	case ServicesNative:
		return Plan{Reason: ServicesEnv + "=native: using the services at KAFKA_BROKERS and DATABASE_URL"}, nil
	case ServicesContainers:
		if err := docker(); err != nil {
			return Plan{}, fmt.Errorf("kbustest: %s=containers, but %w (%s): start Docker, point DOCKER_HOST at an engine, or unset %s to use the services at KAFKA_BROKERS and DATABASE_URL, which `make test` starts natively",
				ServicesEnv, ErrNoContainerEngine, oneLine(err), ServicesEnv)
		}
		return Plan{Kafka: true, Postgres: true, Reason: ServicesEnv + "=containers: starting Kafka and PostgreSQL in containers"}, nil
	case "", ServicesAuto:
	default:
		return Plan{}, fmt.Errorf("kbustest: %s=%q: want %s, %s or %s", ServicesEnv, getenv(ServicesEnv), ServicesAuto, ServicesNative, ServicesContainers)
	}

	kafka, postgres := getenv("KAFKA_BROKERS") == "", getenv("DATABASE_URL") == ""
	if !kafka && !postgres {
		return Plan{Reason: "KAFKA_BROKERS and DATABASE_URL are set: using those services"}, nil
	}
	if err := docker(); err != nil {
		return Plan{Reason: fmt.Sprintf("%s (%s): using the services at KAFKA_BROKERS and DATABASE_URL or their defaults (set %s=containers to make this an error)",
			ErrNoContainerEngine, oneLine(err), ServicesEnv)}, nil
	}
	p := Plan{Kafka: kafka, Postgres: postgres}
	switch {
	case kafka && postgres:
		p.Reason = "KAFKA_BROKERS and DATABASE_URL are unset and a Docker engine answers: starting Kafka and PostgreSQL in containers"
	case kafka:
		p.Reason = "KAFKA_BROKERS is unset and a Docker engine answers: starting Kafka in a container; PostgreSQL at DATABASE_URL"
	default:
		p.Reason = "DATABASE_URL is unset and a Docker engine answers: starting PostgreSQL in a container; Kafka at KAFKA_BROKERS"
	}
	return p, nil
}

// oneLine words err on one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
