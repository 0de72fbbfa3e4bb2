package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kbus-dev/kbus/consumer"
	"github.com/kbus-dev/kbus/envelope"
)

// worker is the consumer process: `kbus-soak worker -mode tx|alo`.
func worker(args []string) error {
	fs := flag.NewFlagSet("worker", flag.ExitOnError)
	mode := fs.String("mode", "tx", "tx (Transactional, one effect row per event) or alo (AtLeastOnce, one line per run)")
	brokers := fs.String("brokers", "", "seed brokers")
	dbURL := fs.String("database-url", "", "PostgreSQL URL")
	group := fs.String("group", "", "consumer group")
	topic := fs.String("topic", "payment.completed", "topic")
	name := fs.String("name", "worker", "this process's name, written with each effect")
	runs := fs.String("runs", "", "alo: the file each handler run is appended to")
	_ = fs.Parse(args)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg := consumer.Config{Brokers: strings.Split(*brokers, ","), Group: *group, Topics: []string{*topic},
		Logger: log, SkipMigrations: true, Concurrency: 6}
	switch *mode {
	case "tx":
		pool, err := pgxpool.New(ctx, *dbURL) // connects lazily: a PostgreSQL outage at start is waited out
		if err != nil {
			return err
		}
		defer pool.Close()
		cfg.DB = pool
		c, err := consumer.New(cfg)
		if err != nil {
			return err
		}
		c.HandleTx(*topic, func(ctx context.Context, tx pgx.Tx, e envelope.Envelope) error {
			_, err := tx.Exec(ctx, `INSERT INTO soak_effects (message_id, worker) VALUES ($1, $2)`, e.MessageID, *name)
			return err
		})
		return c.Run(ctx)
	case "alo":
		f, err := os.OpenFile(*runs, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		cfg.Mode = consumer.AtLeastOnce
		c, err := consumer.New(cfg)
		if err != nil {
			return err
		}
		c.Handle(*topic, func(_ context.Context, e envelope.Envelope) error {
			// One write(2) per run: the kernel keeps it through a kill -9.
			_, err := f.WriteString(e.MessageID + "\n")
			return err
		})
		return c.Run(ctx)
	}
	return fmt.Errorf("worker: unknown -mode %q", *mode)
}
