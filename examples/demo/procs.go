package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// supervisor starts the demo's services as child processes, each with its
// own log file, and stops them all, however the demo ends. It is safe for
// concurrent use.
type supervisor struct {
	logDir string
	env    []string

	mu    sync.Mutex
	procs []*proc
}

// proc is one running child process.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	err     error         // its exit status, once done is closed
}

func newSupervisor(logDir string, env []string) *supervisor {
	return &supervisor{logDir: logDir, env: env}
}

// start runs bin with args as the service name, its output going to
// <logDir>/<name>.log. The process gets its own process group, so that a
// Ctrl-C in the terminal reaches the demo, which then stops its children in
// order, rather than every process at once.
func (s *supervisor) start(name, bin string, args ...string) (*proc, error) {
	logPath := filepath.Join(s.logDir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s: log file: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = s.env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return p, nil
}

// exited returns an error naming the first process that has exited, or nil
// while all run.
func (s *supervisor) exited() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.procs {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited unexpectedly (%v)", p.name, p.err)
		default:
		}
	}
	return nil
}

// stopAll sends SIGTERM to every process, newest first, waits for them up
// to timeout, and kills those still running.
func (s *supervisor) stopAll(timeout time.Duration) {
	s.mu.Lock()
	procs := append([]*proc(nil), s.procs...)
	s.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.After(timeout)
	for _, p := range procs {
		select {
		case <-p.done:
		case <-deadline:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
}

// tails returns the last n lines of every process's log, for a failure
// report.
func (s *supervisor) tails(n int) string {
	s.mu.Lock()
	procs := append([]*proc(nil), s.procs...)
	s.mu.Unlock()
	var b strings.Builder
	for _, p := range procs {
		lines, err := tail(p.logPath, n)
		fmt.Fprintf(&b, "── %s (%s) ──\n", p.name, p.logPath)
		if err != nil {
			fmt.Fprintf(&b, "   (%v)\n", err)
			continue
		}
		for _, l := range lines {
			fmt.Fprintln(&b, "   "+l)
		}
	}
	return b.String()
}

func tail(path string, n int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return lines, sc.Err()
}

// runCLI runs the kbus CLI to completion within ctx and returns its
// standard output; its standard error is part of the error when it fails.
func (s *supervisor) runCLI(ctx context.Context, bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = s.env
	cmd.SysProcAttr = procAttr()
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kbus %s: %w: %s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}
