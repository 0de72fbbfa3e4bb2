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
// Resuming never repeats an event: events of one fetch (and of a replay)
// are interleaved across partitions in id order, and a stream writes an
// event whose id is lower than one it already sent without its id line, so
// the client's Last-Event-ID is always the highest id it has received. The
// one case it does not cover: an event with a lower id that reaches the
// server in a later fetch than a higher one from another partition (a
// producer's clock behind another's), just before the client disconnects,
// is not replayed. Keying one client's events to one partition (by tenant)
// rules it out.
//
// Requests are checked before a stream opens, with a 4xx and the JSON
// error {"error":{"code","message","field"}}: 401 without a valid API key,
// 400 for a types list that is empty, unknown, or longer than [MaxTypes]
// entries, and for a Last-Event-ID that is not a message id; a
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
