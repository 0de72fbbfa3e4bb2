// Command order-service is the shop's order service in kbus's demo story: a
// consumer group (order-service, Transactional mode) that marks orders paid,
// failed or refunded in its own orders table, inside the same PostgreSQL
// transaction as the event's dedup row, so a redelivered or duplicated event
// changes nothing twice. A payment for an order that does not exist is a
// permanent error: the event goes to dlq.order-service, to be replayed with
// `kbus dlq replay` once the order is fixed.
//
//	KAFKA_BROKERS=127.0.0.1:9092 DATABASE_URL=postgres://... go run ./examples/order-service
//
// It also serves a small HTTP API for the shop (POST /api/orders,
// GET /api/orders/{id}) and the consumer's counters (GET /stats). See
// README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/kbus-dev/kbus/consumer"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "order-service:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("order-service", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8083", "address of the HTTP API")
	brokers := fs.String("brokers", envOr("KAFKA_BROKERS", "127.0.0.1:9092"), "Kafka seed brokers, comma separated (default $KAFKA_BROKERS)")
	dbURL := fs.String("database-url", envOr("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kbus?sslmode=disable"),
		"PostgreSQL URL (default $DATABASE_URL)")
	group := fs.String("group", "order-service", "the consumer group; its dead letters go to dlq.<group>")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	pool, err := pgxpool.New(ctx, *dbURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = createSchema(sctx, pool)
	cancel()
	if err != nil {
		return err
	}

	c, err := consumer.New(consumer.Config{
		Brokers: strings.Split(*brokers, ","),
		Group:   *group,
		Topics:  Topics,
		DB:      pool, // Transactional, the default: kbus applies its migrations in Run
		Retry:   consumer.RetryPolicy{Attempts: 3, BaseDelay: 100 * time.Millisecond},
		Logger:  log,
	})
	if err != nil {
		return err
	}
	register(c)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: newAPI(pool, c, *group).Handler(), ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(stdout, "order-service: group %s on %s, API on http://%s\n", *group, strings.Join(Topics, ","), ln.Addr())
	log.Info("order-service: starting", "group", *group, "addr", ln.Addr().String())

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return c.Run(gctx) })
	g.Go(func() error {
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ln) }()
		select {
		case err := <-errc:
			return err
		case <-gctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
		return err
	})
	return g.Wait()
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
