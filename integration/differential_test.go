//go:build integration

package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// The differential suite: a real Alertmanager routes each scenario's alerts
// to a webhook receiver, and the sidecar polling that Alertmanager delivers
// them to an equivalent channel (same grouping, group wait, group interval,
// repeat interval). Both get the same alert timeline; what each receiver
// got is compared message by message. Alertmanager is the oracle: where
// the sidecar deliberately differs, the scenario says so and why.
//
// Timelines are laid out on Alertmanager's flush grid: a group flushes at
// its first alert + group wait, then every group interval. Every event is
// posted half an interval away from a flush, so that the sidecar, which
// sees Alertmanager's alerts up to a poll later, sees it on the same side
// of the flush as Alertmanager does.

const (
	diffGroupWait     = time.Second
	diffGroupInterval = 3 * time.Second
	diffPoll          = 200 * time.Millisecond
)

// flush is the offset from a scenario's start of its group's k-th flush
// (k = 0: the first, at the group wait).
func flush(k int) time.Duration { return diffGroupWait + time.Duration(k)*diffGroupInterval }

// mid lies half an interval after the k-th flush.
func mid(k int) time.Duration { return flush(k) + diffGroupInterval/2 }

// early and late lie within the k-th interval, more than a group wait
// apart, and well before the next flush: without the group interval, each
// would be a message of its own.
func early(k int) time.Duration { return flush(k) + 400*time.Millisecond }
func late(k int) time.Duration  { return flush(k) + 1600*time.Millisecond }

type diffScenario struct {
	name   string
	repeat time.Duration // zero: 1h
	// run posts the timeline; it returns once the last event is posted.
	run func(c *diffCase)
	// messages is how many messages Alertmanager sends for the timeline.
	messages int
	// differs, if set, is the sidecar's expected messages where it
	// deliberately differs from Alertmanager, and why.
	differs *diffExpect
	// tries, if set, compares the receivers' request counts (failures
	// included) too.
	tries bool
	// reasons are the sidecar's notification reasons, message by message
	// (Alertmanager v0.31's webhook does not send them; the unit tests
	// check the decision against its v0.34 dedup stage).
	reasons []string
}

type diffExpect struct {
	messages []string
	why      string
}

// diffCase is one scenario running against both.
type diffCase struct {
	t     *testing.T
	name  string
	am    *alertmanager
	sink  *sink
	start time.Time
}

func (c *diffCase) amPath() string      { return "/am/" + c.name }
func (c *diffCase) sidecarPath() string { return "/sidecar/" + c.name }

// at sleeps until offset d after the scenario's start: the timeline is
// wall-clock time because Alertmanager's is.
func (c *diffCase) at(d time.Duration) { time.Sleep(time.Until(c.start.Add(d))) }

// fire posts instance i of the scenario as firing since startsAt.
func (c *diffCase) fire(startsAt time.Time, instances ...int) {
	var as []testAlert
	for _, i := range instances {
		as = append(as, firing(startsAt, "alertname", c.name, "instance", fmt.Sprint(i)))
	}
	c.am.post(as...)
}

func (c *diffCase) resolve(startsAt time.Time, instances ...int) {
	var as []testAlert
	for _, i := range instances {
		as = append(as, resolvedAlert(startsAt, "alertname", c.name, "instance", fmt.Sprint(i)))
	}
	c.am.post(as...)
}

// silence silences instance i of the scenario; the returned function
// expires it.
func (c *diffCase) silence(i int) func() {
	body, _ := json.Marshal(map[string]any{
		"matchers": []map[string]any{
			{"name": "alertname", "value": c.name, "isRegex": false, "isEqual": true},
			{"name": "instance", "value": fmt.Sprint(i), "isRegex": false, "isEqual": true},
		},
		"startsAt": time.Now().Add(-time.Second), "endsAt": time.Now().Add(time.Hour),
		"createdBy": "differential", "comment": c.name,
	})
	resp, err := http.Post(c.am.url+"/api/v2/silences", "application/json", bytes.NewReader(body))
	if err != nil {
		c.t.Error(err)
		return func() {}
	}
	defer resp.Body.Close()
	var out struct {
		SilenceID string `json:"silenceID"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.SilenceID == "" {
		c.t.Errorf("create silence: %s %v", resp.Status, err)
	}
	return func() { c.am.expireSilence(out.SilenceID) }
}

// summary renders a message as its status and its alerts in order
// (instance/status), e.g. "firing[1/firing 2/resolved]".
func summary(n notification) string {
	var as []string
	for _, a := range n.Alerts {
		as = append(as, a.Labels["instance"]+"/"+a.Status)
	}
	return n.Status + "[" + strings.Join(as, " ") + "]"
}

func summaries(ns []notification) []string {
	out := []string{}
	for _, n := range ns {
		out = append(out, summary(n))
	}
	return out
}

func diffScenarios() []diffScenario {
	return []diffScenario{
		{
			// A deployment crash-looping pod by pod: one message per group
			// interval, each listing the whole group.
			name: "trickle", messages: 3,
			run: func(c *diffCase) {
				c.fire(c.start, 1)
				c.at(200 * time.Millisecond)
				c.fire(c.start, 1, 2)
				for k, is := range [][]int{{3, 4}, {5, 6}} {
					c.at(early(k))
					c.fire(time.Now(), is[0])
					c.at(late(k))
					c.fire(time.Now(), is[1])
				}
			},
			reasons: []string{"first notification", "new alerts added", "new alerts added"},
		},
		{
			// A node draining: resolutions trickle in.
			name: "resolutions", messages: 4,
			run: func(c *diffCase) {
				c.fire(c.start, 1, 2, 3, 4)
				c.at(early(0))
				c.resolve(c.start, 1)
				c.at(late(0))
				c.resolve(c.start, 2)
				c.at(mid(1))
				c.resolve(c.start, 3)
				c.at(mid(2))
				c.resolve(c.start, 4)
			},
			reasons: []string{"first notification", "some alerts resolved", "some alerts resolved", "all alerts resolved"},
		},
		{
			// Resolved and firing again between two flushes, twice: still
			// one alert firing; then it resolves for good.
			name: "flapping", messages: 2,
			run: func(c *diffCase) {
				c.fire(c.start, 1)
				for k := range 2 {
					c.at(mid(k) - 500*time.Millisecond)
					c.resolve(c.start, 1)
					c.at(mid(k) + 500*time.Millisecond)
					c.fire(time.Now(), 1)
				}
				c.at(mid(2))
				c.resolve(c.start, 1)
			},
			reasons: []string{"first notification", "all alerts resolved"},
		},
		{
			// A silence on one alert of a group that is notified meanwhile
			// (a new alert joins), then ends: the alert is notified again.
			name: "silence-ends", messages: 3,
			run: func(c *diffCase) {
				c.fire(c.start, 1, 2)
				c.at(mid(0))
				expire := c.silence(1)
				c.at(mid(1))
				c.fire(time.Now(), 3)
				c.at(mid(2))
				expire()
			},
			reasons: []string{"first notification", "new alerts added", "new alerts added"},
		},
		{
			// A silence on the only alert of a group, ending before anything
			// else happened to the group.
			name: "silence-ends-quiet", messages: 1,
			run: func(c *diffCase) {
				c.fire(c.start, 1)
				c.at(mid(0))
				expire := c.silence(1)
				c.at(mid(1))
				expire()
			},
			differs: &diffExpect{
				messages: []string{"firing[1/firing]", "firing[1/firing]"},
				why: "Alertmanager's notification log still lists the silenced alert as told, so it says nothing when the silence ends " +
					"(unless the group was notified during the silence); the sidecar tells a team about an alert it was kept from hearing about, " +
					"as the design requires (an alert that becomes active again is notified)",
			},
			reasons: []string{"first notification", "first notification"},
		},
		{
			// An unchanged group, again after the repeat interval, at the
			// first flush after it.
			name: "repeat", repeat: 10500 * time.Millisecond, messages: 2,
			run:     func(c *diffCase) { c.fire(c.start, 1) },
			reasons: []string{"first notification", "repeat interval elapsed"},
		},
		{
			// A receiver that refuses (404) twice, then works: tried again
			// at each group interval, delivered at the third.
			name: "refused-then-works", messages: 1, tries: true,
			run: func(c *diffCase) {
				c.sink.failPath(c.amPath(), http.StatusNotFound, 2)
				c.sink.failPath(c.sidecarPath(), http.StatusNotFound, 2)
				c.fire(c.start, 1)
			},
			reasons: []string{"first notification"},
		},
		{
			// A receiver failing with 500 for a while: retried with backoff
			// (timings differ: Alertmanager starts at 0.5 s, the sidecar at
			// 1 s), then the group goes on.
			name: "server-errors", messages: 2,
			run: func(c *diffCase) {
				c.sink.failPath(c.amPath(), http.StatusInternalServerError, 3)
				c.sink.failPath(c.sidecarPath(), http.StatusInternalServerError, 3)
				c.fire(c.start, 1, 2)
				c.at(mid(0))
				c.fire(time.Now(), 3)
			},
			reasons: []string{"first notification", "new alerts added"},
		},
	}
}

// diffConfig is Alertmanager's configuration for the scenarios; fixed
// names the path the "secret-fixed" scenario's receiver uses.
func diffConfig(s *sink, scenarios []diffScenario, fixed string) string {
	var routes, receivers strings.Builder
	add := func(name, path string, repeat time.Duration) {
		if repeat == 0 {
			repeat = time.Hour
		}
		fmt.Fprintf(&routes, "  - matchers: ['alertname=%q']\n    receiver: %s\n    repeat_interval: %s\n", name, name, model.Duration(repeat))
		fmt.Fprintf(&receivers, "- name: %s\n  webhook_configs:\n  - url: %s\n    send_resolved: true\n", name, s.url(path))
	}
	for _, sc := range scenarios {
		add(sc.name, "/am/"+sc.name, sc.repeat)
	}
	add("secret-fixed", fixed, 0)
	return fmt.Sprintf(`route:
  receiver: default
  group_by: [alertname]
  group_wait: %s
  group_interval: %s
  repeat_interval: 1h
  routes:
%sreceivers:
- name: default
%s`, model.Duration(diffGroupWait), model.Duration(diffGroupInterval), routes.String(), receivers.String())
}

// diffChannel is the sidecar's channel equivalent to a scenario's route.
func diffChannel(s *sink, name, path string, repeat time.Duration) string {
	if repeat == 0 {
		repeat = time.Hour
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: %s
  namespace: monitoring
  labels:
    amtenant.io/channel: ""
    amtenant.io/scope: all
  annotations:
    amtenant.io/match: alertname=%q
    amtenant.io/group-wait: %s
    amtenant.io/group-interval: %s
    amtenant.io/repeat-interval: %s
stringData:
  type: webhook
  url: %s
`, name, name, model.Duration(diffGroupWait), model.Duration(diffGroupInterval), model.Duration(repeat), s.url(path))
}

func TestDifferentialAgainstAlertmanager(t *testing.T) {
	s := newSink(t)
	scenarios := diffScenarios()
	am := startAlertmanagerWith(t, diffConfig(s, scenarios, "/am/secret-fixed-wrong"))
	dir := t.TempDir()
	for _, sc := range scenarios {
		writeObjects(t, dir, sc.name+".yaml", diffChannel(s, sc.name, "/sidecar/"+sc.name, sc.repeat))
	}
	writeObjects(t, dir, "secret-fixed.yaml", diffChannel(s, "secret-fixed", "/sidecar/secret-fixed-wrong", 0))
	sc := startSidecar(t, am, dir,
		fmt.Sprintf("--poll.interval=%s", diffPoll),
		// Alertmanager hides a resolved alert at once; so does the sidecar.
		"--notify.resolve-grace=0s",
		"--alertmanager.restart-grace=0s",
		"--log.level=info",
	)
	// One group interval of polls and a margin: the receivers have had
	// every flush that was due.
	quiet := func() { sc.waitPolls(t, int((diffGroupInterval+time.Second)/diffPoll)) }

	// The scenarios run side by side, each its own group and receivers.
	var wg sync.WaitGroup
	for _, scn := range scenarios {
		wg.Go(func() {
			c := &diffCase{t: t, name: scn.name, am: am, sink: s, start: time.Now()}
			scn.run(c)
		})
	}
	wg.Wait()
	// Alertmanager has sent what it sends, the sidecar has caught up. A
	// scenario that never gets there is reported by the comparison below.
	deadline := time.Now().Add(40 * time.Second)
	for _, scn := range scenarios {
		want := scn.messages
		if scn.differs != nil {
			want = len(scn.differs.messages)
		}
		for time.Now().Before(deadline) && (len(s.at("/am/"+scn.name)) < scn.messages || len(s.at("/sidecar/"+scn.name)) < want) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	quiet()

	for _, scn := range scenarios {
		t.Run(scn.name, func(t *testing.T) {
			amGot, scGot := s.at("/am/"+scn.name), s.at("/sidecar/"+scn.name)
			amMsgs, scMsgs := summaries(amGot), summaries(scGot)
			t.Logf("Alertmanager: %d messages %v; sidecar: %d messages %v", len(amMsgs), amMsgs, len(scMsgs), scMsgs)
			if len(amMsgs) != scn.messages {
				t.Errorf("Alertmanager sent %d messages, the scenario expects %d: the timeline is not what it claims", len(amMsgs), scn.messages)
			}
			if scn.differs != nil {
				if !slices.Equal(scMsgs, scn.differs.messages) {
					t.Errorf("sidecar: %v, want %v (a deliberate difference: %s)", scMsgs, scn.differs.messages, scn.differs.why)
				}
				t.Logf("deliberate difference: %s", scn.differs.why)
			} else if !slices.Equal(scMsgs, amMsgs) {
				t.Errorf("messages differ:\n  Alertmanager %v\n  sidecar      %v", amMsgs, scMsgs)
			}
			var reasons []string
			for _, n := range scGot {
				reasons = append(reasons, n.Reason)
			}
			if !slices.Equal(reasons, scn.reasons) {
				t.Errorf("sidecar's notification reasons: %q, want %q", reasons, scn.reasons)
			}
			if scn.tries {
				if a, b := s.triesAt("/am/"+scn.name), s.triesAt("/sidecar/"+scn.name); a != b {
					t.Errorf("requests, failed ones included: Alertmanager %d, sidecar %d", a, b)
				}
			}
		})
	}

	// Last, alone (Alertmanager's reload rebuilds every group): a receiver
	// whose URL is wrong, fixed while its alert fires. Alertmanager's fix is
	// a reload of its configuration, the sidecar's an edit of the Secret;
	// both deliver at once what never got through.
	t.Run("secret-fixed", func(t *testing.T) {
		s.failPath("/am/secret-fixed-wrong", http.StatusNotFound, -1)
		s.failPath("/sidecar/secret-fixed-wrong", http.StatusNotFound, -1)
		c := &diffCase{t: t, name: "secret-fixed", am: am, sink: s, start: time.Now()}
		c.fire(c.start, 1)
		eventually(t, 30*time.Second, "two refused attempts on each side", func() bool {
			return s.triesAt("/am/secret-fixed-wrong") >= 2 && s.triesAt("/sidecar/secret-fixed-wrong") >= 2
		})
		am.reload(diffConfig(s, scenarios, "/am/secret-fixed"))
		writeObjects(t, dir, "secret-fixed.yaml", diffChannel(s, "secret-fixed", "/sidecar/secret-fixed", 0))
		eventually(t, 30*time.Second, "a message on each side", func() bool {
			return len(s.at("/am/secret-fixed")) >= 1 && len(s.at("/sidecar/secret-fixed")) >= 1
		})
		quiet()
		amMsgs, scMsgs := summaries(s.at("/am/secret-fixed")), summaries(s.at("/sidecar/secret-fixed"))
		t.Logf("Alertmanager: %v; sidecar: %v", amMsgs, scMsgs)
		if want := []string{"firing[1/firing]"}; !slices.Equal(amMsgs, want) || !slices.Equal(scMsgs, amMsgs) {
			t.Errorf("after the fix: Alertmanager %v, sidecar %v, want both %v", amMsgs, scMsgs, want)
		}
	})
}
