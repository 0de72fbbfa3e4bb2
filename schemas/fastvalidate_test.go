package schemas_test

import (
	"testing"
)

// FuzzConformsAgrees checks ValidateJSON's one-pass fast path against the
// decoding validator on every schema of the fuzzed catalogs: ValidateJSON
// must return exactly what the decoding validator returns (the fast path
// may only ever say "conforms" when the decoding validator finds nothing).
func FuzzConformsAgrees(f *testing.F) {
	for _, s := range jsonSeeds() {
		f.Add(s)
	}
	f.Add(`{"payment_id":"pay_1","amount":-0,"currency":"USD","merchant_id":"m","note":"é"}`)
	f.Add(` {"payment_id" : "p" , "amount" : 12.5 , "currency":"USD","merchant_id":"m"} `)
	f.Add(`{"payment_id":"pay_0123456789abcdefé","amount":1,"currency":"USD\u0041","merchant_id":"merchant_0123456789"}`)
	f.Add("{\"payment_id\":\"pay_0123456789\tabc\",\"amount\":1,\"currency\":\"USD\",\"merchant_id\":\"m\"}")
	cs := fuzzCases(f)
	f.Fuzz(func(t *testing.T, data string) {
		for _, c := range cs {
			got := c.r.ValidateJSON(c.typ, c.ver, []byte(data))
			want := c.r.ValidateJSONDecoding(c.typ, c.ver, []byte(data))
			if (got == nil) != (want == nil) || got != nil && got.Error() != want.Error() {
				t.Fatalf("%s %s: ValidateJSON(%q) = %v, the decoding validator says %v", c.typ, c.ver, data, got, want)
			}
		}
	})
}
