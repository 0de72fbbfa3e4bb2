package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSchemasCheck(t *testing.T) {
	for _, mode := range []string{"backward", "forward", "full"} {
		r := execCLI(t, "schemas", "check", "--mode", mode, "-o", "json")
		if r.err != nil {
			t.Fatalf("the shipped catalog under %s: %v\n%s", mode, r.err, r.stdout)
		}
		var res struct {
			Types    map[string][]string
			Problems []any
		}
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || len(res.Types["payment.completed"]) < 2 || len(res.Problems) != 0 {
			t.Fatalf("%s: %+v (%v)", mode, res, err)
		}
	}
	// A breaking catalog: a changed type and a new required field fail
	// the default (backward) mode, naming the fields.
	r := execCLI(t, "schemas", "check", "--dir", "../../schemas/testdata/breaking")
	if r.err == nil || !strings.Contains(r.stdout, `changed.type 1.1 reading 1.0: field "amount"`) ||
		!strings.Contains(r.stdout, `added.required 1.1 reading 1.0: field "merchant_id"`) {
		t.Fatalf("breaking catalog: err %v\n%s", r.err, r.stdout)
	}
	// A removed required field breaks forward compatibility.
	r = execCLI(t, "schemas", "check", "--dir", "../../schemas/testdata/breaking", "--mode", "forward")
	if r.err == nil || !strings.Contains(r.stdout, "removed.field") || !strings.Contains(r.stdout, `"amount"`) {
		t.Fatalf("forward: err %v\n%s", r.err, r.stdout)
	}
	if r := execCLI(t, "schemas", "check", "--mode", "sideways"); r.err == nil {
		t.Fatal("an unknown mode was accepted")
	}
}
