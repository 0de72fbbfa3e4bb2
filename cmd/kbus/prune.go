package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/kbus-dev/kbus/consumer"
)

// pruneTimeout bounds `kbus prune`.
const pruneTimeout = 30 * time.Minute

// pruned is the JSON output of `kbus prune`.
type pruned struct {
	Group     string `json:"group"`
	OlderThan string `json:"older_than"`
	Deleted   int64  `json:"deleted"`
}

func newPruneCmd(a *app) *cobra.Command {
	var group string
	var olderThan time.Duration
	cmd := &cobra.Command{
		Use:   "prune --group GROUP --older-than DURATION",
		Short: "Delete a consumer group's old dedup rows (processed_events)",
		Long: `Delete the rows of processed_events that the group wrote longer ago than
--older-than, in batches, while the group keeps consuming.

The rows are what makes a redelivered or replayed event a no-op: an event
redelivered or replayed after its row is gone is handled again. Keep them
longer than any replay you may still send.`,
		Example: `  kbus prune --group order-service --older-than 720h   # 30 days`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if group == "" {
				return errors.New("--group is required")
			}
			if olderThan <= 0 {
				return errors.New("--older-than is required and must be positive (e.g. 720h)")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), pruneTimeout)
			defer cancel()
			pool, err := a.openDB(ctx, 2)
			if err != nil {
				return err
			}
			defer pool.Close()
			n, err := consumer.Prune(ctx, pool, group, olderThan)
			if err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(pruned{Group: group, OlderThan: olderThan.String(), Deleted: n})
			}
			_, err = fmt.Fprintf(a.out, "deleted %d dedup rows of %s older than %s\n", n, group, olderThan)
			return err
		},
	}
	cmd.Flags().StringVarP(&group, "group", "g", "", "consumer group (required)")
	cmd.Flags().DurationVar(&olderThan, "older-than", 0, "delete rows older than this, e.g. 720h (required)")
	return cmd
}
