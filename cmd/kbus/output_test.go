package main

import (
	"bytes"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTable(t *testing.T) {
	var out bytes.Buffer
	a := &app{out: &out}
	err := a.table([]string{"NAME", "N", "NOTE"}, [][]string{
		{"payment.completed", "3", ""},
		{"x", "12", "two\twords\nand a line"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "NAME               N   NOTE\n" +
		"payment.completed  3   -\n" +
		"x                  12  two words and a line\n"
	if out.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", out.String(), want)
	}

	out.Reset()
	if err := a.table([]string{"A", "B"}, nil); err != nil || out.String() != "A  B\n" {
		t.Errorf("empty table = %q, %v", out.String(), err)
	}
	out.Reset()
	if err := a.table(nil, [][]string{{"Topic:", "t"}}); err != nil || out.String() != "Topic:  t\n" {
		t.Errorf("headerless table = %q, %v", out.String(), err)
	}
}

func TestPrintJSON(t *testing.T) {
	var out bytes.Buffer
	a := &app{out: &out}
	type item struct {
		Name string    `json:"name"`
		At   time.Time `json:"at"`
	}
	var none []item
	if err := a.printJSON(none); err != nil || out.String() != "[]\n" {
		t.Errorf("nil slice = %q, %v; want []", out.String(), err)
	}
	out.Reset()
	if err := a.printJSON([]item{{Name: "a<b>&c", At: time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)}}); err != nil {
		t.Fatal(err)
	}
	want := "[\n  {\n    \"name\": \"a<b>&c\",\n    \"at\": \"2024-01-15T10:30:00Z\"\n  }\n]\n"
	if out.String() != want {
		t.Errorf("printJSON = %q, want %q", out.String(), want)
	}
	out.Reset()
	if err := a.printJSON(map[string]any{"f": func() {}}); err == nil {
		t.Error("printJSON of a func succeeded")
	}
	if !json.Valid(out.Bytes()) && out.Len() != 0 {
		t.Errorf("a failed printJSON left partial output %q", out.String())
	}
}

func TestOutputFlag(t *testing.T) {
	for _, args := range [][]string{
		{"--output", "yaml", "topics", "list"},
		{"-o", "yaml", "lag", "--group", "g"},
		{"-o", "xml", "migrate"},
	} {
		r := execCLI(t, args...)
		if r.err == nil || !strings.Contains(r.err.Error(), "--output must be table or json") {
			t.Errorf("kbus %s: err %v, want a complaint about --output", strings.Join(args, " "), r.err)
		}
		if r.stdout != "" {
			t.Errorf("kbus %s printed %q", strings.Join(args, " "), r.stdout)
		}
	}
}

// Every Kafka command fails within the broker timeout, naming the broker,
// when none answers.
func TestUnreachableBroker(t *testing.T) {
	for _, args := range [][]string{
		{"topics", "list"},
		{"topics", "create", "kbus.unreachable"},
		{"topics", "describe", "kbus.unreachable"},
		{"lag", "--group", "g"},
		{"publish", "--topic", "kbus.unreachable", "--no-validate", "--data", "{}"},
	} {
		t.Run(strings.Join(args[:2], "_"), func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			r := execCLI(t, append([]string{"--brokers", "127.0.0.1:1"}, args...)...)
			if took := time.Since(start); took > brokerTimeout+5*time.Second {
				t.Errorf("took %s", took)
			}
			if r.err == nil {
				t.Fatal("succeeded without a broker")
			}
			if msg := r.err.Error(); !strings.Contains(msg, "no broker answers at 127.0.0.1:1") {
				t.Errorf("error %q should name the broker", msg)
			}
		})
	}
}

// A broker that accepts connections but never answers: the commands give up
// at the broker timeout instead of franz-go's long retries.
func TestSilentBroker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	addr := ln.Addr().String()
	for _, args := range [][]string{
		{"topics", "list"}, // lag and dlq connect the same way
		{"publish", "--topic", "kbus.silent", "--no-validate", "--data", "{}"},
	} {
		t.Run(args[0], func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			r := execCLI(t, append([]string{"--brokers", addr}, args...)...)
			if took := time.Since(start); took > 15*time.Second {
				t.Errorf("took %s, want at most 15s", took)
			}
			if r.err == nil || !strings.Contains(r.err.Error(), "no broker answers at "+addr) {
				t.Errorf("err %v, want one naming the broker %s", r.err, addr)
			}
		})
	}
}
