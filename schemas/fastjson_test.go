package schemas

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseJSON: whatever parseJSON accepts, encoding/json accepts and
// decodes to the same value.
func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{
		`{"payment_id":"pay_1","amount":4999,"currency":"USD","merchant_id":"m","order_id":null,"metadata":{"a":"b"}}`,
		`[1,-2.5e+3,0.1,true,false,null,"x",[],{}]`, ` {"a" : [ 1 , 2 ] } `, `"é"`, `01`, `1.`, `-`, `{"a":1,}`, `[1,]`,
		`{"a":"\u00e9"}`, `"\x01"`, `{"a":1}{`, `tru`, `1e`, `{"a":1,"a":2}`, "\"\xff\"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := parseJSON(data)
		if !ok {
			return // the slow path decides
		}
		slow, err := decodeJSONStd(data)
		if err != nil {
			t.Fatalf("parseJSON accepted %q, encoding/json refuses it: %v", data, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: parseJSON %#v, encoding/json %#v", data, fast, slow)
		}
	})
}

func TestParseJSONTakesTheCommonCase(t *testing.T) {
	for _, s := range []string{
		`{"payment_id":"pay_1","amount":4999,"currency":"USD","merchant_id":"merch_abc","order_id":null,"customer_email":"jane@example.com","metadata":{"source":"web"}}`,
		`{"items":[{"sku":"a","qty":2}],"total":12.5,"paid":true,"note":"café"}`,
	} {
		if _, ok := parseJSON([]byte(s)); !ok {
			t.Errorf("parseJSON fell back to encoding/json for %s", s)
		}
	}
}

// plainString agrees with a byte-at-a-time check on strings where the byte
// that matters sits at every position of an 8-byte word.
func TestPlainString(t *testing.T) {
	naive := func(s []byte) bool {
		for _, c := range s {
			if c == '\\' || c < 0x20 {
				return false
			}
		}
		return utf8.Valid(s)
	}
	for _, odd := range []string{"\\", "\x00", "\x1f", "\n", "é", "\xff", "€", " ", "~", "\x7f"} {
		for n := range 24 {
			for pos := 0; pos <= n; pos++ {
				s := []byte(strings.Repeat("a", pos) + odd + strings.Repeat("b", n-pos))
				if got, want := plainString(s), naive(s); got != want {
					t.Errorf("plainString(%q) = %v, want %v", s, got, want)
				}
			}
		}
	}
}
