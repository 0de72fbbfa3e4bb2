package schemas_test

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kbus-dev/kbus/schemas"
)

// allTypes exercises every Avro type ValidateJSON handles.
const allTypes = `{"type":"record","name":"All","namespace":"kbus.test.all","fields":[
 {"name":"b","type":"boolean"},
 {"name":"i","type":"int"},
 {"name":"l","type":"long"},
 {"name":"f","type":"float"},
 {"name":"d","type":"double"},
 {"name":"s","type":"string"},
 {"name":"by","type":"bytes"},
 {"name":"fx","type":{"type":"fixed","name":"Four","size":4}},
 {"name":"e","type":{"type":"enum","name":"Color","symbols":["RED","GREEN"]}},
 {"name":"items","type":{"type":"array","items":{"type":"record","name":"Item","fields":[
   {"name":"sku","type":"string"},{"name":"qty","type":"int","default":1}]}}},
 {"name":"metadata","type":{"type":"map","values":"string"},"default":{}},
 {"name":"opt","type":["null","string"],"default":null},
 {"name":"multi","type":["null","long","string","Color"],"default":null},
 {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
 {"name":"day","type":{"type":"int","logicalType":"date"},"default":0},
 {"name":"n","type":"null","default":null},
 {"name":"nested","type":["null",{"type":"record","name":"Inner","fields":[{"name":"x","type":"long"}]}],"default":null},
 {"name":"notnull","type":["long","string"],"default":0}
]}`

const allValid = `{"b":true,"i":-2147483648,"l":9223372036854775807,"f":1.5,"d":-2.5e300,"s":"héllo",
 "by":"\u0000\u00ffab","fx":"abcd","e":"GREEN","items":[{"sku":"A","qty":2},{"sku":"B"}],
 "metadata":{"source":"web"},"opt":"x","multi":"GREEN","ts":1705314600123,"day":19737,"n":null,
 "nested":{"x":1},"notnull":"s"}`

func allTypesRegistry(t testing.TB) *schemas.Registry {
	t.Helper()
	r, err := schemas.Load(fstest.MapFS{"all.types/1.0.avsc": file(allTypes)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// with replaces one top-level key of allValid (or deletes it if v == "").
func with(key, v string) string {
	i := strings.Index(allValid, `"`+key+`":`)
	if i < 0 {
		panic(key)
	}
	j := i + len(key) + 3
	depth := 0
	inStr := false
	k := j
	for ; k < len(allValid); k++ {
		c := allValid[k]
		if inStr {
			if c == '\\' {
				k++
			} else if c == '"' {
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		}
		if depth < 0 || (depth == 0 && c == ',') {
			break
		}
	}
	if v == "" {
		if allValid[k] == ',' {
			k++
		}
		return allValid[:i] + allValid[k:]
	}
	return allValid[:j] + v + allValid[k:]
}

func TestValidateJSON(t *testing.T) {
	r := allTypesRegistry(t)
	tests := []struct {
		name   string
		data   string
		field  string // "" with reason "" means valid
		reason string
	}{
		{"valid", allValid, "", ""},
		{"defaults may be omitted", with("metadata", ""), "", ""},
		{"optional null", with("opt", "null"), "", ""},
		{"union long branch", with("multi", "42"), "", ""},
		{"union string branch", with("multi", `"free text"`), "", ""},
		{"empty array", with("items", "[]"), "", ""},
		{"float exponent", with("f", "1e3"), "", ""},
		{"double integer", with("d", "3"), "", ""},

		{"not json", `{"b":`, "", "not valid JSON"},
		{"trailing data", allValid + ` {}`, "", "trailing data"},
		{"not an object", `[1]`, "", "expected record kbus.test.all.All (an object), got array"},
		{"missing required", with("l", ""), "l", "required field is missing"},
		{"unknown field", strings.Replace(allValid, `"b":true`, `"b":true,"zz":1`, 1), "zz", "unknown field"},
		{"boolean type", with("b", `"true"`), "b", "expected boolean, got string"},
		{"int string", with("i", `"1"`), "i", "expected int (an integer), got string"},
		{"int fraction", with("i", `1.5`), "i", "expected int (an integer), got 1.5"},
		{"int exponent", with("i", `1e2`), "i", "expected int (an integer), got 1e2"},
		{"int overflow", with("i", `2147483648`), "i", "out of range for int"},
		{"long overflow", with("l", `9223372036854775808`), "l", "out of range for long"},
		{"long null", with("l", `null`), "l", "expected long (an integer), got null"},
		{"float overflow", with("f", `1e39`), "f", "out of range for float"},
		{"double overflow", with("d", `1e309`), "d", "out of range for double"},
		{"double bool", with("d", `false`), "d", "expected double (a number), got boolean"},
		{"string number", with("s", `1`), "s", "expected string, got number"},
		{"bytes number", with("by", `1`), "by", "expected bytes (a string), got number"},
		{"bytes high code point", with("by", `"€"`), "by", "code points 0-255"},
		{"fixed size", with("fx", `"abc"`), "fx", "needs 4 bytes, got 3"},
		{"fixed type", with("fx", `[]`), "fx", "expected fixed kbus.test.all.Four"},
		{"fixed high code point", with("fx", `"ab€d"`), "fx", "code points 0-255"},
		{"enum symbol", with("e", `"BLUE"`), "e", `"BLUE" is not a symbol of enum kbus.test.all.Color (one of RED, GREEN)`},
		{"enum type", with("e", `0`), "e", "expected enum"},
		{"array type", with("items", `{}`), "items", "expected array, got object"},
		{"array item field", with("items", `[{"sku":"A"},{"sku":"B"},{"qty":1}]`), "items[2].sku", "required field is missing"},
		{"array item type", with("items", `[{"sku":"A"},{"sku":7}]`), "items[1].sku", "expected string, got number"},
		{"map type", with("metadata", `[]`), "metadata", "expected map (an object), got array"},
		{"map value", with("metadata", `{"source":7}`), "metadata.source", "expected string, got number"},
		{"optional wrong type", with("opt", `7`), "opt", "expected string, got number"},
		{"optional avro-wrapped", with("opt", `{"string":"x"}`), "opt", "expected string, got object"},
		{"union no branch", with("multi", `true`), "multi", "boolean matches none of the union's types (long, string, kbus.test.all.Color)"},
		{"union no null", with("notnull", `null`), "notnull", "null is not allowed"},
		{"timestamp as string", with("ts", `"2024-01-15T10:30:00Z"`), "ts", "expected long.timestamp-millis (an integer), got string"},
		{"date as string", with("day", `"2024-01-15"`), "day", "expected int.date (an integer), got string"},
		{"null type", with("n", `0`), "n", "expected null, got number"},
		{"nested record field", with("nested", `{"x":"1"}`), "nested.x", "expected long"},
		{"nested unknown", with("nested", `{"x":1,"y":2}`), "nested.y", "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.ValidateJSON("all.types", "1.0", []byte(tt.data))
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var ve *schemas.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *ValidationError", err)
			}
			if !errors.Is(err, schemas.ErrInvalidData) {
				t.Errorf("err does not match ErrInvalidData")
			}
			if ve.Field != tt.field || !strings.Contains(ve.Reason, tt.reason) {
				t.Errorf("got field %q reason %q, want field %q reason containing %q", ve.Field, ve.Reason, tt.field, tt.reason)
			}
			if ve.Type != "all.types" || ve.Version != "1.0" {
				t.Errorf("type/version = %s %s", ve.Type, ve.Version)
			}
			if tt.field != "" && !strings.Contains(err.Error(), "field "+tt.field+":") {
				t.Errorf("message %q does not name field %s", err, tt.field)
			}
		})
	}
}

func TestValidateJSONSeveralProblems(t *testing.T) {
	r := allTypesRegistry(t)
	err := r.ValidateJSON("all.types", "1.0", []byte(strings.Replace(with("s", `2`), `"i":-2147483648,`, ``, 1)))
	var fields []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ve *schemas.ValidationError
		if errors.As(e, &ve) {
			fields = append(fields, ve.Field)
		}
	}
	if strings.Join(fields, ",") != "i,s" {
		t.Errorf("fields = %v, want [i s] (err %v)", fields, err)
	}
}

// The acceptance: the seed's payment passes; amount missing or a
// string is refused naming amount.
func TestValidatePaymentCompleted(t *testing.T) {
	r := mustDefault(t)
	for _, v := range r.Versions("payment.completed") {
		if err := r.ValidateJSON("payment.completed", v, []byte(seed)); err != nil {
			t.Errorf("seed event refused by %s: %v", v, err)
		}
		for name, data := range map[string]string{
			"missing": strings.Replace(seed, `"amount":4999,`, ``, 1),
			"string":  strings.Replace(seed, `"amount":4999`, `"amount":"4999"`, 1),
		} {
			err := r.ValidateJSON("payment.completed", v, []byte(data))
			var ve *schemas.ValidationError
			if !errors.As(err, &ve) || ve.Field != "amount" || !strings.Contains(err.Error(), "amount") {
				t.Errorf("%s %s amount: err = %v", v, name, err)
			}
		}
	}
	// The producers already in the repository publish without order_id
	// and with a lower-case currency; both stay valid.
	if err := r.ValidateJSON("payment.completed", "1.0",
		[]byte(`{"payment_id":"pay_1","amount":4999,"currency":"eur","merchant_id":"merch_abc"}`)); err != nil {
		t.Error(err)
	}
}
