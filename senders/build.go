package senders

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/prometheus/alertmanager/config/receiver"
	"github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/alertmanager/types"
	"gopkg.in/yaml.v2"

	"github.com/amtenant/amtenant/channel"
	"github.com/amtenant/amtenant/senders/robot"
)

// Notifier is one integration of a channel: Alertmanager's
// notify.Integration satisfies it.
type Notifier interface {
	Notify(ctx context.Context, alerts ...*types.Alert) (retry bool, err error)
	SendResolved() bool
}

// integration is a built notifier with its place in the channel.
type integration struct {
	Notifier
	name string // the integration type: slack, email, …
	idx  int    // index among the channel's integrations of that type
}

func (i integration) key() string { return fmt.Sprintf("%s[%d]", i.name, i.idx) }

// builder turns specs into integrations.
type builder struct {
	tmpl  *template.Template
	guard *Guard
	log   *slog.Logger
	// started, when set, is called as a build starts (tests).
	started func(spec channel.Spec)
	// dial, when set, replaces the network for every channel, the Guard
	// included (tests: an in-memory network inside a synctest bubble).
	dial DialContextFunc
	// pacers are the robots' rate limits, shared by the channels posting
	// to the same robot.
	pacers *robot.Pacers
}

// build parses and builds a channel. The error names the field at fault
// and contains no secret value. types is filled in whenever the
// configuration could be parsed far enough to know it.
func (b *builder) build(spec channel.Spec, global *globalConfig) (integs []integration, typeNames []string, err error) {
	if b.started != nil {
		b.started(spec)
	}
	red := redactorFor(spec, global)
	defer func() {
		if err != nil {
			err = fmt.Errorf("%s: %s", spec.ID, oneLine(red.String(err.Error())))
		}
	}()
	body, err := parseReceiver(spec.Data)
	if err != nil {
		if t, ok := spec.Data[KeyType]; ok {
			typeNames = []string{strings.TrimSpace(string(t))}
		}
		return nil, typeNames, err
	}
	typeNames = body.types()
	g := global.values
	dial := DialContextFunc(plainDial)
	if !spec.Trusted {
		if err := checkTenant(body, os.Getenv("AWS_CA_BUNDLE") != ""); err != nil {
			return nil, typeNames, err
		}
		g = tenantGlobal(global.values, body)
		dial = b.guard.DialContext
	}
	if b.dial != nil {
		dial = b.dial
	}
	httpOpts := boundedHTTPOptions(dial)
	amBody, robotBody := body.split()
	if len(amBody) > 0 {
		recv, err := loadReceiver(g, spec.ID, amBody)
		if err != nil {
			return nil, typeNames, err
		}
		built, err := receiver.BuildReceiverIntegrations(*recv, b.tmpl, b.log.With("channel", spec.ID), httpOpts...)
		if err != nil {
			return nil, typeNames, err
		}
		for _, in := range built {
			var n Notifier = &in
			if in.Name() == "email" && !spec.Trusted {
				// Alertmanager's email notifier dials by itself; check where
				// it is about to connect.
				n = &guardedEmail{Notifier: n, host: recv.EmailConfigs[in.Index()].Smarthost.Host, guard: b.guard}
			}
			integs = append(integs, integration{Notifier: n, name: in.Name(), idx: in.Index()})
		}
	}
	robotKeys := make([]string, 0, len(robotBody))
	for k := range robotBody {
		robotKeys = append(robotKeys, k)
	}
	sort.Strings(robotKeys)
	for _, k := range robotKeys {
		typ := strings.TrimSuffix(k, "_configs")
		for i, e := range robotBody[k] {
			n, err := robot.New(typ, e, robot.Options{Template: b.tmpl, Logger: b.log.With("channel", spec.ID, "integration", typ), HTTPOptions: httpOpts, Pacers: b.pacers})
			if err != nil {
				return nil, typeNames, fmt.Errorf("%s[%d]: %s", k, i, scrubYAML(err.Error()))
			}
			integs = append(integs, integration{Notifier: n, name: typ, idx: i})
		}
	}
	sort.SliceStable(integs, func(i, j int) bool { return integs[i].key() < integs[j].key() })
	return integs, typeNames, nil
}

// oneLine folds a multi-line error (YAML decoders write one line per
// problem) into one line for logs and Events.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func redactorFor(spec channel.Spec, global *globalConfig) *Redactor {
	vals := make([]string, 0, len(spec.Data)+len(global.secrets))
	for k, v := range spec.Data {
		if k == KeyType {
			continue // the integration's name, not a secret
		}
		// The value, and every scalar of it read as YAML, however it is
		// laid out (flow style and JSON put everything on one line): the
		// full spelling's document, and flat values such as http_config.
		vals = append(vals, string(v))
		vals = append(vals, yamlStrings(v)...)
	}
	vals = append(vals, global.secrets...)
	return NewRedactor(vals...)
}

// yamlStrings returns every scalar of a YAML document, as strings.
// fieldName is the shape of Alertmanager's configuration keys.
var fieldName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

func yamlStrings(raw []byte) []string {
	var doc any
	if yaml.Unmarshal(raw, &doc) != nil {
		return nil
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch t := v.(type) {
		case map[any]any:
			m := make(map[string]any, len(t))
			for k, e := range t {
				m[fmt.Sprint(k)] = e
			}
			walk(m)
		case map[string]any:
			// Keys are quoted by errors ("unknown key …"): one that is not
			// shaped like a field name may be a value written in the wrong
			// place.
			for k := range t {
				if !fieldName.MatchString(k) {
					out = append(out, k)
				}
			}
			// A basic_auth block: the header a receiver may echo.
			if u, ok := t["username"].(string); ok {
				if p, ok := t["password"].(string); ok {
					out = append(out, basicAuth(u, p))
				}
			}
			for _, e := range t {
				walk(e)
			}
		case []any:
			for _, e := range t {
				walk(e)
			}
		case nil:
		default:
			out = append(out, fmt.Sprint(t))
		}
	}
	walk(doc)
	return out
}

// Templates returns Alertmanager's default templates, the robots' and the
// user's files (globs, parsed last so that they may redefine any), with the
// external URL that links in messages start with.
func Templates(files []string, externalURL *url.URL) (*template.Template, error) {
	t, err := template.FromGlobs(nil)
	if err != nil {
		return nil, err
	}
	if err := robot.AddTemplates(t); err != nil {
		return nil, err
	}
	for _, f := range files {
		if err := t.FromGlob(f); err != nil {
			return nil, err
		}
	}
	t.ExternalURL = externalURL
	return t, nil
}

// guardedEmail refuses to send to an SMTP smarthost in a denied network.
type guardedEmail struct {
	Notifier
	host  string
	guard *Guard
}

func (g *guardedEmail) Notify(ctx context.Context, alerts ...*types.Alert) (bool, error) {
	if err := g.guard.CheckHost(ctx, g.host); err != nil {
		return false, err
	}
	return g.Notifier.Notify(ctx, alerts...)
}

// globalConfig is the parsed global Secret.
type globalConfig struct {
	values  map[string]any
	secrets []string // its values, for redaction
}

// ensure notify.Integration keeps satisfying Notifier.
var _ Notifier = (*notify.Integration)(nil)
