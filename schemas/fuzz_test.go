package schemas_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hamba/avro/v2"

	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/schemas"
)

// fuzzCase is one event type and version of the fuzzed catalogs.
type fuzzCase struct {
	r        *schemas.Registry
	typ, ver string
}

// fuzzCases returns every type and version of the default catalog and of a
// test catalog with every Avro type in two versions (1.1 promotes an int to
// a long, widens an enum and adds a field with a default; 1.0 cannot read
// 1.1).
func fuzzCases(t testing.TB) []fuzzCase {
	t.Helper()
	v11 := strings.Replace(allTypes, `{"name":"i","type":"int"}`, `{"name":"i","type":"long"}`, 1)
	v11 = strings.Replace(v11, `"symbols":["RED","GREEN"]`, `"symbols":["RED","GREEN","BLUE"],"default":"RED"`, 1)
	v11 = strings.Replace(v11, `{"name":"b","type":"boolean"},`, `{"name":"b","type":"boolean"},{"name":"added","type":["string","null"],"default":"x"},`, 1)
	all, err := schemas.Load(fstest.MapFS{"all.types/1.0.avsc": file(allTypes), "all.types/1.1.avsc": file(v11)})
	if err != nil {
		t.Fatal(err)
	}
	var cs []fuzzCase
	for _, r := range []*schemas.Registry{mustDefault(t), all} {
		for _, typ := range r.Types() {
			for _, v := range r.Versions(typ) {
				cs = append(cs, fuzzCase{r, typ, v})
			}
		}
	}
	return cs
}

func jsonSeeds() []string {
	return []string{
		seed,
		strings.TrimSuffix(seed, "}") + `,"fee_amount":30,"captured_at":1705314600123}`,
		`{"payment_id":"p","amount":1,"currency":"USD","merchant_id":"m","reason":"r","failure_code":"EXPIRED_CARD","retryable":true}`,
		`{"refund_id":"ref_1","payment_id":"pay_1","amount":50,"currency":"USD","merchant_id":"m","order_id":"o"}`,
		allValid, with("multi", "42"), with("multi", `"RED"`), with("nested", "null"), with("metadata", ""),
		with("i", "2147483648"), with("fx", `"abc"`), with("by", `"\u0100"`), with("e", `"BLUE"`), with("f", "1e39"),
		with("l", "9223372036854775808"), with("l", "1.0"), with("ts", "-1"), with("notnull", "true"),
		`{}`, `[]`, `null`, `{"amount":"x"}`, `{"a":1}{`, "\xff", ``, `{"payment_id":"\ud800"}`,
		strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	}
}

// FuzzValidateEncode checks ValidateJSON, EncodeAvro and ResolveJSON on
// arbitrary JSON against every schema: no panics; refusals wrap
// ErrInvalidData; what validates encodes with hamba/avro to bytes that
// hamba/avro decodes, that DecodeAvro turns back into JSON that validates
// and encodes to the same bytes; and ResolveJSON to every other version
// gives JSON valid at that version, or ErrIncompatible.
func FuzzValidateEncode(f *testing.F) {
	cs := fuzzCases(f)
	for i := range cs {
		for _, s := range jsonSeeds() {
			f.Add(uint8(i), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, pick uint8, data []byte) {
		c := cs[int(pick)%len(cs)]
		verr := c.r.ValidateJSON(c.typ, c.ver, data)
		b, err := c.r.EncodeAvro(c.typ, c.ver, data)
		if verr != nil || err != nil {
			if !errors.Is(verr, schemas.ErrInvalidData) || !errors.Is(err, schemas.ErrInvalidData) {
				t.Fatalf("%s %s %q: ValidateJSON %v, EncodeAvro %v; want both nil or both ErrInvalidData", c.typ, c.ver, data, verr, err)
			}
			for _, v := range c.r.Versions(c.typ) {
				if _, err := c.r.ResolveJSON(c.typ, c.ver, v, data); !errors.Is(err, schemas.ErrInvalidData) && !errors.Is(err, schemas.ErrIncompatible) {
					t.Fatalf("ResolveJSON %s %s→%s of invalid %q: %v", c.typ, c.ver, v, data, err)
				}
			}
			return
		}
		s, err := c.r.Schema(c.typ, c.ver)
		if err != nil {
			t.Fatal(err)
		}
		var x any
		if err := avro.Unmarshal(s, b, &x); err != nil {
			t.Fatalf("%s %s %q: hamba/avro cannot decode what EncodeAvro wrote: %v", c.typ, c.ver, data, err)
		}
		out, err := c.r.DecodeAvro(c.typ, c.ver, c.ver, b)
		if err != nil {
			t.Fatalf("%s %s %q: DecodeAvro: %v", c.typ, c.ver, data, err)
		}
		if err := c.r.ValidateJSON(c.typ, c.ver, out); err != nil {
			t.Fatalf("%s %s: DecodeAvro gave %s, which does not validate: %v", c.typ, c.ver, out, err)
		}
		if b2, err := c.r.EncodeAvro(c.typ, c.ver, out); err != nil || !bytes.Equal(b2, b) {
			t.Fatalf("%s %s: %q → %x → %s → %x, %v", c.typ, c.ver, data, b, out, b2, err)
		}
		for _, v := range c.r.Versions(c.typ) {
			got, err := c.r.ResolveJSON(c.typ, c.ver, v, data)
			if errors.Is(err, schemas.ErrIncompatible) {
				continue
			}
			if err != nil {
				t.Fatalf("ResolveJSON %s %s→%s of valid %q: %v", c.typ, c.ver, v, data, err)
			}
			if err := c.r.ValidateJSON(c.typ, v, got); err != nil {
				t.Fatalf("ResolveJSON %s %s→%s gave %s, invalid at %s: %v", c.typ, c.ver, v, got, v, err)
			}
		}
	})
}

// FuzzDecodeAvro decodes arbitrary bytes as Avro of every writer version,
// resolved to every reader version, directly and as an envelope's base64
// data, as consumers and the SSE server do with records from Kafka: no
// panics, errors wrap ErrInvalidData or ErrIncompatible, and what decodes
// is JSON valid at the reader's version.
func FuzzDecodeAvro(f *testing.F) {
	cs := fuzzCases(f)
	for i, c := range cs {
		for _, s := range jsonSeeds() {
			if b, err := c.r.EncodeAvro(c.typ, c.ver, []byte(s)); err == nil {
				f.Add(uint8(i), uint8(0), b)
				f.Add(uint8(i), uint8(1), b[:len(b)/2])
			}
		}
	}
	for _, b := range [][]byte{{}, {0x07}, {0x01}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, // varints
		{0x02, 'a', 0xfe, 0xff, 0xff, 0xff, 0x0f}, // a huge negative block count
	} {
		f.Add(uint8(0), uint8(0), b)
	}
	f.Fuzz(func(t *testing.T, pick, reader uint8, b []byte) {
		c := cs[int(pick)%len(cs)]
		vs := c.r.Versions(c.typ)
		rv := vs[int(reader)%len(vs)]
		out, err := c.r.DecodeAvro(c.typ, c.ver, rv, b)
		if err != nil {
			if !errors.Is(err, schemas.ErrInvalidData) && !errors.Is(err, schemas.ErrIncompatible) {
				t.Fatalf("DecodeAvro %s %s→%s %x: %v", c.typ, c.ver, rv, b, err)
			}
		} else if err := c.r.ValidateJSON(c.typ, rv, out); err != nil {
			t.Fatalf("DecodeAvro %s %s→%s %x gave %s, which does not validate: %v", c.typ, c.ver, rv, b, out, err)
		}
		data, _ := json.Marshal(b) // base64
		e := envelope.Envelope{Topic: c.typ, Data: data, Metadata: envelope.Metadata{SchemaVersion: c.ver, ContentType: envelope.ContentTypeAvro}}
		got, derr := c.r.DecodeEnvelope(e, rv)
		if (derr == nil) != (err == nil) || (err == nil && !bytes.Equal(got.Data, out)) {
			t.Fatalf("DecodeEnvelope %s %s→%s %x: %s, %v; DecodeAvro %s, %v", c.typ, c.ver, rv, b, got.Data, derr, out, err)
		}
		if derr == nil && (got.Metadata.ContentType != envelope.ContentTypeJSON || got.Metadata.SchemaVersion != rv) {
			t.Fatalf("DecodeEnvelope metadata %+v", got.Metadata)
		}
	})
}

// TestDecodeAvroHugeArrayCount: FuzzDecodeAvro found that an array block
// count of billions, in a record of a few bytes, made hamba/avro allocate
// the whole array up front: the process died (fatal error: out of memory),
// so one poison record could crash-loop every consumer of its topic.
func TestDecodeAvroHugeArrayCount(t *testing.T) {
	r, err := schemas.Load(fstest.MapFS{"list.t/1.0.avsc": file(`{"type":"record","name":"L","fields":[
		{"name":"xs","type":{"type":"array","items":"long"}},{"name":"ns","type":{"type":"array","items":"null"},"default":[]}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	for _, count := range []int64{1 << 40, 1<<20 + 1, -(1 << 40)} {
		b := binary.AppendVarint(nil, count) // Avro longs are zigzag varints, as Go's
		if count < 0 {
			b = binary.AppendVarint(b, 8) // a negative count is followed by the block's size in bytes
		}
		b = append(b, 2, 0, 0) // one item, then the end of both arrays
		if _, err := r.DecodeAvro("list.t", "1.0", "1.0", b); !errors.Is(err, schemas.ErrInvalidData) {
			t.Errorf("an array of %d items: %v, want ErrInvalidData", count, err)
		}
	}
	// The input the fuzzer found, in all.types 1.0 read as 1.1.
	found := []byte("\x01\xff\xff\xff\xff\x0f\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00\x00\xc0?\x03\x93\x00\xaaK\xddM\xfe\fhéllo" +
		"\b\x00\xffababcd\x02\x92\xdeʡc\xb2\xb4\x02\x02\x02\x02\x02u")
	for _, c := range fuzzCases(t) {
		if c.typ == "all.types" && c.ver == "1.0" {
			if _, err := c.r.DecodeAvro(c.typ, "1.0", "1.1", found); !errors.Is(err, schemas.ErrInvalidData) {
				t.Errorf("the fuzzer's input: %v, want ErrInvalidData", err)
			}
		}
	}
	// Arrays below the bound decode, however long, null items included.
	ok := binary.AppendVarint(nil, 100_000)
	for range 100_000 {
		ok = append(ok, 0x02)
	}
	ok = append(ok, 0)
	ok = binary.AppendVarint(ok, 1<<20)
	ok = append(ok, 0)
	out, err := r.DecodeAvro("list.t", "1.0", "1.0", ok)
	if err != nil || len(out) < 100_000 {
		t.Fatalf("an array of 100,000 items and 2^20 nulls: %d bytes of JSON, %v", len(out), err)
	}
}
