package objectfiles

import (
	"context"
	"encoding/base64"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/amtenant/amtenant/alert"
	"github.com/amtenant/amtenant/channel"
	"github.com/amtenant/amtenant/internal/testutil"
	"github.com/amtenant/amtenant/tenancy"
)

const dirDefaultNamespace = "monitoring"

// dirEnv is a Dir on a temporary directory and its feed.
type dirEnv struct {
	path string
	feed *Feed
	dir  *Dir
	log  *testutil.Buffer
}

func newDirEnv(t *testing.T) *dirEnv {
	t.Helper()
	e := &dirEnv{path: t.TempDir(), feed: NewFeed(), log: &testutil.Buffer{}}
	e.dir = NewDir(e.path, dirDefaultNamespace, e.feed, slog.New(slog.NewTextHandler(e.log, nil)))
	return e
}

func (e *dirEnv) write(t *testing.T, name, content string) {
	t.Helper()
	// Write and rename, as editors and kubelet do, so that a watcher
	// never reads half a file.
	tmp := filepath.Join(e.path, ".tmp-"+name)
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(e.path, name)); err != nil {
		t.Fatal(err)
	}
}

func (e *dirEnv) remove(t *testing.T, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(e.path, name)); err != nil {
		t.Fatal(err)
	}
}

func (e *dirEnv) load(t *testing.T) {
	t.Helper()
	if err := e.dir.Load(); err != nil {
		t.Fatalf("Load: %v", err)
	}
}

// secrets returns the feed's Secrets by "namespace/name".
func (e *dirEnv) secrets(t *testing.T) map[string]corev1.Secret {
	t.Helper()
	obj, err := e.feed.ListerWatcher("secrets", "", "").List(metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	list := obj.(*corev1.SecretList)
	out := map[string]corev1.Secret{}
	for _, s := range list.Items {
		out[s.Namespace+"/"+s.Name] = s
	}
	return out
}

// namespaces returns the feed's Namespaces by name.
func (e *dirEnv) namespaces(t *testing.T) map[string]corev1.Namespace {
	t.Helper()
	obj, err := e.feed.ListerWatcher("namespaces", "", "").List(metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	list := obj.(*corev1.NamespaceList)
	out := map[string]corev1.Namespace{}
	for _, n := range list.Items {
		out[n.Name] = n
	}
	return out
}

func stringMap(m map[string][]byte) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

const objectsYAML = `# Namespaces and channels of team A.
apiVersion: v1
kind: Namespace
metadata:
  name: team-a
  labels:
    amtenant.io/tenant: alpha
---
apiVersion: v1
kind: Secret
metadata:
  name: slack
  namespace: team-a
  labels:
    amtenant.io/channel: ""
  annotations:
    amtenant.io/group-by: namespace, alertname
stringData:
  type: slack
  api_url: https://hooks.slack.example/T0
  send_resolved: "true"
---
# empty document
---
apiVersion: v1
kind: Secret
metadata:
  name: admin
  labels:
    amtenant.io/channel: ""
    amtenant.io/scope: all
data:
  type: ` + "d2ViaG9vaw==" + `
  url: ` + "aHR0cDovL3NpbmsuZXhhbXBsZS9hZG1pbg==" + `
stringData:
  url: http://sink.example/override
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: not-a-secret
  namespace: team-a
data:
  a: b
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: not-core
  namespace: team-a
---
apiVersion: example.com/v1
kind: Secret
metadata:
  name: not-core-secret
  namespace: team-a
`

const objectsJSON = `{
  "apiVersion": "v1",
  "kind": "Secret",
  "metadata": {"name": "json", "namespace": "team-b", "labels": {"amtenant.io/channel": "x"}},
  "data": {"type": "d2ViaG9vaw=="}
}`

const listYAML = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata:
    name: team-b
- apiVersion: v1
  kind: Secret
  metadata:
    name: listed
    namespace: team-b
  stringData:
    type: email
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: listed-cm
`

const secretListYAML = `apiVersion: v1
kind: SecretList
items:
- apiVersion: v1
  kind: Secret
  metadata:
    name: from-secret-list
  stringData:
    type: webhook
`

func hiddenSecretYAML(name string) string {
	return `apiVersion: v1
kind: Secret
metadata:
  name: ` + name + `
stringData:
  type: webhook
`
}

func TestDirLoad(t *testing.T) {
	e := newDirEnv(t)
	e.write(t, "objects.yaml", objectsYAML)
	e.write(t, "more.json", objectsJSON)
	e.write(t, "list.yml", listYAML)
	e.write(t, "secretlist.YAML", secretListYAML)
	// Ignored: other extensions, hidden files, directories.
	e.write(t, "ignored.txt", hiddenSecretYAML("from-txt"))
	e.write(t, "README.md", hiddenSecretYAML("from-md"))
	e.write(t, "backup.yaml~", hiddenSecretYAML("from-backup"))
	e.write(t, ".hidden.yaml", hiddenSecretYAML("from-hidden"))
	if err := os.Mkdir(filepath.Join(e.path, "dir.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.path, "dir.yaml", "inner.yaml"), []byte(hiddenSecretYAML("from-subdir")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(e.path, "missing.yaml"), filepath.Join(e.path, "dangling.yaml")); err != nil {
		t.Fatal(err)
	}
	e.load(t)

	ns := e.namespaces(t)
	if got := slices.Sorted(maps.Keys(ns)); !slices.Equal(got, []string{"team-a", "team-b"}) {
		t.Errorf("namespaces = %q, want [team-a team-b]", got)
	}
	if got := ns["team-a"].Labels; !maps.Equal(got, map[string]string{tenancy.LabelTenant: "alpha"}) {
		t.Errorf("team-a labels = %v", got)
	}

	secrets := e.secrets(t)
	want := map[string]map[string]string{
		"team-a/slack": {"type": "slack", "api_url": "https://hooks.slack.example/T0", "send_resolved": "true"},
		// No namespace: the default one. data is base64; stringData wins.
		"monitoring/admin":            {"type": "webhook", "url": "http://sink.example/override"},
		"team-b/json":                 {"type": "webhook"},
		"team-b/listed":               {"type": "email"},
		"monitoring/from-secret-list": {"type": "webhook"},
	}
	if got := slices.Sorted(maps.Keys(secrets)); !slices.Equal(got, slices.Sorted(maps.Keys(want))) {
		t.Errorf("secrets = %q, want %q", got, slices.Sorted(maps.Keys(want)))
	}
	for id, data := range want {
		s, ok := secrets[id]
		if !ok {
			continue
		}
		if got := stringMap(s.Data); !maps.Equal(got, data) {
			t.Errorf("%s data = %q, want %q", id, got, data)
		}
		if len(s.StringData) != 0 {
			t.Errorf("%s kept stringData %q; it belongs in data", id, s.StringData)
		}
	}
	slack := secrets["team-a/slack"]
	if !maps.Equal(slack.Labels, map[string]string{tenancy.LabelChannel: ""}) || slack.Annotations[tenancy.AnnotationGroupBy] != "namespace, alertname" {
		t.Errorf("team-a/slack metadata: labels %v, annotations %v", slack.Labels, slack.Annotations)
	}
	if admin := secrets["monitoring/admin"]; admin.Labels[tenancy.LabelScope] != tenancy.ScopeAll {
		t.Errorf("monitoring/admin labels = %v", admin.Labels)
	}

	// Loading again changes nothing.
	before := e.secrets(t)
	e.load(t)
	for id, s := range e.secrets(t) {
		if s.ResourceVersion != before[id].ResourceVersion {
			t.Errorf("%s was updated by a Load with no change (resourceVersion %s → %s)", id, before[id].ResourceVersion, s.ResourceVersion)
		}
	}
}

func TestDirLoadMissingDirectory(t *testing.T) {
	d := NewDir(filepath.Join(t.TempDir(), "nope"), dirDefaultNamespace, NewFeed(), slog.New(slog.DiscardHandler))
	if err := d.Load(); err == nil {
		t.Fatal("Load of a missing directory: got no error")
	}
}

func TestDirBadFiles(t *testing.T) {
	good := hiddenSecretYAML("good")
	tests := []struct {
		name    string
		content string
		logs    []string // substrings of the warning
	}{
		{"invalid YAML", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: [unclosed\n", []string{"bad.yaml"}},
		{"invalid YAML in a later document", good + "---\nkind: [\n", []string{"bad.yaml", "document 3"}},
		{"invalid base64", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: b64\ndata:\n  url: '!!!not base64!!!'\n", []string{"bad.yaml"}},
		{"secret without a name", "apiVersion: v1\nkind: Secret\nstringData:\n  a: b\n", []string{"bad.yaml", "without metadata.name"}},
		{"namespace without a name", "apiVersion: v1\nkind: Namespace\nmetadata:\n  labels: {a: b}\n", []string{"bad.yaml", "without metadata.name"}},
		{"not an object", "- a\n- b\n", []string{"bad.yaml"}},
		{"list item not an object", "apiVersion: v1\nkind: List\nitems:\n- 3\n", []string{"bad.yaml", "items[0]"}},
		{"stringData not strings", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: n\nstringData:\n  a: {b: c}\n", []string{"bad.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newDirEnv(t)
			e.write(t, "good.yaml", hiddenSecretYAML("other"))
			e.write(t, "bad.yaml", good+"---\n"+tt.content)
			e.load(t)
			secrets := e.secrets(t)
			if got := slices.Sorted(maps.Keys(secrets)); !slices.Equal(got, []string{"monitoring/other"}) {
				t.Errorf("secrets = %q, want only the good file's [monitoring/other]", got)
			}
			logs := e.log.String()
			if !strings.Contains(logs, "level=WARN") {
				t.Errorf("no warning logged: %q", logs)
			}
			for _, want := range tt.logs {
				if !strings.Contains(logs, want) {
					t.Errorf("log %q does not mention %q", logs, want)
				}
			}
			if strings.Contains(logs, "not base64") {
				t.Errorf("log %q holds a Secret value", logs)
			}
			// The same error is logged once, not at every Load.
			n := strings.Count(logs, "level=WARN")
			e.load(t)
			if got := strings.Count(e.log.String(), "level=WARN"); got != n {
				t.Errorf("the same bad file was logged again: %d warnings, then %d", n, got)
			}
		})
	}
}

func TestDirBadFileKeepsPreviousObjects(t *testing.T) {
	for _, broken := range []struct{ name, content string }{
		{"invalid YAML", "apiVersion: v1\nkind: Secret\nmetadata: {name: [\n"},
		{"invalid base64", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: hook\ndata:\n  url: '%%%'\n"},
	} {
		t.Run(broken.name, func(t *testing.T) {
			e := newDirEnv(t)
			e.write(t, "team.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n  labels: {amtenant.io/tenant: alpha}\n"+
				"---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: hook\n  namespace: team-a\nstringData:\n  url: http://v1\n")
			e.load(t)
			before := e.secrets(t)
			if _, ok := before["team-a/hook"]; !ok {
				t.Fatalf("secrets = %v, want team-a/hook", slices.Sorted(maps.Keys(before)))
			}

			// Half-saved by an editor: the objects loaded from it stay.
			e.write(t, "team.yaml", broken.content)
			e.load(t)
			after := e.secrets(t)
			if s, ok := after["team-a/hook"]; !ok || string(s.Data["url"]) != "http://v1" {
				t.Errorf("after the file broke: team-a/hook = %v, %v; want it kept unchanged", ok, stringMap(s.Data))
			}
			if ns, ok := e.namespaces(t)["team-a"]; !ok || ns.Labels[tenancy.LabelTenant] != "alpha" {
				t.Errorf("after the file broke: namespace team-a = %v, %v; want it kept", ok, ns.Labels)
			}
			if !strings.Contains(e.log.String(), "team.yaml") {
				t.Errorf("the broken file was not logged: %q", e.log.String())
			}

			// Fixed, it applies again; the recovery is logged.
			e.write(t, "team.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: hook\n  namespace: team-a\nstringData:\n  url: http://v2\n")
			e.load(t)
			if s := e.secrets(t)["team-a/hook"]; string(s.Data["url"]) != "http://v2" {
				t.Errorf("after the fix: url = %q, want http://v2", s.Data["url"])
			}
			if _, ok := e.namespaces(t)["team-a"]; ok {
				t.Errorf("after the fix: namespace team-a is no longer in the file but was kept")
			}
			if !strings.Contains(e.log.String(), "readable again") {
				t.Errorf("recovery not logged: %q", e.log.String())
			}

			// Broken and then removed: its objects go.
			e.write(t, "team.yaml", broken.content)
			e.load(t)
			e.remove(t, "team.yaml")
			e.load(t)
			if got := e.secrets(t); len(got) != 0 {
				t.Errorf("after removing the broken file: secrets %q remain", slices.Sorted(maps.Keys(got)))
			}
		})
	}
}

func TestDirRemoveFile(t *testing.T) {
	e := newDirEnv(t)
	e.write(t, "a.yaml", objectsYAML)
	e.write(t, "b.json", objectsJSON)
	e.load(t)
	e.remove(t, "a.yaml")
	e.load(t)
	if got := slices.Sorted(maps.Keys(e.secrets(t))); !slices.Equal(got, []string{"team-b/json"}) {
		t.Errorf("secrets = %q, want [team-b/json]", got)
	}
	if got := slices.Sorted(maps.Keys(e.namespaces(t))); len(got) != 0 {
		t.Errorf("namespaces = %q, want none", got)
	}
	// An object deleted behind the loader's back is not an error.
	e.feed.delete(objectKey{"Secret", "team-b", "json"})
	e.remove(t, "b.json")
	e.load(t)
	if got := e.secrets(t); len(got) != 0 {
		t.Errorf("secrets = %q, want none", slices.Sorted(maps.Keys(got)))
	}
}

func TestDirEditFile(t *testing.T) {
	e := newDirEnv(t)
	e.write(t, "ch.yaml", `apiVersion: v1
kind: Namespace
metadata:
  name: team-a
  labels: {amtenant.io/tenant: alpha}
---
apiVersion: v1
kind: Secret
metadata:
  name: hook
  namespace: team-a
  labels: {amtenant.io/channel: "", amtenant.io/tenant: alpha, stale: "yes"}
  annotations: {amtenant.io/group-wait: 30s}
stringData:
  type: webhook
  url: http://v1
  old: x
`)
	e.load(t)
	uid := e.secrets(t)["team-a/hook"].UID

	e.write(t, "ch.yaml", `apiVersion: v1
kind: Namespace
metadata:
  name: team-a
  labels: {amtenant.io/tenant: beta}
---
apiVersion: v1
kind: Secret
metadata:
  name: hook
  namespace: team-a
  labels: {amtenant.io/channel: "", amtenant.io/tenant: beta}
  annotations: {amtenant.io/repeat-interval: 1h}
data:
  type: `+b64("webhook")+`
  url: `+b64("http://v2")+`
`)
	e.load(t)
	s := e.secrets(t)["team-a/hook"]
	if s.UID != uid {
		t.Errorf("the Secret was re-created, not updated")
	}
	if want := map[string]string{tenancy.LabelChannel: "", tenancy.LabelTenant: "beta"}; !maps.Equal(s.Labels, want) {
		t.Errorf("labels = %v, want %v", s.Labels, want)
	}
	if want := map[string]string{tenancy.AnnotationRepeatInterval: "1h"}; !maps.Equal(s.Annotations, want) {
		t.Errorf("annotations = %v, want %v", s.Annotations, want)
	}
	if want := map[string]string{"type": "webhook", "url": "http://v2"}; !maps.Equal(stringMap(s.Data), want) {
		t.Errorf("data = %q, want %q", stringMap(s.Data), want)
	}
	if got := e.namespaces(t)["team-a"].Labels; !maps.Equal(got, map[string]string{tenancy.LabelTenant: "beta"}) {
		t.Errorf("namespace labels = %v, want tenant beta", got)
	}

	// Metadata removed altogether.
	e.write(t, "ch.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: hook\n  namespace: team-a\nstringData:\n  url: http://v3\n")
	e.load(t)
	s = e.secrets(t)["team-a/hook"]
	if len(s.Labels) != 0 || len(s.Annotations) != 0 || !maps.Equal(stringMap(s.Data), map[string]string{"url": "http://v3"}) {
		t.Errorf("after removing metadata: labels %v, annotations %v, data %q", s.Labels, s.Annotations, stringMap(s.Data))
	}
}

func TestDirObjectInTwoFiles(t *testing.T) {
	e := newDirEnv(t)
	secret := func(url string) string {
		return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: dup\n  namespace: team-a\nstringData:\n  url: " + url + "\n"
	}
	e.write(t, "a.yaml", secret("http://a"))
	e.write(t, "b.yaml", secret("http://b")+"---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n")
	e.write(t, "c.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n")
	e.load(t)
	secrets := e.secrets(t)
	if len(secrets) != 1 {
		t.Fatalf("secrets = %q, want one", slices.Sorted(maps.Keys(secrets)))
	}
	// The later file by name wins.
	if got := string(secrets["team-a/dup"].Data["url"]); got != "http://b" {
		t.Errorf("url = %q, want the later file's http://b", got)
	}
	if !strings.Contains(e.log.String(), "defined twice") {
		t.Errorf("duplicate not logged: %q", e.log.String())
	}
	// Removed from one file, it stays as the other defines it.
	e.remove(t, "b.yaml")
	e.load(t)
	if got := string(e.secrets(t)["team-a/dup"].Data["url"]); got != "http://a" {
		t.Errorf("after removing b.yaml: url = %q, want http://a", got)
	}
	if _, ok := e.namespaces(t)["team-a"]; !ok {
		t.Errorf("after removing b.yaml: namespace team-a, still in c.yaml, was deleted")
	}
}

func TestDirWatch(t *testing.T) {
	e := newDirEnv(t)
	e.write(t, "a.yaml", hiddenSecretYAML("first"))
	e.load(t)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		// No periodic resync during the test: only the file events can
		// make it load.
		done <- e.dir.Watch(ctx, time.Hour)
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Watch did not return after its context was canceled")
		}
	}()

	// Watch gives no sign that it is watching; write until it notices.
	has := func(id, url string) func() bool {
		return func() bool {
			s, ok := e.secrets(t)[id]
			return ok && string(s.Data["url"]) == url
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for n := 0; !has("monitoring/second", "http://new")(); n++ {
		if time.Now().After(deadline) {
			t.Fatal("timed out after 5s waiting for Watch to load a new file")
		}
		if n%50 == 0 {
			e.write(t, "b.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: second\nstringData:\n  url: http://new\n")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Once it watches, one change is enough.
	e.write(t, "b.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: second\nstringData:\n  url: http://edited\n")
	testutil.Eventually(t, 5*time.Second, "edit loaded", has("monitoring/second", "http://edited"))
	e.remove(t, "a.yaml")
	testutil.Eventually(t, 5*time.Second, "removal loaded", func() bool {
		_, ok := e.secrets(t)[dirDefaultNamespace+"/first"]
		return !ok
	})
}

func TestDirWatchResync(t *testing.T) {
	e := newDirEnv(t)
	e.load(t)
	// Written before Watch starts: no event, only the resync finds it.
	e.write(t, "a.yaml", hiddenSecretYAML("early"))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.dir.Watch(ctx, 50*time.Millisecond) }()
	defer func() { cancel(); <-done }()
	testutil.Eventually(t, 5*time.Second, "resync loaded the file", func() bool {
		_, ok := e.secrets(t)[dirDefaultNamespace+"/early"]
		return ok
	})
}

func TestDirWatchMissingDirectory(t *testing.T) {
	d := NewDir(filepath.Join(t.TempDir(), "nope"), dirDefaultNamespace, NewFeed(), slog.New(slog.DiscardHandler))
	if err := d.Watch(t.Context(), time.Hour); err == nil {
		t.Fatal("Watch of a missing directory: got no error")
	}
}

// Dir feeds the same informers as a cluster: a channel file becomes a
// built channel.
func TestDirFeedsController(t *testing.T) {
	e := newDirEnv(t)
	e.write(t, "objects.yaml", objectsYAML)
	e.load(t)
	inf := tenancy.NewInformers(e.feed.ListerWatcher, dirDefaultNamespace, true, 0)
	b := &recBuilder{applied: map[string]channel.Spec{}}
	cfg := tenancy.Config{Namespace: dirDefaultNamespace, NamespaceTenantLabel: tenancy.LabelTenant, AlertNamespaceLabel: "namespace",
		GroupWait: 10 * time.Second, RepeatInterval: 4 * time.Hour}
	c, err := tenancy.NewController(cfg, inf.Namespaces, inf.Secrets, inf.Globals, b, nopReporter{}, slog.New(slog.DiscardHandler), nopDeliverer{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	inf.Run(ctx.Done())
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	testutil.Eventually(t, 5*time.Second, "HasSynced", c.HasSynced)
	b.mu.Lock()
	ids := slices.Sorted(maps.Keys(b.applied))
	admin := b.applied["monitoring/admin"]
	b.mu.Unlock()
	if !slices.Equal(ids, []string{"monitoring/admin", "team-a/slack"}) {
		t.Errorf("channels = %q, want [monitoring/admin team-a/slack]", ids)
	}
	if !admin.Trusted || string(admin.Data["url"]) != "http://sink.example/override" {
		t.Errorf("monitoring/admin spec = %+v", admin)
	}
	if tenant, _ := c.TenantOf("team-a"); tenant != "alpha" {
		t.Errorf("TenantOf(team-a) = %q, want alpha", tenant)
	}
}

// recBuilder keeps the last spec applied per channel.
type recBuilder struct {
	mu      sync.Mutex
	applied map[string]channel.Spec
}

func (b *recBuilder) Apply(spec channel.Spec) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.applied[spec.ID] = spec
	return []string{"webhook"}, nil
}

func (b *recBuilder) Remove(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.applied, id)
}

func (b *recBuilder) Refuse(id string, _ map[string][]byte) { b.Remove(id) }
func (b *recBuilder) SetGlobal(map[string][]byte) error     { return nil }

type nopReporter struct{}

func (nopReporter) Report(tenancy.Object, bool, string, string) {}

type nopDeliverer struct{}

func (nopDeliverer) Sync(time.Time, map[string][]*alert.Incarnation) {}

// Read sees what --objects.dir loads: the later file's object, broken
// files skipped.
func TestRead(t *testing.T) {
	dir := t.TempDir()
	secret := func(url string) string {
		return "apiVersion: v1\nkind: Secret\nmetadata: {name: hook, labels: {amtenant.io/channel: \"\"}}\nstringData: {type: webhook, url: " + url + "}\n"
	}
	for name, body := range map[string]string{
		"a.yaml": secret("http://first") + "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n",
		"b.yaml": secret("http://second"),
		"c.yaml": "kind: [broken",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	objs, err := Read(dir, "monitoring")
	if err != nil {
		t.Fatal(err)
	}
	nss, secrets := objs.Namespaces, objs.Secrets
	if len(nss) != 1 || len(secrets) != 1 || secrets[0].Namespace != "monitoring" || string(secrets[0].Data["url"]) != "http://second" {
		t.Errorf("namespaces %d, secrets %+v", len(nss), secrets)
	}
	if _, err := Read(filepath.Join(dir, "missing"), "monitoring"); err == nil {
		t.Error("a missing directory gave no error")
	}
}
