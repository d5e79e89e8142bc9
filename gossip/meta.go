package gossip

import (
	"encoding/json"
	"fmt"
)

// metaVersion is the version of the encoded member metadata. A decoder
// reads every version up to its own and ignores fields it does not know.
const metaVersion = 1

// Meta is what a node tells the cluster about itself.
type Meta struct {
	NodeID int32
	Roles  []string
	// Incarnation is the broker's incarnation id (zero without a broker):
	// a new one on every start of the process.
	Incarnation [16]byte
	// BrokerEpoch is the epoch of the broker's registration, set once the
	// broker sees its registration in its own metadata image (it has
	// followed the metadata log at least that far); 0 before.
	BrokerEpoch int64
	// Endpoints, host:port, empty when the node has no such listener (yet).
	Kafka      string
	Controller string
	Raft       string
}

// wireMeta is the JSON form; short keys keep it well under memberlist's
// 512-byte limit.
type wireMeta struct {
	V           int      `json:"v"`
	ID          int32    `json:"id"`
	Roles       []string `json:"roles,omitempty"`
	Incarnation []byte   `json:"inc,omitempty"`
	BrokerEpoch int64    `json:"epoch,omitempty"`
	Kafka       string   `json:"kafka,omitempty"`
	Controller  string   `json:"ctrl,omitempty"`
	Raft        string   `json:"raft,omitempty"`
}

func encodeMeta(m Meta, limit int) ([]byte, error) {
	w := wireMeta{V: metaVersion, ID: m.NodeID, Roles: m.Roles, BrokerEpoch: m.BrokerEpoch,
		Kafka: m.Kafka, Controller: m.Controller, Raft: m.Raft}
	if m.Incarnation != ([16]byte{}) {
		w.Incarnation = m.Incarnation[:]
	}
	b, err := json.Marshal(w)
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, fmt.Errorf("gossip: node metadata is %d bytes, over memberlist's limit of %d (shorten the advertised host names)", len(b), limit)
	}
	return b, nil
}

func decodeMeta(b []byte) (Meta, error) {
	var w wireMeta
	if err := json.Unmarshal(b, &w); err != nil {
		return Meta{}, fmt.Errorf("gossip: decoding node metadata: %w", err)
	}
	if w.V < 1 {
		return Meta{}, fmt.Errorf("gossip: node metadata version %d", w.V)
	}
	if len(w.Incarnation) != 0 && len(w.Incarnation) != 16 {
		return Meta{}, fmt.Errorf("gossip: incarnation id of %d bytes", len(w.Incarnation))
	}
	m := Meta{NodeID: w.ID, Roles: w.Roles, BrokerEpoch: w.BrokerEpoch, Kafka: w.Kafka, Controller: w.Controller, Raft: w.Raft}
	copy(m.Incarnation[:], w.Incarnation)
	return m, nil
}
