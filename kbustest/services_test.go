package kbustest_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kbus-dev/kbus/kbustest"
)

func TestChooseServices(t *testing.T) {
	noEngine := errors.New("Cannot connect to the Docker daemon at unix:///var/run/docker.sock.\nIs the docker daemon running?")
	cases := []struct {
		name     string
		env      map[string]string
		docker   error
		kafka    bool
		postgres bool
		asked    bool   // whether the Docker probe must be called
		reason   string // a part of Plan.Reason
		err      error  // wrapped by the error, if any
		errText  string // a part of the error, if any
	}{
		{name: "unset, nothing set, engine answers", kafka: true, postgres: true, asked: true,
			reason: "starting Kafka and PostgreSQL in containers"},
		{name: "unset, nothing set, no engine", docker: noEngine, asked: true,
			reason: "no Docker engine answers (Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?)"},
		{name: "auto, both set: Docker not asked",
			env:    map[string]string{"KBUS_SERVICES": "auto", "KAFKA_BROKERS": "k:9092", "DATABASE_URL": "postgres://db/kbus"},
			reason: "KAFKA_BROKERS and DATABASE_URL are set"},
		{name: "unset, both set, engine would answer: Docker not asked",
			env:    map[string]string{"KAFKA_BROKERS": "k:9092", "DATABASE_URL": "postgres://db/kbus"},
			reason: "KAFKA_BROKERS and DATABASE_URL are set"},
		{name: "auto, only DATABASE_URL set", env: map[string]string{"KBUS_SERVICES": "auto", "DATABASE_URL": "postgres://db/kbus"},
			kafka: true, asked: true, reason: "starting Kafka in a container; PostgreSQL at DATABASE_URL"},
		{name: "unset, only KAFKA_BROKERS set", env: map[string]string{"KAFKA_BROKERS": "k:9092"},
			postgres: true, asked: true, reason: "starting PostgreSQL in a container; Kafka at KAFKA_BROKERS"},
		{name: "auto, only KAFKA_BROKERS set, no engine", env: map[string]string{"KAFKA_BROKERS": "k:9092"}, docker: noEngine,
			asked: true, reason: "set KBUS_SERVICES=containers to make this an error"},
		{name: "native: Docker not asked", env: map[string]string{"KBUS_SERVICES": "native"}, reason: "KBUS_SERVICES=native"},
		{name: "native, spelled loosely", env: map[string]string{"KBUS_SERVICES": " Native "}, reason: "KBUS_SERVICES=native"},
		{name: "containers, engine answers, variables set: containers win",
			env:   map[string]string{"KBUS_SERVICES": "containers", "KAFKA_BROKERS": "k:9092", "DATABASE_URL": "postgres://db/kbus"},
			kafka: true, postgres: true, asked: true, reason: "KBUS_SERVICES=containers"},
		{name: "containers, no engine: an error", env: map[string]string{"KBUS_SERVICES": "containers"}, docker: noEngine, asked: true,
			err: kbustest.ErrNoContainerEngine, errText: "KBUS_SERVICES=containers, but no Docker engine answers (Cannot connect"},
		{name: "unknown value", env: map[string]string{"KBUS_SERVICES": "docker"}, errText: `KBUS_SERVICES="docker": want auto, native or containers`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			asked := 0
			plan, err := kbustest.ChooseServices(
				func(k string) string { return c.env[k] },
				func() error { asked++; return c.docker })
			if asked > 1 || (asked == 1) != c.asked {
				t.Errorf("Docker probe called %d times, want asked=%v", asked, c.asked)
			}
			if c.errText != "" {
				if err == nil || !strings.Contains(err.Error(), c.errText) {
					t.Fatalf("err = %v, want one containing %q", err, c.errText)
				}
				if c.err != nil && !errors.Is(err, c.err) {
					t.Errorf("err = %v, want one wrapping %v", err, c.err)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("err spans lines: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if plan.Kafka != c.kafka || plan.Postgres != c.postgres || plan.Containers() != (c.kafka || c.postgres) {
				t.Errorf("plan = %+v, want Kafka=%v Postgres=%v", plan, c.kafka, c.postgres)
			}
			if !strings.Contains(plan.Reason, c.reason) || strings.Contains(plan.Reason, "\n") {
				t.Errorf("reason = %q, want one line containing %q", plan.Reason, c.reason)
			}
		})
	}
}

// ExampleChooseServices shows the decision that the kbustest/containers
// module takes in TestMain, here with a stand-in environment and Docker probe.
func ExampleChooseServices() {
	env := map[string]string{"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/kbus?sslmode=disable"}
	dockerAnswers := func() error { return nil } // containers.DockerAnswers in real use

	plan, err := kbustest.ChooseServices(func(k string) string { return env[k] }, dockerAnswers)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("Kafka in a container:", plan.Kafka)
	fmt.Println("PostgreSQL in a container:", plan.Postgres)
	fmt.Println(plan.Reason)

	env["KBUS_SERVICES"] = "containers"
	_, err = kbustest.ChooseServices(func(k string) string { return env[k] },
		func() error { return errors.New("no socket") })
	fmt.Println(errors.Is(err, kbustest.ErrNoContainerEngine))
	// Output:
	// Kafka in a container: true
	// PostgreSQL in a container: false
	// KAFKA_BROKERS is unset and a Docker engine answers: starting Kafka in a container; PostgreSQL at DATABASE_URL
	// true
}
