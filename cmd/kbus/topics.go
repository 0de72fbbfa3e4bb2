package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newTopicsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topics",
		Short: "List, create and describe Kafka topics",
		Long: `List, create and describe Kafka topics.

By kbus's convention a topic is named as the event type it carries
(payment.completed) and each consumer group has a dead-letter topic
dlq.<group>.`,
		// Without a subcommand, print the help; with an unknown one, fail
		// (cobra would print the help and exit 0).
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unknown command %q for \"kbus topics\" (see kbus topics --help)", args[0])
			}
			return cmd.Help()
		},
	}
	cmd.AddCommand(newTopicsListCmd(a), newTopicsCreateCmd(a), newTopicsDescribeCmd(a))
	return cmd
}

// topicSummary is one topic of `topics list` and `topics create`.
type topicSummary struct {
	Name              string `json:"name"`
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replication_factor"`
	Internal          bool   `json:"internal"`
	// Status is set by create: "created", or "exists" under --if-not-exists.
	Status string `json:"status,omitempty"`
	// Error is a topic that the brokers could not load.
	Error string `json:"error,omitempty"`
}

func summarize(td kadm.TopicDetail) topicSummary {
	s := topicSummary{
		Name:              td.Topic,
		Partitions:        len(td.Partitions),
		ReplicationFactor: td.Partitions.NumReplicas(),
		Internal:          td.IsInternal,
	}
	if td.Err != nil {
		s.Error = td.Err.Error()
	}
	return s
}

func newTopicsListCmd(a *app) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List topics with their partitions and replication factor",
		Long: `List topics with their number of partitions and replication factor, sorted by
name. Internal topics such as __consumer_offsets are hidden unless --all.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			adm, err := a.connectAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), adminTimeout)
			defer cancel()
			tds, err := adm.ListTopicsWithInternal(ctx)
			if err != nil {
				return a.kafkaErr("list topics", err)
			}
			if !all {
				tds.FilterInternal()
			}
			list := make([]topicSummary, 0, len(tds))
			for _, td := range tds.Sorted() {
				list = append(list, summarize(td))
			}
			if a.json() {
				return a.printJSON(list)
			}
			header := []string{"NAME", "PARTITIONS", "REPLICATION"}
			if all {
				header = append(header, "INTERNAL")
			}
			rows := make([][]string, 0, len(list))
			for _, t := range list {
				r := []string{t.Name, strconv.Itoa(t.Partitions), strconv.Itoa(t.ReplicationFactor)}
				if all {
					r = append(r, strconv.FormatBool(t.Internal))
				}
				rows = append(rows, r)
			}
			return a.table(header, rows)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "include internal topics such as __consumer_offsets")
	return cmd
}

func newTopicsCreateCmd(a *app) *cobra.Command {
	var (
		partitions  int32
		replication int16
		configs     []string
		ifNotExists bool
	)
	cmd := &cobra.Command{
		Use:   "create NAME...",
		Short: "Create topics",
		Long: `Create one or more topics with the same partition count, replication factor
and configs, and wait until every partition has a leader.

A topic that already exists is an error unless --if-not-exists; its partition
count and configs are never changed (changing the partition count would move
keys to other partitions and break per-key ordering).`,
		Example: `  kbus topics create payment.completed payment.failed --partitions 6
  kbus topics create refund.created --replication-factor 3 --config retention.ms=604800000
  kbus topics create payment.completed --if-not-exists`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, names []string) error {
			if partitions == 0 || partitions < -1 {
				return fmt.Errorf("--partitions must be positive (or -1 for the broker's default), not %d", partitions)
			}
			if replication == 0 || replication < -1 {
				return fmt.Errorf("--replication-factor must be positive (or -1 for the broker's default), not %d", replication)
			}
			cfg, err := parseConfigs(configs)
			if err != nil {
				return err
			}
			if dup := duplicate(names); dup != "" {
				return fmt.Errorf("topic %q is named twice", dup)
			}
			adm, err := a.connectAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), adminTimeout)
			defer cancel()
			resps, err := adm.CreateTopics(ctx, partitions, replication, cfg, names...)
			if err != nil {
				return a.kafkaErr("create topics", err)
			}
			var (
				errs   []error
				ok     []string
				status = map[string]string{}
			)
			for _, name := range names {
				r, found := resps[name]
				switch {
				case !found:
					errs = append(errs, fmt.Errorf("create topic %q: the broker did not answer for it", name))
				case r.Err == nil:
					ok, status[name] = append(ok, name), "created"
				case errors.Is(r.Err, kerr.TopicAlreadyExists) && ifNotExists:
					ok, status[name] = append(ok, name), "exists"
				case errors.Is(r.Err, kerr.TopicAlreadyExists):
					errs = append(errs, fmt.Errorf("topic %q already exists (use --if-not-exists to accept an existing topic)", name))
				default:
					errs = append(errs, fmt.Errorf("create topic %q: %w%s", name, r.Err, detail(r.ErrMessage)))
				}
			}
			list := make([]topicSummary, 0, len(ok))
			if len(ok) > 0 {
				tds, err := waitForLeaders(ctx, adm, ok)
				if err != nil {
					return a.kafkaErr("wait for the new topics' leaders", err)
				}
				for _, name := range ok {
					s := summarize(tds[name])
					s.Status = status[name]
					list = append(list, s)
				}
			}
			if len(list) == 0 {
				return errors.Join(errs...)
			}
			if err := a.printTopicSummaries(list); err != nil {
				return err
			}
			return errors.Join(errs...)
		},
	}
	f := cmd.Flags()
	f.Int32Var(&partitions, "partitions", 3, "number of partitions (-1: the broker's num.partitions)")
	f.Int16Var(&replication, "replication-factor", -1, "number of replicas (-1: the broker's default.replication.factor)")
	f.StringArrayVar(&configs, "config", nil, "topic config as key=value, repeatable (e.g. retention.ms=86400000)")
	f.BoolVar(&ifNotExists, "if-not-exists", false, "succeed when a topic already exists (it is left unchanged)")
	return cmd
}

func (a *app) printTopicSummaries(list []topicSummary) error {
	if a.json() {
		return a.printJSON(list)
	}
	rows := make([][]string, 0, len(list))
	for _, t := range list {
		rows = append(rows, []string{t.Name, strconv.Itoa(t.Partitions), strconv.Itoa(t.ReplicationFactor), t.Status})
	}
	return a.table([]string{"NAME", "PARTITIONS", "REPLICATION", "STATUS"}, rows)
}

// parseConfigs turns key=value flags into a kadm config map.
func parseConfigs(kvs []string) (map[string]*string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	m := make(map[string]*string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if k = strings.TrimSpace(k); !ok || k == "" {
			return nil, fmt.Errorf("--config %q: want key=value", kv)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("--config %q: %s is set twice", kv, k)
		}
		m[k] = kadm.StringPtr(v)
	}
	return m, nil
}

func duplicate(names []string) string {
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if seen[n] {
			return n
		}
		seen[n] = true
	}
	return ""
}

// detail formats a broker's optional error message as a suffix.
func detail(msg string) string {
	if msg == "" {
		return ""
	}
	return " (" + msg + ")"
}

// waitForLeaders polls metadata until every partition of every topic has a
// leader (metadata spreads asynchronously after a create), or ctx ends.
func waitForLeaders(ctx context.Context, adm *kadm.Client, topics []string) (kadm.TopicDetails, error) {
	for {
		tds, err := adm.ListTopics(ctx, topics...)
		if err == nil && allLed(tds, topics) {
			return tds, nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return nil, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func allLed(tds kadm.TopicDetails, topics []string) bool {
	for _, t := range topics {
		td, ok := tds[t]
		if !ok || td.Err != nil || len(td.Partitions) == 0 {
			return false
		}
		for _, p := range td.Partitions {
			if p.Err != nil || p.Leader < 0 {
				return false
			}
		}
	}
	return true
}

// topicDescription is the output of `topics describe`.
type topicDescription struct {
	Name              string            `json:"name"`
	ID                string            `json:"id"`
	Internal          bool              `json:"internal"`
	ReplicationFactor int               `json:"replication_factor"`
	Partitions        []partitionDetail `json:"partitions"`
	// Configs are the configs whose source is not Kafka's default: set on
	// the topic, or inherited from the brokers' configuration.
	Configs []topicConfig `json:"configs"`
}

type partitionDetail struct {
	Partition   int32   `json:"partition"`
	Leader      int32   `json:"leader"`
	Replicas    []int32 `json:"replicas"`
	ISR         []int32 `json:"isr"`
	StartOffset int64   `json:"start_offset"`
	EndOffset   int64   `json:"end_offset"`
	Error       string  `json:"error,omitempty"`
}

type topicConfig struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	Source    string `json:"source"`
	Sensitive bool   `json:"sensitive,omitempty"`
}

func newTopicsDescribeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a topic's partitions, offsets and non-default configs",
		Long: `Show a topic's partitions (leader, replicas, in-sync replicas, start and end
offsets) and the configs that differ from Kafka's defaults: those set on the
topic (DYNAMIC_TOPIC_CONFIG) and those inherited from the brokers'
configuration, each with its source.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			adm, err := a.connectAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), adminTimeout)
			defer cancel()
			d, err := describeTopic(ctx, adm, name)
			if errors.Is(err, errNoTopic) {
				return fmt.Errorf("topic %q does not exist (brokers %s)", name, a.brokers)
			}
			if err != nil {
				return a.kafkaErr(fmt.Sprintf("describe topic %q", name), err)
			}
			if a.json() {
				return a.printJSON(d)
			}
			return a.printTopicDescription(d)
		},
	}
}

// errNoTopic is returned by describeTopic for a topic that does not exist.
var errNoTopic = errors.New("no such topic")

func describeTopic(ctx context.Context, adm *kadm.Client, name string) (topicDescription, error) {
	tds, err := adm.ListTopics(ctx, name)
	if err != nil {
		return topicDescription{}, err
	}
	td, ok := tds[name]
	switch {
	case !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition):
		return topicDescription{}, errNoTopic
	case td.Err != nil:
		return topicDescription{}, td.Err
	}
	starts, err := adm.ListStartOffsets(ctx, name)
	if err != nil {
		return topicDescription{}, fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, name)
	if err != nil {
		return topicDescription{}, fmt.Errorf("list end offsets: %w", err)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, name)
	if err != nil {
		return topicDescription{}, fmt.Errorf("describe configs: %w", err)
	}
	rc, err := rcs.On(name, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		return topicDescription{}, fmt.Errorf("describe configs: %w%s", err, detail(rc.ErrMessage))
	}

	d := topicDescription{
		Name:              name,
		ID:                base64.RawURLEncoding.EncodeToString(td.ID[:]), // as Kafka's tools print it
		Internal:          td.IsInternal,
		ReplicationFactor: td.Partitions.NumReplicas(),
		Partitions:        []partitionDetail{},
		Configs:           []topicConfig{},
	}
	for _, p := range td.Partitions.Sorted() {
		pd := partitionDetail{
			Partition:   p.Partition,
			Leader:      p.Leader,
			Replicas:    nonNil(p.Replicas),
			ISR:         nonNil(p.ISR),
			StartOffset: -1,
			EndOffset:   -1,
		}
		var perrs []string
		if p.Err != nil {
			perrs = append(perrs, p.Err.Error())
		}
		if o, ok := starts.Lookup(name, p.Partition); ok && o.Err == nil {
			pd.StartOffset = o.Offset
		} else if ok {
			perrs = append(perrs, "start offset: "+o.Err.Error())
		}
		if o, ok := ends.Lookup(name, p.Partition); ok && o.Err == nil {
			pd.EndOffset = o.Offset
		} else if ok {
			perrs = append(perrs, "end offset: "+o.Err.Error())
		}
		pd.Error = strings.Join(perrs, "; ")
		d.Partitions = append(d.Partitions, pd)
	}
	for _, c := range rc.Configs {
		if c.Source == kmsg.ConfigSourceDefaultConfig || c.Source == kmsg.ConfigSourceUnknown {
			continue
		}
		d.Configs = append(d.Configs, topicConfig{Name: c.Key, Value: c.MaybeValue(), Source: c.Source.String(), Sensitive: c.Sensitive})
	}
	slices.SortFunc(d.Configs, func(x, y topicConfig) int { return strings.Compare(x.Name, y.Name) })
	return d, nil
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}

func (a *app) printTopicDescription(d topicDescription) error {
	if err := a.table(nil, [][]string{
		{"Topic:", d.Name},
		{"ID:", d.ID},
		{"Partitions:", strconv.Itoa(len(d.Partitions))},
		{"Replication:", strconv.Itoa(d.ReplicationFactor)},
	}); err != nil {
		return err
	}
	fmt.Fprintln(a.out)
	header := []string{"PARTITION", "LEADER", "REPLICAS", "ISR", "START", "END"}
	withErrors := slices.ContainsFunc(d.Partitions, func(p partitionDetail) bool { return p.Error != "" })
	if withErrors {
		header = append(header, "ERROR")
	}
	rows := make([][]string, 0, len(d.Partitions))
	for _, p := range d.Partitions {
		r := []string{
			strconv.Itoa(int(p.Partition)), strconv.Itoa(int(p.Leader)), joinInts(p.Replicas), joinInts(p.ISR),
			offset(p.StartOffset), offset(p.EndOffset),
		}
		if withErrors {
			r = append(r, p.Error)
		}
		rows = append(rows, r)
	}
	if err := a.table(header, rows); err != nil {
		return err
	}
	fmt.Fprintln(a.out)
	if len(d.Configs) == 0 {
		_, err := fmt.Fprintln(a.out, "Configs: all defaults")
		return err
	}
	rows = rows[:0]
	for _, c := range d.Configs {
		v := c.Value
		if c.Sensitive {
			v = "(sensitive)"
		}
		rows = append(rows, []string{c.Name, v, c.Source})
	}
	return a.table([]string{"CONFIG", "VALUE", "SOURCE"}, rows)
}

func joinInts(xs []int32) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(int(x))
	}
	return strings.Join(s, ",")
}

// offset formats an offset, "?" when it could not be listed.
func offset(o int64) string {
	if o < 0 {
		return "?"
	}
	return strconv.FormatInt(o, 10)
}
