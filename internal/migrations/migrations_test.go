package migrations_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kbus-dev/kbus/internal/migrations"
	"github.com/kbus-dev/kbus/kbustest"
)

// Every migration lands in the schema asked for, none in the default one
// (tern resets the session between migrations), and applying twice is a
// no-op.
func TestApplyPutsEveryMigrationInTheSchema(t *testing.T) {
	ctx := context.Background()
	db := kbustest.DB(t) // applies the migrations to db.Schema
	latest, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}
	var version int
	if err := db.Pool.QueryRow(ctx, "SELECT version FROM "+migrations.VersionTable).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != latest {
		t.Fatalf("version %d, want %d", version, latest)
	}
	for _, table := range []string{"processed_events", "api_keys", "webhook_endpoints", "webhook_deliveries", "webhook_attempts"} {
		var schema string
		err := db.Pool.QueryRow(ctx, `SELECT table_schema FROM information_schema.tables WHERE table_name = $1 AND table_schema = $2`,
			table, db.Schema).Scan(&schema)
		if err != nil {
			t.Errorf("table %s not in schema %s: %v", table, db.Schema, err)
		}
	}
	conn, err := pgx.Connect(ctx, kbustest.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := migrations.Apply(ctx, conn, db.Schema); err != nil {
		t.Fatalf("second Apply: %v", err)
	}
}
