package broker

import (
	"testing"

	"github.com/samsa-io/samsa/metadata"
)

// TestThrottledFollowerOnlyAddingOutOfISR: only a replica a reassignment
// is adding, and only until it is in the ISR, is throttled (Kafka never
// throttles an in-sync replica); one the image does not know yet counts
// as adding.
func TestThrottledFollowerOnlyAddingOutOfISR(t *testing.T) {
	p := metadata.Partition{Replicas: []int32{3, 1, 2}, ISR: []int32{1, 2}, AddingReplicas: []int32{3}, RemovingReplicas: []int32{2}}
	for replica, want := range map[int32]bool{1: false, 2: false, 3: true, 4: true} {
		if got := isCatchingUp(p, replica); got != want {
			t.Errorf("replica %d: throttled = %v, want %v", replica, got, want)
		}
	}
	p.ISR = []int32{1, 2, 3}
	if isCatchingUp(p, 3) {
		t.Error("an adding replica in the ISR is throttled")
	}
}
