package envelope

import (
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"
)

// parseMessageIDSlow is ParseMessageID without its fast path.
func parseMessageIDSlow(id string) (ulid.ULID, bool) {
	rest, ok := strings.CutPrefix(id, IDPrefix)
	if !ok {
		return ulid.ULID{}, false
	}
	u, err := ulid.ParseStrict(rest)
	return u, err == nil && u.String() == rest
}

// FuzzParseCanonicalID checks ParseMessageID's fast path against the slow
// one: it may refuse what the slow path accepts (the slow path then
// decides), never accept what it refuses, and must return the same ULID.
func FuzzParseCanonicalID(f *testing.F) {
	for _, s := range []string{"msg_01HM6AQH5VX7K9PAYM3NTQ8RSW", "msg_01hm6aqh5vx7k9paym3ntq8rsw", "msg_81HM6AQH5VX7K9PAYM3NTQ8RSW",
		"msg_01HM6AQH5VX7K9PAYM3NTQ8RSI", "msg_7ZZZZZZZZZZZZZZZZZZZZZZZZZ", "msg_", "", "cor_01HM6AQH5VX7K9PAYM3NTQ8RSW"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		fast, fok := parseCanonicalID(id)
		slow, sok := parseMessageIDSlow(id)
		if fok && (!sok || fast != slow) {
			t.Fatalf("parseCanonicalID(%q) = %v, true; slow path: %v, %v", id, fast, slow, sok)
		}
	})
}

func TestPrefixedID(t *testing.T) {
	u := ulid.MustParse("01HM6AQH5VX7K9PAYM3NTQ8RSW")
	for _, p := range []string{IDPrefix, CorrelationIDPrefix, "", "a-very-long-prefix_"} {
		if got, want := prefixedID(p, u), p+u.String(); got != want {
			t.Errorf("prefixedID(%q) = %q, want %q", p, got, want)
		}
	}
}
