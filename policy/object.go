package policy

import (
	"errors"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
)

// Labels that make a ConfigMap a tenant policy (DESIGN.md §3, a contract).
const (
	LabelSilence = "amtenant.io/silence"
	LabelInhibit = "amtenant.io/inhibit"
)

// Kind is what a policy ConfigMap declares.
type Kind string

// The kinds of tenant policy.
const (
	KindSilence Kind = "silence"
	KindInhibit Kind = "inhibit"
)

// MaxPolicyBytes bounds a policy ConfigMap's data: it is parsed again at
// every change.
const MaxPolicyBytes = 64 << 10

// Object is one valid policy ConfigMap.
type Object struct {
	// ID is "<namespace>/<name>".
	ID        string
	Namespace string
	Kind      Kind
	Silence   *Silence
	Rules     []*Rule
	// Order sorts objects oldest first (creation time, then ID): when a
	// tenant has more than the limit, the newest are refused.
	Order string
}

// IsPolicy reports whether a ConfigMap carries a policy label.
func IsPolicy(cm *corev1.ConfigMap) bool {
	_, s := cm.Labels[LabelSilence]
	_, i := cm.Labels[LabelInhibit]
	return s || i
}

// Parse reads a policy ConfigMap. The error names the problem without
// the ConfigMap's name (the caller adds it).
func Parse(cm *corev1.ConfigMap) (*Object, error) {
	_, s := cm.Labels[LabelSilence]
	_, i := cm.Labels[LabelInhibit]
	o := &Object{
		ID:        cm.Namespace + "/" + cm.Name,
		Namespace: cm.Namespace,
		Order:     cm.CreationTimestamp.UTC().Format("20060102T150405Z") + " " + cm.Namespace + "/" + cm.Name,
	}
	switch {
	case s && i:
		return nil, fmt.Errorf("labels %s and %s are both set; a ConfigMap is one or the other", LabelSilence, LabelInhibit)
	case !s && !i:
		return nil, errors.New("not a policy: it has neither the label " + LabelSilence + " nor " + LabelInhibit)
	case len(cm.BinaryData) > 0:
		keys := make([]string, 0, len(cm.BinaryData))
		for k := range cm.BinaryData {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return nil, fmt.Errorf("binaryData is not read (key %q); put the policy in data", keys[0])
	}
	size := 0
	for _, v := range cm.Data {
		size += len(v)
	}
	if size > MaxPolicyBytes {
		return nil, fmt.Errorf("%d bytes of data, at most %d are allowed in a policy ConfigMap", size, MaxPolicyBytes)
	}
	var err error
	if s {
		o.Kind = KindSilence
		o.Silence, err = ParseSilence(cm.Data)
	} else {
		o.Kind = KindInhibit
		o.Rules, err = ParseRules(cm.Data)
	}
	if err != nil {
		return nil, err
	}
	return o, nil
}
