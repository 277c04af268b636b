package senders

import (
	"strings"
	"testing"

	"github.com/amtenant/amtenant/channel"
)

// fuzzSecret is a secret a fuzzed Secret carries in one of its values.
const fuzzSecret = "SeCrEtToKeN42xyz"

// FuzzChannelSecret: whatever a tenant writes in a channel Secret, in
// either spelling, building it never panics, never exceeds the bounds, and
// its error never shows a secret value.
func FuzzChannelSecret(f *testing.F) {
	f.Add(true, "webhook_configs:\n- url: http://h.example/", "")
	f.Add(true, "slack_configs:\n- api_url: http://h.example/\n  http_config: {authorization: {credentials: ", "}}")
	f.Add(false, "webhook", "{basic_auth: {username: u, password: ")
	f.Add(false, "email", "smarthost: [")
	f.Add(true, "webhook_configs: &a [*a]\n", "")
	b := testBuilder(t0Testing(), defaultGuard(t0Testing()))
	f.Fuzz(func(t *testing.T, full bool, a, c string) {
		value := a + fuzzSecret + c
		var data map[string][]byte
		if full {
			data = map[string][]byte{KeyReceiver: []byte(value)}
		} else {
			data = map[string][]byte{KeyType: []byte(a), "url": []byte(value), "http_config": []byte(value), "send_resolved": []byte(c)}
		}
		integs, _, err := b.build(channel.Spec{ID: "team-a/fuzz", Data: data, Policy: fastPolicy()}, noGlobal())
		if err != nil {
			if strings.Contains(err.Error(), fuzzSecret) {
				t.Fatalf("the error shows the secret: %v", err)
			}
			return
		}
		if len(integs) > MaxIntegrations {
			t.Fatalf("%d integrations built", len(integs))
		}
	})
}

// t0Testing is a *testing.T for helpers called outside a test's run.
func t0Testing() *testing.T { return &testing.T{} }
