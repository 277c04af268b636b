package robot

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/alertmanager/types"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// checkGolden compares got with testdata/name.golden, or rewrites it with
// -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("request differs from %s (run go test -update if the change is intended)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// A custom title and text in Alertmanager's template language.
const (
	customTitle = `{{ .Status | title }}: {{ .CommonLabels.alertname }} ({{ len .Alerts }})`
	customText  = `{{ range .Alerts }}- {{ .Labels.severity | toUpper }} {{ .Labels.alertname }}: {{ .Annotations.summary }}
{{ end }}Silence: {{ .ExternalURL }}/#/silences/new`
)

func TestGoldenRequests(t *testing.T) {
	groups := []struct {
		name   string
		alerts func() []*types.Alert
		header string // Feishu's card colour
	}{
		{"firing", firingGroup, "red"},
		{"resolved", resolvedGroup, "green"},
		{"mixed", mixedGroup, "red"},
	}
	type tcase struct {
		name   string
		typ    string
		secret string
		fields []any
		alerts func() []*types.Alert
		header string
		// contains are checked besides the golden file, in the raw body
		// or in the message text.
		contains []string
	}
	var tests []tcase
	for _, g := range groups {
		tests = append(tests,
			tcase{name: "dingtalk-markdown-" + g.name, typ: "dingtalk", secret: testSecret, alerts: g.alerts},
			tcase{name: "dingtalk-text-" + g.name, typ: "dingtalk", secret: testSecret, fields: []any{"message_type", "text"}, alerts: g.alerts},
			tcase{name: "feishu-" + g.name, typ: "feishu", secret: testSecret, alerts: g.alerts, header: g.header},
			tcase{name: "wecom-markdown-" + g.name, typ: "wecom", alerts: g.alerts},
			tcase{name: "wecom-text-" + g.name, typ: "wecom", fields: []any{"message_type", "text"}, alerts: g.alerts},
		)
	}
	mentions := []any{"at_mobiles", "13800000000, 13900000000", "at_user_ids", []any{"manager01"}, "at_all", true}
	tests = append(tests,
		tcase{name: "dingtalk-markdown-mentions", typ: "dingtalk", secret: testSecret, fields: mentions, alerts: firingGroup,
			contains: []string{"@13800000000", "@13900000000", "@manager01", `"isAtAll":true`}},
		tcase{name: "dingtalk-text-mentions", typ: "dingtalk", secret: testSecret, fields: append([]any{"message_type", "text"}, mentions...), alerts: firingGroup,
			contains: []string{"@13800000000", "@13900000000", "@manager01", `"isAtAll":true`}},
		tcase{name: "dingtalk-unsigned", typ: "dingtalk", alerts: firingGroup},
		tcase{name: "dingtalk-custom", typ: "dingtalk", secret: testSecret, fields: []any{"title", customTitle, "text", customText}, alerts: mixedGroup,
			contains: []string{"Firing: PodCrashLooping (2)", "- WARNING PodCrashLooping: pod web-0 restarts", "http://am.example/#/silences/new"}},
		tcase{name: "feishu-custom", typ: "feishu", secret: testSecret, fields: []any{"title", customTitle, "text", customText}, alerts: resolvedGroup, header: "green",
			contains: []string{"Resolved: DiskFull (1)", "- CRITICAL DiskFull: disk /data is 97% full"}},
		tcase{name: "feishu-unsigned", typ: "feishu", alerts: firingGroup, header: "red"},
		tcase{name: "wecom-markdown-mentions", typ: "wecom", fields: []any{"mentioned_mobile_list", "13800000000,13900000000"}, alerts: firingGroup,
			contains: []string{"<@13800000000>", "<@13900000000>"}},
		tcase{name: "wecom-text-mentions", typ: "wecom", fields: []any{"message_type", "text", "mentioned_mobile_list", []any{"13800000000", "@all"}}, alerts: firingGroup,
			contains: []string{`"mentioned_mobile_list":["13800000000","@all"]`}},
		tcase{name: "wecom-custom", typ: "wecom", fields: []any{"text", customText}, alerts: firingGroup,
			contains: []string{"- CRITICAL HighLatency: 数据库连接数过高"}},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeServiceToken(t, tt.typ, tt.secret, "goldentoken")
			n := mustNew(t, tt.typ, f.entry(tt.fields...), robotOptions(t, nil))
			retry, err := n.Notify(notifyCtx(t.Context()), tt.alerts()...)
			if err != nil {
				t.Fatalf("Notify = %t, %v", retry, err)
			}
			reqs := f.accepted()
			if len(reqs) != 1 {
				t.Fatalf("service accepted %d messages, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Header != tt.header {
				t.Errorf("Feishu header colour = %q, want %q", r.Header, tt.header)
			}
			for _, s := range tt.contains {
				if !strings.Contains(string(r.Body), s) && !strings.Contains(r.Text, s) {
					t.Errorf("request lacks %q: %s", s, r.Body)
				}
			}
			for _, s := range []string{"<no value>", "part 1 of", "Part 1 of"} {
				if strings.Contains(r.Text, s) {
					t.Errorf("text contains %q:\n%s", s, r.Text)
				}
			}
			checkGolden(t, tt.name, r.golden())
		})
	}
}
