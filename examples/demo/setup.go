package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kbus-dev/kbus/producer"
	"github.com/kbus-dev/kbus/schemas"
)

// demo is one run of the scenario. Its fields are filled in by setup and
// the steps, in order; it is used by one goroutine.
type demo struct {
	cfg config
	run string // the run id, in every name the run creates
	ui  *ui
	hc  *client

	// What the run uses and creates.
	cluster      *kfake.Cluster
	brokers      []string
	prod         *producer.Producer
	sup          *supervisor
	logDir       string
	schema       string // the run's PostgreSQL schema
	dbURL        string // DATABASE_URL with search_path set to schema
	tenant       string // the merchant, the tenant of the API key
	orderGroup   string // the story's order-service group, with the run id
	webhookGroup string
	start        kadm.Offsets // the topics' end offsets before the run
	bins         map[string]string
	urls         struct{ payments, orders, webhooks, sse, merchant string }
	key          string // the tenant's API key
	endpointID   string
	secret       string
	kafkaCreated bool // groups or topics to delete at cleanup
	corrN        int
	traceparent  string // sent with the first payment's requests, then ""
	traceID      string // the trace the demo follows, from that traceparent
	traceMessage string // the message id of the event published in it

	// What the steps observed, for the summary.
	events     []paymentEvent // published through the payments API
	resent     int            // events re-published with their message id
	replayed   int            // as `kbus dlq replay` reported
	sseLive    int
	sseResumed int
	sseExtra   []string // events the SSE client should not have received
}

func newDemo(cfg config, run string, u *ui) *demo {
	return &demo{
		cfg:          cfg,
		run:          run,
		ui:           u,
		hc:           &client{hc: &http.Client{Timeout: 20 * time.Second}},
		schema:       "kbus_demo_" + run,
		tenant:       "merch_demo_" + run,
		orderGroup:   "order-service.demo-" + run,
		webhookGroup: "webhooks.demo-" + run,
	}
}

// binaries the demo runs, built from this module.
var binaries = map[string]string{
	"kbus":          "./cmd/kbus",
	"payments":      "./examples/payments",
	"order-service": "./examples/order-service",
	"merchant":      "./examples/merchant",
}

// setup gets Kafka, PostgreSQL, the binaries and the five services ready.
func (d *demo) setup(ctx context.Context) error {
	d.ui.heading("Setting the stage",
		"Real services, started as processes: a payment API, an order service, a merchant's webhook",
		"receiver, kbus's webhook and SSE servers. This run gets its own database schema, consumer",
		"groups and merchant, so it can run again, and beside the tests, without either noticing.")

	// Kafka.
	if d.cfg.embedded {
		c, err := startEmbedded()
		if err != nil {
			return err
		}
		d.cluster = c
		d.brokers = c.ListenAddrs()
		d.ui.ok("Kafka: %s, franz-go's in-process cluster (KBUS_EMBEDDED=1), at %s", d.ui.bold("kfake"), strings.Join(d.brokers, ","))
	} else {
		d.brokers = splitList(d.cfg.brokers)
	}
	reg, err := schemas.Default()
	if err != nil {
		return err
	}
	p, err := producer.New(producer.Brokers(d.brokers...), producer.Name("payment-service"), producer.Schemas(reg))
	if err != nil {
		return err
	}
	d.prod = p
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err = p.Ping(pctx)
	if err == nil {
		specs := make([]producer.TopicSpec, len(eventTypes))
		for i, t := range eventTypes {
			specs[i] = producer.TopicSpec{Name: t, Partitions: 3, ReplicationFactor: 1}
		}
		err = p.EnsureTopics(pctx, specs...)
	}
	cancel()
	if err != nil {
		return fmt.Errorf("kafka at %s: %w (is it running? `make services`)", strings.Join(d.brokers, ","), err)
	}
	if !d.cfg.embedded {
		d.ui.ok("Kafka at %s", strings.Join(d.brokers, ","))
	}
	d.ui.ok("topics %s (one per event type)", strings.Join(eventTypes, ", "))

	// The binaries.
	if err := d.binaries(ctx); err != nil {
		return err
	}

	// PostgreSQL: a schema for this run.
	if err := d.createSchema(ctx); err != nil {
		return err
	}
	d.logDir = filepath.Join(d.cfg.logDir, "run-"+d.run)
	if err := os.MkdirAll(d.logDir, 0o755); err != nil {
		return err
	}
	pruneLogs(d.cfg.logDir, 5)
	env := append(os.Environ(), "KAFKA_BROKERS="+strings.Join(d.brokers, ","), "DATABASE_URL="+d.dbURL)
	d.sup = newSupervisor(d.logDir, env)
	d.ui.command("kbus migrate")
	if _, err := d.sup.runCLI(ctx, d.bins["kbus"], "migrate"); err != nil {
		return err
	}
	d.ui.ok("PostgreSQL schema %s, with kbus's migrations applied", d.ui.bold(d.schema))

	// The run's consumer groups start at the current end of the topics,
	// not at their history.
	actx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	adm, cl, err := admin(d.brokers)
	if err != nil {
		return err
	}
	defer cl.Close()
	if d.start, err = startOffsets(actx, adm, eventTypes...); err != nil {
		return err
	}
	d.kafkaCreated = true
	for _, g := range []string{d.orderGroup, d.webhookGroup} {
		if err := startGroupAt(actx, adm, g, d.start); err != nil {
			return err
		}
	}
	d.ui.ok("consumer groups %s and %s start at this run's first event", d.ui.bold(d.orderGroup), d.ui.bold(d.webhookGroup))
	d.ui.info("%s", d.ui.dim("(the story's order-service, suffixed with the run id: its DLQ is dlq."+d.orderGroup+")"))

	return d.startServices(ctx)
}

// binaries finds the binaries in cfg.binDir, building them when one is
// missing (make demo builds them first).
func (d *demo) binaries(ctx context.Context) error {
	d.bins = map[string]string{}
	missing := false
	for name := range binaries {
		path, err := filepath.Abs(filepath.Join(d.cfg.binDir, name))
		if err != nil {
			return err
		}
		d.bins[name] = path
		if _, err := os.Stat(path); err != nil {
			missing = true
		}
	}
	if !missing {
		d.ui.ok("binaries in %s", d.cfg.binDir)
		return nil
	}
	args := []string{"build", "-o", d.cfg.binDir + string(filepath.Separator)}
	for _, pkg := range binaries {
		args = append(args, pkg)
	}
	d.ui.command("go " + strings.Join(args, " "))
	bctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(bctx, "go", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("build the binaries (run from the repository root): %w\n%s", err, out)
	}
	d.ui.ok("binaries built in %s", d.cfg.binDir)
	return nil
}

func (d *demo) createSchema(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, d.cfg.databaseURL)
	if err != nil {
		return fmt.Errorf("PostgreSQL: %w (is it running? `make services`)", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(cctx, "CREATE SCHEMA "+pgx.Identifier{d.schema}.Sanitize()); err != nil {
		return fmt.Errorf("create schema %s: %w", d.schema, err)
	}
	sep := "?"
	if strings.Contains(d.cfg.databaseURL, "?") {
		sep = "&"
	}
	d.dbURL = d.cfg.databaseURL + sep + "search_path=" + d.schema
	return nil
}

// startServices starts the five services on free loopback ports and waits
// until each answers.
func (d *demo) startServices(ctx context.Context) error {
	addr := map[string]string{}
	for _, n := range []string{"merchant", "payments", "order-service", "webhooks", "sse"} {
		a, err := freePort()
		if err != nil {
			return err
		}
		addr[n] = a
	}
	d.urls.merchant = "http://" + addr["merchant"]
	d.urls.payments = "http://" + addr["payments"]
	d.urls.orders = "http://" + addr["order-service"]
	d.urls.webhooks = "http://" + addr["webhooks"]
	d.urls.sse = "http://" + addr["sse"]
	d.secret = "whsec_demo" + d.run + strings.Repeat("0", 24)

	types := strings.Join(eventTypes, ",")
	sseArgs := []string{"serve", "sse", "--event-types", types, "--addr", addr["sse"]}
	if st, err := os.Stat(d.cfg.staticDir); err == nil && st.IsDir() {
		sseArgs = append(sseArgs, "--static", d.cfg.staticDir)
	}
	services := []struct {
		name, bin, what string
		args            []string
	}{
		{"merchant", "merchant", "the merchant's webhook receiver; fails its first delivery on purpose",
			[]string{"-addr", addr["merchant"], "-secret", d.secret, "-fail-first", "1"}},
		{"payments", "payments", "the payment API: publishes an event per payment change",
			[]string{"-addr", addr["payments"]}},
		{"order-service", "order-service", "consumer group " + d.orderGroup + ", Transactional",
			[]string{"-addr", addr["order-service"], "-group", d.orderGroup}},
		{"webhooks", "kbus", "kbus serve webhooks: API, fan-out, dispatcher (retries every 2s)",
			[]string{"serve", "webhooks", "--event-types", types, "--addr", addr["webhooks"], "--group", d.webhookGroup,
				"--allow-http-hosts", "127.0.0.1", "--allow-loopback", "--schedule", "2s,2s,2s,2s,2s,2s", "--timeout", "5s"}},
		{"sse", "kbus", "kbus serve sse: the live stream and the dashboard page", sseArgs},
	}
	var rows [][]string
	for _, s := range services {
		if _, err := d.sup.start(s.name, d.bins[s.bin], s.args...); err != nil {
			return err
		}
		rows = append(rows, []string{s.name, "http://" + addr[s.name], s.what})
	}
	health := map[string]string{"merchant": d.urls.merchant + "/healthz", "payments": d.urls.payments + "/healthz",
		"order-service": d.urls.orders + "/healthz", "webhooks": d.urls.webhooks + "/healthz", "sse": d.urls.sse + "/healthz"}
	err := d.wait(ctx, 60*time.Second, "all five services to answer /healthz", func(ctx context.Context) (bool, string, error) {
		var down []string
		for _, s := range services {
			if !d.hc.healthy(ctx, health[s.name]) {
				down = append(down, s.name)
			}
		}
		return len(down) == 0, "not answering yet: " + strings.Join(down, ", "), nil
	})
	if err != nil {
		return err
	}
	d.ui.ok("five services up (logs in %s):", d.logDir)
	d.ui.table([]string{"SERVICE", "URL", "ROLE"}, rows)

	// The merchant's API key, and its webhook endpoint.
	d.ui.command("kbus keys create --tenant " + d.tenant + " -o json")
	out, err := d.sup.runCLI(ctx, d.bins["kbus"], "keys", "create", "--tenant", d.tenant, "--name", "demo", "-o", "json")
	if err != nil {
		return err
	}
	var key struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal([]byte(out), &key); err != nil || key.Key == "" {
		return fmt.Errorf("kbus keys create printed %q: %v", out, err)
	}
	d.key = key.Key
	d.ui.ok("API key for tenant %s: %s", d.ui.bold(d.tenant), key.Key[:min(len(key.Key), 18)]+"…")

	var ep struct {
		ID     string   `json:"id"`
		URL    string   `json:"url"`
		Events []string `json:"events"`
	}
	_, err = d.hc.call(ctx, http.MethodPost, d.urls.webhooks+"/webhooks", map[string]any{
		"url": d.urls.merchant + "/webhooks", "events": eventTypes, "secret": d.secret, "description": "demo merchant",
	}, d.auth(), &ep)
	if err != nil {
		return fmt.Errorf("register the webhook endpoint: %w", err)
	}
	d.endpointID = ep.ID
	d.ui.arrow("POST %s/webhooks  {\"url\":%q, \"events\":[%s]}", d.urls.webhooks, ep.URL, strings.Join(ep.Events, ","))
	d.ui.ok("webhook endpoint %s registered for the merchant", d.ui.bold(ep.ID))
	return nil
}

func (d *demo) auth() map[string]string { return map[string]string{"Authorization": "Bearer " + d.key} }

// wait is waitFor that also gives up as soon as a service has exited.
func (d *demo) wait(ctx context.Context, timeout time.Duration, what string, check func(context.Context) (bool, string, error)) error {
	return waitFor(ctx, timeout, what, func(ctx context.Context) (bool, string, error) {
		if d.sup != nil {
			if err := d.sup.exited(); err != nil {
				return false, "", errors.Join(errStop, err)
			}
		}
		return check(ctx)
	})
}

// errStop makes waitFor give up at once.
var errStop = errors.New("stopped waiting")

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// pruneLogs removes the log directories of all but the newest keep runs.
func pruneLogs(dir string, keep int) {
	runs, err := filepath.Glob(filepath.Join(dir, "run-*"))
	if err != nil {
		return
	}
	type run struct {
		path string
		mod  time.Time
	}
	var rs []run
	for _, p := range runs {
		if st, err := os.Stat(p); err == nil {
			rs = append(rs, run{p, st.ModTime()})
		}
	}
	slices.SortFunc(rs, func(a, b run) int { return b.mod.Compare(a.mod) })
	for _, r := range rs[min(keep, len(rs)):] {
		_ = os.RemoveAll(r.path)
	}
}
