// Package webhook delivers kbus events to HTTP endpoints that tenants
// register, from a Kafka consumer group, with signatures, a retry schedule,
// an attempt log and dead-lettering.
//
// Four parts, each usable on its own:
//
//   - [API], an http.Handler for registering endpoints (POST /webhooks …),
//     authenticated with the tenants' API keys (package apikey): a tenant
//     sees and changes only its own endpoints.
//   - [FanOut], a handler for a Transactional consumer (package consumer) of
//     the event topics, group [DefaultGroup]: in the transaction of the
//     event's dedup row it inserts one delivery per active endpoint of the
//     event's tenant (the data's merchant_id) subscribed to its type. An
//     event becomes deliveries exactly once even if Kafka delivers it twice.
//   - [Dispatcher], which claims due deliveries from PostgreSQL (FOR UPDATE
//     SKIP LOCKED, with a lease), POSTs the seed's payload
//     {"id", "type", "created_at", "data"} signed with HMAC-SHA256
//     ([Sign], X-Webhook-Signature: sha256=<hex> over "<timestamp>.<body>"),
//     logs every attempt, retries failures on [DefaultSchedule] (1m, 5m, 30m,
//     2h, 8h, 24h, honouring Retry-After on 429 and 503), disables endpoints
//     that answer 410 Gone or fail for DisableAfter, refuses non-public
//     destinations ([DialGuard]), and dead-letters what fails for good to
//     dlq.webhooks with the endpoint id, so that `kbus dlq replay --group
//     webhooks` gives that endpoint a fresh delivery. Several dispatchers may
//     share one database.
//   - [Verify] and [Verifier] for receivers: constant-time signature checks,
//     a timestamp tolerance against replays, several secrets during a
//     rotation. examples/merchant is a complete receiver.
//
// A minimal server:
//
//	keys := apikey.NewStore(pool)
//	api, _ := webhook.NewAPI(webhook.APIConfig{DB: pool, Keys: keys, EventTypes: []string{"payment.completed"}})
//	c, _ := consumer.New(consumer.Config{Group: webhook.DefaultGroup, Topics: []string{"payment.completed"}, DB: pool})
//	webhook.FanOut{}.Register(c, "payment.completed")
//	d, _ := webhook.NewDispatcher(webhook.DispatcherConfig{DB: pool, Kafka: kafkaClient})
//	go c.Run(ctx)
//	go d.Run(ctx)
//	http.ListenAndServe(":8080", api)
package webhook
