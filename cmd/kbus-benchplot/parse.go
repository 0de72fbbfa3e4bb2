package main

import (
	"bufio"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// results holds, per benchmark name (without the -GOMAXPROCS suffix), the
// values of every metric over the repetitions, in input order.
type results struct {
	names   []string
	metrics map[string]map[string][]float64
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

// parse reads `go test -bench` output; lines that are not benchmark results
// are ignored.
func parse(r io.Reader) (*results, error) {
	res := &results{metrics: map[string]map[string][]float64{}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// name, iterations, then value-unit pairs.
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := procsSuffix.ReplaceAllString(f[0], "")
		m := res.metrics[name]
		if m == nil {
			m = map[string][]float64{}
			res.metrics[name] = m
			res.names = append(res.names, name)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			m[f[i+1]] = append(m[f[i+1]], v)
		}
	}
	return res, sc.Err()
}

// point is one variant of a benchmark: its label (what follows param in the
// sub-benchmark's name) and the median of each metric.
type point struct {
	label  string
	x      float64 // the label as a number
	median map[string]float64
	runs   int
}

// series returns the sub-benchmarks of bench named param<value>, in input
// order.
func (r *results) series(bench, param string) []point {
	var ps []point
	for _, name := range r.names {
		label, ok := strings.CutPrefix(name, bench+"/"+param)
		if !ok {
			continue
		}
		x, _ := strconv.ParseFloat(label, 64)
		p := point{label: label, x: x, median: map[string]float64{}}
		for unit, vs := range r.metrics[name] {
			p.median[unit] = median(vs)
			p.runs = max(p.runs, len(vs))
		}
		ps = append(ps, p)
	}
	return ps
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
