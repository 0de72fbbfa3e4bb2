package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestHandlerRedirectsWithSettingsThenServesPage(t *testing.T) {
	h, err := handler("http://127.0.0.1:8081/", "kbus_key", "payment.completed,payment.failed")
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusFound {
		t.Fatalf("GET / = %d, want 302", rec.Code)
	}
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	if loc.Path != "/" || q.Get("key") != "kbus_key" || q.Get("stream") != "http://127.0.0.1:8081" ||
		q.Get("types") != "payment.completed,payment.failed" {
		t.Fatalf("redirect to %s", loc)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", loc.String(), nil))
	body := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.Contains(body, "new EventSource(") || !strings.Contains(body, `id="events"`) {
		t.Fatalf("GET %s = %d:\n%.300s", loc, rec.Code, body)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/events/stream", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("GET /events/stream = %d, want 404: the dashboard proxies nothing", rec.Code)
	}
}
