package schemas_test

import (
	"os"
	"strings"
	"testing"

	"github.com/kbus-dev/kbus/schemas"
)

func TestCheckShippedCatalog(t *testing.T) {
	r := mustDefault(t)
	for _, m := range []schemas.Mode{schemas.Backward, schemas.Forward, schemas.Full} {
		if p := r.Check(m); len(p) != 0 {
			t.Errorf("%s: %v", m, p)
		}
	}
}

func TestCheckBreaking(t *testing.T) {
	r, err := schemas.Load(os.DirFS("testdata/breaking"))
	if err != nil {
		t.Fatal(err)
	}
	type want struct{ typ, reader, writer, field string }
	tests := []struct {
		mode schemas.Mode
		want []want
	}{
		{schemas.Backward, []want{
			{"added.required", "1.1", "1.0", "merchant_id"},
			{"changed.type", "1.1", "1.0", "amount"},
			// removed.field passes: 1.1 ignores the amount 1.0 wrote.
		}},
		{schemas.Forward, []want{
			{"changed.type", "1.0", "1.1", "amount"},
			{"removed.field", "1.0", "1.1", "amount"},
			// added.required passes: 1.0 ignores the merchant_id 1.1 writes.
		}},
		{schemas.Full, []want{
			{"added.required", "1.1", "1.0", "merchant_id"},
			{"changed.type", "1.1", "1.0", "amount"},
			{"changed.type", "1.0", "1.1", "amount"},
			{"removed.field", "1.0", "1.1", "amount"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			got := r.Check(tt.mode)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems, want %d: %v", len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				p := got[i]
				if p.Type != w.typ || p.Reader != w.reader || p.Writer != w.writer || p.Field != w.field {
					t.Errorf("problem %d = %+v, want %+v", i, p, w)
				}
				s := p.String()
				for _, part := range []string{w.typ, w.reader, w.writer, "field " + w.field} {
					if !strings.Contains(s, part) {
						t.Errorf("%q does not mention %q", s, part)
					}
				}
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	for s, want := range map[string]schemas.Mode{"": schemas.Backward, "backward": schemas.Backward, "forward": schemas.Forward, "full": schemas.Full} {
		if m, err := schemas.ParseMode(s); err != nil || m != want {
			t.Errorf("ParseMode(%q) = %v, %v", s, m, err)
		}
		if s != "" && want.String() != s {
			t.Errorf("%v.String() = %q", want, want.String())
		}
	}
	if _, err := schemas.ParseMode("both"); err == nil {
		t.Error("ParseMode(both) should fail")
	}
	if s := schemas.Mode(9).String(); s != "Mode(9)" {
		t.Errorf("String = %q", s)
	}
}
