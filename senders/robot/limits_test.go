package robot

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestLimitCountsMentions: the mentions DingTalk and WeCom add to the text
// count towards the service's limit too.
func TestLimitCountsMentions(t *testing.T) {
	// The text is exactly the limit; the mentions push it over.
	const text = `{{ range .Alerts }}{{ .Annotations.description }}{{ end }}`
	tests := []struct {
		name   string
		typ    string
		limit  int
		fields []any
		want   string // the mention, in every part
	}{
		{"dingtalk-markdown", "dingtalk", dingTalkLimit, []any{"at_mobiles", "13800000000,13900000000"}, "@13900000000"},
		{"dingtalk-text", "dingtalk", dingTalkLimit, []any{"message_type", "text", "at_mobiles", "13800000000,13900000000"}, "@13900000000"},
		{"wecom-markdown", "wecom", weComMarkdownLimit, []any{"mentioned_mobile_list", "13800000000,13900000000"}, "<@13900000000>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeService(t, tt.typ, signingSecret(tt.typ))
			n := mustNew(t, tt.typ, f.entry(append(tt.fields, "text", text)...), robotOptions(t, nil))
			a := newAlert("Full", "warning", false, "description", strings.Repeat("x", tt.limit))
			if retry, err := n.Notify(notifyCtx(t.Context()), a); err != nil {
				t.Fatalf("Notify = %t, %v", retry, err)
			}
			for i, r := range f.requests() {
				if len(r.Text) > tt.limit {
					t.Errorf("part %d: %d bytes, over the limit of %d", i+1, len(r.Text), tt.limit)
				}
				if !strings.Contains(r.Text, tt.want) {
					t.Errorf("part %d lacks the mention %s", i+1, tt.want)
				}
			}
		})
	}
}

// TestFeishuRequestLimitCountsEscapes: Feishu limits the request, in which
// JSON escapes "<", ">" and "&" in six bytes each; a group whose text is
// within feishuLimit may still make a request over 30 KB. It must be split,
// not refused.
func TestFeishuRequestLimitCountsEscapes(t *testing.T) {
	// A probe's error page quoted in the description.
	page := strings.Repeat("<tr><td>node-1</td><td>&lt;down&gt;</td></tr>\n", 400)
	a := newAlert("ProbeFailed", "critical", false, "summary", "probe failed", "description", page)
	f := newFakeService(t, "feishu", testSecret)
	n := mustNew(t, "feishu", f.entry(), robotOptions(t, nil))

	// The premise: the text fits feishuLimit, its JSON does not fit 30 KB.
	b, _ := json.Marshal(page)
	if len(page) > feishuLimit || len(b) <= feishuRequestLimit {
		t.Fatalf("premise: text %d bytes (limit %d), JSON %d bytes (limit %d)", len(page), feishuLimit, len(b), feishuRequestLimit)
	}
	if retry, err := n.Notify(notifyCtx(t.Context()), a); err != nil {
		t.Fatalf("Notify = %t, %v; want the alert sent within 30 KB", retry, err)
	}
	reqs := f.accepted()
	if len(reqs) == 0 {
		t.Fatal("nothing sent")
	}
	seen := checkParts(t, splitCase{typ: "feishu", limit: feishuRequestLimit, size: bodySize, titled: true}, reqs)
	if seen["ProbeFailed"] != 1 {
		t.Errorf("ProbeFailed appears %d times, want 1", seen["ProbeFailed"])
	}
}
