package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// proc is a child process the harness keeps running: restarted after it is
// killed on purpose, and counted (then restarted) when it exits on its own.
type proc struct {
	name string
	args []string
	env  []string
	dir  string
	log  *slog.Logger

	mu       sync.Mutex
	cmd      *exec.Cmd
	killing  bool
	done     chan struct{}
	stopped  bool
	kills    atomic.Int64
	unwanted atomic.Int64 // exits the harness did not cause
	lastErr  string
}

func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return nil
	}
	f, err := os.OpenFile(filepath.Join(p.dir, p.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL} // no orphans if the harness dies
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd, p.killing, p.done = cmd, false, make(chan struct{})
	done := p.done
	go func() {
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		expected := p.killing || p.stopped
		p.mu.Unlock()
		close(done)
		if expected {
			return
		}
		p.unwanted.Add(1)
		p.mu.Lock()
		p.lastErr = fmt.Sprintf("%v; last log lines: %s", err, tail(filepath.Join(p.dir, p.name+".log"), 5))
		p.mu.Unlock()
		p.log.Error("soak: process exited on its own; restarting it", "process", p.name, "error", err)
		time.Sleep(time.Second)
		_ = p.start()
	}()
	return nil
}

// kill9 kills the process with SIGKILL and starts it again after pause.
func (p *proc) kill9(pause time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	if cmd == nil || p.stopped {
		p.mu.Unlock()
		return
	}
	p.killing = true
	p.mu.Unlock()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
	p.kills.Add(1)
	time.Sleep(pause)
	if err := p.start(); err != nil {
		p.log.Error("soak: restart failed", "process", p.name, "error", err)
	}
}

// stop ends the process gracefully (SIGTERM, SIGKILL after 20 s) for good.
func (p *proc) stop() {
	p.mu.Lock()
	p.stopped = true
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
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
	return strings.Join(lines, " | ")
}

// script runs one of the project's service scripts (scripts/kafka.sh …).
func script(ctx context.Context, root string, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(root, "scripts", args[0])}, args[1:]...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
