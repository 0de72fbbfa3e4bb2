package containers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/modules/postgres"

	"github.com/kbus-dev/kbus/kbustest"
)

// Time limits of [Main].
const (
	// ProbeTimeout bounds the question "does a Docker engine answer?".
	ProbeTimeout = 10 * time.Second
	// StartTimeout bounds pulling the images and starting the containers.
	StartTimeout = 5 * time.Minute
	// StopTimeout bounds removing the containers after the tests.
	StopTimeout = time.Minute
)

// DockerAnswers reports whether a Docker engine answers, as testcontainers
// finds it (DOCKER_HOST, ~/.testcontainers.properties, the usual sockets):
// nil when it does, otherwise why not. It returns when ctx ends at the latest.
func DockerAnswers(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- dockerHealth(ctx) }() // ends by itself; done is buffered
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("docker engine: no answer: %w", ctx.Err())
	}
}

func dockerHealth(ctx context.Context) (err error) {
	defer func() {
		// The Docker client panics on some malformed configurations.
		if r := recover(); r != nil {
			err = fmt.Errorf("docker client: %v", r)
		}
	}()
	p, err := testcontainers.NewDockerProvider(testcontainers.WithLogger(tclog.NewNoopLogger()))
	if err != nil {
		return fmt.Errorf("no Docker host found in DOCKER_HOST, ~/.testcontainers.properties, the Docker context, /var/run/docker.sock or the rootless sockets: %w", err)
	}
	return p.Health(ctx) // closes p
}

// Services are the containers that [Start] started. Terminate removes them.
// A Services is not safe for concurrent use.
type Services struct {
	// Brokers is the Kafka container's address on this host, or nil when
	// Kafka was not started.
	Brokers []string
	// DatabaseURL connects to the PostgreSQL container's database, or is
	// empty when PostgreSQL was not started.
	DatabaseURL string

	started []testcontainers.Container
}

// Start starts in containers the services that plan asks for (a Plan from
// [kbustest.ChooseServices], or one written by hand): Kafka from [KafkaImage]
// in KRaft mode, PostgreSQL from [PostgresImage]. Both publish their ports on
// random host ports, so that several test binaries can run at once. When one
// fails to start, Start removes what it started and returns the error.
//
// The images are pulled on first use. Testcontainers also runs its reaper
// container, which removes the containers if the process dies before
// [Services.Terminate].
func Start(ctx context.Context, plan kbustest.Plan) (*Services, error) {
	s := &Services{}
	if plan.Kafka {
		c, err := testcontainers.Run(ctx, KafkaImage, kafkaOptions(newClusterID())...)
		if c != nil {
			s.started = append(s.started, c)
		}
		if err == nil {
			var endpoint string
			endpoint, err = c.PortEndpoint(ctx, kafkaClientPort, "")
			s.Brokers = []string{endpoint}
		}
		if err != nil {
			return nil, s.fail(fmt.Errorf("kafka (%s): %w", KafkaImage, err))
		}
	}
	if plan.Postgres {
		c, err := postgres.Run(ctx, PostgresImage, postgresOptions()...)
		if c != nil {
			s.started = append(s.started, c)
		}
		if err == nil {
			s.DatabaseURL, err = c.ConnectionString(ctx, "sslmode=disable")
		}
		if err != nil {
			return nil, s.fail(fmt.Errorf("postgresql (%s): %w", PostgresImage, err))
		}
	}
	return s, nil
}

// fail removes what s started, after err, and returns both.
func (s *Services) fail(err error) error {
	ctx, cancel := context.WithTimeout(context.Background(), StopTimeout)
	defer cancel()
	return errors.Join(err, s.Terminate(ctx))
}

// Terminate stops and removes the containers, with their data. It may be
// called more than once.
func (s *Services) Terminate(ctx context.Context) error {
	var errs []error
	for _, c := range s.started {
		if err := c.Terminate(ctx); err != nil {
			errs = append(errs, fmt.Errorf("remove container %s: %w", c.GetContainerID(), err))
		}
	}
	s.started = nil
	return errors.Join(errs...)
}

// Main runs a package's tests on services chosen by [kbustest.ChooseServices]
// and returns the exit code for os.Exit. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(containers.Main(m)) }
//
// When the plan starts containers, Main starts them before the tests, points
// KAFKA_BROKERS and DATABASE_URL at them (so that [kbustest.Brokers],
// [kbustest.DB] and child processes the tests start find them) and removes
// them after the tests. Otherwise the tests run on the services at
// KAFKA_BROKERS and DATABASE_URL, as without Main.
//
// Main says on standard error which services it chose and why (go test shows
// it with -v or when the package fails). When KBUS_SERVICES=containers and no
// Docker engine answers, or a container does not start, it runs no test and
// returns 1 with the reason.
func Main(m *testing.M) int {
	return run(m, env{get: os.Getenv, set: os.Setenv}, DockerAnswers, Start, os.Stderr)
}

// started is what Main started, for this package's own tests.
var started *Services

// env is the process environment, replaceable in tests.
type env struct {
	get func(string) string
	set func(key, value string) error
}

// run is Main with its dependencies as parameters.
func run(m interface{ Run() int }, e env, docker func(context.Context) error,
	start func(context.Context, kbustest.Plan) (*Services, error), log io.Writer) int {
	plan, err := kbustest.ChooseServices(e.get, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), ProbeTimeout)
		defer cancel()
		return docker(ctx)
	})
	if err != nil {
		fmt.Fprintf(log, "kbustest/containers: %v\n", err)
		return 1
	}
	fmt.Fprintf(log, "kbustest/containers: %s\n", plan.Reason)
	if !plan.Containers() {
		return m.Run()
	}

	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	s, err := start(ctx, plan)
	cancel()
	if err != nil {
		fmt.Fprintf(log, "kbustest/containers: no test ran: the containers did not start: %s\n", oneLine(err))
		return 1
	}
	started = s
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), StopTimeout)
		defer cancel()
		if err := s.Terminate(ctx); err != nil {
			fmt.Fprintf(log, "kbustest/containers: %v\n", err)
		}
	}()
	if s.Brokers != nil {
		if err := e.set("KAFKA_BROKERS", strings.Join(s.Brokers, ",")); err != nil {
			fmt.Fprintf(log, "kbustest/containers: %v\n", err)
			return 1
		}
		fmt.Fprintf(log, "kbustest/containers: Kafka (%s) at %s\n", KafkaImage, strings.Join(s.Brokers, ","))
	}
	if s.DatabaseURL != "" {
		if err := e.set("DATABASE_URL", s.DatabaseURL); err != nil {
			fmt.Fprintf(log, "kbustest/containers: %v\n", err)
			return 1
		}
		fmt.Fprintf(log, "kbustest/containers: PostgreSQL (%s) at %s\n", PostgresImage, s.DatabaseURL)
	}
	return m.Run()
}

// oneLine words err on one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
