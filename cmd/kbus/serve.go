package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/kbus-dev/kbus/apikey"
	"github.com/kbus-dev/kbus/consumer"
	"github.com/kbus-dev/kbus/webhook"
)

func newServeCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run kbus servers",
	}
	cmd.AddCommand(newServeWebhooksCmd(a), newServeSSECmd(a))
	return cmd
}

func newServeWebhooksCmd(a *app) *cobra.Command {
	var (
		addr, group, tenantField string
		eventTypes, allowHTTP    []string
		schedule                 []time.Duration
		timeout                  time.Duration
		allowLoopback            bool
		workers                  int
		secretKeyFile            string
		limits                   = apiLimits
	)
	cmd := &cobra.Command{
		Use:   "webhooks --event-types T,...",
		Short: "Serve the webhook registration API, fan events out to endpoints and deliver them",
		Long: `Run the three parts of kbus's webhooks in one process until interrupted:

  - the registration API (POST /webhooks, …) on --addr, authenticated with tenant API keys
    (kbus keys create), with Prometheus metrics on /metrics;
  - the fan-out: a consumer group (--group) over the event topics that turns each event into one
    delivery per subscribed endpoint of its tenant, exactly once;
  - a dispatcher that signs and POSTs due deliveries, retries them on the schedule and
    dead-letters what fails for good to dlq.<group>.

Several processes may run against one database and one Kafka cluster: the group shares the
partitions and the dispatchers share the deliveries.

Endpoints' signing secrets are stored encrypted (AES-256-GCM) when a key is given: 32 random
bytes in base64 (openssl rand -base64 32), in the file named by --secret-key-file or in the
environment variable KBUS_WEBHOOK_SECRET_KEY. Every process serving one database needs the
same key. Without one, secrets are stored in clear.`,
		Example: `  kbus serve webhooks --event-types payment.completed,payment.failed,refund.created --addr :8080`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(eventTypes) == 0 {
				return errors.New("--event-types is required: the topics whose events endpoints may subscribe to")
			}
			ctx := cmd.Context()
			log := slog.New(slog.NewJSONHandler(a.errOut, nil))
			pool, err := a.openDBWait(ctx, log, 0)
			if err != nil {
				return err
			}
			defer pool.Close()
			cl, err := a.connectWait(ctx, log, kgo.RequiredAcks(kgo.AllISRAcks()))
			if err != nil {
				return err
			}
			defer cl.Close()

			secretKey, err := webhookSecretKey(secretKeyFile)
			if err != nil {
				return err
			}
			if secretKey == nil {
				log.Warn("kbus: no webhook secret key (--secret-key-file, KBUS_WEBHOOK_SECRET_KEY): signing secrets are stored in clear")
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			keys := apikey.NewStore(pool, apikey.Logger(log))
			fan, err := consumer.New(consumer.Config{Brokers: strings.Split(a.brokers, ","), Group: group, Topics: eventTypes,
				DB: pool, SkipMigrations: true, Logger: log, Registerer: reg})
			if err != nil {
				return err
			}
			webhook.FanOut{TenantField: tenantField}.Register(fan, eventTypes...)
			var allow []netip.Prefix
			if allowLoopback {
				allow = webhook.AllowLoopback()
			}
			api, err := webhook.NewAPI(webhook.APIConfig{DB: pool, Keys: keys, EventTypes: eventTypes, AllowHTTPHosts: allowHTTP,
				AllowNetworks: allow, SecretKey: secretKey, Logger: log})
			if err != nil {
				return err
			}
			d, err := webhook.NewDispatcher(webhook.DispatcherConfig{DB: pool, Kafka: cl, Group: group, Schedule: schedule,
				Timeout: timeout, Workers: workers, AllowNetworks: allow, SecretKey: secretKey, Logger: log, Registerer: reg})
			if err != nil {
				return err
			}

			mux := http.NewServeMux()
			mux.Handle("/webhooks", api)
			mux.Handle("/webhooks/", api)
			mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
			mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "serving the webhook API on http://%s (group %s, topics %s)\n", ln.Addr(), group, strings.Join(eventTypes, ","))
			g, gctx := errgroup.WithContext(ctx)
			g.Go(func() error { return fan.Run(gctx) })
			g.Go(func() error { return d.Run(gctx) })
			g.Go(func() error { return serve(gctx, ln, newHTTPServer(mux, limits), nil) })
			return g.Wait()
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&addr, "addr", "127.0.0.1:8080", "listen address of the API")
	fs.StringSliceVar(&eventTypes, "event-types", nil, "event types (topics) endpoints may subscribe to (required)")
	fs.StringVar(&group, "group", webhook.DefaultGroup, "the fan-out's consumer group; its dead letters go to dlq.<group>")
	fs.StringVar(&tenantField, "tenant-field", webhook.DefaultTenantField, "the event data field naming the tenant")
	fs.StringSliceVar(&allowHTTP, "allow-http-hosts", nil, "hosts whose endpoint URLs may use plain http (local receivers)")
	fs.BoolVar(&allowLoopback, "allow-loopback", false, "let endpoints on loopback addresses be registered and delivered to (tests and local demos only)")
	fs.DurationSliceVar(&schedule, "schedule", webhook.DefaultSchedule, "waits before each retry")
	fs.DurationVar(&timeout, "timeout", 10*time.Second, "timeout of each delivery POST (1s to 30s)")
	fs.IntVar(&workers, "workers", 16, "deliveries POSTed at once")
	fs.DurationVar(&limits.readHeader, "read-header-timeout", limits.readHeader, "time a client has to send its request headers")
	fs.DurationVar(&limits.read, "read-timeout", limits.read, "time a client has to send a whole request, body included")
	fs.DurationVar(&limits.idle, "idle-timeout", limits.idle, "time a kept-alive connection may wait for its next request")
	fs.IntVar(&limits.maxHeader, "max-header-bytes", limits.maxHeader, "largest request line and headers accepted (larger: 431)")
	fs.StringVar(&secretKeyFile, "secret-key-file", "", "file holding the base64 key that encrypts signing secrets at rest (default: $KBUS_WEBHOOK_SECRET_KEY)")
	return cmd
}

// webhookSecretKey reads the key encrypting webhook secrets from file, or
// from KBUS_WEBHOOK_SECRET_KEY; nil when neither is set.
func webhookSecretKey(file string) ([]byte, error) {
	src, text := "KBUS_WEBHOOK_SECRET_KEY", os.Getenv("KBUS_WEBHOOK_SECRET_KEY")
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--secret-key-file: %w", err)
		}
		src, text = "--secret-key-file "+file, string(b)
	}
	if text == "" {
		return nil, nil
	}
	key, err := webhook.ParseSecretKey(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return key, nil
}

// httpLimits bound what one client of kbus's HTTP servers may hold: a
// connection that sends its request headers too slowly, trickles its body,
// or sits idle between requests is closed, and oversized headers are
// answered 431. A zero duration means no limit.
type httpLimits struct {
	readHeader time.Duration // ReadHeaderTimeout: the request line and headers
	read       time.Duration // ReadTimeout: the whole request, body included
	idle       time.Duration // IdleTimeout: a keep-alive connection between requests
	maxHeader  int           // MaxHeaderBytes
}

var (
	// apiLimits are the webhook API's: its requests are small (bodies of at
	// most 64 KiB) and its answers short.
	apiLimits = httpLimits{readHeader: 10 * time.Second, read: 30 * time.Second, idle: 2 * time.Minute, maxHeader: 64 << 10}
	// streamLimits are the SSE server's: no ReadTimeout, which would end
	// every stream's request context once it ran out.
	streamLimits = httpLimits{readHeader: 10 * time.Second, idle: 2 * time.Minute, maxHeader: 64 << 10}
)

// newHTTPServer returns the http.Server for h with the limits l.
func newHTTPServer(h http.Handler, l httpLimits) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: l.readHeader, ReadTimeout: l.read, IdleTimeout: l.idle,
		MaxHeaderBytes: l.maxHeader}
}
