package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kbus-dev/kbus/sse"
)

// sseClient follows one tenant's stream across servers and disconnects,
// resuming with Last-Event-ID the way EventSource does.
type sseClient struct {
	tenant string
	key    string
	urls   []string

	mu        sync.Mutex
	got       map[string]int
	lastID    string
	connected chan struct{}
	once      sync.Once

	reconnects, errors, foreign atomic.Int64
}

func (c *sseClient) run(ctx context.Context) {
	c.connected = make(chan struct{})
	for i := 0; ctx.Err() == nil; i++ {
		err := c.stream(ctx, c.urls[i%len(c.urls)])
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			c.errors.Add(1)
		}
		c.reconnects.Add(1)
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *sseClient) stream(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/events/stream?types=payment.completed", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	c.mu.Lock()
	if c.lastID != "" {
		req.Header.Set("Last-Event-ID", c.lastID)
	}
	c.mu.Unlock()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return errors.New(resp.Status)
	}
	c.once.Do(func() { close(c.connected) })
	rd := sse.NewReader(resp.Body)
	for {
		ev, err := rd.Next()
		if err != nil {
			return err
		}
		// ev.ID is <message id>.<position> (sse.MessageID splits it), the
		// position being what the resume uses. Events are counted by the
		// payment id in their data, which does not depend on the server.
		var d struct {
			PaymentID  string `json:"payment_id"`
			MerchantID string `json:"merchant_id"`
		}
		_ = json.Unmarshal([]byte(ev.Data), &d)
		if d.MerchantID != c.tenant {
			c.foreign.Add(1) // another tenant's event on this tenant's stream
		}
		c.mu.Lock()
		c.got[d.PaymentID]++
		if id := rd.LastEventID(); id != "" {
			c.lastID = id
		}
		c.mu.Unlock()
	}
}
