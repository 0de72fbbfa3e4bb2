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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/kbus-dev/kbus/apikey"
	"github.com/kbus-dev/kbus/sse"
)

func newServeSSECmd(a *app) *cobra.Command {
	var (
		addr, tenantField   string
		eventTypes          []string
		maxConns, maxPerKey int
		ringSize            int
		static              string
		allowOrigins        []string
		keyCheck            time.Duration
		limits              = streamLimits
	)
	cmd := &cobra.Command{
		Use:   "sse --event-types T,...",
		Short: "Serve GET /events/stream: kbus events as Server-Sent Events, per tenant, resumable",
		Long: `Serve the event stream on --addr until interrupted: GET /events/stream?types=… with a tenant API key
(Authorization: Bearer, or ?access_token= for EventSource), Last-Event-ID resume from Kafka, and
Prometheus metrics on /metrics. With --static DIR, files in DIR are served at / (a dashboard page).

An open stream checks its key every --key-check-interval and ends once the key is revoked. A client
must send its request headers within --read-header-timeout and in at most --max-header-bytes (431
beyond); a kept-alive connection is closed after --idle-timeout without a request. /metrics and
/healthz need no key: expose them to your monitoring only.`,
		Example: `  kbus serve sse --event-types payment.completed,payment.failed,refund.created --addr :8081`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(eventTypes) == 0 {
				return errors.New("--event-types is required: the topics clients may subscribe to")
			}
			ctx := cmd.Context()
			log := slog.New(slog.NewJSONHandler(a.errOut, nil))
			pool, err := a.openDBWait(ctx, log, 0)
			if err != nil {
				return err
			}
			defer pool.Close()
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			srv, err := sse.NewServer(sse.Config{Brokers: strings.Split(a.brokers, ","), Topics: eventTypes,
				Keys: apikey.NewStore(pool, apikey.Logger(log)), TenantField: tenantField, MaxConns: maxConns,
				MaxConnsPerKey: maxPerKey, RingSize: ringSize, AllowOrigins: allowOrigins, KeyCheckInterval: keyCheck,
				Logger: log, Registerer: reg})
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
			g, gctx := errgroup.WithContext(ctx)
			g.Go(func() error { return srv.Run(gctx) })
			g.Go(func() error {
				// Listen only once the stream is ready: a reconnecting browser
				// must not meet a 503, after which EventSource gives up.
				select {
				case <-srv.Ready():
				case <-gctx.Done():
					return nil
				}
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.out, "serving events on http://%s/events/stream (topics %s)\n", ln.Addr(), strings.Join(eventTypes, ","))
				// End the streams first, so that the HTTP shutdown does not wait for them.
				hs := newHTTPServer(mux, limits)
				hs.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
				return serve(gctx, ln, hs, func(ctx context.Context) { _ = srv.Shutdown(ctx) })
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
	fs.StringSliceVar(&allowOrigins, "allow-origins", nil, "origins of pages elsewhere allowed to open streams (CORS), e.g. http://127.0.0.1:8090")
	fs.DurationVar(&keyCheck, "key-check-interval", time.Minute, "how often an open stream checks that its API key is not revoked")
	fs.DurationVar(&limits.readHeader, "read-header-timeout", limits.readHeader, "time a client has to send its request headers")
	fs.DurationVar(&limits.idle, "idle-timeout", limits.idle, "time a kept-alive connection may wait for its next request")
	fs.IntVar(&limits.maxHeader, "max-header-bytes", limits.maxHeader, "largest request line and headers accepted (larger: 431)")
	return cmd
}
