package policy

import (
	"fmt"
	"strings"

	"github.com/prometheus/alertmanager/featurecontrol"
	"github.com/prometheus/alertmanager/matcher/compat"
	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/promslog"
)

// ParseMatcher parses one matcher as Alertmanager v0.34 does by default:
// the UTF-8 syntax, falling back to the classic one.
func ParseMatcher(s string) (*labels.Matcher, error) {
	return fallbackParser(s, "amtenant")
}

var fallbackParser = compat.FallbackMatcherParser(promslog.NewNopLogger())

func init() {
	// Alertmanager's configuration types (inhibit rules' matchers, equal
	// labels) parse with matcher/compat's package-wide parser, which
	// Alertmanager's main sets from its feature flags: by default the
	// UTF-8 parser falling back to the classic one. So here too.
	compat.InitFromFlags(promslog.NewNopLogger(), featurecontrol.NoopFlags{})
}

// MaxMatcherLength bounds one matcher's text: parsing a long regular
// expression costs memory and time, paid by every tenant.
const MaxMatcherLength = 1024

// MaxMatchers bounds the matchers of one annotation or silence.
const MaxMatchers = 64

// ParseMatcherLines reads matchers one per line; blank lines and lines
// starting with # are skipped. what names the field in errors.
func ParseMatcherLines(what, v string) (labels.Matchers, error) {
	var out labels.Matchers
	for i, line := range strings.Split(v, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if len(line) > MaxMatcherLength {
			return nil, fmt.Errorf("%s, line %d: a matcher of %d bytes, at most %d are allowed", what, i+1, len(line), MaxMatcherLength)
		}
		if len(out) == MaxMatchers {
			return nil, fmt.Errorf("%s: more than %d matchers", what, MaxMatchers)
		}
		m, err := ParseMatcher(line)
		if err != nil {
			return nil, fmt.Errorf("%s, line %d: %w", what, i+1, err)
		}
		out = append(out, m)
	}
	return out, nil
}
