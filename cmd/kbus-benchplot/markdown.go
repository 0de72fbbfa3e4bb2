package main

import (
	"fmt"
	"strconv"
	"strings"
)

// markdown returns the tables of the Scaling section: the group's instances,
// then the sizes of processed_events. Ratios are to the first row (1
// instance, the empty table).
func markdown(group, dedup []point) string {
	var b strings.Builder
	if len(group) > 0 {
		b.WriteString("| instances of the group | events/s | vs 1 instance | steady events/s | vs 1 instance | machine CPU busy | cores used by the consumers' process |\n")
		b.WriteString("|---:|---:|---:|---:|---:|---:|---:|\n")
		base := group[0]
		for _, p := range group {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", p.label,
				rate(p.median["events/s"]), ratio(p.median["events/s"], base.median["events/s"]),
				rate(p.median["steady-events/s"]), ratio(p.median["steady-events/s"], base.median["steady-events/s"]),
				percent(p.median, "machine-cpu-%"), cores(p.median))
		}
		b.WriteString("\n")
	}
	if len(dedup) > 0 {
		b.WriteString("| rows in processed_events | events/s | vs empty table | steady events/s | vs empty table | machine CPU busy |\n")
		b.WriteString("|---:|---:|---:|---:|---:|---:|\n")
		base := dedup[0]
		for _, p := range dedup {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", thousands(int64(p.x)),
				rate(p.median["events/s"]), ratio(p.median["events/s"], base.median["events/s"]),
				rate(p.median["steady-events/s"]), ratio(p.median["steady-events/s"], base.median["steady-events/s"]),
				percent(p.median, "machine-cpu-%"))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func rate(v float64) string { return strconv.FormatInt(int64(v+0.5), 10) }

func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func percent(m map[string]float64, unit string) string {
	v, ok := m[unit]
	if !ok {
		return "n/a"
	}
	return fmt.Sprintf("%.0f %%", v)
}

func cores(m map[string]float64) string {
	v, ok := m["kbus-cores"]
	if !ok {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", v)
}

// thousands formats n with commas: 10,000,000.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// short formats a row count for the chart's axis: 0, 100k, 1M, 10M.
func short(n float64) string {
	switch {
	case n >= 1e6:
		return strconv.FormatFloat(n/1e6, 'f', -1, 64) + "M"
	case n >= 1e3:
		return strconv.FormatFloat(n/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(n, 'f', -1, 64)
}
