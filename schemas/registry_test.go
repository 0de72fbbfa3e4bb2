package schemas_test

import (
	"errors"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/hamba/avro/v2"

	"github.com/kbus-dev/kbus/schemas"
)

func mustDefault(t testing.TB) *schemas.Registry {
	t.Helper()
	r, err := schemas.Default()
	if err != nil {
		t.Fatalf("Default: %v", err)
	}
	return r
}

const tinySchema = `{"type":"record","name":"R","namespace":"t","fields":[{"name":"a","type":"long"}]}`

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

func TestDefaultCatalog(t *testing.T) {
	r := mustDefault(t)
	if got, want := r.Types(), []string{"payment.completed", "payment.failed", "refund.created"}; !slices.Equal(got, want) {
		t.Fatalf("Types = %v, want %v", got, want)
	}
	for _, typ := range r.Types() {
		if got := r.Versions(typ); !slices.Equal(got, []string{"1.0", "1.1"}) {
			t.Errorf("Versions(%s) = %v", typ, got)
		}
		if v, err := r.Latest(typ); err != nil || v != "1.1" {
			t.Errorf("Latest(%s) = %q, %v", typ, v, err)
		}
		for _, v := range r.Versions(typ) {
			s, err := r.Schema(typ, v)
			if err != nil {
				t.Fatalf("Schema(%s, %s): %v", typ, v, err)
			}
			rec := s.(*avro.RecordSchema)
			if !strings.HasPrefix(rec.Namespace(), "kbus.events.") {
				t.Errorf("%s %s: namespace %q", typ, v, rec.Namespace())
			}
		}
		// Both versions declare the same record name with different
		// fields: only separate caches make that possible.
		s0, _ := r.Schema(typ, "1.0")
		s1, _ := r.Schema(typ, "1.1")
		if len(s1.(*avro.RecordSchema).Fields()) <= len(s0.(*avro.RecordSchema).Fields()) {
			t.Errorf("%s: 1.1 should add fields to 1.0", typ)
		}
	}
}

func TestLookupErrors(t *testing.T) {
	r := mustDefault(t)
	if _, err := r.Schema("nope", "1.0"); !errors.Is(err, schemas.ErrUnknownType) {
		t.Errorf("unknown type: %v", err)
	}
	for _, v := range []string{"9.9", "1", "1.00", "01.0", ""} {
		if _, err := r.Schema("payment.completed", v); !errors.Is(err, schemas.ErrUnknownVersion) {
			t.Errorf("version %q: %v", v, err)
		}
	}
	if _, err := r.Latest("nope"); !errors.Is(err, schemas.ErrUnknownType) {
		t.Errorf("Latest: %v", err)
	}
	if r.Versions("nope") != nil {
		t.Error("Versions of unknown type should be nil")
	}
	if err := r.ValidateJSON("nope", "1.0", []byte(`{}`)); !errors.Is(err, schemas.ErrUnknownType) {
		t.Errorf("ValidateJSON: %v", err)
	}
	if _, err := r.EncodeAvro("payment.completed", "3.0", []byte(`{}`)); !errors.Is(err, schemas.ErrUnknownVersion) {
		t.Errorf("EncodeAvro: %v", err)
	}
	if _, err := r.DecodeAvro("payment.completed", "1.0", "3.0", nil); !errors.Is(err, schemas.ErrUnknownVersion) {
		t.Errorf("DecodeAvro: %v", err)
	}
}

func TestVersionOrder(t *testing.T) {
	fsys := fstest.MapFS{}
	for _, v := range []string{"1.10", "2.0", "1.9", "0.1", "1.2", "10.0", "1.0"} {
		fsys["e.t/"+v+".avsc"] = file(tinySchema)
	}
	r, err := schemas.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"0.1", "1.0", "1.2", "1.9", "1.10", "2.0", "10.0"}
	if got := r.Versions("e.t"); !slices.Equal(got, want) {
		t.Errorf("Versions = %v, want %v", got, want)
	}
	if v, _ := r.Latest("e.t"); v != "10.0" {
		t.Errorf("Latest = %s", v)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		fsys  fstest.MapFS
		wants []string // substrings of the error
	}{
		{"empty", fstest.MapFS{}, []string{"no event type"}},
		{"file at root", fstest.MapFS{"README.md": file("x")}, []string{"README.md", "directory"}},
		{"empty type", fstest.MapFS{"e.t": &fstest.MapFile{Mode: fs.ModeDir | 0o755}}, []string{"e.t", "no versions"}},
		{"bad type name", fstest.MapFS{"a b/1.0.avsc": file(tinySchema)}, []string{"a b", "event type name"}},
		{"nested dir", fstest.MapFS{"e.t/1.0/x.avsc": file(tinySchema)}, []string{"e.t/1.0", "<major>.<minor>.avsc"}},
		{"not avsc", fstest.MapFS{"e.t/1.0.json": file(tinySchema)}, []string{"e.t/1.0.json"}},
		{"bad version", fstest.MapFS{"e.t/v1.avsc": file(tinySchema)}, []string{"e.t/v1.avsc", "not a version"}},
		{"leading zero", fstest.MapFS{"e.t/1.01.avsc": file(tinySchema)}, []string{"e.t/1.01.avsc", "not a version"}},
		{"three parts", fstest.MapFS{"e.t/1.0.0.avsc": file(tinySchema)}, []string{"e.t/1.0.0.avsc"}},
		{"invalid json", fstest.MapFS{"e.t/1.0.avsc": file(`{"type":`)}, []string{"e.t/1.0.avsc"}},
		{"invalid schema", fstest.MapFS{"e.t/1.0.avsc": file(`{"type":"record","name":"R","fields":[{"name":"a","type":"nosuch"}]}`)},
			[]string{"e.t/1.0.avsc", "nosuch"}},
		{"bad default", fstest.MapFS{"e.t/1.0.avsc": file(`{"type":"record","name":"R","fields":[{"name":"a","type":"long","default":"x"}]}`)},
			[]string{"e.t/1.0.avsc"}},
		{"not a record", fstest.MapFS{"e.t/1.0.avsc": file(`"string"`)}, []string{"e.t/1.0.avsc", "want a record"}},
		{"second file bad", fstest.MapFS{"e.t/1.0.avsc": file(tinySchema), "e.t/1.1.avsc": file(`{`)}, []string{"e.t/1.1.avsc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := schemas.Load(tt.fsys)
			if !errors.Is(err, schemas.ErrBadCatalog) {
				t.Fatalf("err = %v, want ErrBadCatalog", err)
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q, want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	r := mustDefault(t)
	b, err := r.EncodeAvro("payment.completed", "1.0", []byte(seed))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if err := r.ValidateJSON("payment.completed", "1.0", []byte(seed)); err != nil {
					t.Error(err)
				}
				if _, err := r.DecodeAvro("payment.completed", "1.0", "1.1", b); err != nil {
					t.Error(err)
				}
				_ = r.Check(schemas.Full)
			}
		})
	}
	wg.Wait()
}
