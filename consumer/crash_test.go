package consumer_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/consumer"
	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/kbustest"
)

// TestMain lets the test binary double as the consumer process that
// TestCrashKilledMidStreamExactlyOnce kills: with KBUS_CRASH_CHILD=1 it runs
// a consumer instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("KBUS_CRASH_CHILD") == "1" {
		if err := crashChild(); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashChild consumes KBUS_CRASH_TOPIC as group KBUS_CRASH_GROUP into the
// payments_seen table of DATABASE_URL until it is signalled (or killed).
func crashChild() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		return err
	}
	defer pool.Close()
	group := os.Getenv("KBUS_CRASH_GROUP")
	c, err := consumer.New(consumer.Config{
		Brokers:  strings.Split(os.Getenv("KAFKA_BROKERS"), ","),
		Group:    group,
		Topics:   []string{os.Getenv("KBUS_CRASH_TOPIC")},
		DB:       pool,
		MaxBatch: 50, // many small transactions and commits: a kill lands between them
		Logger:   testLogger(),
		// The broker's minimum: the killed member's session expires sooner,
		// so the restarted one gets its partitions without a 45 s wait.
		ClientOptions: []kgo.Opt{kgo.SessionTimeout(6 * time.Second)},
	})
	if err != nil {
		return err
	}
	c.HandleTx(os.Getenv("KBUS_CRASH_TOPIC"), func(ctx context.Context, tx pgx.Tx, e envelope.Envelope) error {
		return recordEffect(ctx, tx, e, group)
	})
	return c.Run(ctx)
}

func startCrashChild(t *testing.T, e *env, group string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		"KBUS_CRASH_CHILD=1",
		"KAFKA_BROKERS="+strings.Join(kbustest.Brokers(t), ","),
		"DATABASE_URL="+e.db.URL,
		"KBUS_CRASH_TOPIC="+e.topic,
		"KBUS_CRASH_GROUP="+group,
	)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// TestCrashKilledMidStreamExactlyOnce kills a consumer process with SIGKILL
// in the middle of a stream of 10,000 events, restarts it, and checks that
// every event's effect exists exactly once.
func TestCrashKilledMidStreamExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: not in -short mode")
	}
	const n = 10000
	e := newEnv(t, 4)
	group := e.group()
	e.publish(n / 2)

	first := startCrashChild(t, e, group)
	more := make(chan []envelope.Envelope, 1)
	go func() { more <- e.publish(n / 2) }() // the stream goes on while the consumer runs
	eventually(t, "the first consumer to be mid-stream", func() (bool, string) {
		rows, _, _ := e.effects(group)
		return rows >= n/5, fmt.Sprint(rows)
	})
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	<-more
	atKill, _, _ := e.effects(group)
	if atKill >= n {
		t.Fatalf("the consumer had processed all %d events before the kill; the test proves nothing", atKill)
	}
	t.Logf("killed with %d of %d effects committed", atKill, n)

	restarted := time.Now()
	second := startCrashChild(t, e, group)
	eventually(t, "every event processed after the restart", func() (bool, string) {
		rows, distinct, _ := e.effects(group)
		return distinct == n, fmt.Sprintf("rows %d distinct %d", rows, distinct)
	})
	t.Logf("the restarted consumer finished the stream in %v", time.Since(restarted).Round(time.Millisecond))
	// Let the restarted consumer run on a little: a late duplicate would show.
	time.Sleep(500 * time.Millisecond)
	rows, distinct, sum := e.effects(group)
	const wantSum = 2 * (n / 2) * (n/2 + 1) / 2 // two streams with amounts 1..n/2
	if rows != n || distinct != n || sum != wantSum {
		t.Fatalf("rows=%d distinct=%d sum=%d, want %d, %d, %d", rows, distinct, sum, n, n, wantSum)
	}
	var dedupRows int
	if err := e.db.Pool.QueryRow(context.Background(),
		`SELECT count(*) FROM processed_events WHERE consumer_group = $1`, group).Scan(&dedupRows); err != nil {
		t.Fatal(err)
	}
	if dedupRows != n {
		t.Fatalf("processed_events has %d rows for the group, want %d", dedupRows, n)
	}
	if err := second.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := second.Wait(); err != nil {
		t.Fatalf("the restarted consumer did not stop cleanly on SIGTERM: %v", err)
	}
}
