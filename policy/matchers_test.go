package policy

import (
	"strings"
	"testing"
)

// TestParseMatcher proves the UTF-8 syntax is read and the classic one is
// the fallback, as in Alertmanager v0.34 by default.
func TestParseMatcher(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{`alertname="NodeDown"`, `alertname="NodeDown"`},
		{`node=~"n1|n2"`, `node=~"n1|n2"`},
		{`severity!=warning`, `severity!="warning"`},           // unquoted value
		{`"service.name"="api"`, `service.name="api"`},         // UTF-8 label name
		{`team = a b`, `team="a b"`},                           // classic fallback: spaces in an unquoted value
		{`msg="a \"quoted\" word"`, `msg="a \"quoted\" word"`}, // escapes
	} {
		m, err := ParseMatcher(tc.in)
		if err != nil {
			t.Errorf("ParseMatcher(%q): %v", tc.in, err)
			continue
		}
		if m.String() != tc.want {
			t.Errorf("ParseMatcher(%q) = %s, want %s", tc.in, m, tc.want)
		}
	}
	for _, in := range []string{``, `foo`, `foo=~"("`, `=bar`} {
		if m, err := ParseMatcher(in); err == nil {
			t.Errorf("ParseMatcher(%q) = %s, want an error", in, m)
		}
	}
}

// TestParseMatcherLines proves blank and # lines are skipped, errors name
// the field and the line, and the MaxMatchers bound.
func TestParseMatcherLines(t *testing.T) {
	ms, err := ParseMatcherLines("f", "\n# comment\n  a=\"1\"  \n\n\tb!~\"2\"\n#c=\"3\"\n")
	if err != nil || len(ms) != 2 || ms[0].String() != `a="1"` || ms[1].String() != `b!~"2"` {
		t.Fatalf("got %v, %v", ms, err)
	}
	if ms, err := ParseMatcherLines("f", ""); err != nil || len(ms) != 0 {
		t.Errorf("empty: got %v, %v", ms, err)
	}
	if _, err := ParseMatcherLines("annotation x", "a=\"1\"\n\nb=~\"(\"\n"); err == nil || !strings.HasPrefix(err.Error(), "annotation x, line 3: ") {
		t.Errorf("bad line: got %v", err)
	}
	if ms, err := ParseMatcherLines("f", strings.Repeat("a=\"1\"\n", MaxMatchers)); err != nil || len(ms) != MaxMatchers {
		t.Errorf("%d matchers: got %d, %v", MaxMatchers, len(ms), err)
	}
	if _, err := ParseMatcherLines("f", strings.Repeat("a=\"1\"\n", MaxMatchers+1)); err == nil || err.Error() != "f: more than 64 matchers" {
		t.Errorf("%d matchers: got %v", MaxMatchers+1, err)
	}
}
