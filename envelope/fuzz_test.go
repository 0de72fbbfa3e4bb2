package envelope_test

import (
	"bytes"
	"testing"

	"github.com/kbus-dev/kbus/envelope"
)

func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte(wireExample))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"data": "AgRVU0Q=", "metadata": {"content_type": "application/avro"}}`))
	f.Add([]byte(`{"published_at": "2024-01-15T10:30:00.123456789+02:00"}`))
	f.Add([]byte(`{"topic": "a", "topic": "b"}`))
	f.Add([]byte("{\"producer\": \"\xff\"}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := envelope.Unmarshal(b) // must not panic
		if err != nil {
			return
		}
		out, err := envelope.Marshal(e)
		if err != nil {
			t.Fatalf("Unmarshal accepted %q but Marshal failed: %v", b, err)
		}
		e2, err := envelope.Unmarshal(out)
		if err != nil {
			t.Fatalf("Unmarshal rejected Marshal output %q: %v", out, err)
		}
		out2, err := envelope.Marshal(e2)
		if err != nil {
			t.Fatalf("second Marshal failed: %v", err)
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("encoding not stable:\n%s\n%s", out, out2)
		}
	})
}
