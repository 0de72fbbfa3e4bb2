package sse

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/envelope"
)

// tenantOf returns the tenant named by field in an event's data, or "".
func tenantOf(data []byte, field string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return ""
	}
	var t string
	if raw, ok := m[field]; ok && json.Unmarshal(raw, &t) == nil {
		return t
	}
	return ""
}

// toEvent turns a record into a hub event; ok is false for records that are
// not valid envelopes (they are counted and skipped: the stream is a view,
// the consumer groups own dead-lettering).
func (s *Server) toEvent(rec *kgo.Record) (hubEvent, bool) {
	e, err := envelope.Unmarshal(rec.Value)
	if err == nil && e.Metadata.ContentType == envelope.ContentTypeAvro {
		e, err = s.cfg.Schemas.DecodeEnvelope(e, "")
	}
	if err != nil {
		s.m.malformed.Inc()
		return hubEvent{}, false
	}
	ev := hubEvent{typ: e.Topic, id: e.MessageID, tenant: tenantOf(e.Data, s.cfg.TenantField)}
	ev.frame = AppendEvent(nil, e.Topic, "", nil)
	ev.frame = ev.frame[:len(ev.frame)-len("data: \n\n")] // "event: T\n"
	ev.idStart = len(ev.frame)
	ev.frame = append(ev.frame, "id: "...)
	ev.frame = append(ev.frame, e.MessageID...)
	ev.frame = append(ev.frame, '\n')
	ev.idEnd = len(ev.frame)
	// The data lines and the blank line, as AppendEvent writes them.
	full := AppendEvent(nil, "x", "", e.Data)
	ev.frame = append(ev.frame, full[len("event: x\n"):]...)
	return ev, true
}

// startSource lists the end offsets of the topics, sets the hub to start
// there, and returns a client consuming exactly from there (no consumer
// group: every server instance sees every event).
func (s *Server) startSource(ctx context.Context) (*kgo.Client, error) {
	adm := kadm.NewClient(s.admin)
	ends, err := adm.ListEndOffsets(ctx, s.cfg.Topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("sse: end offsets of %v: %w", s.cfg.Topics, err)
	}
	next := map[tp]int64{}
	start := map[string]map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		next[tp{o.Topic, o.Partition}] = o.Offset
		if start[o.Topic] == nil {
			start[o.Topic] = map[int32]kgo.Offset{}
		}
		start[o.Topic][o.Partition] = kgo.NewOffset().At(o.Offset)
	})
	s.hub = newHub(s.cfg.RingSize, next)
	return kgo.NewClient(append(s.clientOpts(), kgo.ConsumePartitions(start))...)
}

// runSource feeds the hub until ctx ends.
func (s *Server) runSource(ctx context.Context, cl *kgo.Client) {
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return
		}
		fetches.EachError(func(t string, p int32, err error) {
			s.cfg.Logger.Warn("kbus: sse fetch error", "topic", t, "partition", p, "error", err)
		})
		var runs [][]hubEvent
		next := map[tp]int64{}
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) == 0 {
				return
			}
			run := make([]hubEvent, 0, len(p.Records))
			for _, r := range p.Records {
				if e, ok := s.toEvent(r); ok {
					run = append(run, e)
				}
			}
			runs = append(runs, run)
			next[tp{p.Topic, p.Partition}] = p.Records[len(p.Records)-1].Offset + 1
		})
		if len(next) > 0 {
			// Partitions interleaved in id order, so that streams see ids rise.
			s.hub.publish(mergeByID(runs), next)
		}
	}
}
