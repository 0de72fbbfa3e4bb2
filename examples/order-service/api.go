package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kbus-dev/kbus/consumer"
)

// Order is a row of the orders table. Amounts are in minor units.
type Order struct {
	ID            string    `json:"id"`
	MerchantID    string    `json:"merchant_id"`
	Amount        int64     `json:"amount"`
	Currency      string    `json:"currency"`
	Status        string    `json:"status"`
	PaymentID     string    `json:"payment_id,omitempty"`
	Refunded      int64     `json:"refunded"`
	Updates       int       `json:"updates"`
	LastMessageID string    `json:"last_message_id,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// Stats is the answer of GET /stats: the consumer's counters and the
// group's rows in processed_events.
type Stats struct {
	Group           string         `json:"group"`
	Consumer        consumer.Stats `json:"consumer"`
	ProcessedEvents int64          `json:"processed_events"`
}

// statser is the part of *consumer.Consumer the API uses.
type statser interface{ Stats() consumer.Stats }

// api is the order service's HTTP API. It is safe for concurrent use.
type api struct {
	db    *pgxpool.Pool
	c     statser
	group string
}

func newAPI(db *pgxpool.Pool, c statser, group string) *api { return &api{db: db, c: c, group: group} }

// Handler returns the API:
//
//	POST /api/orders         create an order {"id","merchant_id","amount","currency"}
//	GET  /api/orders         every order, oldest first
//	GET  /api/orders/{id}    one order
//	GET  /stats              the consumer's counters and processed_events rows
//	GET  /healthz
func (a *api) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/orders", a.create)
	mux.HandleFunc("GET /api/orders", a.list)
	mux.HandleFunc("GET /api/orders/{id}", a.get)
	mux.HandleFunc("GET /stats", a.stats)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	return mux
}

const orderColumns = `id, merchant_id, amount, currency, status, coalesce(payment_id, ''), refunded, updates,
	coalesce(last_message_id, ''), created_at, updated_at`

func scanOrder(row pgx.Row) (Order, error) {
	var o Order
	err := row.Scan(&o.ID, &o.MerchantID, &o.Amount, &o.Currency, &o.Status, &o.PaymentID, &o.Refunded, &o.Updates,
		&o.LastMessageID, &o.CreatedAt, &o.UpdatedAt)
	return o, err
}

func (a *api) create(w http.ResponseWriter, r *http.Request) {
	var o Order
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	if err := dec.Decode(&o); err != nil {
		apiError(w, http.StatusBadRequest, "invalid_json", err.Error(), "")
		return
	}
	switch {
	case o.ID == "":
		apiError(w, http.StatusBadRequest, "invalid", "id is required", "id")
		return
	case o.MerchantID == "":
		apiError(w, http.StatusBadRequest, "invalid", "merchant_id is required", "merchant_id")
		return
	case o.Amount <= 0:
		apiError(w, http.StatusBadRequest, "invalid", "amount must be positive, in minor units", "amount")
		return
	case len(o.Currency) != 3:
		apiError(w, http.StatusBadRequest, "invalid", "currency must be an ISO 4217 code", "currency")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	created, err := scanOrder(a.db.QueryRow(ctx, `INSERT INTO orders (id, merchant_id, amount, currency)
		VALUES ($1, $2, $3, $4) RETURNING `+orderColumns, o.ID, o.MerchantID, o.Amount, o.Currency))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		apiError(w, http.StatusConflict, "conflict", "an order with this id exists", "id")
		return
	}
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal", err.Error(), "")
		return
	}
	writeJSON(w, http.StatusCreated, created)
}

func (a *api) get(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	o, err := scanOrder(a.db.QueryRow(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = $1`, r.PathValue("id")))
	if errors.Is(err, pgx.ErrNoRows) {
		apiError(w, http.StatusNotFound, "not_found", "no such order", "")
		return
	}
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal", err.Error(), "")
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (a *api) list(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	rows, err := a.db.Query(ctx, `SELECT `+orderColumns+` FROM orders ORDER BY created_at, id LIMIT 1000`)
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal", err.Error(), "")
		return
	}
	orders, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Order, error) { return scanOrder(row) })
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal", err.Error(), "")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": orders})
}

func (a *api) stats(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	s := Stats{Group: a.group, Consumer: a.c.Stats()}
	err := a.db.QueryRow(ctx, `SELECT count(*) FROM processed_events WHERE consumer_group = $1`, a.group).Scan(&s.ProcessedEvents)
	var pgErr *pgconn.PgError
	if err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "42P01") { // before the migrations ran: 0
		apiError(w, http.StatusInternalServerError, "internal", err.Error(), "")
		return
	}
	writeJSON(w, http.StatusOK, s)
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
