package metadata

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// MaxTopicNameLength is Kafka's limit on a topic name's length.
const MaxTopicNameLength = 249

// ValidateTopicName applies Kafka's rules: 1 to 249 characters from
// [a-zA-Z0-9._-], and neither "." nor "..". The error wraps
// kerr.InvalidTopicException and its message is meant for the client.
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return kafkaErrorf(kerr.InvalidTopicException, "topic name is empty")
	case name == "." || name == "..":
		return kafkaErrorf(kerr.InvalidTopicException, "topic name cannot be %q", name)
	case len(name) > MaxTopicNameLength:
		return kafkaErrorf(kerr.InvalidTopicException,
			"topic name is %d characters long, longer than the maximum of %d", len(name), MaxTopicNameLength)
	}
	for i := 0; i < len(name); i++ {
		if !legalTopicByte(name[i]) {
			return kafkaErrorf(kerr.InvalidTopicException,
				"topic name %q contains an illegal character %q: only ASCII letters, digits, '.', '_' and '-' are allowed",
				name, name[i])
		}
	}
	return nil
}

func legalTopicByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}

// TopicCollisionName is the name under which two topics collide in Kafka's
// metric names: '.' and '_' are the same. Creating a topic whose collision
// name equals an existing topic's is refused, as Kafka does.
func TopicCollisionName(name string) string { return strings.ReplaceAll(name, ".", "_") }
