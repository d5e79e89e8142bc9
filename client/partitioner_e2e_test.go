package client_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/samsa-io/samsa/client"
	"github.com/samsa-io/samsa/client/samsatest"
)

func e2eKeys() []string {
	keys := []string{"a", "ab", "abc", "abcd", "abcde", "21", "foobar", "user-42", "ключ"}
	for i := range 30 {
		keys = append(keys, fmt.Sprintf("key-%d", i))
	}
	return keys
}

// readPartitions consumes n records of topic and returns key -> partition.
func readPartitions(t *testing.T, ctx context.Context, cl *client.Client, topic string, n int) map[string]int32 {
	t.Helper()
	cons, err := cl.NewConsumer(topic)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := map[string]int32{}
	for count := 0; count < n; {
		recs, err := cons.Poll(ctx)
		if err != nil {
			t.Fatalf("poll after %d records: %v", count, err)
		}
		for _, r := range recs {
			got[string(r.Key)] = r.Partition
			count++
		}
	}
	return got
}

// Records produced with the SDK land where PartitionForKey (checked against
// Java's murmur2 in partitioner_test.go) says, on a real node; and, when
// kcat is installed, librdkafka's murmur2_random partitioner agrees.
func TestKeyPartitioningEndToEnd(t *testing.T) {
	const parts = 12
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := samsatest.Start(t, samsatest.WithTopic("sdk", parts), samsatest.WithTopic("kcat", parts))
	cl, err := client.New(ctx, client.WithBootstrap(c.Bootstrap()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	keys := e2eKeys()
	p, err := cl.NewProducer()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if err := p.Produce(ctx, client.NewRecord("sdk", []byte(k), []byte("v"))); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for k, got := range readPartitions(t, ctx, cl, "sdk", len(keys)) {
		if want := client.PartitionForKey([]byte(k), parts); got != want {
			t.Errorf("SDK producer put key %q in partition %d, murmur2 says %d", k, got, want)
		}
	}

	t.Run("librdkafka", func(t *testing.T) {
		kcat, err := exec.LookPath("kcat")
		if err != nil {
			t.Skip("kcat is not on PATH; librdkafka's murmur2_random not cross-checked")
		}
		var in bytes.Buffer
		for _, k := range keys {
			fmt.Fprintf(&in, "%s\tv\n", k)
		}
		cmd := exec.CommandContext(ctx, kcat, "-P", "-b", c.Bootstrap(), "-t", "kcat", "-K", "\t",
			"-X", "partitioner=murmur2_random")
		cmd.Stdin = &in
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kcat: %v\n%s", err, out)
		}
		for k, got := range readPartitions(t, ctx, cl, "kcat", len(keys)) {
			if want := client.PartitionForKey([]byte(k), parts); got != want {
				t.Errorf("librdkafka put key %q in partition %d, the SDK would choose %d", k, got, want)
			}
		}
	})
}
