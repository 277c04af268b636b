package tenancy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"

	"github.com/amtenant/amtenant/alert"
)

// ctrlEnv is a Controller on a fake clientset with recording fakes.
type ctrlEnv struct {
	client *fake.Clientset
	inf    Informers
	ctrl   *Controller
	b      *recBuilder
	d      *recDeliverer
	rep    *recReporter
	done   chan error

	barriers atomic.Int32
}

// newCtrlEnv builds the controller; start runs it.
func newCtrlEnv(t *testing.T, objs ...runtime.Object) *ctrlEnv {
	t.Helper()
	e := &ctrlEnv{
		client: fake.NewClientset(objs...),
		b:      newRecBuilder(),
		d:      &recDeliverer{},
		rep:    &recReporter{},
	}
	e.inf = NewInformers(CoreListerWatchers(fakeCore{e.client.CoreV1()}), testNamespace, true, 0)
	var err error
	e.ctrl, err = NewController(testConfig(), e.inf.Namespaces, e.inf.Secrets, e.inf.Globals, e.b, e.rep, slog.New(slog.DiscardHandler), e.d)
	if err != nil {
		t.Fatalf("NewController: %v", err)
	}
	return e
}

// start runs the informers and the controller until the test ends, and
// waits for HasSynced.
func (e *ctrlEnv) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	e.done = make(chan error, 1)
	e.inf.Run(ctx.Done())
	go func() { e.done <- e.ctrl.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-e.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Run did not return after its context was canceled")
		}
	})
	eventually(t, "HasSynced", e.ctrl.HasSynced)
	waitForWatches(t, e.client, 3)
}

// waitForWatches waits until n watches were opened on client. The fake
// clientset keeps no history: a change made after the informers listed
// but before they watch is replayed for objects that exist, but a
// deletion is lost. Its watch reactor runs under the lock that also
// guards Actions, so a recorded watch is an open one.
func waitForWatches(t *testing.T, client *fake.Clientset, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d watches", n), func() bool {
		watches := 0
		for _, a := range client.Actions() {
			if a.GetVerb() == "watch" {
				watches++
			}
		}
		return watches >= n
	})
}

// barrier creates a channel Secret that matches no alert and waits until
// it is applied: the Secrets informer and the work queue are FIFO, so
// every Secret change made before has been processed.
func (e *ctrlEnv) barrier(t *testing.T) {
	t.Helper()
	name := fmt.Sprintf("barrier-%d", e.barriers.Add(1))
	e.create(t, newChannel(testNamespace, name, withAnnotations(AnnotationMatch, `barrier="yes"`)))
	id := testNamespace + "/" + name
	eventually(t, id+" applied", func() bool { return len(e.b.appliesOf(id)) > 0 })
}

func (e *ctrlEnv) create(t *testing.T, s *corev1.Secret) {
	t.Helper()
	if _, err := e.client.CoreV1().Secrets(s.Namespace).Create(t.Context(), s, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Secret %s/%s: %v", s.Namespace, s.Name, err)
	}
}

// update changes a Secret as stored in the clientset.
func (e *ctrlEnv) update(t *testing.T, ns, name string, change func(*corev1.Secret)) {
	t.Helper()
	api := e.client.CoreV1().Secrets(ns)
	s, err := api.Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get Secret %s/%s: %v", ns, name, err)
	}
	change(s)
	if _, err := api.Update(t.Context(), s, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update Secret %s/%s: %v", ns, name, err)
	}
}

func (e *ctrlEnv) delete(t *testing.T, ns, name string) {
	t.Helper()
	if err := e.client.CoreV1().Secrets(ns).Delete(t.Context(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete Secret %s/%s: %v", ns, name, err)
	}
}

func (e *ctrlEnv) relabelNamespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	api := e.client.CoreV1().Namespaces()
	ns, err := api.Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get Namespace %s: %v", name, err)
	}
	ns.Labels = labels
	if _, err := api.Update(t.Context(), ns, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update Namespace %s: %v", name, err)
	}
}

func tenantLabel(t string) map[string]string { return map[string]string{LabelTenant: t} }

func TestControllerInitialSync(t *testing.T) {
	e := newCtrlEnv(t,
		newNamespace("team-a", tenantLabel("alpha")),
		newNamespace("team-b", nil),
		newChannel("team-a", "slack"),
		newChannel("team-b", "hook"),
		newChannel(testNamespace, "alpha", withLabels(LabelTenant, "alpha")),
		newChannel(testNamespace, "ops"),
		newSecret("team-a", "not-a-channel", withData("type", "webhook", "url", "http://x")),
		newSecret(testNamespace, "global", withLabels(LabelGlobal, ""), withData("global.yaml", "smtp_from: a@example.com")),
	)
	want := []string{"amtenant/alpha", "amtenant/ops", "team-a/slack", "team-b/hook"}

	// A poll observed before the controller runs is routed once every
	// channel is built, and not before.
	var (
		mu         sync.Mutex
		firstSync  map[string][]string
		appliedNow []string
		globalsNow int
	)
	e.d.onSync = func(byChannel map[string][]*alert.Incarnation) {
		mu.Lock()
		defer mu.Unlock()
		if firstSync != nil {
			return
		}
		firstSync = map[string][]string{}
		for id, incs := range byChannel {
			for _, i := range incs {
				firstSync[id] = append(firstSync[id], string(i.Labels[model.AlertNameLabel])+"@"+i.Tenant)
			}
		}
		appliedNow = e.b.currentIDs()
		globalsNow = len(e.b.globalCalls())
	}
	e.ctrl.router.Observe(time.Now(), fresh([]alert.Incarnation{
		inc(1, "alertname", "A", "namespace", "team-a"),
		inc(2, "alertname", "B", "namespace", "team-b"),
		inc(3, "alertname", "C"),
	}))
	if e.ctrl.HasSynced() {
		t.Fatal("HasSynced before Run")
	}
	if n := e.d.syncCalls(); n != 0 {
		t.Fatalf("Sync called %d times before Run", n)
	}
	e.start(t)

	if got := e.b.currentIDs(); !slices.Equal(got, want) {
		t.Errorf("applied channels = %q, want %q", got, want)
	}
	// HasSynced turns true just before the router starts: wait for it.
	eventually(t, "the first Sync", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return firstSync != nil
	})
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(appliedNow, want) {
		t.Errorf("at the first Sync, applied channels were %q, want all of %q", appliedNow, want)
	}
	if globalsNow == 0 {
		t.Errorf("first Sync came before SetGlobal")
	}
	wantRoutes := map[string][]string{
		"team-a/slack":   {"A@alpha"},
		"amtenant/alpha": {"A@alpha"},
		"team-b/hook":    {"B@team-b"},
		"amtenant/ops":   {"C@"},
	}
	for id, w := range wantRoutes {
		if !slices.Equal(firstSync[id], w) {
			t.Errorf("first Sync: %s received %q, want %q", id, firstSync[id], w)
		}
	}
	if len(firstSync) != len(wantRoutes) {
		t.Errorf("first Sync = %q, want %q", firstSync, wantRoutes)
	}

	globals := e.b.globalCalls()
	if len(globals) == 0 || string(globals[0]["global.yaml"]) != "smtp_from: a@example.com" {
		t.Errorf("first SetGlobal = %q, want the global Secret's data", globals)
	}
	if got := e.b.appliesOf("team-a/not-a-channel"); len(got) != 0 {
		t.Errorf("a Secret without %s was applied", LabelChannel)
	}
	// Specs carry the rules' verdict.
	for _, tt := range []struct {
		id      string
		trusted bool
	}{{"team-a/slack", false}, {"amtenant/alpha", true}, {"amtenant/ops", true}} {
		specs := e.b.appliesOf(tt.id)
		if len(specs) == 0 {
			t.Errorf("%s never applied", tt.id)
			continue
		}
		if specs[0].Trusted != tt.trusted {
			t.Errorf("%s: Trusted = %v, want %v", tt.id, specs[0].Trusted, tt.trusted)
		}
		if specs[0].ID != tt.id {
			t.Errorf("%s: spec ID %q", tt.id, specs[0].ID)
		}
	}

	// Every channel is reported ready once, even though the initial
	// Secrets are processed by Run and again from the queue.
	mu.Unlock() // the barrier makes the deliverer's hook run again
	defer mu.Lock()
	e.barrier(t)
	for _, id := range want {
		reps := e.rep.find(id, ReasonChannelReady)
		if len(reps) != 1 {
			t.Errorf("%s: %d ChannelReady reports, want 1: %v", id, len(reps), reps)
			continue
		}
		if reps[0].warning || !strings.Contains(reps[0].message, id) || !strings.Contains(reps[0].message, "webhook") {
			t.Errorf("%s: report %+v, want a normal report naming the channel and its type", id, reps[0])
		}
	}
}

func TestControllerSecretLifecycle(t *testing.T) {
	e := newCtrlEnv(t, newNamespace("team-a", nil))
	e.start(t)
	const id = "team-a/hook"

	e.create(t, newChannel("team-a", "hook", withData("url", "http://v1")))
	eventually(t, "create applied", func() bool {
		s := e.b.appliesOf(id)
		return len(s) > 0 && string(s[len(s)-1].Data["url"]) == "http://v1"
	})
	eventually(t, "ChannelReady", func() bool { return len(e.rep.find(id, ReasonChannelReady)) == 1 })
	if got := e.ctrl.router.ChannelsFor(model.LabelSet{"namespace": "team-a"}); !slices.Equal(got, []string{id}) {
		t.Errorf("ChannelsFor(team-a) = %q, want [%s]", got, id)
	}

	e.update(t, "team-a", "hook", func(s *corev1.Secret) {
		s.Data["url"] = []byte("http://v2")
		s.Annotations = map[string]string{AnnotationGroupWait: "1m"}
	})
	eventually(t, "update applied", func() bool {
		s := e.b.appliesOf(id)
		last := s[len(s)-1]
		return string(last.Data["url"]) == "http://v2" && last.Policy.GroupWait == time.Minute
	})

	e.delete(t, "team-a", "hook")
	eventually(t, "Remove", func() bool { return e.b.removed(id) })
	if got := e.ctrl.router.ChannelsFor(model.LabelSet{"namespace": "team-a"}); len(got) != 0 {
		t.Errorf("ChannelsFor(team-a) after delete = %q, want none", got)
	}

	// Re-created, it is reported ready again.
	e.create(t, newChannel("team-a", "hook", withData("url", "http://v1")))
	eventually(t, "ChannelReady again", func() bool { return len(e.rep.find(id, ReasonChannelReady)) == 2 })
}

func TestControllerChannelLabelRemoved(t *testing.T) {
	e := newCtrlEnv(t, newNamespace("team-a", nil), newChannel("team-a", "hook"))
	e.start(t)
	const id = "team-a/hook"
	if got := e.b.currentIDs(); !slices.Equal(got, []string{id}) {
		t.Fatalf("applied %q, want [%s]", got, id)
	}
	e.update(t, "team-a", "hook", func(s *corev1.Secret) { delete(s.Labels, LabelChannel) })
	eventually(t, "Remove", func() bool { return e.b.removed(id) })
	if got := e.ctrl.router.ChannelsFor(model.LabelSet{"namespace": "team-a"}); len(got) != 0 {
		t.Errorf("ChannelsFor(team-a) = %q, want none", got)
	}
}

func TestControllerIgnoresOtherSecrets(t *testing.T) {
	e := newCtrlEnv(t, newNamespace("team-a", nil))
	e.start(t)
	e.create(t, newSecret("team-a", "plain", withData("type", "webhook", "url", "http://x")))
	e.create(t, newSecret(testNamespace, "plain", withData("type", "webhook", "url", "http://x")))
	e.update(t, "team-a", "plain", func(s *corev1.Secret) { s.Labels = map[string]string{"app": "x"} })
	e.barrier(t)
	for _, id := range []string{"team-a/plain", "amtenant/plain"} {
		if got := e.b.appliesOf(id); len(got) != 0 {
			t.Errorf("%s has no %s label and was applied: %v", id, LabelChannel, got)
		}
	}
	for _, r := range e.rep.all() {
		if strings.HasSuffix(r.secret, "/plain") {
			t.Errorf("report about a non-channel Secret: %+v", r)
		}
	}
}

func TestControllerInvalidChannel(t *testing.T) {
	t.Run("bad annotation", func(t *testing.T) {
		const id = "team-a/bad"
		e := newCtrlEnv(t,
			newNamespace("team-a", nil),
			newChannel("team-a", "bad", withAnnotations(AnnotationRepeatInterval, "0s")),
			newChannel("team-a", "good"),
		)
		e.start(t)
		e.barrier(t)
		if got := e.b.appliesOf(id); len(got) != 0 {
			t.Errorf("invalid channel applied: %v", got)
		}
		if got := e.b.currentIDs(); !slices.Contains(got, "team-a/good") {
			t.Errorf("the valid channel next to an invalid one was not applied: %q", got)
		}
		reps := e.rep.find(id, ReasonInvalidChannel)
		if len(reps) != 1 {
			t.Fatalf("InvalidChannel reports = %v, want 1", reps)
		}
		if !reps[0].warning || !strings.Contains(reps[0].message, id) || !strings.Contains(reps[0].message, AnnotationRepeatInterval) {
			t.Errorf("report %+v, want a warning naming the channel and the annotation", reps[0])
		}
		if got := e.ctrl.router.ChannelsFor(model.LabelSet{"namespace": "team-a"}); !slices.Equal(got, []string{"team-a/good"}) {
			t.Errorf("ChannelsFor(team-a) = %q, want only team-a/good", got)
		}

		// Processed again, unchanged as far as its validity goes: no new
		// report.
		e.update(t, "team-a", "bad", func(s *corev1.Secret) { s.Labels["unrelated"] = "x" })
		e.barrier(t)
		if reps := e.rep.find(id, ReasonInvalidChannel); len(reps) != 1 {
			t.Errorf("after reprocessing: %d InvalidChannel reports, want still 1", len(reps))
		}

		// Fixed, it becomes ready.
		e.update(t, "team-a", "bad", func(s *corev1.Secret) { s.Annotations[AnnotationRepeatInterval] = "1h" })
		eventually(t, "fixed channel applied", func() bool { return len(e.b.appliesOf(id)) > 0 })
		eventually(t, "ChannelReady", func() bool { return len(e.rep.find(id, ReasonChannelReady)) == 1 })
		// And broken again, it is reported again.
		e.update(t, "team-a", "bad", func(s *corev1.Secret) { s.Annotations[AnnotationRepeatInterval] = "0s" })
		eventually(t, "second InvalidChannel", func() bool { return len(e.rep.find(id, ReasonInvalidChannel)) == 2 })
	})

	t.Run("builder error", func(t *testing.T) {
		const id = "team-a/broken"
		e := newCtrlEnv(t, newNamespace("team-a", nil), newChannel("team-a", "broken"))
		e.b.setFail(id, errors.New("webhook_configs[0]: missing url"))
		e.start(t)
		e.barrier(t)
		reps := e.rep.find(id, ReasonInvalidChannel)
		if len(reps) != 1 {
			t.Fatalf("InvalidChannel reports = %v, want 1", reps)
		}
		if !reps[0].warning || !strings.Contains(reps[0].message, id) || !strings.Contains(reps[0].message, "missing url") {
			t.Errorf("report %+v, want a warning naming the channel and the builder's error", reps[0])
		}
		if got := e.ctrl.router.ChannelsFor(model.LabelSet{"namespace": "team-a"}); len(got) != 0 {
			t.Errorf("ChannelsFor(team-a) = %q, want none: the channel was never built", got)
		}
		if got := e.rep.find(id, ReasonChannelReady); len(got) != 0 {
			t.Errorf("a channel the builder rejected was reported ready: %v", got)
		}
		e.update(t, "team-a", "broken", func(s *corev1.Secret) { s.Labels["unrelated"] = "x" })
		e.barrier(t)
		if reps := e.rep.find(id, ReasonInvalidChannel); len(reps) != 1 {
			t.Errorf("after reprocessing: %d InvalidChannel reports, want still 1", len(reps))
		}
	})

	t.Run("builder error after a good version", func(t *testing.T) {
		// The builder keeps the previous version delivering, so the
		// channel keeps its routing.
		const id = "team-a/flaky"
		e := newCtrlEnv(t, newNamespace("team-a", nil), newChannel("team-a", "flaky"))
		e.start(t)
		e.b.setFail(id, errors.New("boom"))
		e.update(t, "team-a", "flaky", func(s *corev1.Secret) { s.Data["url"] = []byte("http://v2") })
		eventually(t, "InvalidChannel", func() bool { return len(e.rep.find(id, ReasonInvalidChannel)) == 1 })
		if got := e.ctrl.router.ChannelsFor(model.LabelSet{"namespace": "team-a"}); !slices.Equal(got, []string{id}) {
			t.Errorf("ChannelsFor(team-a) = %q, want the previous version kept", got)
		}
		if e.b.removed(id) {
			t.Errorf("an invalid update removed the working channel")
		}
		// Deleting it removes it all the same.
		e.delete(t, "team-a", "flaky")
		eventually(t, "Remove", func() bool { return e.b.removed(id) })
		if got := e.ctrl.router.ChannelsFor(model.LabelSet{"namespace": "team-a"}); len(got) != 0 {
			t.Errorf("ChannelsFor(team-a) after delete = %q", got)
		}
	})

	t.Run("invalid admin labels", func(t *testing.T) {
		const id = "amtenant/both"
		e := newCtrlEnv(t, newChannel(testNamespace, "both", withLabels(LabelTenant, "x", LabelScope, ScopeAll)))
		e.start(t)
		reps := e.rep.find(id, ReasonInvalidChannel)
		if len(reps) != 1 || !reps[0].warning {
			t.Fatalf("InvalidChannel reports = %v, want 1 warning", reps)
		}
		if got := e.b.appliesOf(id); len(got) != 0 {
			t.Errorf("invalid channel applied")
		}
	})
}

func TestControllerTenantClaim(t *testing.T) {
	const id = "team-a/claim"
	e := newCtrlEnv(t,
		newNamespace("team-a", tenantLabel("alpha")),
		newNamespace("team-b", tenantLabel("beta")),
		newChannel("team-a", "claim", withLabels(LabelTenant, "beta")),
		newChannel("team-a", "honest", withLabels(LabelTenant, "alpha")),
	)
	e.start(t)
	e.barrier(t)
	reps := e.rep.find(id, ReasonTenantClaimIgnored)
	if len(reps) != 1 {
		t.Fatalf("TenantClaimIgnored reports = %v, want 1", reps)
	}
	if !reps[0].warning || !strings.Contains(reps[0].message, `"beta"`) {
		t.Errorf("report %+v, want a warning naming the claimed tenant", reps[0])
	}
	if got := e.rep.find("team-a/honest", ReasonTenantClaimIgnored); len(got) != 0 {
		t.Errorf("a channel naming its own tenant was reported: %v", got)
	}
	// The channel still works, for its own tenant only.
	if got := e.rep.find(id, ReasonChannelReady); len(got) != 1 {
		t.Errorf("ChannelReady reports = %v, want 1", got)
	}
	if got := e.ctrl.router.ChannelsFor(model.LabelSet{"namespace": "team-b"}); len(got) != 0 {
		t.Errorf("ChannelsFor(team-b) = %q: a claim was honoured", got)
	}
	if got := e.ctrl.router.ChannelsFor(model.LabelSet{"namespace": "team-a"}); !slices.Equal(got, []string{"team-a/claim", "team-a/honest"}) {
		t.Errorf("ChannelsFor(team-a) = %q", got)
	}
	// Dropping the claim and claiming again reports again.
	e.update(t, "team-a", "claim", func(s *corev1.Secret) { delete(s.Labels, LabelTenant) })
	e.barrier(t)
	e.update(t, "team-a", "claim", func(s *corev1.Secret) { s.Labels[LabelTenant] = "beta" })
	eventually(t, "second TenantClaimIgnored", func() bool { return len(e.rep.find(id, ReasonTenantClaimIgnored)) == 2 })
}

func TestControllerChannelOfMissingNamespace(t *testing.T) {
	const id = "later/hook"
	e := newCtrlEnv(t, newChannel("later", "hook"))
	e.start(t)
	reps := e.rep.find(id, ReasonChannelReady)
	if len(reps) != 1 || !strings.Contains(reps[0].message, "does not exist") {
		t.Fatalf("ChannelReady reports = %v, want one saying the namespace does not exist", reps)
	}
	if got := e.ctrl.router.ChannelsFor(model.LabelSet{"namespace": "later"}); len(got) != 0 {
		t.Errorf("ChannelsFor(later) = %q before the namespace exists", got)
	}
	if _, err := e.client.CoreV1().Namespaces().Create(t.Context(), newNamespace("later", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ChannelReady without the warning", func() bool {
		reps := e.rep.find(id, ReasonChannelReady)
		return len(reps) == 2 && !strings.Contains(reps[1].message, "does not exist")
	})
	if got := e.ctrl.router.ChannelsFor(model.LabelSet{"namespace": "later"}); !slices.Equal(got, []string{id}) {
		t.Errorf("ChannelsFor(later) = %q, want [%s]", got, id)
	}
}

func TestControllerGlobal(t *testing.T) {
	global := func(ns, name, yaml string) *corev1.Secret {
		return newSecret(ns, name, withLabels(LabelGlobal, ""), withData("global.yaml", yaml))
	}
	lastGlobal := func(e *ctrlEnv) (map[string][]byte, bool) {
		g := e.b.globalCalls()
		if len(g) == 0 {
			return nil, false
		}
		return g[len(g)-1], true
	}

	t.Run("set, updated, deleted", func(t *testing.T) {
		e := newCtrlEnv(t,
			global(testNamespace, "global", "smtp_from: v1@example.com"),
			newChannel(testNamespace, "ops"),
		)
		e.start(t)
		if g, _ := lastGlobal(e); string(g["global.yaml"]) != "smtp_from: v1@example.com" {
			t.Fatalf("SetGlobal got %q, want the global Secret's data", g)
		}
		if reps := e.rep.find("amtenant/global", ReasonChannelReady); len(reps) != 1 || reps[0].warning {
			t.Errorf("global reports = %v, want one normal ChannelReady", reps)
		}
		e.barrier(t)
		before := len(e.b.appliesOf("amtenant/ops"))

		e.update(t, testNamespace, "global", func(s *corev1.Secret) {
			s.Data["global.yaml"] = []byte("smtp_from: v2@example.com")
		})
		eventually(t, "SetGlobal v2", func() bool {
			g, _ := lastGlobal(e)
			return string(g["global.yaml"]) == "smtp_from: v2@example.com"
		})
		// Channels inherit from the global Secret: they are built again.
		eventually(t, "channels re-applied", func() bool { return len(e.b.appliesOf("amtenant/ops")) > before })

		e.delete(t, testNamespace, "global")
		eventually(t, "SetGlobal(nil)", func() bool {
			g, ok := lastGlobal(e)
			return ok && g == nil
		})
	})

	t.Run("not a global in another namespace", func(t *testing.T) {
		e := newCtrlEnv(t,
			newNamespace("team-a", nil),
			global("team-a", "global", "smtp_from: tenant@example.com"),
		)
		e.start(t)
		e.create(t, global("team-a", "global2", "smtp_from: tenant2@example.com"))
		e.barrier(t)
		for _, g := range e.b.globalCalls() {
			if g != nil {
				t.Errorf("SetGlobal(%q): a tenant's Secret was used as the global one", g)
			}
		}
	})

	t.Run("controller checks the namespace itself", func(t *testing.T) {
		// Even with a globals informer that sees every namespace, a
		// tenant's Secret labelled global is not used.
		client := fake.NewClientset(
			newNamespace("team-a", nil),
			global("team-a", "aaa-global", "smtp_from: tenant@example.com"),
			global(testNamespace, "zzz-global", "smtp_from: admin@example.com"),
		)
		inf := NewInformers(CoreListerWatchers(fakeCore{client.CoreV1()}), testNamespace, true, 0)
		inf.Globals = coreinformers.NewFilteredSecretInformer(client, metav1.NamespaceAll, 0, cache.Indexers{},
			func(o *metav1.ListOptions) { o.LabelSelector = LabelGlobal })
		b := newRecBuilder()
		c, err := NewController(testConfig(), inf.Namespaces, inf.Secrets, inf.Globals, b, &recReporter{}, slog.New(slog.DiscardHandler), &recDeliverer{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		inf.Run(ctx.Done())
		go func() { done <- c.Run(ctx) }()
		defer func() { cancel(); <-done }()
		eventually(t, "HasSynced", c.HasSynced)
		g := b.globalCalls()
		if len(g) == 0 || string(g[0]["global.yaml"]) != "smtp_from: admin@example.com" {
			t.Errorf("SetGlobal calls = %q, want the admin's global Secret", g)
		}
	})

	t.Run("two globals", func(t *testing.T) {
		e := newCtrlEnv(t,
			global(testNamespace, "b-global", "smtp_from: b@example.com"),
			global(testNamespace, "a-global", "smtp_from: a@example.com"),
		)
		e.start(t)
		if g, _ := lastGlobal(e); string(g["global.yaml"]) != "smtp_from: a@example.com" {
			t.Errorf("SetGlobal got %q, want the first by name, a-global", g)
		}
		reps := e.rep.find("amtenant/b-global", ReasonInvalidGlobal)
		if len(reps) != 1 || !reps[0].warning || !strings.Contains(reps[0].message, "a-global") {
			t.Errorf("b-global reports = %v, want one warning naming a-global", reps)
		}
		if reps := e.rep.find("amtenant/a-global", ReasonInvalidGlobal); len(reps) != 0 {
			t.Errorf("a-global reported invalid: %v", reps)
		}
		// The first one deleted, the other takes over.
		e.delete(t, testNamespace, "a-global")
		eventually(t, "SetGlobal b", func() bool {
			g, _ := lastGlobal(e)
			return string(g["global.yaml"]) == "smtp_from: b@example.com"
		})
	})

	t.Run("rejected by the builder", func(t *testing.T) {
		e := newCtrlEnv(t, global(testNamespace, "global", "smtp_from: [oops"))
		e.b.setFailGlobal(errors.New("global.yaml: yaml: did not find expected node content"))
		e.start(t)
		reps := e.rep.find("amtenant/global", ReasonInvalidGlobal)
		if len(reps) != 1 || !reps[0].warning || !strings.Contains(reps[0].message, "did not find expected") {
			t.Errorf("reports = %v, want one InvalidGlobal warning with the builder's error", reps)
		}
	})
}

// HasSynced says that the initial channels were built; the router starts
// right after. The first routing pass should be done by the time
// HasSynced is true, so that a caller seeing it true (a readiness check,
// a test) can rely on routing having started.
func TestControllerHasSyncedAfterSetReady(t *testing.T) {
	e := newCtrlEnv(t, newChannel(testNamespace, "ops"))
	var syncedDuringFirstSync atomic.Value
	e.d.onSync = func(map[string][]*alert.Incarnation) {
		if syncedDuringFirstSync.Load() == nil {
			syncedDuringFirstSync.Store(e.ctrl.HasSynced())
		}
	}
	// Routed by SetReady, inside Run.
	e.ctrl.router.Observe(time.Now(), fresh([]alert.Incarnation{inc(1, "alertname", "A")}))
	e.start(t)
	eventually(t, "the first Sync", func() bool { return syncedDuringFirstSync.Load() != nil })
	if syncedDuringFirstSync.Load().(bool) {
		t.Errorf("HasSynced was already true during the initial routing pass (SetReady)")
	}
}

// The report deduplication is keyed by Secret name and outlives the
// Secret: a global Secret deleted and created again with the same content
// gets no report, although it is a new object whose Events start empty.
func TestControllerGlobalRecreatedIsReported(t *testing.T) {
	g := newSecret(testNamespace, "global", withLabels(LabelGlobal, ""), withData("global.yaml", "smtp_from: a@example.com"))
	e := newCtrlEnv(t, g)
	e.start(t)
	if reps := e.rep.find("amtenant/global", ReasonChannelReady); len(reps) != 1 {
		t.Fatalf("reports = %v, want 1", reps)
	}
	e.delete(t, testNamespace, "global")
	eventually(t, "SetGlobal(nil)", func() bool {
		calls := e.b.globalCalls()
		return calls[len(calls)-1] == nil
	})
	e.create(t, g.DeepCopy())
	eventually(t, "global reported again", func() bool { return len(e.rep.find("amtenant/global", ReasonChannelReady)) == 2 })
}

func TestControllerNamespaceRelabel(t *testing.T) {
	e := newCtrlEnv(t,
		newNamespace("team-x", tenantLabel("alpha")),
		newNamespace("team-b", tenantLabel("beta")),
		newChannel(testNamespace, "alpha", withLabels(LabelTenant, "alpha")),
		newChannel(testNamespace, "beta", withLabels(LabelTenant, "beta")),
		newChannel("team-b", "hook"),
		// Names alpha: right until team-x moves to beta.
		newChannel("team-x", "hook", withLabels(LabelTenant, "alpha")),
	)
	e.start(t)
	e.ctrl.router.Observe(time.Now(), fresh([]alert.Incarnation{inc(1, "alertname", "X", "namespace", "team-x")}))
	want := map[string][]string{"amtenant/alpha": {"X@alpha"}, "team-x/hook": {"X@alpha"}}
	if got := e.d.routes(); !equalRoutes(got, want) {
		t.Fatalf("before relabelling: routes %q, want %q", got, want)
	}
	if got := e.rep.find("team-x/hook", ReasonTenantClaimIgnored); len(got) != 0 {
		t.Fatalf("claim reported before relabelling: %v", got)
	}

	e.relabelNamespace(t, "team-x", tenantLabel("beta"))
	eventually(t, "TenantOf(team-x) = beta", func() bool {
		tenant, ok := e.ctrl.TenantOf("team-x")
		return ok && tenant == "beta"
	})
	want = map[string][]string{"amtenant/beta": {"X@beta"}, "team-b/hook": {"X@beta"}, "team-x/hook": {"X@beta"}}
	eventually(t, "alert rerouted to beta", func() bool { return equalRoutes(e.d.routes(), want) })
	// team-x/hook's label now claims another tenant.
	eventually(t, "claim reported", func() bool { return len(e.rep.find("team-x/hook", ReasonTenantClaimIgnored)) == 1 })

	// Dropping the label makes team-x its own tenant.
	e.relabelNamespace(t, "team-x", map[string]string{"other": "label"})
	want = map[string][]string{"team-x/hook": {"X@team-x"}}
	eventually(t, "alert rerouted to team-x", func() bool { return equalRoutes(e.d.routes(), want) })

	// Deleting the namespace makes its alerts cluster alerts.
	if err := e.client.CoreV1().Namespaces().Delete(t.Context(), "team-x", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "TenantOf(team-x) not ok", func() bool { _, ok := e.ctrl.TenantOf("team-x"); return !ok })
	eventually(t, "alert routed to nobody", func() bool { return equalRoutes(e.d.routes(), map[string][]string{}) })
}

func equalRoutes(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestControllerTenantOf(t *testing.T) {
	e := newCtrlEnv(t,
		newNamespace("labelled", tenantLabel("alpha")),
		newNamespace("unlabelled", nil),
		newNamespace("other-labels", map[string]string{"team": "x"}),
		newNamespace("empty-label", tenantLabel("")),
		newNamespace("long-label", tenantLabel(strings.Repeat("t", 63))),
	)
	e.start(t)
	tests := []struct {
		ns     string
		tenant string
		ok     bool
	}{
		{"labelled", "alpha", true},
		{"unlabelled", "unlabelled", true},
		{"other-labels", "other-labels", true},
		{"empty-label", "empty-label", true},
		{"long-label", strings.Repeat("t", 63), true}, // at the label-value limit
		{"missing", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.ns, func(t *testing.T) {
			tenant, ok := e.ctrl.TenantOf(tt.ns)
			if tenant != tt.tenant || ok != tt.ok {
				t.Errorf("TenantOf(%q) = %q, %v; want %q, %v", tt.ns, tenant, ok, tt.tenant, tt.ok)
			}
		})
	}
}

func TestControllerTenantLabelFromConfig(t *testing.T) {
	client := fake.NewClientset(newNamespace("team-a", map[string]string{"example.com/team": "alpha", LabelTenant: "ignored"}))
	inf := NewInformers(CoreListerWatchers(fakeCore{client.CoreV1()}), testNamespace, true, 0)
	cfg := testConfig()
	cfg.NamespaceTenantLabel = "example.com/team"
	c, err := NewController(cfg, inf.Namespaces, inf.Secrets, inf.Globals, newRecBuilder(), &recReporter{}, slog.New(slog.DiscardHandler), &recDeliverer{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	inf.Run(ctx.Done())
	eventually(t, "namespaces synced", inf.Namespaces.HasSynced)
	if tenant, ok := c.TenantOf("team-a"); tenant != "alpha" || !ok {
		t.Errorf("TenantOf(team-a) = %q, %v; want alpha, true", tenant, ok)
	}
}

func TestControllerRunCanceledBeforeSync(t *testing.T) {
	e := newCtrlEnv(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	// The informers were never started: the caches never sync.
	err := e.ctrl.Run(ctx)
	if err == nil || !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want an error wrapping context.Canceled", err)
	}
	if e.ctrl.HasSynced() {
		t.Errorf("HasSynced after a canceled Run")
	}
}

func TestLabelsChanged(t *testing.T) {
	ns := func(l map[string]string) *corev1.Namespace { return newNamespace("n", l) }
	tests := []struct {
		name     string
		old, cur any
		want     bool
	}{
		{"same", ns(map[string]string{"a": "1"}), ns(map[string]string{"a": "1"}), false},
		{"nil and empty", ns(nil), ns(map[string]string{}), false},
		{"value changed", ns(map[string]string{"a": "1"}), ns(map[string]string{"a": "2"}), true},
		{"added", ns(nil), ns(map[string]string{"a": "1"}), true},
		{"removed", ns(map[string]string{"a": "1"}), ns(nil), true},
		{"renamed", ns(map[string]string{"a": "1"}), ns(map[string]string{"b": "1"}), true},
		{"not an object", "x", ns(nil), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := labelsChanged(tt.old, tt.cur); got != tt.want {
				t.Errorf("labelsChanged = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLogReporter(t *testing.T) {
	var buf bytes.Buffer
	r := LogReporter{Log: slog.New(slog.NewTextHandler(&buf, nil))}
	s := newSecret("team-a", "hook")
	r.Report(s, true, ReasonInvalidChannel, "team-a/hook: bad")
	r.Report(s, false, ReasonChannelReady, "team-a/hook is ready")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("logged %q, want 2 lines", buf.String())
	}
	for i, want := range []string{"level=WARN", "level=INFO"} {
		if !strings.Contains(lines[i], want) || !strings.Contains(lines[i], "secret=team-a/hook") {
			t.Errorf("line %d = %q, want %s and the Secret", i, lines[i], want)
		}
	}
	if !strings.Contains(lines[0], "reason="+ReasonInvalidChannel) {
		t.Errorf("line 0 = %q, want the reason", lines[0])
	}
}

// An unlabelled namespace whose name other namespaces give as their tenant
// is that tenant too: reported on the namespace, once, and no longer once
// it is labelled to confirm or the others move.
func TestControllerReportsSharedTenantName(t *testing.T) {
	e := newCtrlEnv(t,
		newNamespace("alpha", nil),
		newNamespace("team-a", tenantLabel("alpha")),
		newNamespace("team-b", nil),
	)
	e.start(t)
	eventually(t, "TenantNameShared on alpha", func() bool { return len(e.rep.find("/alpha", ReasonTenantNameShared)) == 1 })
	r := e.rep.find("/alpha", ReasonTenantNameShared)[0]
	if !r.warning || !strings.Contains(r.message, "namespaces team-a are labelled amtenant.io/tenant=alpha") {
		t.Errorf("report: %+v", r)
	}
	if n := len(e.rep.find("/team-b", ReasonTenantNameShared)); n != 0 {
		t.Errorf("team-b reported %d times; nobody shares its name", n)
	}
	// Confirmed by labelling alpha with its own name: no further report.
	e.relabelNamespace(t, "alpha", tenantLabel("alpha"))
	e.relabelNamespace(t, "team-b", tenantLabel("alpha")) // another joins, knowingly
	e.barrier(t)
	if n := len(e.rep.find("/alpha", ReasonTenantNameShared)); n != 1 {
		t.Errorf("reported %d times after the confirmation, want the first report only", n)
	}
}

// Delivery health is reported on the channel's Secret; a channel whose
// Secret is gone is not reported on.
func TestControllerDeliveryHealth(t *testing.T) {
	e := newCtrlEnv(t, newNamespace("team-a", nil), newChannel("team-a", "slack"))
	e.start(t)
	eventually(t, "synced", e.ctrl.HasSynced)
	e.ctrl.DeliveryHealth("team-a/slack", true, "DeliveryFailing", "slack[0]: serverError: unexpected status code 500")
	e.ctrl.DeliveryHealth("team-a/gone", true, "DeliveryFailing", "x")
	if r := e.rep.find("team-a/slack", "DeliveryFailing"); len(r) != 1 || !r[0].warning || !strings.Contains(r[0].message, "500") {
		t.Errorf("reports on the Secret: %+v", r)
	}
	if r := e.rep.find("team-a/gone", "DeliveryFailing"); len(r) != 0 {
		t.Errorf("reported on a missing Secret: %+v", r)
	}
}
