package producer

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// A TopicSpec describes a topic to provision.
type TopicSpec struct {
	// Name is the topic's name; by kbus's convention, the event type
	// (payment.completed).
	Name string
	// Partitions is the number of partitions; it bounds how many consumers of
	// one group work in parallel. 0 means the broker's num.partitions.
	Partitions int32
	// ReplicationFactor is the number of copies; 3 in production. 0 means the
	// broker's default.replication.factor.
	ReplicationFactor int16
	// Configs are topic configs such as retention.ms or max.message.bytes.
	Configs map[string]*string
}

// EnsureTopics creates the topics that do not exist yet, through kadm, and
// waits for the broker's answer. Topics that exist are left as they are, even
// when their partition count differs from the spec (changing it would move
// keys to other partitions and break per-key ordering).
func (p *Producer) EnsureTopics(ctx context.Context, specs ...TopicSpec) error {
	adm := kadm.NewClient(p.cl)
	var errs []error
	for _, s := range specs {
		parts, rf := s.Partitions, s.ReplicationFactor
		if parts == 0 {
			parts = -1
		}
		if rf == 0 {
			rf = -1
		}
		resp, err := adm.CreateTopic(ctx, parts, rf, s.Configs, s.Name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("producer: create topic %q: %w", s.Name, err))
		}
	}
	return errors.Join(errs...)
}
