package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// client calls the services' HTTP APIs with JSON.
type client struct {
	hc *http.Client
}

// call sends body (JSON-encoded unless nil) with the given headers,
// decodes a 2xx answer into out (unless nil) and returns the status. An
// answer other than 2xx is an error carrying its body.
func (c *client) call(ctx context.Context, method, url string, body any, headers map[string]string, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: %w", method, url, err)
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: answer: %w", method, url, err)
		}
	}
	return resp.StatusCode, nil
}

// healthy reports whether GET url answers 200.
func (c *client) healthy(ctx context.Context, url string) bool {
	_, err := c.call(ctx, http.MethodGet, url, nil, nil, nil)
	return err == nil
}

// freePort returns a loopback address with a port nobody listens on now.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitFor calls check until it reports done, ctx ends, or timeout passes;
// then the error says what was expected and what was last seen.
func waitFor(ctx context.Context, timeout time.Duration, what string, check func(context.Context) (bool, string, error)) error {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	last := "nothing yet"
	for {
		done, seen, err := check(ctx)
		if errors.Is(err, errStop) {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if err != nil && ctx.Err() == nil {
			last = err.Error()
		} else if seen != "" {
			last = seen
		}
		if done && err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			why := ""
			if parent.Err() != nil {
				why = " (the demo's -timeout ran out)"
			}
			return fmt.Errorf("gave up after %s%s waiting for %s; last seen: %s",
				time.Since(start).Round(100*time.Millisecond), why, what, last)
		case <-time.After(150 * time.Millisecond):
		}
	}
}
