package webhook

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kbus-dev/kbus/envelope"
)

// Endpoint statuses.
const (
	StatusActive   = "active"
	StatusDisabled = "disabled"
)

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliverySucceeded = "succeeded"
	DeliveryFailed    = "failed"
)

// An Endpoint is a URL a tenant registered to receive events of some types.
//
// Its JSON form is what the registration API returns. The signing secret is
// not part of it: the API returns a secret only when it generates one, at
// registration and at a rotation.
type Endpoint struct {
	ID               string    `json:"id"`                        // "wh_" + a ULID
	TenantID         string    `json:"tenant_id"`                 // the tenant (merchant_id) whose events it receives
	URL              string    `json:"url"`                       // where deliveries are POSTed
	Events           []string  `json:"events"`                    // the event types it subscribed to
	Description      string    `json:"description,omitempty"`     // the tenant's label
	Status           string    `json:"status"`                    // StatusActive or StatusDisabled
	DisabledReason   string    `json:"disabled_reason,omitempty"` // why it was disabled (410 Gone, failing too long, the API)
	StandardWebhooks bool      `json:"standard_webhooks"`         // also send the Standard Webhooks headers
	CreatedAt        time.Time `json:"created_at"`                // when it was registered
	UpdatedAt        time.Time `json:"updated_at"`                // its last change

	secret          string
	previousSecret  string
	previousExpires time.Time
	failingSince    *time.Time
}

// secrets returns the secrets that sign a delivery now: the current one and,
// during a rotation's grace period, the previous one.
func (e Endpoint) secrets(now time.Time) []string {
	if e.previousSecret != "" && now.Before(e.previousExpires) {
		return []string{e.secret, e.previousSecret}
	}
	return []string{e.secret}
}

// A Delivery is one event sent (or to be sent) to one endpoint.
type Delivery struct {
	ID            string     `json:"id"`              // "dlv_" + random hex
	EndpointID    string     `json:"endpoint_id"`     // the endpoint it goes to
	MessageID     string     `json:"message_id"`      // the event's message id, sent as X-Webhook-Id
	EventType     string     `json:"event_type"`      // the event's type
	Status        string     `json:"status"`          // DeliveryPending, DeliverySucceeded or DeliveryFailed
	Attempts      int        `json:"attempts"`        // POSTs made so far
	NextAttemptAt *time.Time `json:"next_attempt_at"` // when the next attempt is due; nil unless pending
	CreatedAt     time.Time  `json:"created_at"`      // when the fan-out made it
	UpdatedAt     time.Time  `json:"updated_at"`      // its last change
	// DeliveryAttempts is the attempt log, oldest first (only in single
	// delivery answers).
	DeliveryAttempts []Attempt `json:"delivery_attempts,omitempty"`
}

// An Attempt is one POST of a delivery, as the seed's delivery_attempts show
// it, plus diagnostics.
type Attempt struct {
	Attempt        int        `json:"attempt"`                 // 1 for the first POST
	Timestamp      time.Time  `json:"timestamp"`               // when it was sent
	ResponseStatus *int       `json:"response_status"`         // the HTTP status; nil when no response came
	NextRetry      *time.Time `json:"next_retry"`              // when the next attempt is due; nil after the last
	Success        bool       `json:"success"`                 // a 2xx answer
	DurationMS     int        `json:"duration_ms"`             // time until the response (or the failure)
	Error          string     `json:"error,omitempty"`         // the transport error, if any
	ResponseBody   string     `json:"response_body,omitempty"` // the start of the response body (DispatcherConfig.MaxResponseBody)
}

// Errors of the store, surfaced by the API as 404s and 409s.
var (
	ErrNotFound = errors.New("webhook: not found")
)

// store holds the SQL of the webhook tables. box, when not nil, encrypts
// signing secrets at rest.
type store struct {
	db  *pgxpool.Pool
	box *sealer
}

const endpointColumns = `id, tenant_id, url, events, description, status, coalesce(disabled_reason, ''), standard_webhooks,
	created_at, updated_at, secret, coalesce(previous_secret, ''), coalesce(previous_secret_expires_at, 'epoch'), failing_since`

func scanEndpoint(row pgx.Row) (Endpoint, error) {
	var e Endpoint
	err := row.Scan(&e.ID, &e.TenantID, &e.URL, &e.Events, &e.Description, &e.Status, &e.DisabledReason, &e.StandardWebhooks,
		&e.CreatedAt, &e.UpdatedAt, &e.secret, &e.previousSecret, &e.previousExpires, &e.failingSince)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, ErrNotFound
	}
	return e, err
}

// tenantClause restricts a query to the tenant in argument arg, unless that
// argument is "" (an admin key).
func tenantClause(arg int) string {
	return fmt.Sprintf("($%d = '' OR tenant_id = $%d)", arg, arg)
}

func (s store) createEndpoint(ctx context.Context, e Endpoint) (Endpoint, error) {
	return scanEndpoint(s.db.QueryRow(ctx, `INSERT INTO webhook_endpoints (id, tenant_id, url, events, description, secret, standard_webhooks)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+endpointColumns,
		e.ID, e.TenantID, e.URL, e.Events, e.Description, s.box.seal(e.secret), e.StandardWebhooks))
}

// signingEndpoint is getEndpoint with the signing secrets decrypted, for the
// dispatcher.
func (s store) signingEndpoint(ctx context.Context, id string) (Endpoint, error) {
	e, err := s.getEndpoint(ctx, "", id)
	if err != nil {
		return e, err
	}
	if e.secret, err = s.box.open(e.secret); err == nil {
		e.previousSecret, err = s.box.open(e.previousSecret)
	}
	return e, err
}

func (s store) getEndpoint(ctx context.Context, tenant, id string) (Endpoint, error) {
	return scanEndpoint(s.db.QueryRow(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE id = $1 AND `+tenantClause(2), id, tenant))
}

func (s store) listEndpoints(ctx context.Context, tenant string) ([]Endpoint, error) {
	rows, err := s.db.Query(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE `+tenantClause(1)+` ORDER BY created_at, id`, tenant)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Endpoint{}
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// endpointPatch holds the fields a PATCH may change; nil leaves a field.
type endpointPatch struct {
	URL              *string
	Events           []string
	Description      *string
	Status           *string
	StandardWebhooks *bool
}

func (s store) updateEndpoint(ctx context.Context, tenant, id string, p endpointPatch) (Endpoint, error) {
	var sets []string
	args := []any{id, tenant}
	add := func(col string, v any) {
		args = append(args, v)
		sets = append(sets, fmt.Sprintf("%s = $%d", col, len(args)))
	}
	if p.URL != nil {
		add("url", *p.URL)
	}
	if p.Events != nil {
		add("events", p.Events)
	}
	if p.Description != nil {
		add("description", *p.Description)
	}
	if p.StandardWebhooks != nil {
		add("standard_webhooks", *p.StandardWebhooks)
	}
	if p.Status != nil {
		add("status", *p.Status)
		if *p.Status == StatusActive {
			sets = append(sets, "disabled_reason = NULL", "failing_since = NULL")
		} else {
			sets = append(sets, "disabled_reason = 'disabled through the API'")
		}
	}
	sets = append(sets, "updated_at = now()")
	return scanEndpoint(s.db.QueryRow(ctx, `UPDATE webhook_endpoints SET `+strings.Join(sets, ", ")+
		` WHERE id = $1 AND `+tenantClause(2)+` RETURNING `+endpointColumns, args...))
}

func (s store) deleteEndpoint(ctx context.Context, tenant, id string) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM webhook_endpoints WHERE id = $1 AND `+tenantClause(2), id, tenant)
	if err == nil && tag.RowsAffected() == 0 {
		err = ErrNotFound
	}
	return err
}

func (s store) rotateSecret(ctx context.Context, tenant, id, secret string, grace time.Duration) (Endpoint, error) {
	return scanEndpoint(s.db.QueryRow(ctx, `UPDATE webhook_endpoints
		SET previous_secret = secret, previous_secret_expires_at = now() + $4::interval, secret = $3, updated_at = now()
		WHERE id = $1 AND `+tenantClause(2)+` RETURNING `+endpointColumns, id, tenant, s.box.seal(secret), grace))
}

const deliveryColumns = `id, endpoint_id, message_id, event_type, status, attempts,
	CASE WHEN status = 'pending' THEN next_attempt_at END, created_at, updated_at`

func scanDelivery(row pgx.Row) (Delivery, error) {
	var d Delivery
	err := row.Scan(&d.ID, &d.EndpointID, &d.MessageID, &d.EventType, &d.Status, &d.Attempts, &d.NextAttemptAt, &d.CreatedAt, &d.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, ErrNotFound
	}
	return d, err
}

func (s store) listDeliveries(ctx context.Context, tenant, endpointID string, limit int) ([]Delivery, error) {
	rows, err := s.db.Query(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries
		WHERE endpoint_id = $1 AND `+tenantClause(2)+` ORDER BY created_at DESC, id DESC LIMIT $3`, endpointID, tenant, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func (s store) getDelivery(ctx context.Context, tenant, endpointID, id string) (Delivery, error) {
	d, err := scanDelivery(s.db.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries
		WHERE id = $1 AND endpoint_id = $2 AND `+tenantClause(3), id, endpointID, tenant))
	if err != nil {
		return d, err
	}
	rows, err := s.db.Query(ctx, `SELECT attempt, attempted_at, response_status, next_retry, success, duration_ms, error, response_body
		FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt`, id)
	if err != nil {
		return d, err
	}
	defer rows.Close()
	d.DeliveryAttempts = []Attempt{}
	for rows.Next() {
		var a Attempt
		if err := rows.Scan(&a.Attempt, &a.Timestamp, &a.ResponseStatus, &a.NextRetry, &a.Success, &a.DurationMS, &a.Error, &a.ResponseBody); err != nil {
			return d, err
		}
		d.DeliveryAttempts = append(d.DeliveryAttempts, a)
	}
	return d, rows.Err()
}

// retryDelivery makes a delivery due now: a pending one is moved forward, a
// failed one gets one more attempt (if it fails, the delivery fails again
// and is dead-lettered again).
func (s store) retryDelivery(ctx context.Context, tenant, endpointID, id string) (Delivery, error) {
	return scanDelivery(s.db.QueryRow(ctx, `UPDATE webhook_deliveries
		SET status = 'pending', next_attempt_at = now(), updated_at = now()
		WHERE id = $1 AND endpoint_id = $2 AND `+tenantClause(3)+` AND status <> 'succeeded'
		RETURNING `+deliveryColumns, id, endpointID, tenant))
}

// newID returns prefix + a lower-case ULID.
func newID(prefix string) string {
	id := envelope.NewMessageID(time.Now())
	return prefix + strings.ToLower(strings.TrimPrefix(id, envelope.IDPrefix))
}
