package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The kbus binary, built once per test process for the tests that run it as
// a child process.
var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
	binaryDir  string
)

// TestMain removes the directory of the built binary after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if binaryDir != "" {
		_ = os.RemoveAll(binaryDir)
	}
	os.Exit(code)
}

// kbusBinary returns the path of a kbus binary built from this module's
// source (go build ./cmd/kbus, from the module root that `go env GOMOD`
// names). The first call builds it; later calls, from any test, reuse it.
// A failed build fails every test that asks for the binary.
func kbusBinary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			binaryErr = err
			return
		}
		gomod := strings.TrimSpace(string(out))
		if gomod == "" || gomod == os.DevNull {
			binaryErr = os.ErrNotExist
			return
		}
		if binaryDir, err = os.MkdirTemp("", "kbus-cli-test-"); err != nil {
			binaryErr = err
			return
		}
		path := filepath.Join(binaryDir, "kbus")
		build := exec.Command("go", "build", "-o", path, "./cmd/kbus")
		build.Dir = filepath.Dir(gomod)
		if out, err := build.CombinedOutput(); err != nil {
			binaryErr = &buildError{err: err, out: string(out)}
			return
		}
		binaryPath = path
	})
	if binaryErr != nil {
		t.Fatalf("build kbus: %v", binaryErr)
	}
	return binaryPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

func TestBinaryHelp(t *testing.T) {
	bin := kbusBinary(t)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"Usage:", "dlq", "topics", "lag", "publish", "migrate", "--brokers", "--output"}},
		{[]string{"topics", "--help"}, []string{"Usage:", "kbus topics", "list", "create", "describe"}},
	} {
		cmd := exec.Command(bin, tc.args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("kbus %s: %v\nstderr: %s", strings.Join(tc.args, " "), err, stderr.String())
		}
		usage := stdout.String()
		for _, w := range tc.want {
			if !strings.Contains(usage, w) {
				t.Errorf("kbus %s: usage lacks %q:\n%s", strings.Join(tc.args, " "), w, usage)
			}
		}
	}
}

func TestBinaryFailureIsOneLine(t *testing.T) {
	cmd := exec.Command(kbusBinary(t), "--output", "yaml", "topics", "list")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("kbus --output yaml: err %v, want exit status 1", err)
	}
	if got := stderr.String(); !strings.HasPrefix(got, "kbus: ") || strings.Count(got, "\n") != 1 || !strings.Contains(got, "yaml") {
		t.Errorf("stderr = %q, want one line \"kbus: ...yaml...\"", got)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q, want nothing", stdout.String())
	}
}
