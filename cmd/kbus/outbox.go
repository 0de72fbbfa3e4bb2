package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/kbus-dev/kbus/producer/outbox"
)

func newOutboxCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "outbox",
		Short: "Inspect the transactional outbox (kbus_outbox)",
		Long: `Inspect the transactional outbox of package producer/outbox: the events that
services committed in their transactions and that the relay has not yet
published. The commands use --database-url.`,
	}
	cmd.AddCommand(newOutboxStatusCmd(a))
	return cmd
}

func newOutboxStatusCmd(a *app) *cobra.Command {
	var limit int
	var maxAge time.Duration
	cmd := &cobra.Command{
		Use:   "status [--limit N] [--max-age DURATION]",
		Short: "Show the pending events, the oldest one's age, and the failing ones",
		Long: `Show how many events wait in the outbox, how old the oldest is, and the rows
whose last publish failed, with their attempts and error (up to --limit).

With --max-age, exit non-zero when the oldest pending event is older: a
health check for the relay.`,
		Example: `  kbus outbox status
  kbus outbox status --max-age 1m -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), keysTimeout)
			defer cancel()
			pool, err := a.openDB(ctx, 2)
			if err != nil {
				return err
			}
			defer pool.Close()
			st, err := outbox.Inspect(ctx, pool, limit)
			if err != nil {
				return err
			}
			if a.json() {
				err = a.printJSON(st)
			} else {
				fmt.Fprintf(a.out, "pending: %d\noldest:  %s\n", st.Pending, st.Oldest.Round(time.Millisecond))
				if len(st.Failing) > 0 {
					fmt.Fprintln(a.out)
					rows := make([][]string, 0, len(st.Failing))
					for _, f := range st.Failing {
						rows = append(rows, []string{f.MessageID, f.Topic, f.Key, strconv.Itoa(f.Attempts), f.LastError})
					}
					err = a.table([]string{"MESSAGE ID", "TOPIC", "KEY", "ATTEMPTS", "LAST ERROR"}, rows)
				}
			}
			if err != nil {
				return err
			}
			if maxAge > 0 && st.Oldest > maxAge {
				return fmt.Errorf("the oldest pending event is %s old (more than --max-age %s): is the relay running?", st.Oldest.Round(time.Second), maxAge)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "show at most this many failing rows")
	cmd.Flags().DurationVar(&maxAge, "max-age", 0, "fail when the oldest pending event is older than this")
	return cmd
}
