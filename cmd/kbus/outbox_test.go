package main

import (
	"context"
	"strings"
	"testing"

	"github.com/kbus-dev/kbus/kbustest"
	"github.com/kbus-dev/kbus/producer/outbox"
)

func TestOutboxStatus(t *testing.T) {
	db := kbustest.DB(t)
	var empty outbox.Status
	decodeJSON(t, dbCLI(t, db, "outbox", "status", "-o", "json").stdout, &empty)
	if empty.Pending != 0 || len(empty.Failing) != 0 {
		t.Fatalf("empty outbox: %+v", empty)
	}

	// Two waiting rows, one of which failed (as the relay records it).
	if _, err := db.Pool.Exec(context.Background(), `INSERT INTO kbus_outbox (message_id, topic, record_key, envelope, attempts, last_error)
		VALUES ('msg_a', 'payment.completed', 'pay_1', '{}', 3, 'UNKNOWN_TOPIC_OR_PARTITION'), ('msg_b', 'payment.completed', 'pay_2', '{}', 0, NULL)`); err != nil {
		t.Fatal(err)
	}
	var st outbox.Status
	decodeJSON(t, dbCLI(t, db, "outbox", "status", "-o", "json").stdout, &st)
	if st.Pending != 2 || len(st.Failing) != 1 || st.Failing[0].MessageID != "msg_a" || st.Failing[0].Attempts != 3 {
		t.Fatalf("status = %+v", st)
	}
	out := dbCLI(t, db, "outbox", "status").stdout
	if !strings.Contains(out, "pending: 2") || !strings.Contains(out, "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Errorf("table output:\n%s", out)
	}
	r := execCLI(t, "--database-url", db.URL, "outbox", "status", "--max-age", "1ns")
	if r.err == nil || !strings.Contains(r.err.Error(), "is the relay running?") {
		t.Errorf("--max-age 1ns: err = %v", r.err)
	}
}

func TestPrune(t *testing.T) {
	db := kbustest.DB(t)
	if _, err := db.Pool.Exec(context.Background(), `INSERT INTO processed_events (consumer_group, message_id, topic, "partition", "offset", processed_at)
		VALUES ('order-service', 'msg_old', 't', 0, 1, now() - interval '31 days'), ('order-service', 'msg_new', 't', 0, 2, now())`); err != nil {
		t.Fatal(err)
	}
	var res pruned
	decodeJSON(t, dbCLI(t, db, "prune", "--group", "order-service", "--older-than", "720h", "-o", "json").stdout, &res)
	if res.Deleted != 1 {
		t.Errorf("prune = %+v, want 1 deleted", res)
	}
	if r := execCLI(t, "--database-url", db.URL, "prune", "--group", "order-service"); r.err == nil {
		t.Error("prune without --older-than: no error")
	}
}
