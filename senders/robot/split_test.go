package robot

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/alertmanager/types"
)

// chinese returns n characters of Chinese text (3 bytes each in UTF-8).
func chinese(n int) string {
	const s = "数据库主从复制延迟持续升高请检查网络与磁盘写入"
	r := []rune(strings.Repeat(s, n/utf8.RuneCountInString(s)+1))
	return string(r[:n])
}

// storm is 40 firing alerts, Storm01…Storm40, with long Chinese
// annotations.
func storm() []*types.Alert {
	var out []*types.Alert
	for i := 1; i <= 40; i++ {
		out = append(out, newAlert(fmt.Sprintf("Storm%02d", i), "warning", false,
			"summary", chinese(200), "description", chinese(400)))
	}
	return out
}

// splitCase is one robot kind and the size its service limits, in bytes.
type splitCase struct {
	name   string
	typ    string
	fields []any
	limit  int
	// size is what the service counts against limit.
	size func(r request) int
	// titled: the part is also marked in the title.
	titled bool
}

func textSize(r request) int { return len(r.Text) }
func bodySize(r request) int { return len(r.Body) }

var splitCases = []splitCase{
	{name: "dingtalk-markdown", typ: "dingtalk", limit: 20000, size: textSize, titled: true},
	{name: "dingtalk-text", typ: "dingtalk", fields: []any{"message_type", "text"}, limit: 20000, size: textSize},
	{name: "feishu", typ: "feishu", limit: 30 * 1024, size: bodySize, titled: true},
	{name: "wecom-markdown", typ: "wecom", limit: 4096, size: textSize},
	{name: "wecom-text", typ: "wecom", fields: []any{"message_type", "text"}, limit: 2048, size: textSize},
}

var (
	partRE = regexp.MustCompile(`(?i)part (\d+) of (\d+)`)
	// alertRE finds an alert's own line (not the title's "[FIRING:n] name").
	alertRE = regexp.MustCompile(`(?:FIRING|RESOLVED) ([A-Z][A-Za-z]*\d*)\b`)
)

// checkParts checks that reqs are the parts 1..n of one notification,
// each within the limit, and returns how often each alert appears.
func checkParts(t *testing.T, sc splitCase, reqs []request) map[string]int {
	t.Helper()
	seen := map[string]int{}
	n := len(reqs)
	for i, r := range reqs {
		if got := sc.size(r); got > sc.limit {
			t.Errorf("part %d: %d bytes, over the limit of %d", i+1, got, sc.limit)
		}
		if !utf8.ValidString(r.Text) {
			t.Errorf("part %d: text is not valid UTF-8", i+1)
		}
		for _, m := range alertRE.FindAllStringSubmatch(r.Text, -1) {
			seen[m[1]]++
		}
		if n == 1 {
			if partRE.MatchString(r.Text) {
				t.Errorf("single message says %q", partRE.FindString(r.Text))
			}
			continue
		}
		want := fmt.Sprintf("part %d of %d", i+1, n)
		m := partRE.FindStringSubmatch(r.Text)
		if m == nil || !strings.EqualFold(m[0], want) {
			t.Errorf("part %d says %q, want %q", i+1, m, want)
		}
		if sc.titled && !strings.Contains(r.Title, "("+want+")") {
			t.Errorf("part %d title %q lacks %q", i+1, r.Title, want)
		}
	}
	return seen
}

func TestSplit(t *testing.T) {
	for _, sc := range splitCases {
		t.Run(sc.name, func(t *testing.T) {
			f := newFakeService(t, sc.typ, signingSecret(sc.typ))
			n := mustNew(t, sc.typ, f.entry(sc.fields...), robotOptions(t, nil))
			retry, err := n.Notify(notifyCtx(t.Context()), storm()...)
			if err != nil {
				t.Fatalf("Notify = %t, %v", retry, err)
			}
			reqs := f.requests()
			if acc := f.accepted(); len(acc) != len(reqs) {
				t.Fatalf("service refused %d of %d parts", len(reqs)-len(acc), len(reqs))
			}
			if len(reqs) < 2 {
				t.Fatalf("40 long alerts sent in %d message(s), want a split", len(reqs))
			}
			seen := checkParts(t, sc, reqs)
			for i := 1; i <= 40; i++ {
				name := fmt.Sprintf("Storm%02d", i)
				if seen[name] != 1 {
					t.Errorf("%s appears in %d parts, want exactly 1", name, seen[name])
				}
				delete(seen, name)
			}
			if len(seen) > 0 {
				t.Errorf("unexpected alerts in the parts: %v", seen)
			}
			t.Logf("%d parts", len(reqs))
		})
	}
}

// notifyNoPanic is Notify with a panic turned into a test failure, as the
// senders turn it into a dropped notification.
func notifyNoPanic(t *testing.T, n Notifier, alerts ...*types.Alert) (retry bool, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Notify panicked: %v", r)
		}
	}()
	return n.Notify(notifyCtx(t.Context()), alerts...)
}

// testHugeAlert checks that an alert over every limit on its own is
// truncated and sent, alone and between two small ones.
func testHugeAlert(t *testing.T, description string) {
	huge := func() *types.Alert {
		return newAlert("Huge", "critical", false, "summary", description, "description", description)
	}
	small := func(name string) *types.Alert {
		return newAlert(name, "warning", false, "summary", "small")
	}
	for _, sc := range splitCases {
		t.Run(sc.name+"/alone", func(t *testing.T) {
			f := newFakeService(t, sc.typ, signingSecret(sc.typ))
			n := mustNew(t, sc.typ, f.entry(sc.fields...), robotOptions(t, nil))
			if retry, err := notifyNoPanic(t, n, huge()); err != nil {
				t.Fatalf("Notify = %t, %v", retry, err)
			}
			reqs := f.accepted()
			if len(reqs) != 1 {
				t.Fatalf("service accepted %d messages, want 1", len(reqs))
			}
			seen := checkParts(t, sc, reqs)
			if seen["Huge"] != 1 {
				t.Errorf("the alert's line is missing: %v", seen)
			}
			if !strings.Contains(reqs[0].Text, "…") {
				t.Errorf("truncated text has no ellipsis")
			}
		})
		t.Run(sc.name+"/in a group", func(t *testing.T) {
			f := newFakeService(t, sc.typ, signingSecret(sc.typ))
			n := mustNew(t, sc.typ, f.entry(sc.fields...), robotOptions(t, nil))
			if retry, err := notifyNoPanic(t, n, small("Before"), huge(), small("After")); err != nil {
				t.Fatalf("Notify = %t, %v", retry, err)
			}
			reqs := f.accepted()
			if len(reqs) != 3 {
				t.Fatalf("service accepted %d messages, want 3", len(reqs))
			}
			seen := checkParts(t, sc, reqs)
			for _, name := range []string{"Before", "Huge", "After"} {
				if seen[name] != 1 {
					t.Errorf("%s appears in %d parts, want 1", name, seen[name])
				}
			}
		})
	}
}

func TestSplitHugeAlert(t *testing.T) {
	// Mostly ASCII with Chinese in between (few, as Alertmanager's
	// truncation is slow on multi-byte text): 25 kB in summary and
	// description each, more than any limit,
	// to be truncated on a character boundary.
	testHugeAlert(t, strings.Repeat("disk /data on node-1 is full and writes fail, free space or grow the volume (满); ", 300))
}

func TestSplitHugeChineseAlert(t *testing.T) {
	// 36 kB of Chinese: over every limit, but fewer characters than the
	// DingTalk and Feishu limits have bytes.
	// (Once fixed, this also checks truncation on a character boundary.)
	testHugeAlert(t, chinese(12000))
}

// TestSplitRetry: when part 2 fails, the retry sends parts 2..n and not
// part 1 again.
func TestSplitRetry(t *testing.T) {
	for _, sc := range splitCases {
		t.Run(sc.name, func(t *testing.T) {
			f := newFakeService(t, sc.typ, signingSecret(sc.typ))
			f.answer = func(n int, _ request) (int, string) {
				if n == 2 {
					return http.StatusOK, rateLimitAnswers[sc.typ]
				}
				return 0, ""
			}
			n := mustNew(t, sc.typ, f.entry(sc.fields...), robotOptions(t, nil))
			ctx := notifyCtx(t.Context())
			retry, err := n.Notify(ctx, storm()...)
			if err == nil || !retry {
				t.Fatalf("first Notify = %t, %v; want true and an error", retry, err)
			}
			if !regexp.MustCompile(`part 2 of \d+`).MatchString(err.Error()) {
				t.Errorf("error %q does not say which part failed", err)
			}
			if got := len(f.requests()); got != 2 {
				t.Fatalf("first Notify made %d requests, want 2 (it stops at the failed part)", got)
			}
			if retry, err := n.Notify(ctx, storm()...); err != nil {
				t.Fatalf("second Notify = %t, %v", retry, err)
			}
			reqs := f.requests()
			var parts []int
			for _, r := range reqs[2:] {
				m := partRE.FindStringSubmatch(r.Text)
				if m == nil {
					t.Fatalf("unmarked part: %.100s", r.Text)
				}
				i, _ := strconv.Atoi(m[1])
				parts = append(parts, i)
			}
			if len(parts) == 0 || parts[0] != 2 {
				t.Fatalf("retry sent parts %v, want 2..n", parts)
			}
			for i, p := range parts {
				if p != i+2 {
					t.Fatalf("retry sent parts %v, want 2..n", parts)
				}
			}
			// What the service accepted is the whole notification, once.
			acc := f.accepted()
			seen := checkParts(t, sc, acc)
			for i := 1; i <= 40; i++ {
				if name := fmt.Sprintf("Storm%02d", i); seen[name] != 1 {
					t.Errorf("%s accepted %d times, want 1", name, seen[name])
				}
			}
		})
	}
}
