package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kbus-dev/kbus/sse"
)

// sseClient is one connection to GET /events/stream, read by sse.Reader
// in a goroutine of its own.
type sseClient struct {
	cancel context.CancelFunc
	opened chan struct{} // closed when the first bytes arrive: the stream is registered
	events chan sse.Event
	done   chan struct{}

	mu     sync.Mutex
	lastID string
}

// firstRead closes opened on the first bytes read.
type firstRead struct {
	r    io.Reader
	once sync.Once
	ch   chan struct{}
}

func (f *firstRead) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if n > 0 {
		f.once.Do(func() { close(f.ch) })
	}
	return n, err
}

// openStream connects as the merchant, resuming after lastEventID if it is
// not empty.
func (d *demo) openStream(ctx context.Context, lastEventID string) (*sseClient, error) {
	ctx, cancel := context.WithCancel(ctx)
	q := url.Values{"types": {strings.Join(eventTypes, ",")}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.urls.sse+"/events/stream?"+q.Encode(), nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+d.key)
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req) // no client timeout: the stream is long-lived, ctx bounds it
	if err != nil {
		cancel()
		return nil, fmt.Errorf("GET /events/stream: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("GET /events/stream: %s: %s", resp.Status, b)
	}
	c := &sseClient{cancel: cancel, opened: make(chan struct{}), events: make(chan sse.Event, 64), done: make(chan struct{})}
	rd := sse.NewReader(&firstRead{r: resp.Body, ch: c.opened})
	go func() {
		defer close(c.done)
		defer resp.Body.Close()
		for {
			ev, err := rd.Next()
			if err != nil {
				return
			}
			c.mu.Lock()
			c.lastID = rd.LastEventID()
			c.mu.Unlock()
			select {
			case c.events <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	select {
	case <-c.opened:
		return c, nil
	case <-c.done:
		cancel()
		return nil, fmt.Errorf("the event stream ended before it started")
	case <-time.After(10 * time.Second):
		cancel()
		return nil, fmt.Errorf("the event stream sent nothing within 10s")
	}
}

// close disconnects, as a browser tab closing or a network blinking would.
func (c *sseClient) close() {
	c.cancel()
	<-c.done
}

func (c *sseClient) lastEventID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastID
}

// collect receives until it has len(want) events or timeout passes; then
// it listens for quiet more, so that an extra event (a duplicate) shows.
func (c *sseClient) collect(ctx context.Context, want []string, timeout, quiet time.Duration) (got []sse.Event, extra []string) {
	deadline := time.After(timeout)
	for len(got) < len(want) {
		select {
		case ev := <-c.events:
			if slices.Contains(want, ev.MessageID()) { // the id is <message id>.<position>
				got = append(got, ev)
			} else {
				extra = append(extra, ev.Type+" "+ev.MessageID())
			}
		case <-deadline:
			return got, extra
		case <-ctx.Done():
			return got, extra
		}
	}
	q := time.After(quiet)
	for {
		select {
		case ev := <-c.events:
			extra = append(extra, ev.Type+" "+ev.MessageID())
		case <-q:
			return got, extra
		case <-ctx.Done():
			return got, extra
		}
	}
}

func (d *demo) stream(ctx context.Context) error {
	d.ui.heading("A live stream: Server-Sent Events, with resume",
		"A dashboard (here a Go client, sse.Reader) follows the merchant's events live, drops off,",
		"and comes back with Last-Event-ID: the server replays exactly what it missed, from Kafka.")
	c, err := d.openStream(ctx, "")
	if err != nil {
		return err
	}
	defer c.close()
	d.ui.ok("connected: GET %s/events/stream?types=%s", d.urls.sse, strings.Join(eventTypes, ","))

	var live []string
	for _, o := range orders[4:6] {
		pe, err := d.pay(ctx, o, "complete")
		if err != nil {
			return err
		}
		live = append(live, pe.Event.MessageID)
	}
	got, extra := c.collect(ctx, live, 20*time.Second, 0)
	d.sseLive = len(got)
	d.sseExtra = append(d.sseExtra, extra...)
	for _, ev := range got {
		d.ui.info("%s event: %s  id: %s", d.ui.green("⇠"), ev.Type, short(ev.MessageID()))
	}
	if len(got) != len(live) {
		return fmt.Errorf("the stream delivered %d of the %d live events (and %d others: %v)", len(got), len(live), len(extra), extra)
	}
	d.ui.ok("%d events live", len(got))

	last := c.lastEventID()
	c.close()
	d.ui.ok("disconnected; last event id %s (message id and Kafka position)", short(last))

	var missed []string
	for _, o := range orders[6:8] {
		pe, err := d.pay(ctx, o, "complete")
		if err != nil {
			return err
		}
		missed = append(missed, pe.Event.MessageID)
	}
	d.ui.info("(%d events published while the client is away)", len(missed))

	c2, err := d.openStream(ctx, last)
	if err != nil {
		return err
	}
	defer c2.close()
	d.ui.ok("reconnected with Last-Event-ID: %s", short(last))
	got, extra = c2.collect(ctx, missed, 20*time.Second, 1500*time.Millisecond)
	d.sseResumed = len(got)
	d.sseExtra = append(d.sseExtra, extra...)
	for _, ev := range got {
		d.ui.info("%s event: %s  id: %s  %s", d.ui.green("⇠"), ev.Type, short(ev.MessageID()), d.ui.dim("(replayed from Kafka)"))
	}
	if len(got) != len(missed) || len(extra) > 0 {
		return fmt.Errorf("after resuming, the stream delivered %d of the %d missed events, and %d it should not have: %v",
			len(got), len(missed), len(extra), extra)
	}
	d.ui.ok("exactly the %d missed events, then live again: no gap, no duplicate", len(got))
	return nil
}
