package senders

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/prometheus/alertmanager/config"
	"gopkg.in/yaml.v2"

	"github.com/amtenant/amtenant/internal/blame"
	"github.com/amtenant/amtenant/senders/robot"
)

// Data keys of a channel Secret.
const (
	// KeyType names the integration in the flat spelling.
	KeyType = "type"
	// KeyReceiver holds a whole receiver body in the full spelling.
	KeyReceiver = "receiver.yaml"
	// KeyGlobal is the data key of the global Secret.
	KeyGlobal = "global.yaml"
)

// integrationFields maps each integration type Alertmanager ships
// ("slack", "email", …) to the yaml field names of its config struct and
// whether each is a string. It is read off config.Receiver so that it
// follows the pinned Alertmanager version.
var integrationFields = func() map[string]map[string]bool {
	out := map[string]map[string]bool{}
	rt := reflect.TypeFor[config.Receiver]()
	for i := range rt.NumField() {
		f := rt.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		typ, ok := strings.CutSuffix(name, "_configs")
		if !ok || f.Type.Kind() != reflect.Slice {
			continue
		}
		fields := map[string]bool{}
		collectFields(f.Type.Elem(), fields)
		out[typ] = fields
	}
	for typ, t := range robot.ConfigTypes() {
		fields := map[string]bool{}
		collectFields(t, fields)
		out[typ] = fields
	}
	return out
}()

// isRobot tells the types built by package robot from those Alertmanager
// builds.
func isRobot(typ string) bool {
	_, ok := robot.ConfigTypes()[typ]
	return ok
}

// split separates the robots' entries from Alertmanager's.
func (b receiverBody) split() (am, robots receiverBody) {
	am, robots = receiverBody{}, receiverBody{}
	for k, v := range b {
		if isRobot(strings.TrimSuffix(k, "_configs")) {
			robots[k] = v
		} else {
			am[k] = v
		}
	}
	return am, robots
}

func collectFields(t reflect.Type, into map[string]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(opts, "inline") {
			collectFields(f.Type, into)
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		into[name] = ft.Kind() == reflect.String
	}
}

// KnownTypes returns the integration types this build supports, sorted.
func KnownTypes() []string {
	out := make([]string, 0, len(integrationFields))
	for t := range integrationFields {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// receiverBody is a parsed receiver: "<type>_configs" → list of entries.
type receiverBody map[string][]map[string]any

// types returns the integration types in the body, sorted.
func (b receiverBody) types() []string {
	out := make([]string, 0, len(b))
	for k := range b {
		out = append(out, strings.TrimSuffix(k, "_configs"))
	}
	sort.Strings(out)
	return out
}

// parseReceiver reads a channel Secret's data in either spelling.
// Bounds on one channel Secret, so that a hostile Secret under Kubernetes'
// 1 MiB cannot cost the sidecar more than a reasonable channel: each
// integration has its own goroutine and delivery state.
const (
	// MaxIntegrations is the most integrations one channel may declare.
	MaxIntegrations = 32
	// MaxFields is the most fields one integration may set (Alertmanager's
	// largest have about 30).
	MaxFields = 64
)

func parseReceiver(data map[string][]byte) (receiverBody, error) {
	body, err := parseSpelling(data)
	if err != nil {
		return nil, err
	}
	n := 0
	for k, entries := range body {
		n += len(entries)
		for i, e := range entries {
			if len(e) > MaxFields {
				return nil, fmt.Errorf("%s[%d]: %d fields, more than the %d an integration may set", k, i, len(e), MaxFields)
			}
		}
	}
	if n > MaxIntegrations {
		return nil, fmt.Errorf("%d integrations, more than the %d a channel may declare: split them over several Secrets", n, MaxIntegrations)
	}
	return body, nil
}

func parseSpelling(data map[string][]byte) (receiverBody, error) {
	flat, hasType := data[KeyType]
	full, hasFull := data[KeyReceiver]
	switch {
	case hasType && hasFull:
		return nil, fmt.Errorf("both %q and %q are set; use one spelling", KeyType, KeyReceiver)
	case hasFull:
		return parseFull(full)
	case hasType:
		return parseFlat(strings.TrimSpace(string(flat)), data)
	}
	return nil, fmt.Errorf("neither %q (flat spelling) nor %q (full spelling) is set", KeyType, KeyReceiver)
}

func unknownType(typ string) error {
	return fmt.Errorf("unknown channel type %q (known: %s)", typ, strings.Join(KnownTypes(), ", "))
}

// parseFlat builds one entry of <type>_configs from the other data keys.
// Each value is read as YAML, except for fields that are strings in
// Alertmanager's schema: those are taken verbatim, so that a Slack channel
// "#alerts", a template "{{ .Status }}" or a key with leading zeros is not
// mangled by YAML's rules.
func parseFlat(typ string, data map[string][]byte) (receiverBody, error) {
	fields, ok := integrationFields[typ]
	if !ok {
		return nil, unknownType(typ)
	}
	entry := make(map[string]any, len(data))
	for k, v := range data {
		if k == KeyType {
			continue
		}
		raw := string(v)
		if isString, known := fields[k]; known && isString {
			entry[k] = raw
			continue
		}
		var parsed any
		if err := yaml.Unmarshal(v, &parsed); err != nil || parsed == nil {
			entry[k] = raw
			continue
		}
		if _, isStr := parsed.(string); isStr {
			entry[k] = raw
			continue
		}
		entry[k] = normalize(parsed)
	}
	return receiverBody{typ + "_configs": {entry}}, nil
}

// parseFull reads an Alertmanager receiver body.
func parseFull(raw []byte) (receiverBody, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: invalid YAML: %s", KeyReceiver, scrubYAML(err.Error()))
	}
	body := receiverBody{}
	for k, v := range doc {
		switch k {
		case "name", "labels":
			// A receiver copied from an Alertmanager config; the channel's
			// name is its Secret's.
			continue
		}
		typ, ok := strings.CutSuffix(k, "_configs")
		if !ok {
			return nil, fmt.Errorf("%s: unknown key %q (expected <type>_configs)", KeyReceiver, k)
		}
		if _, ok := integrationFields[typ]; !ok {
			return nil, fmt.Errorf("%s: %w", KeyReceiver, unknownType(typ))
		}
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("%s: %s: must be a list", KeyReceiver, k)
		}
		for i, item := range list {
			m, err := stringMap(item)
			if err != nil {
				return nil, fmt.Errorf("%s: %s[%d]: %w", KeyReceiver, k, i, err)
			}
			body[k] = append(body[k], m)
		}
	}
	if len(body) == 0 {
		return nil, fmt.Errorf("%s: no integration configured", KeyReceiver)
	}
	return body, nil
}

// stringMap converts yaml.v2's map[any]any into map[string]any, deeply.
func stringMap(v any) (map[string]any, error) {
	m, ok := v.(map[any]any)
	if !ok {
		if v == nil {
			return map[string]any{}, nil
		}
		return nil, errors.New("must be a mapping")
	}
	out := make(map[string]any, len(m))
	for k, val := range m {
		out[fmt.Sprint(k)] = normalize(val)
	}
	return out, nil
}

func normalize(v any) any {
	switch t := v.(type) {
	case map[any]any:
		m, _ := stringMap(t)
		return m
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}

// parseGlobal reads the global Secret's global.yaml.
func parseGlobal(raw []byte) (map[string]any, error) {
	if len(strings.TrimSpace(string(raw))) == 0 {
		return map[string]any{}, nil
	}
	var doc any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: invalid YAML: %s", KeyGlobal, scrubYAML(err.Error()))
	}
	m, err := stringMap(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", KeyGlobal, err)
	}
	// Accept both the section's content and a document with a global: key.
	if g, ok := m["global"].(map[string]any); ok && len(m) == 1 {
		m = g
	}
	// Validate it alone, so that its errors are reported on the global
	// Secret rather than on every channel.
	if _, err := loadConfig(m, "check", receiverBody{}); err != nil {
		return nil, fmt.Errorf("%s: %s", KeyGlobal, scrubYAML(err.Error()))
	}
	return m, nil
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			out[k] = deepCopy(val)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

// loadConfig runs Alertmanager's own config loader on a one-receiver
// configuration, so that defaults, global inheritance and validation are
// exactly Alertmanager's.
func loadConfig(global map[string]any, name string, body receiverBody) (*config.Receiver, error) {
	recv := map[string]any{"name": name}
	for k, v := range body {
		recv[k] = v
	}
	doc := map[string]any{
		"route":     map[string]any{"receiver": name},
		"receivers": []any{recv},
	}
	if len(global) > 0 {
		doc["global"] = global
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(string(out))
	if err != nil {
		return nil, err
	}
	for i := range cfg.Receivers {
		if cfg.Receivers[i].Name == name {
			return &cfg.Receivers[i], nil
		}
	}
	return nil, errors.New("receiver missing after load")
}

// loadReceiver loads body and, when that fails, finds the entry (and, for
// type errors, the field) at fault, so that the error names it.
func loadReceiver(global map[string]any, name string, body receiverBody) (*config.Receiver, error) {
	r, err := loadConfig(global, name, body)
	if err == nil {
		return r, nil
	}
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for i, e := range body[k] {
			one := receiverBody{k: {e}}
			if _, ierr := loadConfig(global, name, one); ierr != nil {
				return nil, fmt.Errorf("%s[%d]%s: %s", k, i, blameField(global, name, k, e, ierr), scrubYAML(ierr.Error()))
			}
		}
	}
	return nil, errors.New(scrubYAML(err.Error()))
}

// blameField finds the field at fault for a YAML type error (a value of
// the wrong type, or a field Alertmanager does not know), returning
// ".<field>" or "".
func blameField(global map[string]any, name, key string, entry map[string]any, err error) string {
	if !isTypeError(err) {
		return ""
	}
	f, _ := blame.Field(entry, func(one map[string]any) error {
		if _, ferr := loadConfig(global, name, receiverBody{key: {one}}); ferr != nil && isTypeError(ferr) {
			return ferr
		}
		return nil
	})
	if f == "" {
		return ""
	}
	return "." + f
}

func isTypeError(err error) bool {
	return strings.Contains(err.Error(), "cannot unmarshal") || strings.Contains(err.Error(), "not found in type")
}
