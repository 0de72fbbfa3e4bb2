package sse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/apikey"
	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/schemas"
)

// Config configures a [Server]. Zero values mean the defaults.
type Config struct {
	// Brokers are the Kafka seed brokers; default 127.0.0.1:9092.
	Brokers []string
	// Topics are the event types clients may subscribe to. Required.
	Topics []string
	// Keys authenticates clients (tenant API keys). Required.
	Keys *apikey.Store
	// TenantField is the field of the event data naming its tenant; default
	// "merchant_id". A tenant's key receives only its tenant's events; an
	// admin key receives all.
	TenantField string
	// Schemas decodes events whose data is Avro (content type
	// application/avro) so that clients always receive JSON; default
	// schemas.Default(). Avro events it cannot decode are counted as
	// malformed and not streamed.
	Schemas *schemas.Registry
	// RingSize is how many recent events the in-process hub keeps; a client
	// further behind than this is disconnected as too slow (it resumes with
	// Last-Event-ID, losing nothing). Default 65536.
	RingSize int
	// Heartbeat is the interval of comment lines that keep proxies from
	// closing idle streams; default 15s.
	Heartbeat time.Duration
	// Retry is the reconnection delay suggested to clients; default 3s.
	Retry time.Duration
	// ResumeMargin is subtracted from the time in a Last-Event-ID before
	// seeking Kafka by timestamp, to absorb producers' clock skew; default 5s.
	// It serves only resumes by time (a bare message id, or a position of
	// another layout): a position resumes from Kafka offsets.
	ResumeMargin time.Duration
	// MaxConns bounds the streams of this server, MaxConnsPerKey those of
	// one API key; beyond them a request gets 429. Defaults 10000 and 100.
	MaxConns, MaxConnsPerKey int
	// WriteTimeout bounds one write to a client; a client that does not read
	// is disconnected after it. Default 10s.
	WriteTimeout time.Duration
	// KeyCheckInterval is how often an open stream checks its API key again:
	// a stream whose key has been revoked since it opened is ended (with the
	// comment "API key revoked") at its next check. When the key cannot be
	// checked (the database is down) the stream stays open. Default 1m.
	KeyCheckInterval time.Duration
	// AllowOrigins are the origins (scheme://host:port) of pages on other
	// servers allowed to open streams (CORS); "*" allows any. Default none:
	// pages served by the same server need nothing.
	AllowOrigins []string
	// Logger receives the server's logs; the default discards them.
	Logger *slog.Logger
	// Registerer, if not nil, gets the server's Prometheus metrics.
	Registerer prometheus.Registerer
	// ClientOptions are extra franz-go options (TLS, SASL).
	ClientOptions []kgo.Opt
}

// Server streams kbus events to HTTP clients as Server-Sent Events:
//
//	GET /events/stream?types=payment.completed,payment.failed
//	Authorization: Bearer <key>          (or ?access_token=<key>, for EventSource)
//	Last-Event-ID: <event id>            (or ?last_event_id=, to resume)
//
// Each server reads the topics itself from the end of the log (no consumer
// group: every instance sees every event) into an in-process hub; every
// event is encoded once and every client reads the hub at its own cursor,
// so a slow client never delays the others. An event's id is
// <message id>.<position> ([MessageID] splits it): the position says, for
// every partition the server reads, how far the stream had read it at this
// event. A client that reconnects with Last-Event-ID is replayed what it
// missed from Kafka itself, from those offsets, so resuming loses and
// repeats nothing, across restarts and on any instance reading the same
// topics with the same partition counts, for as long as the topics retain
// the events. A bare message id, or a position of another layout, resumes
// by time instead (best effort, announced by a comment): see the package
// documentation.
//
// Hostile or broken requests are answered with 4xx and the JSON body
// {"error":{"code","message","field"}} before a stream opens: 401 without a
// valid key (missing, malformed, unknown, revoked); 400 for a types list
// that is empty, names an unknown type or a name longer than 249 bytes, or
// has more than [MaxTypes] entries (duplicates are merged), and for a
// Last-Event-ID that is neither a message id nor one followed by a
// well-formed position (at most 64 KiB of base64url; one of this server's
// layout must decode exactly) (the value is not quoted back); 429 beyond
// MaxConns or MaxConnsPerKey. A bare message id whose time is more than an
// hour ahead of the server's clock is ignored: the stream starts from now,
// after a comment saying so. An open stream checks its key every
// KeyCheckInterval and ends when it has been revoked. Whatever the stream's
// backlog, it takes at most 256 events from the hub at a time and writes
// about 64 KiB at most at once, so its memory is bounded; a client that
// does not read is disconnected after WriteTimeout. Header sizes and the
// timeouts of idle and slow connections belong to the http.Server: set its
// ReadHeaderTimeout, IdleTimeout and MaxHeaderBytes (`kbus serve sse` does),
// but no WriteTimeout, which would end every stream.
//
// A Server is safe for concurrent use. [Server.Handler] is the http.Handler
// of the stream; call Run to start reading Kafka, serve the handler once
// Ready is closed, and call Shutdown to end the streams.
type Server struct {
	cfg    Config
	admin  *kgo.Client
	layout *layout // the partitions read, set by Run before ready
	hub    *hub
	m      *metrics
	ready  chan struct{} // closed once Run has started the source

	mu      sync.Mutex
	conns   int
	perKey  map[string]int
	closing chan struct{}
	wg      sync.WaitGroup
	closeMu sync.Once
}

// NewServer returns a server for cfg. It does not connect: Run does.
func NewServer(cfg Config) (*Server, error) {
	if len(cfg.Topics) == 0 || cfg.Keys == nil {
		return nil, errors.New("sse: Config needs Topics and Keys")
	}
	if len(cfg.Brokers) == 0 {
		cfg.Brokers = []string{"127.0.0.1:9092"}
	}
	if cfg.TenantField == "" {
		cfg.TenantField = "merchant_id"
	}
	if cfg.Schemas == nil {
		reg, err := schemas.Default()
		if err != nil {
			return nil, fmt.Errorf("sse: load the default schema catalog: %w", err)
		}
		cfg.Schemas = reg
	}
	if cfg.RingSize <= 0 {
		cfg.RingSize = 1 << 16
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 15 * time.Second
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 3 * time.Second
	}
	if cfg.ResumeMargin <= 0 {
		cfg.ResumeMargin = 5 * time.Second
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 10000
	}
	if cfg.MaxConnsPerKey <= 0 {
		cfg.MaxConnsPerKey = 100
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.KeyCheckInterval <= 0 {
		cfg.KeyCheckInterval = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, m: m, perKey: map[string]int{}, closing: make(chan struct{}), ready: make(chan struct{})}
	if s.admin, err = kgo.NewClient(s.clientOpts()...); err != nil {
		return nil, fmt.Errorf("sse: %w", err)
	}
	return s, nil
}

func (s *Server) clientOpts() []kgo.Opt {
	return append([]kgo.Opt{kgo.SeedBrokers(s.cfg.Brokers...), kgo.FetchMaxWait(100 * time.Millisecond)}, s.cfg.ClientOptions...)
}

// Run reads the topics into the hub until ctx ends. Streams are served once
// Run has started (requests before get 503). While no broker answers at the
// start, Run logs and tries again (every 500 ms, backing off to 5 s) until
// ctx ends: a server started during a Kafka outage waits it out; later
// outages are ridden out by the client, which reconnects on its own.
func (s *Server) Run(ctx context.Context) error {
	var cl *kgo.Client
	for wait := 500 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		var err error
		if cl, err = s.startSource(ctx); err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		s.cfg.Logger.Warn("kbus: sse cannot list the topics' end offsets; retrying", "topics", s.cfg.Topics, "error", err, "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
	defer cl.Close()
	close(s.ready)
	s.cfg.Logger.Info("kbus: sse server reading", "topics", s.cfg.Topics)
	s.runSource(ctx, cl)
	return nil
}

// Ready is closed once Run has started reading Kafka and streams can be
// served; before, requests get 503. A server process should start
// listening only then, so that reconnecting browsers never meet a 503
// (EventSource gives up on any answer but 200).
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Shutdown ends every stream cleanly (a final comment, then the end of the
// response, so that clients reconnect, to another instance if there is one)
// and waits for the handlers, or for ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeMu.Do(func() { close(s.closing) })
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	defer s.admin.Close()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Handler returns the handler of GET /events/stream, authenticated.
func (s *Server) Handler() http.Handler {
	inner := s.cfg.Keys.Middleware(http.HandlerFunc(s.stream))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" &&
			(slices.Contains(s.cfg.AllowOrigins, origin) || slices.Contains(s.cfg.AllowOrigins, "*")) {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Add("Vary", "Origin")
		}
		select {
		case <-s.ready:
		default:
			httpError(w, http.StatusServiceUnavailable, "starting", "", "the stream is not ready yet; retry shortly")
			return
		}
		// EventSource cannot send headers: accept the key as a parameter.
		if tok := r.URL.Query().Get("access_token"); tok != "" && r.Header.Get("Authorization") == "" {
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		inner.ServeHTTP(w, r)
	})
}

// errorBody is the JSON error shape of kbus's HTTP APIs.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	} `json:"error"`
}

// httpError answers with the JSON error {"error":{"code","message","field"}},
// field left out when empty. encoding/json keeps the body valid JSON
// whatever bytes a message quotes from the request.
func httpError(w http.ResponseWriter, status int, code, field, msg string) {
	var b errorBody
	b.Error.Code, b.Error.Message, b.Error.Field = code, msg, field
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(b) // the client may be gone; nothing to do
}

func (s *Server) acquire(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns >= s.cfg.MaxConns || s.perKey[key] >= s.cfg.MaxConnsPerKey {
		return false
	}
	s.conns++
	s.perKey[key]++
	s.m.clients.Inc()
	return true
}

func (s *Server) release(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns--
	if s.perKey[key]--; s.perKey[key] == 0 {
		delete(s.perKey, key)
	}
	s.m.clients.Dec()
}

// client is one connected stream.
type client struct {
	p     apikey.Principal
	types []string
}

func (c client) wants(typ, tenant string) bool {
	return slices.Contains(c.types, typ) && (c.p.Admin || (tenant != "" && tenant == c.p.TenantID))
}

// Limits on a request's parameters; see [Server].
const (
	// MaxTypes is the most entries (duplicates and empty ones included) the
	// types parameter may list.
	MaxTypes = 1000
	// maxTypeLen is Kafka's longest topic name.
	maxTypeLen = 249
	// futureIDSlack is how far ahead of the server's clock the time of a
	// Last-Event-ID may be and still be used to resume.
	futureIDSlack = time.Hour
)

// parseTypes returns the distinct types of the types parameter v, or the
// error to answer with.
func (s *Server) parseTypes(v string) (types []string, code, msg string) {
	if strings.Count(v, ",") >= MaxTypes {
		return nil, "too_many_types", fmt.Sprintf("types lists more than %d entries", MaxTypes)
	}
	for t := range strings.SplitSeq(v, ",") {
		if t = strings.TrimSpace(t); t == "" || slices.Contains(types, t) {
			continue
		}
		if len(t) > maxTypeLen {
			return nil, "unknown_type", fmt.Sprintf("an event type is at most %d bytes long", maxTypeLen)
		}
		if !slices.Contains(s.cfg.Topics, t) {
			return nil, "unknown_type", fmt.Sprintf("unknown event type %q (known: %s)", t, strings.Join(s.cfg.Topics, ", "))
		}
		types = append(types, t)
	}
	if len(types) == 0 {
		return nil, "no_types", "types is required: a comma-separated list of event types"
	}
	return types, "", ""
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	p, _ := apikey.PrincipalFrom(r.Context())
	q := r.URL.Query()
	c := client{p: p}
	var code, msg string
	if c.types, code, msg = s.parseTypes(q.Get("types")); code != "" {
		httpError(w, http.StatusBadRequest, code, "types", msg)
		return
	}
	lastID, field := r.Header.Get("Last-Event-ID"), "Last-Event-ID"
	if lastID == "" {
		lastID, field = q.Get("last_event_id"), "last_event_id"
	}
	var from resumeFrom
	if lastID != "" {
		var err error
		if from, err = s.parseLastEventID(lastID); err != nil {
			// The value is not quoted back: it may be long or binary.
			httpError(w, http.StatusBadRequest, "invalid_last_event_id", field,
				field+" is not an event id of this stream (a kbus message id, msg_ followed by a ULID, optionally followed by '.' and a position)")
			return
		}
	}
	if !s.acquire(p.KeyID) {
		httpError(w, http.StatusTooManyRequests, "too_many_streams", "", "too many open streams for this key or server")
		return
	}
	defer s.release(p.KeyID)
	s.wg.Add(1)
	defer s.wg.Done()

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// The write deadline is moved forward at most every WriteTimeout/2 (a
	// syscall's worth of work per write otherwise): a write blocked for
	// longer than WriteTimeout still fails.
	var deadline time.Time
	write := func(b []byte) error {
		if now := time.Now(); deadline.Sub(now) < s.cfg.WriteTimeout/2 {
			deadline = now.Add(s.cfg.WriteTimeout)
			_ = rc.SetWriteDeadline(deadline)
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	// Register with the hub before replaying: what arrives meanwhile waits
	// in the ring, and the replay stops exactly where the ring begins.
	cursor, upto := s.hub.snapshot()
	if err := write(AppendRetry(nil, s.cfg.Retry)); err != nil {
		return
	}
	// floor holds the partitions (by layout index) where the client's
	// position is ahead of this server's hub (it was sent events by another
	// instance that had read further): events below it are not sent again.
	var floor map[int]int64
	if lastID != "" {
		if from.notice != "" {
			if err := write(AppendComment(nil, from.notice)); err != nil {
				return
			}
		}
		if from.pos != nil || !from.at.IsZero() {
			s.m.resumes.Inc()
			var err error
			if floor, err = s.replay(r.Context(), c, from, upto, write); err != nil {
				s.cfg.Logger.Warn("kbus: sse resume failed", "key_id", p.KeyID, "last_event_id", lastID, "error", err)
				_ = write(AppendComment(nil, "resume failed: "+err.Error()))
				return
			}
		}
	}

	heartbeat := time.NewTicker(s.cfg.Heartbeat)
	defer heartbeat.Stop()
	keyCheck := time.NewTicker(s.cfg.KeyCheckInterval)
	defer keyCheck.Stop()
	more := make(chan struct{}) // closed: the ring holds more than one batch
	close(more)
	var (
		evs    []hubEvent
		buf    []byte
		lost   bool
		notify <-chan struct{}
	)
	for {
		evs, cursor, notify, lost = s.hub.since(cursor, evs[:0], maxBatch)
		if lost {
			s.m.slow.Inc()
			_ = write(AppendComment(nil, "too slow: events were dropped for this stream; reconnect with Last-Event-ID"))
			return
		}
		// A stream holds at most maxBatch events and about maxWrite bytes at
		// a time, however far behind it is.
		buf = buf[:0]
		n := 0
		for i := range evs {
			e := &evs[i]
			if f, ok := floor[e.part]; ok {
				if e.offset < f {
					e = nil // sent before the resume
				} else {
					delete(floor, e.part) // the hub has caught up with the client
				}
			}
			if e != nil && c.wants(e.typ, e.tenant) {
				if len(floor) > 0 {
					buf = s.appendRaised(buf, e, floor)
				} else {
					buf = append(buf, e.frame...)
				}
				n++
			}
			if n > 0 && (len(buf) >= maxWrite || i == len(evs)-1) {
				if err := write(buf); err != nil {
					return
				}
				s.m.sent.Add(float64(n))
				buf, n = buf[:0], 0
			}
		}
		if len(evs) == maxBatch {
			notify = more
		}
		select {
		case <-notify:
		case <-heartbeat.C:
			if err := write(AppendComment(nil, "heartbeat")); err != nil {
				return
			}
		case <-keyCheck.C:
			if s.revoked(r, p) {
				_ = write(AppendComment(nil, "API key revoked"))
				return
			}
		case <-r.Context().Done():
			return
		case <-s.closing:
			_ = write(AppendComment(nil, "server shutting down; reconnect"))
			return
		}
	}
}

// Bounds of one stream's pending work: events taken from the hub at a time,
// and bytes gathered before a write.
const (
	maxBatch = 256
	maxWrite = 64 << 10
)

// revoked checks the key of r (whose principal is p) again and reports
// whether it no longer authenticates. A key that cannot be checked (the
// database is down) counts as valid: an outage must not end every stream.
func (s *Server) revoked(r *http.Request, p apikey.Principal) bool {
	_, key, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	_, err := s.cfg.Keys.Authenticate(r.Context(), strings.TrimSpace(key))
	switch {
	case errors.Is(err, apikey.ErrRevoked) || errors.Is(err, apikey.ErrInvalidKey):
		s.cfg.Logger.Info("kbus: sse stream ended: its API key no longer authenticates", "key_id", p.KeyID, "error", err)
		return true
	case err != nil && r.Context().Err() == nil:
		s.cfg.Logger.Warn("kbus: sse cannot check an API key again; the stream stays open", "key_id", p.KeyID, "error", err)
	}
	return false
}

// resumeFrom is where a stream resumes: from a position (pos, one offset
// per partition of the layout), or by time (at, replaying only message ids
// above after). notice, if not empty, is a comment for the client.
type resumeFrom struct {
	pos    []int64
	at     time.Time
	after  string
	notice string
}

// parseLastEventID returns where a stream with Last-Event-ID v resumes, or
// an error if v is not an event id of this stream. A position of this
// server's layout resumes exactly there; a bare message id or a position of
// another layout (other topics, partitions added) resumes by time, best
// effort; a message id more than an hour ahead of the clock is ignored.
func (s *Server) parseLastEventID(v string) (resumeFrom, error) {
	msgID, cursor, hasCursor := strings.Cut(v, string(idSep))
	t, err := envelope.MessageIDTime(msgID)
	if err != nil {
		return resumeFrom{}, err
	}
	var notice string
	if hasCursor {
		pos, err := s.layout.parseCursor(cursor)
		if err == nil {
			return resumeFrom{pos: pos}, nil
		}
		if !errors.Is(err, errOtherLayout) {
			return resumeFrom{}, err
		}
		notice = "Last-Event-ID is a position in another topic layout: resuming by time, best effort (events may be missed)"
	} else {
		notice = "Last-Event-ID is a bare message id: resuming by time, best effort (events may be missed)"
	}
	if t.After(time.Now().Add(futureIDSlack)) {
		// No event can have this id yet: the client's id is forged or
		// corrupt, and resuming from it would replay nothing.
		return resumeFrom{notice: "Last-Event-ID is in the future: ignored, streaming from now"}, nil
	}
	return resumeFrom{at: t, after: msgID, notice: notice}, nil
}

// appendRaised appends e with the position in its id raised to floor on
// the partitions floor holds (see stream).
func (s *Server) appendRaised(buf []byte, e *hubEvent, floor map[int]int64) []byte {
	line := string(e.frame[e.idStart+len("id: ") : e.idEnd-1])
	msgID, cursor, _ := strings.Cut(line, string(idSep))
	pos, err := s.layout.parseCursor(cursor)
	if err != nil { // cannot happen: the hub wrote it
		return append(buf, e.frame...)
	}
	for j, f := range floor {
		pos[j] = max(pos[j], f)
	}
	buf = append(buf, e.frame[:e.idStart]...)
	buf = append(buf, "id: "...)
	buf = s.layout.appendID(buf, msgID, pos)
	buf = append(buf, '\n')
	return append(buf, e.frame[e.idEnd:]...)
}

// replay writes the client's events from Kafka, from where from says up to
// the offsets the hub had reached when the client registered (upto), each
// with its position: the client's (or, by time, the snapshot's) with the
// partitions read advanced. It returns the partitions where the client's
// position is ahead of upto (see stream).
func (s *Server) replay(ctx context.Context, c client, from resumeFrom, upto map[tp]int64, write func([]byte) error) (floor map[int]int64, err error) {
	l := s.layout
	adm := kadm.NewClient(s.admin)
	starts, err := listOffsets(ctx, func(ctx context.Context) (kadm.ListedOffsets, error) {
		return adm.ListStartOffsets(ctx, c.types...)
	})
	if err != nil {
		return nil, err
	}
	pos := make([]int64, len(l.parts)) // the position of the next event written
	first := map[int]int64{}           // the partitions to read, from these offsets
	missed := false
	if from.pos != nil {
		copy(pos, from.pos)
		floor = map[int]int64{}
		for j, p := range l.parts {
			if !slices.Contains(c.types, p.topic) {
				continue
			}
			if st, ok := starts.Lookup(p.topic, p.partition); ok && pos[j] < st.Offset {
				missed = true // retention removed records the client had not been sent
				pos[j] = st.Offset
			}
			switch end := upto[p]; {
			case pos[j] < end:
				first[j] = pos[j]
			case pos[j] > end:
				floor[j] = pos[j]
			}
		}
	} else {
		for j, p := range l.parts {
			pos[j] = upto[p]
		}
		times, err := listOffsets(ctx, func(ctx context.Context) (kadm.ListedOffsets, error) {
			return adm.ListOffsetsAfterMilli(ctx, from.at.Add(-s.cfg.ResumeMargin).UnixMilli(), c.types...)
		})
		if err != nil {
			return nil, err
		}
		times.Each(func(o kadm.ListedOffset) {
			j, ok := l.index[tp{o.Topic, o.Partition}]
			if !ok {
				return
			}
			off := o.Offset
			if st, ok := starts.Lookup(o.Topic, o.Partition); ok && off <= st.Offset && st.Offset > 0 {
				missed = true // the time asked for is older than what the topic retains
			}
			if off >= 0 && off < upto[l.parts[j]] {
				first[j], pos[j] = off, off
			}
		})
	}
	if missed {
		if err := write(AppendComment(nil, "resuming from the oldest retained event: events before it may have been missed")); err != nil {
			return nil, err
		}
	}
	if len(first) == 0 {
		return floor, nil
	}
	parts := map[string]map[int32]kgo.Offset{}
	pending := map[int]int64{} // partition index -> offset to read up to
	for j, off := range first {
		p := l.parts[j]
		if parts[p.topic] == nil {
			parts[p.topic] = map[int32]kgo.Offset{}
		}
		parts[p.topic][p.partition] = kgo.NewOffset().At(off)
		pending[j] = upto[p]
	}
	cl, err := kgo.NewClient(append(s.clientOpts(), kgo.ConsumePartitions(parts))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var buf []byte
	n := 0
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		if err := write(buf); err != nil {
			return err
		}
		s.m.sent.Add(float64(n))
		buf, n = buf[:0], 0
		return nil
	}
	for len(pending) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := fetches.Err0(); err != nil {
			return nil, err
		}
		var werr error
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			j, ok := l.index[tp{p.Topic, p.Partition}]
			end, ok2 := pending[j]
			if !ok || !ok2 || werr != nil {
				return
			}
			for _, r := range p.Records {
				if r.Offset >= end {
					break
				}
				pos[j] = r.Offset + 1
				if e, ok := s.toEvent(r, l, pos); ok && c.wants(e.typ, e.tenant) && (from.after == "" || e.id > from.after) {
					buf = append(buf, e.frame...)
					n++
					if len(buf) >= maxWrite {
						if werr = flush(); werr != nil {
							return
						}
					}
				}
				if r.Offset+1 >= end {
					delete(pending, j)
					cl.RemoveConsumePartitions(map[string][]int32{p.Topic: {p.Partition}})
				}
			}
		})
		if werr == nil {
			werr = flush()
		}
		if werr != nil {
			return nil, werr
		}
	}
	return floor, nil
}

// resumeListWait bounds how long a resume retries listing offsets while a
// partition has no reachable leader (a broker died and leadership is
// moving): a resume rides out a failover of a few seconds instead of
// failing the request, which would only make the client reconnect.
const resumeListWait = 15 * time.Second

// listOffsets runs list until it answers for every partition without error,
// retrying with backoff for up to resumeListWait, or until ctx ends.
func listOffsets(ctx context.Context, list func(context.Context) (kadm.ListedOffsets, error)) (kadm.ListedOffsets, error) {
	deadline := time.Now().Add(resumeListWait)
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		offs, err := list(ctx)
		if err == nil {
			err = offs.Error()
		}
		if err == nil || ctx.Err() != nil || time.Now().Add(wait).After(deadline) {
			return offs, err
		}
		select {
		case <-ctx.Done():
			return offs, ctx.Err()
		case <-time.After(wait):
		}
	}
}
