// Command kbus-ssebench is a developer tool, not part of kbus's API: the load
// client of scripts/bench-sse.sh (run by `make bench`), which measures the
// fan-out latency of a running `kbus serve sse` for BENCHMARKS.md.
//
// It opens -clients concurrent streams to the server (one admin API key,
// which it creates and revokes itself, so every stream receives every
// event), waits until all are connected, then publishes events through the
// kbus producer at a steady -rate per second for -duration, and waits for
// the deliveries to drain. Every stream parses its events and records
// publish-to-client latency: the time the event is parsed minus the
// publish time in its message id (envelope.MessageIDTime, millisecond
// precision, so latencies read up to 1 ms high). Latencies go into a
// log-linear histogram (0.8 % resolution), not a list of samples.
//
// With -server-pid it also reads the server's VmRSS before and after the
// streams connect and its CPU time during the publishing window, and with
// it its own CPU time, the machine's, and its own goroutine scheduling
// latency (runtime/metrics /sched/latencies), which shows whether the load
// client itself kept up.
//
// It prints one JSON object on stdout (see result); progress goes to stderr.
// With -markdown FILE it turns the JSON lines of a run into the Markdown
// table of BENCHMARKS.md instead.
package main
