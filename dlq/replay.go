package dlq

import (
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// isReplayHeader reports whether key is one of the headers Replay sets.
func isReplayHeader(key string) bool {
	return key == HeaderReplayGroup || key == HeaderReplayCount || key == HeaderReplayedAt ||
		key == HeaderReplayKey || key == HeaderReplayEndpoint
}

// Replay builds the record that re-publishes the original event of e to
// its consumer group:
//
//   - topic: e.Topic, or toTopic when it is not "";
//   - key, value and headers: the original record's, byte for byte and in
//     order (Value is used; only when an entry has no Value at all, as one
//     written by another tool might, is OriginalPayload used instead);
//   - plus, appended: HeaderReplayGroup = e.ConsumerGroup, HeaderReplayCount
//     = the count in the original headers + 1 (1 when there is none or it is
//     not a non-negative number), and HeaderReplayedAt = now in UTC, RFC 3339
//     with nanoseconds.
//
// An entry about one webhook endpoint (EndpointID set) also gets
// HeaderReplayEndpoint, and HeaderReplayKey naming the entry (its endpoint
// and dead-lettering time): the consumer runtime deduplicates such a replay
// on the message id and that key, so replaying one entry twice delivers it
// once more, not twice, and is not blocked by the event's first processing.
//
// Replay headers already on the original record, from an earlier replay,
// are removed before the new ones are appended, so a record never carries
// two. The message id in the value and headers is unchanged, so consumers
// that deduplicate on it still do.
//
// The partition and timestamp are left for the producer to choose: the
// record lands on the partition its key hashes to, which is the original
// one unless the topic's partition count changed. The record shares no
// memory with e.
func (e Entry) Replay(toTopic string, now time.Time) *kgo.Record {
	topic := e.Topic
	if toTopic != "" {
		topic = toTopic
	}
	value := e.Value
	if value == nil && len(e.OriginalPayload) > 0 {
		value = e.OriginalPayload
	}
	n := 0
	headers := make([]kgo.RecordHeader, 0, len(e.Headers)+3)
	for _, h := range e.Headers {
		if h.Key == HeaderReplayCount {
			n = parseCount(h.Value) // the last one wins, as with ReplayTarget
		}
		if isReplayHeader(h.Key) {
			continue
		}
		headers = append(headers, kgo.RecordHeader{Key: h.Key, Value: slices.Clone(h.Value)})
	}
	headers = append(headers,
		kgo.RecordHeader{Key: HeaderReplayGroup, Value: []byte(e.ConsumerGroup)},
		kgo.RecordHeader{Key: HeaderReplayCount, Value: strconv.AppendInt(nil, int64(n)+1, 10)},
		kgo.RecordHeader{Key: HeaderReplayedAt, Value: now.UTC().AppendFormat(nil, time.RFC3339Nano)},
	)
	if e.EndpointID != "" {
		headers = append(headers,
			kgo.RecordHeader{Key: HeaderReplayEndpoint, Value: []byte(e.EndpointID)},
			kgo.RecordHeader{Key: HeaderReplayKey, Value: []byte(e.EndpointID + "@" + e.DeadLetteredAt.UTC().Format(time.RFC3339Nano))},
		)
	}
	return &kgo.Record{
		Topic:   topic,
		Key:     slices.Clone(e.Key),
		Value:   slices.Clone(value),
		Headers: headers,
	}
}

// parseCount reads a HeaderReplayCount value; anything but a non-negative
// decimal number counts as 0.
func parseCount(v []byte) int {
	n, err := strconv.Atoi(string(v))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// ReplayTarget reports whether a consumed record is a replay addressed to
// one consumer group, and to which: the value of its last HeaderReplayGroup
// header, when that is not empty. The consumer runtime skips a record when
// ok && group != its own group; ordinary records (ok == false) go to every
// group. An empty HeaderReplayGroup value addresses no group, so such a
// record is processed by every group rather than silently by none.
func ReplayTarget(headers []kgo.RecordHeader) (group string, ok bool) {
	for i := len(headers) - 1; i >= 0; i-- {
		if headers[i].Key == HeaderReplayGroup {
			if len(headers[i].Value) == 0 {
				return "", false
			}
			return string(headers[i].Value), true
		}
	}
	return "", false
}

// ReplayCount returns how many times a consumed record has been replayed:
// the value of its last HeaderReplayCount header, or 0 when there is none
// or it is not a non-negative number. Consumers may use it in logs, or to
// stop a record that keeps coming back.
func ReplayCount(headers []kgo.RecordHeader) int {
	for i := len(headers) - 1; i >= 0; i-- {
		if headers[i].Key == HeaderReplayCount {
			return parseCount(headers[i].Value)
		}
	}
	return 0
}
