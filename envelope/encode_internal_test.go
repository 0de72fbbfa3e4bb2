package envelope

import (
	"bytes"
	"encoding/json"
	"testing"
)

// stdString is encoding/json's encoding of s with HTML escaping off, the
// reference for appendString.
func stdString(t testing.TB, s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

func FuzzAppendStringMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{"", "plain", `q"uo\te`, "ctl\x00\x01\x1f\n\r\t\b\f", "<&>", "é€😀", "\u2028\u2029", "bad\xffutf8\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(appendString(nil, s)), stdString(t, s); got != want {
			t.Fatalf("appendString(%q) = %s, encoding/json = %s", s, got, want)
		}
	})
}

func FuzzValidJSONMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{`{}`, `[1,2]`, `{"a":`, `"x"`, `1e5`, `01`, `{"a":1}x`, " \n{\"a\" : [true, null]}\t", `"\ud800"`, "\"\x01\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, encoding/json.Valid = %v", b, got, want)
		}
	})
}
