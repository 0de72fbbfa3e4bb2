package apikey

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
)

func TestFormatParseRoundTrip(t *testing.T) {
	for range 200 {
		id, err := newID()
		if err != nil {
			t.Fatal(err)
		}
		secret, err := newSecret()
		if err != nil {
			t.Fatal(err)
		}
		key := format(id, secret)
		if len(key) != keyLen {
			t.Fatalf("key %q has length %d, want %d", key, len(key), keyLen)
		}
		gotID, hash, err := parse(key)
		if err != nil {
			t.Fatalf("parse(%q): %v", key, err)
		}
		raw, _ := secretEncoding.DecodeString(secret)
		if gotID != id || hash != sha256.Sum256(raw) {
			t.Fatalf("parse(%q) = %s, %x", key, gotID, hash)
		}
		// The id may be sent in upper case; it still names the same row.
		if upID, _, err := parse(Prefix + strings.ToUpper(id) + "_" + secret); err != nil || upID != id {
			t.Fatalf("upper-case id: %s, %v", upID, err)
		}
	}
}

func TestParseMalformed(t *testing.T) {
	const id = "01jf3kq9x8e5m2v7c4n6t0b1ar"
	good := strings.Repeat("A", secretLen)
	if _, _, err := parse(Prefix + id + "_" + good); err != nil {
		t.Fatalf("the well-formed base case fails: %v", err)
	}
	for name, key := range map[string]string{
		"empty":            "",
		"no prefix":        "xxxx_" + id + "_" + good,
		"prefix case":      "KBUS_" + id + "_" + good,
		"only prefix":      Prefix,
		"no secret":        Prefix + id,
		"no separator":     Prefix + id + "A" + good,
		"empty id":         Prefix + "_" + good,
		"bad id chars":     Prefix + "01jf3kq9x8e5m2v7c4n6t0b1a!" + "_" + good,
		"id overflow":      Prefix + "81jf3kq9x8e5m2v7c4n6t0b1ar" + "_" + good,
		"short secret":     Prefix + id + "_" + good[1:],
		"long secret":      Prefix + id + "_" + good + "A",
		"padded secret":    Prefix + id + "_" + good[:secretLen-1] + "=",
		"std base64":       Prefix + id + "_" + good[:secretLen-1] + "+",
		"non-zero padbits": Prefix + id + "_" + good[:secretLen-1] + "B",
		"space":            Prefix + id + "_" + good[:secretLen-1] + " ",
		"surrounding":      " " + Prefix + id + "_" + good,
	} {
		if _, _, err := parse(key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: parse(%q) = %v, want ErrInvalidKey", name, key, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("kbus_01jf3kq9x8e5m2v7c4n6t0b1ar_" + strings.Repeat("A", secretLen))
	f.Add("kbus__")
	f.Fuzz(func(t *testing.T, key string) {
		id, _, err := parse(key)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("parse(%q): %v does not match ErrInvalidKey", key, err)
			}
			return
		}
		if len(id) != idLen || id != strings.ToLower(id) {
			t.Fatalf("parse(%q) id %q", key, id)
		}
	})
}

func TestCheckCreate(t *testing.T) {
	for _, c := range []struct {
		tenant, name string
		admin, ok    bool
	}{
		{"merch_abc", "", false, true},
		{"merch_abc", "checkout – prod", false, true},
		{"", "ops", true, true},
		{"", "", false, false},
		{"merch_abc", "", true, false},
		{"merch abc", "", false, false},
		{"merch\x00", "", false, false},
		{"merch\xff", "", false, false},
		{strings.Repeat("m", MaxTenantIDLen+1), "", false, false},
		{"merch_abc", "a\nb", false, false},
		{"merch_abc", strings.Repeat("n", MaxNameLen+1), false, false},
	} {
		err := checkCreate(c.tenant, c.name, c.admin)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrInvalidArgument)) {
			t.Errorf("checkCreate(%q, %q, %v) = %v, want ok=%v", c.tenant, c.name, c.admin, err, c.ok)
		}
	}
}

func TestCanSee(t *testing.T) {
	admin := Principal{KeyID: "k1", Admin: true}
	tenant := Principal{KeyID: "k2", TenantID: "merch_abc"}
	for _, c := range []struct {
		p      Principal
		tenant string
		want   bool
	}{
		{admin, "merch_abc", true},
		{admin, "merch_xyz", true},
		{admin, "", true},
		{tenant, "merch_abc", true},
		{tenant, "merch_xyz", false},
		{tenant, "", false},
		{tenant, "MERCH_ABC", false},
		{Principal{}, "", false},
		{Principal{}, "merch_abc", false},
	} {
		if got := c.p.CanSee(c.tenant); got != c.want {
			t.Errorf("%+v.CanSee(%q) = %v, want %v", c.p, c.tenant, got, c.want)
		}
	}
}
