package tenancy

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/amtenant/amtenant/policy"
)

// Problem is one thing wrong with a Secret or ConfigMap, found by Check.
type Problem struct {
	// Object is "<namespace>/<name>", prefixed with "configmap " for a
	// ConfigMap.
	Object  string
	Message string
}

func (p Problem) String() string { return p.Object + ": " + p.Message }

// Objects are the Namespaces, Secrets and ConfigMaps Check validates (from
// manifest files: package objectfiles reads them).
type Objects struct {
	Namespaces []*corev1.Namespace
	Secrets    []*corev1.Secret
	ConfigMaps []*corev1.ConfigMap
}

// Check validates Secrets and policy ConfigMaps offline with exactly the
// rules the controller applies: tenancy labels and annotations, then the
// builder (the senders' parsing, Alertmanager's validation and the tenant
// security rules), and the policy rules. The global Secret among them, if
// any, is applied first. namespaces may be
// empty; a namespace missing from it is taken to be its own tenant.
func Check(cfg Config, objs Objects, b Builder) []Problem {
	secrets := objs.Secrets
	tenantOf := cfg.NamespaceTenants(objs.Namespaces)
	sorted := append([]*corev1.Secret(nil), secrets...)
	sort.Slice(sorted, func(i, j int) bool {
		// The global Secret first: channels inherit from it.
		gi, gj := hasLabel(sorted[i], LabelGlobal), hasLabel(sorted[j], LabelGlobal)
		if gi != gj {
			return gi
		}
		return sorted[i].Namespace+"/"+sorted[i].Name < sorted[j].Namespace+"/"+sorted[j].Name
	})
	var out []Problem
	add := func(s *corev1.Secret, format string, args ...any) {
		out = append(out, Problem{Object: s.Namespace + "/" + s.Name, Message: fmt.Sprintf(format, args...)})
	}
	globals := 0
	for _, s := range sorted {
		id := s.Namespace + "/" + s.Name
		switch {
		case hasLabel(s, LabelGlobal):
			if s.Namespace != cfg.Namespace {
				add(s, "a global Secret is only read in the sidecar's namespace %q; this one is ignored", cfg.Namespace)
				continue
			}
			if globals++; globals > 1 {
				add(s, "a second global Secret in %q is ignored; keep one", cfg.Namespace)
				continue
			}
			if err := b.SetGlobal(SecretData(s)); err != nil {
				add(s, "%s", err)
			}
		case isChannel(s) && cfg.AdminOnly && s.Namespace != cfg.Namespace:
			add(s, "ignored: tenant channels are off (--no-tenancy.tenant-secrets); only channels in %q are read", cfg.Namespace)
		case isChannel(s):
			cl, err := cfg.classify(s, tenantOf)
			if err != nil {
				add(s, "%s", err)
				continue
			}
			for _, c := range cl.ignoredClaims {
				add(s, "%s", c)
			}
			if _, err := b.Apply(cl.spec); err != nil {
				add(s, "%s", strings.TrimPrefix(err.Error(), id+": "))
			}
		default:
			add(s, "not a channel: it has neither the label %s nor %s", LabelChannel, LabelGlobal)
		}
	}
	refused := refusedChannels(&cfg, sorted, tenantOf, func(string) Limits { return cfg.Limits })
	for _, s := range sorted {
		if msg, ok := refused[s.Namespace+"/"+s.Name]; ok {
			add(s, "%s", msg)
		}
	}
	cms := append([]*corev1.ConfigMap(nil), objs.ConfigMaps...)
	sort.Slice(cms, func(i, j int) bool { return cms[i].Namespace+"/"+cms[i].Name < cms[j].Namespace+"/"+cms[j].Name })
	var valid []*policy.Object
	for _, cm := range cms {
		id := "configmap " + cm.Namespace + "/" + cm.Name
		if !policy.IsPolicy(cm) {
			out = append(out, Problem{Object: id, Message: fmt.Sprintf("not a policy: it has neither the label %s nor %s", policy.LabelSilence, policy.LabelInhibit)})
			continue
		}
		o, err := cfg.readPolicy(cm)
		if err != nil {
			out = append(out, Problem{Object: id, Message: err.Error()})
			continue
		}
		valid = append(valid, o)
	}
	if _, refused := policy.Build(valid, tenantOf); len(refused) > 0 {
		for _, o := range refused {
			out = append(out, Problem{Object: "configmap " + o.ID, Message: fmt.Sprintf("refused: its tenant has more than %d %s ConfigMaps (the newest are refused)", policy.MaxPerTenant, o.Kind)})
		}
	}
	return out
}
