package senders

import (
	"fmt"
	"strings"
	"testing"

	"github.com/amtenant/amtenant/channel"
)

// explodingTemplate is 2 KB of defines each calling the next twice: it
// renders 2^levels copies of its payload.
func explodingTemplate(levels int) string {
	var b strings.Builder
	b.WriteString(`{{ define "t0" }}xxxxxxxxxxxxxxxx{{ end }}`)
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, `{{ define "t%d" }}{{ template "t%d" . }}{{ template "t%d" . }}{{ end }}`, i, i-1, i-1)
	}
	fmt.Fprintf(&b, `{{ template "t%d" . }}`, levels)
	return b.String()
}

func TestCheckTemplate(t *testing.T) {
	for _, tt := range []struct {
		name, text, err string
	}{
		{"plain", "disk full", ""},
		{"Alertmanager's", `{{ template "slack.default.title" . }}`, ""},
		{"ranges", `{{ range .Alerts }}{{ .Labels.alertname }}{{ range .Labels.SortedPairs }}{{ .Name }}{{ end }}{{ end }}`, ""},
		{"a few defines", `{{ define "a" }}A{{ end }}{{ define "b" }}{{ template "a" . }}{{ template "a" . }}{{ end }}{{ template "b" . }}`, ""},
		{"exponential", explodingTemplate(22), "expands to more than 10000 steps"},
		{"recursion", `{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}`, "calls itself"},
		{"mutual recursion", `{{ define "a" }}{{ template "b" . }}{{ end }}{{ define "b" }}{{ template "a" . }}{{ end }}{{ template "a" . }}`, "calls itself"},
		{"three nested ranges", `{{ range .Alerts }}{{ range $.Alerts }}{{ range $.Alerts }}x{{ end }}{{ end }}{{ end }}`, "more than 2 nested range"},
		{"does not parse", `{{ if }}`, ""}, // Alertmanager reports it at delivery
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := checkTemplate("webhook_configs[0].x", tt.text)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("checkTemplate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "webhook_configs[0].x") {
				t.Fatalf("checkTemplate: %v, want %q naming the field", err, tt.err)
			}
		})
	}
}

// A tenant channel with an exploding template is refused with a clear
// error on that channel; an admin channel's templates are trusted.
func TestExplodingTenantTemplateRefused(t *testing.T) {
	m := NewManager(testOptions(t, NewGuard(nil)), nil)
	receiver := "slack_configs:\n- api_url: http://hook.example/\n  text: '" + explodingTemplate(22) + "'\n"
	if len(receiver) > 2048 {
		t.Fatalf("the template is %d bytes", len(receiver))
	}
	_, err := m.Apply(channel.Spec{ID: "team-a/bomb", Data: kv(KeyReceiver, receiver), Policy: fastPolicy()})
	if err == nil || !strings.Contains(err.Error(), "slack_configs[0].text: template") {
		t.Fatalf("Apply: %v, want the template refused", err)
	}
	if _, err := m.Apply(channel.Spec{ID: "platform/bomb", Trusted: true, Data: kv(KeyReceiver, receiver), Policy: fastPolicy()}); err != nil {
		t.Fatalf("admin channel: %v", err)
	}
}
