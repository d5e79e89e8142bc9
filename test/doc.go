// Package test holds Samsa's integration tests: real nodes started by
// test/harness (in-process, or samsa processes that can be killed), real
// Kafka clients (franz-go, sarama, kafka-go, kcat, confluent-kafka-python),
// crash, restart, cluster-failover and bad-input tests. It has no code of
// its own outside tests; benchmarks against nodes live in test/bench.
package test
