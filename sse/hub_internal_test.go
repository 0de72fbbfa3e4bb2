package sse

import (
	"strings"
	"testing"
)

func ev(id string) hubEvent {
	e := hubEvent{typ: "t", id: id}
	e.frame = []byte("event: t\nid: " + id + "\ndata: {}\n\n")
	e.idStart, e.idEnd = len("event: t\n"), len("event: t\nid: "+id+"\n")
	return e
}

func TestMergeByIDKeepsPartitionOrder(t *testing.T) {
	runs := [][]hubEvent{{ev("msg_2"), ev("msg_5")}, {ev("msg_1"), ev("msg_3"), ev("msg_4")}, nil, {ev("msg_0")}}
	var got []string
	for _, e := range mergeByID(runs) {
		got = append(got, e.id)
	}
	if strings.Join(got, ",") != "msg_0,msg_1,msg_2,msg_3,msg_4,msg_5" {
		t.Fatalf("merged %v", got)
	}
	// A partition whose own ids are not increasing keeps its order.
	got = got[:0]
	for _, e := range mergeByID([][]hubEvent{{ev("msg_3"), ev("msg_1")}, {ev("msg_2")}}) {
		got = append(got, e.id)
	}
	if strings.Join(got, ",") != "msg_2,msg_3,msg_1" {
		t.Fatalf("merged %v", got)
	}
}

func TestAppendToOmitsTheIDOfALowerID(t *testing.T) {
	max := "msg_1"
	var buf []byte
	for _, id := range []string{"msg_3", "msg_2", "msg_4"} {
		e := ev(id)
		buf = e.appendTo(buf, &max)
	}
	want := "event: t\nid: msg_3\ndata: {}\n\n" + "event: t\ndata: {}\n\n" + "event: t\nid: msg_4\ndata: {}\n\n"
	if string(buf) != want || max != "msg_4" {
		t.Fatalf("got %q (max %s), want %q", buf, max, want)
	}
	// Read back, the client's last event id is the highest one sent.
	r := NewReader(strings.NewReader(string(buf)))
	for range 3 {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if r.LastEventID() != "msg_4" {
		t.Fatalf("LastEventID %s", r.LastEventID())
	}
}
