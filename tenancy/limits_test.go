package tenancy

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func createdAt(s *corev1.Secret, minutes int) *corev1.Secret {
	s.CreationTimestamp = metav1.NewTime(time.Date(2026, 1, 1, 0, minutes, 0, 0, time.UTC))
	return s
}

func limitsConfigMap(body string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: "limits", Labels: map[string]string{LabelLimits: ""}},
		Data:       map[string]string{KeyLimits: body},
	}
}

func newLimitsEnv(t *testing.T, limits Limits, objs ...runtime.Object) *ctrlEnv {
	t.Helper()
	e := newCtrlEnv(t, objs...)
	e.ctrl.cfg.Limits = limits
	if err := e.ctrl.SetLimits(e.inf.Limits); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	return e
}

// A tenant's channels beyond its limit are refused, the newest first, and
// reported like invalid channels; other tenants and admin channels are
// untouched; deleting an older channel admits the next.
func TestControllerTenantChannelLimit(t *testing.T) {
	e := newLimitsEnv(t, Limits{Channels: 2, ChannelGroups: 7, ChannelPerMinute: 9},
		newNamespace("team-a", tenantLabel("alpha")), newNamespace("team-a2", tenantLabel("alpha")), newNamespace("team-b", nil),
		createdAt(newChannel("team-a", "first"), 1), createdAt(newChannel("team-a2", "second"), 2),
		createdAt(newChannel("team-a", "third"), 3), createdAt(newChannel("team-a", "also-third"), 3),
		createdAt(newChannel("team-b", "one"), 9), createdAt(newChannel("team-b", "two"), 9),
		newChannel(testNamespace, "admin-1"), newChannel(testNamespace, "admin-2"), newChannel(testNamespace, "admin-3"),
	)
	eventually(t, "refusals", func() bool {
		return len(e.rep.find("team-a/third", ReasonInvalidChannel)) == 1 && len(e.rep.find("team-a/also-third", ReasonInvalidChannel)) == 1
	})
	rep := e.rep.find("team-a/third", ReasonInvalidChannel)[0]
	if !rep.warning || !strings.Contains(rep.message, `tenant "alpha" has more channel Secrets than its limit of 2 (--limits.tenant-channels`) {
		t.Errorf("refusal report: %+v", rep)
	}
	current := e.b.currentIDs()
	for _, id := range []string{"team-a/first", "team-a2/second", "team-b/one", "team-b/two", testNamespace + "/admin-3"} {
		if !slices.Contains(current, id) {
			t.Errorf("%s is not built: %v", id, current)
		}
	}
	for _, id := range []string{"team-a/third", "team-a/also-third"} {
		if slices.Contains(current, id) {
			t.Errorf("%s is built past the limit", id)
		}
	}
	// The limits reach the channels.
	specs := e.b.appliesOf("team-b/one")
	if got := specs[len(specs)-1]; got.Limits.Groups != 7 || got.Limits.PerMinute != 9 || got.Tenant != "team-b" {
		t.Errorf("team-b/one: limits %+v, tenant %q", got.Limits, got.Tenant)
	}

	e.delete(t, "team-a", "first")
	eventually(t, "the next channel admitted", func() bool { return slices.Contains(e.b.currentIDs(), "team-a/also-third") })
	if slices.Contains(e.b.currentIDs(), "team-a/third") {
		t.Error("both refused channels were admitted for one free place")
	}

	// A channel created past the limit is never built, not even briefly.
	e.create(t, createdAt(newChannel("team-a2", "late"), 30))
	eventually(t, "the late channel refused", func() bool { return len(e.rep.find("team-a2/late", ReasonInvalidChannel)) == 1 })
	if n := len(e.b.appliesOf("team-a2/late")); n != 0 {
		t.Errorf("the channel past the limit was built %d times before its refusal", n)
	}

	// An admin override raises tenant alpha's limit.
	if _, err := e.client.CoreV1().ConfigMaps(testNamespace).Create(t.Context(), limitsConfigMap("alpha:\n  channels: 5\n  channel-groups: 0\n\"(admin)\":\n  channel-groups: 11\n"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the override", func() bool { return slices.Contains(e.b.currentIDs(), "team-a/third") })
	specs = e.b.appliesOf("team-a/third")
	if got := specs[len(specs)-1].Limits; got.Groups != 0 || got.PerMinute != 9 {
		t.Errorf("team-a/third limits %+v: want the override's groups (0, unlimited) and the default rate", got)
	}
	eventually(t, "the admin channels' override", func() bool {
		specs := e.b.appliesOf(testNamespace + "/admin-1")
		return specs[len(specs)-1].Limits.Groups == 11
	})
	if len(e.rep.find(testNamespace+"/limits", ReasonLimitsLoaded)) != 1 {
		t.Errorf("no LimitsLoaded report: %+v", e.rep.all())
	}
}

// An invalid overrides ConfigMap is reported and the previous overrides
// stay in use.
func TestParseOverrides(t *testing.T) {
	for _, tt := range []struct{ body, err string }{
		{"alpha: {channels: 3}", ""},
		{"alpha: {chanels: 3}", "field chanels not found"},
		{"alpha: {channels: -1}", "channels is negative"},
		{"[", "limits.yaml:"},
	} {
		_, err := parseOverrides(tt.body)
		if (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%q: error %v, want %q", tt.body, err, tt.err)
		}
	}
}
