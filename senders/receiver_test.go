package senders

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/alertmanager/config"

	"github.com/amtenant/amtenant/channel"
)

// loadData parses a Secret's data and loads it with Alertmanager's config
// loader, as build does, without building integrations.
func loadData(t *testing.T, data map[string][]byte) *config.Receiver {
	t.Helper()
	body, err := parseReceiver(data)
	if err != nil {
		t.Fatalf("parseReceiver: %v", err)
	}
	recv, err := loadReceiver(map[string]any{}, "team-a/c", body)
	if err != nil {
		t.Fatalf("loadReceiver: %v", err)
	}
	return recv
}

func TestKnownTypes(t *testing.T) {
	known := KnownTypes()
	if !slices.IsSorted(known) {
		t.Errorf("KnownTypes() is not sorted: %v", known)
	}
	// The integrations the design names, as far as the pinned Alertmanager
	// ships them.
	for _, typ := range []string{"slack", "email", "webhook", "msteams", "msteamsv2", "pagerduty", "opsgenie",
		"telegram", "discord", "webex", "wechat", "pushover", "victorops", "sns", "jira", "rocketchat", "mattermost", "incidentio"} {
		if !slices.Contains(known, typ) {
			t.Errorf("KnownTypes() lacks %q: %v", typ, known)
		}
	}
}

func TestParseFlatValues(t *testing.T) {
	const slackURL = "https://hooks.slack.com/services/T0/B0/x"
	tests := []struct {
		name  string
		data  map[string][]byte
		check func(t *testing.T, r *config.Receiver)
	}{
		{
			name: "send_resolved string is read as a YAML bool",
			data: kv("type", "slack", "api_url", slackURL, "send_resolved", "true"),
			check: func(t *testing.T, r *config.Receiver) {
				if !r.SlackConfigs[0].SendResolved() {
					t.Error("send_resolved: got false, want true")
				}
			},
		},
		{
			name: "http_config is read as a YAML map",
			data: kv("type", "webhook", "url", "http://hook.example/", "http_config", "follow_redirects: false\nenable_http2: false\n"),
			check: func(t *testing.T, r *config.Receiver) {
				hc := r.WebhookConfigs[0].HTTPConfig
				if hc == nil || hc.FollowRedirects || hc.EnableHTTP2 {
					t.Errorf("http_config: got %+v, want follow_redirects and enable_http2 false", hc)
				}
			},
		},
		{
			name: "max_alerts string is read as a number",
			data: kv("type", "webhook", "url", "http://hook.example/", "max_alerts", "5"),
			check: func(t *testing.T, r *config.Receiver) {
				if got := r.WebhookConfigs[0].MaxAlerts; got != 5 {
					t.Errorf("max_alerts: got %d, want 5", got)
				}
			},
		},
		{
			name: "slack channel with a hash is verbatim",
			data: kv("type", "slack", "api_url", slackURL, "channel", "#alerts"),
			check: func(t *testing.T, r *config.Receiver) {
				if got := r.SlackConfigs[0].Channel; got != "#alerts" {
					t.Errorf("channel: got %q, want %q", got, "#alerts")
				}
			},
		},
		{
			name: "template text is verbatim",
			data: kv("type", "slack", "api_url", slackURL, "text", "{{ .Status }}: x"),
			check: func(t *testing.T, r *config.Receiver) {
				if got := r.SlackConfigs[0].Text; got != "{{ .Status }}: x" {
					t.Errorf("text: got %q, want %q", got, "{{ .Status }}: x")
				}
			},
		},
		{
			name: "pagerduty routing_key keeps its leading zero",
			data: kv("type", "pagerduty", "routing_key", "0123"),
			check: func(t *testing.T, r *config.Receiver) {
				if got := string(r.PagerdutyConfigs[0].RoutingKey); got != "0123" {
					t.Errorf("routing_key: got %q, want %q", got, "0123")
				}
			},
		},
		{
			name: "type with surrounding whitespace",
			data: kv("type", " webhook\n", "url", "http://hook.example/"),
			check: func(t *testing.T, r *config.Receiver) {
				if len(r.WebhookConfigs) != 1 {
					t.Errorf("got %d webhook configs, want 1", len(r.WebhookConfigs))
				}
			},
		},
		{
			name: "email with verbatim address lists",
			data: kv("type", "email", "to", "a@example.org, b@example.org", "from", "am@example.org", "smarthost", "smtp.example.org:587"),
			check: func(t *testing.T, r *config.Receiver) {
				e := r.EmailConfigs[0]
				if e.To != "a@example.org, b@example.org" || e.From != "am@example.org" || e.Smarthost.String() != "smtp.example.org:587" {
					t.Errorf("email: got to=%q from=%q smarthost=%q", e.To, e.From, e.Smarthost.String())
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, loadData(t, tt.data))
		})
	}
}

func TestParseFlatEntry(t *testing.T) {
	body, err := parseReceiver(kv("type", "webhook", "url", "http://hook.example/", "send_resolved", "false", "max_alerts", "5", "http_config", "follow_redirects: false"))
	if err != nil {
		t.Fatal(err)
	}
	if got := body.types(); !reflect.DeepEqual(got, []string{"webhook"}) {
		t.Errorf("types: got %v, want [webhook]", got)
	}
	entries := body["webhook_configs"]
	if len(entries) != 1 {
		t.Fatalf("got %d entries, want 1", len(entries))
	}
	e := entries[0]
	if _, ok := e[KeyType]; ok {
		t.Error("the type key leaked into the entry")
	}
	if e["send_resolved"] != false {
		t.Errorf("send_resolved: got %#v, want false", e["send_resolved"])
	}
	if e["max_alerts"] != 5 {
		t.Errorf("max_alerts: got %#v, want 5", e["max_alerts"])
	}
	if e["url"] != "http://hook.example/" {
		t.Errorf("url: got %#v", e["url"])
	}
}

func TestParseFull(t *testing.T) {
	const body = `
name: ignored-name
webhook_configs:
- url: http://one.example/
- url: http://two.example/
  send_resolved: false
slack_configs:
- api_url: https://hooks.slack.com/services/T0/B0/x
  channel: '#alerts'
email_configs:
- to: ops@example.org
  from: am@example.org
  smarthost: smtp.example.org:587
`
	b := testBuilder(t, NewGuard(nil))
	integs, types, err := b.build(channel.Spec{ID: "platform/all", Trusted: true, Data: kv(KeyReceiver, body)}, noGlobal())
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	if want := []string{"email", "slack", "webhook"}; !reflect.DeepEqual(types, want) {
		t.Errorf("types: got %v, want %v", types, want)
	}
	var keys []string
	resolved := map[string]bool{}
	for _, in := range integs {
		keys = append(keys, in.key())
		resolved[in.key()] = in.SendResolved()
	}
	if want := []string{"email[0]", "slack[0]", "webhook[0]", "webhook[1]"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("integrations: got %v, want %v", keys, want)
	}
	if !resolved["webhook[0]"] || resolved["webhook[1]"] {
		t.Errorf("send_resolved: got %v, want webhook[0] true and webhook[1] false", resolved)
	}

	recv := loadData(t, kv(KeyReceiver, body))
	if recv.Name != "team-a/c" {
		t.Errorf("the name key was not ignored: receiver name %q", recv.Name)
	}
	if got := recv.SlackConfigs[0].Channel; got != "#alerts" {
		t.Errorf("slack channel: got %q", got)
	}
}

func TestParseFullIgnoresLabels(t *testing.T) {
	recv := loadData(t, kv(KeyReceiver, "name: x\nlabels: {a: b}\nwebhook_configs: [{url: 'http://hook.example/'}]\n"))
	if len(recv.WebhookConfigs) != 1 {
		t.Errorf("got %d webhook configs, want 1", len(recv.WebhookConfigs))
	}
}

func TestParseReceiverErrors(t *testing.T) {
	tests := []struct {
		name string
		data map[string][]byte
		want []string // substrings of the error
	}{
		{"both spellings", kv("type", "webhook", "url", "http://x.example/", KeyReceiver, "webhook_configs: [{url: 'http://x.example/'}]"),
			[]string{`"type"`, `"receiver.yaml"`, "one spelling"}},
		{"neither spelling", kv("url", "http://x.example/"), []string{"neither", `"type"`, `"receiver.yaml"`}},
		{"no data at all", nil, []string{"neither"}},
		{"unknown flat type", kv("type", "carrierpigeon", "url", "http://x.example/"),
			[]string{`unknown channel type "carrierpigeon"`, "known:", "email", "slack", "webhook"}},
		{"unknown full type", kv(KeyReceiver, "carrierpigeon_configs:\n- url: http://x.example/\n"),
			[]string{KeyReceiver, `unknown channel type "carrierpigeon"`, "known:", "email", "slack", "webhook"}},
		{"unknown full key", kv(KeyReceiver, "route: {}\nwebhook_configs: [{url: 'http://x.example/'}]\n"),
			[]string{KeyReceiver, `unknown key "route"`}},
		{"configs not a list", kv(KeyReceiver, "webhook_configs:\n  url: http://x.example/\n"),
			[]string{"webhook_configs", "must be a list"}},
		{"entry not a mapping", kv(KeyReceiver, "webhook_configs:\n- http://x.example/\n"),
			[]string{"webhook_configs[0]", "must be a mapping"}},
		{"empty receiver", kv(KeyReceiver, "name: x\n"), []string{"no integration configured"}},
		{"invalid YAML", kv(KeyReceiver, "webhook_configs:\n- url: 'http://x.example/"+secret+"\n\tsend_resolved: [\n"),
			[]string{KeyReceiver, "invalid YAML"}},
		{"YAML scalar holding a secret", kv(KeyReceiver, secret), []string{KeyReceiver, "invalid YAML"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseReceiver(tt.data)
			if err == nil {
				t.Fatal("got no error")
			}
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

func TestBuildUnknownTypeReportsTypes(t *testing.T) {
	b := testBuilder(t, NewGuard(nil))
	tests := []struct {
		name      string
		data      map[string][]byte
		wantTypes []string
	}{
		{"flat", kv("type", "carrierpigeon"), []string{"carrierpigeon"}},
		{"full", kv(KeyReceiver, "carrierpigeon_configs: [{}]"), nil},
		{"invalid but parsable", kv("type", "webhook", "send_resolved", "maybe"), []string{"webhook"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, types, err := b.build(channel.Spec{ID: "team-a/c", Data: tt.data}, noGlobal())
			if err == nil {
				t.Fatal("got no error")
			}
			if !reflect.DeepEqual(types, tt.wantTypes) {
				t.Errorf("types: got %v, want %v", types, tt.wantTypes)
			}
			if !strings.HasPrefix(err.Error(), "team-a/c: ") {
				t.Errorf("error does not name the channel: %q", err)
			}
		})
	}
}

func TestTypesOf(t *testing.T) {
	tests := []struct {
		name string
		data map[string][]byte
		want []string
	}{
		{"flat", kv("type", "slack"), []string{"slack"}},
		{"full", kv(KeyReceiver, "webhook_configs: [{}]\nemail_configs: [{}]\n"), []string{"email", "webhook"}},
		{"unreadable", kv(KeyReceiver, "["), nil},
		{"unknown", kv("type", "carrierpigeon"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TypesOf(tt.data); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("TypesOf: got %v, want %v", got, tt.want)
			}
		})
	}
}

// Alertmanager's defaults of send_resolved differ by integration; they
// must survive the flat spelling.
func TestSendResolvedDefaults(t *testing.T) {
	const slackURL = "https://hooks.slack.com/services/T0/B0/x"
	email := []string{"type", "email", "to", "ops@example.org", "from", "am@example.org", "smarthost", "smtp.example.org:587"}
	tests := []struct {
		name string
		data map[string][]byte
		want bool
	}{
		{"webhook default", kv("type", "webhook", "url", "http://hook.example/"), true},
		{"slack default", kv("type", "slack", "api_url", slackURL), false},
		{"email default", kv(email...), false},
		{"webhook off", kv("type", "webhook", "url", "http://hook.example/", "send_resolved", "false"), false},
		{"slack on", kv("type", "slack", "api_url", slackURL, "send_resolved", "true"), true},
		{"email on", kv(append(email, "send_resolved", "true")...), true},
		{"full webhook default", kv(KeyReceiver, "webhook_configs: [{url: 'http://hook.example/'}]"), true},
		{"full slack default", kv(KeyReceiver, "slack_configs: [{api_url: '"+slackURL+"'}]"), false},
	}
	b := testBuilder(t, NewGuard(nil))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, trusted := range []bool{true, false} {
				integs, _, err := b.build(channel.Spec{ID: "team-a/c", Trusted: trusted, Data: tt.data}, noGlobal())
				if err != nil {
					t.Fatalf("trusted=%t: build: %v", trusted, err)
				}
				if len(integs) != 1 {
					t.Fatalf("trusted=%t: got %d integrations, want 1", trusted, len(integs))
				}
				if got := integs[0].SendResolved(); got != tt.want {
					t.Errorf("trusted=%t: SendResolved() = %t, want %t", trusted, got, tt.want)
				}
			}
		})
	}
}

func TestFileFields(t *testing.T) {
	body, err := parseFull([]byte(`
webhook_configs:
- url_file: /a
  http_config:
    tls_config: {ca_file: /b}
    oauth2:
      client_id: x
      client_secret_file: /c
      token_url: http://t.example/
      tls_config: {cert_file: /d, key_file: /e}
- url: http://x.example/
slack_configs:
- api_url_file: /f
  actions: [{type: button, text: t, url: http://x.example/, confirm: {text: y}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"slack_configs[0].api_url_file",
		"webhook_configs[0].http_config.oauth2.client_secret_file",
		"webhook_configs[0].http_config.oauth2.tls_config.cert_file",
		"webhook_configs[0].http_config.oauth2.tls_config.key_file",
		"webhook_configs[0].http_config.tls_config.ca_file",
		"webhook_configs[0].url_file",
	}
	if got := fileFields(body); !reflect.DeepEqual(got, want) {
		t.Errorf("fileFields:\n got %v\nwant %v", got, want)
	}
}
