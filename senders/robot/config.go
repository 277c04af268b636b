package robot

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"

	commoncfg "github.com/prometheus/common/config"
	"gopkg.in/yaml.v2"

	"github.com/amtenant/amtenant/internal/blame"
)

// StringList is a list given either as a YAML list or as one
// comma-separated string (the flat spelling of a Secret).
type StringList []string

// UnmarshalYAML accepts "a, b" and [a, b].
func (l *StringList) UnmarshalYAML(unmarshal func(any) error) error {
	var list []string
	if err := unmarshal(&list); err == nil {
		*l = trimAll(list)
		return nil
	}
	var s string
	if err := unmarshal(&s); err != nil {
		return errors.New("must be a list or a comma-separated string")
	}
	*l = trimAll(strings.Split(s, ","))
	return nil
}

func trimAll(in []string) StringList {
	var out StringList
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// common are the fields every robot has.
type common struct {
	SendResolved *bool                       `yaml:"send_resolved,omitempty"`
	URL          commoncfg.Secret            `yaml:"url"`
	HTTPConfig   *commoncfg.HTTPClientConfig `yaml:"http_config,omitempty"`
}

func (c *common) validate() error {
	if c.URL == "" {
		return errors.New("url: missing (the robot's webhook URL)")
	}
	u, err := url.Parse(string(c.URL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The URL holds the robot's token: never quote it.
		return errors.New("url: not an http(s) URL")
	}
	if c.HTTPConfig == nil {
		c.HTTPConfig = &commoncfg.DefaultHTTPClientConfig
	}
	return nil
}

// sendResolved defaults to true: a chat group wants to see the all-clear.
func (c *common) sendResolved() bool { return c.SendResolved == nil || *c.SendResolved }

// DingTalkConfig configures a DingTalk custom robot.
type DingTalkConfig struct {
	common      `yaml:",inline"`
	Secret      commoncfg.Secret `yaml:"secret,omitempty"`
	AtMobiles   StringList       `yaml:"at_mobiles,omitempty"`
	AtUserIDs   StringList       `yaml:"at_user_ids,omitempty"`
	AtAll       bool             `yaml:"at_all,omitempty"`
	MessageType string           `yaml:"message_type,omitempty"`
	Title       string           `yaml:"title,omitempty"`
	Text        string           `yaml:"text,omitempty"`
}

// FeishuConfig configures a Feishu/Lark custom bot.
type FeishuConfig struct {
	common `yaml:",inline"`
	Secret commoncfg.Secret `yaml:"secret,omitempty"`
	Title  string           `yaml:"title,omitempty"`
	Text   string           `yaml:"text,omitempty"`
}

// WeComConfig configures a WeCom group robot.
type WeComConfig struct {
	common              `yaml:",inline"`
	MessageType         string     `yaml:"message_type,omitempty"`
	MentionedMobileList StringList `yaml:"mentioned_mobile_list,omitempty"`
	Text                string     `yaml:"text,omitempty"`
}

// ConfigTypes maps each robot type to its config struct, for the senders'
// flat-spelling parser.
func ConfigTypes() map[string]reflect.Type {
	return map[string]reflect.Type{
		"dingtalk": reflect.TypeFor[DingTalkConfig](),
		"feishu":   reflect.TypeFor[FeishuConfig](),
		"wecom":    reflect.TypeFor[WeComConfig](),
	}
}

// decode reads one config entry strictly into out.
func decode(entry map[string]any, out any) error {
	raw, err := yaml.Marshal(entry)
	if err != nil {
		return err
	}
	if err := yaml.UnmarshalStrict(raw, out); err != nil {
		return blameKey(entry, out, err)
	}
	return nil
}

// blameKey names the key whose value alone fails to decode: the decoder's
// line numbers are those of a document the user never wrote.
func blameKey(entry map[string]any, out any, err error) error {
	k, kerr := blame.Field(entry, func(one map[string]any) error {
		raw, _ := yaml.Marshal(one)
		return yaml.UnmarshalStrict(raw, reflect.New(reflect.TypeOf(out).Elem()).Interface())
	})
	if kerr == nil {
		return err
	}
	msg := kerr.Error()
	if i := strings.Index(msg, "line 1: "); i >= 0 {
		msg = msg[i+len("line 1: "):]
	}
	return fmt.Errorf("%s: %s", k, msg)
}

func checkMessageType(t *string, allowed ...string) error {
	if *t == "" {
		*t = allowed[0]
		return nil
	}
	for _, a := range allowed {
		if *t == a {
			return nil
		}
	}
	return fmt.Errorf("message_type: %q is not one of %s", *t, strings.Join(allowed, ", "))
}
