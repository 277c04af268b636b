//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amtenant/amtenant/explain"
)

// replicaSet is n Alertmanagers, each with its sidecar, electing a leader
// with the default lease (15 s) and replicating the delivery record to
// each other. Every replica lists every replica as a peer, itself
// included, as a StatefulSet's arguments do; the peer addresses go
// through proxies the test can cut.
type replicaSet struct {
	t    *testing.T
	s    *sink
	ams  []*alertmanager
	reps []*haSidecar
	// proxies[i][j] carries replica i's stream from replica j.
	proxies [][]*proxy
}

func newReplicaSet(t *testing.T, c *cluster, s *sink, lease string, n int) *replicaSet {
	rs := &replicaSet{t: t, s: s}
	listen := make([]string, n)
	for i := range n {
		listen[i] = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	}
	rs.proxies = make([][]*proxy, n)
	for i := range n {
		rs.proxies[i] = make([]*proxy, n)
		var peers []string
		for j := range n {
			rs.proxies[i][j] = newProxy(t, listen[j])
			peers = append(peers, "--replication.peer="+rs.proxies[i][j].addr)
		}
		am := startAlertmanager(t)
		rs.ams = append(rs.ams, am)
		h := &haSidecar{t: t, name: fmt.Sprintf("amtenant-%d", i), am: am, c: c, lease: lease, state: t.TempDir() + "/state.json",
			defaultLease: true, extra: append([]string{"--replication.listen-address=" + listen[i]}, peers...)}
		h.start()
		rs.reps = append(rs.reps, h)
	}
	return rs
}

// post sends alerts to every Alertmanager, as Prometheus does.
func (rs *replicaSet) post(alerts ...testAlert) {
	for _, am := range rs.ams {
		am.post(alerts...)
	}
}

// running returns the replicas whose process runs.
func (rs *replicaSet) running() []*haSidecar {
	var out []*haSidecar
	for _, h := range rs.reps {
		if !h.proc.Exited() {
			out = append(out, h)
		}
	}
	return out
}

// leader waits until exactly one running replica leads and every other
// running one holds a complete copy of its record.
func (rs *replicaSet) leader(within time.Duration) *haSidecar {
	rs.t.Helper()
	var leader *haSidecar
	eventually(rs.t, within, "one leader, its followers' copies complete", func() bool {
		leader = nil
		n := 0
		for _, h := range rs.running() {
			if h.metric("amtenant_leader") == 1 {
				leader = h
				n++
			} else if h.metric("amtenant_replication_synced") != 1 {
				return false
			}
		}
		return n == 1
	})
	return leader
}

// cut partitions replicas i and j: their streams from each other stop.
func (rs *replicaSet) cut(i, j int) {
	rs.proxies[i][j].cut()
	rs.proxies[j][i].cut()
}

func (rs *replicaSet) heal(i, j int) {
	rs.proxies[i][j].heal()
	rs.proxies[j][i].heal()
}

func (rs *replicaSet) index(h *haSidecar) int {
	for i, r := range rs.reps {
		if r == h {
			return i
		}
	}
	rs.t.Fatalf("%s is not in the set", h.name)
	return -1
}

// TestHAReplicatedFailover kills the leader (SIGKILL: no save, no Lease
// release) 0.5 s, 3 s and 20 s after it delivered, and counts what the
// new leader sends again. The takeover window (lease + poll interval) is
// 15.5 s: without the copy of the record, the first two would be sent
// twice.
func TestHAReplicatedFailover(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	s := newSink(t)
	c.namespace(t, "hr-a", nil)
	c.secret(t, channelSecret("hr-a", "hook", nil, nil, map[string]string{"type": "webhook", "url": s.url("/hr")}))
	rs := newReplicaSet(t, c, s, "ha-replicated", 2)
	start := time.Now().Add(-time.Minute)
	alert := func(name string) testAlert { return firing(start, "alertname", name, "namespace", "hr-a") }
	var want []string
	for round, after := range []time.Duration{500 * time.Millisecond, 3 * time.Second, 20 * time.Second} {
		leader := rs.leader(60 * time.Second)
		name := fmt.Sprintf("K%d", round)
		rs.post(alert(name))
		want = append(want, name+"/firing")
		eventually(t, 20*time.Second, name+" delivered", func() bool { return counts(s, "/hr")[name+"/firing"] >= 1 })
		delivered := time.Now()
		// The scenario's own timeline: the leader dies this long after it
		// delivered.
		time.Sleep(time.Until(delivered.Add(after)))
		leader.kill()
		killed := time.Now()
		next := rs.leader(60 * time.Second)
		t.Logf("round %d: SIGKILL %s after the delivery; %s took over %.1fs later", round, after, next.name, time.Since(killed).Seconds())
		// Something new after the takeover, delivered once, and a
		// resolution of the previous round's alert.
		fresh := fmt.Sprintf("N%d", round)
		rs.post(alert(fresh))
		want = append(want, fresh+"/firing")
		if round > 0 {
			prev := fmt.Sprintf("K%d", round-1)
			rs.post(resolvedAlert(start, "alertname", prev, "namespace", "hr-a"))
			want = append(want, prev+"/resolved")
		}
		eventually(t, 20*time.Second, fresh+" delivered by the new leader", func() bool { return counts(s, "/hr")[fresh+"/firing"] >= 1 })
		next.waitPolls(6)
		before := len(s.alertsAt("/hr"))
		d, l := exactlyOnce(t, s, "/hr", want...)
		t.Logf("SIGKILL %s after a delivery: duplicates %d, losses %d (%d notifications so far)", after, d, l, before)
		leader.start() // it comes back and follows
	}
	// The last restarted replica copies the leader's record too.
	rs.leader(60 * time.Second)
}

// TestHAReplicationPartition cuts the replication between leader and
// follower: the follower falls back to the takeover window, loses
// nothing, and copies the record again once healed.
func TestHAReplicationPartition(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	s := newSink(t)
	c.namespace(t, "hp-a", nil)
	c.secret(t, channelSecret("hp-a", "hook", nil, nil, map[string]string{"type": "webhook", "url": s.url("/hp")}))
	rs := newReplicaSet(t, c, s, "ha-partition", 2)
	start := time.Now().Add(-time.Minute)
	alert := func(name string) testAlert { return firing(start, "alertname", name, "namespace", "hp-a") }
	leader := rs.leader(60 * time.Second)
	follower := rs.reps[1-rs.index(leader)]

	// 1. Partition: the follower's copy ends; what the leader delivers
	// meanwhile is counted as the leader's by the window rule.
	rs.cut(0, 1)
	eventually(t, 20*time.Second, "the follower's copy ends", func() bool { return follower.metric("amtenant_replication_synced") == 0 })
	rs.post(alert("P1"))
	eventually(t, 20*time.Second, "P1 delivered", func() bool { return counts(s, "/hp")["P1/firing"] >= 1 })
	eventually(t, 60*time.Second, "the follower counts P1 by the window rule", func() bool {
		return follower.metric("amtenant_replication_fallbacks_total") >= 1
	})

	// 2. Healed: a new snapshot, records again.
	rs.heal(0, 1)
	eventually(t, 20*time.Second, "the follower's copy complete again", func() bool { return follower.metric("amtenant_replication_synced") == 1 })
	applied := follower.metric("amtenant_replication_records_applied_total")
	rs.post(alert("P2"))
	eventually(t, 20*time.Second, "P2 delivered and copied", func() bool {
		return counts(s, "/hp")["P2/firing"] >= 1 && follower.metric("amtenant_replication_records_applied_total") > applied
	})

	// explain on the follower says who leads and how fresh its copy is.
	resp, err := http.Get(follower.url + "/api/v1/explain?match=" + url.QueryEscape(`alertname="P2"`))
	if err != nil {
		t.Fatal(err)
	}
	var rep explain.Report
	err = json.NewDecoder(resp.Body).Decode(&rep)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if r := rep.Replica; r == nil || r.Leading || r.Leader != leader.name || r.Replication == nil || !r.Replication.Synced ||
		r.Replication.Leader != leader.name || r.At.Sub(r.Replication.LastMessage) > 3*time.Second {
		t.Errorf("explain on the follower: replica %+v, want following %s with a fresh complete copy", r, leader.name)
	}

	// 3. Partitioned again, and the leader dies right after delivering:
	// the follower had no copy of that delivery and no window passed, so
	// it sends it again (at least once), and loses nothing.
	rs.cut(0, 1)
	eventually(t, 20*time.Second, "the follower's copy ends", func() bool { return follower.metric("amtenant_replication_synced") == 0 })
	rs.post(alert("P3"))
	eventually(t, 20*time.Second, "P3 delivered", func() bool { return counts(s, "/hp")["P3/firing"] >= 1 })
	leader.kill()
	eventually(t, 60*time.Second, "the follower takes over", func() bool { return follower.metric("amtenant_leader") == 1 })
	rs.post(alert("P4"))
	eventually(t, 20*time.Second, "P4 delivered", func() bool { return counts(s, "/hp")["P4/firing"] >= 1 })
	follower.waitPolls(6)
	got := counts(s, "/hp")
	for _, k := range []string{"P1/firing", "P2/firing", "P4/firing"} {
		if got[k] != 1 {
			t.Errorf("%s arrived %d times, want once", k, got[k])
		}
	}
	if got["P3/firing"] < 1 {
		t.Error("P3 was lost")
	}
	t.Logf("partition: P1, P2 once each; P3 (delivered during a partition, leader killed within the window) %d times; losses 0", got["P3/firing"])
	if !strings.Contains(follower.proc.Log(), "takeover window") {
		t.Error("the follower's log does not say that it fell back to the takeover window")
	}
	// The mixin's replication selectors match what a replica exposes.
	checkSelectors(t, (&sidecar{url: follower.url}).metrics(t), func(metric string) bool { return strings.HasPrefix(metric, "amtenant_replication_") })
}

// TestHAThreeReplicas: the leader killed 3 s after a delivery, a new one
// elected among two followers, the third copying the new leader's record;
// then a SIGTERM handover. Nothing twice, nothing lost.
func TestHAThreeReplicas(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	s := newSink(t)
	c.namespace(t, "h3-a", nil)
	c.secret(t, channelSecret("h3-a", "hook", nil, nil, map[string]string{"type": "webhook", "url": s.url("/h3")}))
	rs := newReplicaSet(t, c, s, "ha-three", 3)
	start := time.Now().Add(-time.Minute)
	alert := func(name string) testAlert { return firing(start, "alertname", name, "namespace", "h3-a") }
	first := rs.leader(60 * time.Second)
	rs.post(alert("T1"), alert("T2"))
	eventually(t, 20*time.Second, "T1, T2 delivered", func() bool { return len(s.alertsAt("/h3")) >= 2 })
	time.Sleep(3 * time.Second) // the scenario: SIGKILL 3 s after the delivery
	first.kill()
	second := rs.leader(60 * time.Second)
	rs.post(alert("T3"))
	eventually(t, 20*time.Second, "T3 delivered", func() bool { return counts(s, "/h3")["T3/firing"] >= 1 })
	// Every follower copies the new leader's record.
	second = rs.leader(30 * time.Second)
	d1, l1 := exactlyOnce(t, s, "/h3", "T1/firing", "T2/firing", "T3/firing")

	// SIGTERM: the Lease is given up at once; the third takes over.
	second.proc.Stop()
	third := rs.leader(60 * time.Second)
	rs.post(alert("T4"), resolvedAlert(start, "alertname", "T1", "namespace", "h3-a"))
	eventually(t, 20*time.Second, "T4 and T1's resolution delivered", func() bool {
		got := counts(s, "/h3")
		return got["T4/firing"] >= 1 && got["T1/resolved"] >= 1
	})
	third.waitPolls(6)
	d2, l2 := exactlyOnce(t, s, "/h3", "T1/firing", "T2/firing", "T3/firing", "T4/firing", "T1/resolved")
	t.Logf("three replicas: SIGKILL 3 s after a delivery: duplicates %d, losses %d; then SIGTERM handover: duplicates %d, losses %d", d1, l1, d2-d1, l2-l1)
}

// proxy forwards TCP connections to a target until cut.
type proxy struct {
	t      testing.TB
	addr   string
	target string
	ln     net.Listener

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
}

func newProxy(t testing.TB, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		go p.forward(c)
	}
}

func (p *proxy) forward(c net.Conn) {
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[u] = struct{}{}, struct{}{}
	p.mu.Unlock()
	go func() { _, _ = io.Copy(u, c); u.Close() }()
	_, _ = io.Copy(c, u)
	c.Close()
}

// cut closes every connection and refuses new ones.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *proxy) heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}
