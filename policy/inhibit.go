package policy

import (
	"fmt"

	amcommoncfg "github.com/prometheus/alertmanager/config/common"
	"github.com/prometheus/alertmanager/inhibit"
	"gopkg.in/yaml.v2"
)

// KeyRules is the data key of an inhibition ConfigMap (a contract).
const KeyRules = "rules"

// MaxRules bounds the rules of one inhibition ConfigMap.
const MaxRules = 32

// Rule is one tenant inhibit rule, as Alertmanager builds it from its
// configuration.
type Rule struct {
	*inhibit.InhibitRule
	// Index is the rule's place in its ConfigMap's list, from 0.
	Index int
}

// ParseRules reads an inhibition ConfigMap's data: the key rules holds a
// YAML list of Alertmanager inhibit rules.
func ParseRules(data map[string]string) ([]*Rule, error) {
	for k := range data {
		if k != KeyRules {
			return nil, fmt.Errorf("unknown data key %q (an inhibition ConfigMap has only %s)", k, KeyRules)
		}
	}
	v, ok := data[KeyRules]
	if !ok {
		return nil, fmt.Errorf("data key %s is required: a YAML list of Alertmanager inhibit rules", KeyRules)
	}
	var crs []amcommoncfg.InhibitRule
	if err := yaml.UnmarshalStrict([]byte(v), &crs); err != nil {
		return nil, fmt.Errorf("%s: %s", KeyRules, yamlError(err))
	}
	switch {
	case len(crs) == 0:
		return nil, fmt.Errorf("%s: the list is empty", KeyRules)
	case len(crs) > MaxRules:
		return nil, fmt.Errorf("%s: %d rules, at most %d are allowed per ConfigMap", KeyRules, len(crs), MaxRules)
	}
	out := make([]*Rule, 0, len(crs))
	for i, cr := range crs {
		n := len(cr.SourceMatch) + len(cr.SourceMatchRE) + len(cr.SourceMatchers) + len(cr.TargetMatch) + len(cr.TargetMatchRE) + len(cr.TargetMatchers)
		if n > 2*MaxMatchers || len(cr.Equal) > MaxMatchers {
			return nil, fmt.Errorf("%s[%d]: more than %d matchers or equal labels", KeyRules, i, MaxMatchers)
		}
		if len(cr.SourceMatch)+len(cr.SourceMatchRE)+len(cr.SourceMatchers) == 0 {
			// Alertmanager accepts it, and then every alert of the tenant
			// would be a source: surely not meant.
			return nil, fmt.Errorf("%s[%d]: source_matchers is required", KeyRules, i)
		}
		r := &Rule{InhibitRule: inhibit.NewInhibitRule(cr), Index: i}
		if !matchesSomethingOnly(r.SourceMatchers) {
			return nil, fmt.Errorf("%s[%d]: source_matchers: at least one matcher must not match the empty string, or every alert of the tenant is a source", KeyRules, i)
		}
		out = append(out, r)
	}
	return out, nil
}
