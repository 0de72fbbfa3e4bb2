package kbustest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/internal/migrations"
)

// Defaults used when the environment names no service.
const (
	DefaultBrokers     = "127.0.0.1:9092"
	DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/kbus?sslmode=disable"
)

// RequireEnv is the environment variable that turns a missing service into a
// test failure instead of a skip.
const RequireEnv = "KBUS_REQUIRE_SERVICES"

// probeTimeout bounds how long kbustest waits for a service to answer.
const probeTimeout = 10 * time.Second

// unavailable skips or fails t, depending on RequireEnv.
func unavailable(t testing.TB, what string, err error) {
	t.Helper()
	msg := fmt.Sprintf("kbustest: %s is not available: %v", what, err)
	if strings.EqualFold(strings.TrimSpace(os.Getenv(ServicesEnv)), ServicesContainers) {
		msg += " (" + ServicesEnv + "=containers starts containers only in test binaries whose TestMain calls containers.Main, of the module github.com/kbus-dev/kbus/kbustest/containers)"
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatal(msg + " (" + RequireEnv + "=1: run `make test`, which starts it)")
	}
	t.Skip(msg + " (set " + RequireEnv + "=1 to fail instead)")
}

// BrokerList returns the brokers named by KAFKA_BROKERS, or DefaultBrokers.
func BrokerList() []string {
	v := os.Getenv("KAFKA_BROKERS")
	if v == "" {
		v = DefaultBrokers
	}
	var out []string
	for _, b := range strings.Split(v, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// DatabaseURL returns DATABASE_URL, or DefaultDatabaseURL.
func DatabaseURL() string {
	if v := os.Getenv("DATABASE_URL"); v != "" {
		return v
	}
	return DefaultDatabaseURL
}

// kafkaProbe remembers, per process, whether the broker answered, so that a
// package of tests pays for one metadata request.
var kafkaProbe = sync.OnceValue(func() error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(BrokerList()...))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		return err
	}
	if len(md.Brokers) == 0 {
		return errors.New("metadata lists no brokers")
	}
	return nil
})

// Brokers returns the address of a Kafka broker that answers a metadata
// request. See the package documentation for what happens when none does.
func Brokers(t testing.TB) []string {
	t.Helper()
	if err := kafkaProbe(); err != nil {
		unavailable(t, "Kafka at "+strings.Join(BrokerList(), ","), err)
	}
	return BrokerList()
}

// Client returns a franz-go client for the test's broker, closed at cleanup.
// opts are appended to the seed brokers.
func Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(Brokers(t)...)}, opts...)...)
	if err != nil {
		t.Fatalf("kbustest: kafka client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Admin returns a kadm client for the test's broker, closed at cleanup.
func Admin(t testing.TB) *kadm.Client {
	t.Helper()
	return kadm.NewClient(Client(t))
}

var unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// Name returns a name unique to this test run, made of prefix, the test's name
// and random hex, safe as a Kafka topic, consumer group or SQL identifier
// (after quoting). Use it for consumer groups and other per-test resources.
func Name(t testing.TB, prefix string) string {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := unsafeChars.ReplaceAllString(t.Name(), "_")
	if len(name) > 80 {
		name = name[:80]
	}
	return fmt.Sprintf("%s%s.%s", prefix, strings.ToLower(name), hex.EncodeToString(b[:]))
}

// Topic creates a fresh topic with the given number of partitions (replication
// factor 1), waits until it is usable, and deletes it at cleanup.
func Topic(t testing.TB, partitions int32) string {
	t.Helper()
	adm := Admin(t)
	topic := Name(t, "kbustest.")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("kbustest: create topic %s: %v", topic, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// Deletion is best effort: a broker that went away must not fail a passed test.
		if _, err := adm.DeleteTopics(ctx, topic); err != nil {
			t.Logf("kbustest: delete topic %s: %v", topic, err)
		}
	})
	// Metadata propagates asynchronously; wait until every partition has a leader.
	for {
		md, err := adm.Metadata(ctx, topic)
		if err == nil {
			if td, ok := md.Topics[topic]; ok && td.Err == nil && len(td.Partitions) == int(partitions) {
				ready := true
				for _, p := range td.Partitions {
					if p.Err != nil || p.Leader < 0 {
						ready = false
					}
				}
				if ready {
					return topic
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("kbustest: topic %s not ready: %v", topic, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Database is a fresh PostgreSQL schema with kbus's migrations applied.
type Database struct {
	// URL connects to the database with search_path set to Schema, so that a
	// program started by the test (a child process, a server) sees the same
	// tables.
	URL string
	// Schema is the name of the test's schema.
	Schema string
	// Pool is a pool whose connections use Schema. It is closed at cleanup.
	Pool *pgxpool.Pool
}

// DB creates a fresh schema in the database of DatabaseURL, applies kbus's
// migrations to it, and returns a pool bound to it. The schema is dropped at
// cleanup.
func DB(t testing.TB) *Database {
	t.Helper()
	base := DatabaseURL()
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		unavailable(t, "PostgreSQL at "+redact(base), err)
	}
	defer admin.Close(context.Background())

	schema := strings.ReplaceAll(Name(t, "kbustest_"), ".", "_")
	if len(schema) > 63 {
		schema = schema[len(schema)-63:]
	}
	ident := pgx.Identifier{schema}.Sanitize()
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
		t.Fatalf("kbustest: create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("kbustest: drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+ident+" CASCADE"); err != nil {
			t.Logf("kbustest: drop schema %s: %v", schema, err)
		}
	})
	if err := migrations.Apply(ctx, admin, schema); err != nil {
		t.Fatalf("kbustest: %v", err)
	}

	url := withSearchPath(base, schema)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatalf("kbustest: pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return &Database{URL: url, Schema: schema, Pool: pool}
}

// withSearchPath adds search_path=schema to a postgres:// URL (pgx passes
// unknown URL parameters to the server as run-time parameters).
func withSearchPath(url, schema string) string {
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "search_path=" + schema
}

// redact hides a password in a URL for messages.
func redact(url string) string {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return "(unparsable DATABASE_URL)"
	}
	return fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
}
