package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// pruneBatch is how many dedup rows one DELETE removes, so that pruning a
// large table never holds long locks or a long transaction.
const pruneBatch = 10000

// Prune deletes group's rows in processed_events older than olderThan and
// returns how many it deleted. kbus does not prune on its own: the dedup
// rows are what makes a redelivery or a replay harmless, and an event
// redelivered or replayed after its row is gone is handled again. Keep rows
// longer than any replay you may still send (and than the topics'
// retention, if you may reset a group's offsets).
//
// Rows are deleted in batches, each in its own short transaction; Prune is
// safe to run while the group consumes, and to interrupt (ctx) and run
// again. `kbus prune` runs it from the command line.
func Prune(ctx context.Context, db *pgxpool.Pool, group string, olderThan time.Duration) (int64, error) {
	if group == "" {
		return 0, errors.New("consumer: Prune needs a group")
	}
	if olderThan <= 0 {
		return 0, errors.New("consumer: Prune needs a positive age")
	}
	cutoff := time.Now().Add(-olderThan)
	var total int64
	for {
		tag, err := db.Exec(ctx, `DELETE FROM processed_events WHERE (consumer_group, message_id) IN (
			SELECT consumer_group, message_id FROM processed_events
			WHERE consumer_group = $1 AND processed_at < $2 LIMIT $3)`, group, cutoff, pruneBatch)
		if err != nil {
			return total, fmt.Errorf("consumer: prune processed_events of %q: %w", group, err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < pruneBatch {
			return total, nil
		}
	}
}
