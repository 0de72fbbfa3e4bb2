// Package dlq defines kbus's dead-letter queue: the one record format for
// events a consumer group could not process, how they are written, read
// back, and replayed.
//
// Every consumer group has its own DLQ topic, [Topic](group) =
// "dlq.<group>" (the webhook fan-out's group is "webhooks", so its DLQ is
// "dlq.webhooks"). The consumer runtime writes to it; the `kbus dlq
// list/show/replay` commands read it. Both go through this package, so the
// format is defined here and nowhere else.
//
// # An entry
//
// An [Entry] records why an event failed (FailureReason, one of the Reason
// constants, with Attempts, their times and LastError) and the original
// Kafka record byte for byte: key, headers, value, topic, partition and
// offset. The value of a DLQ record is the entry as JSON:
//
//	{"version":1,
//	 "original_message_id":"msg_01HM6AQH5VX7K9PAYM3NTQ8RSW",
//	 "topic":"payment.completed",
//	 "consumer_group":"ledger",
//	 "failure_reason":"handler_error",
//	 "attempts":5,
//	 "first_attempt":"2024-01-15T10:30:01.5Z",
//	 "last_attempt":"2024-01-15T10:30:31.9Z",
//	 "last_error":"ledger: insert: connection refused",
//	 "original_payload":{"message_id":"msg_01HM6AQH5VX7K9PAYM3NTQ8RSW","topic":"payment.completed",...},
//	 "key":"cGF5X3g3azk=",
//	 "headers":[{"key":"kbus-message-id","value":"bXNnXzAxSE02QVFINVZYN0s5UEFZTTNOVFE4UlNX"},...],
//	 "partition":2,
//	 "offset":1041,
//	 "original_value":"eyJtZXNzYWdlX2lkIjoi...",
//	 "dead_lettered_at":"2024-01-15T10:30:32Z"}
//
// original_payload embeds the value for people reading the DLQ when it is
// valid JSON (null otherwise, as for a decode_error on garbage bytes);
// original_value, key and header values are base64 and are what a replay
// uses, so a replay is exact even for values that are not JSON. Webhook
// entries add "endpoint_id". The record's key is the message id, and its
// headers ([HeaderReason], [HeaderGroup], [HeaderSourceTopic] and the
// message id header) let tools filter without decoding.
//
// # Writing
//
// The consumer runtime builds the entry from the failed record with
// [NewEntry], adds what it knows of the attempts, and writes it with a
// [Writer] sharing the consumer's client:
//
//	w := dlq.NewWriter(cl, dlq.ReplicationFactor(3))
//
//	e := dlq.NewEntry(rec, "ledger", dlq.ReasonHandlerError, env.MessageID)
//	e.Attempts, e.FirstAttempt, e.LastAttempt, e.LastError = 5, first, last, err.Error()
//	if err := w.Write(ctx, e); err != nil {
//		// not dead-lettered: do not commit the offset; retry
//	}
//
// The Writer creates the DLQ topic on its first write when it does not
// exist. Write waits for the broker's acknowledgement, within ctx.
//
// # Reading
//
// [Read] walks a group's DLQ from the start to the end it had when Read
// began, partition by partition, without joining a consumer group:
//
//	err := dlq.Read(ctx, cl, "ledger", func(e dlq.Entry, rec *kgo.Record, err error) error {
//		if err != nil { // errors.Is(err, dlq.ErrMalformed): shown, not hidden
//			fmt.Printf("%d/%d: %v\n", rec.Partition, rec.Offset, err)
//			return nil
//		}
//		fmt.Printf("%d/%d: %s %s %s\n", rec.Partition, rec.Offset, e.OriginalMessageID, e.FailureReason, e.LastError)
//		return nil
//	})
//
// Reading does not remove anything: a DLQ topic is a log, trimmed only by
// its retention.
//
// # Replay addressing
//
// A DLQ entry belongs to the one group that failed, but its event's topic is
// consumed by many groups, which processed the event long ago. So a replay
// is addressed: [Entry.Replay] builds a record with the original key, value
// and headers, plus [HeaderReplayGroup] naming the entry's group,
// [HeaderReplayCount] (1, 2, … across repeated replays) and
// [HeaderReplayedAt]. The consumer runtime calls [ReplayTarget] on every
// record and skips it when it is addressed to another group:
//
//	if g, ok := dlq.ReplayTarget(rec.Headers); ok && g != myGroup {
//		// commit and move on: this replay is not for us
//	}
//
// The replay keeps the original message id, so a group that deduplicates on
// it (processed_events) still does: replaying an event the group did
// process after all has no second effect.
//
// # Replaying a DLQ
//
// [ReplayEntries] is what `kbus dlq replay` runs: it reads a group's DLQ up
// to the end it has when the replay starts and sends [Entry.Replay] of every
// selected entry, waiting for each acknowledgement. With
// [ReplayOptions].Progress set it is resumable: its position on the DLQ
// topic is committed, every BatchSize records, in the consumer group
// [ProgressGroup](group, progress), so an interrupted replay continues
// where it stopped (resending at most one batch, which consumers
// deduplicate) and running it again later sends only entries dead-lettered
// since:
//
//	sum, err := dlq.ReplayEntries(ctx, cl, dlq.ReplayOptions{
//		Group:    "ledger",
//		Match:    func(e dlq.Entry) bool { return e.FailureReason == dlq.ReasonHandlerError },
//		Progress: "reason-handler_error", // names the selection
//	})
//	// sum.Replayed, sum.NotSelected, sum.Malformed...
//
// DryRun reports what would be sent without sending or tracking anything;
// FromStart ignores the tracked progress; ToTopic sends elsewhere than each
// entry's original topic.
//
// # Concurrency
//
// [Writer] is safe for concurrent use. [Read] may run concurrently with
// writers and other readers. [Entry] is a plain value: share it read-only
// or copy it. The package keeps no global state.
package dlq
