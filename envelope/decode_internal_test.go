package envelope

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

const fuzzWire = `{"message_id":"msg_01HM6AQH5VX7K9PAYM3NTQ8RSW","topic":"payment.completed","published_at":"2024-01-15T10:30:00.123Z",` +
	`"producer":"payment-service","data":{"payment_id":"pay_x7k9","amount":4999,"currency":"USD"},` +
	`"metadata":{"correlation_id":"req_abc123","schema_version":"1.0","content_type":"application/json"}}`

var decodeSeeds = []string{
	fuzzWire,
	`{}`, ` { } `, `null`, `[]`, `42`, `"x"`, ``, `{`, `{"a"`, `{"a":`, `{"a":1`, `{"a":1,}`, `{"a":1}x`, `{} {}`,
	`{"data":"AgRVU0Q=","metadata":{"content_type":"application/avro"}}`,
	`{"published_at":"2024-01-15T10:30:00.123456789+02:00"}`,
	`{"published_at":"2024-01-15T10:30:00\u002e123Z"}`,
	`{"published_at":"0000-01-01T00:00:00+01:00"}`,
	`{"published_at":"2024-01-15T1:30:00Z"}`,
	`{"published_at":null,"data":null,"metadata":null,"topic":null}`,
	`{"topic":"a","topic":"b"}`, `{"topic":"a","\u0074opic":"b"}`, `{"\u0074opic":"x"}`,
	`{"x":1,"x":2}`, `{"x":1,"\u0078":2}`, "{\"\xff\":1,\"\xfe\":2}", `{"\ud800":1,"\udc00":2}`, `{"":1,"":2}`,
	`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"a":18}`,
	"{\"producer\":\"\xff\"}", "{\"producer\":\"caf\xc3\xa9\"}", `{"producer":"a\"b\\c\/\u00e9\ud83d\ude00\ud800\n"}`,
	"{\"topic\":\"a\x01b\"}", `{"topic":"\x"}`, `{"topic":"\u12g4"}`,
	`{"topic":1}`, `{"topic":[1,}`, `{"topic":{"a":[true,false,null]}}`, `{"producer":true}`, `{"metadata":"x"}`,
	`{"metadata":["1.0"]}`, `{"metadata":{"schema_version":1.0}}`, `{"metadata":{"x":[}}`,
	`{"metadata":{"content_type":"a","content_type":"b"}}`, `{"metadata":{"topic":1,"data":2,"schema_version":"2.0"}}`,
	`{"data":-0.5e+10,"x":[1,-2,3.25E-3,0,{"y":{}}]}`, `{"data":01}`, `{"data":1.}`, `{"data":-}`, `{"data":1e}`, `{"data":tru}`,
	"\n {\n \"metadata\" : { \"content_type\" : \"application/json\" } ,\n \"data\" : [ 1 , 2 ] } \n",
	`{"data":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
	`{"data":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`,
	`{"metadata":{"x":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}}`,
	`{"metadata":{"x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}}`,
}

// FuzzUnmarshalMatchesReference checks that Unmarshal rejects as malformed
// exactly what the encoding/json reference rejects, and otherwise returns
// the same envelope and the same errors, without aliasing its input.
func FuzzUnmarshalMatchesReference(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, wantErr := refUnmarshal(bytes.Clone(b))
		in := bytes.Clone(b)
		got, err := Unmarshal(in)
		for i := range in {
			in[i] = '#'
		}
		if errors.Is(err, ErrMalformed) != errors.Is(wantErr, ErrMalformed) {
			t.Fatalf("Unmarshal(%q):\nerror     %v\nreference %v", b, err, wantErr)
		}
		if errors.Is(err, ErrMalformed) {
			if !reflect.DeepEqual(got, Envelope{}) || errors.Is(err, ErrInvalid) {
				t.Fatalf("Unmarshal(%q) = %+v, %v with a malformed error", b, got, err)
			}
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Unmarshal(%q):\ngot       %+v\nreference %+v", b, got, want)
		}
		if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
			t.Fatalf("Unmarshal(%q):\nerror     %v\nreference %v", b, err, wantErr)
		}
	})
}

// FuzzSkipValueMatchesEncodingJSON checks the scanner's syntax rules.
func FuzzSkipValueMatchesEncodingJSON(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	for _, s := range []string{`"\ud800"`, "\"\x7f\xff\"", `[1,[2,{"a":[]}]]`, ` 1 `, `-01`, `1.5e+3`, `{"a" 1}`, `[1 2]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		end, err := skipValue(b, 0)
		got := err == nil && skipWS(b, end) == len(b)
		if want := json.Valid(b); got != want {
			t.Fatalf("skipValue(%q) accepts = %v (end %d, err %v), encoding/json.Valid = %v", b, got, end, err, want)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("skipValue(%q) error %v does not wrap ErrMalformed", b, err)
		}
	})
}

// FuzzScanStringFlags checks the flags and end of scanString, which
// exercise the word-at-a-time loop at every alignment.
func FuzzScanStringFlags(f *testing.F) {
	for _, s := range []string{"", "plain", `q\"uo\\te`, "caf\xc3\xa9", "0123456789abcdef\xff", "0123456\"x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(`"` + s + `"`)
		end, flags, err := scanString(b, 0)
		want := -1 // index of the closing quote, if the content is valid
		for i := 1; i < len(b); i++ {
			if c := b[i]; c == '\\' {
				i++
			} else if c == '"' {
				want = i + 1
				break
			}
		}
		if valid := json.Valid(b[:max(want, 1)]); valid != (err == nil) || valid && end != want {
			t.Fatalf("scanString(%q) = %d, %v; want end %d (valid %v)", b, end, err, want, valid)
		}
		if err != nil {
			return
		}
		content := b[1 : end-1]
		if esc := bytes.IndexByte(content, '\\') >= 0; esc != (flags&strEscaped != 0) {
			t.Errorf("scanString(%q) escaped flag = %v", b, !esc)
		}
		nonASCII := bytes.ContainsFunc(content, func(r rune) bool { return r >= 0x80 })
		if nonASCII != (flags&strNonASCII != 0) {
			t.Errorf("scanString(%q) non-ASCII flag = %v", b, !nonASCII)
		}
	})
}

func TestUnmarshalMatchesReferenceOnSeeds(t *testing.T) {
	for _, s := range decodeSeeds {
		got, err := Unmarshal([]byte(s))
		want, wantErr := refUnmarshal([]byte(s))
		if errors.Is(err, ErrMalformed) != errors.Is(wantErr, ErrMalformed) || !reflect.DeepEqual(got, want) ||
			!errors.Is(err, ErrMalformed) && (err == nil) != (wantErr == nil) ||
			!errors.Is(err, ErrMalformed) && err != nil && err.Error() != wantErr.Error() {
			t.Errorf("Unmarshal(%.80q) = %+v, %v\nreference %+v, %v", s, got, err, want, wantErr)
		}
	}
}
