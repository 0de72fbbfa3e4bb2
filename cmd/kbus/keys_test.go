package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kbus-dev/kbus/apikey"
	"github.com/kbus-dev/kbus/kbustest"
)

// dbCLI runs the CLI against the test's database and fails the test when the
// command fails.
func dbCLI(t *testing.T, db *kbustest.Database, args ...string) cliResult {
	t.Helper()
	r := execCLI(t, append([]string{"--database-url", db.URL}, args...)...)
	if r.err != nil {
		t.Fatalf("kbus %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r
}

func TestKeysCreateListRevoke(t *testing.T) {
	ctx := context.Background()
	db := kbustest.DB(t)
	store := apikey.NewStore(db.Pool)

	// A tenant key, as JSON.
	r := dbCLI(t, db, "keys", "create", "--tenant", "merch_abc", "--name", "checkout", "-o", "json")
	var tk createdKey
	decodeJSON(t, r.stdout, &tk)
	if tk.TenantID != "merch_abc" || tk.Admin || !strings.HasPrefix(tk.Key, apikey.Prefix+tk.ID+"_") {
		t.Fatalf("keys create = %+v", tk)
	}
	if !strings.Contains(r.stderr, "only once") {
		t.Errorf("stderr %q should say the key is shown once", r.stderr)
	}
	p, err := store.Authenticate(ctx, tk.Key)
	if err != nil || p.TenantID != "merch_abc" || p.Admin || p.KeyID != tk.ID {
		t.Fatalf("the created key authenticates as %+v, %v", p, err)
	}

	// An admin key, as a table.
	r = dbCLI(t, db, "keys", "create", "--admin", "--name", "ops")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "ID TENANT KEY" {
		t.Fatalf("table output:\n%s", r.stdout)
	}
	fields := strings.Fields(lines[1])
	if len(fields) != 3 || fields[1] != "(admin)" {
		t.Fatalf("table row %q", lines[1])
	}
	p, err = store.Authenticate(ctx, fields[2])
	if err != nil || !p.Admin || p.KeyID != fields[0] {
		t.Fatalf("the admin key authenticates as %+v, %v", p, err)
	}
	if !strings.Contains(r.stderr, "only once") || strings.Contains(r.stderr, fields[2]) {
		t.Errorf("stderr %q: want the note, not the key", r.stderr)
	}

	// A second tenant.
	r = dbCLI(t, db, "keys", "create", "--tenant", "merch_xyz", "-o", "json")
	var xk createdKey
	decodeJSON(t, r.stdout, &xk)

	// List everything, then one tenant; secrets never appear.
	r = dbCLI(t, db, "keys", "list", "-o", "json")
	var all []apikey.Key
	decodeJSON(t, r.stdout, &all)
	if len(all) != 3 || all[0].ID != tk.ID || all[1].ID != fields[0] || all[2].ID != xk.ID {
		t.Fatalf("keys list = %+v", all)
	}
	if all[0].Name != "checkout" || all[1].Name != "ops" || !all[1].Admin || all[1].TenantID != "" || all[0].RevokedAt != nil {
		t.Errorf("keys list = %+v", all)
	}
	for _, secret := range []string{tk.Key, fields[2], xk.Key} {
		s := secret[len(secret)-43:]
		if strings.Contains(r.stdout, s) {
			t.Errorf("keys list shows a secret:\n%s", r.stdout)
		}
	}
	r = dbCLI(t, db, "keys", "list", "--tenant", "merch_abc", "-o", "json")
	var one []apikey.Key
	decodeJSON(t, r.stdout, &one)
	if len(one) != 1 || one[0].ID != tk.ID {
		t.Errorf("keys list --tenant merch_abc = %+v", one)
	}
	r = dbCLI(t, db, "keys", "list", "--tenant", "merch_none", "-o", "json")
	if strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("empty list prints %q, want []", r.stdout)
	}
	r = dbCLI(t, db, "keys", "list")
	if !strings.HasPrefix(r.stdout, "ID") || !strings.Contains(r.stdout, tk.ID) || strings.Contains(r.stdout, tk.Key[len(tk.Key)-43:]) {
		t.Errorf("keys list table:\n%s", r.stdout)
	}

	// Revoke the tenant key.
	r = dbCLI(t, db, "keys", "revoke", tk.ID, "-o", "json")
	var rv revokedKey
	decodeJSON(t, r.stdout, &rv)
	if rv.ID != tk.ID || !rv.Revoked {
		t.Errorf("keys revoke = %+v", rv)
	}
	if _, err := store.Authenticate(ctx, tk.Key); !errors.Is(err, apikey.ErrRevoked) {
		t.Errorf("after revoke: %v, want ErrRevoked", err)
	}
	r = dbCLI(t, db, "keys", "list", "--tenant", "merch_abc", "-o", "json")
	decodeJSON(t, r.stdout, &one)
	if len(one) != 1 || one[0].RevokedAt == nil || time.Since(*one[0].RevokedAt) > time.Hour {
		t.Errorf("revoked key listed as %+v", one)
	}
	r = dbCLI(t, db, "keys", "list")
	if !strings.Contains(r.stdout, one[0].RevokedAt.UTC().Format(time.RFC3339)) {
		t.Errorf("keys list table does not show the revocation:\n%s", r.stdout)
	}
	r = dbCLI(t, db, "keys", "revoke", tk.ID)
	if !strings.Contains(r.stdout, tk.ID+" revoked") {
		t.Errorf("keys revoke (table) printed %q", r.stdout)
	}

	// The admin key still works.
	if _, err := store.Authenticate(ctx, fields[2]); err != nil {
		t.Errorf("admin key after revoking another: %v", err)
	}
}

func TestKeysErrors(t *testing.T) {
	db := kbustest.DB(t)
	for _, c := range []struct {
		want string
		args []string
	}{
		{"exactly one of --tenant and --admin", []string{"keys", "create"}},
		{"none of the others can be", []string{"keys", "create", "--tenant", "m", "--admin"}},
		{"invalid argument", []string{"keys", "create", "--tenant", "merch abc"}},
		{"no such API key", []string{"keys", "revoke", "01jf3kq9x8e5m2v7c4n6t0b1ar"}},
		{"accepts 1 arg", []string{"keys", "revoke"}},
	} {
		r := execCLI(t, append([]string{"--database-url", db.URL}, c.args...)...)
		if r.err == nil || !strings.Contains(r.err.Error(), c.want) {
			t.Errorf("kbus %s: error %v, want one containing %q", strings.Join(c.args, " "), r.err, c.want)
		}
	}
	var n int
	if err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM api_keys`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d keys after failed commands (%v)", n, err)
	}

	r := execCLI(t, "keys", "list", "--database-url", "postgres://kbus:secret@127.0.0.1:1/kbus?sslmode=disable&connect_timeout=5")
	if r.err == nil || !strings.Contains(r.err.Error(), "127.0.0.1:1/kbus") || strings.Contains(r.err.Error(), "secret") {
		t.Errorf("unreachable database: %v", r.err)
	}
	r = execCLI(t, "keys", "list", "--database-url", "::not a url")
	if r.err == nil || !strings.Contains(r.err.Error(), "--database-url") {
		t.Errorf("bad URL: %v", r.err)
	}
}

// TestKeysMigrates runs keys list against an empty schema: the command
// creates kbus's tables first.
func TestKeysMigrates(t *testing.T) {
	db := kbustest.DB(t)
	ctx := context.Background()
	schema := db.Schema + "_k"
	if _, err := db.Pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = db.Pool.Exec(context.Background(), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	})
	url := strings.Replace(db.URL, "search_path="+db.Schema, "search_path="+schema, 1)
	r := execCLI(t, "keys", "list", "--database-url", url, "-o", "json")
	if r.err != nil || strings.TrimSpace(r.stdout) != "[]" {
		t.Fatalf("keys list on an empty schema: %v, %q", r.err, r.stdout)
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'api_keys'`, schema).Scan(&n); err != nil || n != 1 {
		t.Errorf("api_keys not created in %s (%d, %v)", schema, n, err)
	}
}
