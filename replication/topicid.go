package replication

import (
	"bufio"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
)

// storedTopicIDDiffers reports whether dir holds a partition.metadata file
// naming a topic id other than want. It is false when the file is missing or
// unreadable, so that only a clear mismatch leads to removal.
func storedTopicIDDiffers(dir string, want [16]byte) bool {
	f, err := os.Open(filepath.Join(dir, "partition.metadata"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "topic_id:")
		if !ok {
			continue
		}
		id, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(v))
		return err == nil && len(id) == 16 && [16]byte(id) != want
	}
	return false
}
