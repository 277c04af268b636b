package tenancy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/klog/v2"

	"github.com/amtenant/amtenant/alert"
	"github.com/amtenant/amtenant/channel"
	"github.com/amtenant/amtenant/internal/testutil"
)

func TestMain(m *testing.M) {
	// client-go logs through klog; keep test output to the tests'.
	klog.SetSlogLogger(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

// testNamespace is the sidecar's own namespace in every test.
const testNamespace = "amtenant"

func testConfig() Config {
	return Config{
		Namespace:            testNamespace,
		NamespaceTenantLabel: LabelTenant,
		AlertNamespaceLabel:  "namespace",
		GroupWait:            10 * time.Second,
		RepeatInterval:       4 * time.Hour,
	}
}

// recBuilder is a Builder that records what it is asked to do and can be
// told to fail the Apply of a given channel ID or SetGlobal.
type recBuilder struct {
	mu         sync.Mutex
	fail       map[string]error
	failGlobal error
	// failTimes, when set for a channel, limits fail to that many more
	// applies of it.
	failTimes map[string]int
	applies   []channel.Spec
	removes   []string
	refused   []string
	globals   []map[string][]byte
	current   map[string]channel.Spec
}

func newRecBuilder() *recBuilder {
	return &recBuilder{fail: map[string]error{}, current: map[string]channel.Spec{}}
}

func (b *recBuilder) Apply(spec channel.Spec) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	spec.Data = maps.Clone(spec.Data)
	b.applies = append(b.applies, spec)
	if err := b.fail[spec.ID]; err != nil {
		if n, ok := b.failTimes[spec.ID]; ok {
			if n <= 1 {
				delete(b.fail, spec.ID)
				delete(b.failTimes, spec.ID)
			} else {
				b.failTimes[spec.ID] = n - 1
			}
		}
		return nil, err
	}
	b.current[spec.ID] = spec
	typ := "webhook"
	if v, ok := spec.Data["type"]; ok {
		typ = string(v)
	}
	return []string{typ}, nil
}

func (b *recBuilder) Remove(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.removes = append(b.removes, id)
	delete(b.current, id)
}

func (b *recBuilder) Refuse(id string, _ map[string][]byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.removes = append(b.removes, id)
	b.refused = append(b.refused, id)
	delete(b.current, id)
}

func (b *recBuilder) SetGlobal(data map[string][]byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.globals = append(b.globals, maps.Clone(data))
	return b.failGlobal
}

func (b *recBuilder) setFail(id string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil {
		delete(b.fail, id)
		return
	}
	b.fail[id] = err
}

// setFailTimes makes the next n applies of id fail with err.
func (b *recBuilder) setFailTimes(id string, n int, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fail[id] = err
	if b.failTimes == nil {
		b.failTimes = map[string]int{}
	}
	b.failTimes[id] = n
}

func (b *recBuilder) setFailGlobal(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failGlobal = err
}

// appliesOf returns every Apply call for id, in order.
func (b *recBuilder) appliesOf(id string) []channel.Spec {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []channel.Spec
	for _, s := range b.applies {
		if s.ID == id {
			out = append(out, s)
		}
	}
	return out
}

func (b *recBuilder) removed(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Contains(b.removes, id)
}

// currentIDs returns the channels successfully applied and not removed.
func (b *recBuilder) currentIDs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Sorted(maps.Keys(b.current))
}

func (b *recBuilder) globalCalls() []map[string][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.globals)
}

// recDeliverer is a Deliverer that records the last Sync.
type recDeliverer struct {
	mu     sync.Mutex
	calls  int
	now    time.Time
	last   map[string][]*alert.Incarnation // as received
	copied map[string][]alert.Incarnation  // copied when received
	onSync func(map[string][]*alert.Incarnation)
}

func (d *recDeliverer) Sync(now time.Time, byChannel map[string][]*alert.Incarnation) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	d.now = now
	d.last = byChannel
	d.copied = make(map[string][]alert.Incarnation, len(byChannel))
	for id, incs := range byChannel {
		for _, inc := range incs {
			c := *inc
			c.Labels = inc.Labels.Clone()
			d.copied[id] = append(d.copied[id], c)
		}
	}
	if d.onSync != nil {
		d.onSync(byChannel)
	}
}

func (d *recDeliverer) syncCalls() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls
}

// routes returns, for every channel of the last Sync, the sorted
// "alertname@tenant" of what it received.
func (d *recDeliverer) routes() map[string][]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return routesOf(d.copied)
}

func routesOf(byChannel map[string][]alert.Incarnation) map[string][]string {
	out := map[string][]string{}
	for id, incs := range byChannel {
		for _, inc := range incs {
			out[id] = append(out[id], fmt.Sprintf("%s@%s", inc.Labels[model.AlertNameLabel], inc.Tenant))
		}
		sort.Strings(out[id])
	}
	return out
}

// recReporter is a Reporter that records every report.
type recReporter struct {
	mu      sync.Mutex
	reports []report
}

type report struct {
	secret  string
	warning bool
	reason  string
	message string
}

func (r *recReporter) Report(s Object, warning bool, reason, message string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, report{s.GetNamespace() + "/" + s.GetName(), warning, reason, message})
}

// find returns the reports about a Secret with a reason.
func (r *recReporter) find(secret, reason string) []report {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []report
	for _, rep := range r.reports {
		if rep.secret == secret && rep.reason == reason {
			out = append(out, rep)
		}
	}
	return out
}

func (r *recReporter) all() []report {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reports)
}

// eventually is testutil.Eventually with the package's timeout, 5s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, what, cond)
}

type secretOpt func(*corev1.Secret)

func withLabels(kv ...string) secretOpt {
	return func(s *corev1.Secret) {
		if s.Labels == nil {
			s.Labels = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			s.Labels[kv[i]] = kv[i+1]
		}
	}
}

func withAnnotations(kv ...string) secretOpt {
	return func(s *corev1.Secret) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			s.Annotations[kv[i]] = kv[i+1]
		}
	}
}

func withData(kv ...string) secretOpt {
	return func(s *corev1.Secret) {
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			s.Data[kv[i]] = []byte(kv[i+1])
		}
	}
}

func withStringData(kv ...string) secretOpt {
	return func(s *corev1.Secret) {
		if s.StringData == nil {
			s.StringData = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			s.StringData[kv[i]] = kv[i+1]
		}
	}
}

func newSecret(ns, name string, opts ...secretOpt) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// newChannel returns a channel Secret (labelled LabelChannel) with a
// webhook configuration.
func newChannel(ns, name string, opts ...secretOpt) *corev1.Secret {
	opts = append([]secretOpt{withLabels(LabelChannel, ""), withData("type", "webhook", "url", "http://sink.example/"+ns+"/"+name)}, opts...)
	return newSecret(ns, name, opts...)
}

func newNamespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func inc(id uint64, kv ...string) alert.Incarnation {
	ls := model.LabelSet{}
	for i := 0; i+1 < len(kv); i += 2 {
		ls[model.LabelName(kv[i])] = model.LabelValue(kv[i+1])
	}
	return alert.Incarnation{
		Alert: alert.Alert{
			Fingerprint: fmt.Sprintf("%016x", uint64(ls.Fingerprint())),
			Labels:      ls,
			StartsAt:    time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		},
		ID:     id,
		Status: alert.Firing,
	}
}

// parseObjects reads the Namespaces, Secrets and ConfigMaps of a manifest
// for Check (the sidecar reads files with package objectfiles, which
// imports this one).
func parseObjects(t *testing.T, raw, defaultNamespace string) Objects {
	t.Helper()
	var out Objects
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(raw), 4096)
	for {
		var doc json.RawMessage
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		var meta metav1.TypeMeta
		if err := json.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		var obj any
		switch meta.Kind {
		case "Namespace":
			ns := &corev1.Namespace{}
			out.Namespaces, obj = append(out.Namespaces, ns), ns
		case "Secret":
			s := &corev1.Secret{}
			out.Secrets, obj = append(out.Secrets, s), s
		case "ConfigMap":
			cm := &corev1.ConfigMap{}
			out.ConfigMaps, obj = append(out.ConfigMaps, cm), cm
		default:
			t.Fatalf("kind %q in a test manifest", meta.Kind)
		}
		if err := json.Unmarshal(doc, obj); err != nil {
			t.Fatal(err)
		}
		if m := obj.(metav1.Object); m.GetNamespace() == "" && meta.Kind != "Namespace" {
			m.SetNamespace(defaultNamespace)
		}
	}
}

// fakeCore is a fake clientset's core client as CoreListerWatchers needs
// it: saying, as the clientset does, that it has no streaming lists.
type fakeCore struct{ corev1client.CoreV1Interface }

func (fakeCore) IsWatchListSemanticsUnSupported() bool { return true }

// fresh makes incs the values a poll hands the router: new, for the
// router to fill their tenants in.
func fresh(incs []alert.Incarnation) []*alert.Incarnation {
	out := make([]*alert.Incarnation, len(incs))
	for i := range incs {
		c := incs[i]
		c.Unrouted = true
		out[i] = &c
	}
	return out
}
