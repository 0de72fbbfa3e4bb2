package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kbus-dev/kbus/apikey"
)

// APIConfig configures the endpoint registration API.
type APIConfig struct {
	// DB holds the webhook tables. Required.
	DB *pgxpool.Pool
	// Keys authenticates callers (Authorization: Bearer <key>). Required.
	Keys *apikey.Store
	// EventTypes are the event types endpoints may subscribe to. Required.
	EventTypes []string
	// AllowHTTPHosts are the host names for which plain http:// URLs are
	// accepted (local receivers in tests and demos); every other URL must be
	// https://.
	AllowHTTPHosts []string
	// AllowNetworks are the destination networks the dispatchers let
	// through their SSRF guard (DispatcherConfig.AllowNetworks): give both
	// the same prefixes. A URL whose host is a non-public IP address outside
	// them, an IPv4 address in a non-standard form (0x7f000001, 2130706433,
	// 127.1) or a localhost name is refused with 400. Names are not resolved
	// here: where one leads is judged by the dispatcher when it connects.
	AllowNetworks []netip.Prefix
	// SecretKey, 32 bytes, encrypts the endpoints' signing secrets at rest
	// (AES-256-GCM); the dispatchers need the same key to sign. Without it
	// secrets are stored in clear. Secrets stored before a key was set stay
	// readable, and are encrypted at their next rotation. See ParseSecretKey.
	SecretKey []byte
	// SecretGrace is how long the previous secret keeps signing after a
	// rotation. The default is 24h.
	SecretGrace time.Duration
	// Logger receives the API's logs; the default discards them.
	Logger *slog.Logger
}

// API serves the webhook registration API. It is an http.Handler, safe for
// concurrent use:
//
//	POST   /webhooks                                          register an endpoint
//	GET    /webhooks                                          list the caller's endpoints
//	GET    /webhooks/{id}                                     one endpoint
//	PATCH  /webhooks/{id}                                     change url, events, description, status
//	DELETE /webhooks/{id}                                     remove it (and its deliveries)
//	POST   /webhooks/{id}/rotate-secret                       new secret; the old one signs on for SecretGrace
//	GET    /webhooks/{id}/deliveries                          recent deliveries
//	GET    /webhooks/{id}/deliveries/{delivery_id}            one delivery with its attempt log
//	POST   /webhooks/{id}/deliveries/{delivery_id}/retry      redeliver now
//
// Every request needs a tenant's API key, which sees only that tenant's
// endpoints (another tenant's are 404), or an admin key, which sees all and
// names the tenant when registering. Errors are JSON:
// {"error": {"code": "...", "message": "...", "field": "..."}}. Request
// bodies are limited to 64 KiB (413 beyond) and must hold one JSON object
// with only the documented fields. An id in the path that kbus could not
// have issued is 404 without a database query.
type API struct {
	cfg APIConfig
	st  store
	mux *http.ServeMux
	h   http.Handler
}

// NewAPI returns the API for cfg.
func NewAPI(cfg APIConfig) (*API, error) {
	if cfg.DB == nil || cfg.Keys == nil || len(cfg.EventTypes) == 0 {
		return nil, errors.New("webhook: APIConfig needs DB, Keys and EventTypes")
	}
	if cfg.SecretGrace <= 0 {
		cfg.SecretGrace = 24 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	box, err := newSealer(cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	a := &API{cfg: cfg, st: store{cfg.DB, box}, mux: http.NewServeMux()}
	a.mux.HandleFunc("POST /webhooks", a.create)
	a.mux.HandleFunc("GET /webhooks", a.list)
	a.mux.HandleFunc("GET /webhooks/{id}", a.get)
	a.mux.HandleFunc("PATCH /webhooks/{id}", a.patch)
	a.mux.HandleFunc("DELETE /webhooks/{id}", a.delete)
	a.mux.HandleFunc("POST /webhooks/{id}/rotate-secret", a.rotate)
	a.mux.HandleFunc("GET /webhooks/{id}/deliveries", a.deliveries)
	a.mux.HandleFunc("GET /webhooks/{id}/deliveries/{delivery_id}", a.delivery)
	a.mux.HandleFunc("POST /webhooks/{id}/deliveries/{delivery_id}/retry", a.retry)
	a.h = cfg.Keys.Middleware(a.mux)
	return a, nil
}

// ServeHTTP authenticates the request with its API key (401 without a valid
// one) and serves the registration API described on [API].
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.h.ServeHTTP(w, r) }

// apiError is the JSON error body.
type apiError struct {
	status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *apiError) Error() string { return e.Message }

func badRequest(field, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, Code: "invalid_request", Message: fmt.Sprintf(format, args...), Field: field}
}

var errNotFound = &apiError{status: http.StatusNotFound, Code: "not_found", Message: "no such webhook endpoint or delivery"}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, ErrNotFound):
		ae = errNotFound
	default:
		a.cfg.Logger.Error("kbus: webhook API", "method", r.Method, "path", r.URL.Path, "error", err)
		ae = &apiError{status: http.StatusInternalServerError, Code: "internal", Message: "internal error"}
	}
	writeJSON(w, ae.status, map[string]any{"error": ae})
}

// tenant is the tenant the caller acts for: its key's, or "" for an admin
// key (all tenants).
func tenant(r *http.Request) string {
	p, _ := apikey.PrincipalFrom(r.Context())
	if p.Admin {
		return ""
	}
	return p.TenantID
}

const maxBody = 64 << 10

// decode reads a JSON body into v, refusing unknown fields, trailing data
// and bodies over maxBody, with messages that name the problem.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		var tooBig *http.MaxBytesError
		var netErr net.Error
		switch {
		case errors.As(err, &tooBig):
			return &apiError{status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: fmt.Sprintf("request body over %d bytes", maxBody)}
		case errors.As(err, &netErr) && netErr.Timeout():
			// The server's ReadTimeout ran out while the body trickled in.
			return &apiError{status: http.StatusRequestTimeout, Code: "timeout", Message: "the request body did not arrive in time"}
		case errors.As(err, &syn):
			return &apiError{status: http.StatusBadRequest, Code: "invalid_json", Message: fmt.Sprintf("invalid JSON at byte %d: %v", syn.Offset, err)}
		case errors.As(err, &typ):
			return &apiError{status: http.StatusBadRequest, Code: "invalid_json", Field: typ.Field,
				Message: fmt.Sprintf("field %q must be %s, not %s", typ.Field, typ.Type, typ.Value)}
		case errors.Is(err, io.EOF):
			return &apiError{status: http.StatusBadRequest, Code: "invalid_json", Message: "empty body: a JSON object is required"}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return &apiError{status: http.StatusBadRequest, Code: "invalid_json", Field: field, Message: fmt.Sprintf("unknown field %q", field)}
		default:
			return &apiError{status: http.StatusBadRequest, Code: "invalid_json", Message: "invalid JSON: " + err.Error()}
		}
	}
	if dec.More() {
		return &apiError{status: http.StatusBadRequest, Code: "invalid_json", Message: "trailing data after the JSON object"}
	}
	return nil
}

// checkURL validates an endpoint URL.
func (a *API) checkURL(raw string) error {
	u, err := url.Parse(raw)
	if raw == "" {
		return badRequest("url", "url is required")
	}
	if err != nil || u.Host == "" || u.User != nil {
		return badRequest("url", "url %q is not an absolute http(s) URL without credentials", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !slices.Contains(a.cfg.AllowHTTPHosts, u.Hostname()) {
			return badRequest("url", "url must use https (http is allowed only for %v)", a.cfg.AllowHTTPHosts)
		}
	default:
		return badRequest("url", "url scheme %q is not http or https", u.Scheme)
	}
	if reason := (DialGuard{Allow: a.cfg.AllowNetworks}).hostRefusal(u.Hostname()); reason != "" {
		return badRequest("url", "url %q is not a public destination: %s", raw, reason)
	}
	return nil
}

// checkText refuses a NUL character, which PostgreSQL cannot store in text.
func checkText(field, v string) error {
	if strings.IndexByte(v, 0) >= 0 {
		return badRequest(field, "%s must not contain NUL characters", field)
	}
	return nil
}

// pathIDs returns the path values named, or errNotFound if one is not an
// id kbus could have issued (letters, digits, '_' and '-', at most 64
// bytes): such an id names nothing, and PostgreSQL would refuse invalid
// UTF-8 or NUL bytes with an error.
func pathIDs(r *http.Request, names ...string) ([]string, error) {
	ids := make([]string, len(names))
	for i, n := range names {
		v := r.PathValue(n)
		if v == "" || len(v) > 64 || strings.TrimFunc(v, func(c rune) bool {
			return c == '_' || c == '-' || c < utf8.RuneSelf && (unicode.IsLetter(c) || unicode.IsDigit(c))
		}) != "" {
			return nil, errNotFound
		}
		ids[i] = v
	}
	return ids, nil
}

func (a *API) checkEvents(events []string) error {
	if len(events) == 0 {
		return badRequest("events", "events must list at least one event type")
	}
	for _, e := range events {
		if !slices.Contains(a.cfg.EventTypes, e) {
			return badRequest("events", "unknown event type %q (known: %s)", e, strings.Join(a.cfg.EventTypes, ", "))
		}
	}
	return nil
}

type createRequest struct {
	URL              string   `json:"url"`
	Events           []string `json:"events"`
	Secret           *string  `json:"secret"`
	Description      string   `json:"description"`
	StandardWebhooks bool     `json:"standard_webhooks"`
	TenantID         string   `json:"tenant_id"` // admin keys only
}

// createResponse is the seed's answer to a registration, plus the secret
// when kbus generated it (shown once).
type createResponse struct {
	Endpoint
	Secret string `json:"secret,omitempty"`
}

func (a *API) create(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if err := decode(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	t := tenant(r)
	switch {
	case t == "" && req.TenantID == "":
		a.fail(w, r, badRequest("tenant_id", "an admin key must name the tenant_id of the endpoint"))
		return
	case t == "":
		t = req.TenantID
	case req.TenantID != "" && req.TenantID != t:
		a.fail(w, r, badRequest("tenant_id", "tenant_id must be your own tenant or omitted"))
		return
	}
	secret := ""
	if req.Secret != nil {
		secret = *req.Secret
	}
	if err := errors.Join(a.checkURL(req.URL), a.checkEvents(req.Events), checkText("description", req.Description),
		checkText("secret", secret), checkText("tenant_id", req.TenantID)); err != nil {
		a.fail(w, r, firstAPIError(err))
		return
	}
	e := Endpoint{ID: newID("wh_"), TenantID: t, URL: req.URL, Events: req.Events, Description: req.Description,
		StandardWebhooks: req.StandardWebhooks}
	generated := ""
	if req.Secret != nil {
		if len(*req.Secret) < 24 {
			a.fail(w, r, badRequest("secret", "secret must be at least 24 characters (or omit it and one is generated)"))
			return
		}
		e.secret = *req.Secret
	} else {
		s, err := NewSecret()
		if err != nil {
			a.fail(w, r, err)
			return
		}
		e.secret, generated = s, s
	}
	created, err := a.st.createEndpoint(r.Context(), e)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, createResponse{Endpoint: created, Secret: generated})
}

func firstAPIError(err error) error {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	return err
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	es, err := a.st.listEndpoints(r.Context(), tenant(r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": es})
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	ids, err := pathIDs(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	e, err := a.st.getEndpoint(r.Context(), tenant(r), ids[0])
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

type patchRequest struct {
	URL              *string  `json:"url"`
	Events           []string `json:"events"`
	Description      *string  `json:"description"`
	Status           *string  `json:"status"`
	StandardWebhooks *bool    `json:"standard_webhooks"`
}

func (a *API) patch(w http.ResponseWriter, r *http.Request) {
	ids, err := pathIDs(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var req patchRequest
	if err := decode(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if req.Description != nil {
		if err := checkText("description", *req.Description); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	if req.URL != nil {
		if err := a.checkURL(*req.URL); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	if req.Events != nil {
		if err := a.checkEvents(req.Events); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	if req.Status != nil && *req.Status != StatusActive && *req.Status != StatusDisabled {
		a.fail(w, r, badRequest("status", "status must be %q or %q", StatusActive, StatusDisabled))
		return
	}
	e, err := a.st.updateEndpoint(r.Context(), tenant(r), ids[0], endpointPatch(req))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

func (a *API) delete(w http.ResponseWriter, r *http.Request) {
	ids, err := pathIDs(r, "id")
	if err == nil {
		err = a.st.deleteEndpoint(r.Context(), tenant(r), ids[0])
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) rotate(w http.ResponseWriter, r *http.Request) {
	ids, err := pathIDs(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	s, err := NewSecret()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	e, err := a.st.rotateSecret(r.Context(), tenant(r), ids[0], s, a.cfg.SecretGrace)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": e.ID, "secret": s,
		"previous_secret_expires_at": e.previousExpires.UTC()})
}

func (a *API) deliveries(w http.ResponseWriter, r *http.Request) {
	ids, err := pathIDs(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	t, id := tenant(r), ids[0]
	if _, err := a.st.getEndpoint(r.Context(), t, id); err != nil {
		a.fail(w, r, err)
		return
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			a.fail(w, r, badRequest("limit", "limit must be a number from 1 to 1000"))
			return
		}
		limit = n
	}
	ds, err := a.st.listDeliveries(r.Context(), t, id, limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": ds})
}

func (a *API) delivery(w http.ResponseWriter, r *http.Request) {
	ids, err := pathIDs(r, "id", "delivery_id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	d, err := a.st.getDelivery(r.Context(), tenant(r), ids[0], ids[1])
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (a *API) retry(w http.ResponseWriter, r *http.Request) {
	ids, err := pathIDs(r, "id", "delivery_id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	d, err := a.st.retryDelivery(r.Context(), tenant(r), ids[0], ids[1])
	if errors.Is(err, ErrNotFound) {
		err = &apiError{status: http.StatusNotFound, Code: "not_found", Message: "no such delivery, or it already succeeded"}
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, d)
}
