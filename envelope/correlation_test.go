package envelope_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kbus-dev/kbus/envelope"
)

func TestCorrelationIDContext(t *testing.T) {
	ctx := context.Background()
	if got := envelope.CorrelationID(ctx); got != "" {
		t.Errorf("CorrelationID(Background) = %q", got)
	}
	//lint:ignore SA1012 nil context is documented to be accepted
	if got := envelope.CorrelationID(nil); got != "" {
		t.Errorf("CorrelationID(nil) = %q", got)
	}
	ctx1 := envelope.WithCorrelationID(ctx, "a")
	ctx2 := envelope.WithCorrelationID(ctx1, "b")
	if envelope.CorrelationID(ctx1) != "a" || envelope.CorrelationID(ctx2) != "b" {
		t.Errorf("nested ids = %q, %q", envelope.CorrelationID(ctx1), envelope.CorrelationID(ctx2))
	}
	// A plain string key cannot read or overwrite it.
	type otherKey string
	ctx3 := context.WithValue(ctx1, otherKey("kbus-correlation-id"), "x")
	if envelope.CorrelationID(ctx3) != "a" {
		t.Errorf("foreign key interfered")
	}
}

func TestValidCorrelationID(t *testing.T) {
	tests := map[string]bool{
		"req_abc123":                 true,
		"a":                          true,
		"with space and ~!@#$%^&*()": true,
		strings.Repeat("x", 128):     true,
		"":                           false,
		strings.Repeat("x", 129):     false,
		"tab\there":                  false,
		"new\nline":                  false,
		"del\x7f":                    false,
		"café":                       false,
		"\xff":                       false,
	}
	for id, want := range tests {
		if got := envelope.ValidCorrelationID(id); got != want {
			t.Errorf("ValidCorrelationID(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestCorrelationMiddleware(t *testing.T) {
	tests := []struct {
		name     string
		incoming []string // X-Correlation-ID values on the request
		ctxID    string   // id already in the request context
		want     string   // "" means a newly made id
	}{
		{"keeps incoming", []string{"req_abc123"}, "", "req_abc123"},
		{"keeps 128-byte id", []string{strings.Repeat("z", 128)}, "", strings.Repeat("z", 128)},
		{"first of several", []string{"first", "second"}, "", "first"},
		{"absent", nil, "", ""},
		{"empty", []string{""}, "", ""},
		{"too long", []string{strings.Repeat("z", 129)}, "", ""},
		{"control character", []string{"a\x01b"}, "", ""},
		{"non-ASCII", []string{"réq"}, "", ""},
		{"header wins over context", []string{"from-header"}, "from-ctx", "from-header"},
		{"context when header absent", nil, "from-ctx", "from-ctx"},
		{"context when header invalid", []string{"bad\x00"}, "from-ctx", "from-ctx"},
		{"invalid context id replaced", nil, "bad\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var inHandler string
			h := envelope.CorrelationMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				inHandler = envelope.CorrelationID(r.Context())
				w.WriteHeader(http.StatusAccepted)
			}))
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, v := range tt.incoming {
				req.Header.Add(envelope.CorrelationHeader, v)
			}
			if tt.ctxID != "" {
				req = req.WithContext(envelope.WithCorrelationID(req.Context(), tt.ctxID))
			}
			before := req.Header.Clone()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			echoed := rec.Header().Get(envelope.CorrelationHeader)
			if inHandler == "" || echoed != inHandler {
				t.Fatalf("handler saw %q, response header %q; want equal and non-empty", inHandler, echoed)
			}
			if tt.want != "" {
				if inHandler != tt.want {
					t.Errorf("id = %q, want %q", inHandler, tt.want)
				}
			} else if !strings.HasPrefix(inHandler, envelope.CorrelationIDPrefix) || !envelope.ValidCorrelationID(inHandler) {
				t.Errorf("id = %q, want a new %q id", inHandler, envelope.CorrelationIDPrefix)
			}
			if rec.Code != http.StatusAccepted {
				t.Errorf("status = %d", rec.Code)
			}
			if got := req.Header.Values(envelope.CorrelationHeader); strings.Join(got, "|") != strings.Join(before.Values(envelope.CorrelationHeader), "|") {
				t.Errorf("request headers modified: %q", got)
			}
		})
	}
}

func TestCorrelationMiddlewareMakesDistinctIDs(t *testing.T) {
	seen := map[string]bool{}
	h := envelope.CorrelationMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for range 100 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		id := rec.Header().Get(envelope.CorrelationHeader)
		if seen[id] {
			t.Fatalf("duplicate correlation id %q", id)
		}
		seen[id] = true
	}
}
