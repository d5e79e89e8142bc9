package client

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// fakeBase records what the wrapped partitioner is asked.
type fakeBase struct {
	pick       int
	consistent bool
	calls      int
	newBatches int
}

func (f *fakeBase) RequiresConsistency(*kgo.Record) bool { return f.consistent }
func (f *fakeBase) Partition(*kgo.Record, int) int       { f.calls++; return f.pick }
func (f *fakeBase) OnNewBatch()                          { f.newBatches++ }

func TestChoosingPartitionerHonoursExplicitPartition(t *testing.T) {
	base := &fakeBase{pick: 1}
	p := &choosingTopicPartitioner{base: base}

	explicit := &kgo.Record{Partition: 4}
	if !p.RequiresConsistency(explicit) {
		t.Error("an explicit partition must require consistency, so kgo indexes by partition number")
	}
	if got := p.Partition(explicit, 8); got != 4 {
		t.Errorf("explicit: picked %d, want 4", got)
	}
	if got := p.PartitionByBackup(explicit, 8, nil); got != 4 {
		t.Errorf("explicit by backup: picked %d, want 4", got)
	}
	p.OnNewBatch()
	if base.calls != 0 || base.newBatches != 0 {
		t.Errorf("explicit records reached the base partitioner: %+v", base)
	}

	anyRec := &kgo.Record{Partition: AnyPartition}
	if p.RequiresConsistency(anyRec) {
		t.Error("AnyPartition should follow the base's consistency")
	}
	if got := p.PartitionByBackup(anyRec, 8, nil); got != 1 || base.calls != 1 {
		t.Errorf("any: picked %d with %d base calls, want the base's 1", got, base.calls)
	}
	p.OnNewBatch()
	if base.newBatches != 1 {
		t.Errorf("OnNewBatch after an unpartitioned record was not passed on")
	}
}

func TestRecordRoundTripKeepsNullKeyAndHeaders(t *testing.T) {
	in := Record{Topic: "t", Partition: 2, Key: nil, Value: []byte("v"),
		Headers: []Header{{Key: "a", Value: []byte("1")}, {Key: "a", Value: nil}}}
	out := fromKgo(in.toKgo())
	if out.Key != nil || string(out.Value) != "v" || out.Topic != "t" || out.Partition != 2 {
		t.Errorf("got %+v", out)
	}
	if len(out.Headers) != 2 || out.Headers[0].Key != "a" || string(out.Headers[0].Value) != "1" || out.Headers[1].Value != nil {
		t.Errorf("headers %+v", out.Headers)
	}
	if r := NewRecord("t", nil, nil); r.Partition != AnyPartition {
		t.Errorf("NewRecord partition %d", r.Partition)
	}
}

func TestProduceErrNamesTargetAndMapsClosed(t *testing.T) {
	err := produceErr(Record{Topic: "t", Partition: 3}, kgo.ErrClientClosed)
	if !errors.Is(err, ErrClosed) || !errors.Is(err, kgo.ErrClientClosed) {
		t.Errorf("%v: want ErrClosed and kgo.ErrClientClosed", err)
	}
	if got := err.Error(); got != `produce to "t" partition 3: client: closed: client closed` {
		t.Errorf("message %q", got)
	}
	if got := produceErr(Record{Topic: "t", Partition: AnyPartition}, errors.New("x")).Error(); got != `produce to "t": x` {
		t.Errorf("message %q", got)
	}
}

func TestStartPositions(t *testing.T) {
	if off, ok := StartAt(9).Offset(); !ok || off != 9 || StartAt(9).String() != "9" {
		t.Error("StartAt(9)")
	}
	if _, ok := StartBeginning.Offset(); ok || !StartBeginning.IsBeginning() || StartBeginning.String() != "beginning" {
		t.Error("StartBeginning")
	}
	if !StartEnd.IsEnd() || StartEnd.IsBeginning() || StartEnd.String() != "end" {
		t.Error("StartEnd")
	}
	var zero Start
	if !zero.IsBeginning() {
		t.Error("the zero Start should be StartBeginning")
	}
}
