package senders

import (
	"encoding/base64"
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/alertmanager/config"

	"github.com/amtenant/amtenant/senders/robot"
)

// backquoted matches the values yaml.v2 quotes in its errors
// ("cannot unmarshal !!str `hunter2` into bool").
var backquoted = regexp.MustCompile("`[^`]*`")

// scrubYAML removes quoted values from YAML decoder errors: the value of a
// mistyped field may well be a secret.
func scrubYAML(msg string) string {
	msg = backquoted.ReplaceAllString(msg, "`<redacted>`")
	// A local tag (!anything) is the document's text too; YAML's own
	// (!!str) are kept.
	return localTag.ReplaceAllString(msg, "$1!<redacted>")
}

var localTag = regexp.MustCompile(`(^|\s)![^!\s]\S*`)

// Redactor removes known secret values from text that is about to be
// logged, put in an Event or returned as an error.
type Redactor struct {
	secrets []string
}

// minSecretLen is the shortest value that is redacted: shorter values
// ("true", "10s", a port) are not secrets and replacing them everywhere
// would make messages unreadable.
const minSecretLen = 6

// NewRedactor returns a Redactor for values. Multi-line values are also
// redacted line by line.
func NewRedactor(values ...string) *Redactor {
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		s = strings.TrimSpace(s)
		if len(s) >= minSecretLen && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, v := range values {
		add(v)
		for _, d := range derived(v) {
			add(d)
		}
		for line := range strings.SplitSeq(v, "\n") {
			add(line)
			// "key: value" lines of YAML values.
			if _, after, ok := strings.Cut(line, ":"); ok {
				add(strings.Trim(strings.TrimSpace(after), `"'`))
			}
		}
	}
	// Longest first, so that a value containing another is replaced whole.
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return &Redactor{secrets: out}
}

// String returns s without any of the secret values.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	for _, v := range r.secrets {
		s = strings.ReplaceAll(s, v, "<redacted>")
	}
	return s
}

// minSegmentLen is the shortest URL path segment redacted on its own: a
// token in a path (Slack's, a chat robot's) is long, "api" or "v1" are not.
const minSegmentLen = 12

// derived returns the forms in which a receiver may echo a secret value
// back or an error may quote it: Go-quoted, URL-escaped, and a URL's path,
// query, password and long path segments (a receiver answering "no such
// hook /services/T0/B0/XYZ").
func derived(v string) []string {
	v = strings.TrimSpace(v)
	// Go-quoted (errors quote values with %q), URL-escaped, long runs.
	q := strconv.Quote(v)
	out := []string{q[1 : len(q)-1], url.QueryEscape(v), url.PathEscape(v)}
	for _, run := range tokenRun.FindAllString(v, 64) {
		if !configKeys[run] {
			out = append(out, run)
		}
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return out
	}
	out = append(out, u.Path, u.EscapedPath(), u.RawQuery)
	if u.RawQuery != "" {
		out = append(out, u.Path+"?"+u.RawQuery)
	}
	if p, ok := u.User.Password(); ok {
		out = append(out, p, basicAuth(u.User.Username(), p))
	}
	for seg := range strings.SplitSeq(u.Path, "/") {
		if len(seg) >= minSegmentLen {
			out = append(out, seg)
		}
	}
	for _, vals := range u.Query() {
		out = append(out, vals...)
	}
	return out
}

// tokenRun is a run of token characters; runs of at least minSegmentLen
// are redacted on their own, since an error may quote only part of a value
// (a URL without its fragment, a host).
var tokenRun = regexp.MustCompile(`[A-Za-z0-9_\-+/=]{12,}`)

// basicAuth is the credential of an HTTP Basic Authorization header.
func basicAuth(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}

// configKeys are the keys of Alertmanager's receiver schema and the
// robots', at any depth: long ones ("credentials_file") are not secrets,
// and redacting them would make every error about them unreadable.
var configKeys = func() map[string]bool {
	keys := map[string]bool{}
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map || t.Kind() == reflect.Array {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for i := range t.NumField() {
			f := t.Field(i)
			if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name != "" && name != "-" {
				keys[name] = true
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeFor[config.Receiver]())
	walk(reflect.TypeFor[config.GlobalConfig]())
	for _, t := range robot.ConfigTypes() {
		walk(t)
	}
	return keys
}()

// redactedError is an error whose message had secret values removed; it
// still unwraps to the original, so that errors.Is(err, ErrDenied) holds.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Error returns err with its message redacted (and truncated), keeping
// what it wraps.
func (r *Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	return &redactedError{msg: truncateError(r.String(err.Error())), err: err}
}
