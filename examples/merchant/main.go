// Command merchant is a webhook receiver of the kind a merchant runs: it
// verifies each delivery's signature with webhook.Verifier, processes each
// event once however often it is delivered, and answers 200.
//
//	go run ./examples/merchant -addr 127.0.0.1:8089 -secret whsec_...
//
// The secret may come from MERCHANT_WEBHOOK_SECRET instead; several secrets
// separated by commas are all accepted, for a rotation. -fail-first N
// answers 500 to the first N verified deliveries, to show the sender's
// retries. See README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kbus-dev/kbus/webhook"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "merchant:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("merchant", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8089", "address to listen on")
	secret := fs.String("secret", os.Getenv("MERCHANT_WEBHOOK_SECRET"),
		"webhook signing secret (whsec_...); several separated by commas during a rotation (default $MERCHANT_WEBHOOK_SECRET)")
	failFirst := fs.Int("fail-first", 0, "answer 500 to the first `N` verified deliveries, to demonstrate retries")
	tolerance := fs.Duration("tolerance", webhook.DefaultTolerance, "accepted clock difference between sender and receiver")
	if err := fs.Parse(args); err != nil {
		return err
	}
	secrets := splitSecrets(*secret)
	if len(secrets) == 0 {
		return errors.New("no secret: pass -secret or set MERCHANT_WEBHOOK_SECRET")
	}
	if *failFirst < 0 {
		return errors.New("-fail-first must not be negative")
	}

	log := slog.New(slog.NewTextHandler(stderr, nil))
	m := newMerchant(log, *failFirst)
	v := &webhook.Verifier{Secrets: secrets, Tolerance: *tolerance}

	srv := &http.Server{
		Addr:              *addr,
		Handler:           newHandler(v, m),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("merchant: listening", "url", "http://"+*addr+"/webhooks", "secrets", len(secrets), "fail_first", *failFirst)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("merchant: shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return err
	}
	<-errc // http.ErrServerClosed
	return nil
}

// newHandler routes POST /webhooks through the verifier to m, and answers
// GET /healthz.
func newHandler(v *webhook.Verifier, m *merchant) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks", logRejections(m.log, v.Middleware(m)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /processed", m.report)
	return mux
}

// logRejections logs the requests the verifier turns away (the middleware
// answers them without calling the merchant).
func logRejections(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		if sw.status == http.StatusUnauthorized || sw.status == http.StatusRequestEntityTooLarge {
			log.Warn("merchant: delivery rejected", "status", sw.status,
				"webhook_id", r.Header.Get(webhook.HeaderID), "remote", r.RemoteAddr)
		}
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func splitSecrets(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// maxSeen bounds the seen-set: past it, the oldest ids are forgotten, and a
// delivery of a forgotten id would be processed again.
const maxSeen = 10_000

// merchant handles verified deliveries (it sits behind the Verifier's
// middleware). It is safe for concurrent use.
//
// The seen-set lives in memory, so it is lost on restart and bounded in
// size: good enough for a demo. A production receiver records each id in a
// table with a unique key on it, in the same transaction as the event's
// effects (INSERT ... ON CONFLICT DO NOTHING, then do the work only if a
// row was inserted), which is what kbus's own consumers do with
// processed_events.
type merchant struct {
	log *slog.Logger

	mu        sync.Mutex
	failLeft  int                 // deliveries still to answer with 500
	seen      map[string]struct{} // ids claimed or processed
	order     []string            // ids in seen, oldest first, for eviction
	processed int                 // events processed, for tests
	failed    int                 // deliveries answered 500 on purpose
	events    []processedEvent    // the last maxReported events processed, oldest first
}

// maxReported bounds the events GET /processed lists.
const maxReported = 1000

// processedEvent is one event as GET /processed lists it.
type processedEvent struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	// TraceParent is the delivery's W3C traceparent header: kbus's
	// dispatcher sends the trace context of the event's publisher.
	TraceParent string `json:"traceparent,omitempty"`
}

// report answers GET /processed: what this receiver did since it started,
// for a person or a script (the demo) to check. It is local state, not part
// of the webhook protocol.
func (m *merchant) report(w http.ResponseWriter, _ *http.Request) {
	m.mu.Lock()
	out := struct {
		Processed       int              `json:"processed"`
		FailedOnPurpose int              `json:"failed_on_purpose"`
		Events          []processedEvent `json:"events"`
	}{m.processed, m.failed, append([]processedEvent{}, m.events...)}
	m.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func newMerchant(log *slog.Logger, failFirst int) *merchant {
	return &merchant{log: log, failLeft: failFirst, seen: make(map[string]struct{})}
}

// event is the part of the webhook payload this receiver looks at.
type event struct {
	ID   string          `json:"id"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

func (m *merchant) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get(webhook.HeaderID)
	if id == "" {
		id = r.Header.Get(webhook.StdHeaderID)
	}
	log := m.log.With("webhook_id", id)
	if id == "" {
		log.Warn("merchant: delivery without an id")
		http.Error(w, "missing "+webhook.HeaderID, http.StatusBadRequest)
		return
	}

	if m.failing() {
		log.Warn("merchant: failing this delivery on purpose (-fail-first)")
		http.Error(w, "failing on purpose", http.StatusInternalServerError)
		return
	}

	if !m.claim(id) {
		log.Info("merchant: duplicate delivery, already processed")
		w.WriteHeader(http.StatusOK)
		return
	}

	var e event
	if err := json.NewDecoder(r.Body).Decode(&e); err != nil {
		m.release(id)
		log.Warn("merchant: payload is not JSON", "error", err)
		http.Error(w, "payload is not JSON", http.StatusBadRequest)
		return
	}
	// The real work goes here: mark the order paid, send a receipt...
	m.mu.Lock()
	m.processed++
	if len(m.events) == maxReported {
		m.events = m.events[1:]
	}
	m.events = append(m.events, processedEvent{ID: id, Type: e.Type, TraceParent: r.Header.Get("traceparent")})
	m.mu.Unlock()
	log.Info("merchant: processed event", "type", e.Type, "payload_id", e.ID, "data", string(e.Data))
	w.WriteHeader(http.StatusOK)
}

// failing reports whether this delivery is one of the first -fail-first.
func (m *merchant) failing() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failLeft > 0 {
		m.failLeft--
		m.failed++
		return true
	}
	return false
}

// claim records id as seen and reports whether it was new. Claiming before
// processing, under the mutex, keeps two concurrent deliveries of one id
// from both processing it.
func (m *merchant) claim(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.seen[id]; ok {
		return false
	}
	if len(m.order) >= maxSeen {
		delete(m.seen, m.order[0])
		m.order = m.order[1:]
	}
	m.seen[id] = struct{}{}
	m.order = append(m.order, id)
	return true
}

// release forgets id after processing failed, so a retry processes it.
func (m *merchant) release(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.seen, id)
	for i, o := range m.order {
		if o == id {
			m.order = append(m.order[:i], m.order[i+1:]...)
			break
		}
	}
}

func (m *merchant) processedCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.processed
}
