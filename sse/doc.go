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
//	id: msg_01HM6AQH5VX7K9PAYM3NTQ8RSW.AVLkxEXw9DzQD8oRzg64F9AP0w8AxBPQD9EP0g_TDw
//	data: {"payment_id":"pay_x7k9","amount":4999,"merchant_id":"merch_abc"}
//
// A client receives only its tenant's events (the data's merchant_id; an
// admin key receives all) of the types it asked for.
//
// The event id is a resume cursor, <message id>.<position>: the event's
// message id, a '.', and its position in the server's read of Kafka (for
// every partition, the offset after the last record of that partition that
// precedes the event in the stream), in base64url. [MessageID] (or
// [Event.MessageID]) takes the message id out of it; treat the rest as
// opaque. If the connection drops, the browser's EventSource reconnects
// with Last-Event-ID, and the server replays what the client missed from
// Kafka itself: it reads each partition of the subscribed topics from the
// position's offset up to where its live stream begins, then switches to
// the live stream, without gaps or duplicates, whatever the order of
// message ids in Kafka (a publish retried with its first id, an outbox row
// relayed late, a record appended late by a broker failover) and whatever
// the producers' clocks. This works after a server restart and on any
// instance reading the same topics (the position names their layout: topic
// names and partition counts), for as long as the topics retain the events;
// a position older than that starts from the oldest retained event, with a
// comment saying events may have been missed.
//
// A message id alone is not a position, because Kafka's order is not id
// order. A Last-Event-ID that is a bare message id (a client of an older
// kbus, a hand-written id) or a position of another layout (partitions
// added, another set of topics) is still accepted, as a best-effort resume
// by time, announced by a comment: the server recovers the publish time
// from the time-sortable message id, seeks every partition to that time
// minus Config.ResumeMargin (kadm's list-offsets-by-timestamp) and sends
// the client's events with a higher id; an event whose id is lower than the
// client's but that reached Kafka later is missed. Every event it sends
// carries a position again, so the next resume is exact.
//
// Each [Server] reads the topics itself, from the end of the log, without a
// consumer group (every instance must see every event), into an in-process
// hub: a ring of recent events, each encoded once, that every stream reads
// at its own cursor. Publishing never waits for a client; a client that
// falls a whole ring behind is disconnected (and counted) instead of
// slowing the others, and resumes with Last-Event-ID. Pending events are
// written to a stream in one write and one flush.
//
// Requests are checked before a stream opens, with a 4xx and the JSON
// error {"error":{"code","message","field"}}: 401 without a valid API key,
// 400 for a types list that is empty, unknown, or longer than [MaxTypes]
// entries, and for a Last-Event-ID that is neither a message id nor a
// message id with a position this server could have written; a bare
// Last-Event-ID from more than an hour in the future is ignored. An open
// stream checks its key again every Config.KeyCheckInterval (1 minute) and
// ends once the key is revoked. [Server] lists the bounds.
//
// A minimal server (`kbus serve sse` is a complete one, with metrics and
// graceful shutdown):
//
//	srv, err := sse.NewServer(sse.Config{
//		Brokers: []string{"127.0.0.1:9092"},
//		Topics:  []string{"payment.completed", "payment.failed"}, // must exist
//		Keys:    apikey.NewStore(pool),
//	})
//	if err != nil { ... }
//	go srv.Run(ctx) // reads the topics until ctx ends
//	<-srv.Ready()   // listen only now: EventSource gives up on a 503
//	http.Handle("GET /events/stream", srv.Handler())
//	hs := &http.Server{Addr: ":8081", ReadHeaderTimeout: 10 * time.Second,
//		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10} // no WriteTimeout: streams are long
//	hs.ListenAndServe()
//	// on the way out: srv.Shutdown(ctx) ends the streams so that clients reconnect elsewhere
//
// Instances need nothing in common but Kafka and the API keys' database:
// run as many as the load needs, behind any load balancer.
//
// [Reader] parses a stream as the HTML specification defines it, for Go
// clients and tests; [AppendEvent] writes the wire format.
package sse
