package envelope_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/kbus-dev/kbus/envelope"
)

// FuzzParseMessageID: any string, as a Last-Event-ID header or a
// message_id field may hold, either is refused with a *ValidationError
// wrapping ErrBadMessageID, or is the one spelling of its ULID, whose time
// MessageIDTime returns. Every ULID's id parses back to it.
func FuzzParseMessageID(f *testing.F) {
	for _, s := range []string{
		"msg_01HM6AQH5VX7K9PAYM3NTQ8RSW", "msg_7ZZZZZZZZZZZZZZZZZZZZZZZZZ", "msg_00000000000000000000000000",
		"", "msg_", "msg_01hm6aqh5vx7k9paym3ntq8rsw", "msg_81HM6AQH5VX7K9PAYM3NTQ8RSW", "msg_01HM6AQH5VX7K9PAYM3NTQ8RSU",
		"msg_01HM6AQH5VX7K9PAYM3NTQ8RSW\n", "msg_01HM6AQH5VX7K9PAYM3NTQ8RS\xff", "corr_01HM6AQH5VX7K9PAYM3NTQ8RSW",
		"msg_01HM6AQH5VX7K9PAYM3NTQ8RSWmsg_", "msg_0IHM6AQH5VX7K9PAYM3NTQ8RSW", "msg_" + strings.Repeat("0", 1000),
	} {
		f.Add(s, []byte("0123456789abcdef"))
	}
	f.Fuzz(func(t *testing.T, id string, raw []byte) {
		if len(raw) >= len(ulid.ULID{}) {
			u := ulid.ULID(raw[:len(ulid.ULID{})])
			if got, err := envelope.ParseMessageID(envelope.IDPrefix + u.String()); err != nil || got != u {
				t.Fatalf("ParseMessageID(%q) = %v, %v; want %v", envelope.IDPrefix+u.String(), got, err, u)
			}
		}
		u, err := envelope.ParseMessageID(id)
		ts, terr := envelope.MessageIDTime(id)
		if err != nil {
			var ve *envelope.ValidationError
			if !errors.Is(err, envelope.ErrBadMessageID) || !errors.As(err, &ve) || ve.Field != "message_id" {
				t.Fatalf("ParseMessageID(%q): %v, want a *ValidationError wrapping ErrBadMessageID", id, err)
			}
			if !errors.Is(terr, envelope.ErrBadMessageID) {
				t.Fatalf("MessageIDTime(%q): %v after ParseMessageID refused it", id, terr)
			}
			return
		}
		if envelope.IDPrefix+u.String() != id {
			t.Fatalf("ParseMessageID accepted %q, a spelling of %s", id, u)
		}
		if terr != nil || !ts.Equal(time.UnixMilli(int64(u.Time()))) || ts.Location() != time.UTC {
			t.Fatalf("MessageIDTime(%q) = %v, %v; want %v in UTC", id, ts, terr, time.UnixMilli(int64(u.Time())))
		}
	})
}
