package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amtenant/amtenant/explain"
	"github.com/amtenant/amtenant/objectfiles"
	"github.com/amtenant/amtenant/senders"
	"github.com/amtenant/amtenant/tenancy"
)

// secretValue must never appear in anything the commands print.
const secretValue = "s3cr3t-XYZ-123"

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// commonOptions parses flags and validates them as the subcommands do.
func commonOptions(t *testing.T, args ...string) *Options {
	t.Helper()
	o := parse(t, append([]string{"--namespace=monitoring"}, args...)...)
	if err := o.validateCommon(); err != nil {
		t.Fatal(err)
	}
	return o
}

const teamANamespace = `
apiVersion: v1
kind: Namespace
metadata:
  name: team-a
  labels:
    amtenant.io/tenant: alpha
`

func TestCheckFilesValid(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "valid.yaml", teamANamespace+`---
apiVersion: v1
kind: Secret
metadata:
  name: hook
  namespace: team-a
  labels:
    amtenant.io/channel: ""
  annotations:
    amtenant.io/match: 'severity="critical"'
stringData:
  type: webhook
  url: https://hooks.example.com/`+secretValue+`/
`)
	var out bytes.Buffer
	n, err := checkFiles(commonOptions(t), []string{f}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 || out.Len() != 0 {
		t.Errorf("checkFiles = %d problems, output %q; want none", n, out.String())
	}
}

func TestCheckFilesProblems(t *testing.T) {
	dir := t.TempDir()
	secret := func(name, labels, annotations, data string) string {
		return fmt.Sprintf(`---
apiVersion: v1
kind: Secret
metadata:
  name: %s
  namespace: team-a
  labels: {%s}
  annotations: {%s}
stringData:
%s`, name, labels, annotations, data)
	}
	const channel = `amtenant.io/channel: ""`
	files := []struct {
		name, content string
		// want maps the expected "<subject>: " prefix of a problem line to
		// a part of its message.
		want map[string]string
	}{
		{"unknown-type.yaml", teamANamespace + secret("unknown", channel, "", "  type: slak\n  url: https://hooks.example.com/"+secretValue+"/\n"),
			map[string]string{"team-a/unknown: ": `unknown channel type "slak"`}},
		{"file-field.yaml", secret("reads-file", channel, "", "  type: webhook\n  url_file: /etc/"+secretValue+"\n"),
			map[string]string{"team-a/reads-file: ": "url_file: tenant channels may not read local files"}},
		{"bad-annotation.yaml", secret("bad-annotation", channel, "amtenant.io/repeat-interval: soon", "  type: webhook\n  url: https://hooks.example.com/x\n"),
			map[string]string{"team-a/bad-annotation: ": "amtenant.io/repeat-interval"}},
		{"no-label.yaml", secret("plain", `app: "x"`, "", "  type: webhook\n  url: https://hooks.example.com/x\n"),
			map[string]string{"team-a/plain: ": "not a channel"}},
		// Invalid configurations holding the secret value in several ways:
		// none of it may be printed.
		{"bad-url.yaml", secret("bad-url", channel, "", "  type: webhook\n  url: \"http://bad host/"+secretValue+"/\"\n"),
			map[string]string{"team-a/bad-url: ": "webhook"}},
		{"bad-scheme.yaml", secret("bad-scheme", channel, "", "  type: webhook\n  url: \"ftp://hooks.example.com/"+secretValue+"\"\n"),
			map[string]string{"team-a/bad-scheme: ": "webhook"}},
		{"full-spelling.yaml", secret("full", channel, "", "  receiver.yaml: |\n    webhook_configs:\n    - url: 'http://bad host/"+secretValue+"'\n"),
			map[string]string{"team-a/full: ": "webhook"}},
		{"mistyped.yaml", secret("mistyped", channel, "", "  type: webhook\n  url: https://hooks.example.com/x\n  send_resolved: "+secretValue+"\n"),
			map[string]string{"team-a/mistyped: ": "send_resolved"}},
		{"not-yaml.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: x\nstringData:\n  url: " + secretValue + "\n  - [\n",
			map[string]string{"": "not-yaml.yaml: "}},
		{"bad-base64.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: b64, namespace: team-a}\ndata: {url: \"" + secretValue + "!!\"}\n",
			map[string]string{"": "bad-base64.yaml: "}},
		{"no-secret.yaml", teamANamespace,
			map[string]string{"": "no-secret.yaml: no Secret or ConfigMap found"}},
	}
	var paths []string
	wantLines := 0
	for _, f := range files {
		paths = append(paths, writeFile(t, dir, f.name, f.content))
		wantLines += len(f.want)
	}
	var out bytes.Buffer
	n, err := checkFiles(commonOptions(t), paths, &out)
	if err != nil {
		t.Fatal(err)
	}
	text := out.String()
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if n != len(lines) {
		t.Errorf("checkFiles returned %d, printed %d problems:\n%s", n, len(lines), text)
	}
	if n != wantLines {
		t.Errorf("checkFiles returned %d problems, want %d:\n%s", n, wantLines, text)
	}
	for _, f := range files {
		for prefix, msg := range f.want {
			found := false
			for _, l := range lines {
				if prefix == "" {
					// A file-level problem starts with the file's path.
					if strings.HasPrefix(l, filepath.Join(dir, msg)) {
						found = true
					}
					continue
				}
				if strings.HasPrefix(l, prefix) && strings.Contains(l, msg) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: no problem %q…%q in:\n%s", f.name, prefix, msg, text)
			}
		}
	}
	if strings.Contains(text, secretValue) || strings.Contains(text, "s3cr3t") {
		t.Errorf("output leaks the secret value:\n%s", text)
	}
}

func TestCheckFilesUnreadable(t *testing.T) {
	_, err := checkFiles(commonOptions(t), []string{filepath.Join(t.TempDir(), "missing.yaml")}, io.Discard)
	if err == nil {
		t.Fatal("checkFiles on a missing file: no error")
	}
}

// sink is an Alertmanager webhook receiver that answers with status.
type sink struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
}

func newSink(t *testing.T, status int) *sink {
	t.Helper()
	s := &sink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, b)
		s.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sink) received() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.bodies...)
}

// objectsDir writes team-a (tenant alpha) with a webhook channel to url
// (its path holds secretValue), and an unrelated broken channel that must
// not stop the test.
func objectsDir(t *testing.T, url string) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, dir, "team-a.yaml", teamANamespace+`---
apiVersion: v1
kind: Secret
metadata:
  name: hook
  namespace: team-a
  labels:
    amtenant.io/channel: ""
stringData:
  type: webhook
  url: `+url+`/hook/`+secretValue+`
---
apiVersion: v1
kind: Secret
metadata:
  name: broken
  namespace: team-b
  labels:
    amtenant.io/channel: ""
stringData:
  type: slak
`)
	return dir
}

func TestSendTest(t *testing.T) {
	s := newSink(t, http.StatusOK)
	o := commonOptions(t, "--objects.dir="+objectsDir(t, s.URL), "--security.tenant-deny-cidrs=192.0.2.0/24")
	var out bytes.Buffer
	if err := sendTest(t.Context(), o, "team-a/hook", &out); err != nil {
		t.Fatalf("sendTest: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "team-a/hook webhook[0]: delivered") {
		t.Errorf("output %q, want delivered", out.String())
	}
	got := s.received()
	if len(got) != 1 {
		t.Fatalf("sink received %d requests, want 1", len(got))
	}
	var msg struct {
		Receiver string `json:"receiver"`
		Status   string `json:"status"`
		Alerts   []struct {
			Status string            `json:"status"`
			Labels map[string]string `json:"labels"`
		} `json:"alerts"`
	}
	if err := json.Unmarshal(got[0], &msg); err != nil {
		t.Fatalf("not an Alertmanager webhook message: %v\n%s", err, got[0])
	}
	if len(msg.Alerts) != 1 {
		t.Fatalf("message has %d alerts, want 1: %s", len(msg.Alerts), got[0])
	}
	a := msg.Alerts[0]
	if a.Labels["alertname"] != "AmtenantTestNotification" {
		t.Errorf("alertname = %q", a.Labels["alertname"])
	}
	if a.Labels["tenant"] != "alpha" {
		t.Errorf("tenant label = %q, want alpha (labels %v)", a.Labels["tenant"], a.Labels)
	}
	if msg.Receiver != "team-a/hook" || msg.Status != "firing" || a.Status != "firing" {
		t.Errorf("receiver %q, status %q/%q", msg.Receiver, msg.Status, a.Status)
	}
}

func TestSendTestFailures(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		deny    string
		want    string
		notWant string
	}{
		{"server error", http.StatusInternalServerError, "", "failed (a real notification would be retried)", ""},
		{"client error", http.StatusBadRequest, "", "team-a/hook webhook[0]: failed: ", "would be retried"},
		{"denied destination", http.StatusOK, senders.DefaultDenyCIDRs, "denied", "would be retried"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t, tt.status)
			o := commonOptions(t, "--objects.dir="+objectsDir(t, s.URL), "--security.tenant-deny-cidrs="+tt.deny)
			var out bytes.Buffer
			err := sendTest(t.Context(), o, "team-a/hook", &out)
			if err == nil || !strings.Contains(err.Error(), "1 of 1 integrations failed") {
				t.Errorf("sendTest = %v, want 1 of 1 failed", err)
			}
			text := out.String()
			if !strings.Contains(text, tt.want) || !strings.Contains(text, "failed") {
				t.Errorf("output %q, want it to contain %q", text, tt.want)
			}
			if tt.notWant != "" && strings.Contains(text, tt.notWant) {
				t.Errorf("output %q, want it without %q", text, tt.notWant)
			}
			if strings.Contains(text, "s3cr3t") || err != nil && strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("the secret URL leaks: output %q, error %v", text, err)
			}
			wantRequests := 1
			if tt.deny != "" {
				wantRequests = 0
			}
			if n := len(s.received()); n != wantRequests {
				t.Errorf("sink received %d requests, want %d", n, wantRequests)
			}
		})
	}
}

func TestSendTestErrors(t *testing.T) {
	dir := objectsDir(t, "http://192.0.2.1")
	writeFile(t, dir, "invalid.yaml", `
apiVersion: v1
kind: Secret
metadata:
  name: invalid
  namespace: team-a
  labels:
    amtenant.io/channel: ""
stringData:
  type: webhook
  url_file: /etc/passwd
`)
	tests := []struct {
		name, channel, want string
	}{
		{"unknown channel", "team-a/nope", "not found"},
		{"namespace without Secrets", "team-c/hook", "not found"},
		{"no slash", "team-a", "want NAMESPACE/NAME"},
		{"empty name", "team-a/", "want NAMESPACE/NAME"},
		{"empty namespace", "/hook", "want NAMESPACE/NAME"},
		{"invalid channel", "team-a/invalid", "tenant channels may not read local files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := commonOptions(t, "--objects.dir="+dir, "--security.tenant-deny-cidrs=")
			var out bytes.Buffer
			err := sendTest(t.Context(), o, tt.channel, &out)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("sendTest(%q) = %v, want an error containing %q", tt.channel, err, tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("output %q, want none", out.String())
			}
		})
	}
}

func TestTenantOfChannel(t *testing.T) {
	o := commonOptions(t)
	dir := t.TempDir()
	f := writeFile(t, dir, "objects.yaml", teamANamespace+`---
apiVersion: v1
kind: Namespace
metadata: {name: team-b}
---
apiVersion: v1
kind: Secret
metadata: {name: a, namespace: team-a, labels: {amtenant.io/channel: ""}}
---
apiVersion: v1
kind: Secret
metadata: {name: b, namespace: team-b, labels: {amtenant.io/channel: ""}}
---
apiVersion: v1
kind: Secret
metadata: {name: c, namespace: team-c, labels: {amtenant.io/channel: ""}}
---
apiVersion: v1
kind: Secret
metadata: {name: admin, namespace: monitoring, labels: {amtenant.io/channel: "", amtenant.io/tenant: gamma}}
---
apiVersion: v1
kind: Secret
metadata: {name: cluster, namespace: monitoring, labels: {amtenant.io/channel: ""}}
`)
	raw, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := objectfiles.Parse(raw, "monitoring")
	if err != nil {
		t.Fatal(err)
	}
	nss, secrets := objs.Namespaces, objs.Secrets
	want := map[string]string{
		"team-a/a":           "alpha",
		"team-b/b":           "team-b",
		"team-c/c":           "team-c",
		"monitoring/admin":   "gamma",
		"monitoring/cluster": "",
	}
	for _, s := range secrets {
		id := s.Namespace + "/" + s.Name
		if got := tenantOfChannel(o, s, nss); got != want[id] {
			t.Errorf("tenantOfChannel(%s) = %q, want %q", id, got, want[id])
		}
	}
}

func TestExplainRemote(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	rep := explain.Report{Query: `alertname="X"`, Alerts: []explain.AlertReport{{
		Fingerprint: "abc", Incarnation: 3, Labels: map[string]string{"alertname": "X", "namespace": "team-a"},
		Status: "firing", StartsAt: at, Tenant: "alpha", TenantReason: "namespace team-a belongs to alpha",
		Channels: []explain.ChannelReport{
			{Verdict: tenancy.Verdict{Channel: "team-a/hook", Routed: true, Reason: "the tenant's channel"},
				Integrations: []senders.IntegrationState{{Integration: "webhook[0]", Known: true, Notified: true, SendResolved: true,
					LastNotified: at, NextRepeat: at.Add(4 * time.Hour)}}},
			{Verdict: tenancy.Verdict{Channel: "team-b/hook", Routed: false, Reason: "belongs to tenant beta"}},
		},
		Summary: "team-a/hook webhook[0]: delivered",
	}}}
	var (
		mu      sync.Mutex
		queries []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.Path+"?"+r.URL.RawQuery)
		mu.Unlock()
		if r.URL.Path != explain.Path {
			http.NotFound(w, r)
			return
		}
		if r.URL.Query().Get("fingerprint") == "bad" {
			http.Error(w, "match: bad matcher "+strings.Repeat("x", 10), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(rep)
	}))
	defer srv.Close()

	var out bytes.Buffer
	if err := explainRemote(t.Context(), srv.URL+"/", `alertname="X",team=~"a,b"`, "abc", &out); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		"Alert {alertname=\"X\", namespace=\"team-a\"} (fingerprint abc, incarnation 3)",
		"    + team-a/hook: the tenant's channel\n",
		"        webhook[0]: notified at 2025-03-01T12:00:00Z",
		"    - team-b/hook: belongs to tenant beta\n",
		"summary: team-a/hook webhook[0]: delivered",
	} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
	mu.Lock()
	q := queries[0]
	mu.Unlock()
	if !strings.HasPrefix(q, explain.Path+"?") || !strings.Contains(q, "fingerprint=abc") ||
		!strings.Contains(q, "match=alertname%3D%22X%22%2Cteam%3D~%22a%2Cb%22") {
		t.Errorf("request %q", q)
	}

	err := explainRemote(t.Context(), srv.URL, "", "bad", io.Discard)
	if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "match: bad matcher xxxxxxxxxx") {
		t.Errorf("explainRemote against a 400 = %v, want the status and body", err)
	}
	if err := explainRemote(t.Context(), srv.URL, "", "", io.Discard); err == nil || !strings.Contains(err.Error(), "--alert or --fingerprint") {
		t.Errorf("explainRemote without a query = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(queries) != 2 {
		t.Errorf("server got %d requests, want 2 (none without a query)", len(queries))
	}
}

func TestExplainRemoteEmptyAndBadAnswers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("fingerprint") == "garbage" {
			fmt.Fprint(w, "<html>not json")
			return
		}
		fmt.Fprintf(w, `{"query":%q,"alerts":null}`, r.URL.Query().Get("fingerprint"))
	}))
	defer srv.Close()
	var out bytes.Buffer
	if err := explainRemote(t.Context(), srv.URL, "", "gone", &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), `No alert matching "gone"`) {
		t.Errorf("output %q", out.String())
	}
	if err := explainRemote(t.Context(), srv.URL, "", "garbage", io.Discard); err == nil || !strings.Contains(err.Error(), "read the sidecar's answer") {
		t.Errorf("explainRemote with a non-JSON answer = %v", err)
	}
}
