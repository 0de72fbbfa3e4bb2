package apikey

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// Middleware returns a handler that authenticates every request with the
// key in its "Authorization: Bearer <key>" header (the scheme is matched
// without regard to case) and then calls next with the [Principal] in the
// request context, where [PrincipalFrom] finds it.
//
// A request without the header, with another scheme or several
// Authorization headers, or with a key that [Store.Authenticate] refuses
// (malformed, unknown, wrong secret, revoked) is answered with 401
// Unauthorized, a "WWW-Authenticate: Bearer" header (with
// error="invalid_token" when a key was sent, as RFC 6750 asks) and the JSON
// body
//
//	{"error":{"code":"unauthorized","message":"invalid API key"}}
//
// and next is not called. When the key cannot be checked (the database
// fails, or the request's context ends) the answer is 500 with code
// "internal", and the error is logged with the [Logger] option's logger.
// Error responses carry "Cache-Control: no-store".
//
// Middleware decides who is calling, not what they may do: handlers check
// [Principal.CanSee] against the tenant of what they touch.
//
// The returned handler is safe for concurrent use if next is.
func (s *Store) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, msg := bearer(r)
		if msg != "" {
			w.Header().Set("WWW-Authenticate", "Bearer")
			writeError(w, http.StatusUnauthorized, "unauthorized", msg)
			return
		}
		p, err := s.Authenticate(r.Context(), key)
		switch {
		case errors.Is(err, ErrRevoked):
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="revoked"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "API key revoked")
			return
		case errors.Is(err, ErrInvalidKey):
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "invalid API key")
			return
		case err != nil:
			s.cfg.logger.ErrorContext(r.Context(), "kbus: cannot check an API key",
				"error", err, "method", r.Method, "path", r.URL.Path)
			writeError(w, http.StatusInternalServerError, "internal", "could not check the API key; try again")
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// bearer returns the key of r's Authorization header, or a message saying
// why there is none.
func bearer(r *http.Request) (key, msg string) {
	const want = `send "Authorization: Bearer <key>"`
	vals := r.Header.Values("Authorization")
	switch {
	case len(vals) == 0 || strings.TrimSpace(vals[0]) == "":
		return "", "missing API key: " + want
	case len(vals) > 1:
		return "", "several Authorization headers: " + want
	}
	scheme, key, _ := strings.Cut(strings.TrimSpace(vals[0]), " ")
	key = strings.TrimSpace(key)
	if !strings.EqualFold(scheme, "Bearer") || key == "" {
		return "", "malformed Authorization header: " + want
	}
	return key, ""
}

// errorBody is the JSON error shape of kbus's HTTP APIs.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	var b errorBody
	b.Error.Code, b.Error.Message = code, msg
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(b) // the client may be gone; nothing to do
}
