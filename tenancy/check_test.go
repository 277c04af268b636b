package tenancy

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestCheck(t *testing.T) {
	raw := `
apiVersion: v1
kind: Namespace
metadata:
  name: team-a
  labels:
    amtenant.io/tenant: alpha
---
apiVersion: v1
kind: Secret
metadata:
  name: global
  namespace: monitoring
  labels:
    amtenant.io/global: ""
stringData:
  global.yaml: "smtp_from: a@example.com"
---
apiVersion: v1
kind: Secret
metadata:
  name: ok
  namespace: team-a
  labels:
    amtenant.io/channel: ""
    amtenant.io/tenant: alpha
stringData:
  type: webhook
---
apiVersion: v1
kind: Secret
metadata:
  name: claim
  namespace: team-a
  labels:
    amtenant.io/channel: ""
    amtenant.io/tenant: beta
stringData:
  type: webhook
---
apiVersion: v1
kind: Secret
metadata:
  name: badann
  namespace: team-a
  labels:
    amtenant.io/channel: ""
  annotations:
    amtenant.io/repeat-interval: soon
stringData:
  type: webhook
---
apiVersion: v1
kind: Secret
metadata:
  name: broken
  namespace: team-b
  labels:
    amtenant.io/channel: ""
stringData:
  type: webhook
---
apiVersion: v1
kind: Secret
metadata:
  name: plain
  namespace: team-b
stringData:
  password: x
---
apiVersion: v1
kind: Secret
metadata:
  name: global
  namespace: team-b
  labels:
    amtenant.io/global: ""
stringData:
  global.yaml: ""
`
	objs := parseObjects(t, raw, "monitoring")
	nss, secrets := objs.Namespaces, objs.Secrets
	if len(nss) != 1 || len(secrets) != 7 {
		t.Fatalf("ParseObjects: %d namespaces, %d secrets", len(nss), len(secrets))
	}
	b := newRecBuilder()
	b.setFail("team-b/broken", errors.New("team-b/broken: webhook_configs[0]: one of url or url_file must be configured"))
	cfg := Config{Namespace: "monitoring", NamespaceTenantLabel: LabelTenant}
	problems := Check(cfg, objs, b)
	got := map[string]string{}
	for _, p := range problems {
		got[p.Object] += p.Message
	}
	want := map[string]string{
		"team-a/claim":  `amtenant.io/tenant="beta" ignored`,
		"team-a/badann": "amtenant.io/repeat-interval",
		"team-b/broken": "webhook_configs[0]: one of url",
		"team-b/plain":  "not a channel",
		"team-b/global": "only read in the sidecar's namespace",
	}
	for id, w := range want {
		if !strings.Contains(got[id], w) {
			t.Errorf("%s: problem %q, want one containing %q", id, got[id], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("problems for %d Secrets, want %d: %v", len(got), len(want), got)
	}
	if strings.HasPrefix(got["team-b/broken"], "team-b/broken") {
		t.Errorf("the Secret's name is repeated in the message: %q", got["team-b/broken"])
	}
	if calls := b.globalCalls(); len(calls) != 1 || string(calls[0]["global.yaml"]) != "smtp_from: a@example.com" {
		t.Errorf("SetGlobal calls: %v", calls)
	}
}

func TestCheckEmpty(t *testing.T) {
	if p := Check(Config{Namespace: "monitoring"}, Objects{}, newRecBuilder()); len(p) != 0 {
		t.Errorf("problems for no Secrets: %v", p)
	}
}

func TestCheckAdminOnly(t *testing.T) {
	s := newChannel("team-a", "hook", withStringData("type", "webhook"))
	admin := newChannel("monitoring", "ops", withStringData("type", "webhook"))
	cfg := Config{Namespace: "monitoring", NamespaceTenantLabel: LabelTenant, AdminOnly: true}
	problems := Check(cfg, Objects{Secrets: []*corev1.Secret{s, admin}}, newRecBuilder())
	if len(problems) != 1 || problems[0].Object != "team-a/hook" || !strings.Contains(problems[0].Message, "tenant channels are off") {
		t.Errorf("problems = %v, want one for the tenant channel", problems)
	}
}

// Check validates policy ConfigMaps with the running sidecar's rules.
func TestCheckPolicies(t *testing.T) {
	objs := parseObjects(t, `
apiVersion: v1
kind: ConfigMap
metadata: {name: ok, namespace: team-a, labels: {amtenant.io/silence: ""}}
data: {matchers: 'alertname="A"', ends-at: "2030-01-01T00:00:00Z"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: bad, namespace: team-a, labels: {amtenant.io/inhibit: ""}}
data: {rules: "- source_matchers: [alertname=A]\n  typo: 1\n"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: admin, namespace: monitoring, labels: {amtenant.io/silence: ""}}
data: {matchers: 'alertname="A"', ends-at: "2030-01-01T00:00:00Z"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: plain, namespace: team-a}
data: {x: z}
`, "monitoring")
	cfg := Config{Namespace: "monitoring", NamespaceTenantLabel: LabelTenant}
	got := map[string]string{}
	for _, p := range Check(cfg, objs, newRecBuilder()) {
		got[p.Object] = p.Message
	}
	want := map[string]string{
		"configmap team-a/bad":       "field typo not found",
		"configmap monitoring/admin": "tenant policies live in tenant namespaces",
		"configmap team-a/plain":     "not a policy",
	}
	if len(got) != len(want) {
		t.Errorf("problems %v, want %d", got, len(want))
	}
	for id, w := range want {
		if !strings.Contains(got[id], w) {
			t.Errorf("%s: %q, want it to contain %q", id, got[id], w)
		}
	}
}
