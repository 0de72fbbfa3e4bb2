package webhook_test

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kbus-dev/kbus/webhook"
)

// guardedClient returns a client that dials through g, as the dispatcher's
// does, without a proxy.
func guardedClient(g webhook.DialGuard) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, Control: g.Control}
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DialContext: d.DialContext, Proxy: nil, DisableKeepAlives: true},
	}
}

func TestDialGuardHTTPClient(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()

	// Refused: the server listens on 127.0.0.1.
	_, err := guardedClient(webhook.DialGuard{}).Get(srv.URL)
	if !errors.Is(err, webhook.ErrForbiddenAddress) {
		t.Fatalf("GET %s: %v, want ErrForbiddenAddress", srv.URL, err)
	}
	var uerr *url.Error
	if !errors.As(err, &uerr) {
		t.Errorf("error %T is not a *url.Error", err)
	}
	var operr *net.OpError
	if !errors.As(err, &operr) {
		t.Errorf("error %v does not hold a *net.OpError", err)
	}

	// Refused by name: localhost resolves to loopback.
	u, _ := url.Parse(srv.URL)
	byName := "http://localhost:" + u.Port()
	if _, err := guardedClient(webhook.DialGuard{}).Get(byName); !errors.Is(err, webhook.ErrForbiddenAddress) {
		t.Errorf("GET %s: %v, want ErrForbiddenAddress", byName, err)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the server was reached %d times through a refusing guard", n)
	}

	// Allowed with AllowLoopback.
	resp, err := guardedClient(webhook.DialGuard{Allow: webhook.AllowLoopback()}).Get(srv.URL)
	if err != nil {
		t.Fatalf("GET with AllowLoopback: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || hits.Load() != 1 {
		t.Errorf("GET with AllowLoopback: status %d, hits %d", resp.StatusCode, hits.Load())
	}
}

func TestDialGuardControl(t *testing.T) {
	tests := []struct {
		addr    string
		refused bool
	}{
		{"10.0.0.1", true},
		{"172.16.0.1", true},
		{"172.31.255.254", true},
		{"192.168.1.1", true},
		{"169.254.169.254", true},
		{"127.0.0.1", true},
		{"127.1.2.3", true},
		{"::1", true},
		{"fe80::1", true},
		{"fe80::1%eth0", true},
		{"fc00::1", true},
		{"fd12:3456::1", true},
		{"100.64.0.1", true},
		{"100.127.255.254", true},
		{"0.0.0.0", true},
		{"::", true},
		{"224.0.0.1", true},
		{"255.255.255.255", true},
		{"ff02::1", true},
		{"::ffff:127.0.0.1", true},
		{"::ffff:169.254.169.254", true},
		{"64:ff9b::a00:1", true}, // NAT64 of 10.0.0.1
		{"2001:db8::1", true},
		{"192.0.2.1", true},
		{"198.18.0.1", true},

		{"8.8.8.8", false},
		{"1.1.1.1", false},
		{"172.32.0.1", false},
		{"100.128.0.1", false},
		{"2606:4700::1", false},
		{"2a00:1450:4001::1", false},
		{"::ffff:8.8.8.8", false},
	}
	g := webhook.DialGuard{}
	for _, tt := range tests {
		address := net.JoinHostPort(tt.addr, "443")
		err := g.Control("tcp", address, nil)
		if tt.refused {
			if !errors.Is(err, webhook.ErrForbiddenAddress) {
				t.Errorf("Control(%s) = %v, want ErrForbiddenAddress", address, err)
			} else if !strings.Contains(err.Error(), "is ") {
				t.Errorf("Control(%s) error %q gives no reason", address, err)
			}
		} else if err != nil {
			t.Errorf("Control(%s) = %v, want nil", address, err)
		}
	}

	for _, bad := range []string{"", "localhost:80", "/var/run/docker.sock", "10.0.0.1"} {
		if err := g.Control("tcp", bad, nil); !errors.Is(err, webhook.ErrForbiddenAddress) {
			t.Errorf("Control(%q) = %v, want ErrForbiddenAddress", bad, err)
		}
	}
}

func TestDialGuardAllow(t *testing.T) {
	g := webhook.DialGuard{Allow: append(webhook.AllowLoopback(), netip.MustParsePrefix("10.1.0.0/16"))}
	for _, ok := range []string{"127.0.0.1:80", "[::1]:80", "127.9.9.9:80", "10.1.2.3:443", "[::ffff:10.1.2.3]:443", "8.8.8.8:443"} {
		if err := g.Control("tcp", ok, nil); err != nil {
			t.Errorf("Control(%s) = %v, want nil", ok, err)
		}
	}
	for _, no := range []string{"10.2.0.1:443", "169.254.169.254:80", "192.168.0.1:80"} {
		if err := g.Control("tcp", no, nil); !errors.Is(err, webhook.ErrForbiddenAddress) {
			t.Errorf("Control(%s) = %v, want ErrForbiddenAddress", no, err)
		}
	}
}
