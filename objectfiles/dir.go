// Package objectfiles is local mode's data source: the Namespace, Secret
// and ConfigMap objects of a directory's YAML and JSON files, held in a
// Feed that informers list and watch as they would an API server, and
// reloaded when the files change, so that the informers and the tenancy
// rules work exactly as against a cluster. It also reads the same files
// for the commands that check them (tenancy.Check).
package objectfiles

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/amtenant/amtenant/tenancy"
)

// Dir loads Namespace, Secret and ConfigMap objects from the YAML and JSON
// files of a directory into a Feed.
type Dir struct {
	path      string
	namespace string // for objects without one, as kubectl would use
	feed      *Feed
	log       *slog.Logger

	// files holds the last good objects of each file: a file that stops
	// parsing (half-saved by an editor) keeps its previous objects.
	files    map[string][]object
	fileErrs map[string]string
	applied  map[objectKey]bool
}

type objectKey struct{ kind, namespace, name string }

type object struct {
	key       objectKey
	namespace *corev1.Namespace
	secret    *corev1.Secret
	configMap *corev1.ConfigMap
}

func add(os *tenancy.Objects, o object) {
	switch {
	case o.namespace != nil:
		os.Namespaces = append(os.Namespaces, o.namespace)
	case o.secret != nil:
		os.Secrets = append(os.Secrets, o.secret)
	case o.configMap != nil:
		os.ConfigMaps = append(os.ConfigMaps, o.configMap)
	}
}

// NewDir returns a loader for path. Objects without a namespace go to
// defaultNamespace.
func NewDir(path, defaultNamespace string, feed *Feed, log *slog.Logger) *Dir {
	return &Dir{
		path:      path,
		namespace: defaultNamespace,
		feed:      feed,
		log:       log,
		files:     map[string][]object{},
		fileErrs:  map[string]string{},
		applied:   map[objectKey]bool{},
	}
}

// Load reads the directory once and applies the differences. Files that
// cannot be parsed are logged and skipped; the error is only for a
// directory that cannot be read at all.
func (d *Dir) Load() error {
	if err := d.scan(); err != nil {
		return err
	}
	d.apply()
	return nil
}

// Read reads the directory's objects exactly as --objects.dir does
// (unreadable files skipped, the later file's object winning), into
// objects rather than a feed: for commands that run beside the sidecar.
func Read(path, defaultNamespace string) (tenancy.Objects, error) {
	d := NewDir(path, defaultNamespace, NewFeed(), slog.New(slog.DiscardHandler))
	if err := d.scan(); err != nil {
		return tenancy.Objects{}, err
	}
	var out tenancy.Objects
	for _, o := range d.objects() {
		add(&out, o)
	}
	return out, nil
}

// scan reads every file of the directory into d.files.
func (d *Dir) scan() error {
	entries, err := os.ReadDir(d.path)
	if err != nil {
		return fmt.Errorf("read objects directory: %w", err)
	}
	present := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !isObjectFile(name) {
			continue
		}
		p := filepath.Join(d.path, name)
		if fi, err := os.Stat(p); err != nil || fi.IsDir() {
			continue // dangling symlink or a directory named like a file
		}
		present[p] = true
		objs, err := d.readFile(p)
		if err != nil {
			if d.fileErrs[p] != err.Error() {
				d.log.Warn("Skipping objects file that cannot be read; objects loaded from it before are kept", "file", p, "err", err)
				d.fileErrs[p] = err.Error()
			}
			continue
		}
		if d.fileErrs[p] != "" {
			d.log.Info("Objects file readable again", "file", p)
		}
		delete(d.fileErrs, p)
		d.files[p] = objs
	}
	for p := range d.files {
		if !present[p] {
			delete(d.files, p)
			delete(d.fileErrs, p)
		}
	}
	return nil
}

func isObjectFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// readFile parses every document of a file.
func (d *Dir) readFile(path string) ([]object, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return d.parse(raw)
}

// Parse parses the Namespaces, Secrets and ConfigMaps of a
// manifest file the way --objects.dir does (several documents, kind: List,
// stringData merged into data). Objects without a namespace get
// defaultNamespace.
func Parse(raw []byte, defaultNamespace string) (tenancy.Objects, error) {
	objs, err := (&Dir{namespace: defaultNamespace}).parse(raw)
	if err != nil {
		return tenancy.Objects{}, err
	}
	var out tenancy.Objects
	for _, o := range objs {
		add(&out, o)
	}
	return out, nil
}

func (d *Dir) parse(raw []byte) ([]object, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	var out []object
	for doc := 1; ; doc++ {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("document %d: %w", doc, err)
		}
		if len(m) == 0 {
			continue
		}
		objs, err := d.decode(m)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", doc, err)
		}
		out = append(out, objs...)
	}
	return out, nil
}

func (d *Dir) decode(m map[string]any) ([]object, error) {
	kind, _ := m["kind"].(string)
	apiVersion, _ := m["apiVersion"].(string)
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	switch {
	case kind == "List" || strings.HasSuffix(kind, "List") && apiVersion == "v1":
		items, _ := m["items"].([]any)
		var out []object
		for i, it := range items {
			im, ok := it.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("items[%d]: not an object", i)
			}
			objs, err := d.decode(im)
			if err != nil {
				return nil, fmt.Errorf("items[%d]: %w", i, err)
			}
			out = append(out, objs...)
		}
		return out, nil
	case apiVersion != "v1":
		return nil, nil // other kinds may share the directory
	case kind == "Namespace":
		var ns corev1.Namespace
		if err := json.Unmarshal(raw, &ns); err != nil {
			return nil, fmt.Errorf("namespace: %w", err)
		}
		if ns.Name == "" {
			return nil, errors.New("namespace without metadata.name")
		}
		return []object{{key: objectKey{"Namespace", "", ns.Name}, namespace: &ns}}, nil
	case kind == "Secret":
		var s corev1.Secret
		if err := json.Unmarshal(raw, &s); err != nil {
			// The message of a base64 error carries no value.
			return nil, fmt.Errorf("secret: %w", err)
		}
		if s.Name == "" {
			return nil, errors.New("secret without metadata.name")
		}
		if s.Namespace == "" {
			s.Namespace = d.namespace
		}
		// The API server merges stringData into data on write; so does
		// this loader.
		s.Data = tenancy.SecretData(&s)
		s.StringData = nil
		return []object{{key: objectKey{"Secret", s.Namespace, s.Name}, secret: &s}}, nil
	case kind == "ConfigMap":
		var cm corev1.ConfigMap
		if err := json.Unmarshal(raw, &cm); err != nil {
			return nil, fmt.Errorf("configmap: %w", err)
		}
		if cm.Name == "" {
			return nil, errors.New("configmap without metadata.name")
		}
		if cm.Namespace == "" {
			cm.Namespace = d.namespace
		}
		return []object{{key: objectKey{"ConfigMap", cm.Namespace, cm.Name}, configMap: &cm}}, nil
	}
	return nil, nil
}

// objects merges the files' objects; an object defined twice is the later
// file's.
func (d *Dir) objects() map[objectKey]object {
	want := map[objectKey]object{}
	paths := make([]string, 0, len(d.files))
	for p := range d.files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		for _, o := range d.files[p] {
			if _, dup := want[o.key]; dup {
				d.log.Warn("Object defined twice; the later file wins", "kind", o.key.kind, "namespace", o.key.namespace, "name", o.key.name, "file", p)
			}
			want[o.key] = o
		}
	}
	return want
}

// apply makes the feed hold exactly the objects of the files.
func (d *Dir) apply() {
	want := d.objects()
	for k, o := range want {
		d.upsert(o)
		d.applied[k] = true
	}
	for k := range d.applied {
		if _, ok := want[k]; !ok {
			d.feed.delete(k)
			delete(d.applied, k)
		}
	}
}

// upsert stores o unless the feed holds it already as the files say it
// (labels, annotations, data): an unchanged file changes nothing.
func (d *Dir) upsert(o object) {
	cur := d.feed.get(o.key)
	switch {
	case o.namespace != nil:
		if c, ok := cur.(*corev1.Namespace); ok && reflect.DeepEqual(c.Labels, o.namespace.Labels) {
			return
		}
		d.feed.set(o.key, o.namespace.DeepCopy())
	case o.secret != nil:
		if c, ok := cur.(*corev1.Secret); ok && reflect.DeepEqual(c.Labels, o.secret.Labels) &&
			reflect.DeepEqual(c.Annotations, o.secret.Annotations) && reflect.DeepEqual(c.Data, o.secret.Data) {
			return
		}
		d.feed.set(o.key, o.secret.DeepCopy())
	case o.configMap != nil:
		if c, ok := cur.(*corev1.ConfigMap); ok && reflect.DeepEqual(c.Labels, o.configMap.Labels) && reflect.DeepEqual(c.Annotations, o.configMap.Annotations) &&
			reflect.DeepEqual(c.Data, o.configMap.Data) && reflect.DeepEqual(c.BinaryData, o.configMap.BinaryData) {
			return
		}
		d.feed.set(o.key, o.configMap.DeepCopy())
	}
}

// Watch reloads the directory whenever it changes, until ctx is done.
// Changes are debounced, and the directory is also re-read every
// resync period in case an event was missed.
func (d *Dir) Watch(ctx context.Context, resync time.Duration) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch objects directory: %w", err)
	}
	defer w.Close()
	if err := w.Add(d.path); err != nil {
		return fmt.Errorf("watch objects directory: %w", err)
	}
	const debounce = 200 * time.Millisecond
	timer := time.NewTimer(resync)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-w.Events:
			d.log.Debug("Objects directory changed", "file", ev.Name, "op", ev.Op.String())
			timer.Reset(debounce)
		case err := <-w.Errors:
			d.log.Warn("Watching the objects directory", "err", err)
		case <-timer.C:
			if err := d.Load(); err != nil {
				d.log.Warn("Loading objects failed", "err", err)
			}
			timer.Reset(resync)
		}
	}
}
