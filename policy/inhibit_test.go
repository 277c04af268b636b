package policy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
)

// TestParseRules proves a list of Alertmanager inhibit rules is read with
// its index, matchers (new and deprecated syntax) and equal labels.
func TestParseRules(t *testing.T) {
	rs, err := ParseRules(map[string]string{KeyRules: `
- source_matchers: ['alertname="NodeDown"']
  target_matchers: ['alertname=~"Pod.*"', 'severity!="critical"']
  equal: [node, namespace]
- name: deprecated
  source_match:
    alertname: ClusterDown
  source_match_re:
    cluster: "c[0-9]+"
  target_match:
    severity: warning
  target_match_re:
    team: "a|b"
`})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Index != 0 || rs[1].Index != 1 {
		t.Fatalf("rules = %+v", rs)
	}
	r := rs[0]
	if len(r.SourceMatchers) != 1 || len(r.TargetMatchers) != 2 || len(r.Equal) != 2 {
		t.Errorf("rule 0 = %v / %v / %v", r.SourceMatchers, r.TargetMatchers, r.Equal)
	}
	if _, ok := r.Equal["node"]; !ok {
		t.Errorf("rule 0 equal = %v", r.Equal)
	}
	d := rs[1]
	if d.Name != "deprecated" || len(d.SourceMatchers) != 2 || len(d.TargetMatchers) != 2 {
		t.Errorf("rule 1 = %q %v / %v", d.Name, d.SourceMatchers, d.TargetMatchers)
	}
	for _, tc := range []struct {
		ls             model.LabelSet
		source, target bool
	}{
		{model.LabelSet{"alertname": "ClusterDown", "cluster": "c12"}, true, false},
		{model.LabelSet{"alertname": "ClusterDown", "cluster": "c12x"}, false, false}, // anchored regexp
		{model.LabelSet{"severity": "warning", "team": "b"}, false, true},
		{model.LabelSet{"severity": "warning", "team": "bb"}, false, false},
	} {
		if got := d.SourceMatchers.Matches(tc.ls); got != tc.source {
			t.Errorf("deprecated source matches %v = %v", tc.ls, got)
		}
		if got := d.TargetMatchers.Matches(tc.ls); got != tc.target {
			t.Errorf("deprecated target matches %v = %v", tc.ls, got)
		}
	}

	// MaxRules rules are accepted.
	max := strings.Repeat("- source_matchers: [a=b]\n", MaxRules)
	if rs, err := ParseRules(map[string]string{KeyRules: max}); err != nil || len(rs) != MaxRules || rs[MaxRules-1].Index != MaxRules-1 {
		t.Errorf("%d rules: %d, %v", MaxRules, len(rs), err)
	}
}

// TestParseRulesErrors proves every rejection is a one-line error naming
// the problem.
func TestParseRulesErrors(t *testing.T) {
	many := make([]string, 2*MaxMatchers+1)
	for i := range many {
		many[i] = fmt.Sprintf("'l%d=\"v\"'", i)
	}
	for _, tc := range []struct {
		name    string
		data    map[string]string
		wantErr string
	}{
		{"unknown key", map[string]string{KeyRules: "- source_matchers: [a=b]", "rule": "x"}, `unknown data key "rule"`},
		{"missing rules", map[string]string{}, "data key rules is required"},
		{"nil data", nil, "data key rules is required"},
		{"empty string", map[string]string{KeyRules: ""}, "rules: the list is empty"},
		{"empty list", map[string]string{KeyRules: "[]"}, "rules: the list is empty"},
		{"too many rules", map[string]string{KeyRules: strings.Repeat("- source_matchers: [a=b]\n", MaxRules+1)}, fmt.Sprintf("rules: %d rules, at most %d", MaxRules+1, MaxRules)},
		{"no source matchers", map[string]string{KeyRules: "- source_matchers: [a=b]\n- target_matchers: [a=b]\n  equal: [x]\n"}, "rules[1]: source_matchers is required"},
		{"empty source matchers", map[string]string{KeyRules: "- source_matchers: []\n  target_matchers: [a=b]\n"}, "rules[0]: source_matchers is required"},
		{"unknown key in a rule", map[string]string{KeyRules: "- source_matchers: [a=b]\n  target_matcher: [c=d]\n"}, "field target_matcher not found"},
		{"bad matcher", map[string]string{KeyRules: "- source_matchers: ['a=~\"(\"']\n"}, "rules: "},
		{"bad equal label", map[string]string{KeyRules: "- source_matchers: [a=b]\n  equal: ['']\n"}, "invalid label name"},
		{"not a list", map[string]string{KeyRules: "source_matchers: [a=b]\n"}, "cannot unmarshal"},
		{"too many matchers", map[string]string{KeyRules: "- source_matchers: [" + strings.Join(many, ", ") + "]\n"}, "rules[0]: more than 64 matchers or equal labels"},
		{"too many equal", map[string]string{KeyRules: "- source_matchers: [a=b]\n  equal: [" + strings.Repeat("x, ", MaxMatchers) + "x]\n"}, "rules[0]: more than 64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := ParseRules(tc.data)
			if err == nil {
				t.Fatalf("got %d rules, want an error containing %q", len(rs), tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
			oneLine(t, err)
		})
	}
}

// TestParseRulesUTF8Matchers proves inhibit rule matchers are read with the
// same syntax as silence matchers (ParseMatcher: UTF-8, falling back to
// classic), as Alertmanager v0.34 reads its own inhibit_rules by default.
func TestParseRulesUTF8Matchers(t *testing.T) {
	const m = `"service.name"="api"`
	if _, err := ParseMatcher(m); err != nil {
		t.Fatalf("ParseMatcher(%q): %v", m, err)
	}
	if _, err := ParseRules(map[string]string{KeyRules: "- source_matchers: ['" + m + "']\n"}); err != nil {
		t.Errorf("ParseRules with source matcher %s: %v", m, err)
	}
}
