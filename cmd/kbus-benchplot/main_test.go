package main

import (
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sample = `goos: linux
BenchmarkGroupScaling/instances=1-2  1  1770159281 ns/op  29000 events/s  1.000 instances  0.70 kbus-cores  90.00 machine-cpu-%  31000 steady-events/s  1.000 x-baseline
BenchmarkGroupScaling/instances=1-2  1  1770159281 ns/op  31000 events/s  1.000 instances  0.80 kbus-cores  94.00 machine-cpu-%  33000 steady-events/s  1.000 x-baseline
BenchmarkGroupScaling/instances=2-2  1  1461249263 ns/op  35000 events/s  2.000 instances  0.90 kbus-cores  97.00 machine-cpu-%  39000 steady-events/s  1.2 x-baseline
--- BENCH: BenchmarkDedupGrowth/rows=100000
    scale_bench_test.go:308: processed_events: 0 → 100000 rows in 1s
BenchmarkDedupGrowth/rows=0-2  1  1240189299 ns/op  16000 events/s  0 rows  18000 steady-events/s  1.000 x-baseline
BenchmarkDedupGrowth/rows=10000000-2  1  1240189299 ns/op  12000 events/s  10000000 rows  13500 steady-events/s  0.75 x-baseline
PASS
`

func TestTablesAndChart(t *testing.T) {
	svg := filepath.Join(t.TempDir(), "scaling.svg")
	var out strings.Builder
	if err := run(strings.NewReader(sample), &out, svg); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| 1 | 30000 | 1.00× | 32000 | 1.00× | 92 % | 0.75 |",
		"| 2 | 35000 | 1.17× | 39000 | 1.22× | 97 % | 0.90 |",
		"| 0 | 16000 | 1.00× | 18000 | 1.00× | n/a |",
		"| 10,000,000 | 12000 | 0.75× | 13500 | 0.75× | n/a |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("tables lack %q:\n%s", want, out.String())
		}
	}
	data, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	// Well-formed XML, with both panels' data.
	d := xml.NewDecoder(strings.NewReader(string(data)))
	for {
		if _, err := d.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("svg is not well-formed: %v", err)
		}
	}
	for _, want := range []string{"<rect", "<polyline", ">10M<", "10,000,000 rows: 12000 events/s"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("svg lacks %q", want)
		}
	}
}

func TestNoResultsIsAnError(t *testing.T) {
	if err := run(strings.NewReader("PASS\n"), io.Discard, ""); err == nil {
		t.Fatal("want an error")
	}
}

func TestNiceScale(t *testing.T) {
	for _, c := range []struct{ v, max, step float64 }{
		{30000, 40000, 10000},
		{41000, 50000, 10000},
		{9, 10, 2},
		{0, 1, 0.25},
	} {
		if m, s := niceScale(c.v); m != c.max || s != c.step {
			t.Errorf("niceScale(%g) = %g, %g; want %g, %g", c.v, m, s, c.max, c.step)
		}
	}
}
