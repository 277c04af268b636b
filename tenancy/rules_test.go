package tenancy

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
)

// testTenants is a TenantFunc over a fixed set of namespaces: team-a and
// team-a2 belong to alpha, team-b to beta, plain has no tenant label (and
// so is its own tenant); any other namespace does not exist.
func testTenants(ns string) (string, bool) {
	switch ns {
	case "team-a", "team-a2":
		return "alpha", true
	case "team-b":
		return "beta", true
	case "plain":
		return "plain", true
	}
	return "", false
}

func TestClassify(t *testing.T) {
	cfg := testConfig()
	tests := []struct {
		name    string
		secret  *corev1.Secret
		trusted bool
		scope   scope
		tenant  string
		// claims are substrings, one per expected ignored claim.
		claims []string
		err    string
	}{
		{
			name:   "tenant channel",
			secret: newChannel("team-a", "slack"),
			scope:  scopeOwnTenant,
		},
		{
			name:   "tenant channel of a namespace without tenant label",
			secret: newChannel("plain", "slack"),
			scope:  scopeOwnTenant,
		},
		{
			name:   "tenant channel of a missing namespace naming itself",
			secret: newChannel("ghost", "slack", withLabels(LabelTenant, "ghost")),
			scope:  scopeOwnTenant,
		},
		{
			name:   "tenant channel claiming another tenant",
			secret: newChannel("team-a", "slack", withLabels(LabelTenant, "beta")),
			scope:  scopeOwnTenant,
			claims: []string{`amtenant.io/tenant="beta" ignored`},
		},
		{
			name:   "tenant channel claiming its own tenant",
			secret: newChannel("team-a", "slack", withLabels(LabelTenant, "alpha")),
			scope:  scopeOwnTenant,
		},
		{
			name:   "tenant channel claiming its namespace name, not its tenant",
			secret: newChannel("team-a", "slack", withLabels(LabelTenant, "team-a")),
			scope:  scopeOwnTenant,
			claims: []string{`"team-a"`},
		},
		{
			name:   "tenant channel with an empty tenant label",
			secret: newChannel("team-a", "slack", withLabels(LabelTenant, "")),
			scope:  scopeOwnTenant,
			claims: []string{`amtenant.io/tenant="" ignored`},
		},
		{
			name:   "tenant channel claiming scope all",
			secret: newChannel("team-a", "slack", withLabels(LabelScope, ScopeAll)),
			scope:  scopeOwnTenant,
			claims: []string{`amtenant.io/scope="all" ignored`},
		},
		{
			name:   "tenant channel claiming scope cluster",
			secret: newChannel("team-b", "slack", withLabels(LabelScope, ScopeCluster)),
			scope:  scopeOwnTenant,
			claims: []string{`amtenant.io/scope="cluster" ignored`},
		},
		{
			name:   "tenant channel claiming another tenant and a scope",
			secret: newChannel("team-a", "slack", withLabels(LabelTenant, "beta", LabelScope, ScopeAll)),
			scope:  scopeOwnTenant,
			claims: []string{`amtenant.io/tenant="beta"`, `amtenant.io/scope="all"`},
		},
		{
			name:    "admin channel for a tenant",
			secret:  newChannel(testNamespace, "alpha", withLabels(LabelTenant, "x")),
			trusted: true,
			scope:   scopeTenant,
			tenant:  "x",
		},
		{
			name:    "admin channel for the cluster",
			secret:  newChannel(testNamespace, "ops", withLabels(LabelScope, ScopeCluster)),
			trusted: true,
			scope:   scopeCluster,
		},
		{
			name:    "admin channel for all",
			secret:  newChannel(testNamespace, "ops", withLabels(LabelScope, ScopeAll)),
			trusted: true,
			scope:   scopeAll,
		},
		{
			name:    "admin channel without tenant or scope",
			secret:  newChannel(testNamespace, "ops"),
			trusted: true,
			scope:   scopeCluster,
		},
		{
			name:   "admin channel with tenant and scope",
			secret: newChannel(testNamespace, "ops", withLabels(LabelTenant, "x", LabelScope, ScopeAll)),
			err:    "both set",
		},
		{
			name:   "admin channel with a bogus scope",
			secret: newChannel(testNamespace, "ops", withLabels(LabelScope, "bogus")),
			err:    `amtenant.io/scope="bogus"`,
		},
		{
			name:   "admin channel with an empty scope",
			secret: newChannel(testNamespace, "ops", withLabels(LabelScope, "")),
			err:    `amtenant.io/scope=""`,
		},
		{
			name:   "admin channel with an empty tenant",
			secret: newChannel(testNamespace, "ops", withLabels(LabelTenant, "")),
			err:    "amtenant.io/tenant is empty",
		},
		{
			name:   "tenant channel with a bad annotation",
			secret: newChannel("team-a", "slack", withAnnotations(AnnotationGroupWait, "soon")),
			err:    AnnotationGroupWait,
		},
		{
			name:   "admin channel with a bad annotation",
			secret: newChannel(testNamespace, "ops", withAnnotations(AnnotationMatch, "not a matcher")),
			err:    AnnotationMatch,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cfg.classify(tt.secret, testTenants)
			if tt.err != "" {
				if err == nil {
					t.Fatalf("classify: got no error, want one containing %q", tt.err)
				}
				if !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("classify: error %q does not contain %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("classify: %v", err)
			}
			wantID := tt.secret.Namespace + "/" + tt.secret.Name
			if got.spec.ID != wantID || got.binding.id != wantID {
				t.Errorf("IDs: spec %q, binding %q, want %q", got.spec.ID, got.binding.id, wantID)
			}
			if got.spec.Trusted != tt.trusted {
				t.Errorf("Trusted = %v, want %v", got.spec.Trusted, tt.trusted)
			}
			if got.binding.namespace != tt.secret.Namespace {
				t.Errorf("binding namespace = %q, want %q", got.binding.namespace, tt.secret.Namespace)
			}
			if got.binding.scope != tt.scope {
				t.Errorf("scope = %v, want %v", got.binding.scope, tt.scope)
			}
			if got.binding.tenant != tt.tenant {
				t.Errorf("binding tenant = %q, want %q", got.binding.tenant, tt.tenant)
			}
			if len(got.ignoredClaims) != len(tt.claims) {
				t.Fatalf("ignoredClaims = %q, want %d claims containing %q", got.ignoredClaims, len(tt.claims), tt.claims)
			}
			for i, want := range tt.claims {
				if !strings.Contains(got.ignoredClaims[i], want) {
					t.Errorf("ignoredClaims[%d] = %q, want it to contain %q", i, got.ignoredClaims[i], want)
				}
			}
			if !reflect.DeepEqual(got.spec.Data, tt.secret.Data) {
				t.Errorf("spec Data = %q, want %q", got.spec.Data, tt.secret.Data)
			}
		})
	}
}

func TestClassifyTenantClaimMessage(t *testing.T) {
	cfg := testConfig()
	got, err := cfg.classify(newChannel("team-a", "slack", withLabels(LabelTenant, "beta")), testTenants)
	if err != nil {
		t.Fatal(err)
	}
	// The claim names the tenant the channel really belongs to, so that
	// the user learns where it goes.
	for _, want := range []string{LabelTenant, `"beta"`, `"team-a"`, `"alpha"`} {
		if !strings.Contains(got.ignoredClaims[0], want) {
			t.Errorf("claim %q does not mention %s", got.ignoredClaims[0], want)
		}
	}
}

func TestClassifyMatchersInBinding(t *testing.T) {
	cfg := testConfig()
	got, err := cfg.classify(newChannel("team-a", "crit", withAnnotations(AnnotationMatch, `severity="critical"`)), testTenants)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.binding.matchers) != 1 || got.binding.matchers[0].String() != `severity="critical"` {
		t.Fatalf("binding matchers = %v, want [severity=\"critical\"]", got.binding.matchers)
	}
	if !reflect.DeepEqual(got.binding.matchers, got.spec.Policy.Matchers) {
		t.Errorf("binding matchers %v differ from the policy's %v", got.binding.matchers, got.spec.Policy.Matchers)
	}
}

func TestSecretData(t *testing.T) {
	tests := []struct {
		name   string
		secret *corev1.Secret
		want   map[string]string
	}{
		{
			name:   "empty",
			secret: newSecret("ns", "s"),
			want:   map[string]string{},
		},
		{
			name:   "data only",
			secret: newSecret("ns", "s", withData("type", "webhook", "url", "http://a")),
			want:   map[string]string{"type": "webhook", "url": "http://a"},
		},
		{
			name:   "stringData only",
			secret: newSecret("ns", "s", withStringData("type", "slack")),
			want:   map[string]string{"type": "slack"},
		},
		{
			name: "stringData wins",
			secret: newSecret("ns", "s",
				withData("type", "webhook", "url", "http://old"),
				withStringData("url", "http://new", "send_resolved", "true")),
			want: map[string]string{"type": "webhook", "url": "http://new", "send_resolved": "true"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.secret.DeepCopy()
			got := SecretData(tt.secret)
			gotS := map[string]string{}
			for k, v := range got {
				gotS[k] = string(v)
			}
			if !maps.Equal(gotS, tt.want) {
				t.Errorf("secretData = %q, want %q", gotS, tt.want)
			}
			if !reflect.DeepEqual(before, tt.secret) {
				t.Errorf("secretData changed the Secret")
			}
			// The result is the channel's own: changing it must not
			// change the (cached) Secret.
			got["type"] = []byte("changed")
			if reflect.DeepEqual(before.Data, got) {
				t.Errorf("secretData returned the Secret's own map")
			}
			if !reflect.DeepEqual(before, tt.secret) {
				t.Errorf("changing secretData's result changed the Secret")
			}
		})
	}

	t.Run("classify merges stringData", func(t *testing.T) {
		cfg := testConfig()
		s := newChannel("team-a", "s", withStringData("url", "http://new"))
		got, err := cfg.classify(s, testTenants)
		if err != nil {
			t.Fatal(err)
		}
		if string(got.spec.Data["url"]) != "http://new" || string(got.spec.Data["type"]) != "webhook" {
			t.Errorf("spec Data = %q, want stringData merged into data", got.spec.Data)
		}
	})
}

func TestPolicy(t *testing.T) {
	cfg := testConfig()
	cfg.GroupWait = 42 * time.Second
	cfg.GroupInterval = 5 * time.Minute
	cfg.RepeatInterval = 3 * time.Hour
	alertname := []model.LabelName{model.AlertNameLabel}
	tests := []struct {
		name           string
		ann            map[string]string
		matchers       []string // String() of each matcher
		groupBy        []model.LabelName
		groupByAll     bool
		groupWait      time.Duration
		repeatInterval time.Duration
		groupInterval  time.Duration
		err            []string // substrings of the error
	}{
		{
			name:           "defaults",
			ann:            nil,
			groupBy:        alertname,
			groupWait:      42 * time.Second,
			repeatInterval: 3 * time.Hour,
		},
		{
			name:           "unrelated annotations",
			ann:            map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}"},
			groupBy:        alertname,
			groupWait:      42 * time.Second,
			repeatInterval: 3 * time.Hour,
		},
		{
			name: "several matchers with comments and blank lines",
			ann: map[string]string{AnnotationMatch: "# only the important ones\n" +
				"severity=\"critical\"\n" +
				"\n" +
				"   alertname=~\"Kube.*\"   \n" +
				"\t# another comment\n" +
				"team!=\"ops\"\n" +
				"instance!~\"test-.*\"\n"},
			matchers:       []string{`severity="critical"`, `alertname=~"Kube.*"`, `team!="ops"`, `instance!~"test-.*"`},
			groupBy:        alertname,
			groupWait:      42 * time.Second,
			repeatInterval: 3 * time.Hour,
		},
		{
			name:           "windows line endings",
			ann:            map[string]string{AnnotationMatch: "a=\"b\"\r\nc=\"d\"\r\n"},
			matchers:       []string{`a="b"`, `c="d"`},
			groupBy:        alertname,
			groupWait:      42 * time.Second,
			repeatInterval: 3 * time.Hour,
		},
		{
			name:           "unquoted value",
			ann:            map[string]string{AnnotationMatch: "severity=critical"},
			matchers:       []string{`severity="critical"`},
			groupBy:        alertname,
			groupWait:      42 * time.Second,
			repeatInterval: 3 * time.Hour,
		},
		{
			name:           "UTF-8 value",
			ann:            map[string]string{AnnotationMatch: `team="équipe-🚀"`},
			matchers:       []string{`team="équipe-🚀"`},
			groupBy:        alertname,
			groupWait:      42 * time.Second,
			repeatInterval: 3 * time.Hour,
		},
		{
			name:           "only comments",
			ann:            map[string]string{AnnotationMatch: "# nothing\n\n"},
			groupBy:        alertname,
			groupWait:      42 * time.Second,
			repeatInterval: 3 * time.Hour,
		},
		{
			name: "invalid matcher",
			ann:  map[string]string{AnnotationMatch: "a=\"b\"\n\nnot a matcher\n"},
			err:  []string{AnnotationMatch, "line 3"},
		},
		{
			name: "two matchers on one line",
			ann:  map[string]string{AnnotationMatch: "# c\na=\"b\", c=\"d\""},
			err:  []string{AnnotationMatch, "line 2"},
		},
		{
			name: "invalid regular expression",
			ann:  map[string]string{AnnotationMatch: `a=~"("`},
			err:  []string{AnnotationMatch, "line 1"},
		},
		{
			name:           "group by two labels",
			ann:            map[string]string{AnnotationGroupBy: "namespace, alertname"},
			groupBy:        []model.LabelName{"namespace", "alertname"},
			groupWait:      42 * time.Second,
			repeatInterval: 3 * time.Hour,
		},
		{
			name:           "group by with spaces and empty parts",
			ann:            map[string]string{AnnotationGroupBy: " cluster ,, job , "},
			groupBy:        []model.LabelName{"cluster", "job"},
			groupWait:      42 * time.Second,
			repeatInterval: 3 * time.Hour,
		},
		{
			name:           "group by all",
			ann:            map[string]string{AnnotationGroupBy: "..."},
			groupByAll:     true,
			groupWait:      42 * time.Second,
			repeatInterval: 3 * time.Hour,
		},
		{
			name:           "group by nothing",
			ann:            map[string]string{AnnotationGroupBy: ""},
			groupWait:      42 * time.Second,
			repeatInterval: 3 * time.Hour,
		},
		{
			// Names are validated as UTF-8, as Alertmanager does by default.
			name:           "group by a UTF-8 label",
			ann:            map[string]string{AnnotationGroupBy: "service.name"},
			groupBy:        []model.LabelName{"service.name"},
			groupWait:      42 * time.Second,
			repeatInterval: 3 * time.Hour,
		},
		{
			name: "group by an invalid label",
			ann:  map[string]string{AnnotationGroupBy: "alertname, \xff\xfe"},
			err:  []string{AnnotationGroupBy, "not a valid label name"},
		},
		{
			name:           "group wait",
			ann:            map[string]string{AnnotationGroupWait: "30s"},
			groupBy:        alertname,
			groupWait:      30 * time.Second,
			repeatInterval: 3 * time.Hour,
		},
		{
			name:           "group wait zero",
			ann:            map[string]string{AnnotationGroupWait: "0s"},
			groupBy:        alertname,
			groupWait:      0,
			repeatInterval: 3 * time.Hour,
		},
		{
			name:           "durations with spaces and compound units",
			ann:            map[string]string{AnnotationGroupWait: " 1m30s ", AnnotationRepeatInterval: "1d12h"},
			groupBy:        alertname,
			groupWait:      90 * time.Second,
			repeatInterval: 36 * time.Hour,
		},
		{
			name:           "repeat interval",
			ann:            map[string]string{AnnotationRepeatInterval: "1h"},
			groupBy:        alertname,
			groupWait:      42 * time.Second,
			repeatInterval: time.Hour,
		},
		{
			name:           "group interval",
			ann:            map[string]string{AnnotationGroupInterval: "1m"},
			groupBy:        alertname,
			groupWait:      42 * time.Second,
			groupInterval:  time.Minute,
			repeatInterval: 3 * time.Hour,
		},
		{
			name: "group interval zero",
			ann:  map[string]string{AnnotationGroupInterval: "0s"},
			err:  []string{AnnotationGroupInterval, "greater than 0"},
		},
		{
			name: "invalid group interval",
			ann:  map[string]string{AnnotationGroupInterval: "often"},
			err:  []string{AnnotationGroupInterval},
		},
		{
			name: "repeat interval zero",
			ann:  map[string]string{AnnotationRepeatInterval: "0s"},
			err:  []string{AnnotationRepeatInterval, "greater than 0"},
		},
		{
			name: "repeat interval bare zero",
			ann:  map[string]string{AnnotationRepeatInterval: "0"},
			err:  []string{AnnotationRepeatInterval, "greater than 0"},
		},
		{
			name: "invalid group wait",
			ann:  map[string]string{AnnotationGroupWait: "soon"},
			err:  []string{AnnotationGroupWait},
		},
		{
			name: "empty group wait",
			ann:  map[string]string{AnnotationGroupWait: ""},
			err:  []string{AnnotationGroupWait},
		},
		{
			name: "negative repeat interval",
			ann:  map[string]string{AnnotationRepeatInterval: "-1h"},
			err:  []string{AnnotationRepeatInterval},
		},
		{
			name: "fractional repeat interval",
			ann:  map[string]string{AnnotationRepeatInterval: "1.5h"},
			err:  []string{AnnotationRepeatInterval},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := cfg.policy(tt.ann)
			if len(tt.err) > 0 {
				if err == nil {
					t.Fatalf("policy: got no error, want one containing %q", tt.err)
				}
				for _, want := range tt.err {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("policy: error %q does not contain %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("policy: %v", err)
			}
			var ms []string
			for _, m := range p.Matchers {
				ms = append(ms, m.String())
			}
			if !slices.Equal(ms, tt.matchers) {
				t.Errorf("matchers = %q, want %q", ms, tt.matchers)
			}
			if !slices.Equal(p.GroupBy, tt.groupBy) {
				t.Errorf("GroupBy = %q, want %q", p.GroupBy, tt.groupBy)
			}
			if p.GroupByAll != tt.groupByAll {
				t.Errorf("GroupByAll = %v, want %v", p.GroupByAll, tt.groupByAll)
			}
			if p.GroupWait != tt.groupWait {
				t.Errorf("GroupWait = %v, want %v", p.GroupWait, tt.groupWait)
			}
			if p.RepeatInterval != tt.repeatInterval {
				t.Errorf("RepeatInterval = %v, want %v", p.RepeatInterval, tt.repeatInterval)
			}
			want := tt.groupInterval
			if want == 0 {
				want = cfg.GroupInterval
			}
			if p.GroupInterval != want {
				t.Errorf("GroupInterval = %v, want %v", p.GroupInterval, want)
			}
		})
	}
}

func TestPolicyMatchersMatch(t *testing.T) {
	cfg := testConfig()
	p, err := cfg.policy(map[string]string{AnnotationMatch: "severity=~\"critical|page\"\n# c\nteam!=\"ops\"\nregion=\"zürich\""})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		labels model.LabelSet
		want   bool
	}{
		{model.LabelSet{"severity": "critical", "region": "zürich"}, true},
		{model.LabelSet{"severity": "page", "team": "dev", "region": "zürich"}, true},
		{model.LabelSet{"severity": "critical", "team": "ops", "region": "zürich"}, false},
		{model.LabelSet{"severity": "warning", "region": "zürich"}, false},
		{model.LabelSet{"severity": "critical-ish", "region": "zürich"}, false}, // regexps are anchored
		{model.LabelSet{"severity": "critical", "region": "zurich"}, false},
		{model.LabelSet{"severity": "critical"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.labels.String(), func(t *testing.T) {
			if got := p.Matchers.Matches(tt.labels); got != tt.want {
				t.Errorf("Matches(%v) = %v, want %v", tt.labels, got, tt.want)
			}
		})
	}
}

// Alertmanager (v0.27 and later, by default) accepts matchers in the UTF-8
// syntax, where a label name that is not a classic Prometheus name is
// quoted. DESIGN.md §3 says the annotation holds "Alertmanager matchers".
func TestPolicyUTF8LabelNameMatcher(t *testing.T) {
	cfg := testConfig()
	p, err := cfg.policy(map[string]string{AnnotationMatch: `"service.name"="checkout"`})
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	if !p.Matchers.Matches(model.LabelSet{"service.name": "checkout"}) {
		t.Errorf("matcher %v does not match service.name=checkout", p.Matchers)
	}
}

// Alertmanager rejects a group_by that mixes "..." with label names, and
// one that names a label twice (config.Route.UnmarshalYAML); the
// annotation follows Alertmanager's schema.
func TestPolicyGroupByLikeAlertmanager(t *testing.T) {
	cfg := testConfig()
	for _, v := range []string{"..., alertname", "alertname, alertname"} {
		t.Run(v, func(t *testing.T) {
			if _, err := cfg.policy(map[string]string{AnnotationGroupBy: v}); err == nil {
				t.Errorf("group-by %q: got no error", v)
			}
		})
	}
}
