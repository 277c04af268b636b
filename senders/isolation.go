package senders

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Tenant isolation: what a tenant's channel may not make the sidecar do.
// A tenant writes its channel Secret; the sidecar runs it with the
// sidecar's own network position, files and credentials. The rules here
// are each defined once; build.go applies them (checkTenant, tenantGlobal)
// and the Guard (guard.go) checks every connection a tenant channel
// makes. A reviewer of the security model starts here.

// checkTenant refuses a tenant channel that would read local files, let
// the AWS SDK connect on its own, or render templates too costly.
func checkTenant(body receiverBody, awsCABundle bool) error {
	if files := fileFields(body); len(files) > 0 {
		return fmt.Errorf("%s: tenant channels may not read local files", strings.Join(files, ", "))
	}
	if err := checkTenantSNS(body, awsCABundle); err != nil {
		return err
	}
	return checkTemplates(body)
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
	stripFiles("global", out)
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

// stripFiles deletes, at any depth, every field that makes the sidecar
// read a local file (readsFile).
func stripFiles(path string, v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			p := path + "." + k
			if readsFile(p, k) {
				delete(t, k)
				continue
			}
			stripFiles(p, val)
		}
	case []any:
		for i, e := range t {
			stripFiles(fmt.Sprintf("%s[%d]", path, i), e)
		}
	}
}
