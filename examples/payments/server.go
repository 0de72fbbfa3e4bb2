package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/producer"
)

// Event types the service publishes; each is also its topic.
const (
	TypeCompleted = "payment.completed"
	TypeFailed    = "payment.failed"
	TypeRefunded  = "refund.created"
)

// publisher is the part of *producer.Producer the server uses, so that tests
// can check what would be published without a broker.
type publisher interface {
	Publish(ctx context.Context, topic, key string, data []byte, opts ...producer.PublishOption) (producer.Receipt, error)
}

// Payment statuses.
const (
	StatusPending   = "pending"
	StatusCompleted = "completed"
	StatusFailed    = "failed"
	StatusRefunded  = "refunded"
)

// Payment is a payment as the API shows it. Amounts are in the currency's
// minor units (cents), as in the event schemas.
type Payment struct {
	ID            string    `json:"id"`
	MerchantID    string    `json:"merchant_id"`
	OrderID       string    `json:"order_id"`
	Amount        int64     `json:"amount"`
	Currency      string    `json:"currency"`
	CustomerEmail string    `json:"customer_email,omitempty"`
	Status        string    `json:"status"`
	Refunded      int64     `json:"refunded"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`

	busy bool // an event for this payment is being published
}

// Event describes the event a state change published.
type Event struct {
	MessageID     string          `json:"message_id"`
	Type          string          `json:"type"`
	Key           string          `json:"key"`
	Partition     int32           `json:"partition"`
	Offset        int64           `json:"offset"`
	CorrelationID string          `json:"correlation_id"`
	Data          json.RawMessage `json:"data"`
}

// changeResponse answers a state change: the payment and its event.
type changeResponse struct {
	Payment Payment `json:"payment"`
	Event   Event   `json:"event"`
}

// server is the payment API. It is safe for concurrent use.
type server struct {
	pub publisher
	log *slog.Logger
	now func() time.Time

	mu       sync.Mutex
	payments map[string]*Payment
}

func newServer(pub publisher, log *slog.Logger) *server {
	return &server{pub: pub, log: log, now: time.Now, payments: make(map[string]*Payment)}
}

// Handler returns the API, behind envelope.CorrelationMiddleware so that
// every event carries the correlation id of the request that caused it:
//
//	POST /api/payments                   create a pending payment
//	GET  /api/payments/{id}              the endpoint merchants used to poll
//	POST /api/payments/{id}/complete     → payment.completed
//	POST /api/payments/{id}/fail         → payment.failed
//	POST /api/payments/{id}/refund       → refund.created
//	GET  /healthz
func (s *server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/payments", s.create)
	mux.HandleFunc("GET /api/payments/{id}", s.get)
	mux.HandleFunc("POST /api/payments/{id}/complete", s.complete)
	mux.HandleFunc("POST /api/payments/{id}/fail", s.fail)
	mux.HandleFunc("POST /api/payments/{id}/refund", s.refund)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	return envelope.CorrelationMiddleware(traceMiddleware(mux))
}

// traceMiddleware puts the request's W3C trace context (a traceparent
// header) into its context, so that the events it publishes carry it on:
// what otelhttp's handler does, without recording spans of its own.
func traceMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

type createRequest struct {
	MerchantID    string `json:"merchant_id"`
	OrderID       string `json:"order_id"`
	Amount        int64  `json:"amount"`
	Currency      string `json:"currency"`
	CustomerEmail string `json:"customer_email"`
}

func (s *server) create(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if !decode(w, r, &req) {
		return
	}
	switch {
	case req.MerchantID == "":
		apiError(w, http.StatusBadRequest, "invalid", "merchant_id is required", "merchant_id")
		return
	case req.OrderID == "":
		apiError(w, http.StatusBadRequest, "invalid", "order_id is required", "order_id")
		return
	case req.Amount <= 0:
		apiError(w, http.StatusBadRequest, "invalid", "amount must be a positive integer in minor units (4999 for 49.99)", "amount")
		return
	case len(req.Currency) != 3:
		apiError(w, http.StatusBadRequest, "invalid", "currency must be an ISO 4217 code such as USD", "currency")
		return
	}
	now := s.now().UTC()
	p := &Payment{ID: newID("pay_"), MerchantID: req.MerchantID, OrderID: req.OrderID, Amount: req.Amount,
		Currency: strings.ToUpper(req.Currency), CustomerEmail: req.CustomerEmail, Status: StatusPending,
		CreatedAt: now, UpdatedAt: now}
	s.mu.Lock()
	s.payments[p.ID] = p
	out := *p
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, out)
}

func (s *server) get(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	p, ok := s.payments[r.PathValue("id")]
	var out Payment
	if ok {
		out = *p
	}
	s.mu.Unlock()
	if !ok {
		apiError(w, http.StatusNotFound, "not_found", "no such payment", "")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// The event payloads, field for field as in schemas/catalog/<type>/1.0.avsc.
type (
	completedData struct {
		PaymentID     string            `json:"payment_id"`
		Amount        int64             `json:"amount"`
		Currency      string            `json:"currency"`
		MerchantID    string            `json:"merchant_id"`
		OrderID       *string           `json:"order_id"`
		CustomerEmail *string           `json:"customer_email"`
		Metadata      map[string]string `json:"metadata"`
	}
	failedData struct {
		PaymentID     string            `json:"payment_id"`
		Amount        int64             `json:"amount"`
		Currency      string            `json:"currency"`
		MerchantID    string            `json:"merchant_id"`
		OrderID       *string           `json:"order_id"`
		Reason        string            `json:"reason"`
		CustomerEmail *string           `json:"customer_email"`
		Metadata      map[string]string `json:"metadata"`
	}
	refundData struct {
		RefundID   string            `json:"refund_id"`
		PaymentID  string            `json:"payment_id"`
		Amount     int64             `json:"amount"`
		Currency   string            `json:"currency"`
		MerchantID string            `json:"merchant_id"`
		OrderID    *string           `json:"order_id"`
		Reason     *string           `json:"reason"`
		Metadata   map[string]string `json:"metadata"`
	}
)

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (s *server) complete(w http.ResponseWriter, r *http.Request) {
	s.change(w, r, TypeCompleted, func(p *Payment) (any, string, error) {
		if p.Status != StatusPending {
			return nil, "", conflict("only a pending payment can complete; this one is " + p.Status)
		}
		return completedData{PaymentID: p.ID, Amount: p.Amount, Currency: p.Currency, MerchantID: p.MerchantID,
			OrderID: optional(p.OrderID), CustomerEmail: optional(p.CustomerEmail), Metadata: map[string]string{}}, StatusCompleted, nil
	}, nil)
}

func (s *server) fail(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 && !decode(w, r, &req) {
		return
	}
	if req.Reason == "" {
		req.Reason = "card declined"
	}
	s.change(w, r, TypeFailed, func(p *Payment) (any, string, error) {
		if p.Status != StatusPending {
			return nil, "", conflict("only a pending payment can fail; this one is " + p.Status)
		}
		return failedData{PaymentID: p.ID, Amount: p.Amount, Currency: p.Currency, MerchantID: p.MerchantID,
			OrderID: optional(p.OrderID), Reason: req.Reason, CustomerEmail: optional(p.CustomerEmail),
			Metadata: map[string]string{}}, StatusFailed, nil
	}, nil)
}

func (s *server) refund(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Amount int64  `json:"amount"`
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 && !decode(w, r, &req) {
		return
	}
	var amount int64
	s.change(w, r, TypeRefunded, func(p *Payment) (any, string, error) {
		if p.Status != StatusCompleted {
			return nil, "", conflict("only a completed payment can be refunded; this one is " + p.Status)
		}
		amount = req.Amount
		if amount == 0 {
			amount = p.Amount - p.Refunded
		}
		if amount < 0 || amount > p.Amount-p.Refunded {
			return nil, "", &httpError{http.StatusBadRequest, "invalid",
				fmt.Sprintf("amount must be between 1 and %d (what is left to refund)", p.Amount-p.Refunded), "amount"}
		}
		status := StatusCompleted
		if p.Refunded+amount == p.Amount {
			status = StatusRefunded
		}
		return refundData{RefundID: newID("re_"), PaymentID: p.ID, Amount: amount, Currency: p.Currency,
			MerchantID: p.MerchantID, OrderID: optional(p.OrderID), Reason: optional(req.Reason),
			Metadata: map[string]string{}}, status, nil
	}, func(p *Payment) { p.Refunded += amount })
}

// change runs one state change of the payment named in the path: decide
// checks the transition and returns the event's data and the new status;
// the event is published (and acknowledged by Kafka) before the change is
// applied and answered, so a merchant never sees a state whose event is
// not durable. While it is published, other changes of the payment get 409.
func (s *server) change(w http.ResponseWriter, r *http.Request, typ string,
	decide func(*Payment) (any, string, error), apply func(*Payment)) {
	id := r.PathValue("id")
	s.mu.Lock()
	p, ok := s.payments[id]
	if !ok {
		s.mu.Unlock()
		apiError(w, http.StatusNotFound, "not_found", "no such payment", "")
		return
	}
	if p.busy {
		s.mu.Unlock()
		apiError(w, http.StatusConflict, "conflict", "another change of this payment is in progress", "")
		return
	}
	data, status, err := decide(p)
	if err != nil {
		s.mu.Unlock()
		writeError(w, err)
		return
	}
	p.busy = true
	s.mu.Unlock()

	body, err := json.Marshal(data)
	var rcpt producer.Receipt
	if err == nil {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		rcpt, err = s.pub.Publish(ctx, typ, id, body)
		cancel()
	}

	s.mu.Lock()
	p.busy = false
	if err != nil {
		s.mu.Unlock()
		s.log.Error("payments: publish failed", "type", typ, "payment_id", id, "error", err)
		apiError(w, http.StatusServiceUnavailable, "publish_failed", "the event could not be published; try again", "")
		return
	}
	p.Status = status
	if apply != nil {
		apply(p)
	}
	p.UpdatedAt = s.now().UTC()
	out := *p
	s.mu.Unlock()

	corr := envelope.CorrelationID(r.Context())
	s.log.Info("payments: published", "type", typ, "payment_id", id, "message_id", rcpt.MessageID,
		"partition", rcpt.Partition, "offset", rcpt.Offset, "correlation_id", corr)
	writeJSON(w, http.StatusOK, changeResponse{Payment: out, Event: Event{MessageID: rcpt.MessageID, Type: typ, Key: id,
		Partition: rcpt.Partition, Offset: rcpt.Offset, CorrelationID: corr, Data: body}})
}

// httpError is an API error answered as {"error":{"code","message","field"}}.
type httpError struct {
	status               int
	code, message, field string
}

func (e *httpError) Error() string { return e.message }

func conflict(msg string) error { return &httpError{http.StatusConflict, "conflict", msg, ""} }

func writeError(w http.ResponseWriter, err error) {
	var he *httpError
	if errors.As(err, &he) {
		apiError(w, he.status, he.code, he.message, he.field)
		return
	}
	apiError(w, http.StatusInternalServerError, "internal", err.Error(), "")
}

func apiError(w http.ResponseWriter, status int, code, msg, field string) {
	e := map[string]string{"code": code, "message": msg}
	if field != "" {
		e["field"] = field
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body of at most 64 KiB into v, answering 400 when it
// cannot.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		apiError(w, http.StatusBadRequest, "invalid_json", "the body is not the expected JSON: "+err.Error(), "")
		return false
	}
	return true
}

// newID returns prefix followed by 12 random lowercase letters and digits.
func newID(prefix string) string {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + string(b)
}
