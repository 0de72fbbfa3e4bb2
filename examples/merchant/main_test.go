package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kbus-dev/kbus/webhook"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func delivery(t *testing.T, id, body string, secrets ...string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	webhook.SetHeaders(r.Header, id, time.Now().Unix(), []byte(body), secrets, false)
	return r
}

func serve(h http.Handler, r *http.Request) int {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code
}

func TestMerchant(t *testing.T) {
	m := newMerchant(slog.New(slog.NewTextHandler(io.Discard, nil)), 0)
	h := newHandler(&webhook.Verifier{Secrets: []string{secret}}, m)
	const body = `{"id":"msg_01HM6AQH5VX7K9PAYM3NTQ8RSW","type":"payment.completed","data":{"amount":4999}}`

	if code := serve(h, delivery(t, "msg_01HM6AQH5VX7K9PAYM3NTQ8RSW", body, secret)); code != 200 {
		t.Fatalf("signed delivery: %d, want 200", code)
	}
	if n := m.processedCount(); n != 1 {
		t.Fatalf("processed %d, want 1", n)
	}
	if code := serve(h, delivery(t, "msg_01HM6AQH5VX7K9PAYM3NTQ8RSW", body, secret)); code != 200 {
		t.Errorf("duplicate delivery: %d, want 200", code)
	}
	if n := m.processedCount(); n != 1 {
		t.Errorf("duplicate reprocessed: processed %d, want 1", n)
	}
	if code := serve(h, delivery(t, "msg_01HM6AQH5VX7K9PAYM3NTQ8RSX", body, "whsec_wrong")); code != 401 {
		t.Errorf("bad signature: %d, want 401", code)
	}
	forged := delivery(t, "msg_01HM6AQH5VX7K9PAYM3NTQ8RSY", body, secret)
	forged.Body = io.NopCloser(strings.NewReader(strings.Replace(body, "4999", "1", 1)))
	if code := serve(h, forged); code != 401 {
		t.Errorf("tampered body: %d, want 401", code)
	}
	if code := serve(h, delivery(t, "msg_01HM6AQH5VX7K9PAYM3NTQ8RSZ", "not json", secret)); code != 400 {
		t.Errorf("signed non-JSON: %d, want 400", code)
	}
	if n := m.processedCount(); n != 1 {
		t.Errorf("processed %d, want 1", n)
	}
}

func TestMerchantFailFirst(t *testing.T) {
	m := newMerchant(slog.New(slog.NewTextHandler(io.Discard, nil)), 2)
	h := newHandler(&webhook.Verifier{Secrets: []string{secret}}, m)
	const id, body = "msg_01HM6AQH5VX7K9PAYM3NTQ8RSW", `{"type":"payment.completed"}`
	for i, want := range []int{500, 500, 200, 200} {
		if code := serve(h, delivery(t, id, body, secret)); code != want {
			t.Errorf("delivery %d: %d, want %d", i+1, code, want)
		}
	}
	if n := m.processedCount(); n != 1 {
		t.Errorf("processed %d, want 1", n)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/processed", nil))
	var rep struct {
		Processed       int `json:"processed"`
		FailedOnPurpose int `json:"failed_on_purpose"`
		Events          []struct{ ID, Type string }
	}
	if err := json.Unmarshal(w.Body.Bytes(), &rep); err != nil {
		t.Fatalf("GET /processed: %d %q: %v", w.Code, w.Body, err)
	}
	if rep.Processed != 1 || rep.FailedOnPurpose != 2 || len(rep.Events) != 1 || rep.Events[0].ID != id ||
		rep.Events[0].Type != "payment.completed" {
		t.Errorf("GET /processed: %+v", rep)
	}
}

func TestSeenSetBounded(t *testing.T) {
	m := newMerchant(slog.New(slog.NewTextHandler(io.Discard, nil)), 0)
	for i := range maxSeen + 10 {
		if !m.claim("msg_" + strconv.Itoa(i)) {
			t.Fatalf("claim %d refused", i)
		}
	}
	if len(m.seen) != maxSeen || len(m.order) != maxSeen {
		t.Errorf("seen-set holds %d (%d ordered), want %d", len(m.seen), len(m.order), maxSeen)
	}
	if m.claim("msg_0") != true || m.claim("msg_"+strconv.Itoa(maxSeen+9)) != false {
		t.Error("eviction is not oldest-first")
	}
}
