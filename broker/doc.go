// Package broker serves Kafka clients: one file per Kafka API handler
// (api_NN_name.go, NN the API key), the broker's view of cluster metadata (the
// latest image published by the controller quorum), forwarding of admin
// requests to the active controller, and the wiring of partitions to package
// replication.
//
// The broker never decides cluster metadata itself: topic creation and
// deletion, partition counts, configs and producer-id blocks are requests to
// the controller listener, and the broker acts on them only once they appear
// in a published image. Handlers are registered with their version ranges in
// registerHandlers, and ApiVersions is built from those registrations.
//
// # Concurrency contract
//
// Handlers run on the connection's dispatcher goroutine in arrival order (see
// package protocol). A handler does only non-blocking work there — for
// Produce, validating and appending, so one producer's batches keep their
// order — and returns protocol.Later for anything that waits: fsync, the
// high watermark, a delayed fetch, a controller round trip. The current
// metadata image is an atomic pointer; PublishImage is called by the
// controller's single publisher goroutine, so images apply in order.
package broker
