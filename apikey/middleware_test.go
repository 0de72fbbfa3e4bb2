package apikey_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kbus-dev/kbus/apikey"
)

// whoami answers with the principal the middleware stored and whether it
// may see the tenant named by ?tenant=.
func whoami(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := apikey.PrincipalFrom(r.Context())
		if !ok {
			t.Error("handler called without a principal")
			w.WriteHeader(http.StatusTeapot)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"key_id": p.KeyID, "tenant_id": p.TenantID, "admin": p.Admin,
			"can_see": p.CanSee(r.URL.Query().Get("tenant")),
		})
	})
}

type errResp struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func TestMiddlewareRejects(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	k, key, err := s.Create(ctx, "merch_abc", "", false)
	if err != nil {
		t.Fatal(err)
	}
	_, revoked, err := s.Create(ctx, "merch_abc", "", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(ctx, revoked[len(apikey.Prefix):len(apikey.Prefix)+26]); err != nil {
		t.Fatal(err)
	}
	_, other, _ := s.Create(ctx, "merch_abc", "", false)
	wrong := apikey.Prefix + k.ID + other[len(apikey.Prefix)+26:]

	h := s.Middleware(whoami(t))
	for name, auth := range map[string][]string{
		"missing":        nil,
		"empty":          {""},
		"basic":          {"Basic dXNlcjpwYXNz"},
		"no scheme":      {key},
		"bearer no key":  {"Bearer"},
		"bearer blank":   {"Bearer   "},
		"malformed key":  {"Bearer kbus_nope"},
		"no prefix":      {"Bearer " + key[len(apikey.Prefix):]},
		"wrong secret":   {"Bearer " + wrong},
		"unknown id":     {"Bearer " + apikey.Prefix + "01jf3kq9x8e5m2v7c4n6t0b1ar" + key[len(apikey.Prefix)+26:]},
		"revoked":        {"Bearer " + revoked},
		"two headers":    {"Bearer " + key, "Bearer " + key},
		"key then junk":  {"Bearer " + key + " extra"},
		"token68 commas": {"Bearer " + key + ","},
	} {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v1/webhooks?tenant=merch_abc", nil)
			for _, v := range auth {
				r.Header.Add("Authorization", v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401; body %s", w.Code, w.Body)
			}
			if got := w.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("WWW-Authenticate = %q, want Bearer", got)
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
			var e errResp
			dec := json.NewDecoder(w.Body)
			dec.DisallowUnknownFields()
			if err := dec.Decode(&e); err != nil {
				t.Fatalf("body is not the JSON error: %v", err)
			}
			if e.Error.Code != "unauthorized" || e.Error.Message == "" {
				t.Errorf("error = %+v", e.Error)
			}
			if strings.Contains(w.Body.String(), key) || (len(auth) > 0 && len(auth[0]) > 20 && strings.Contains(w.Body.String(), auth[0][7:])) {
				t.Errorf("the body echoes the key: %s", w.Body)
			}
			if name == "revoked" && !strings.Contains(e.Error.Message, "revoked") {
				t.Errorf("revoked key: message %q", e.Error.Message)
			}
		})
	}
}

func TestMiddlewarePrincipal(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	tk, tkey, err := s.Create(ctx, "merch_abc", "", false)
	if err != nil {
		t.Fatal(err)
	}
	ak, akey, err := s.Create(ctx, "", "ops", true)
	if err != nil {
		t.Fatal(err)
	}
	h := s.Middleware(whoami(t))
	for _, c := range []struct {
		auth, tenant string
		wantKey      string
		wantTenant   string
		admin, see   bool
	}{
		{"Bearer " + tkey, "merch_abc", tk.ID, "merch_abc", false, true},
		{"bearer " + tkey, "merch_xyz", tk.ID, "merch_abc", false, false},
		{"BEARER  " + tkey + " ", "", tk.ID, "merch_abc", false, false},
		{"Bearer " + akey, "merch_abc", ak.ID, "", true, true},
		{"Bearer " + akey, "merch_xyz", ak.ID, "", true, true},
		{"Bearer " + akey, "", ak.ID, "", true, true},
	} {
		r := httptest.NewRequest("GET", "/v1/webhooks?tenant="+c.tenant, nil)
		r.Header.Set("Authorization", c.auth)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("%q: status %d, body %s", c.auth[:12], w.Code, w.Body)
		}
		var got struct {
			KeyID    string `json:"key_id"`
			TenantID string `json:"tenant_id"`
			Admin    bool   `json:"admin"`
			CanSee   bool   `json:"can_see"`
		}
		if err := json.NewDecoder(w.Body).Decode(&got); err != nil {
			t.Fatal(err)
		}
		if got.KeyID != c.wantKey || got.TenantID != c.wantTenant || got.Admin != c.admin || got.CanSee != c.see {
			t.Errorf("key %s, tenant %q: principal %+v, want key %s tenant %q admin %v can_see %v",
				c.wantKey, c.tenant, got, c.wantKey, c.wantTenant, c.admin, c.see)
		}
	}
}

func TestMiddlewareDatabaseDown(t *testing.T) {
	s, db := newStore(t)
	_, key, err := s.Create(context.Background(), "merch_abc", "", false)
	if err != nil {
		t.Fatal(err)
	}
	db.Pool.Close() // the database goes away
	h := s.Middleware(whoami(t))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+key)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var e errResp
	if err := json.NewDecoder(w.Body).Decode(&e); err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusInternalServerError || e.Error.Code != "internal" {
		t.Errorf("status %d, error %+v; want 500 internal", w.Code, e.Error)
	}
}

func TestPrincipalContext(t *testing.T) {
	if _, ok := apikey.PrincipalFrom(context.Background()); ok {
		t.Error("PrincipalFrom(Background) found one")
	}
	//lint:ignore SA1012 PrincipalFrom documents nil as allowed
	if _, ok := apikey.PrincipalFrom(nil); ok {
		t.Error("PrincipalFrom(nil) found one")
	}
	want := apikey.Principal{KeyID: "k", TenantID: "merch_abc"}
	got, ok := apikey.PrincipalFrom(apikey.WithPrincipal(context.Background(), want))
	if !ok || got != want {
		t.Errorf("round trip: %+v, %v", got, ok)
	}
}
