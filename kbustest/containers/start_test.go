package containers

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/kbustest"
)

// TestStartRunsKafkaAndPostgres starts the containers for real (or uses
// those Main started) and checks that a record goes through the broker and
// the database has kbus's settings. It needs a Docker engine: without one it
// is skipped, saying so, unless KBUS_SERVICES=containers (then Main has
// already failed, before any test).
func TestStartRunsKafkaAndPostgres(t *testing.T) {
	s := started
	if s == nil || s.Brokers == nil || s.DatabaseURL == "" {
		mode := strings.ToLower(strings.TrimSpace(os.Getenv(kbustest.ServicesEnv)))
		if mode == kbustest.ServicesNative {
			t.Skip("KBUS_SERVICES=native: the container path is not exercised")
		}
		ctx, cancel := context.WithTimeout(context.Background(), ProbeTimeout)
		err := DockerAnswers(ctx)
		cancel()
		if err != nil {
			if mode == kbustest.ServicesContainers {
				t.Fatalf("KBUS_SERVICES=containers, but no Docker engine answers: %s", oneLine(err))
			}
			t.Skipf("no Docker engine answers, so the containers are not started here (set KBUS_SERVICES=containers to fail instead): %s", oneLine(err))
		}
		ctx, cancel = context.WithTimeout(context.Background(), StartTimeout)
		defer cancel()
		s, err = Start(ctx, kbustest.Plan{Kafka: true, Postgres: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), StopTimeout)
			defer cancel()
			if err := s.Terminate(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Kafka: a topic with 3 partitions, a record written and read back
	// through the advertised (host) address.
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.Brokers...), kgo.ConsumeTopics("kbustest.containers"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "kbustest.containers"); err != nil {
		t.Fatalf("create topic on %v: %v", s.Brokers, err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "kbustest.containers", Key: []byte("k"), Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	fs := cl.PollFetches(ctx)
	if err := fs.Err0(); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if recs := fs.Records(); len(recs) != 1 || string(recs[0].Value) != "v" {
		t.Fatalf("read back %v", recs)
	}

	// PostgreSQL: the database kbus, as many connections as natively.
	conn, err := pgx.Connect(ctx, s.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var db, maxConns string
	if err := conn.QueryRow(ctx, "SELECT current_database(), current_setting('max_connections')").Scan(&db, &maxConns); err != nil {
		t.Fatal(err)
	}
	if db != "kbus" || maxConns != "200" {
		t.Errorf("database %q, max_connections %s: want kbus, 200", db, maxConns)
	}
}
