package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// writeMarkdown turns the JSON lines of a run (one per scenario) into the
// Markdown table of BENCHMARKS.md.
func writeMarkdown(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintln(w, "| scenario | streams | events/s | p50 ms | p99 ms | max ms | deliveries/s (expected) | delivered | disconnected | server RSS/stream | server CPU | client CPU (µs/delivery) | client sched p99 | machine busy | target | met |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var r result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		met := "yes"
		if !r.TargetMet {
			met = "**no**"
		}
		if r.ClientCPUBound {
			met += " (load client CPU-bound)"
		}
		disc := fmt.Sprint(r.Disconnected)
		if r.SlowDisconnected > 0 {
			disc += fmt.Sprintf(" (%d too slow)", r.SlowDisconnected)
		}
		fmt.Fprintf(w, "| %s | %d/%d | %d | %.1f | %.1f | %.1f | %.0f (%.0f) | %.2f %% | %s | %.1f KiB | %.0f %% | %.0f %% (%.2f) | %.1f ms | %.0f %% of %d00 %% | p99 ≤ %.0f ms, no disconnects | %s |\n",
			r.Scenario, r.Connected, r.Clients, r.Rate, r.P50, r.P99, r.Max, r.DeliveredPerS, r.ExpectedPerS,
			r.DeliveredPct, disc, r.KiBPerConn, r.ServerCPUPct, r.ClientCPUPct, r.ClientUSPerDel,
			r.ClientSchedP99, r.MachineBusyPct, r.CPUs, r.TargetP99, met)
	}
	return sc.Err()
}
