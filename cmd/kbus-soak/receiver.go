package main

import (
	"encoding/json"
	"hash/fnv"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kbus-dev/kbus/webhook"
)

// receiver is the merchants' webhook endpoints: /hook/<tenant>. It verifies
// every delivery's signature and misbehaves on purpose for a share of them:
// on the first delivery of an event 10% get a 500, 5% hang past the
// dispatcher's timeout, 5% get the connection reset and 5% a 429 with
// Retry-After: 1; a later delivery fails 5% of the time.
type receiver struct {
	mu      sync.Mutex
	secrets map[string]string // tenant → signing secret
	seen    map[string]int    // message id → deliveries received (valid signature)
	ok      map[string]int    // message id → deliveries answered 2xx

	badSignature, flapped, foreign atomic.Int64
}

func newReceiver() *receiver {
	return &receiver{secrets: map[string]string{}, seen: map[string]int{}, ok: map[string]int{}}
}

func (rv *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tenant := strings.TrimPrefix(r.URL.Path, "/hook/")
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	rv.mu.Lock()
	secret := rv.secrets[tenant]
	rv.mu.Unlock()
	if err := webhook.Verify(secret, body, r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature), 0); err != nil {
		rv.badSignature.Add(1)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var p struct {
		ID   string `json:"id"`
		Data struct {
			MerchantID string `json:"merchant_id"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &p) != nil || p.ID == "" || p.ID != r.Header.Get(webhook.HeaderID) {
		rv.badSignature.Add(1)
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	if p.Data.MerchantID != tenant {
		rv.foreign.Add(1) // another tenant's event at this tenant's endpoint
	}
	rv.mu.Lock()
	n := rv.seen[p.ID]
	rv.seen[p.ID] = n + 1
	rv.mu.Unlock()

	h := fnv.New32a()
	_, _ = h.Write([]byte(p.ID))
	roll := h.Sum32() % 100
	if n > 0 {
		roll = (roll*7 + uint32(n)*13) % 100
		if roll >= 5 {
			roll = 99
		} else {
			roll = 0
		}
	}
	switch {
	case roll < 10:
		rv.flapped.Add(1)
		http.Error(w, "flapping", http.StatusInternalServerError)
		return
	case roll < 15:
		rv.flapped.Add(1)
		time.Sleep(1500 * time.Millisecond) // past the dispatcher's 1 s timeout
		http.Error(w, "late", http.StatusInternalServerError)
		return
	case roll < 20:
		rv.flapped.Add(1)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close() // a reset mid-request
				return
			}
		}
		http.Error(w, "reset", http.StatusBadGateway)
		return
	case roll < 25:
		rv.flapped.Add(1)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "slow down", http.StatusTooManyRequests)
		return
	}
	rv.mu.Lock()
	rv.ok[p.ID]++
	rv.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// delivered counts the events of want answered 2xx at least once, and the
// extra 2xx deliveries (duplicates) among them.
func (rv *receiver) delivered(want []string) (got, dups int) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	for _, id := range want {
		if n := rv.ok[id]; n > 0 {
			got++
			dups += n - 1
		}
	}
	return got, dups
}
