package senders

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/amtenant/amtenant/alert"
	"github.com/amtenant/amtenant/channel"
	"github.com/amtenant/amtenant/internal/testutil"
)

// The _file rule: tenant channels may not make the sidecar read a local
// file (its service-account token above all); admin channels may.
func TestFileRule(t *testing.T) {
	const token = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	tests := []struct {
		name       string
		data       map[string][]byte
		path       string // in the error
		regression string
		noAdmin    bool
	}{
		{
			name: "credentials_file, full spelling",
			data: kv(KeyReceiver, "webhook_configs:\n- url: http://hook.example/\n  http_config:\n    authorization:\n      credentials_file: "+token+"\n"),
			path: "webhook_configs[0].http_config.authorization.credentials_file",
		},
		{
			name: "url_file, flat spelling",
			data: kv("type", "webhook", "url_file", token),
			// "webhook" itself is redacted from flat errors, see TestBuildErrorMessages.
			path: "_configs[0].url_file",
		},
		{
			name: "url_file, full spelling",
			data: kv(KeyReceiver, "webhook_configs: [{url_file: "+token+"}]"),
			path: "webhook_configs[0].url_file",
		},
		{
			name: "ca_file deep in oauth2",
			data: kv(KeyReceiver, "webhook_configs:\n- url: http://hook.example/\n  http_config:\n    oauth2:\n      client_id: x\n      client_secret: y\n      token_url: http://token.example/\n      tls_config:\n        ca_file: /etc/ssl/ca.pem\n"),
			path: "webhook_configs[0].http_config.oauth2.tls_config.ca_file",
		},
		{
			name: "slack api_url_file, flat spelling",
			data: kv("type", "slack", "api_url_file", token),
			path: "slack_configs[0].api_url_file",
		},
		{
			name: "email auth_password_file, second entry",
			data: kv(KeyReceiver, "email_configs:\n- {to: a@example.org, from: b@example.org, smarthost: 'smtp.example.org:25'}\n"+
				"- {to: a@example.org, from: b@example.org, smarthost: 'smtp.example.org:25', auth_username: u, auth_password_file: "+token+"}\n"),
			path: "email_configs[1].auth_password_file",
		},
		{
			name:       "credentials_file in a flat http_config",
			data:       kv("type", "webhook", "url", "http://hook.example/", "http_config", "authorization:\n  credentials_file: "+token+"\n"),
			path:       "http_config.authorization.credentials_file",
			regression: flatMapBug,
		},
		{
			name:       "ca_file in a flat http_config",
			data:       kv("type", "webhook", "url", "http://hook.example/", "http_config", "tls_config: {ca_file: /etc/ssl/ca.pem}"),
			path:       "http_config.tls_config.ca_file",
			regression: flatMapBug,
			// Alertmanager reads the CA when it builds the client: the admin
			// control would fail on the missing file, not on the rule.
			noAdmin: true,
		},
	}
	b := testBuilder(t, NewGuard(nil))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := b.build(channel.Spec{ID: "team-a/c", Data: tt.data}, noGlobal())
			if err == nil {
				t.Fatal("tenant channel: got no error")
			}
			for _, w := range []string{"team-a/c:", tt.path, "tenant channels may not read local files"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("tenant channel: error %q does not contain %q", err, w)
				}
			}
			if tt.noAdmin {
				return
			}
			if _, _, err := b.build(channel.Spec{ID: "platform/c", Trusted: true, Data: tt.data}, noGlobal()); err != nil {
				t.Errorf("admin channel: %v", err)
			}
		})
	}
}

const flatMapBug = "parseFlat (receiver.go:143) stores YAML-parsed values as yaml.v2's map[interface{}]interface{} without normalize(), " +
	"and walkFiles (receiver.go:231) only descends into map[string]any, so fileFields misses every *_file key inside a flat " +
	"http_config (or any other map-valued flat key): a tenant's `http_config: {authorization: {credentials_file: " +
	"/var/run/secrets/kubernetes.io/serviceaccount/token}}` is accepted and the sidecar's token is sent to the tenant's URL; " +
	"fix: entry[k] = normalize(parsed) in parseFlat (and make walkFiles/stripFiles handle map[any]any defensively)"

// SECURITY: a tenant channel cannot send the contents of a local file
// anywhere. The guard denies nothing here, so that only the file rule
// stands between the file and the sink.
func TestTenantCannotSendLocalFiles(t *testing.T) {
	const content = "s3cr3t-file-content-ABC"
	s := newSink(t, nil)
	file := filepath.Join(t.TempDir(), "token")
	// As a URL too, so that url_file would reach the sink.
	if err := os.WriteFile(file, []byte(s.URL()+"/"+content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		data       map[string][]byte
		regression string
	}{
		{"url_file, flat", kv("type", "webhook", "url_file", file), ""},
		{"url_file, full", kv(KeyReceiver, "webhook_configs: [{url_file: '"+file+"'}]"), ""},
		{"credentials_file, full", kv(KeyReceiver, "webhook_configs:\n- url: "+s.URL()+"\n  http_config:\n    authorization: {credentials_file: '"+file+"'}\n"), ""},
		{"password_file, full", kv(KeyReceiver, "webhook_configs:\n- url: "+s.URL()+"\n  http_config:\n    basic_auth: {username: u, password_file: '"+file+"'}\n"), ""},
		{"bearer_token_file, full", kv(KeyReceiver, "webhook_configs:\n- url: "+s.URL()+"\n  http_config:\n    bearer_token_file: '"+file+"'\n"), ""},
		{"credentials_file, flat", kv("type", "webhook", "url", s.URL(), "http_config", "authorization: {credentials_file: '"+file+"'}"), flatMapBug},
		{"password_file, flat", kv("type", "webhook", "url", s.URL(), "http_config", "basic_auth: {username: u, password_file: '"+file+"'}"), flatMapBug},
		{"http_headers files, full", kv(KeyReceiver, "webhook_configs:\n- url: "+s.URL()+"\n  http_config:\n    http_headers:\n      X-Leak: {files: ['"+file+"']}\n"),
			"the _file rule (fileFields, receiver.go:220) only looks at keys ending in \"_file\", but prometheus/common's " +
				"http_config.http_headers.<name>.files (a list of paths) reads local files too and sends their contents as header " +
				"values; reject a \"files\" key under http_headers (better: reject any HTTPClientConfig whose loaded form has " +
				"Header.Files, walking the parsed config rather than key names)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.mu.Lock()
			s.reqs = nil
			s.mu.Unlock()
			m, _ := startManager(t, testOptions(t, NewGuard(nil)))
			id := "team-a/" + strings.NewReplacer(" ", "-", ",", "").Replace(tt.name)
			_, err := m.Apply(channel.Spec{ID: id, Data: tt.data, Policy: fastPolicy()})
			if err == nil {
				t.Error("Apply: a tenant channel reading a local file was accepted")
			} else {
				if !strings.Contains(err.Error(), "may not read local files") {
					t.Errorf("Apply: got %v, want the file rule", err)
				}
				if strings.Contains(err.Error(), content) {
					t.Errorf("the error shows the file's content: %q", err)
				}
			}
			// Refused: nothing is built, so nothing can be sent.
			if builtOf(m, id) != nil {
				t.Errorf("the refused channel %s was built", id)
				syncOne(m, id, newInc(1, alert.Firing, "alertname", "A"))
				testutil.Eventually(t, 10*time.Second, "a request", func() bool { return s.count() > 0 })
			}
			for _, r := range s.requests() {
				t.Errorf("the sink received a request (%s, headers %v)", r.msg.Receiver, r.header)
			}
		})
	}

	t.Run("admin channel may", func(t *testing.T) {
		s.mu.Lock()
		s.reqs = nil
		s.mu.Unlock()
		m, reg := startManager(t, testOptions(t, NewGuard(nil)))
		spec := channel.Spec{ID: "platform/hook", Trusted: true, Policy: fastPolicy(),
			Data: kv(KeyReceiver, "webhook_configs:\n- url: "+s.URL()+"\n  http_config:\n    authorization: {credentials_file: '"+file+"'}\n")}
		mustApply(t, m, spec)
		syncOne(m, spec.ID, newInc(1, alert.Firing, "alertname", "A"))
		waitDelivered(t, reg, "webhook", 1)
		if got := s.requests()[0].header.Get("Authorization"); !strings.Contains(got, content) {
			t.Errorf("Authorization: got %q, want the file's content", got)
		}
	})
}

// SECURITY: a tenant channel cannot reach the pod's loopback, where
// Alertmanager's API listens; an admin channel can.
func TestTenantCannotReachLoopback(t *testing.T) {
	s := newSink(t, nil)
	m, reg := startManager(t, testOptions(t, defaultGuard(t)))
	const id = "team-a/hook"
	spec := webhookSpec(id, false, s.URL())
	spec.Policy.GroupInterval = time.Hour // one flush
	// The window of "not retried" below: a group wait counts from its
	// first alert's start, and A started long ago (it is flushed at once).
	spec.Policy.GroupWait = 150 * time.Millisecond
	mustApply(t, m, spec)
	a := newInc(1, alert.Firing, "alertname", "A")
	syncOne(m, id, a)
	testutil.Eventually(t, 5*time.Second, "dropped", func() bool { return droppedCount(t, reg, "webhook") == 1 })
	if got := failed(t, reg, "webhook", "denied"); got != 1 {
		t.Errorf("failed{webhook,denied}: got %v, want 1", got)
	}
	// Dropped, not retried. A real socket (the guard's check at dial
	// time), so no bubble; rather than waiting a while for nothing, a
	// later event that must come after any new attempt of A's: once A's
	// batch is settled, a second group, B, starts now and is flushed by the
	// same loop a group wait later. The loop flushes the groups due in
	// the order they are due, so any new attempt of A's due within that
	// group wait has started by then: when B is settled, A shows its one
	// attempt, not in flight, and the guard counted two denials.
	settled := func(inc *alert.Incarnation) *Attempt {
		st, _ := m.Explain(id, inc.Fingerprint)
		if len(st) != 1 || st[0].InFlight || st[0].LastAttempt == nil || st[0].LastAttempt.Outcome != OutcomeDropped {
			return nil
		}
		return st[0].LastAttempt
	}
	testutil.Eventually(t, 5*time.Second, "A settled", func() bool { return settled(a) != nil })
	first := *settled(a)
	if first.Attempts != 1 || first.Reason != reasonDenied {
		t.Errorf("A's last attempt: %+v, want the first, denied", first)
	}
	b := newInc(2, alert.Firing, "alertname", "B")
	b.StartsAt = time.Now()
	syncOne(m, id, a, b)
	testutil.Eventually(t, 5*time.Second, "B settled", func() bool { return settled(b) != nil })
	if got := settled(a); got == nil || *got != first {
		t.Errorf("A was tried again: last attempt %+v, first %+v", got, first)
	}
	if got, n := failed(t, reg, "webhook", "denied"), s.count(); got != 2 || n != 0 {
		t.Errorf("retried: failed{denied}=%v, want 2 (A and B once); sink requests=%d, want 0", got, n)
	}
	if got := deliveredCount(t, reg, "webhook"); got != 0 {
		t.Errorf("delivered: got %v, want 0", got)
	}

	// Through a name that resolves to loopback.
	byName := strings.Replace(s.URL(), "127.0.0.1", "localhost", 1)
	mustApply(t, m, webhookSpec("team-a/by-name", false, byName))
	syncOne(m, "team-a/by-name", newInc(1, alert.Firing, "alertname", "A"))
	testutil.Eventually(t, 5*time.Second, "denied by name", func() bool { return failed(t, reg, "webhook", "denied") == 3 })

	// The same sink as an admin channel.
	mustApply(t, m, webhookSpec("platform/hook", true, s.URL()))
	syncOne(m, "platform/hook", newInc(1, alert.Firing, "alertname", "A"))
	waitDelivered(t, reg, "webhook", 1)
	if s.count() != 1 {
		t.Errorf("sink: got %d requests, want 1 (the admin channel's)", s.count())
	}
}

// SECURITY: an IPv6 zone does not get around the deny list: zoned
// loopback reaches the same Alertmanager as ::1.
func TestTenantCannotReachZonedLoopback(t *testing.T) {
	s := newSinkOn(t, "[::1]:0", nil)
	m, reg := startManager(t, testOptions(t, defaultGuard(t)))
	u, err := url.Parse(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	for i, zone := range []string{"lo", "1"} {
		zoned := "http://[::1%25" + zone + "]:" + u.Port() + "/"
		spec := webhookSpec(fmt.Sprintf("team-a/zoned-%d", i), false, zoned)
		spec.Policy.GroupInterval = time.Hour
		mustApply(t, m, spec)
		syncOne(m, spec.ID, newInc(1, alert.Firing, "alertname", "A"))
		testutil.Eventually(t, 5*time.Second, zoned+" denied", func() bool { return failed(t, reg, "webhook", "denied") == float64(i+1) })
	}
	if n := s.count(); n != 0 {
		t.Errorf("the sink on ::1 got %d requests through a zone", n)
	}
}

// SECURITY: the check is at dial time, so that a redirect from an allowed
// address to a denied one fails too, and so do the other connections an
// HTTP client makes for a channel (OAuth2 token, proxy). 127.0.0.2 plays
// the denied network, 127.0.0.1 the allowed public host.
func TestTenantIndirectRoutesToDeniedAddress(t *testing.T) {
	deny, err := ParseCIDRs("127.0.0.2/32")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		// spec returns the channel's receiver.yaml.
		spec func(allowed, denied string) string
		// wantAllowed is how many requests the allowed server gets.
		wantAllowed int
	}{
		{
			name:        "redirect",
			spec:        func(allowed, _ string) string { return "webhook_configs: [{url: '" + allowed + "/redirect'}]" },
			wantAllowed: 1,
		},
		{
			name: "oauth2 token_url",
			spec: func(allowed, denied string) string {
				return "webhook_configs:\n- url: " + allowed + "\n  http_config:\n    oauth2: {client_id: id, client_secret: sec, token_url: '" + denied + "/token'}\n"
			},
		},
		{
			name: "proxy_url",
			spec: func(allowed, denied string) string {
				return "webhook_configs:\n- url: " + allowed + "\n  http_config:\n    proxy_url: " + denied + "\n"
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner := newSinkOn(t, "127.0.0.2:0", nil)
			outer := newSink(t, func(_ int, w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/redirect" {
					http.Redirect(w, r, inner.URL()+"/internal", http.StatusTemporaryRedirect)
				}
			})
			m, reg := startManager(t, testOptions(t, NewGuard(deny)))
			// A long group interval: the given-up notification is not sent
			// again within the test, whatever the machine's speed.
			mustApply(t, m, channel.Spec{ID: "team-a/hook", Policy: policyGI(20*time.Millisecond, time.Hour, time.Hour), Data: kv(KeyReceiver, tt.spec(outer.URL(), inner.URL()))})
			syncOne(m, "team-a/hook", newInc(1, alert.Firing, "alertname", "A"))
			testutil.Eventually(t, 5*time.Second, "dropped", func() bool { return droppedCount(t, reg, "webhook") == 1 })
			if got := failed(t, reg, "webhook", "denied"); got != 1 {
				t.Errorf("failed{webhook,denied}: got %v, want 1", got)
			}
			if outer.count() != tt.wantAllowed {
				t.Errorf("allowed server: got %d requests, want %d", outer.count(), tt.wantAllowed)
			}
			if inner.count() != 0 {
				t.Errorf("denied server: got %d requests, want 0", inner.count())
			}
		})
	}

	t.Run("admin channel follows the redirect", func(t *testing.T) {
		inner := newSinkOn(t, "127.0.0.2:0", nil)
		outer := newSink(t, func(_ int, w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, inner.URL()+"/internal", http.StatusTemporaryRedirect)
		})
		m, reg := startManager(t, testOptions(t, NewGuard(deny)))
		mustApply(t, m, webhookSpec("platform/hook", true, outer.URL()))
		syncOne(m, "platform/hook", newInc(1, alert.Firing, "alertname", "A"))
		waitDelivered(t, reg, "webhook", 1)
		if inner.count() != 1 {
			t.Errorf("redirect target: got %d requests, want 1", inner.count())
		}
	})
}

// SECURITY: the email notifier dials by itself; tenant smarthosts are
// checked before it connects.
func TestTenantEmailDenied(t *testing.T) {
	relay := newSMTPSink(t)
	_, port, _ := strings.Cut(relay.addr(), ":")
	m, reg := startManager(t, testOptions(t, defaultGuard(t)))
	for i, host := range []string{relay.addr(), "localhost:" + port} {
		id := "team-a/mail" + string(rune('0'+i))
		mustApply(t, m, channel.Spec{ID: id, Policy: fastPolicy(),
			Data: kv("type", "email", "to", "a@example.org", "from", "am@example.org", "smarthost", host, "require_tls", "false")})
		syncOne(m, id, newInc(1, alert.Firing, "alertname", "A"))
		testutil.Eventuallyf(t, 5*time.Second, func() bool { return failed(t, reg, "email", "denied") == float64(i+1) },
			testutil.Say("%s: failed{email,denied} = %v, want %d", testutil.Val(host), func() any { return failed(t, reg, "email", "denied") }, testutil.Val(i+1)))
	}
	if got := droppedCount(t, reg, "email"); got != 2 {
		t.Errorf("dropped{email}: got %v, want 2", got)
	}
	if conns, _, _, _ := relay.snapshot(); conns != 0 {
		t.Errorf("the SMTP server got %d connections, want 0", conns)
	}

	mustApply(t, m, channel.Spec{ID: "platform/mail", Trusted: true, Policy: fastPolicy(),
		Data: kv("type", "email", "to", "a@example.org", "from", "am@example.org", "smarthost", relay.addr(), "require_tls", "false")})
	syncOne(m, "platform/mail", newInc(1, alert.Firing, "alertname", "A"))
	waitDelivered(t, reg, "email", 1)
	if _, mails, _, _ := relay.snapshot(); mails != 1 {
		t.Errorf("the SMTP server got %d mails, want 1 (the admin channel's)", mails)
	}
}

// SECURITY: every HTTP integration of a tenant channel goes through the
// guard, SNS included.
func TestTenantSNSDenied(t *testing.T) {
	const sns = "sns_configs:\n- api_url: %s\n  topic_arn: arn:aws:sns:us-east-1:123456789012:alerts\n" +
		"  sigv4: {region: us-east-1, access_key: AKIAEXAMPLE, secret_key: example-secret-key}\n"
	const snsBug = "Alertmanager's SNS notifier (notify/sns/sns.go:77, newSNSHTTPClient) drops the HTTP client options, " +
		"WithDialContextFunc included, when use_aws_http_client is true or the AWS_CA_BUNDLE environment variable is set " +
		"(it is set in this very environment), so a tenant SNS channel reaches 127.0.0.1 and 169.254.169.254; moreover " +
		"without sigv4.access_key the AWS SDK's default credential chain reads ~/.aws files, the web identity token file " +
		"and IMDS with its own client. Fix in build.go: for tenant channels reject use_aws_http_client, sigv4 without " +
		"access_key, sigv4.profile and sigv4.role_arn, and refuse tenant SNS channels while AWS_CA_BUNDLE is set (or " +
		"unset it for the process)"
	caBundle := "/etc/ssl/certs/ca-certificates.crt"
	tests := []struct {
		name       string
		extra      string
		caBundle   string
		regression string
	}{
		{"default HTTP client", "", "", ""},
		{"use_aws_http_client", "  use_aws_http_client: true\n", "", snsBug},
		{"AWS_CA_BUNDLE set", "", caBundle, snsBug},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.caBundle != "" {
				if _, err := os.Stat(tt.caBundle); err != nil {
					t.Skipf("no CA bundle: %v", err)
				}
			}
			// The notifier reads it when it is built.
			t.Setenv("AWS_CA_BUNDLE", tt.caBundle)
			// 400: the AWS SDK does not retry it by itself.
			s := newSink(t, statuses(http.StatusBadRequest))
			opts := testOptions(t, defaultGuard(t))
			opts.MaxRetryDuration = 50 * time.Millisecond
			opts.AttemptTimeout = 200 * time.Millisecond
			if tt.regression != "" {
				// Loading the CA bundle is slow under -race: give the request
				// the time to get out.
				opts.AttemptTimeout = 3 * time.Second
			}
			m, reg := startManager(t, opts)
			data := kv(KeyReceiver, strings.Replace(sns, "%s", s.URL(), 1)+tt.extra)
			if _, err := m.Apply(channel.Spec{ID: "team-a/sns", Data: data, Policy: fastPolicy()}); err != nil {
				// Refused when built: the strongest outcome.
				if !strings.Contains(err.Error(), "tenant") {
					t.Errorf("Apply error does not explain the tenant rule: %v", err)
				}
				if n := s.count(); n != 0 {
					t.Errorf("the loopback sink got %d requests", n)
				}
				return
			}
			syncOne(m, "team-a/sns", newInc(1, alert.Firing, "alertname", "A"))
			testutil.Eventually(t, 10*time.Second, "an outcome", func() bool { return droppedCount(t, reg, "sns") == 1 || deliveredCount(t, reg, "sns") == 1 })
			// The AWS SDK retries the denied dial itself, with a backoff longer
			// than the attempt timeout here, so the reason may read as
			// contextDeadlineExceeded: what matters is that nothing arrives.
			if got := deliveredCount(t, reg, "sns"); got != 0 {
				t.Errorf("delivered{sns}: got %v, want 0", got)
			}
			if n := s.count(); n != 0 {
				t.Errorf("the loopback sink got %d requests from a tenant channel", n)
			}
		})
	}
}

// attempted reports whether an integration type delivered, failed or
// dropped a notification.
func attempted(t *testing.T, reg *prometheus.Registry, typ string) bool {
	t.Helper()
	if deliveredCount(t, reg, typ) > 0 || droppedCount(t, reg, typ) > 0 {
		return true
	}
	for r := notify.DefaultReason; r <= notify.RateLimitedReason; r++ {
		if failed(t, reg, typ, r.String()) > 0 {
			return true
		}
	}
	return failed(t, reg, typ, reasonDenied) > 0
}

// SECURITY: a tenant channel that does not set the endpoint inherits the
// admin's credentials for it (same relay), but must not be able to route
// that request through a proxy of its own. With an https endpoint the
// tenant's proxy would add tls_config.insecure_skip_verify or its own
// tls_config.ca to read it; plain http keeps the test short.
func TestTenantCannotProxyGlobalCredentials(t *testing.T) {
	proxy := newSink(t, nil)
	m, reg := startManager(t, testOptions(t, NewGuard(nil)))
	global := "opsgenie_api_url: http://api.opsgenie.example/\nopsgenie_api_key: s3cr3t-opsgenie-key\n" +
		"telegram_api_url: http://api.telegram.example\ntelegram_bot_token: 123456:s3cr3t-bot-token\n"
	if err := m.SetGlobal(kv(KeyGlobal, global)); err != nil {
		t.Fatalf("SetGlobal: %v", err)
	}
	specs := map[string]string{
		"team-a/opsgenie": "opsgenie_configs: [{http_config: {proxy_url: '" + proxy.URL() + "'}}]",
		"team-a/telegram": "telegram_configs: [{chat_id: 42, http_config: {proxy_url: '" + proxy.URL() + "'}}]",
	}
	byChannel := map[string][]*alert.Incarnation{}
	for id, y := range specs {
		if _, err := m.Apply(channel.Spec{ID: id, Data: kv(KeyReceiver, y), Policy: fastPolicy()}); err != nil {
			continue // rejecting the channel is a fine answer too
		}
		byChannel[id] = []*alert.Incarnation{newInc(1, alert.Firing, "alertname", "A")}
	}
	m.Sync(time.Now(), byChannel)
	// Each channel built has tried once (delivered through the proxy, or
	// failed): what the proxy was sent is all it will be sent.
	for id := range byChannel {
		typ := strings.TrimPrefix(id, "team-a/")
		testutil.Eventually(t, 10*time.Second, "an attempt by "+id, func() bool { return attempted(t, reg, typ) })
	}
	for _, r := range proxy.requests() {
		seen := r.uri + " " + r.header.Get("Authorization")
		if strings.Contains(seen, "s3cr3t-opsgenie-key") || strings.Contains(seen, "s3cr3t-bot-token") {
			t.Errorf("the tenant's proxy received a global credential: %s", seen)
		}
	}
}
