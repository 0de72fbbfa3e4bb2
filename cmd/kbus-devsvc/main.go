package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: kbus-devsvc kafka-ready|pg-ready|pg-createdb [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka bootstrap brokers, comma separated")
	url := fs.String("url", "postgres://postgres@127.0.0.1:5432/kbus?sslmode=disable", "PostgreSQL URL")
	timeout := fs.Duration("timeout", 60*time.Second, "how long to wait")
	pid := fs.Int("pid", 0, "fail early when this process exits")
	topic := fs.String("topic", "", "topic name")
	partitions := fs.Int("partitions", 1, "partitions of a new topic")
	_ = fs.Parse(os.Args[2:])

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var err error
	switch os.Args[1] {
	case "kafka-ready":
		err = waitFor(ctx, *pid, func(ctx context.Context) error { return kafkaReady(ctx, *brokers) })
	case "pg-ready":
		err = waitFor(ctx, *pid, func(ctx context.Context) error { return pgReady(ctx, *url, false) })
	case "pg-createdb":
		err = pgCreateDB(ctx, *url)
	case "create-topic", "delete-topic":
		err = topicCmd(ctx, os.Args[1], *brokers, *topic, int32(*partitions))
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kbus-devsvc %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// waitFor calls check until it succeeds, ctx ends or process pid exits.
func waitFor(ctx context.Context, pid int, check func(context.Context) error) error {
	for {
		attempt, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := check(attempt)
		cancel()
		if err == nil {
			return nil
		}
		if pid > 0 && syscall.Kill(pid, 0) != nil {
			return fmt.Errorf("process %d exited: %w", pid, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up: %w", err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// kafkaReady succeeds when a broker answers a metadata request and lists itself.
func kafkaReady(ctx context.Context, brokers string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		return err
	}
	defer cl.Close()
	md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		return err
	}
	if len(md.Brokers) == 0 {
		return errors.New("metadata lists no brokers")
	}
	return nil
}

func pgReady(ctx context.Context, url string, maintenance bool) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return err
	}
	if maintenance {
		cfg.Database = "postgres"
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

// pgCreateDB creates the database named in url when it does not exist, connecting
// to the maintenance database "postgres" of the same server.
func pgCreateDB(ctx context.Context, url string) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return err
	}
	name := cfg.Database
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	return err
}

func topicCmd(ctx context.Context, cmd, brokers, topic string, partitions int32) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if cmd == "delete-topic" {
		resp, err := adm.DeleteTopic(ctx, topic)
		if err == nil {
			err = resp.Err
		}
		return err
	}
	resp, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	return err
}
