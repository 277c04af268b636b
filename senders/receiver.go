package senders

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/prometheus/alertmanager/config"
	"gopkg.in/yaml.v2"

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

// readsFile reports whether a configuration key makes the sidecar read a
// local file: every "*_file" key, and the "files" list of an http_headers
// entry.
func readsFile(path, key string) bool {
	return strings.HasSuffix(key, "_file") || (key == "files" && strings.Contains(path, ".http_headers."))
}

// fileFields returns the paths of every field that makes the sidecar read a
// local file, at any depth.
func fileFields(body receiverBody) []string {
	var out []string
	for k, entries := range body {
		for i, e := range entries {
			walkFiles(fmt.Sprintf("%s[%d]", k, i), e, &out)
		}
	}
	sort.Strings(out)
	return out
}

func walkFiles(path string, v any, out *[]string) {
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			p := path + "." + k
			if readsFile(p, k) {
				*out = append(*out, p)
				continue
			}
			walkFiles(p, val, out)
		}
	case []any:
		for i, e := range t {
			walkFiles(fmt.Sprintf("%s[%d]", path, i), e, out)
		}
	}
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

// credentialsByEndpoint lists, per integration type, the fields that name
// where it sends and the global credentials it would inherit. A tenant
// channel that sets its own endpoint does not inherit these credentials:
// otherwise a tenant could point the sidecar at its own server and receive
// the admin's SMTP password or API key.
var credentialsByEndpoint = map[string]struct{ endpoints, credentials []string }{
	"email":      {[]string{"smarthost"}, []string{"smtp_auth_username", "smtp_auth_password", "smtp_auth_password_file", "smtp_auth_secret", "smtp_auth_secret_file", "smtp_auth_identity"}},
	"slack":      {[]string{"api_url", "app_url"}, []string{"slack_app_token", "slack_app_token_file"}},
	"opsgenie":   {[]string{"api_url"}, []string{"opsgenie_api_key", "opsgenie_api_key_file"}},
	"wechat":     {[]string{"api_url"}, []string{"wechat_api_secret", "wechat_api_secret_file"}},
	"victorops":  {[]string{"api_url"}, []string{"victorops_api_key", "victorops_api_key_file"}},
	"telegram":   {[]string{"api_url"}, []string{"telegram_bot_token", "telegram_bot_token_file"}},
	"rocketchat": {[]string{"api_url"}, []string{"rocketchat_token", "rocketchat_token_file", "rocketchat_token_id", "rocketchat_token_id_file"}},
}

// httpSecretKeys are the parts of an http_config that carry credentials.
var httpSecretKeys = []string{"basic_auth", "authorization", "oauth2", "bearer_token", "http_headers", "proxy_connect_header"}

// tenantGlobal returns the part of the global section a tenant channel may
// inherit: no file paths, no credentials in http_config (a tenant chooses
// where its webhooks go), and no integration credentials for types whose
// endpoint the tenant overrides.
func tenantGlobal(global map[string]any, body receiverBody) map[string]any {
	out := deepCopy(global).(map[string]any)
	stripFiles(out)
	if hc, ok := out["http_config"].(map[string]any); ok {
		for _, k := range httpSecretKeys {
			delete(hc, k)
		}
		if tls, ok := hc["tls_config"].(map[string]any); ok {
			delete(tls, "key")
		}
	}
	if tls, ok := out["smtp_tls_config"].(map[string]any); ok {
		delete(tls, "key")
	}
	for typ, rule := range credentialsByEndpoint {
		for _, e := range body[typ+"_configs"] {
			if redirectsTraffic(e) || slices.ContainsFunc(rule.endpoints, func(k string) bool { _, ok := e[k]; return ok }) {
				for _, c := range rule.credentials {
					delete(out, c)
				}
			}
		}
	}
	return out
}

// trafficKeys are http_config settings that let whoever sets them see or
// divert a request, even to the admin's endpoint: a proxy reads it, and a
// TLS override lets the tenant's proxy pose as the endpoint.
var trafficKeys = []string{"proxy_url", "proxy_from_environment", "proxy_connect_header", "no_proxy", "tls_config"}

func redirectsTraffic(entry map[string]any) bool {
	hc, ok := entry["http_config"].(map[string]any)
	if !ok {
		return false
	}
	return slices.ContainsFunc(trafficKeys, func(k string) bool { _, ok := hc[k]; return ok })
}

// checkTenantSNS refuses SNS settings that make the AWS SDK connect or read
// files on its own, out of the Guard's reach: its own HTTP client, and the
// default credential chain (profiles, web identity token files, the
// instance metadata service).
func checkTenantSNS(body receiverBody, awsCABundle bool) error {
	for i, e := range body["sns_configs"] {
		path := fmt.Sprintf("sns_configs[%d]", i)
		if v, _ := e["use_aws_http_client"].(bool); v {
			return fmt.Errorf("%s.use_aws_http_client: not allowed in tenant channels (the AWS client bypasses the network rules)", path)
		}
		if awsCABundle {
			return fmt.Errorf("%s: tenant SNS channels are refused while AWS_CA_BUNDLE is set (the AWS client would bypass the network rules)", path)
		}
		sig, _ := e["sigv4"].(map[string]any)
		for _, k := range []string{"profile", "role_arn"} {
			if _, ok := sig[k]; ok {
				return fmt.Errorf("%s.sigv4.%s: not allowed in tenant channels (it reads the sidecar's AWS configuration)", path, k)
			}
		}
		if _, ok := sig["access_key"]; !ok {
			return fmt.Errorf("%s.sigv4.access_key: required in tenant channels (without it the AWS client uses the sidecar's own credentials)", path)
		}
	}
	return nil
}

func stripFiles(v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			if strings.HasSuffix(k, "_file") || k == "files" {
				delete(t, k)
				continue
			}
			stripFiles(val)
		}
	case []any:
		for _, e := range t {
			stripFiles(e)
		}
	}
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
// ".<field>" or "". Each field is loaded alone, so that the search is
// linear in the number of fields.
func blameField(global map[string]any, name, key string, entry map[string]any, err error) string {
	if !isTypeError(err) {
		return ""
	}
	fields := make([]string, 0, len(entry))
	for f := range entry {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	for _, f := range fields {
		_, ferr := loadConfig(global, name, receiverBody{key: {{f: entry[f]}}})
		if ferr != nil && isTypeError(ferr) {
			return "." + f
		}
	}
	return ""
}

func isTypeError(err error) bool {
	return strings.Contains(err.Error(), "cannot unmarshal") || strings.Contains(err.Error(), "not found in type")
}
