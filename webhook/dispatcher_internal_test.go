package webhook

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"120", 2 * time.Minute}, {"-5", 0}, {"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"999999", 24 * time.Hour}, // capped
	} {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestNextFollowsTheScheduleAndRetryAfter(t *testing.T) {
	d := &Dispatcher{cfg: DispatcherConfig{Schedule: DefaultSchedule, PollInterval: time.Second}}
	at := time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)
	for n := 1; n <= len(DefaultSchedule); n++ {
		status, next := d.next(n, outcome{at: at, status: 500})
		want := DefaultSchedule[n-1]
		if status != DeliveryPending || next.Sub(at) < want*9/10 || next.Sub(at) > want*11/10 {
			t.Errorf("after failed attempt %d: %s at +%v, want pending at +%v ±10%%", n, status, next.Sub(at), want)
		}
	}
	if status, _ := d.next(len(DefaultSchedule)+1, outcome{at: at, status: 500}); status != DeliveryFailed {
		t.Errorf("after the last attempt: %s, want failed", status)
	}
	// Retry-After longer than the schedule's wait is honoured.
	if _, next := d.next(1, outcome{at: at, status: 429, retryAfter: time.Hour}); next.Sub(at) != time.Hour {
		t.Errorf("429 with Retry-After 1h: next at +%v", next.Sub(at))
	}
	if status, _ := d.next(1, outcome{at: at, status: 200, success: true}); status != DeliverySucceeded {
		t.Errorf("success: %s", status)
	}
	if status, _ := d.next(1, outcome{at: at, status: 410, final: ReasonEndpointGone}); status != DeliveryFailed {
		t.Errorf("410: %s", status)
	}
}
