package dlq

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicStatus is what the brokers say about a topic.
type topicStatus int

const (
	topicMissing  topicStatus = iota // the topic does not exist
	topicNotReady                    // it exists, but some partition has no leader yet
	topicReady                       // every partition has a leader
)

// describeTopic asks the brokers about topic, bypassing franz-go's metadata
// cache (kadm.Metadata may answer from a cache up to MetadataMinAge old,
// which would hide a topic created a moment ago). It returns the
// partition numbers along with the status.
func describeTopic(ctx context.Context, cl *kgo.Client, topic string) (topicStatus, []int32, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, nil, fmt.Errorf("dlq: metadata for %s: %w", topic, err)
	}
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		switch err := kerr.ErrorForCode(t.ErrorCode); {
		case errors.Is(err, kerr.UnknownTopicOrPartition):
			return topicMissing, nil, nil
		case err != nil && kerr.IsRetriable(err):
			return topicNotReady, nil, nil
		case err != nil:
			return 0, nil, fmt.Errorf("dlq: metadata for %s: %w", topic, err)
		}
		if len(t.Partitions) == 0 {
			return topicNotReady, nil, nil
		}
		status := topicReady
		ps := make([]int32, 0, len(t.Partitions))
		for _, p := range t.Partitions {
			ps = append(ps, p.Partition)
			if p.ErrorCode != 0 || p.Leader < 0 {
				status = topicNotReady
			}
		}
		return status, ps, nil
	}
	return topicMissing, nil, nil
}
