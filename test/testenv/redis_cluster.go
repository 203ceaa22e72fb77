package testenv

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RedisCluster is a real Redis Cluster of masters without replicas on
// loopback ports, made by redis-cli --cluster create, stopped when the test
// ends. Each node keeps its cluster config in its own directory, so a node
// stopped and started again rejoins with its slots (and no data).
type RedisCluster struct {
	tb    testing.TB
	cli   string
	Nodes []*Redis
}

// StartRedisCluster starts masters redis-server processes in cluster mode
// (RequireBinary for redis-server and redis-cli: under CI=true a missing one
// fails the test), joins them with redis-cli --cluster create and waits
// until every node says cluster_state:ok.
func StartRedisCluster(tb testing.TB, masters int) *RedisCluster {
	tb.Helper()
	c := &RedisCluster{tb: tb, cli: RequireBinary(tb, "redis-cli")}
	bin := RequireBinary(tb, "redis-server")
	create := []string{"--cluster", "create"}
	for range masters {
		n := &Redis{tb: tb, bin: bin, Port: FreePort(tb), dir: tb.TempDir()}
		// The bus port is chosen too: port+10000 may be taken or too high.
		// A node missing for a second is marked failed.
		n.args = []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(FreePort(tb)), "--cluster-node-timeout", "1000"}
		n.Start()
		tb.Cleanup(n.Stop)
		c.Nodes = append(c.Nodes, n)
		create = append(create, n.Addr())
	}
	c.run(append(create, "--cluster-replicas", "0", "--cluster-yes")...)
	c.WaitOK(30 * time.Second)
	return c
}

// URL is the cluster URL the auth server takes with --redis-cluster: the
// first node, and the others as addr parameters.
func (c *RedisCluster) URL() string {
	u := "redis://" + c.Nodes[0].Addr()
	for i, n := range c.Nodes[1:] {
		if i == 0 {
			u += "?"
		} else {
			u += "&"
		}
		u += "addr=" + n.Addr()
	}
	return u
}

// Addrs are the nodes' host:port.
func (c *RedisCluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr()
	}
	return out
}

// WaitOK waits until every node answers and says cluster_state:ok.
func (c *RedisCluster) WaitOK(timeout time.Duration) {
	c.tb.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		ok := true
		for _, n := range c.Nodes {
			out, err := c.cliOn(n, "cluster", "info")
			ok = ok && err == nil && strings.Contains(out, "cluster_state:ok")
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("the Redis Cluster did not reach cluster_state:ok in %s", timeout)
		}
	}
}

// WaitFail waits until a live node says cluster_state:fail (after a master
// was stopped: its slots are uncovered).
func (c *RedisCluster) WaitFail(live *Redis, timeout time.Duration) {
	c.tb.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		if out, err := c.cliOn(live, "cluster", "info"); err == nil && strings.Contains(out, "cluster_state:fail") {
			return
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("node %s did not say cluster_state:fail in %s", live.Addr(), timeout)
		}
	}
}

// KeySlot is CLUSTER KEYSLOT of key, as Redis computes it.
func (c *RedisCluster) KeySlot(key string) int {
	c.tb.Helper()
	out := c.mustCLI(c.Nodes[0], "cluster", "keyslot", key)
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		c.tb.Fatalf("CLUSTER KEYSLOT %q: %q", key, out)
	}
	return n
}

// Owner is the node that serves slot.
func (c *RedisCluster) Owner(slot int) *Redis {
	c.tb.Helper()
	id := c.nodeID(slot)
	for _, n := range c.Nodes {
		if strings.TrimSpace(c.mustCLI(n, "cluster", "myid")) == id {
			return n
		}
	}
	c.tb.Fatalf("no node serves slot %d", slot)
	return nil
}

// nodeID is the ID of the node that serves slot, from CLUSTER NODES.
func (c *RedisCluster) nodeID(slot int) string {
	for line := range strings.SplitSeq(c.mustCLI(c.Nodes[0], "cluster", "nodes"), "\n") {
		f := strings.Fields(line)
		for _, r := range f[min(len(f), 8):] {
			lo, hi, _ := strings.Cut(r, "-")
			if hi == "" {
				hi = lo
			}
			a, errA := strconv.Atoi(lo)
			b, errB := strconv.Atoi(hi)
			if errA == nil && errB == nil && a <= slot && slot <= b {
				return f[0]
			}
		}
	}
	return ""
}

// MoveSlot migrates slot, with its keys, to node to, the way redis-cli
// --cluster reshard moves one slot: MigrateSlot, then SETSLOT NODE on
// every master. Clients that knew the old owner then get MOVED.
func (c *RedisCluster) MoveSlot(slot int, to *Redis) {
	c.tb.Helper()
	if c.MigrateSlot(slot, to) {
		toID := strings.TrimSpace(c.mustCLI(to, "cluster", "myid"))
		for _, n := range c.Nodes {
			c.mustCLI(n, "cluster", "setslot", strconv.Itoa(slot), "node", toID)
		}
	}
}

// MigrateSlot starts moving slot to node to and moves its keys there
// (IMPORTING, MIGRATING, MIGRATE), leaving the slot mid-migration: its
// owner answers ASK for every key of the slot, which is now on to. It
// returns false when to already owns the slot.
func (c *RedisCluster) MigrateSlot(slot int, to *Redis) bool {
	c.tb.Helper()
	from := c.Owner(slot)
	if from == to {
		return false
	}
	s := strconv.Itoa(slot)
	fromID := strings.TrimSpace(c.mustCLI(from, "cluster", "myid"))
	toID := strings.TrimSpace(c.mustCLI(to, "cluster", "myid"))
	c.mustCLI(to, "cluster", "setslot", s, "importing", fromID)
	c.mustCLI(from, "cluster", "setslot", s, "migrating", toID)
	for {
		keys := strings.Fields(c.mustCLI(from, "cluster", "getkeysinslot", s, "100"))
		if len(keys) == 0 {
			return true
		}
		c.mustCLI(from, append([]string{"migrate", "127.0.0.1", strconv.Itoa(to.Port), "", "0", "5000", "keys"}, keys...)...)
	}
}

func (c *RedisCluster) cliOn(n *Redis, args ...string) (string, error) {
	out, err := exec.Command(c.cli, append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(n.Port)}, args...)...).CombinedOutput()
	return string(out), err
}

func (c *RedisCluster) mustCLI(n *Redis, args ...string) string {
	c.tb.Helper()
	out, err := c.cliOn(n, args...)
	if err != nil || strings.HasPrefix(out, "ERR") || strings.HasPrefix(out, "(error)") {
		c.tb.Fatalf("redis-cli -p %d %s: %v\n%s", n.Port, strings.Join(args, " "), err, out)
	}
	return out
}

func (c *RedisCluster) run(args ...string) {
	c.tb.Helper()
	if out, err := exec.Command(c.cli, args...).CombinedOutput(); err != nil {
		c.tb.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}
