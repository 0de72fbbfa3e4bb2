package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/kbus-dev/kbus/apikey"
	"github.com/kbus-dev/kbus/internal/migrations"
	"github.com/kbus-dev/kbus/sse"
)

func newServeSSECmd(a *app) *cobra.Command {
	var (
		addr, tenantField   string
		eventTypes          []string
		maxConns, maxPerKey int
		ringSize            int
		static              string
	)
	cmd := &cobra.Command{
		Use:   "sse --event-types T,...",
		Short: "Serve GET /events/stream: kbus events as Server-Sent Events, per tenant, resumable",
		Long: `Serve the event stream on --addr until interrupted: GET /events/stream?types=… with a tenant API key
(Authorization: Bearer, or ?access_token= for EventSource), Last-Event-ID resume from Kafka, and
Prometheus metrics on /metrics. With --static DIR, files in DIR are served at / (a dashboard page).`,
		Example: `  kbus serve sse --event-types payment.completed,payment.failed,refund.created --addr :8081`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(eventTypes) == 0 {
				return errors.New("--event-types is required: the topics clients may subscribe to")
			}
			ctx := cmd.Context()
			log := slog.New(slog.NewJSONHandler(a.errOut, nil))
			pool, err := pgxpool.New(ctx, a.dbURL)
			if err != nil {
				return fmt.Errorf("--database-url: %w", err)
			}
			defer pool.Close()
			cctx, cancel := context.WithTimeout(ctx, dbConnectTimeout)
			conn, err := pool.Acquire(cctx)
			cancel()
			if err != nil {
				return fmt.Errorf("connect to PostgreSQL: %w", err)
			}
			err = migrations.Apply(ctx, conn.Conn(), "")
			conn.Release()
			if err != nil {
				return err
			}
			reg := prometheus.NewRegistry()
			srv, err := sse.NewServer(sse.Config{Brokers: strings.Split(a.brokers, ","), Topics: eventTypes,
				Keys: apikey.NewStore(pool, apikey.Logger(log)), TenantField: tenantField, MaxConns: maxConns,
				MaxConnsPerKey: maxPerKey, RingSize: ringSize, Logger: log, Registerer: reg})
			if err != nil {
				return err
			}
			mux := http.NewServeMux()
			mux.Handle("GET /events/stream", srv.Handler())
			mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
			mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
			if static != "" {
				mux.Handle("GET /", http.FileServer(http.Dir(static)))
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
			fmt.Fprintf(a.out, "serving events on http://%s/events/stream (topics %s)\n", ln.Addr(), strings.Join(eventTypes, ","))
			g, gctx := errgroup.WithContext(ctx)
			g.Go(func() error { return srv.Run(gctx) })
			g.Go(func() error {
				if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
					return err
				}
				return nil
			})
			g.Go(func() error {
				<-gctx.Done()
				sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), 15*time.Second)
				defer cancel()
				_ = srv.Shutdown(sctx) // end the streams first, so that Shutdown below does not wait for them
				return hs.Shutdown(sctx)
			})
			return g.Wait()
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&addr, "addr", "127.0.0.1:8081", "listen address")
	fs.StringSliceVar(&eventTypes, "event-types", nil, "event types (topics) clients may subscribe to (required)")
	fs.StringVar(&tenantField, "tenant-field", "merchant_id", "the event data field naming the tenant")
	fs.IntVar(&maxConns, "max-conns", 10000, "streams this server accepts")
	fs.IntVar(&maxPerKey, "max-conns-per-key", 100, "streams one API key may open")
	fs.IntVar(&ringSize, "ring-size", 1<<16, "recent events kept in memory; a client further behind is disconnected")
	fs.StringVar(&static, "static", "", "a directory of files to serve at /")
	return cmd
}
