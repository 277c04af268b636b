package policy

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// configMap builds a ConfigMap with the given policy labels ("" for none).
func configMap(ns, name string, created time.Time, data map[string]string, labels ...string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:         ns,
			Name:              name,
			CreationTimestamp: metav1.NewTime(created),
			Labels:            map[string]string{"app": "x"},
		},
		Data: data,
	}
	for _, l := range labels {
		cm.Labels[l] = ""
	}
	return cm
}

var (
	silenceData = map[string]string{KeyMatchers: `alertname="NodeDown"`, KeyEndsAt: "2026-06-01T12:00:00Z"}
	inhibitData = map[string]string{KeyRules: "- source_matchers: [alertname=NodeDown]\n  target_matchers: [severity=warning]\n  equal: [node]\n"}
)

// TestIsPolicy proves either label, whatever its value, makes a policy.
func TestIsPolicy(t *testing.T) {
	created := utc(2026, 6, 1, 0, 0)
	for _, tc := range []struct {
		cm   *corev1.ConfigMap
		want bool
	}{
		{configMap("a", "s", created, nil, LabelSilence), true},
		{configMap("a", "i", created, nil, LabelInhibit), true},
		{configMap("a", "b", created, nil, LabelSilence, LabelInhibit), true},
		{configMap("a", "n", created, nil), false},
		{&corev1.ConfigMap{}, false},
	} {
		if got := IsPolicy(tc.cm); got != tc.want {
			t.Errorf("IsPolicy(%v) = %v, want %v", tc.cm.Labels, got, tc.want)
		}
	}
}

// TestParse proves a ConfigMap becomes a silence or inhibit Object with its
// ID, namespace and Order, and that wrong labels, binaryData and invalid
// data are one-line errors that do not name the ConfigMap.
func TestParse(t *testing.T) {
	created := time.Date(2026, 6, 1, 9, 8, 7, 654321, time.FixedZone("X", 2*3600))
	s, err := Parse(configMap("team-a", "quiet", created, silenceData, LabelSilence))
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != "team-a/quiet" || s.Namespace != "team-a" || s.Kind != KindSilence || s.Silence == nil || s.Rules != nil {
		t.Errorf("silence object = %+v", s)
	}
	// Order is the creation time in UTC to the second, then the ID.
	if s.Order != "20260601T070807Z team-a/quiet" {
		t.Errorf("Order = %q", s.Order)
	}
	i, err := Parse(configMap("team-a", "node-down", created, inhibitData, LabelInhibit))
	if err != nil {
		t.Fatal(err)
	}
	if i.ID != "team-a/node-down" || i.Kind != KindInhibit || i.Silence != nil || len(i.Rules) != 1 {
		t.Errorf("inhibit object = %+v", i)
	}

	binary := configMap("team-a", "cm-bin-q7", created, silenceData, LabelSilence)
	binary.BinaryData = map[string][]byte{"zz": {1}, "b": {2}}
	for _, tc := range []struct {
		name    string
		cm      *corev1.ConfigMap
		wantErr string
	}{
		{"both labels", configMap("team-a", "cm-both-q7", created, silenceData, LabelSilence, LabelInhibit), "are both set"},
		{"neither label", configMap("team-a", "cm-none-q7", created, silenceData), "not a policy"},
		{"binaryData", binary, `binaryData is not read (key "b")`},
		{"silence data on an inhibit ConfigMap", configMap("team-a", "cm-mixed-q7", created, silenceData, LabelInhibit), "unknown data key"},
		{"rules on a silence ConfigMap", configMap("team-a", "cm-mixed-q7", created, inhibitData, LabelSilence), `unknown data key "rules"`},
		{"invalid silence", configMap("team-a", "cm-bad-q7", created, map[string]string{KeyMatchers: `a=~".*"`, KeyEndsAt: "2026-06-01T12:00:00Z"}, LabelSilence), "must not match the empty string"},
		{"empty inhibit", configMap("team-a", "cm-bad-q7", created, nil, LabelInhibit), "data key rules is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := Parse(tc.cm)
			if err == nil {
				t.Fatalf("got %+v, want an error containing %q", o, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
			oneLine(t, err)
			if strings.Contains(err.Error(), tc.cm.Name) || strings.Contains(err.Error(), tc.cm.Namespace) {
				t.Errorf("error %q names the ConfigMap (the caller does)", err)
			}
			if o != nil {
				t.Errorf("object %+v returned with an error", o)
			}
		})
	}
}

// TestParseOrder proves Order sorts by creation time first, then by
// namespace/name when created in the same second.
func TestParseOrder(t *testing.T) {
	at := utc(2026, 6, 1, 9, 0)
	parse := func(ns, name string, created time.Time) *Object {
		t.Helper()
		o, err := Parse(configMap(ns, name, created, silenceData, LabelSilence))
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	// Oldest first.
	want := []*Object{
		parse("z", "z", at.Add(-time.Hour)),
		parse("a", "b", at),
		parse("b", "a", at.Add(999*time.Millisecond)), // same second: by ID
		parse("a", "a", at.Add(time.Second)),
	}
	for i := 1; i < len(want); i++ {
		if !(want[i-1].Order < want[i].Order) {
			t.Errorf("Order %q is not before %q", want[i-1].Order, want[i].Order)
		}
	}
}
