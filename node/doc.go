// Package node assembles one Samsa process from its roles: the controller
// (Raft quorum member and controller listener) and the broker (Kafka
// listener and partitions). It exists so that the samsa command, the test
// harnesses and the SDK's embeddable cluster all start a node through the
// same code: there is no dev-only path.
//
// In a combined node the broker shares the controller's metadata images
// directly (the controller's publisher calls Broker.PublishImage), and talks
// to the controller listener over TCP for everything else, exactly as a
// separate broker would.
//
// A broker-only node (no controller role) runs its controller as a Raft
// non-voter that follows the metadata log (controller.Config.Observer) and
// publishes its images to the broker the same way; it has no controller
// listener, does not wait for a quorum before the broker starts (the
// broker's registration is what makes the active controller add it to the
// quorum), and forwards to the voters' controller listeners.
//
// Every node gossips (package gossip) when Config.Gossip is set: the
// controller reads the member table to fence and unfence brokers, and the
// broker announces its registration through it.
//
// Start order: broker created (its incarnation id is known), gossip,
// controller (Raft replay rebuilds the image, which opens the partitions;
// with several voters it waits for a quorum), then broker (registers,
// announces the registration, waits to be unfenced, then serves). Shutdown
// order is the reverse: the node leaves gossip (the active controller
// fences its broker at once), the broker stops accepting, answers
// in-flight requests and syncs its logs, the controller closes Raft, and
// gossip shuts down.
package node
