package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/producer"
	"github.com/kbus-dev/kbus/schemas"
)

// publishTimeout bounds a publish, from connecting to the acknowledgement.
const publishTimeout = 30 * time.Second

// publishResult is the JSON output of `kbus publish`.
type publishResult struct {
	MessageID string `json:"message_id"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

func newPublishCmd(a *app) *cobra.Command {
	var (
		topic, key, data    string
		schemaVersion, corr string
		producerName        string
		catalogDir          string
		noValidate, avro    bool
	)
	cmd := &cobra.Command{
		Use:   "publish --topic TOPIC --data JSON|@FILE",
		Short: "Publish one event",
		Long: `Publish one event: data, which must be JSON, is wrapped in a kbus envelope
(a fresh message id, the publish time, the producer name and the metadata
flags) and sent to the topic with the key as its ordering key. The command
returns once every in-sync replica has the event, and prints its message id
(or, with --output json, its id, topic, partition and offset).

--data @FILE reads the data from FILE, and --data @- from standard input.
The topic must exist (see kbus topics create).

The data is checked against the schema of the topic's event type at
--schema-version in the schema catalog (kbus's shipped catalog, or the one in
--schemas DIR) before anything is sent: a payload that does not match is
refused naming the field. --no-validate sends any JSON. --avro sends the data
as Avro binary (content type application/avro) instead of JSON.`,
		Example: `  kbus publish --topic payment.completed --key pay_1 --data '{"payment_id":"pay_1","amount":4999,"currency":"USD","merchant_id":"merch_abc"}'
  kbus publish --topic refund.created --key ref_9 --data @refund.json --correlation-id req_abc123
  kbus publish --topic orders.created --schemas ./schemas --data @order.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if topic == "" {
				return errors.New("--topic is required")
			}
			if !envelope.ValidTopic(topic) {
				return fmt.Errorf("--topic %q is not a valid topic name (1 to 249 characters of a-z A-Z 0-9 . _ -)", topic)
			}
			if data == "" {
				return errors.New("--data is required (JSON, or @file)")
			}
			raw, err := readData(cmd, data)
			if err != nil {
				return err
			}
			if err := checkJSON(raw); err != nil {
				return fmt.Errorf("--data is not valid JSON: %w; nothing was sent", err)
			}
			popts := []producer.Option{producer.Brokers(splitBrokers(a.brokers)...), producer.Name(producerName)}
			if catalogDir != "" {
				reg, err := loadCatalog(catalogDir)
				if err != nil {
					return err
				}
				popts = append(popts, producer.Schemas(reg))
			}
			if noValidate {
				popts = append(popts, producer.SkipSchemaValidation())
			}
			var opts []producer.PublishOption
			if schemaVersion != "" {
				opts = append(opts, producer.SchemaVersion(schemaVersion))
			}
			if avro {
				opts = append(opts, producer.ContentType(envelope.ContentTypeAvro))
			}
			if corr != "" {
				opts = append(opts, producer.CorrelationID(corr))
			}
			p, err := producer.New(popts...) // does not connect
			if err != nil {
				return err
			}
			defer p.Close()

			ctx, cancel := context.WithTimeout(cmd.Context(), publishTimeout)
			defer cancel()
			// The event is checked (envelope, schema, size) before any broker
			// is contacted.
			e, hs, err := p.Prepare(ctx, topic, raw, opts...)
			switch {
			case errors.Is(err, schemas.ErrInvalidData), errors.Is(err, schemas.ErrUnknownType), errors.Is(err, schemas.ErrUnknownVersion):
				return fmt.Errorf("--data does not match the schema (use --no-validate to send it anyway): %w; nothing was sent", err)
			case err != nil:
				return fmt.Errorf("%w; nothing was sent", err)
			}

			// Check the broker and the topic first, for clear errors: the
			// producer alone would wait for the whole timeout.
			adm, err := a.connectAdmin(ctx)
			if err != nil {
				return err
			}
			defer adm.Close()
			tds, err := adm.ListTopics(ctx, topic)
			if err != nil {
				return a.kafkaErr(fmt.Sprintf("look up topic %q", topic), err)
			}
			if td, ok := tds[topic]; !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
				return fmt.Errorf("topic %q does not exist at %s (create it with: kbus topics create %s); nothing was sent", topic, a.brokers, topic)
			}
			rcpt, err := p.PublishEnvelope(ctx, key, e, producer.Headers(hs...))
			if err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(publishResult{MessageID: rcpt.MessageID, Topic: rcpt.Topic, Partition: rcpt.Partition, Offset: rcpt.Offset})
			}
			_, err = fmt.Fprintln(a.out, rcpt.MessageID)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVarP(&topic, "topic", "t", "", "topic to publish to, the event type (required)")
	f.StringVarP(&key, "key", "k", "", "ordering key: events with one key keep their order (empty: spread over partitions)")
	f.StringVarP(&data, "data", "d", "", "the event's data: JSON, @FILE, or @- for standard input (required)")
	f.StringVar(&schemaVersion, "schema-version", "", "metadata.schema_version (default \"1.0\")")
	f.StringVar(&corr, "correlation-id", "", "metadata.correlation_id")
	f.StringVar(&producerName, "producer-name", "kbus-cli", "the envelope's producer field")
	f.StringVar(&catalogDir, "schemas", "", "schema catalog directory (<type>/<major>.<minor>.avsc); default: kbus's shipped catalog")
	f.BoolVar(&noValidate, "no-validate", false, "send data without checking it against the schema catalog")
	f.BoolVar(&avro, "avro", false, "send data as Avro binary (application/avro); it is validated even with --no-validate")
	return cmd
}

// readData returns the --data value, or the contents of the file it names
// after "@" ("@-" is standard input).
func readData(cmd *cobra.Command, data string) ([]byte, error) {
	name, ok := strings.CutPrefix(data, "@")
	if !ok {
		return []byte(data), nil
	}
	if name == "-" {
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(cmd.InOrStdin()); err != nil {
			return nil, fmt.Errorf("--data @-: read standard input: %w", err)
		}
		return buf.Bytes(), nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("--data: %w", err)
	}
	return b, nil
}

// checkJSON reports why b is not a single JSON value, with the position of
// a syntax error.
func checkJSON(b []byte) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return errors.New("it is empty")
	}
	if string(bytes.TrimSpace(b)) == "null" {
		return errors.New("it is null (an event needs data)")
	}
	err := json.Unmarshal(b, new(json.RawMessage))
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Errorf("%v (at byte %d)", se, se.Offset)
	}
	return err
}

func splitBrokers(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}
