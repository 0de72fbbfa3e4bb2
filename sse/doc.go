// Package sse streams kbus events to HTTP clients as Server-Sent Events, as
// a consumer of the event topics.
//
//	GET /events/stream?types=payment.completed,payment.failed
//	Authorization: Bearer <tenant API key>      (or ?access_token=, for EventSource)
//
//	HTTP/1.1 200 OK
//	Content-Type: text/event-stream
//
//	retry: 3000
//
//	event: payment.completed
//	id: msg_01HM6AQH5VX7K9PAYM3NTQ8RSW
//	data: {"payment_id":"pay_x7k9","amount":4999,"merchant_id":"merch_abc"}
//
// A client receives only its tenant's events (the data's merchant_id; an
// admin key receives all) of the types it asked for. If the connection
// drops, the browser's EventSource reconnects with Last-Event-ID, and the
// server replays what the client missed from Kafka itself: it recovers the
// publish time from the time-sortable message id, seeks every partition of
// the subscribed topics to that time minus a margin (kadm's
// list-offsets-by-timestamp), sends the client's events after that id, and
// switches to the live stream exactly where its replay ends, without gaps or
// duplicates. This works after a server restart and on another instance,
// for as long as the topics retain the events; an id older than that starts
// from the oldest retained event, with a comment saying events may have
// been missed.
//
// Each [Server] reads the topics itself, from the end of the log, without a
// consumer group (every instance must see every event), into an in-process
// hub: a ring of recent events, each encoded once, that every stream reads
// at its own cursor. Publishing never waits for a client; a client that
// falls a whole ring behind is disconnected (and counted) instead of
// slowing the others, and resumes with Last-Event-ID. Pending events are
// written to a stream in one write and one flush.
//
// Resuming is exact when a client's events carry increasing ids, as they do
// from one partition of one producer. Across partitions a client may
// receive a later id before an earlier one; its Last-Event-ID is then the
// last one it received, and the replay (events with a greater id) can
// repeat an event or skip one of the interleaved ones. Keying events so
// that one client's events share a partition (the tenant) avoids it.
//
// [Reader] parses a stream as the HTML specification defines it, for Go
// clients and tests; [AppendEvent] writes the wire format.
package sse
