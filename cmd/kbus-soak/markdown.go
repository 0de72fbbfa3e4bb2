package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Markers of the part of RELIABILITY.md that a run writes; the prose around
// them is written by hand.
const (
	markBegin = "<!-- kbus-soak:begin (written by make soak; do not edit by hand) -->"
	markEnd   = "<!-- kbus-soak:end -->"
)

// writeMarkdown replaces the figures between the markers of path with r's
// (or appends them when the file has no markers). about describes the
// machine and the services, one bullet per line.
func writeMarkdown(path string, c config, r *report, about []string) error {
	var b bytes.Buffer
	r.markdown(&b, c, about)
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	doc := string(old)
	i, j := strings.Index(doc, markBegin), strings.Index(doc, markEnd)
	switch {
	case i >= 0 && j > i:
		doc = doc[:i] + markBegin + "\n" + b.String() + doc[j:]
	default:
		doc += "\n" + markBegin + "\n" + b.String() + markEnd + "\n"
	}
	return os.WriteFile(path, []byte(doc), 0o644)
}

func (r *report) markdown(w io.Writer, c config, about []string) {
	status := "**PASSED**: every check held."
	if !r.Passed {
		status = "**FAILED**: " + strings.Join(r.Failures, "; ") + "."
	}
	fmt.Fprintf(w, "Run of %s, %s. %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), formName(c), status)
	for _, a := range about {
		fmt.Fprintf(w, "- %s\n", a)
	}
	fmt.Fprintf(w, "- Workload: %d events through `producer.Publish` from %d goroutines and %d through `producer/outbox` "+
		"(transactions of ten), paced over %s (publishing ended after %.0f s), on one topic of %d partitions "+
		"(replication factor 3, `min.insync.replicas=2`), %d tenants; %d poison records written mid-run.\n",
		r.Events, c.publishers, r.OutboxEvents, c.duration*8/10, r.PublishSeconds, c.partitions, c.tenants, r.Poison)
	fmt.Fprintf(w, "- Faults: %s.\n\n", faultPlan(c))

	fmt.Fprintln(w, "### What was injected")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| fault | times | target | down (min / median / max) |")
	fmt.Fprintln(w, "|---|---:|---|---|")
	type agg struct {
		n       int
		targets map[string]int
		down    []float64
	}
	kinds := map[string]*agg{}
	var order []string
	for _, f := range r.Faults {
		a := kinds[f.Kind]
		if a == nil {
			a = &agg{targets: map[string]int{}}
			kinds[f.Kind] = a
			order = append(order, f.Kind)
		}
		a.n++
		t := f.Target
		if i := strings.Index(t, " ("); i > 0 {
			t = t[:i]
		}
		a.targets[t]++
		a.down = append(a.down, f.Downtime)
	}
	sort.Strings(order)
	for _, k := range order {
		a := kinds[k]
		sort.Float64s(a.down)
		var ts []string
		for t, n := range a.targets {
			ts = append(ts, fmt.Sprintf("%s ×%d", t, n))
		}
		sort.Strings(ts)
		fmt.Fprintf(w, "| %s | %d | %s | %.1f s / %.1f s / %.1f s |\n", k, a.n, strings.Join(ts, ", "),
			a.down[0], a.down[len(a.down)/2], a.down[len(a.down)-1])
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "*Down* is from the kill to the process answering again (the harness restarts a killed kbus process after 0.5–2 s; a broker or PostgreSQL after 15 s or 8 s, plus its own start-up).")
	fmt.Fprintln(w)

	fmt.Fprintln(w, "### What held")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| check | measured | expected |")
	fmt.Fprintln(w, "|---|---:|---|")
	for _, row := range r.rows() {
		fmt.Fprintf(w, "| %s | %v | %s |\n", row[0], row[1], row[2])
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "<details><summary>Fault timeline</summary>")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "```")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range r.Faults {
		fmt.Fprintf(tw, "at %s\t%s\t%s\tdown %.1f s\n", f.At, f.Kind, f.Target, f.Downtime)
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "```")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "</details>")
	fmt.Fprintln(w)
}

func formName(c config) string {
	if c.short {
		return "short form (`make soak-short`, as CI runs it)"
	}
	return "long form (`make soak`)"
}

func faultPlan(c config) string {
	if c.short {
		return "one of each kind: kill -9 of a consumer, a webhook dispatcher and an SSE server; " +
			"kill -9 of the broker leading partition 0 (restarted 15 s later); `pg_ctl stop -m immediate` (restarted 8 s later)"
	}
	return fmt.Sprintf("every %s a kill -9 of a random consumer, webhook dispatcher or SSE server in turn (restarted after 0.5–2 s); "+
		"kill -9 of the broker leading partition 0 at 15%% and 50%% of the run (restarted 15 s later); "+
		"`pg_ctl stop -m immediate` at 35%% and 70%% (restarted 8 s later); publishing goes on throughout", c.faultEvery)
}
