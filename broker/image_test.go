package broker

import (
	"testing"

	"github.com/samsa-io/samsa/metadata"
	"github.com/samsa-io/samsa/storage"
)

// flush.messages and flush.ms reach the partition log's storage config:
// topic override first, then the broker default (log.flush.interval.*),
// then Kafka's default (never).
func TestPartitionSpecFlushSettings(t *testing.T) {
	b := &Broker{cfg: Config{TopicDefaults: map[string]string{"flush.ms": "250"}}}
	p := metadata.Partition{ID: 0}

	spec := b.partitionSpec(&metadata.Topic{Name: "t"}, p)
	if spec.Storage.FlushMessages != storage.DefaultFlushMessages || spec.Storage.FlushMs != 250 {
		t.Fatalf("defaults: flush.messages %d, flush.ms %d; want %d, 250",
			spec.Storage.FlushMessages, spec.Storage.FlushMs, int64(storage.DefaultFlushMessages))
	}
	spec = b.partitionSpec(&metadata.Topic{Name: "t", Configs: map[string]string{"flush.messages": "1000", "flush.ms": "0"}}, p)
	if spec.Storage.FlushMessages != 1000 || spec.Storage.FlushMs != 0 {
		t.Fatalf("overrides: flush.messages %d, flush.ms %d; want 1000, 0", spec.Storage.FlushMessages, spec.Storage.FlushMs)
	}
}
