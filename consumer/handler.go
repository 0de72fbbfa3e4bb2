package consumer

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/kbus-dev/kbus/envelope"
)

// TxHandlerFunc handles one event in Transactional mode. tx is the
// transaction that also holds the event's dedup row: write the event's
// effects through tx and they commit together with the row, or not at all.
// The handler must not commit or roll back tx. It may run more than once for
// one event (a retry, or a batch redone after another event failed), but its
// effects commit once. ctx carries the event's correlation id
// ([envelope.CorrelationID]), so events published with it carry it on.
type TxHandlerFunc func(ctx context.Context, tx pgx.Tx, e envelope.Envelope) error

// BatchTxHandlerFunc handles consecutive events of one type in one call, in
// Transactional mode, for handlers that write in bulk (COPY, multi-row
// INSERT). events are in partition order and already deduplicated. If it
// fails, the events are retried one at a time to isolate the failing one.
type BatchTxHandlerFunc func(ctx context.Context, tx pgx.Tx, events []envelope.Envelope) error

// HandlerFunc handles one event in AtLeastOnce or AtMostOnce mode.
type HandlerFunc func(ctx context.Context, e envelope.Envelope) error

type handler struct {
	tx      TxHandlerFunc
	batch   BatchTxHandlerFunc
	plain   HandlerFunc
	version string // the schema version the handler reads; "" for the writer's
}

// A HandlerOption configures one handler registration.
type HandlerOption interface{ applyHandler(*handler) }

type handlerOptionFunc func(*handler)

func (f handlerOptionFunc) applyHandler(h *handler) { f(h) }

// SchemaVersion declares the version of its event type's schema that the
// handler is written for (e.g. "1.1"). Every event is then resolved to that
// version before the handler sees it, whatever version and content type it
// was published with: Avro schema resolution fills in the defaults of
// fields its producer did not know yet and drops fields the handler does
// not know (see [schemas.Registry.DecodeEnvelope]). The envelope the
// handler gets has JSON data and metadata.schema_version set to v.
//
// An event that cannot be read at v (an incompatible or unknown version)
// is a permanent failure: it goes to the group's DLQ with reason
// schema_incompatible, and the partition goes on. The type and v must be in
// Config.Schemas, or Run reports an error wrapping [ErrConfig].
//
// Without SchemaVersion a handler gets JSON data in the version it was
// written with (Avro data is still decoded to JSON).
func SchemaVersion(v string) HandlerOption {
	return handlerOptionFunc(func(h *handler) { h.version = v })
}

// Permanent marks err as not worth retrying: the event goes to the DLQ
// (reason permanent_error) after this attempt. Use it for events that can
// never succeed, such as a reference to an entity that does not exist.
// Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return "permanent: " + e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// IsPermanent reports whether err was marked with [Permanent].
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
