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
// Start order: controller (Raft replay rebuilds the image, which opens the
// partitions), then broker (registers, then serves). Shutdown order is the
// reverse: the broker stops accepting, answers in-flight requests and syncs
// its logs, then the controller closes Raft.
package node
