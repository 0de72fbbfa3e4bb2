// Command kbus is the operator's tool for a kbus event bus: dead-letter
// queues (list, show, replay), topics, consumer lag, one-off publishing, the
// schema catalog's compatibility check, database migrations, tenants' API
// keys, the transactional outbox's status, pruning of old dedup rows, and
// the webhook and SSE servers.
//
//	kbus dlq list --group order-service
//	kbus dlq replay --group order-service --all
//	kbus topics list
//	kbus lag --group order-service
//	kbus publish --topic payment.completed --key pay_1 --data @payment.json
//	kbus schemas check --mode full
//	kbus migrate
//	kbus keys create --tenant merch_abc
//	kbus outbox status --max-age 1m
//	kbus prune --group order-service --older-than 720h
//	kbus serve webhooks --event-types payment.completed,refund.created
//	kbus serve sse --event-types payment.completed,refund.created
//
// Every command takes --brokers (or KAFKA_BROKERS), --database-url (or
// DATABASE_URL) where it needs the database, and --output table|json; it
// exits 0 on success, and non-zero with a one-line reason on failure.
// `kbus <command> --help` documents each command's flags.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

func main() {
	// A program, unlike kbus's packages, may set globals: the W3C trace
	// context (and baggage) that events carry passes through the servers'
	// consumers and dispatcher to webhook receivers. No SDK is installed, so
	// kbus itself records no spans.
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd(os.Stdout, os.Stderr).ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "kbus:", oneLine(err))
		os.Exit(1)
	}
}

// oneLine keeps an error message to one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// app holds the global flags and the output streams every command uses.
type app struct {
	brokers string
	output  string
	dbURL   string
	out     io.Writer
	errOut  io.Writer
}

// client returns a franz-go client for the brokers; extra options are
// appended. The caller closes it.
func (a *app) client(opts ...kgo.Opt) (*kgo.Client, error) {
	var seeds []string
	for _, b := range strings.Split(a.brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			seeds = append(seeds, b)
		}
	}
	if len(seeds) == 0 {
		return nil, errors.New("no brokers: set --brokers or KAFKA_BROKERS")
	}
	return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...)}, opts...)...)
}

// json reports whether --output json was asked for.
func (a *app) json() bool { return a.output == "json" }

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	a := &app{out: stdout, errOut: stderr}
	root := &cobra.Command{
		Use:           "kbus",
		Short:         "Operate a kbus event bus: DLQs, replays, topics, lag",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if a.output != "table" && a.output != "json" {
				return fmt.Errorf("--output must be table or json, not %q", a.output)
			}
			return nil
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&a.brokers, "brokers", envOr("KAFKA_BROKERS", "127.0.0.1:9092"), "Kafka seed brokers, comma separated (env KAFKA_BROKERS)")
	pf.StringVarP(&a.output, "output", "o", "table", "output format: table or json")
	pf.StringVar(&a.dbURL, "database-url", envOr("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kbus?sslmode=disable"),
		"PostgreSQL URL, for commands that need the database (env DATABASE_URL)")
	root.AddCommand(newDLQCmd(a), newServeCmd(a), newTopicsCmd(a), newLagCmd(a), newPublishCmd(a), newMigrateCmd(a), newKeysCmd(a), newSchemasCmd(a), newOutboxCmd(a), newPruneCmd(a))
	return root
}
