// Command payments is the payment API of kbus's demo story: merchants used to
// poll GET /api/payments/{id} every two seconds; now every change of a
// payment is published as an event (payment.completed, payment.failed,
// refund.created), keyed by the payment id and carrying the correlation id
// of the HTTP request that caused it.
//
//	KAFKA_BROKERS=127.0.0.1:9092 go run ./examples/payments -addr 127.0.0.1:8082
//
// Payments are kept in memory: this is an example of publishing, not of
// storing payments. See README.md.
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

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/kbus-dev/kbus/producer"
	"github.com/kbus-dev/kbus/schemas"
)

func main() {
	// The trace context of incoming requests travels with the events (see
	// traceMiddleware). An application would also install an SDK here.
	otel.SetTextMapPropagator(propagation.TraceContext{})
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "payments:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("payments", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8082", "address to listen on")
	brokers := fs.String("brokers", envOr("KAFKA_BROKERS", "127.0.0.1:9092"), "Kafka seed brokers, comma separated (default $KAFKA_BROKERS)")
	name := fs.String("name", "payment-service", "the producer name written into every envelope")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	// Every event is checked against the shipped Avro catalog before it is
	// sent: a payload that does not conform is refused, naming the field.
	reg, err := schemas.Default()
	if err != nil {
		return fmt.Errorf("load the schema catalog: %w", err)
	}
	p, err := producer.New(producer.Brokers(strings.Split(*brokers, ",")...), producer.Name(*name),
		producer.Schemas(reg), producer.Logger(log))
	if err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	defer p.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = p.Ping(pctx)
	cancel()
	if err != nil {
		return fmt.Errorf("kafka at %s: %w", *brokers, err)
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           newServer(p, log).Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "payments: serving http://%s/api/payments\n", ln.Addr())
	log.Info("payments: listening", "addr", ln.Addr().String(), "brokers", *brokers)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
