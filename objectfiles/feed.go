package objectfiles

import (
	"fmt"
	"strconv"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// Feed holds a directory's objects in memory and serves them to informers
// the way the API server would: a list carries a resource version, a
// watch starts from one, a label selector and a namespace narrow both, and
// an object whose labels change enters or leaves a selector's watches as
// an addition or a deletion. It replaces an API server (or a fake
// clientset, with every API group's types and clients) in local mode.
//
// A watch that falls behind by more than its buffer is closed; its
// informer watches again from the last version it saw (or lists again,
// when that version has left the history).
type Feed struct {
	mu      sync.Mutex
	rv      uint64
	objects map[objectKey]runtime.Object
	// history holds the last changes, for watches that start from an
	// older resource version than the current one (after a list).
	history []change
	watches map[*feedWatch]struct{}
}

// change is one change of an object. new is the stored object (nil for a
// deletion); of the previous version only its labels are kept (nil for an
// addition, when existed is false), and the whole object only for a
// deletion, which a watch sends: the history pins no superseded Secret
// data.
type change struct {
	rv        uint64
	key       objectKey
	existed   bool
	oldLabels map[string]string
	deleted   runtime.Object
	new       runtime.Object
}

const (
	// historySize bounds the changes kept for watches that start behind:
	// a list's version (a reflector watches right after it lists) or the
	// last event a closed watch delivered (at most watchBuffer behind).
	historySize = 2 * watchBuffer
	// watchBuffer is how many events a watch holds for its reader.
	watchBuffer = 256
)

// NewFeed returns an empty feed.
func NewFeed() *Feed {
	return &Feed{objects: map[objectKey]runtime.Object{}, watches: map[*feedWatch]struct{}{}}
}

// get returns the stored object, nil if there is none. The caller must
// not change it.
func (f *Feed) get(k objectKey) runtime.Object {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.objects[k]
}

// set stores obj (which the feed then owns) under k with a new resource
// version, and tells the watches.
func (f *Feed) set(k objectKey, obj runtime.Object) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rv++
	m, _ := meta.Accessor(obj)
	m.SetResourceVersion(strconv.FormatUint(f.rv, 10))
	c := change{rv: f.rv, key: k, new: obj}
	if old, ok := f.objects[k]; ok {
		c.existed, c.oldLabels = true, labelsOf(old)
	}
	f.objects[k] = obj
	f.record(c)
}

// delete removes the object under k, if any, and tells the watches.
func (f *Feed) delete(k objectKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old, ok := f.objects[k]
	if !ok {
		return
	}
	f.rv++
	delete(f.objects, k)
	f.record(change{rv: f.rv, key: k, existed: true, oldLabels: labelsOf(old), deleted: old})
}

func labelsOf(obj runtime.Object) map[string]string {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil
	}
	return m.GetLabels()
}

func (f *Feed) record(c change) {
	if len(f.history) == historySize {
		copy(f.history, f.history[1:])
		f.history = f.history[:historySize-1]
	}
	f.history = append(f.history, c)
	for w := range f.watches {
		w.send(c)
	}
}

// kinds maps the resources a Feed serves to their kinds.
var kinds = map[string]string{"namespaces": "Namespace", "secrets": "Secret", "configmaps": "ConfigMap"}

// ListerWatcher lists and watches one resource ("namespaces", "secrets"
// or "configmaps") in namespace ("" for all) whose labels match selector
// ("" for all), for cache.NewSharedIndexInformer.
func (f *Feed) ListerWatcher(resource, namespace, selector string) cache.ListerWatcher {
	sel, err := labels.Parse(selector)
	return &feedLW{f: f, kind: kinds[resource], namespace: namespace, sel: sel, err: err}
}

type feedLW struct {
	f         *Feed
	kind      string
	namespace string
	sel       labels.Selector
	err       error
}

// IsWatchListSemanticsUnSupported tells the reflector to list and then
// watch (client-go's watchlist package).
func (*feedLW) IsWatchListSemanticsUnSupported() bool { return true }

func (lw *feedLW) matches(k objectKey, obj runtime.Object) bool {
	return obj != nil && lw.matchesLabels(k, labelsOf(obj))
}

func (lw *feedLW) matchesLabels(k objectKey, ls map[string]string) bool {
	if k.kind != lw.kind || (lw.namespace != "" && k.namespace != lw.namespace) {
		return false
	}
	return lw.sel.Matches(labels.Set(ls))
}

func (lw *feedLW) List(metav1.ListOptions) (runtime.Object, error) {
	if lw.err != nil {
		return nil, lw.err
	}
	lw.f.mu.Lock()
	defer lw.f.mu.Unlock()
	lm := metav1.ListMeta{ResourceVersion: strconv.FormatUint(lw.f.rv, 10)}
	var items []runtime.Object
	for k, obj := range lw.f.objects {
		if lw.matches(k, obj) {
			items = append(items, obj.DeepCopyObject())
		}
	}
	switch lw.kind {
	case "Namespace":
		l := &corev1.NamespaceList{ListMeta: lm}
		for _, o := range items {
			l.Items = append(l.Items, *o.(*corev1.Namespace))
		}
		return l, nil
	case "Secret":
		l := &corev1.SecretList{ListMeta: lm}
		for _, o := range items {
			l.Items = append(l.Items, *o.(*corev1.Secret))
		}
		return l, nil
	case "ConfigMap":
		l := &corev1.ConfigMapList{ListMeta: lm}
		for _, o := range items {
			l.Items = append(l.Items, *o.(*corev1.ConfigMap))
		}
		return l, nil
	}
	return nil, fmt.Errorf("objects from files: no resource of kind %q", lw.kind)
}

func (lw *feedLW) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	if lw.err != nil {
		return nil, lw.err
	}
	from := uint64(0)
	if opts.ResourceVersion != "" && opts.ResourceVersion != "0" {
		v, err := strconv.ParseUint(opts.ResourceVersion, 10, 64)
		if err != nil {
			return nil, apierrors.NewBadRequest("resourceVersion: " + err.Error())
		}
		from = v
	}
	f := lw.f
	f.mu.Lock()
	defer f.mu.Unlock()
	w := &feedWatch{lw: lw, ch: make(chan watch.Event, watchBuffer), done: make(chan struct{})}
	if from < f.rv {
		if len(f.history) == 0 || f.history[0].rv > from+1 {
			return nil, apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (%d)", from, f.rv))
		}
		for _, c := range f.history {
			if c.rv > from {
				w.send(c)
			}
		}
	}
	select {
	case <-w.done:
		// Stopped while catching up: its reader sees it end, and lists.
	default:
		f.watches[w] = struct{}{}
	}
	return w, nil
}

// feedWatch is one watch of a Feed.
type feedWatch struct {
	lw   *feedLW
	ch   chan watch.Event
	done chan struct{}
	once sync.Once
}

// send passes a change on as the watch's selector sees it, as the API
// server does: an object that stops matching is a deletion carrying its
// last matching version. Every event carries the change's resource
// version, which is where the watch's reader resumes. Called with the
// feed's lock held.
func (w *feedWatch) send(c change) {
	was := c.existed && w.lw.matchesLabels(c.key, c.oldLabels)
	is := w.lw.matches(c.key, c.new)
	var ev watch.Event
	switch {
	case !was && is:
		ev = watch.Event{Type: watch.Added, Object: c.new.DeepCopyObject()}
	case was && is:
		ev = watch.Event{Type: watch.Modified, Object: c.new.DeepCopyObject()}
	case was && !is:
		last := c.deleted
		if last == nil {
			// Left the selector: the object as it is, its labels as
			// they were.
			last = c.new.DeepCopyObject()
			m, _ := meta.Accessor(last)
			m.SetLabels(c.oldLabels)
		} else {
			last = last.DeepCopyObject()
		}
		m, _ := meta.Accessor(last)
		m.SetResourceVersion(strconv.FormatUint(c.rv, 10))
		ev = watch.Event{Type: watch.Deleted, Object: last}
	default:
		return
	}
	select {
	case <-w.done:
		return // stopped
	default:
	}
	select {
	case w.ch <- ev:
	default:
		// Too far behind: end the watch; its reader watches again from
		// the last event it read.
		w.stopLocked()
	}
}

func (w *feedWatch) ResultChan() <-chan watch.Event { return w.ch }

func (w *feedWatch) Stop() {
	w.lw.f.mu.Lock()
	defer w.lw.f.mu.Unlock()
	w.stopLocked()
}

func (w *feedWatch) stopLocked() {
	w.once.Do(func() {
		delete(w.lw.f.watches, w)
		close(w.done)
		close(w.ch)
	})
}
