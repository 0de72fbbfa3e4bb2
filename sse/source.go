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

// toEvent turns a record into a hub event whose id carries the position pos
// (one offset per partition of l, the record's own advanced past it); ok is
// false for records that are not valid envelopes (they are counted and
// skipped: the stream is a view, the consumer groups own dead-lettering).
func (s *Server) toEvent(rec *kgo.Record, l *layout, pos []int64) (hubEvent, bool) {
	e, err := envelope.Unmarshal(rec.Value)
	if err == nil && e.Metadata.ContentType == envelope.ContentTypeAvro {
		e, err = s.cfg.Schemas.DecodeEnvelope(e, "")
	}
	if err != nil {
		s.m.malformed.Inc()
		return hubEvent{}, false
	}
	ev := hubEvent{typ: e.Topic, id: e.MessageID, tenant: tenantOf(e.Data, s.cfg.TenantField),
		part: l.index[tp{rec.Topic, rec.Partition}], offset: rec.Offset}
	ev.frame = AppendEvent(nil, e.Topic, "", nil)
	ev.frame = ev.frame[:len(ev.frame)-len("data: \n\n")] // "event: T\n"
	ev.idStart = len(ev.frame)
	// A message id holds no CR, LF or NUL (envelope validation), nor does a
	// position: the id line needs no cleaning.
	ev.frame = append(ev.frame, "id: "...)
	ev.frame = l.appendID(ev.frame, e.MessageID, pos)
	ev.frame = append(ev.frame, '\n')
	ev.idEnd = len(ev.frame)
	// The data lines and the blank line, as AppendEvent writes them.
	full := AppendEvent(nil, "x", "", e.Data)
	ev.frame = append(ev.frame, full[len("event: x\n"):]...)
	return ev, true
}

// startSource lists the end offsets of the topics, sets the layout and the
// hub to start there, and returns a client consuming exactly from there (no
// consumer group: every server instance sees every event).
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
	counts := map[string]int32{}
	start := map[string]map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		next[tp{o.Topic, o.Partition}] = o.Offset
		counts[o.Topic] = max(counts[o.Topic], o.Partition+1)
		if start[o.Topic] == nil {
			start[o.Topic] = map[int32]kgo.Offset{}
		}
		start[o.Topic][o.Partition] = kgo.NewOffset().At(o.Offset)
	})
	l := newLayout(counts)
	for _, p := range l.parts {
		if _, ok := next[p]; !ok {
			return nil, fmt.Errorf("sse: no end offset listed for %s/%d", p.topic, p.partition)
		}
	}
	s.layout = l
	s.hub = newHub(s.cfg.RingSize, next)
	return kgo.NewClient(append(s.clientOpts(), kgo.ConsumePartitions(start))...)
}

// runSource feeds the hub until ctx ends. Each event's id carries the
// source's frontier at that event: per partition, the offset after the last
// record read before it (its own included). Partitions are taken one after
// another within a fetch; the order across partitions does not matter to a
// resume, which reads every partition from its own offset.
func (s *Server) runSource(ctx context.Context, cl *kgo.Client) {
	l := s.layout
	frontier := make([]int64, len(l.parts))
	_, next := s.hub.snapshot()
	for i, p := range l.parts {
		frontier[i] = next[p]
	}
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return
		}
		fetches.EachError(func(t string, p int32, err error) {
			s.cfg.Logger.Warn("kbus: sse fetch error", "topic", t, "partition", p, "error", err)
		})
		var evs []hubEvent
		next := map[tp]int64{}
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			i, ok := l.index[tp{p.Topic, p.Partition}]
			if !ok || len(p.Records) == 0 {
				return
			}
			for _, r := range p.Records {
				frontier[i] = r.Offset + 1
				if e, ok := s.toEvent(r, l, frontier); ok {
					evs = append(evs, e)
				}
			}
			next[tp{p.Topic, p.Partition}] = frontier[i]
		})
		if len(next) > 0 {
			s.hub.publish(evs, next)
		}
	}
}
