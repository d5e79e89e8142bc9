package client

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// GroupOption configures a GroupConsumer.
type GroupOption func(*groupConfig)

type groupConfig struct {
	manualCommit     bool
	reset            Start
	isolation        IsolationLevel
	sessionTimeout   time.Duration
	heartbeat        time.Duration
	rebalanceTimeout time.Duration
	commitTimeout    time.Duration
	maxPollRecords   int
	fetchMaxWait     time.Duration
	instanceID       string
	onAssigned       func(context.Context, map[string][]int32)
	onRevoked        func(context.Context, map[string][]int32)
	onLost           func(context.Context, map[string][]int32)
	onError          func(error)
}

// DefaultCommitTimeout bounds the commit Consume makes after each batch,
// unless GroupCommitTimeout changes it.
const DefaultCommitTimeout = 30 * time.Second

func defaultGroupConfig() groupConfig {
	return groupConfig{reset: StartBeginning, commitTimeout: DefaultCommitTimeout}
}

// GroupManualCommit turns off the commit Consume makes after each batch:
// the handler (or OnRevoked) commits with GroupConsumer.Commit when it
// chooses. Records handled but not committed are delivered again after a
// restart or a rebalance.
func GroupManualCommit() GroupOption {
	return func(c *groupConfig) { c.manualCommit = true }
}

// GroupResetOffset is auto.offset.reset: where a partition starts when the
// group has no committed offset for it, or when its committed offset is no
// longer in the log. StartBeginning (earliest, the default), StartEnd
// (latest) or StartAt(offset).
//
// The default differs from the Java client's (latest): a new group reads
// what is already there, so nothing written before it started is missed.
func GroupResetOffset(s Start) GroupOption {
	return func(c *groupConfig) { c.reset = s }
}

// GroupIsolation sets the isolation level (isolation.level); the default
// is ReadUncommitted.
func GroupIsolation(l IsolationLevel) GroupOption {
	return func(c *groupConfig) { c.isolation = l }
}

// GroupSessionTimeout is session.timeout.ms: how long the coordinator
// waits without a heartbeat before it declares the member dead and gives
// its partitions to others. It must lie within the broker's
// group.min/max.session.timeout.ms. The default is kgo's (45s).
func GroupSessionTimeout(d time.Duration) GroupOption {
	return func(c *groupConfig) { c.sessionTimeout = d }
}

// GroupHeartbeatInterval is heartbeat.interval.ms: how often the member
// tells the coordinator it is alive, and so how fast it learns of a
// rebalance. The default is kgo's (3s).
func GroupHeartbeatInterval(d time.Duration) GroupOption {
	return func(c *groupConfig) { c.heartbeat = d }
}

// GroupRebalanceTimeout is rebalance.timeout.ms: how long the coordinator
// waits for every member to rejoin during a rebalance. A member whose
// handler runs longer than this is dropped from the group (a batch is
// handled and committed before the member rejoins). The default is kgo's
// (60s).
func GroupRebalanceTimeout(d time.Duration) GroupOption {
	return func(c *groupConfig) { c.rebalanceTimeout = d }
}

// GroupCommitTimeout bounds the commit Consume makes after each batch; the
// default is DefaultCommitTimeout. The commit is made even when the
// context given to Consume is done, so that handled records are not
// handled twice.
func GroupCommitTimeout(d time.Duration) GroupOption {
	return func(c *groupConfig) { c.commitTimeout = d }
}

// GroupMaxPollRecords bounds how many records one batch given to the
// handler holds; the default (0) gives whatever one poll returned.
func GroupMaxPollRecords(n int) GroupOption {
	return func(c *groupConfig) { c.maxPollRecords = n }
}

// GroupFetchMaxWait is fetch.max.wait.ms: how long the broker holds a
// fetch open waiting for new records. The default is kgo's (5s). A Resume
// takes effect with the next fetch, so on an idle member it can wait this
// long.
func GroupFetchMaxWait(d time.Duration) GroupOption {
	return func(c *groupConfig) { c.fetchMaxWait = d }
}

// GroupInstanceID makes the member static (group.instance.id, KIP-345): a
// member that restarts with the same id within the session timeout gets
// its partitions back without a rebalance. A static member does not leave
// the group on Close; its partitions move only when its session expires.
func GroupInstanceID(id string) GroupOption {
	return func(c *groupConfig) { c.instanceID = id }
}

// GroupOnAssigned sets a function called with the partitions this member
// gains, before they are fetched. It may call Seek to choose where they
// start. It runs between batches, never during the handler, and must be
// quick: it holds up the rebalance. It must not call Consume or Close.
func GroupOnAssigned(fn func(ctx context.Context, assigned map[string][]int32)) GroupOption {
	return func(c *groupConfig) { c.onAssigned = fn }
}

// GroupOnRevoked sets a function called with the partitions this member
// gives up in a rebalance, or in Close, before another member gets them.
// With GroupManualCommit this is the last chance to commit them. It runs
// between batches, never during the handler, must be quick, and must not
// call Consume or Close.
func GroupOnRevoked(fn func(ctx context.Context, revoked map[string][]int32)) GroupOption {
	return func(c *groupConfig) { c.onRevoked = fn }
}

// GroupOnLost sets a function called with the partitions this member lost
// without giving them up: its session expired, or the coordinator no
// longer knows it. Other members may already own them, so committing them
// fails. Without it, the OnRevoked function is called instead (as the
// Java client does).
func GroupOnLost(fn func(ctx context.Context, lost map[string][]int32)) GroupOption {
	return func(c *groupConfig) { c.onLost = fn }
}

// GroupOnError sets a function called with the errors Consume recovers
// from by itself: a partition's fetch error that kgo retries, or a commit
// refused because the group rebalanced (the records are delivered again).
// By default they are logged at warn level with the Client's logger.
// Errors that Consume cannot recover from are returned by Consume.
func GroupOnError(fn func(error)) GroupOption {
	return func(c *groupConfig) { c.onError = fn }
}

func (c *groupConfig) validate() error {
	switch {
	case c.sessionTimeout < 0 || c.heartbeat < 0 || c.rebalanceTimeout < 0 || c.fetchMaxWait < 0:
		return invalidf("negative session timeout, heartbeat interval, rebalance timeout or fetch wait")
	case c.commitTimeout <= 0:
		return invalidf("commit timeout %v: must be positive", c.commitTimeout)
	case c.maxPollRecords < 0:
		return invalidf("max poll records %d", c.maxPollRecords)
	}
	return nil
}

// kgoOpts returns the kgo options for c; the group's callbacks and offset
// adjustment are added by NewGroupConsumer.
func (c *groupConfig) kgoOpts(group string, topics []string) ([]kgo.Opt, error) {
	iso, err := c.isolation.kgo()
	if err != nil {
		return nil, err
	}
	opts := []kgo.Opt{
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(c.reset.kgo()),
		kgo.DisableAutoCommit(),
		// Rebalances wait for the batch being handled to be committed,
		// so a commit never lands on a partition this member lost.
		kgo.BlockRebalanceOnPoll(),
		iso,
	}
	if c.sessionTimeout > 0 {
		opts = append(opts, kgo.SessionTimeout(c.sessionTimeout))
	}
	if c.heartbeat > 0 {
		opts = append(opts, kgo.HeartbeatInterval(c.heartbeat))
	}
	if c.rebalanceTimeout > 0 {
		opts = append(opts, kgo.RebalanceTimeout(c.rebalanceTimeout))
	}
	if c.fetchMaxWait > 0 {
		opts = append(opts, kgo.FetchMaxWait(c.fetchMaxWait))
	}
	if c.instanceID != "" {
		opts = append(opts, kgo.InstanceID(c.instanceID))
	}
	return opts, nil
}
