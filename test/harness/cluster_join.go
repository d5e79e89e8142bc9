package harness

// Growing a Cluster online: a node that joins the running controller
// quorum (controller.quorum.join) instead of bootstrapping, for the tests
// of samsa cluster add-controller / remove-controller.

import (
	"fmt"
	"strings"
)

// StartJoiningNode configures a new combined node (the next id), on fresh
// ports (in a namespace of its own in a cluster started
// WithNetworkIsolation) and a fresh data directory, that joins the running quorum: its
// controller.quorum.voters is the cluster's bootstrap list (without it)
// and controller.quorum.join is set. It starts the process and returns at
// once: the node serves only after it has been added to the quorum
// (samsa cluster add-controller); then call WaitServing.
func (c *Cluster) StartJoiningNode() *ClusterNode {
	c.t.Helper()
	var bootstrap []string
	for _, o := range c.nodes {
		bootstrap = append(bootstrap, fmt.Sprintf("%d@%s", o.id, o.raft))
	}
	nd := &ClusterNode{c: c, id: c.nodes[len(c.nodes)-1].id + 1, dir: c.t.TempDir()}
	var ports *portReserver
	if c.net != nil {
		if err := c.placeInNamespace(nd); err != nil {
			c.t.Fatal(err)
		}
	} else {
		ports = reservePorts(c.t)
		nd.kafka, nd.controller, nd.raft = ports.take(false), ports.take(false), ports.take(false)
		nd.gossip = ports.take(true)
	}
	c.nodes = append(c.nodes, nd)
	nd.writeConfig(nil)
	nd.settings["controller.quorum.voters"] = strings.Join(bootstrap, ",")
	nd.settings["controller.quorum.join"] = "true"
	nd.flushConfig()
	if ports != nil {
		ports.release()
	}
	nd.start(Binary(c.t))
	return nd
}

// RaftAddr is the node's Raft transport address.
func (nd *ClusterNode) RaftAddr() string { return nd.raft }

// Config returns one setting of the node's config file.
func (nd *ClusterNode) Config(key string) string { return nd.settings[key] }

// Launch starts the node's process again (after Kill or Stop) without
// waiting for it to serve: a voter of a quorum that is entirely down
// serves only once enough of the others run too.
func (nd *ClusterNode) Launch() {
	nd.c.t.Helper()
	if nd.Running() {
		nd.c.t.Fatalf("node %d launched while running", nd.id)
	}
	nd.start(Binary(nd.c.t))
}
