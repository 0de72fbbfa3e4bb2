package dlq_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kbus-dev/kbus/dlq"
	"github.com/kbus-dev/kbus/envelope"
)

// FuzzDecode feeds arbitrary record values to Decode. It never panics; an
// error wraps ErrMalformed; and what it accepts encodes (MarshalJSON, and
// Record as the Writer does) to a value that decodes to the same entry.
func FuzzDecode(f *testing.F) {
	full, err := fullEntry().MarshalJSON()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(full)
	for _, s := range []string{
		`{"version":1,"topic":"t","consumer_group":"g","failure_reason":"decode_error","original_value":"/w=="}`,
		`{"version":2,"topic":"t","consumer_group":"g","failure_reason":"x","future_field":[1,2],"headers":[{"key":"k","value":null}]}`,
		`{"version":1,"topic":"t","consumer_group":"g","failure_reason":"x","original_payload":{"a":[1,{"b":null}]},"key":""}`,
		`{"version":1,"topic":"t","consumer_group":"g","failure_reason":"x","first_attempt":"2024-01-15T10:30:01.5+02:00","headers":[]}`,
		`{"version":1,"topic":"t","consumer_group":"g","failure_reason":"x","last_error":"\ud800\u0000"}`,
		`{"version":1,"topic":"t","consumer_group":"a/b","failure_reason":"x"}`,
		`{"version":0,"topic":"t","consumer_group":"g","failure_reason":"x"}`,
		`{"version":1,"topic":"","consumer_group":"g"}`,
		`{"version":1e400}`, `{"partition":2147483648}`, `{"key":"not base64!"}`, `{"headers":[1]}`,
		`{"dead_lettered_at":"10000-01-01T00:00:00Z"}`, `[]`, `null`, ``, `{`, "\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		e, err := dlq.Decode(value)
		if err != nil {
			if !errors.Is(err, dlq.ErrMalformed) {
				t.Fatalf("Decode(%q): %v does not wrap ErrMalformed", value, err)
			}
			return
		}
		out, err := e.MarshalJSON()
		if err != nil {
			t.Fatalf("Decode accepted %q, MarshalJSON fails: %v", value, err)
		}
		got, err := dlq.Decode(out)
		if err != nil {
			t.Fatalf("Decode of MarshalJSON output %q: %v", out, err)
		}
		sameEntry(t, got, e)
		rec, err := e.Record()
		if err != nil {
			t.Fatalf("Decode accepted %q, Record fails: %v", value, err)
		}
		if rec.Topic != dlq.Topic(e.ConsumerGroup) {
			t.Fatalf("record topic %q for group %q", rec.Topic, e.ConsumerGroup)
		}
		got, err = dlq.Decode(rec.Value)
		if err != nil {
			t.Fatalf("Decode of a Record's value %q: %v", rec.Value, err)
		}
		if e.DeadLetteredAt.IsZero() { // Record stamps it
			e.DeadLetteredAt = rec.Timestamp
		}
		sameEntry(t, got, e)
	})
}

// FuzzEntryRoundTrip builds entries from arbitrary fields, bytes that are
// not UTF-8 included, and checks that MarshalJSON then Decode gives them
// back, and that Replay re-publishes the original record byte for byte.
func FuzzEntryRoundTrip(f *testing.F) {
	f.Add("msg_01HM6AQH5VX7K9PAYM3NTQ8RSW", "payment.completed", "ledger", dlq.ReasonHandlerError, 5, int64(1_705_314_601_500_000_000),
		"boom", []byte("k"), "kbus-message-id", []byte("msg_1"), int32(2), int64(1041), []byte(`{"a":"<&>"}`), "ep_1")
	f.Add("", "t", "g", dlq.ReasonDecodeError, 0, int64(0), "\xff", []byte(nil), "", []byte(nil), int32(-1), int64(-1), []byte{0xc3, 0x28}, "")
	f.Add("m", "t", "g", "r", -3, int64(-1<<63), "a\u2028b\x00", []byte{}, dlq.HeaderReplayCount, []byte("41"), int32(0), int64(1<<62), []byte(" [1, 2] "), "e")
	f.Add("m", "t", "g", "r", 1, int64(1), "", []byte{0}, dlq.HeaderReplayCount, []byte("-1"), int32(0), int64(0), []byte("null"), "")
	f.Fuzz(func(t *testing.T, msgID, topic, group, reason string, attempts int, atNanos int64, lastErr string,
		key []byte, hkey string, hval []byte, partition int32, offset int64, value []byte, endpoint string) {
		at := time.Unix(0, atNanos).UTC()
		e := dlq.Entry{
			Version: dlq.Version, OriginalMessageID: msgID, Topic: topic, ConsumerGroup: group, FailureReason: reason,
			Attempts: attempts, FirstAttempt: at, LastAttempt: at.Add(time.Second), LastError: lastErr,
			Key: key, Headers: []envelope.Header{{Key: hkey, Value: hval}}, Partition: partition, Offset: offset,
			Value: value, DeadLetteredAt: at.Add(2 * time.Second), EndpointID: endpoint,
		}
		if json.Valid(value) {
			e.OriginalPayload = value
		}
		raw, err := e.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON(%+v): %v", e, err)
		}
		got, err := dlq.Decode(raw)
		if _, recErr := e.Record(); recErr != nil { // no topic, group or reason, or a group unfit for a topic name
			if !errors.Is(recErr, dlq.ErrInvalidEntry) || !errors.Is(err, dlq.ErrMalformed) {
				t.Fatalf("an entry Record refuses (%v) decoded: %v", recErr, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Decode(%s): %v", raw, err)
		}
		// Strings travel as JSON strings: invalid UTF-8 becomes U+FFFD.
		want := e
		for _, s := range []*string{&want.OriginalMessageID, &want.Topic, &want.ConsumerGroup, &want.FailureReason, &want.LastError, &want.EndpointID, &want.Headers[0].Key} {
			*s = jsonString(*s)
		}
		sameEntry(t, got, want)
		if !bytes.Equal(got.Value, value) || !bytes.Equal(got.Key, key) || !bytes.Equal(got.Headers[0].Value, hval) ||
			(got.Key == nil) != (key == nil) || (got.Value == nil) != (value == nil) {
			t.Fatalf("bytes changed: key %q → %q, value %q → %q, header %q → %q", key, got.Key, value, got.Value, hval, got.Headers[0].Value)
		}
		// A replay of the decoded entry is the original record plus the
		// replay headers.
		rec := got.Replay("", at)
		if rec.Topic != want.Topic || !bytes.Equal(rec.Key, key) || !bytes.Equal(rec.Value, value) {
			t.Fatalf("replay %+v of key %q value %q", rec, key, value)
		}
		if g, ok := dlq.ReplayTarget(rec.Headers); !ok || g != want.ConsumerGroup {
			t.Fatalf("ReplayTarget = %q, %v; want %q", g, ok, want.ConsumerGroup)
		}
		wantCount := 1
		if n, err := strconv.Atoi(string(hval)); err == nil && n >= 0 && want.Headers[0].Key == dlq.HeaderReplayCount {
			wantCount = n + 1
		}
		if n := dlq.ReplayCount(rec.Headers); n != wantCount && wantCount > 0 { // a count of MaxInt wraps
			t.Fatalf("ReplayCount = %d after a header %q=%q, want %d", n, hkey, hval, wantCount)
		}
		if hk := want.Headers[0].Key; hk != dlq.HeaderReplayCount && hk != dlq.HeaderReplayGroup && hk != dlq.HeaderReplayedAt &&
			hk != dlq.HeaderReplayKey && hk != dlq.HeaderReplayEndpoint {
			if len(rec.Headers) == 0 || rec.Headers[0].Key != hk || !bytes.Equal(rec.Headers[0].Value, hval) {
				t.Fatalf("original header %q=%q not kept first: %+v", hk, hval, rec.Headers)
			}
		}
	})
}

// sameEntry compares entries as their JSON form defines them: times as
// instants, the payload as compact JSON.
func sameEntry(t *testing.T, got, want dlq.Entry) {
	t.Helper()
	for _, p := range [][2]*time.Time{{&got.FirstAttempt, &want.FirstAttempt}, {&got.LastAttempt, &want.LastAttempt}, {&got.DeadLetteredAt, &want.DeadLetteredAt}} {
		if !p[0].Equal(*p[1]) {
			t.Fatalf("time %v, want %v", *p[0], *p[1])
		}
		*p[0], *p[1] = time.Time{}, time.Time{}
	}
	got.OriginalPayload, want.OriginalPayload = compact(t, got.OriginalPayload), compact(t, want.OriginalPayload)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("entry changed:\n got %#v\nwant %#v", got, want)
	}
}

// jsonString is s as encoding/json carries it: each byte of invalid UTF-8
// becomes U+FFFD.
func jsonString(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r) // utf8.RuneError is U+FFFD
		i += n
	}
	return b.String()
}

func compact(t *testing.T, b json.RawMessage) json.RawMessage {
	if len(b) == 0 || !json.Valid(b) {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatal(err)
	}
	if buf.String() == "null" {
		return nil
	}
	return buf.Bytes()
}
