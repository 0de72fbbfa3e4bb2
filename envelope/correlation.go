package envelope

import (
	"context"
	"net/http"
)

// CorrelationHeader is the HTTP header that carries a correlation id into
// and out of a service; see CorrelationMiddleware.
const CorrelationHeader = "X-Correlation-ID"

// MaxCorrelationIDLen is the longest correlation id, in bytes, that
// CorrelationMiddleware accepts from a request.
const MaxCorrelationIDLen = 128

// correlationKey is the context key for the correlation id. Being an
// unexported type, it cannot collide with keys of other packages.
type correlationKey struct{}

// WithCorrelationID returns a copy of ctx that carries the correlation id
// id. New copies it into Metadata.CorrelationID.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, correlationKey{}, id)
}

// CorrelationID returns the correlation id carried by ctx, or "" if there
// is none (including when ctx is nil).
func CorrelationID(ctx context.Context) string {
	if ctx == nil {
		return ""
	}
	id, _ := ctx.Value(correlationKey{}).(string)
	return id
}

// ValidCorrelationID reports whether id is acceptable from an untrusted
// source: 1 to MaxCorrelationIDLen bytes of printable ASCII (space through
// tilde). Such an id is safe to log and to echo in an HTTP header.
func ValidCorrelationID(id string) bool {
	if id == "" || len(id) > MaxCorrelationIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// CorrelationMiddleware returns an HTTP handler that makes sure every
// request carries a correlation id, then calls next.
//
// The id is the request's CorrelationHeader if it is valid (see
// ValidCorrelationID); otherwise one already in the request context (from
// an outer middleware), if valid; otherwise a new one from
// NewCorrelationID. An invalid incoming id is replaced, not rejected. The id
// is stored in the request context, where CorrelationID and New find it,
// and set in the response's CorrelationHeader before next runs. The
// request's own headers are not modified.
//
// The returned handler is safe for concurrent use if next is.
func CorrelationMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(CorrelationHeader)
		if !ValidCorrelationID(id) {
			id = CorrelationID(r.Context())
			if !ValidCorrelationID(id) {
				id = NewCorrelationID()
			}
		}
		w.Header().Set(CorrelationHeader, id)
		next.ServeHTTP(w, r.WithContext(WithCorrelationID(r.Context(), id)))
	})
}
