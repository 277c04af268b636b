//go:build integration

package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/amtenant/amtenant/internal/harness"
)

// The Kubernetes tests share one kube-apiserver and run one after another;
// each uses namespaces of its own (k1-…, k2-…), so that their channels
// never meet.

const serviceAccount = "system:serviceaccount:monitoring:amtenant"

func TestKubeRoutingHotReloadAndEvents(t *testing.T) {
	c := startCluster(t)
	am := startAlertmanager(t)
	s := newSink(t)
	c.namespace(t, "k1-mon", nil)
	c.namespace(t, "k1-a", map[string]string{"amtenant.io/tenant": "k1-alpha"})
	c.namespace(t, "k1-b", nil)
	c.secret(t, channelSecret("k1-a", "hook", nil, nil, map[string]string{"type": "webhook", "url": s.url("/a")}))
	c.secret(t, channelSecret("k1-b", "hook", nil, nil, map[string]string{"receiver.yaml": "webhook_configs:\n- url: " + s.url("/b") + "\n"}))
	c.secret(t, channelSecret("k1-mon", "all", map[string]string{"amtenant.io/scope": "all"}, map[string]string{"amtenant.io/group-by": "..."},
		map[string]string{"type": "webhook", "url": s.url("/all"), "send_resolved": "false"}))
	// Not a channel: never read.
	unrelated := channelSecret("k1-a", "unrelated", nil, nil, map[string]string{"password": "hunter2"})
	unrelated.Labels = nil
	c.secret(t, unrelated)
	sc := startKubeSidecar(t, am, c, "k1-mon", serviceAccount)

	start := time.Now().Add(-time.Minute)
	a := firing(start, "alertname", "A", "namespace", "k1-a")
	b := firing(start, "alertname", "B", "namespace", "k1-b")
	cl := firing(start, "alertname", "C")
	am.post(a, b, cl)
	eventually(t, 20*time.Second, "first notifications", func() bool {
		return len(s.alertsAt("/a")) == 1 && len(s.alertsAt("/b")) == 1 && len(s.alertsAt("/all")) == 3
	})
	if got := s.at("/a")[0]; got.Alerts[0].Labels["tenant"] != "k1-alpha" || got.Receiver != "k1-a/hook" {
		t.Errorf("/a got receiver %q tenant %q", got.Receiver, got.Alerts[0].Labels["tenant"])
	}

	// Firing then resolved, once each.
	am.post(resolvedAlert(start, "alertname", "A", "namespace", "k1-a"))
	eventually(t, 20*time.Second, "A resolved", func() bool { return slices.Contains(s.alertsAt("/a"), "A/resolved") })

	// A channel created while B fires gets it once; editing a channel does
	// not notify again; deleting one stops it.
	c.secret(t, channelSecret("k1-b", "late", nil, nil, map[string]string{"type": "webhook", "url": s.url("/late")}))
	eventually(t, 20*time.Second, "new channel gets B", func() bool { return slices.Equal(s.alertsAt("/late"), []string{"B/firing"}) })
	c.secret(t, channelSecret("k1-b", "hook", nil, nil, map[string]string{"receiver.yaml": "webhook_configs:\n- url: " + s.url("/b2") + "\n"}))
	sc.waitPolls(t, 10)
	if got := s.alertsAt("/b2"); len(got) != 0 {
		t.Errorf("editing the channel notified again: %v", got)
	}
	if err := c.admin.CoreV1().Secrets("k1-b").Delete(context.Background(), "late", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the deleted channel removed", func() bool {
		return regexp.MustCompile(`msg="Channel removed".* channel=k1-b/late`).MatchString(sc.proc.Log())
	})
	am.post(a, b, cl, firing(start, "alertname", "B2", "namespace", "k1-b"))
	eventually(t, 20*time.Second, "B2 on the edited channel", func() bool { return slices.Contains(s.alertsAt("/b2"), "B2/firing") })
	sc.waitPolls(t, 5)
	if slices.Contains(s.alertsAt("/late"), "B2/firing") {
		t.Errorf("a deleted channel was notified: %v", s.alertsAt("/late"))
	}

	// Relabelling a namespace moves its alerts to the other tenant.
	ns, err := c.admin.CoreV1().Namespaces().Get(context.Background(), "k1-b", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns.Labels = map[string]string{"amtenant.io/tenant": "k1-alpha"}
	if _, err := c.admin.CoreV1().Namespaces().Update(context.Background(), ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "B moved to tenant k1-alpha's channel", func() bool {
		return slices.Contains(s.alertsAt("/a"), "B/firing") && slices.Contains(s.alertsAt("/a"), "B2/firing")
	})

	// Events where users look.
	c.secret(t, channelSecret("k1-a", "broken", nil, nil, map[string]string{"type": "slak", "url": "https://example.com/" + "t0ps3cret"}))
	c.secret(t, channelSecret("k1-a", "greedy", map[string]string{"amtenant.io/scope": "all"}, nil, map[string]string{"type": "webhook", "url": s.url("/greedy")}))
	eventually(t, 20*time.Second, "Events", func() bool {
		has := func(ns, name, prefix string) bool {
			return slices.ContainsFunc(c.events(t, ns, name), func(e string) bool { return strings.HasPrefix(e, prefix) })
		}
		return has("k1-a", "broken", "Warning InvalidChannel") && has("k1-a", "greedy", "Warning TenantClaimIgnored") &&
			has("k1-a", "hook", "Normal ChannelReady")
	})
	for _, e := range c.events(t, "k1-a", "broken") {
		if strings.Contains(e, "t0ps3cret") {
			t.Errorf("an Event contains a secret value: %s", e)
		}
	}

	// Delivery health on the channel's Secret: failing then recovered on
	// one that answers 500 twice; dropped on one that always refuses.
	s.failPath("/flaky/d3livery5ecret", 500, 2)
	s.failPath("/dead", 404, -1)
	c.secret(t, channelSecret("k1-a", "flaky", nil, nil, map[string]string{"type": "webhook", "url": s.url("/flaky/d3livery5ecret")}))
	c.secret(t, channelSecret("k1-a", "dead", nil, nil, map[string]string{"type": "webhook", "url": s.url("/dead")}))
	eventually(t, 30*time.Second, "delivery health Events", func() bool {
		has := func(name, prefix string) bool {
			return slices.ContainsFunc(c.events(t, "k1-a", name), func(e string) bool { return strings.HasPrefix(e, prefix) })
		}
		return has("flaky", "Warning DeliveryFailing: webhook[0]: serverError") && has("flaky", "Normal DeliveryRecovered") &&
			has("dead", "Warning DeliveryFailing: webhook[0]: clientError") && has("dead", "Warning NotificationDropped")
	})
	for _, name := range []string{"flaky", "dead"} {
		for _, e := range c.events(t, "k1-a", name) {
			if strings.Contains(e, "d3livery5ecret") {
				t.Errorf("an Event contains a secret value: %s", e)
			}
		}
	}
	if strings.Contains(sc.proc.Log(), "t0ps3cret") || strings.Contains(sc.proc.Log(), "hunter2") {
		t.Error("the log contains a secret value")
	}

	// No Secret but channel Secrets was ever read: every request of the
	// sidecar on Secrets carried the label selector.
	requests := c.secretRequests(t, serviceAccount)
	if len(requests) == 0 {
		t.Fatal("the audit log shows no Secret request by the sidecar")
	}
	for _, r := range requests {
		if !strings.Contains(r, "labelSelector=amtenant.io%2Fchannel") && !strings.Contains(r, "labelSelector=amtenant.io%2Fglobal") {
			t.Errorf("the sidecar read Secrets without its label selector: %s", r)
		}
	}
}

// secretRequests returns the request URIs of every audited Secret request
// made by user.
func (c *cluster) secretRequests(t testing.TB, user string) []string {
	t.Helper()
	f, err := os.Open(c.AuditLog)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev struct {
			RequestURI string `json:"requestURI"`
			User       struct {
				Username string `json:"username"`
			} `json:"user"`
			ImpersonatedUser *struct {
				Username string `json:"username"`
			} `json:"impersonatedUser"`
			ObjectRef *struct {
				Resource string `json:"resource"`
			} `json:"objectRef"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.ObjectRef == nil || ev.ObjectRef.Resource != "secrets" {
			continue
		}
		if ev.User.Username == user || (ev.ImpersonatedUser != nil && ev.ImpersonatedUser.Username == user) {
			out = append(out, ev.RequestURI)
		}
	}
	return out
}

func TestKubeEmailThroughSMTP(t *testing.T) {
	c := startCluster(t)
	am := startAlertmanager(t)
	mailer := newSMTPServer(t)
	c.namespace(t, "k2-mon", nil)
	c.namespace(t, "k2-a", nil)
	global := channelSecret("k2-mon", "global", nil, nil, map[string]string{
		"global.yaml": "smtp_smarthost: " + mailer.addr + "\nsmtp_from: alerts@amtenant.test\nsmtp_require_tls: false\n",
	})
	global.Labels = map[string]string{"amtenant.io/global": ""}
	c.secret(t, global)
	// An admin channel: trusted, so it may use the relay on loopback.
	c.secret(t, channelSecret("k2-mon", "mail", map[string]string{"amtenant.io/tenant": "k2-a"}, nil, map[string]string{
		"type": "email", "to": "oncall@k2-a.test, lead@k2-a.test", "send_resolved": "true",
	}))
	startKubeSidecar(t, am, c, "k2-mon", serviceAccount)

	start := time.Now().Add(-time.Minute)
	am.post(firing(start, "alertname", "DiskFull", "namespace", "k2-a"))
	eventually(t, 20*time.Second, "an email", func() bool { return len(mailer.mails()) == 1 })
	m := mailer.mails()[0]
	slices.Sort(m.To)
	if m.From != "alerts@amtenant.test" || !slices.Equal(m.To, []string{"lead@k2-a.test", "oncall@k2-a.test"}) {
		t.Errorf("mail from %q to %v", m.From, m.To)
	}
	if !strings.Contains(m.Data, "DiskFull") || !strings.Contains(m.Data, "k2-a") {
		t.Errorf("mail does not mention the alert:\n%s", harness.Tail(m.Data, 2000))
	}
	am.post(resolvedAlert(start, "alertname", "DiskFull", "namespace", "k2-a"))
	eventually(t, 20*time.Second, "the resolution email", func() bool { return len(mailer.mails()) == 2 })
	if !strings.Contains(mailer.mails()[1].Data, "RESOLVED") {
		t.Errorf("second mail is not the resolution")
	}
}

// TestKubeAdminOnlyAndForbidden runs the sidecar as a ServiceAccount with
// exactly the admin-only component's permissions.
func TestKubeAdminOnlyAndForbidden(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	c.namespace(t, "k3-mon", nil)
	c.namespace(t, "k3-a", nil)
	objs, err := render(repoRoot(t) + "/examples/admin-only")
	if err != nil {
		t.Fatal(err)
	}
	// Install the component's rules under other names, for a ServiceAccount
	// of this test, in this test's namespace.
	const sa = "system:serviceaccount:k3-mon:amtenant"
	for _, o := range objs {
		switch o.GetKind() {
		case "ClusterRole":
			var cr rbacv1.ClusterRole
			mustConvert(t, o.Object, &cr)
			cr.ObjectMeta = metav1.ObjectMeta{Name: "k3-amtenant"}
			if _, err := c.admin.RbacV1().ClusterRoles().Create(ctx, &cr, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "k3-amtenant"},
				RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "k3-amtenant"},
				Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "amtenant", Namespace: "k3-mon"}}}
			if _, err := c.admin.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		case "Role":
			var r rbacv1.Role
			mustConvert(t, o.Object, &r)
			// Each Role (Secrets and Events; the Lease) keeps its name.
			r.ObjectMeta = metav1.ObjectMeta{Name: o.GetName(), Namespace: "k3-mon"}
			if _, err := c.admin.RbacV1().Roles("k3-mon").Create(ctx, &r, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: o.GetName(), Namespace: "k3-mon"},
				RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: o.GetName()},
				Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "amtenant", Namespace: "k3-mon"}}}
			if _, err := c.admin.RbacV1().RoleBindings("k3-mon").Create(ctx, rb, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}

	am := startAlertmanager(t)
	s := newSink(t)
	c.secret(t, channelSecret("k3-mon", "admin", map[string]string{"amtenant.io/tenant": "k3-a"}, nil, map[string]string{"type": "webhook", "url": s.url("/admin")}))
	c.secret(t, channelSecret("k3-a", "tenant", nil, nil, map[string]string{"type": "webhook", "url": s.url("/tenant")}))

	// With --no-tenancy.tenant-secrets the Role is enough: admin channels
	// work, tenant Secrets are not looked at.
	sc := startKubeSidecar(t, am, c, "k3-mon", sa, "--no-tenancy.tenant-secrets")
	start := time.Now().Add(-time.Minute)
	am.post(firing(start, "alertname", "X", "namespace", "k3-a"))
	eventually(t, 20*time.Second, "the admin channel", func() bool { return len(s.alertsAt("/admin")) == 1 })
	sc.waitPolls(t, 5)
	if len(s.alertsAt("/tenant")) != 0 {
		t.Errorf("a tenant channel was used with tenant Secrets off")
	}
	if strings.Contains(sc.proc.Log(), "forbids") {
		t.Errorf("admin-only mode hit a forbidden resource:\n%s", harness.Tail(sc.proc.Log(), 3000))
	}
	sc.proc.Stop()

	// Without the flag the same account cannot list Secrets cluster-wide:
	// one clear log line, and the sidecar still runs and polls.
	sc2 := startKubeSidecar(t, am, c, "k3-mon", sa)
	eventually(t, 20*time.Second, "the forbidden log line", func() bool {
		log := sc2.proc.Log()
		return strings.Contains(log, `msg="Kubernetes API forbids reading a resource; check the sidecar's RBAC (manifests/)"`) &&
			strings.Contains(log, "resource=secrets")
	})
	time.Sleep(3 * time.Second)
	// Once per resource: the Secrets, the two kinds of policy ConfigMaps
	// and the limits ConfigMap, which the component does not grant either.
	if n := strings.Count(sc2.proc.Log(), "forbids reading a resource"); n != 4 {
		t.Errorf("forbidden resources were logged %d times, want once each for secrets, the two policy ConfigMaps and the limits ConfigMap:\n%s", n, harness.Tail(sc2.proc.Log(), 3000))
	}
}

func mustConvert(t testing.TB, m map[string]any, into any) {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatal(err)
	}
}

// TestKubeAPIServerOutage takes the API server away: deliveries go on from
// the informer caches, the log says once that the API is unreachable and
// once that it is back, and changes made meanwhile arrive afterwards. It
// restarts the shared API server, so it runs last.
func TestKubeAPIServerOutage(t *testing.T) {
	c := startCluster(t)
	am := startAlertmanager(t)
	s := newSink(t)
	c.namespace(t, "k9-mon", nil)
	c.namespace(t, "k9-a", nil)
	c.secret(t, channelSecret("k9-a", "hook", nil, nil, map[string]string{"type": "webhook", "url": s.url("/a")}))
	sc := startKubeSidecar(t, am, c, "k9-mon", serviceAccount)

	c.StopAPIServer()
	start := time.Now().Add(-time.Minute)
	am.post(firing(start, "alertname", "DuringOutage", "namespace", "k9-a"))
	eventually(t, 20*time.Second, "delivery while the API server is down", func() bool {
		return slices.Contains(s.alertsAt("/a"), "DuringOutage/firing")
	})
	eventually(t, 30*time.Second, "the unreachable log line", func() bool {
		return strings.Contains(sc.proc.Log(), "Kubernetes API unreachable")
	})
	time.Sleep(5 * time.Second) // reflectors retry meanwhile

	if err := c.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the reachable-again log line", func() bool {
		return strings.Contains(sc.proc.Log(), "Kubernetes API reachable again")
	})
	c.secret(t, channelSecret("k9-a", "after", nil, nil, map[string]string{"type": "webhook", "url": s.url("/after")}))
	eventually(t, 60*time.Second, "a channel created after the outage", func() bool {
		return slices.Contains(s.alertsAt("/after"), "DuringOutage/firing")
	})
	log := sc.proc.Log()
	if n := strings.Count(log, "Kubernetes API unreachable"); n != 1 {
		t.Errorf("unreachable logged %d times, want once", n)
	}
	if n := strings.Count(log, "Kubernetes API reachable again"); n != 1 {
		t.Errorf("reachable again logged %d times, want once", n)
	}
}
