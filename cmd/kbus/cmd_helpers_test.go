package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kbus-dev/kbus/kbustest"
)

// cliResult is the outcome of one in-process run of the CLI.
type cliResult struct {
	stdout, stderr string
	err            error
}

// execCLI runs the CLI in-process with args (newRootCmd, as main does, with
// a 2-minute deadline) and returns what it wrote and its error.
func execCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	root := newRootCmd(&stdout, &stderr)
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return cliResult{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// kafkaCLI is execCLI with --brokers set to the test's broker (the test is
// skipped or failed, per kbustest, when none answers).
func kafkaCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	return execCLI(t, append([]string{"--brokers", strings.Join(kbustest.Brokers(t), ",")}, args...)...)
}

// mustCLI is kafkaCLI that fails the test when the command fails, and
// returns its standard output.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	r := kafkaCLI(t, args...)
	if r.err != nil {
		t.Fatalf("kbus %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r.stdout
}

// failCLI is kafkaCLI that fails the test unless the command fails with an
// error containing want, and returns the error's text.
func failCLI(t *testing.T, want string, args ...string) string {
	t.Helper()
	r := kafkaCLI(t, args...)
	if r.err == nil {
		t.Fatalf("kbus %s succeeded, want an error containing %q\nstdout: %s", strings.Join(args, " "), want, r.stdout)
	}
	if !strings.Contains(r.err.Error(), want) {
		t.Fatalf("kbus %s: error %q, want it to contain %q", strings.Join(args, " "), r.err, want)
	}
	return r.err.Error()
}

// decodeJSON parses out, the output of --output json, into v, failing the
// test when it is not exactly one JSON value.
func decodeJSON(t *testing.T, out string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("output is not the expected JSON: %v\n%s", err, out)
	}
	if dec.More() {
		t.Fatalf("output has more than one JSON value:\n%s", out)
	}
}
