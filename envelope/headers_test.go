package envelope_test

import (
	"slices"
	"testing"

	"github.com/kbus-dev/kbus/envelope"
)

func headerKeys(hs []envelope.Header) []string {
	var ks []string
	for _, h := range hs {
		ks = append(ks, h.Key)
	}
	return ks
}

func TestHeadersRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		e        envelope.Envelope
		wantKeys []string
	}{
		{"with correlation id", validEnvelope(), []string{
			envelope.HeaderMessageID, envelope.HeaderType, envelope.HeaderSchemaVersion, envelope.HeaderCorrelationID,
			envelope.HeaderContentType, envelope.HeaderProducer, envelope.HeaderEnvelopeVersion,
		}},
		{"without correlation id", func() envelope.Envelope {
			e := validEnvelope()
			e.Metadata.CorrelationID = ""
			return e
		}(), []string{
			envelope.HeaderMessageID, envelope.HeaderType, envelope.HeaderSchemaVersion,
			envelope.HeaderContentType, envelope.HeaderProducer, envelope.HeaderEnvelopeVersion,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := tt.e.Headers()
			if got := headerKeys(hs); !slices.Equal(got, tt.wantKeys) {
				t.Errorf("Headers keys = %v, want %v", got, tt.wantKeys)
			}
			want := envelope.HeaderFields{
				MessageID:       tt.e.MessageID,
				Type:            tt.e.Topic,
				SchemaVersion:   tt.e.Metadata.SchemaVersion,
				CorrelationID:   tt.e.Metadata.CorrelationID,
				ContentType:     tt.e.Metadata.ContentType,
				Producer:        tt.e.Producer,
				EnvelopeVersion: envelope.Version,
			}
			if got := envelope.ParseHeaders(hs); got != want {
				t.Errorf("ParseHeaders(Headers()) = %+v, want %+v", got, want)
			}
		})
	}
}

func TestHeadersAreFreshSlices(t *testing.T) {
	e := validEnvelope()
	hs := e.Headers()
	hs[0].Value[0] = 'X'
	if got, _ := envelope.HeaderValue(e.Headers(), envelope.HeaderMessageID); got != e.MessageID {
		t.Errorf("modifying returned headers changed later ones: %q", got)
	}
}

func TestParseHeaders(t *testing.T) {
	hs := []envelope.Header{
		{Key: "traceparent", Value: []byte("00-x")},
		{Key: envelope.HeaderType, Value: []byte("first.type")},
		{Key: "KBUS-TYPE", Value: []byte("wrong.case")},
		{Key: envelope.HeaderProducer, Value: nil},
		{Key: envelope.HeaderType, Value: []byte("last.type")},
	}
	got := envelope.ParseHeaders(hs)
	want := envelope.HeaderFields{Type: "last.type"}
	if got != want {
		t.Errorf("ParseHeaders = %+v, want %+v", got, want)
	}
	if got := envelope.ParseHeaders(nil); got != (envelope.HeaderFields{}) {
		t.Errorf("ParseHeaders(nil) = %+v", got)
	}
}

func TestHeaderValue(t *testing.T) {
	hs := []envelope.Header{
		{Key: "a", Value: []byte("1")},
		{Key: "b", Value: []byte("")},
		{Key: "a", Value: []byte("2")},
	}
	tests := []struct {
		key    string
		want   string
		wantOK bool
	}{
		{"a", "2", true}, // last wins
		{"b", "", true},  // present but empty
		{"c", "", false}, // absent
		{"A", "", false}, // case-sensitive
	}
	for _, tt := range tests {
		got, ok := envelope.HeaderValue(hs, tt.key)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("HeaderValue(%q) = %q, %v; want %q, %v", tt.key, got, ok, tt.want, tt.wantOK)
		}
	}
	if _, ok := envelope.HeaderValue(nil, "a"); ok {
		t.Errorf("HeaderValue(nil) found a header")
	}
}
