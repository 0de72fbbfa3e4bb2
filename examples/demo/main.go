// Command demo plays kbus's end-to-end scenario (`make demo`): a payment API
// whose merchants used to poll GET /api/payments/{id} every two seconds
// publishes events instead, and the services around it react.
//
// It starts the example services as child processes (examples/payments,
// examples/order-service, examples/merchant, `kbus serve webhooks`,
// `kbus serve sse`) against Kafka and PostgreSQL, and shows, step by step:
// events published through the payment API; the order service marking
// orders paid in its own table, exactly once; a duplicated event skipped by
// dedup; a poison event dead-lettered to dlq.order-service, fixed and
// replayed with `kbus dlq replay`; webhooks delivered to the merchant, who
// fails the first one; an SSE client that disconnects and resumes with
// Last-Event-ID. It ends with a table of expected and actual figures and
// exits 0 only if all of them match: the demo is also an end-to-end test.
//
//	make demo                                  # real Kafka and PostgreSQL
//	KBUS_EMBEDDED=1 make demo                  # kfake in-process instead of Kafka
//	go run ./examples/demo -hold               # keep the services up afterwards (dashboard)
//
// Each run is isolated: its own PostgreSQL schema, consumer groups and
// tenant, removed at the end, so runs can repeat and tests can share the
// broker and database meanwhile. See README.md.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	code, err := run(os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
	}
	os.Exit(code)
}

// config is the demo's command line.
type config struct {
	binDir      string
	staticDir   string
	logDir      string
	brokers     string
	databaseURL string
	embedded    bool
	hold        bool
	keep        bool
	pace        time.Duration
	timeout     time.Duration
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.binDir, "bin", ".demo/bin", "directory of the kbus, payments, order-service and merchant binaries (built there when missing)")
	fs.StringVar(&c.staticDir, "static", "examples/dashboard/static", "the dashboard page, served by kbus serve sse")
	fs.StringVar(&c.logDir, "logs", ".demo/logs", "directory for the services' logs (the run's own subdirectory)")
	fs.StringVar(&c.brokers, "brokers", envOr("KAFKA_BROKERS", "127.0.0.1:9092"), "Kafka seed brokers (default $KAFKA_BROKERS)")
	fs.StringVar(&c.databaseURL, "database-url", envOr("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kbus?sslmode=disable"),
		"PostgreSQL (default $DATABASE_URL); the run works in a schema of its own")
	fs.BoolVar(&c.embedded, "embedded", os.Getenv("KBUS_EMBEDDED") == "1", "run franz-go's kfake in-process instead of using a Kafka cluster (default $KBUS_EMBEDDED=1)")
	fs.BoolVar(&c.hold, "hold", false, "after the summary, keep the services running (for the dashboard) until Ctrl-C")
	fs.BoolVar(&c.keep, "keep", false, "keep the run's database schema, consumer groups and DLQ topics")
	fs.DurationVar(&c.pace, "pace", -1, "pause after each step's explanation (default 1s on a terminal, 0 otherwise)")
	fs.DurationVar(&c.timeout, "timeout", 170*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return c, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// run plays the demo and returns the exit code: 0 when every figure
// matched, 1 when one did not or something failed, 130 after Ctrl-C.
func run(args []string, stdout, stderr io.Writer) (int, error) {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return 2, err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var b [3]byte
	_, _ = rand.Read(b[:])
	u := newUI(stdout)
	switch {
	case cfg.pace >= 0:
		u.pace = cfg.pace
	case u.color: // a terminal: someone is watching
		u.pace = time.Second
	}
	d := newDemo(cfg, hex.EncodeToString(b[:]), u)
	rctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	ok, err := d.play(rctx)
	cancel()
	held := err == nil && ok && cfg.hold
	if held {
		d.hold(ctx) // until Ctrl-C, which is then the expected end
	}
	d.cleanup()
	switch {
	case held:
		return 0, nil
	case ctx.Err() != nil:
		return 130, errors.New("interrupted")
	case err != nil:
		return 1, err
	case !ok:
		return 1, errors.New("some figures did not match (see the summary)")
	}
	return 0, nil
}
