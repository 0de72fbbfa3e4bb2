package envelope

import (
	"testing"
	"time"
)

// appendTime, with its cache of the last second, must write what
// time.Format does, whatever the order of the times.
func TestAppendTimeMatchesFormat(t *testing.T) {
	base := time.Date(2024, 1, 15, 10, 30, 0, 123000000, time.UTC)
	times := []time.Time{base, base, base.Add(time.Millisecond), base.Add(time.Second), base,
		base.Add(-time.Hour), time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 500000000, time.UTC), base.Add(1500 * time.Nanosecond), base}
	for _, tm := range times {
		got := string(appendTime(nil, tm))
		want := `"` + tm.Format("2006-01-02T15:04:05.000000000")
		for len(want) > len(`"2006-01-02T15:04:05.000`) && want[len(want)-1] == '0' {
			want = want[:len(want)-1]
		}
		want += `Z"`
		if got != want {
			t.Errorf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	}
}
