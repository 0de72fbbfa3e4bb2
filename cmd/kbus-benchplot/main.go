// Command kbus-benchplot is a developer tool, not part of kbus's API: it
// turns the output of the scaling benchmarks (consumer/scale_bench_test.go,
// BenchmarkGroupScaling and BenchmarkDedupGrowth) into the Markdown tables
// and the SVG chart of BENCHMARKS.md's "Scaling" section. scripts/bench-scale.sh
// runs it:
//
//	go test ./consumer -run '^$' -bench 'BenchmarkGroupScaling|BenchmarkDedupGrowth' -benchtime 1x -count 3 >bench.txt
//	kbus-benchplot -svg docs/bench/scaling.svg <bench.txt >tables.md
//
// Every figure is the median of the repetitions of a benchmark. The chart is
// written by hand (no plotting dependency): bars for the group's instances,
// a line over the sizes of processed_events.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("kbus-benchplot: ")
	svgPath := flag.String("svg", "", "write the chart to this file")
	flag.Parse()
	if err := run(os.Stdin, os.Stdout, *svgPath); err != nil {
		log.Fatal(err)
	}
}

func run(in io.Reader, out io.Writer, svgPath string) error {
	res, err := parse(in)
	if err != nil {
		return err
	}
	g, d := res.series("BenchmarkGroupScaling", "instances="), res.series("BenchmarkDedupGrowth", "rows=")
	if len(g) == 0 && len(d) == 0 {
		return fmt.Errorf("no BenchmarkGroupScaling or BenchmarkDedupGrowth lines in the input")
	}
	if _, err := io.WriteString(out, markdown(g, d)); err != nil {
		return err
	}
	if svgPath != "" {
		if err := os.WriteFile(svgPath, []byte(chart(g, d)), 0o644); err != nil {
			return err
		}
	}
	return nil
}
