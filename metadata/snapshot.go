package metadata

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strconv"
)

// snapshotMagic starts every encoded snapshot; the byte after it is the
// snapshot format.
var snapshotMagic = []byte("SMSS")

const snapshotFormat byte = 0

// Records returns a batch that, applied to Empty(), rebuilds this image
// (apart from the offset). The order is deterministic: bootstrap, features,
// brokers by id, broker configs, then each topic by name with its
// partitions and configs, then the producer-id watermark.
func (i *Image) Records() []Record {
	var recs []Record
	if i.clusterID != "" {
		recs = append(recs, &BootstrapRecord{ClusterID: i.clusterID, MetadataVersion: i.metadataVersion})
	}
	for _, name := range sortedKeys(i.features) {
		if name == MetadataVersionFeature && i.clusterID != "" {
			continue // carried by the bootstrap record
		}
		recs = append(recs, &FeatureLevelRecord{Name: name, Level: i.features[name]})
	}
	for _, b := range i.Brokers() {
		recs = append(recs, &RegisterBrokerRecord{
			NodeID:        b.ID,
			IncarnationID: b.IncarnationID,
			BrokerEpoch:   b.Epoch,
			Listeners:     slices.Clone(b.Listeners),
			Rack:          b.Rack,
			Fenced:        b.Fenced,
		})
	}
	for _, res := range sortedKeys(i.brokerConfigs) {
		recs = appendConfigRecords(recs, ConfigResourceBroker, res, i.brokerConfigs[res])
	}
	for _, t := range i.Topics() {
		recs = append(recs, &TopicRecord{ID: t.ID, Name: t.Name})
		for _, p := range t.Partitions {
			recs = append(recs, &PartitionRecord{
				TopicID:          t.ID,
				Partition:        p.ID,
				Replicas:         slices.Clone(p.Replicas),
				ISR:              slices.Clone(p.ISR),
				Leader:           p.Leader,
				LeaderEpoch:      p.LeaderEpoch,
				PartitionEpoch:   p.PartitionEpoch,
				AddingReplicas:   slices.Clone(p.AddingReplicas),
				RemovingReplicas: slices.Clone(p.RemovingReplicas),
			})
		}
		recs = appendConfigRecords(recs, ConfigResourceTopic, t.Name, t.Configs)
	}
	if i.producerIDs.next != 0 {
		recs = append(recs, &ProducerIDsRecord{
			NextProducerID: i.producerIDs.next,
			BrokerID:       i.producerIDs.brokerID,
			BrokerEpoch:    i.producerIDs.brokerEpoch,
		})
	}
	return recs
}

func appendConfigRecords(recs []Record, typ int8, resource string, cfg map[string]string) []Record {
	for _, k := range sortedKeys(cfg) {
		v := cfg[k]
		recs = append(recs, &ConfigRecord{ResourceType: typ, ResourceName: resource, Name: k, Value: &v})
	}
	return recs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// EncodeSnapshot serialises the whole image with its offset:
//
//	snapshot = "SMSS" format:byte(0) offset:uvarint batch
//
// where batch is EncodeBatch(i.Records()).
func (i *Image) EncodeSnapshot() []byte {
	out := append([]byte(nil), snapshotMagic...)
	out = append(out, snapshotFormat)
	out = binary.AppendUvarint(out, i.offset)
	return append(out, EncodeBatch(i.Records())...)
}

// DecodeSnapshot rebuilds an image from EncodeSnapshot's output. Every error
// wraps ErrCorrupt or ErrInconsistent; it never panics.
func DecodeSnapshot(b []byte) (*Image, error) {
	if !bytes.HasPrefix(b, snapshotMagic) {
		return nil, corruptf("not a metadata snapshot")
	}
	b = b[len(snapshotMagic):]
	if len(b) == 0 || b[0] != snapshotFormat {
		return nil, corruptf("unknown snapshot format")
	}
	r := &reader{b: b[1:]}
	offset := r.uvarint()
	if r.err != nil {
		return nil, r.err
	}
	recs, err := DecodeBatch(r.b)
	if err != nil {
		return nil, err
	}
	if offset == 0 {
		if len(recs) != 0 {
			return nil, corruptf("snapshot at offset 0 holds %d records", len(recs))
		}
		return Empty(), nil
	}
	img, _, err := Empty().Apply(recs, offset)
	return img, err
}

// brokerResource is the ConfigRecord resource name of a broker.
func brokerResource(id int32) string { return strconv.Itoa(int(id)) }
