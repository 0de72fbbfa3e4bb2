package main

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Deadlines of the Kafka commands. franz-go retries an unreachable broker for
// a long time on its own; these bound every command instead.
const (
	// brokerTimeout is how long a command waits for any broker to answer
	// before it gives up with "no broker answers at ...".
	brokerTimeout = 10 * time.Second
	// adminTimeout bounds the admin requests a command makes once a broker
	// has answered.
	adminTimeout = 30 * time.Second
)

// connect returns a client for the brokers once one of them has answered a
// metadata request within brokerTimeout (and ctx). The caller closes it.
func (a *app) connect(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
	cl, err := a.client(opts...)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, brokerTimeout)
	defer cancel()
	if err := cl.Ping(pctx); err != nil {
		cl.Close()
		return nil, a.noBroker(err)
	}
	return cl, nil
}

// connectAdmin is connect wrapped in a kadm client. The caller closes it.
func (a *app) connectAdmin(ctx context.Context) (*kadm.Client, error) {
	cl, err := a.connect(ctx)
	if err != nil {
		return nil, err
	}
	return kadm.NewClient(cl), nil
}

// noBroker is the error of a command that reached no broker.
func (a *app) noBroker(err error) error {
	return fmt.Errorf("no broker answers at %s (waited up to %s): %w", a.brokers, brokerTimeout, err)
}

// kafkaErr names the operation and the brokers in an error from a Kafka
// request.
func (a *app) kafkaErr(op string, err error) error {
	return fmt.Errorf("%s (brokers %s): %w", op, a.brokers, err)
}
