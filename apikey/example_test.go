package apikey_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kbus-dev/kbus/apikey"
)

// A service guards its API with tenant keys. (Compiled, not run: it needs a
// database; the tests in this package run the same calls.)
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://postgres@127.0.0.1:5432/kbus?sslmode=disable")
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	keys := apikey.NewStore(pool)

	// Once, for the merchant: the key string is shown now and never again.
	k, secret, err := keys.Create(ctx, "merch_abc", "checkout", false)
	if err != nil {
		panic(err)
	}
	fmt.Println("give the merchant", secret, "; revoke it with kbus keys revoke", k.ID)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/merchants/{tenant}/webhooks", func(w http.ResponseWriter, r *http.Request) {
		p, _ := apikey.PrincipalFrom(r.Context()) // always there behind Middleware
		if !p.CanSee(r.PathValue("tenant")) {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "[]")
	})
	_ = http.ListenAndServe("127.0.0.1:8080", keys.Middleware(mux))
}

func ExampleStore_Authenticate() {
	var keys *apikey.Store // apikey.NewStore(pool)
	check := func(ctx context.Context, key string) {
		p, err := keys.Authenticate(ctx, key)
		switch {
		case errors.Is(err, apikey.ErrInvalidKey), errors.Is(err, apikey.ErrRevoked):
			fmt.Println("401:", err)
		case err != nil:
			fmt.Println("500: cannot check keys now:", err)
		default:
			fmt.Println("tenant", p.TenantID, "admin", p.Admin)
		}
	}
	_ = check
}
