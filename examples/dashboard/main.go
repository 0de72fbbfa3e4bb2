// Command dashboard serves the kbus payments dashboard: one static page whose
// EventSource reads GET /events/stream of a kbus SSE server. It proxies
// nothing; the browser talks to the SSE server directly, reconnecting with
// Last-Event-ID by itself.
//
// The simplest way to run the page needs no program at all: the SSE server
// serves it, on its own origin,
//
//	kbus serve sse --event-types payment.completed,payment.failed --static examples/dashboard/static
//	open 'http://127.0.0.1:8081/?key=KEY&types=payment.completed,payment.failed'
//
// This program serves the same page (embedded) on an address of its own, with
// its flags filled into the page's address:
//
//	go run ./examples/dashboard -addr 127.0.0.1:8090 -key KEY -types payment.completed,payment.failed
//
// The page is then on another origin than the stream, which the browser allows
// only if the SSE server answers with CORS headers for this origin.
package main

import (
	"embed"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

//go:embed static/index.html
var static embed.FS

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "listen address of the dashboard")
	stream := flag.String("stream", "http://127.0.0.1:8081", "base URL of the kbus SSE server (kbus serve sse)")
	key := flag.String("key", os.Getenv("KBUS_API_KEY"), "tenant API key (default $KBUS_API_KEY)")
	types := flag.String("types", "payment.completed,payment.failed", "event types to show, comma separated")
	flag.Parse()
	if *key == "" {
		log.Fatal("dashboard: -key (or KBUS_API_KEY) is required: a tenant API key from `kbus keys create`")
	}
	h, err := handler(*stream, *key, *types)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("dashboard on http://%s/ (events from %s)\n", ln.Addr(), *stream)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// handler serves the embedded page at /. A request for the page without a
// key is redirected to the page's address with stream, key and types filled
// in, which is where the page reads its settings from.
func handler(stream, key, types string) (http.Handler, error) {
	page, err := fs.ReadFile(static, "static/index.html")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("key") == "" {
			q := url.Values{"stream": {strings.TrimRight(stream, "/")}, "key": {key}, "types": {types}}
			http.Redirect(w, r, "/?"+q.Encode(), http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(page)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	return mux, nil
}
