package main

import (
	"context"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"

	"github.com/amtenant/amtenant/internal/testutil"
	"github.com/amtenant/amtenant/objectfiles"
	"github.com/amtenant/amtenant/senders"
	"github.com/amtenant/amtenant/tenancy"
)

// TestREADMEExamples loads every YAML example of the README through the
// real objects loader, tenancy rules and senders, and requires each
// Secret to become a working channel (or the global defaults), and each
// ConfigMap a valid tenant policy.
func TestREADMEExamples(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	if len(blocks) < 5 {
		t.Fatalf("found %d YAML examples in the README, expected at least 5", len(blocks))
	}
	dir := t.TempDir()
	want := map[string]bool{}
	nameRE := regexp.MustCompile(`(?m)^  name: (\S+)\n  namespace: (\S+)`)
	for i, b := range blocks {
		if err := os.WriteFile(filepath.Join(dir, "example"+string(rune('a'+i))+".yaml"), []byte(b[1]), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, m := range nameRE.FindAllStringSubmatch(b[1], -1) {
			want[m[2]+"/"+m[1]] = true
		}
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	tmpl, err := template.FromGlobs(nil)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.ExternalURL, _ = url.Parse("http://alertmanager.example")
	cidrs, _ := senders.ParseCIDRs(senders.DefaultDenyCIDRs)
	mgr := senders.NewManager(senders.Options{Template: tmpl, Guard: senders.NewGuard(cidrs)}, nil)
	feed := objectfiles.NewFeed()
	if err := objectfiles.NewDir(dir, "monitoring", feed, log).Load(); err != nil {
		t.Fatal(err)
	}
	inf := tenancy.NewInformers(feed.ListerWatcher, "monitoring", true, 0)
	rep := &recordingReporter{got: map[string]string{}}
	ctrl, err := tenancy.NewController(tenancy.Config{
		Namespace: "monitoring", NamespaceTenantLabel: "amtenant.io/tenant", AlertNamespaceLabel: "namespace",
		GroupWait: time.Second, RepeatInterval: time.Hour,
	}, inf.Namespaces, inf.Secrets, inf.Globals, mgr, rep, log, mgr)
	if err != nil {
		t.Fatal(err)
	}
	if err := ctrl.SetPolicies(inf.Silences, inf.Inhibits); err != nil {
		t.Fatal(err)
	}
	if err := ctrl.SetLimits(inf.Limits); err != nil {
		t.Fatal(err)
	}
	inf.Run(ctx.Done())
	go func() { _ = ctrl.Run(ctx) }()
	testutil.Eventually(t, 10*time.Second, "the controller to sync", ctrl.HasSynced)
	rep.mu.Lock()
	defer rep.mu.Unlock()
	for id := range want {
		got, ok := rep.got[id]
		if !ok {
			t.Errorf("README example %s was not loaded", id)
			continue
		}
		if !strings.HasPrefix(got, tenancy.ReasonChannelReady) && !strings.HasPrefix(got, tenancy.ReasonPolicyReady) &&
			!strings.HasPrefix(got, tenancy.ReasonLimitsLoaded) {
			t.Errorf("README example %s is not a working channel, tenant policy or limits: %s", id, got)
		}
	}
}

type recordingReporter struct {
	mu  sync.Mutex
	got map[string]string
}

func (r *recordingReporter) Report(s tenancy.Object, _ bool, reason, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got[s.GetNamespace()+"/"+s.GetName()] = reason + ": " + msg
}
