package webhook_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kbus-dev/kbus/webhook"
)

// ssrfForms are the ways of writing a non-public destination that a
// registration must refuse, with what its refusal names.
var ssrfForms = []struct{ host, reason string }{
	{"[::1]", "::1 is loopback"},
	{"[0:0:0:0:0:0:0:1]", "::1 is loopback"},
	{"0x7f000001", "127.0.0.1 in a non-standard form"},
	{"0X7F.1", "127.0.0.1 in a non-standard form"},
	{"2130706433", "127.0.0.1 in a non-standard form"},
	{"127.1", "127.0.0.1 in a non-standard form"},
	{"0177.0.0.1", "127.0.0.1 in a non-standard form"},
	{"017700000001", "127.0.0.1 in a non-standard form"},
	{"0", "0.0.0.0 in a non-standard form"},
	{"0x7f.0x0.0x0.0x1", "127.0.0.1 in a non-standard form"},
	{"127.0.0.1", "127.0.0.1 is loopback"},
	{"127.0.0.1.", "127.0.0.1 is loopback"},
	{"127.255.255.254", "is loopback"},
	{"localhost", "localhost name"},
	{"localhost.", "localhost name"},
	{"LocalHost", "localhost name"},
	{"api.localhost", "localhost name"},
	{"[::ffff:127.0.0.1]", "127.0.0.1 is loopback"},
	{"[::ffff:7f00:1]", "127.0.0.1 is loopback"},
	{"[::ffff:169.254.169.254]", "169.254.169.254 is link-local"},
	{"0.0.0.0", "0.0.0.0 is unspecified"},
	{"[::]", ":: is unspecified"},
	{"169.254.169.254", "169.254.169.254 is link-local"},
	{"0xa9fea9fe", "169.254.169.254 in a non-standard form"},
	{"[fd00:ec2::254]", "is private"},
	{"[fe80::1%25eth0]", "fe80::1 is link-local"},
	{"10.0.0.1", "is private"},
	{"192.168.1.1", "is private"},
	{"100.100.100.200", "carrier-grade NAT"}, // Alibaba Cloud's metadata service
	{"256.1.1.1", "neither an IPv4 address nor a host name"},
	{"1.2.3.4.5", "neither an IPv4 address nor a host name"},
	{"example.123", "neither an IPv4 address nor a host name"},
}

// TestRegistrationRefusesSSRFForms registers (and patches to) every form of
// a loopback, unspecified, metadata or private destination: 400 on the url
// field, with a message naming the address and why, and nothing stored.
func TestRegistrationRefusesSSRFForms(t *testing.T) {
	w := newWorld(t, func(c *webhook.APIConfig) {
		c.AllowNetworks = nil
		c.AllowHTTPHosts = nil
		for _, f := range ssrfForms {
			u, _ := url.Parse("http://" + f.host + "/")
			c.AllowHTTPHosts = append(c.AllowHTTPHosts, u.Hostname())
		}
	})
	var ok created
	if code := w.call(w.keyA, "POST", "/webhooks", map[string]any{"url": "https://hooks.example.com/in", "events": []string{w.topic}}, &ok); code != 201 {
		t.Fatalf("a public name: %d", code)
	}
	for _, f := range ssrfForms {
		for _, scheme := range []string{"https", "http"} {
			raw := scheme + "://" + f.host + ":8080/hook"
			for _, method := range []string{"POST", "PATCH"} {
				body := map[string]any{"url": raw, "events": []string{w.topic}}
				path := "/webhooks"
				if method == "PATCH" {
					body, path = map[string]any{"url": raw}, "/webhooks/"+ok.ID
				}
				var out errorBody
				code := w.call(w.keyA, method, path, body, &out)
				if code != 400 || out.Error == nil || out.Error.Field == nil || *out.Error.Field != "url" ||
					!strings.Contains(out.Error.Message, f.reason) {
					msg := ""
					if out.Error != nil {
						msg = out.Error.Message
					}
					t.Errorf("%s %s: %d %q, want 400 on url naming %q", method, raw, code, msg, f.reason)
				}
			}
		}
	}
	var list struct{ Data []webhook.Endpoint }
	w.call(w.keyA, "GET", "/webhooks", nil, &list)
	if len(list.Data) != 1 || list.Data[0].URL != "https://hooks.example.com/in" {
		t.Fatalf("endpoints after the refusals: %+v", list.Data)
	}

	// Public addresses and names pass.
	for _, raw := range []string{"https://8.8.8.8/x", "https://[2606:4700::1111]/x", "https://[::ffff:8.8.8.8]/x",
		"https://hooks.example.com./x", "https://localhost.example.com/x", "https://127.example.com/x", "https://0x.example/x"} {
		if code := w.call(w.keyA, "POST", "/webhooks", map[string]any{"url": raw, "events": []string{w.topic}}, nil); code != 201 {
			t.Errorf("POST %s: %d, want 201", raw, code)
		}
	}
}

// TestRegistrationFollowsAllowNetworks: what an operator allows for the
// dispatchers (AllowNetworks) may be registered, the rest stays refused.
func TestRegistrationFollowsAllowNetworks(t *testing.T) {
	w := newWorld(t, func(c *webhook.APIConfig) {
		c.AllowNetworks = append(webhook.AllowLoopback(), netip.MustParsePrefix("10.1.0.0/16"))
	})
	for _, tc := range []struct {
		url  string
		want int
	}{
		{"https://127.0.0.1/x", 201},
		{"https://[::1]/x", 201},
		{"https://localhost/x", 201},
		{"https://10.1.2.3/x", 201},
		{"https://10.2.0.1/x", 400},
		{"https://169.254.169.254/x", 400},
		{"https://2130706433/x", 400}, // allowed or not, never in this form
	} {
		if code := w.call(w.keyA, "POST", "/webhooks", map[string]any{"url": tc.url, "events": []string{w.topic}}, nil); code != tc.want {
			t.Errorf("POST %s: %d, want %d", tc.url, code, tc.want)
		}
	}
}

// dualStackReceiver listens on every local address (0.0.0.0 and ::) and
// counts the requests it gets.
func dualStackReceiver(t *testing.T) (port string, hits *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "[::]:0")
	if err != nil {
		t.Skipf("no dual-stack listener: %v", err)
	}
	hits = new(atomic.Int32)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port, hits
}

// TestDispatcherRefusesSSRFFormsAcceptedEarlier: endpoints whose URLs
// changed after registration (a database restored from elsewhere, a name
// that now resolves to loopback) are refused at delivery by a dispatcher
// without AllowNetworks, each form of loopback, unspecified and metadata
// address, before any connection: the receiver listening on all of them
// gets nothing, and each delivery is dead-lettered as a forbidden
// destination.
func TestDispatcherRefusesSSRFFormsAcceptedEarlier(t *testing.T) {
	port, hits := dualStackReceiver(t)
	hosts := []string{"[::1]", "0x7f000001", "2130706433", "127.1", "localhost", "localhost.", "api.localhost",
		"[::ffff:127.0.0.1]", "0.0.0.0", "[::]", "169.254.169.254", "0177.0.0.1", "127.0.0.1"}
	// A name that is not a localhost name but resolves to loopback: this
	// machine's own name, in /etc/hosts; only the dial guard, after DNS,
	// can refuse it.
	if name, err := os.Hostname(); err == nil && !strings.Contains(name, "localhost") {
		if addrs, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", name); err == nil && len(addrs) > 0 && addrs[0].IsLoopback() {
			hosts = append(hosts, name)
		} else {
			t.Logf("this machine's name %q does not resolve to loopback (%v %v): not tried", name, addrs, err)
		}
	}
	// The receiver answers on the forms a plain client can reach, so a
	// refusal below is the guard's doing.
	for _, h := range []string{"[::1]", "[::ffff:127.0.0.1]", "0.0.0.0", "127.0.0.1", "localhost"} {
		resp, err := http.Get("http://" + h + ":" + port + "/")
		if err != nil {
			t.Fatalf("the receiver is not reachable at %s: %v", h, err)
		}
		resp.Body.Close()
	}
	hits.Store(0)

	w := newWorld(t)
	rcv := newReceiver(t, 200)
	var ids []string
	for range hosts {
		ids = append(ids, w.register(w.keyA, rcv.URL).ID)
	}
	for i, h := range hosts {
		if _, err := w.db.Pool.Exec(context.Background(), `UPDATE webhook_endpoints SET url = $1 WHERE id = $2`,
			"http://"+h+":"+port+"/hook", ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	w.publish("merch_a", 1)
	d := w.dispatcher(func(c *webhook.DispatcherConfig) { c.AllowNetworks = nil })
	run(t, d.Run)
	waitFor(t, "every delivery dead-lettered", func() bool { return d.Stats().DeadLettered == int64(len(hosts)) })
	if n := hits.Load(); n != 0 || rcv.count() != 0 {
		t.Fatalf("the receiver was reached %d times (%d at the registered URL)", n, rcv.count())
	}
	for i, h := range hosts {
		var list struct{ Data []webhook.Delivery }
		w.call(w.keyA, "GET", "/webhooks/"+ids[i]+"/deliveries", nil, &list)
		if len(list.Data) != 1 {
			t.Errorf("%s: %d deliveries", h, len(list.Data))
			continue
		}
		var dl webhook.Delivery
		waitFor(t, h+" failed", func() bool {
			w.call(w.keyA, "GET", "/webhooks/"+ids[i]+"/deliveries/"+list.Data[0].ID, nil, &dl)
			return dl.Status == webhook.DeliveryFailed
		})
		if len(dl.DeliveryAttempts) != 1 || dl.DeliveryAttempts[0].ResponseStatus != nil ||
			!strings.Contains(dl.DeliveryAttempts[0].Error, "not allowed") {
			t.Errorf("%s: one refused attempt wanted, got %+v", h, dl.DeliveryAttempts)
		}
	}
	if s := d.Stats(); s.Succeeded != 0 || s.Attempts != int64(len(hosts)) {
		t.Errorf("stats %+v: want %d refused attempts, no retries", s, len(hosts))
	}
}

// TestDispatcherDoesNotFollowRedirects: a receiver the dispatcher may reach
// (127.0.0.1, allowed) answers 301, 302, 307 and 308 towards addresses it
// may not (another loopback address, ::1, the metadata service). The
// dispatcher follows none: the targets get nothing, each attempt is logged
// with its 3xx status as a failure, retried and finally dead-lettered.
func TestDispatcherDoesNotFollowRedirects(t *testing.T) {
	var targetHits atomic.Int32
	target := func(addr string) string {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Skipf("cannot listen on %s: %v", addr, err)
		}
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { targetHits.Add(1) }))
		srv.Listener = ln
		srv.Start()
		t.Cleanup(srv.Close)
		return srv.URL
	}
	targets := []string{target("127.0.0.2:0") + "/internal", target("[::1]:0") + "/admin",
		"http://169.254.169.254/latest/meta-data/iam/security-credentials/"}
	var redirects atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		redirects.Add(1)
		http.Redirect(rw, r, r.URL.Query().Get("to"), code)
	}))
	t.Cleanup(rcv.Close)

	w := newWorld(t)
	type ep struct {
		id   string
		code int
	}
	var eps []ep
	for _, code := range []int{301, 302, 303, 307, 308} {
		for _, to := range targets {
			c := w.register(w.keyA, rcv.URL+"/hook?code="+strconv.Itoa(code)+"&to="+url.QueryEscape(to))
			eps = append(eps, ep{c.ID, code})
		}
	}
	w.publish("merch_a", 1)
	d := w.dispatcher(func(c *webhook.DispatcherConfig) {
		c.AllowNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	run(t, d.Run)
	waitFor(t, "every delivery dead-lettered", func() bool { return d.Stats().DeadLettered == int64(len(eps)) })
	if n := targetHits.Load(); n != 0 {
		t.Fatalf("redirect targets were reached %d times", n)
	}
	if n, want := redirects.Load(), int32(len(eps)*(len(fast)+1)); n != want {
		t.Errorf("the receiver answered %d requests, want %d (every attempt, no more)", n, want)
	}
	for _, e := range eps {
		var list struct{ Data []webhook.Delivery }
		w.call(w.keyA, "GET", "/webhooks/"+e.id+"/deliveries", nil, &list)
		var dl webhook.Delivery
		waitFor(t, "the delivery failed", func() bool {
			w.call(w.keyA, "GET", "/webhooks/"+e.id+"/deliveries/"+list.Data[0].ID, nil, &dl)
			return dl.Status == webhook.DeliveryFailed
		})
		for _, a := range dl.DeliveryAttempts {
			if a.Success || a.ResponseStatus == nil || *a.ResponseStatus != e.code {
				t.Errorf("redirect %d: attempt %+v, want a failure with status %d", e.code, a, e.code)
			}
		}
	}
}
