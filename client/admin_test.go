package client

import (
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// KIP-516 ids print as Kafka's tools print them: URL-safe base64 without
// padding.
func TestTopicIDPrintsLikeKafka(t *testing.T) {
	id := TopicID{0xfb, 0xff, 0xbf, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	if got, want := id.String(), "-_-_AAECAwQFBgcICQoLDA"; got != want {
		t.Errorf("String() = %s, want %s", got, want)
	}
	if id.IsZero() || !(TopicID{}).IsZero() {
		t.Error("IsZero is wrong")
	}
}

func TestConfigAltersSetThenDeleteInStableOrder(t *testing.T) {
	alters, err := configAlters(map[string]string{"b": "2", "a": "1"}, []string{"c"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range alters {
		s := a.Name
		if a.Op == kadm.SetConfig {
			s += "=" + *a.Value
		} else if a.Op == kadm.DeleteConfig {
			s = "-" + s
		}
		got = append(got, s)
	}
	if strings.Join(got, " ") != "a=1 b=2 -c" {
		t.Errorf("got %v", got)
	}
}

func TestConfigAltersRejectsNothingAndConflicts(t *testing.T) {
	for _, tc := range []struct {
		set    map[string]string
		remove []string
	}{
		{nil, nil},
		{map[string]string{"a": "1"}, []string{"a"}},
		{map[string]string{"": "1"}, nil},
		{nil, []string{""}},
	} {
		if _, err := configAlters(tc.set, tc.remove); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("set %v remove %v: err = %v, want ErrInvalidArgument", tc.set, tc.remove, err)
		}
	}
}

// Errors from the cluster keep their kerr value through the wrapping, and
// the broker's message is kept when it says more than the code.
func TestTopicErrKeepsKafkaError(t *testing.T) {
	err := topicErr("create topic", "t", kerr.InvalidConfig, "retention.ms must be a number")
	if !errors.Is(err, kerr.InvalidConfig) {
		t.Errorf("%v lost kerr.InvalidConfig", err)
	}
	for _, want := range []string{`create topic "t"`, "INVALID_CONFIG", "retention.ms must be a number"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	err = topicErr("delete topic", "t", kerr.UnknownTopicOrPartition, kerr.UnknownTopicOrPartition.Description)
	if strings.Count(err.Error(), kerr.UnknownTopicOrPartition.Description) != 1 {
		t.Errorf("message repeated: %q", err)
	}
}
