package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// groupLag is the output of `kbus lag`.
type groupLag struct {
	Group string `json:"group"`
	// State is the group's state as the coordinator reports it (Stable,
	// Empty, PreparingRebalance, ...).
	State      string         `json:"state"`
	Partitions []partitionLag `json:"partitions"`
	// TotalLag is the sum of the partitions' lag (partitions with an error
	// count as 0).
	TotalLag int64 `json:"total_lag"`
}

type partitionLag struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Committed is the group's committed offset, -1 when it has none.
	Committed int64 `json:"committed"`
	// End is the partition's end offset (the offset of the next record),
	// -1 when it could not be listed.
	End int64 `json:"end"`
	// Lag is End - Committed (End - start offset without a commit), -1
	// when Error is set.
	Lag int64 `json:"lag"`
	// Member is the client id of the member the partition is assigned to,
	// empty when none is.
	Member string `json:"member,omitempty"`
	Error  string `json:"error,omitempty"`
}

func newLagCmd(a *app) *cobra.Command {
	var group string
	cmd := &cobra.Command{
		Use:   "lag --group GROUP",
		Short: "Show a consumer group's lag per partition",
		Long: `Show a consumer group's lag per partition: the committed offset, the end
offset of the partition and the difference, with the total over all
partitions.

The partitions shown are those assigned to the group's members and those the
group has committed offsets for; a partition without a commit counts from its
start offset. A group that has no committed offsets and that no broker lists
is an error.`,
		Example: `  kbus lag --group order-service
  kbus lag --group webhooks -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if group == "" {
				return errors.New("--group is required")
			}
			adm, err := a.connectAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), adminTimeout)
			defer cancel()
			gl, err := a.lag(ctx, adm, group)
			if err != nil {
				return err
			}
			for _, p := range gl.Partitions {
				if p.Error != "" {
					fmt.Fprintf(a.errOut, "kbus: warning: %s/%d: %s\n", p.Topic, p.Partition, p.Error)
				}
			}
			if a.json() {
				return a.printJSON(gl)
			}
			rows := make([][]string, 0, len(gl.Partitions)+1)
			for _, p := range gl.Partitions {
				lag := strconv.FormatInt(p.Lag, 10)
				if p.Lag < 0 {
					lag = "?"
				}
				rows = append(rows, []string{p.Topic, strconv.Itoa(int(p.Partition)), offset(p.Committed), offset(p.End), lag, p.Member})
			}
			rows = append(rows, []string{"TOTAL", "", "", "", strconv.FormatInt(gl.TotalLag, 10), ""})
			return a.table([]string{"TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "MEMBER"}, rows)
		},
	}
	cmd.Flags().StringVarP(&group, "group", "g", "", "consumer group (required)")
	return cmd
}

// lag computes group's lag with kadm's Lag (DescribeGroups, FetchOffsets,
// ListStartOffsets and ListEndOffsets, then CalculateGroupLag). A group that
// the classic DescribeGroups does not know (it may be a KIP-848 consumer
// group) gets its lag from its committed offsets alone.
func (a *app) lag(ctx context.Context, adm *kadm.Client, group string) (groupLag, error) {
	op := fmt.Sprintf("lag of group %q", group)
	lags, err := adm.Lag(ctx, group)
	if err != nil {
		return groupLag{}, a.kafkaErr(op, err)
	}
	l, ok := lags[group]
	switch {
	case !ok:
		return groupLag{}, a.kafkaErr(op, errors.New("the coordinator did not describe the group"))
	case errors.Is(l.DescribeErr, kerr.GroupIDNotFound):
		return a.lagFromCommits(ctx, adm, group)
	case l.Error() != nil:
		return groupLag{}, a.kafkaErr(op, l.Error())
	case len(l.Lag) == 0 && len(l.Members) == 0:
		// Older brokers describe an unknown group as Dead with nothing
		// committed; ListGroups tells it from an empty group.
		if _, err := a.listedGroup(ctx, adm, group); err != nil {
			return groupLag{}, err
		}
	}
	return newGroupLag(group, l.State, l.Lag), nil
}

// lagFromCommits is the lag of a group that DescribeGroups does not know:
// per committed partition, against the partition's end offset.
func (a *app) lagFromCommits(ctx context.Context, adm *kadm.Client, group string) (groupLag, error) {
	op := fmt.Sprintf("lag of group %q", group)
	commits, err := adm.FetchOffsets(ctx, group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return groupLag{}, a.kafkaErr(op, err)
	}
	state := "Unknown"
	switch lg, err := a.listedGroup(ctx, adm, group); {
	case err == nil:
		state = lg.State
	case len(commits) == 0:
		return groupLag{}, err
	}
	var starts, ends kadm.ListedOffsets
	if topics := commits.Partitions().Topics(); len(topics) > 0 {
		if starts, err = adm.ListStartOffsets(ctx, topics...); err != nil {
			return groupLag{}, a.kafkaErr(op, err)
		}
		if ends, err = adm.ListEndOffsets(ctx, topics...); err != nil {
			return groupLag{}, a.kafkaErr(op, err)
		}
	}
	gl := kadm.CalculateGroupLagWithStartOffsets(kadm.DescribedGroup{Group: group, State: state}, commits, starts, ends)
	return newGroupLag(group, state, gl), nil
}

// listedGroup returns group as ListGroups lists it, or the error that the
// group does not exist.
func (a *app) listedGroup(ctx context.Context, adm *kadm.Client, group string) (kadm.ListedGroup, error) {
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		return kadm.ListedGroup{}, a.kafkaErr("list groups", err)
	}
	lg, ok := listed[group]
	if !ok {
		return kadm.ListedGroup{}, fmt.Errorf("consumer group %q not found: it has no committed offsets and no broker at %s lists it", group, a.brokers)
	}
	return lg, nil
}

func newGroupLag(group, state string, lag kadm.GroupLag) groupLag {
	gl := groupLag{Group: group, State: state, Partitions: []partitionLag{}, TotalLag: lag.Total()}
	for _, m := range lag.Sorted() {
		p := partitionLag{
			Topic:     m.Topic,
			Partition: m.Partition,
			Committed: m.Commit.At,
			End:       -1,
			Lag:       m.Lag,
		}
		if m.End.Err == nil {
			p.End = m.End.Offset
		}
		if m.Member != nil {
			p.Member = m.Member.ClientID
		}
		if m.Err != nil {
			p.Error = m.Err.Error()
		}
		gl.Partitions = append(gl.Partitions, p)
	}
	return gl
}
