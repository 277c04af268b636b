package objectfiles

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/watchlist"

	"github.com/amtenant/amtenant/internal/testutil"
)

func feedSecret(ns, name string, labels map[string]string, url string) (objectKey, *corev1.Secret) {
	return objectKey{"Secret", ns, name}, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Data:       map[string][]byte{"url": []byte(url)},
	}
}

func names(t *testing.T, obj any) []string {
	t.Helper()
	var out []string
	switch l := obj.(type) {
	case *corev1.SecretList:
		for _, s := range l.Items {
			out = append(out, s.Namespace+"/"+s.Name)
		}
	case *corev1.NamespaceList:
		for _, n := range l.Items {
			out = append(out, n.Name)
		}
	default:
		t.Fatalf("list of %T", obj)
	}
	return out
}

// next reads the watch's next event, which must already be there.
func next(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("the watch ended")
		}
		return ev
	default:
		t.Fatal("no event")
		return watch.Event{}
	}
}

func none(t *testing.T, w watch.Interface) {
	t.Helper()
	select {
	case ev := <-w.ResultChan():
		t.Fatalf("unexpected event %s %v", ev.Type, ev.Object)
	default:
	}
}

func TestFeedListsBySelectorAndNamespace(t *testing.T) {
	f := NewFeed()
	for _, s := range []struct {
		ns, name string
		labels   map[string]string
	}{
		{"team-a", "hook", map[string]string{"amtenant.io/channel": ""}},
		{"team-b", "hook", map[string]string{"amtenant.io/channel": ""}},
		{"team-a", "other", nil},
	} {
		f.set(feedSecret(s.ns, s.name, s.labels, "http://x"))
	}
	f.set(objectKey{"Namespace", "", "team-a"}, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}})
	for _, tt := range []struct {
		resource, ns, sel string
		want              []string
	}{
		{"secrets", "", "amtenant.io/channel", []string{"team-a/hook", "team-b/hook"}},
		{"secrets", "team-a", "amtenant.io/channel", []string{"team-a/hook"}},
		{"secrets", "team-a", "", []string{"team-a/hook", "team-a/other"}},
		{"namespaces", "", "", []string{"team-a"}},
	} {
		obj, err := f.ListerWatcher(tt.resource, tt.ns, tt.sel).List(metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := names(t, obj)
		if !slices.Equal(slices.Sorted(slices.Values(got)), tt.want) {
			t.Errorf("%s in %q with %q: %v, want %v", tt.resource, tt.ns, tt.sel, got, tt.want)
		}
		if rv := obj.(metav1.ListInterface).GetResourceVersion(); rv != "4" {
			t.Errorf("list resource version %q, want 4", rv)
		}
	}
	if _, err := f.ListerWatcher("secrets", "", "a in (").List(metav1.ListOptions{}); err == nil {
		t.Error("a bad selector listed")
	}
	if !watchlist.DoesClientNotSupportWatchListSemantics(f.ListerWatcher("secrets", "", "")) {
		t.Error("the reflector would ask the feed for a streaming list")
	}
}

// A watch sees what its selector sees: an object whose labels change
// enters it as an addition and leaves it as a deletion; changes made
// between a list and its watch are replayed.
func TestFeedWatch(t *testing.T) {
	f := NewFeed()
	lw := f.ListerWatcher("secrets", "", "amtenant.io/channel")
	on := map[string]string{"amtenant.io/channel": ""}
	f.set(feedSecret("team-a", "hook", on, "http://1"))
	obj, err := lw.List(metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rv := obj.(metav1.ListInterface).GetResourceVersion()
	// Between the list and the watch.
	f.set(feedSecret("team-a", "hook", on, "http://2"))
	w, err := lw.Watch(metav1.ListOptions{ResourceVersion: rv})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if ev := next(t, w); ev.Type != watch.Modified || string(ev.Object.(*corev1.Secret).Data["url"]) != "http://2" {
		t.Errorf("replayed %s %v, want the modification to http://2", ev.Type, ev.Object)
	}
	none(t, w)

	f.set(feedSecret("team-a", "plain", nil, "http://p"))
	none(t, w) // not selected
	f.set(feedSecret("team-a", "plain", on, "http://p"))
	if ev := next(t, w); ev.Type != watch.Added || ev.Object.(*corev1.Secret).Name != "plain" {
		t.Errorf("labelled: %s %v, want Added plain", ev.Type, ev.Object)
	}
	f.set(feedSecret("team-a", "plain", nil, "http://p"))
	if ev := next(t, w); ev.Type != watch.Deleted || ev.Object.(*corev1.Secret).Name != "plain" {
		t.Errorf("unlabelled: %s %v, want Deleted plain", ev.Type, ev.Object)
	}
	f.delete(objectKey{"Secret", "team-a", "hook"})
	if ev := next(t, w); ev.Type != watch.Deleted || ev.Object.(*corev1.Secret).Name != "hook" {
		t.Errorf("deleted: %s %v, want Deleted hook", ev.Type, ev.Object)
	}
	f.delete(objectKey{"Secret", "team-a", "hook"}) // gone already: nothing
	none(t, w)

	// The events are copies: changing one changes nothing stored.
	f.set(feedSecret("team-a", "hook", on, "http://3"))
	next(t, w).Object.(*corev1.Secret).Data["url"] = []byte("changed")
	if got := f.get(objectKey{"Secret", "team-a", "hook"}).(*corev1.Secret).Data["url"]; string(got) != "http://3" {
		t.Errorf("stored url %q after a reader changed its event", got)
	}
}

// A watch from a resource version older than the history is refused as
// expired (the reflector lists again); a watch that falls behind its
// buffer is ended, not waited for.
func TestFeedWatchBounds(t *testing.T) {
	f := NewFeed()
	on := map[string]string{"amtenant.io/channel": ""}
	for i := range historySize + 10 {
		f.set(feedSecret("team-a", fmt.Sprintf("s%d", i), on, "http://x"))
	}
	lw := f.ListerWatcher("secrets", "", "")
	if _, err := lw.Watch(metav1.ListOptions{ResourceVersion: "1"}); !apierrors.IsResourceExpired(err) {
		t.Errorf("watch from an expired version: %v, want ResourceExpired", err)
	}
	if _, err := lw.Watch(metav1.ListOptions{ResourceVersion: "x"}); err == nil {
		t.Error("watch from a malformed version: no error")
	}
	w, err := lw.Watch(metav1.ListOptions{ResourceVersion: fmt.Sprint(historySize + 10)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range watchBuffer + 1 {
		f.set(feedSecret("team-a", fmt.Sprintf("s%d", i), on, "http://y"))
	}
	n := 0
	for range w.ResultChan() {
		n++
	}
	if n != watchBuffer {
		t.Errorf("read %d events before the end, want the %d buffered", n, watchBuffer)
	}
	f.mu.Lock()
	left := len(f.watches)
	f.mu.Unlock()
	if left != 0 {
		t.Errorf("%d watches still registered after the slow one ended", left)
	}
	w.Stop() // stopping an ended watch is harmless
}

// A reader that resumes from the last event of a watch that was ended for
// falling behind (as client-go's reflector does) catches up: a deletion
// carries its own change's resource version, never the deleted object's
// older one, so the resume point only moves forward.
func TestFeedResumeMovesForward(t *testing.T) {
	f := NewFeed()
	on := map[string]string{"amtenant.io/channel": ""}
	for i := range 300 {
		f.set(feedSecret("a", fmt.Sprint(i), on, "x"))
	}
	for i := range 300 {
		f.delete(objectKey{"Secret", "a", fmt.Sprint(i)})
	}
	lw := f.ListerWatcher("secrets", "", "")
	rv := "300" // listed before the deletions
	for n := range 10 {
		w, err := lw.Watch(metav1.ListOptions{ResourceVersion: rv})
		if err != nil {
			t.Fatalf("watch %d from %s: %v", n, rv, err)
		}
		last, _ := strconv.Atoi(rv)
	read:
		for {
			select {
			case ev, ok := <-w.ResultChan():
				if !ok {
					break read
				}
				m, _ := meta.Accessor(ev.Object)
				v, _ := strconv.Atoi(m.GetResourceVersion())
				if v <= last {
					t.Fatalf("event %s at version %d after %d: the resume point went back", ev.Type, v, last)
				}
				last = v
			default:
				w.Stop()
				return // caught up, the watch open
			}
		}
		rv = strconv.Itoa(last)
	}
	t.Errorf("still replaying after 10 watches, at version %s", rv)
}

// An informer on the feed holds exactly the objects, after bursts larger
// than a watch's buffer that end its watches, deletions included.
func TestFeedInformerConverges(t *testing.T) {
	f := NewFeed()
	on := map[string]string{"amtenant.io/channel": ""}
	inf := cache.NewSharedIndexInformer(f.ListerWatcher("secrets", "", "amtenant.io/channel"), &corev1.Secret{}, 0, cache.Indexers{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go inf.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("no sync")
	}
	for round := range 3 {
		for i := range 600 {
			f.set(feedSecret("a", fmt.Sprintf("%d-%d", round, i), on, "x"))
		}
		for i := range 300 {
			f.delete(objectKey{"Secret", "a", fmt.Sprintf("%d-%d", round, i)})
		}
	}
	testutil.Eventually(t, 30*time.Second, "the informer holds the 900 Secrets left", func() bool {
		return len(inf.GetStore().ListKeys()) == 900
	})
	for round := range 3 {
		if _, ok, _ := inf.GetStore().GetByKey(fmt.Sprintf("a/%d-0", round)); ok {
			t.Errorf("deleted a/%d-0 still cached", round)
		}
		if _, ok, _ := inf.GetStore().GetByKey(fmt.Sprintf("a/%d-599", round)); !ok {
			t.Errorf("a/%d-599 not cached", round)
		}
	}
}
