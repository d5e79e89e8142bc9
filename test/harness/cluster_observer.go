package harness

// Broker-only nodes (roles: broker) in a Cluster: a node that follows the
// metadata log as a Raft non-voter (an observer) instead of being a voter,
// for the tests of broker-only nodes.

import (
	"path/filepath"
	"strconv"
	"strings"
)

// StartBrokerOnlyNode configures a new broker-only node (the next id), on
// fresh ports (in a namespace of its own in a cluster started
// WithNetworkIsolation) and a fresh data directory, starts it and waits
// until it serves: no operator action is needed, its registration makes
// it a non-voter of the quorum. It has a Raft transport (the leader
// replicates the metadata log to it) but no controller listener
// (ControllerAddr is ""). extra adds settings, as key, value pairs.
//
// Its config names the cluster's voters at the time of the call, so start
// broker-only nodes after any StartJoiningNode: a node configured later
// would take it for a voter.
func (c *Cluster) StartBrokerOnlyNode(extra ...string) *ClusterNode {
	c.t.Helper()
	if len(extra)%2 != 0 {
		c.t.Fatalf("StartBrokerOnlyNode: odd number of key, value arguments: %q", extra)
	}
	nd := &ClusterNode{c: c, id: c.nodes[len(c.nodes)-1].id + 1, dir: c.t.TempDir()}
	var ports *portReserver
	if c.net != nil {
		if err := c.placeInNamespace(nd); err != nil {
			c.t.Fatal(err)
		}
	} else {
		ports = reservePorts(c.t)
		nd.kafka, nd.raft, nd.gossip = ports.take(false), ports.take(false), ports.take(true)
	}
	nd.controller = ""
	var ctrls, seeds []string
	for _, o := range c.nodes {
		if o.controller != "" {
			ctrls = append(ctrls, o.controller)
		}
		seeds = append(seeds, o.gossip)
	}
	c.nodes = append(c.nodes, nd)
	nd.settings = map[string]string{
		"node.id":                             strconv.Itoa(int(nd.id)),
		"roles":                               "broker",
		"data.dir":                            filepath.Join(nd.dir, "data"),
		"listeners":                           nd.kafka,
		"raft.listener":                       nd.raft,
		"controller.quorum.bootstrap.servers": strings.Join(ctrls, ","),
		"cluster.id":                          c.id,
		"gossip.listener":                     nd.gossip,
		"gossip.seeds":                        strings.Join(seeds, ","),
		"log.format":                          "json",
		"log.level":                           "info",
	}
	for i := 0; i < len(extra); i += 2 {
		nd.settings[extra[i]] = extra[i+1]
	}
	nd.flushConfig()
	if ports != nil {
		ports.release()
	}
	nd.start(Binary(c.t))
	nd.WaitServing()
	return nd
}

// BrokerOnly reports whether the node is a broker-only node.
func (nd *ClusterNode) BrokerOnly() bool { return nd.settings["roles"] == "broker" }
