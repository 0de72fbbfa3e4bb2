package sse

import (
	"sync"
)

// tp is a topic partition.
type tp struct {
	topic     string
	partition int32
}

// hubEvent is one event as every client may receive it: encoded once.
type hubEvent struct {
	typ, id, tenant string
	part            int    // the event's partition, as its index in the server's layout
	offset          int64  // the event's offset in its partition
	frame           []byte // the event in the SSE wire format
	idStart, idEnd  int    // the "id: …\n" line within frame
}

// hub is the in-process fan-out: a ring of the most recent events that every
// client reads at its own cursor. Publishing never waits for a client; a
// client that falls a whole ring behind has lost events and is disconnected
// (it resumes with Last-Event-ID).
type hub struct {
	mu     sync.RWMutex
	ring   []hubEvent
	head   uint64        // sequence number of the next event
	next   map[tp]int64  // next Kafka offset per partition after what the ring holds
	notify chan struct{} // closed when events are published, then replaced
}

func newHub(size int, next map[tp]int64) *hub {
	return &hub{ring: make([]hubEvent, size), next: next, notify: make(chan struct{})}
}

// publish appends the events of one fetch and records, per partition, the
// offset after the last record read. Clients are woken once per fetch.
func (h *hub) publish(evs []hubEvent, next map[tp]int64) {
	h.mu.Lock()
	for _, e := range evs {
		h.ring[h.head%uint64(len(h.ring))] = e
		h.head++
	}
	for k, v := range next {
		h.next[k] = v
	}
	ch := h.notify
	h.notify = make(chan struct{})
	h.mu.Unlock()
	close(ch)
}

// snapshot returns the cursor of the next event and the Kafka offsets the
// ring has reached per partition at that cursor.
func (h *hub) snapshot() (cursor uint64, next map[tp]int64) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	next = make(map[tp]int64, len(h.next))
	for k, v := range h.next {
		next[k] = v
	}
	return h.head, next
}

// since appends to dst the events from cursor on, at most max of them, and
// returns the new cursor, the channel closed at the next publish, and lost
// when the ring has overwritten events the cursor had not read.
func (h *hub) since(cursor uint64, dst []hubEvent, max int) (_ []hubEvent, next uint64, notify <-chan struct{}, lost bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	size := uint64(len(h.ring))
	if h.head > size && cursor < h.head-size {
		return dst, cursor, h.notify, true
	}
	end := min(h.head, cursor+uint64(max))
	for ; cursor < end; cursor++ {
		dst = append(dst, h.ring[cursor%size])
	}
	return dst, cursor, h.notify, false
}
