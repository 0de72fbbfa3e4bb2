package main

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kbus-dev/kbus/internal/migrations"
	"github.com/kbus-dev/kbus/kbustest"
)

func TestMigrate(t *testing.T) {
	db := kbustest.DB(t)
	// An empty schema of the test's own, so that migrate has work to do.
	ctx := context.Background()
	schema := db.Schema + "_m"
	if _, err := db.Pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = db.Pool.Exec(context.Background(), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	})
	url := strings.Replace(db.URL, "search_path="+db.Schema, "search_path="+schema, 1)
	latest, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}

	r := execCLI(t, "migrate", "--database-url", url)
	if r.err != nil {
		t.Fatalf("migrate: %v", r.err)
	}
	if want := "schema version " + strconv.Itoa(latest); !strings.Contains(r.stdout, want) {
		t.Errorf("migrate printed %q, want %q", r.stdout, want)
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'processed_events'`, schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("migrate did not create processed_events in %s", schema)
	}

	// Again: nothing to do, same version, as JSON.
	r = execCLI(t, "migrate", "--database-url", url, "-o", "json")
	if r.err != nil {
		t.Fatalf("second migrate: %v", r.err)
	}
	var res migrateResult
	decodeJSON(t, r.stdout, &res)
	if res.SchemaVersion != latest || res.Database == "" || strings.Contains(res.Database, "postgres://") {
		t.Errorf("migrate -o json = %+v, want schema version %d and host:port/db", res, latest)
	}
}

func TestMigrateUnreachable(t *testing.T) {
	r := execCLI(t, "migrate", "--database-url", "postgres://kbus:secret@127.0.0.1:1/kbus?sslmode=disable&connect_timeout=5")
	if r.err == nil {
		t.Fatal("migrate against nothing succeeded")
	}
	if msg := r.err.Error(); !strings.Contains(msg, "127.0.0.1:1/kbus") || strings.Contains(msg, "secret") {
		t.Errorf("error %q should name the database without the password", msg)
	}
	r = execCLI(t, "migrate", "--database-url", "::not a url")
	if r.err == nil || !strings.Contains(r.err.Error(), "--database-url") {
		t.Errorf("bad URL: err %v, want one naming --database-url", r.err)
	}
}
