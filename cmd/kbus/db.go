package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/internal/migrations"
)

// openDB connects a pool to --database-url (at most maxConns connections; 0
// means pgx's default) and applies kbus's migrations. Errors name the
// database as host:port/name, never with its password. The caller closes
// the pool.
func (a *app) openDB(ctx context.Context, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(a.dbURL)
	if err != nil {
		return nil, fmt.Errorf("--database-url: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	where := fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL at %s: %w", where, err)
	}
	cctx, cancel := context.WithTimeout(ctx, dbConnectTimeout)
	defer cancel()
	conn, err := pool.Acquire(cctx)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL at %s: %w", where, err)
	}
	mctx, cancel := context.WithTimeout(ctx, migrateTimeout)
	defer cancel()
	err = migrations.Apply(mctx, conn.Conn(), "")
	conn.Release()
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return pool, nil
}

// serve serves srv (see newHTTPServer) on ln until ctx ends, then runs
// beforeShutdown (to end long-lived responses such as event streams) and
// shuts the server down gracefully within 30 s.
func serve(ctx context.Context, ln net.Listener, srv *http.Server, beforeShutdown func(context.Context)) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if beforeShutdown != nil {
		beforeShutdown(sctx)
	}
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// openDBWait is openDB for servers, which must outlive a PostgreSQL outage,
// also one at their start: while the database cannot be reached, or answers
// that it is starting, shutting down or out of connections, it logs and
// tries again (every 1 s, backing off to 5 s) until ctx ends. A bad URL or
// any other error from PostgreSQL (a failing migration, a wrong password)
// is returned at once.
func (a *app) openDBWait(ctx context.Context, log *slog.Logger, maxConns int32) (*pgxpool.Pool, error) {
	if _, err := pgxpool.ParseConfig(a.dbURL); err != nil {
		return nil, fmt.Errorf("--database-url: %w", err)
	}
	return retryOutage(ctx, func() (*pgxpool.Pool, bool, error) {
		pool, err := a.openDB(ctx, maxConns)
		var pgErr *pgconn.PgError
		return pool, err != nil && !(errors.As(err, &pgErr) && !pgUnavailable(pgErr)), err
	}, func(err error, wait time.Duration) {
		log.Warn("kbus: PostgreSQL unreachable; retrying", "error", err, "retry_in", wait.String())
	})
}

// connectWait is connect for servers: it waits for a broker to answer,
// logging and retrying, until ctx ends. Bad client options are returned at
// once.
func (a *app) connectWait(ctx context.Context, log *slog.Logger, opts ...kgo.Opt) (*kgo.Client, error) {
	cl, err := a.client(opts...) // the options' check, once
	if err != nil {
		return nil, err
	}
	cl.Close()
	return retryOutage(ctx, func() (*kgo.Client, bool, error) {
		cl, err := a.connect(ctx, opts...)
		return cl, err != nil, err
	}, func(err error, wait time.Duration) {
		log.Warn("kbus: no broker answers; retrying", "brokers", a.brokers, "error", err, "retry_in", wait.String())
	})
}

// retryOutage calls try until it succeeds, fails for good (retry false) or
// ctx ends, calling logRetry before each new try (after 1 s, backing off to
// 5 s).
func retryOutage[T any](ctx context.Context, try func() (v T, retry bool, err error), logRetry func(err error, wait time.Duration)) (T, error) {
	for wait := time.Second; ; wait = min(wait*2, 5*time.Second) {
		v, retry, err := try()
		if err == nil || !retry || ctx.Err() != nil {
			return v, err
		}
		logRetry(err, wait)
		select {
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// pgUnavailable tells the errors of a PostgreSQL that is there but not
// serving yet or any more: the connection exceptions (class 08), too many
// connections and other resource limits (class 53), and an operator's or a
// crash's shutdown, or a start-up not yet accepting connections (57P01,
// 57P02, 57P03). They pass; anything else is for a human.
func pgUnavailable(e *pgconn.PgError) bool {
	switch {
	case strings.HasPrefix(e.Code, "08"), strings.HasPrefix(e.Code, "53"):
		return true
	}
	switch e.Code {
	case "57P01", "57P02", "57P03":
		return true
	}
	return false
}
