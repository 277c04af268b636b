//go:build integration

package integration

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/amtenant/amtenant/internal/testutil"
)

// Fair sharing on the real API server, as the manifests' ServiceAccount:
// a tenant's channels beyond its limit are refused (the newest, with a
// Warning Event) while another tenant is untouched; a channel past its
// group limit delivers every alert in a bounded number of messages; an
// admin override slows one tenant's channel to two notifications a
// minute, which defers and merges its groups and loses nothing. It runs
// in parallel with the local-mode tests, after the serial Kubernetes ones,
// to overlap its wait for the rate limit's next token.
func TestKubeLimits(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	am := startAlertmanager(t)
	s := newSink(t)
	c.namespace(t, "k5-mon", nil)
	c.namespace(t, "k5-a", nil)
	c.namespace(t, "k5-b", nil)
	c.namespace(t, "k5-c", nil)
	hook := func(path string) map[string]string {
		return map[string]string{"type": "webhook", "url": s.url(path + "/s3cretpath")}
	}
	// Tenant k5-a: three channels, one more than the limit, created one
	// after another. The third is the newest by creation time, or, within
	// the same second (creation times have whole seconds), by name: c3 is
	// refused either way.
	for _, name := range []string{"c1", "c2", "c3"} {
		c.secret(t, channelSecret("k5-a", name, nil, nil, hook("/a-"+name)))
	}
	// Tenant k5-b: grouping by every label, past its group limit.
	c.secret(t, channelSecret("k5-b", "storm", nil, map[string]string{"amtenant.io/group-by": "..."}, hook("/b")))
	// Tenant k5-c: two notifications a minute, by the admin's override.
	c.secret(t, channelSecret("k5-c", "slow", nil, nil, hook("/c")))
	limits := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "k5-mon", Name: "limits", Labels: map[string]string{"amtenant.io/limits": ""}},
		Data:       map[string]string{"limits.yaml": "k5-c:\n  channel-notifications-per-minute: 2\n"},
	}
	c.configMap(t, limits)
	sc := startKubeSidecar(t, am, c, "k5-mon", serviceAccount, "--limits.tenant-channels=2", "--limits.channel-groups=3")

	start := time.Now().Add(-time.Minute)
	var storm []testAlert
	for _, i := range []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"} {
		storm = append(storm, firing(start, "alertname", "Storm", "namespace", "k5-b", "instance", i))
	}
	slow := []testAlert{
		firing(start, "alertname", "S1", "namespace", "k5-c"),
		firing(start, "alertname", "S2", "namespace", "k5-c"),
		firing(start, "alertname", "S3", "namespace", "k5-c"),
	}
	all := append(append(slices.Clone(storm), slow...), firing(start, "alertname", "A", "namespace", "k5-a"))
	am.post(all...)

	// The channel limit.
	eventually(t, 20*time.Second, "the two admitted channels and the Warning Event on the third", func() bool {
		return len(s.alertsAt("/a-c1/s3cretpath")) == 1 && len(s.alertsAt("/a-c2/s3cretpath")) == 1 &&
			slices.ContainsFunc(c.events(t, "k5-a", "c3"), func(e string) bool {
				return strings.HasPrefix(e, `Warning InvalidChannel: k5-a/c3: refused: tenant "k5-a" has more channel Secrets than its limit of 2`)
			})
	})
	// The group limit: three groups and the overflow group, every alert.
	eventually(t, 20*time.Second, "every storm alert", func() bool { return len(s.alertsAt("/b/s3cretpath")) == 10 })
	// The rate limit: two groups at once, the third deferred.
	eventually(t, 20*time.Second, "the first two slow groups", func() bool { return len(s.at("/c/s3cretpath")) == 2 })
	sc.waitPolls(t, 5)
	if got := s.at("/c/s3cretpath"); len(got) != 2 {
		t.Fatalf("the rate-limited channel sent %d messages within its first seconds, want 2", len(got))
	}
	if len(s.alertsAt("/a-c3/s3cretpath")) != 0 {
		t.Errorf("the refused channel delivered")
	}
	msgs := s.at("/b/s3cretpath")
	if len(msgs) != 4 {
		t.Errorf("the storm channel sent %d messages, want 3 groups and the overflow group", len(msgs))
	}
	overflow := 0
	for _, n := range msgs {
		if strings.HasPrefix(n.GroupLabels["amtenant_overflow"], "more than 3 groups") {
			overflow++
			if len(n.Alerts) != 7 {
				t.Errorf("the overflow message lists %d alerts, want 7", len(n.Alerts))
			}
		}
	}
	if overflow != 1 {
		t.Errorf("%d overflow messages, want 1", overflow)
	}

	// An alert joins the deferred group meanwhile: the deferred message
	// has both, and nothing is lost.
	var deferred string
	sent := map[string]bool{}
	for _, n := range s.at("/c/s3cretpath") {
		sent[n.GroupLabels["alertname"]] = true
	}
	for _, name := range []string{"S1", "S2", "S3"} {
		if !sent[name] {
			deferred = name
		}
	}
	am.post(append(all, firing(start, "alertname", deferred, "namespace", "k5-c", "instance", "late"))...)
	eventually(t, 45*time.Second, "the deferred group", func() bool { return len(s.at("/c/s3cretpath")) == 3 })
	last := s.at("/c/s3cretpath")[2]
	if last.GroupLabels["alertname"] != deferred || len(last.Alerts) != 2 {
		t.Errorf("the deferred message: group %v with %d alerts, want %s with 2", last.GroupLabels, len(last.Alerts), deferred)
	}

	// Deleting an admitted channel admits the refused one.
	if err := c.admin.CoreV1().Secrets("k5-a").Delete(context.Background(), "c1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the third channel admitted", func() bool { return len(s.alertsAt("/a-c3/s3cretpath")) == 1 })

	// Per-channel health series: bounded, and no secret in them.
	m := sc.metrics(t)
	if strings.Contains(m, "s3cretpath") {
		t.Error("/metrics contains a channel's URL")
	}
	if got := testutil.SeriesValue(t, m, `amtenant_channel_failing{channel="k5-b/storm",tenant="k5-b"}`); got != 0 {
		t.Errorf("k5-b/storm failing = %v", got)
	}
	if got := testutil.SeriesValue(t, m, `amtenant_channel_last_delivery_timestamp_seconds{channel="k5-b/storm",tenant="k5-b"}`); got < float64(start.Unix()) {
		t.Errorf("k5-b/storm last delivery = %v", got)
	}
	for _, ev := range append(c.events(t, "k5-a", "c3"), c.events(t, "k5-b", "storm")...) {
		if strings.Contains(ev, "s3cretpath") {
			t.Errorf("an Event contains a channel's URL: %s", ev)
		}
	}
}
