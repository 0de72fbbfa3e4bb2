package kbustest

import (
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/kbus-dev/kbus/schemas"
)

// Catalog returns a schema registry in which every one of topics has the
// schemas (every version) of eventType in kbus's default catalog, so that a
// test can publish validated or Avro-encoded events on the fresh topics that
// [Topic] creates: events are typed by their topic, and a fresh topic is not
// named after a type. The test fails if eventType is not in the catalog.
//
//	topic := kbustest.Topic(t, 3)
//	reg := kbustest.Catalog(t, "payment.completed", topic)
//	p, _ := producer.New(producer.Brokers(kbustest.Brokers(t)...), producer.Schemas(reg))
func Catalog(t testing.TB, eventType string, topics ...string) *schemas.Registry {
	t.Helper()
	src := schemas.DefaultCatalog()
	files, err := fs.ReadDir(src, eventType)
	if err != nil {
		t.Fatalf("kbustest: event type %q is not in the default catalog: %v", eventType, err)
	}
	m := fstest.MapFS{}
	for _, f := range files {
		b, err := fs.ReadFile(src, eventType+"/"+f.Name())
		if err != nil {
			t.Fatalf("kbustest: %v", err)
		}
		for _, topic := range topics {
			m[topic+"/"+f.Name()] = &fstest.MapFile{Data: b}
		}
	}
	reg, err := schemas.Load(m)
	if err != nil {
		t.Fatalf("kbustest: catalog for %v: %v", topics, err)
	}
	return reg
}
