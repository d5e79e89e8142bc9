package broker

// Liveness is how a broker tells the cluster it has registered: gossip
// carries its incarnation id and broker epoch to the active controller,
// which then unfences it (see controller/liveness.go). With liveness set,
// Start returns only once the broker is unfenced; without it the
// controller registers brokers unfenced.
type Liveness interface {
	AnnounceRegistration(incarnation [16]byte, brokerEpoch int64) error
}

// SetLiveness sets, before Start, where the broker announces its
// registration.
func (b *Broker) SetLiveness(l Liveness) { b.cfg.Liveness = l }

// Incarnation is the broker's incarnation id: random, new with every
// process.
func (b *Broker) Incarnation() [16]byte { return b.incarnation }
