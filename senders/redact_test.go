package senders

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/amtenant/amtenant/alert"
	"github.com/amtenant/amtenant/channel"
	"github.com/amtenant/amtenant/internal/testutil"
)

func TestRedactor(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		in     string
		want   string
	}{
		{"whole value", []string{secret}, "post https://x/" + secret + "/y failed", "post https://x/<redacted>/y failed"},
		{"every occurrence", []string{secret}, secret + " and " + secret, "<redacted> and <redacted>"},
		{"short values are kept", []string{"true", "10s", "8080"}, "true 10s 8080", "true 10s 8080"},
		{"surrounding space is trimmed", []string{"  " + secret + "\n"}, "x " + secret, "x <redacted>"},
		{"lines of a multi-line value", []string{"first-line-value\nsecond-line-value"}, "a second-line-value b", "a <redacted> b"},
		{"YAML values of a multi-line value", []string{"api_url: 'https://hooks.example/" + secret + "'\nchannel: ops"},
			"parse https://hooks.example/" + secret, "parse <redacted>"},
		{"longest first", []string{"abcdefgh", "abcdefghijkl"}, "abcdefghijkl", "<redacted>"},
		{"no values", nil, "unchanged", "unchanged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NewRedactor(tt.values...).String(tt.in); got != tt.want {
				t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	t.Run("nil redactor", func(t *testing.T) {
		var r *Redactor
		if got := r.String("x " + secret); got != "x "+secret {
			t.Errorf("got %q", got)
		}
	})
}

func TestScrubYAML(t *testing.T) {
	in := "yaml: unmarshal errors:\n  line 4: cannot unmarshal !!str `" + secret + "` into bool"
	got := scrubYAML(in)
	if strings.Contains(got, secret) {
		t.Errorf("scrubYAML left the value: %q", got)
	}
	if !strings.Contains(got, "cannot unmarshal !!str `<redacted>` into bool") {
		t.Errorf("scrubYAML: got %q", got)
	}
}

// buildErr builds a tenant channel and returns its error.
func buildErr(t *testing.T, id string, data map[string][]byte) error {
	t.Helper()
	_, _, err := testBuilder(t, NewGuard(nil)).build(channel.Spec{ID: id, Data: data, Policy: fastPolicy()}, noGlobal())
	if err == nil {
		t.Fatal("build: got no error")
	}
	return err
}

// Errors name the channel and the entry (and field) at fault, and never
// contain a value of the Secret.
func TestBuildErrorMessages(t *testing.T) {
	const hookURL = "https://hooks.example/services/" + secret
	tests := []struct {
		name       string
		id         string
		data       map[string][]byte
		want       []string
		regression string
	}{
		{
			name: "slack without api_url nor global",
			id:   "team-a/slack",
			data: kv("type", "slack", "channel", "#alerts"),
			want: []string{"team-a/slack: slack_configs[0]", "no Slack API URL"},
		},
		{
			name: "wrong type with a secret value, full spelling",
			id:   "team-a/hook",
			data: kv(KeyReceiver, "webhook_configs:\n- url: "+hookURL+"\n  send_resolved: maybe\n"),
			want: []string{"team-a/hook: webhook_configs[0].send_resolved", "into bool"},
		},
		{
			name: "field whose value is the secret, full spelling",
			id:   "team-a/hook",
			data: kv(KeyReceiver, "webhook_configs:\n- url: http://hook.example/\n  max_alerts: "+secret+"\n"),
			want: []string{"team-a/hook: webhook_configs[0].max_alerts"},
		},
		{
			name: "slack field whose value is the secret",
			id:   "team-a/slack",
			data: kv("type", "slack", "api_url", "https://hooks.slack.com/services/x", "send_resolved", secret),
			want: []string{"team-a/slack: slack_configs[0].send_resolved", "into bool"},
		},
		{
			name: "second entry at fault",
			id:   "team-a/hooks",
			data: kv(KeyReceiver, "webhook_configs:\n- url: http://ok.example/\n- url: "+hookURL+"\n  max_alerts: -1\n"),
			want: []string{"team-a/hooks: webhook_configs[1].max_alerts"},
		},
		{
			name: "validation error quoting a secret value",
			id:   "team-a/mail",
			data: kv("type", "email", "to", "ops@example.org", "from", "am@example.org", "smarthost", secret),
			want: []string{"team-a/mail: email_configs[0]", "missing port"},
		},
		{
			name: "invalid URL with a password, block YAML",
			id:   "team-a/hook",
			data: kv(KeyReceiver, "webhook_configs:\n- url: http://user:"+secret+"@hook.example:bad/\n"),
			want: []string{"team-a/hook: webhook_configs[0]", "invalid URL"},
		},
		{
			name: "wrong type, flat spelling names the entry and field",
			id:   "team-a/hook",
			data: kv("type", "webhook", "url", hookURL, "send_resolved", "maybe"),
			want: []string{"team-a/hook: webhook_configs[0].send_resolved"},
			regression: `redactorFor (build.go:90) treats every data value of 6 characters or more as a secret, including the value of the ` +
				`"type" key; for types such as "webhook", "pagerduty", "opsgenie" the error then reads "<redacted>_configs[0].send_resolved" ` +
				`and no longer names the entry`,
		},
		{
			name:       "field whose value is the secret, flat spelling names the entry",
			id:         "team-a/hook",
			data:       kv("type", "webhook", "url", "http://hook.example/", "max_alerts", secret),
			want:       []string{"webhook_configs[0].max_alerts"},
			regression: `redactorFor (build.go:90) redacts the "type" value "webhook" from the error, see above`,
		},
		{
			name: "invalid URL with a password, JSON receiver.yaml",
			id:   "team-a/hook",
			data: kv(KeyReceiver, `{"webhook_configs": [{"url": "http://user:`+secret+`@hook.example:bad/"}]}`),
			want: []string{"team-a/hook: webhook_configs[0]", "invalid URL"},
			regression: `NewRedactor (redact.go:32) only knows whole values, whole lines and the text after the first colon of a line; ` +
				`a receiver.yaml in flow style or JSON (valid YAML) has all values on one line, so Alertmanager's "invalid URL: parse \"http://user:<password>@…\"" ` +
				`error carries the password out; redact the leaves of the parsed document instead`,
		},
		{
			name:       "validation error quoting a secret value, JSON receiver.yaml",
			id:         "team-a/mail",
			data:       kv(KeyReceiver, `{"email_configs": [{"to": "ops@example.org", "from": "am@example.org", "smarthost": "`+secret+`"}]}`),
			want:       []string{"team-a/mail: email_configs[0]"},
			regression: `NewRedactor (redact.go:32) does not see the values of a one-line (flow/JSON) receiver.yaml, see above`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := buildErr(t, tt.id, tt.data)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error contains the secret: %q", err)
			}
		})
	}
}

// An error of a channel never shows a value of the global Secret either.
func TestBuildErrorRedactsGlobal(t *testing.T) {
	m := NewManager(testOptions(t, NewGuard(nil)), nil)
	if err := m.SetGlobal(kv(KeyGlobal, "smtp_from: am@example.org\nsmtp_smarthost: smtp.example.org:25\nsmtp_auth_username: relay\nsmtp_auth_password: "+secret+"\n")); err != nil {
		t.Fatal(err)
	}
	// The email entry is broken; the message is about it.
	_, err := m.Apply(channel.Spec{ID: "platform/mail", Trusted: true, Data: kv("type", "email", "to", "ops@example.org", "send_resolved", "maybe"), Policy: fastPolicy()})
	if err == nil {
		t.Fatal("Apply: got no error")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error contains the global secret: %q", err)
	}
	if !strings.Contains(err.Error(), "email_configs[0].send_resolved") {
		t.Errorf("error does not name the field: %q", err)
	}
}

// SECURITY: a receiver that echoes what it was sent (the URL's path with
// its token, the Basic credentials) does not put a secret into an error:
// not in explain's last attempt, not in send-test's result. Flat values
// written as YAML flow or JSON are split into their secret scalars.
func TestEchoingReceiverIsRedacted(t *testing.T) {
	const (
		token    = "T0AAAA/B0BBBB/xoxbSecretToken1234"
		password = "correct-horse-battery"
	)
	s := newSink(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "no hook at %s (query %s); you sent %q", r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"))
	})
	for _, tt := range []struct {
		name string
		data map[string][]byte
	}{
		{"flat, flow style", kv("type", "webhook", "url", s.URL()+"/services/"+token+"?key=querySecret99",
			"http_config", "{basic_auth: {username: robot, password: "+password+"}}")},
		{"flat, JSON", kv("type", "webhook", "url", s.URL()+"/services/"+token+"?key=querySecret99",
			"http_config", `{"basic_auth": {"username": "robot", "password": "`+password+`"}}`)},
		{"full spelling", kv(KeyReceiver, "webhook_configs:\n- url: "+s.URL()+"/services/"+token+"?key=querySecret99\n  http_config: {basic_auth: {username: robot, password: "+password+"}}\n")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(t, NewGuard(nil))
			m, reg := startManager(t, opts)
			spec := channel.Spec{ID: "team-a/echo", Trusted: true, Data: tt.data, Policy: fastPolicy()}
			spec.Policy.GroupInterval = time.Hour
			mustApply(t, m, spec)
			a := newInc(1, alert.Firing, "alertname", "A")
			syncOne(m, spec.ID, a)
			testutil.Eventually(t, 5*time.Second, "dropped", func() bool { return droppedCount(t, reg, "webhook") == 1 })
			st, _ := m.Explain(spec.ID, a.Fingerprint)
			res, err := m.SendTest(t.Context(), spec.ID, "team-a")
			if err != nil || len(res) != 1 || res[0].Err == nil {
				t.Fatalf("send-test: %v, %v", res, err)
			}
			for where, text := range map[string]string{"explain": st[0].LastAttempt.Error, "send-test": res[0].Err.Error()} {
				if !strings.Contains(text, "404") {
					t.Errorf("%s: %q, want the status", where, text)
				}
				for _, secretPart := range []string{"xoxbSecretToken1234", "querySecret99", password, basicAuth("robot", password), "B0BBBB/xoxb"} {
					if strings.Contains(text, secretPart) {
						t.Errorf("%s shows %q: %s", where, secretPart, text)
					}
				}
			}
		})
	}
}

// A redacted error keeps what it wraps: errors.Is still finds ErrDenied,
// and the message holds no secret.
func TestRedactorErrorUnwraps(t *testing.T) {
	r := NewRedactor("hunter2hunter2")
	err := r.Error(fmt.Errorf("post https://x.example/hunter2hunter2: %w", ErrDenied))
	if !errors.Is(err, ErrDenied) {
		t.Error("errors.Is(err, ErrDenied) is false after redaction")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("the redacted message holds the secret: %s", err)
	}
	if r.Error(nil) != nil {
		t.Error("Error(nil) is not nil")
	}
}
