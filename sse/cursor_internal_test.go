package sse

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestCursorRoundTrip(t *testing.T) {
	l := newLayout(map[string]int32{"payment.completed": 12, "payment.failed": 3, "refund.created": 1})
	if len(l.parts) != 16 || l.parts[0] != (tp{"payment.completed", 0}) || l.parts[12] != (tp{"payment.failed", 0}) {
		t.Fatalf("layout order %v", l.parts)
	}
	const msgID = "msg_01HM6AQH5VX7K9PAYM3NTQ8RSW"
	for _, pos := range [][]int64{
		make([]int64, 16),
		{1_000_000, 1_000_250, 999_870, 1_001_000, 1_000_000, 1_000_003, 998_000, 1_000_500, 1_000_000, 1_000_001, 1_000_002, 1_000_003, 5, 0, 7, 42},
		{math.MaxInt64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, math.MaxInt64, math.MaxInt64, math.MaxInt64, math.MaxInt64, 3},
	} {
		id := string(l.appendID(nil, msgID, pos))
		if MessageID(id) != msgID || !strings.HasPrefix(id, msgID+".") {
			t.Fatalf("id %q: message id %q", id, MessageID(id))
		}
		got, err := l.parseCursor(id[len(msgID)+1:])
		if err != nil || !slices.Equal(got, pos) {
			t.Fatalf("id %q decodes to %v, %v; want %v", id, got, err, pos)
		}
	}
	// A 12-partition topic at a million events per partition.
	one := newLayout(map[string]int32{"payment.completed": 12})
	pos := []int64{1_000_000, 1_000_250, 999_870, 1_001_000, 1_000_000, 1_000_003, 998_000, 1_000_500, 1_000_000, 1_000_001, 1_000_002, 1_000_003}
	if id := one.appendID(nil, msgID, pos); len(id) > 100 {
		t.Errorf("id %q is %d bytes long", id, len(id))
	} else {
		t.Logf("%d bytes: %s", len(id), id)
	}
}

func TestCursorRefusals(t *testing.T) {
	l := newLayout(map[string]int32{"payment.completed": 2})
	other := newLayout(map[string]int32{"payment.completed": 3})
	good := string(l.appendID(nil, "msg_x", []int64{10, 12}))[len("msg_x."):]
	foreign := string(other.appendID(nil, "msg_x", []int64{10, 12, 14}))[len("msg_x."):]
	if _, err := l.parseCursor(foreign); !errors.Is(err, errOtherLayout) {
		t.Errorf("a position of another layout: %v, want errOtherLayout", err)
	}
	for name, c := range map[string]string{
		"empty":            "",
		"padded":           good + "=",
		"not base64url":    "AQ+/AAAA",
		"short":            "AQID",
		"line break":       good[:4] + "\n" + good[4:],
		"truncated":        good[:len(good)-2],
		"trailing bytes":   string(l.appendID(nil, "", []int64{10, 12}))[1:] + "AA",
		"overlong":         strings.Repeat("A", maxCursorLen+1),
		"uvarint overflow": base64.RawURLEncoding.EncodeToString(append([]byte{cursorVersion, l.hash[0], l.hash[1], l.hash[2], l.hash[3]}, bytes.Repeat([]byte{0xff}, 11)...)),
		"offset overflow":  base64.RawURLEncoding.EncodeToString(binary.AppendUvarint(binary.AppendUvarint([]byte{cursorVersion, l.hash[0], l.hash[1], l.hash[2], l.hash[3]}, math.MaxInt64), 1)),
	} {
		if _, err := l.parseCursor(c); !errors.Is(err, errBadCursor) {
			t.Errorf("%s %q: %v, want errBadCursor", name, c, err)
		}
	}
	if MessageID("msg_x") != "msg_x" || MessageID("msg_x.AQ.x") != "msg_x" || MessageID("") != "" {
		t.Error("MessageID")
	}
}
