package sse

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// A resume during a leader failover: listing offsets fails for a partition
// until leadership has moved; the resume waits for it instead of failing.
func TestListOffsetsRidesOutAFailover(t *testing.T) {
	calls := 0
	offs, err := listOffsets(context.Background(), func(context.Context) (kadm.ListedOffsets, error) {
		calls++
		o := kadm.ListedOffsets{"t": {0: {Topic: "t", Partition: 0, Offset: 7}}}
		if calls < 3 {
			o["t"][0] = kadm.ListedOffset{Topic: "t", Partition: 0, Err: errors.New("NOT_LEADER_FOR_PARTITION")}
		}
		return o, nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("err %v after %d calls, want success at the third", err, calls)
	}
	if o, _ := offs.Lookup("t", 0); o.Offset != 7 {
		t.Fatalf("offset %d, want 7", o.Offset)
	}

	// The request ends (the client went away): no more waiting.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = listOffsets(ctx, func(context.Context) (kadm.ListedOffsets, error) { return nil, errors.New("unable to dial") })
	if err == nil {
		t.Fatal("no error from a list that always fails")
	}
	if d := time.Since(start); d > resumeListWait/2 {
		t.Fatalf("returned after %s, want soon after its context ended", d)
	}
}
