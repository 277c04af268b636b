package robot

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v2"
)

func TestNewConfigErrors(t *testing.T) {
	const dingURL = "https://oapi.dingtalk.com/robot/send?access_token=tok"
	tests := []struct {
		name  string
		typ   string
		entry map[string]any
		want  string // the error names this field
	}{
		{"missing url", "dingtalk", map[string]any{"secret": "SEC1"}, "url"},
		{"missing url", "feishu", map[string]any{}, "url"},
		{"missing url", "wecom", map[string]any{"message_type": "text"}, "url"},
		{"empty url", "wecom", map[string]any{"url": ""}, "url"},
		{"ftp url", "dingtalk", map[string]any{"url": "ftp://oapi.dingtalk.com/robot/send"}, "url"},
		{"url without scheme", "wecom", map[string]any{"url": "qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"}, "url"},
		{"url without host", "feishu", map[string]any{"url": "https:///open-apis/bot/v2/hook/x"}, "url"},
		{"unparsable url", "dingtalk", map[string]any{"url": "http://oapi.dingtalk.com/%zz"}, "url"},
		{"bogus message_type", "dingtalk", map[string]any{"url": dingURL, "message_type": "actionCard"}, "message_type"},
		{"bogus message_type", "wecom", map[string]any{"url": dingURL, "message_type": "news"}, "message_type"},
		{"feishu has no message_type", "feishu", map[string]any{"url": dingURL, "message_type": "text"}, "message_type"},
		{"unknown field", "dingtalk", map[string]any{"url": dingURL, "at_mobile": "138"}, "at_mobile"},
		{"unknown field", "feishu", map[string]any{"url": dingURL, "at_all": true}, "at_all"},
		{"wecom has no secret", "wecom", map[string]any{"url": dingURL, "secret": "SEC1"}, "secret"},
		{"wecom has no title", "wecom", map[string]any{"url": dingURL, "title": "x"}, "title"},
		{"unknown http_config field", "dingtalk", map[string]any{"url": dingURL, "http_config": map[string]any{"proxy": "x"}}, "proxy"},
		{"unknown type", "slack", map[string]any{"url": dingURL}, "slack"},
	}
	for _, tt := range tests {
		t.Run(tt.typ+"/"+tt.name, func(t *testing.T) {
			n, err := New(tt.typ, tt.entry, robotOptions(t, nil))
			if err == nil {
				t.Fatalf("New = %v, nil; want an error naming %s", n, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %s", err, tt.want)
			}
		})
	}
}

// TestNewConfigTypeErrorsNameField: a value of the wrong type is a config
// error like the others, and should say which field it is about.
func TestNewConfigTypeErrorsNameField(t *testing.T) {
	const dingURL = "https://oapi.dingtalk.com/robot/send?access_token=tok"
	tests := []struct {
		field string
		value any
	}{
		{"at_mobiles", map[string]any{"a": "b"}},
		{"at_all", "yes please"},
		{"send_resolved", []any{"no"}},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			_, err := New("dingtalk", map[string]any{"url": dingURL, tt.field: tt.value}, robotOptions(t, nil))
			if err == nil {
				t.Fatal("New accepted a value of the wrong type")
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q does not name %s", err, tt.field)
			}
		})
	}
}

// sentJSON sends the firing group and returns the body the service got.
func sentJSON(t *testing.T, f *fakeService, entry map[string]any) map[string]any {
	t.Helper()
	n := mustNew(t, f.typ, entry, robotOptions(t, nil))
	if _, err := n.Notify(notifyCtx(t.Context()), firingGroup()...); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	reqs := f.accepted()
	if len(reqs) != 1 {
		t.Fatalf("service accepted %d messages, want 1", len(reqs))
	}
	var doc map[string]any
	if err := json.Unmarshal(reqs[0].Body, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestNewConfigLists(t *testing.T) {
	both := []any{"13800000000", "13900000000"}
	tests := []struct {
		name  string
		typ   string
		field string
		value any
		// path to the list in the request body
		path []string
	}{
		{"comma-separated", "dingtalk", "at_mobiles", "13800000000, 13900000000", []string{"at", "atMobiles"}},
		{"list", "dingtalk", "at_mobiles", []any{"13800000000", " 13900000000 "}, []string{"at", "atMobiles"}},
		{"empty items dropped", "dingtalk", "at_mobiles", " ,13800000000,, 13900000000, ", []string{"at", "atMobiles"}},
		{"user ids comma-separated", "dingtalk", "at_user_ids", "13800000000,13900000000", []string{"at", "atUserIds"}},
		{"user ids list", "dingtalk", "at_user_ids", both, []string{"at", "atUserIds"}},
		{"wecom comma-separated", "wecom", "mentioned_mobile_list", "13800000000 , 13900000000", []string{"text", "mentioned_mobile_list"}},
		{"wecom list", "wecom", "mentioned_mobile_list", both, []string{"text", "mentioned_mobile_list"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeService(t, tt.typ, signingSecret(tt.typ))
			doc := sentJSON(t, f, f.entry(tt.field, tt.value, "message_type", "text"))
			var got any = doc
			for _, k := range tt.path {
				got = got.(map[string]any)[k]
			}
			if !reflect.DeepEqual(got, both) {
				t.Errorf("%s sent as %v, want %v", tt.field, got, both)
			}
		})
	}
	t.Run("one number", func(t *testing.T) {
		// The flat spelling reads a lone phone number as a YAML integer.
		f := newFakeService(t, "dingtalk", testSecret)
		doc := sentJSON(t, f, f.entry("at_mobiles", 13800000000))
		if got := doc["at"].(map[string]any)["atMobiles"]; !reflect.DeepEqual(got, []any{"13800000000"}) {
			t.Errorf("at_mobiles sent as %v, want [13800000000]", got)
		}
	})
}

func TestNewFullSpelling(t *testing.T) {
	// An entry of dingtalk_configs as yaml.v2 reads the full spelling.
	f := newFakeService(t, "dingtalk", testSecret)
	var entry map[string]any
	doc := "url: " + f.URL() + "\nsecret: " + testSecret + `
at_mobiles: [13800000000, 13900000000]
at_user_ids: [manager01]
at_all: true
message_type: text
send_resolved: false
`
	if err := yaml.Unmarshal([]byte(doc), &entry); err != nil {
		t.Fatal(err)
	}
	n := mustNew(t, "dingtalk", entry, robotOptions(t, nil))
	if n.SendResolved() {
		t.Error("SendResolved() = true, want false")
	}
	got := sentJSON(t, f, entry)
	want := map[string]any{"atMobiles": []any{"13800000000", "13900000000"}, "atUserIds": []any{"manager01"}, "isAtAll": true}
	if !reflect.DeepEqual(got["at"], want) {
		t.Errorf("at = %v, want %v", got["at"], want)
	}
	if got["msgtype"] != "text" {
		t.Errorf("msgtype = %v, want text", got["msgtype"])
	}
}

func TestSendResolved(t *testing.T) {
	for _, typ := range []string{"dingtalk", "feishu", "wecom"} {
		for _, tt := range []struct {
			name  string
			value any // nil: not set
			want  bool
		}{
			{"default", nil, true},
			{"false", false, false},
			{"true", true, true},
		} {
			t.Run(typ+"/"+tt.name, func(t *testing.T) {
				e := map[string]any{"url": "https://robot.example/hook?key=k"}
				if tt.value != nil {
					e["send_resolved"] = tt.value
				}
				if got := mustNew(t, typ, e, robotOptions(t, nil)).SendResolved(); got != tt.want {
					t.Errorf("SendResolved() = %t, want %t", got, tt.want)
				}
			})
		}
	}
}

func TestConfigTypes(t *testing.T) {
	ct := ConfigTypes()
	for typ, want := range map[string][]string{
		"dingtalk": {"url", "secret", "at_mobiles", "at_user_ids", "at_all", "message_type", "title", "text", "send_resolved", "http_config"},
		"feishu":   {"url", "secret", "title", "text", "send_resolved", "http_config"},
		"wecom":    {"url", "message_type", "mentioned_mobile_list", "text", "send_resolved", "http_config"},
	} {
		rt, ok := ct[typ]
		if !ok {
			t.Errorf("ConfigTypes() lacks %s", typ)
			continue
		}
		got := map[string]bool{}
		var walk func(rt reflect.Type)
		walk = func(rt reflect.Type) {
			for i := range rt.NumField() {
				f := rt.Field(i)
				name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
				if strings.Contains(opts, "inline") {
					walk(f.Type)
					continue
				}
				got[name] = true
			}
		}
		walk(rt)
		for _, f := range want {
			if !got[f] {
				t.Errorf("%s config lacks field %s", typ, f)
			}
			delete(got, f)
		}
		if len(got) > 0 {
			t.Errorf("%s config has unexpected fields %v", typ, got)
		}
	}
}
