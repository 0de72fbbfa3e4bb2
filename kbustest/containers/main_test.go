package containers

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kbus-dev/kbus/kbustest"
)

type fakeM struct{ runs, code int }

func (m *fakeM) Run() int { m.runs++; return m.code }

func TestMainActsOnThePlan(t *testing.T) {
	noEngine := errors.New("dial unix /var/run/docker.sock: connect: no such file or directory")
	cases := []struct {
		name     string
		env      map[string]string
		docker   error
		startErr error
		start    *kbustest.Plan // the plan Start must get; nil: Start must not be called
		code     int            // Main's result
		runs     int            // how often the tests ran
		set      map[string]string
		log      []string
	}{
		{name: "make test: both variables set",
			env:  map[string]string{"KAFKA_BROKERS": "127.0.0.1:9092", "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/kbus"},
			code: 7, runs: 1, log: []string{"KAFKA_BROKERS and DATABASE_URL are set"}},
		{name: "nothing set, no engine: native defaults", docker: noEngine, code: 7, runs: 1,
			log: []string{"no Docker engine answers (dial unix", "set KBUS_SERVICES=containers to make this an error"}},
		{name: "containers asked, no engine: no test runs, a clear error",
			env: map[string]string{"KBUS_SERVICES": "containers"}, docker: noEngine, code: 1,
			log: []string{"KBUS_SERVICES=containers, but no Docker engine answers (dial unix /var/run/docker.sock: connect: no such file or directory)"}},
		{name: "nothing set, engine answers: both in containers", start: &kbustest.Plan{Kafka: true, Postgres: true}, code: 7, runs: 1,
			set: map[string]string{"KAFKA_BROKERS": "localhost:32771", "DATABASE_URL": "postgres://postgres:kbustest@localhost:32772/kbus?sslmode=disable"},
			log: []string{"Kafka (apache/kafka:4.1.2) at localhost:32771", "PostgreSQL (postgres:16) at postgres://"}},
		{name: "DATABASE_URL set, engine answers: Kafka only",
			env:   map[string]string{"DATABASE_URL": "postgres://db/kbus"},
			start: &kbustest.Plan{Kafka: true}, code: 7, runs: 1,
			set: map[string]string{"KAFKA_BROKERS": "localhost:32771"}},
		{name: "a container fails to start: no test runs", start: &kbustest.Plan{Kafka: true, Postgres: true},
			startErr: errors.New("kafka (apache/kafka:4.1.2): pull access denied\nretry later"), code: 1,
			log: []string{"no test ran: the containers did not start: kafka (apache/kafka:4.1.2): pull access denied retry later"}},
		{name: "a bad KBUS_SERVICES: no test runs", env: map[string]string{"KBUS_SERVICES": "yes"}, code: 1,
			log: []string{`KBUS_SERVICES="yes"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &fakeM{code: 7}
			set := map[string]string{}
			e := env{
				get: func(k string) string { return c.env[k] },
				set: func(k, v string) error { set[k] = v; return nil },
			}
			startCalled := false
			start := func(_ context.Context, p kbustest.Plan) (*Services, error) {
				startCalled = true
				if c.start == nil || p.Kafka != c.start.Kafka || p.Postgres != c.start.Postgres {
					t.Errorf("Start(%+v), want %+v", p, c.start)
				}
				if c.startErr != nil {
					return nil, c.startErr
				}
				s := &Services{}
				if p.Kafka {
					s.Brokers = []string{"localhost:32771"}
				}
				if p.Postgres {
					s.DatabaseURL = "postgres://postgres:kbustest@localhost:32772/kbus?sslmode=disable"
				}
				return s, nil
			}
			var log strings.Builder
			code := run(m, e, func(context.Context) error { return c.docker }, start, &log)
			t.Cleanup(func() { started = nil })

			if code != c.code || m.runs != c.runs {
				t.Errorf("code %d after %d runs, want %d after %d", code, m.runs, c.code, c.runs)
			}
			if startCalled != (c.start != nil) {
				t.Errorf("Start called: %v", startCalled)
			}
			if len(set) != len(c.set) {
				t.Errorf("environment set: %v, want %v", set, c.set)
			}
			for k, v := range c.set {
				if set[k] != v {
					t.Errorf("%s = %q, want %q", k, set[k], v)
				}
			}
			for _, want := range c.log {
				if !strings.Contains(log.String(), want) {
					t.Errorf("log lacks %q:\n%s", want, log.String())
				}
			}
			for _, line := range strings.Split(strings.TrimSpace(log.String()), "\n") {
				if !strings.HasPrefix(line, "kbustest/containers: ") {
					t.Errorf("log line without its prefix: %q", line)
				}
			}
		})
	}
}
