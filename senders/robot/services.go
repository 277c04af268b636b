package robot

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	commoncfg "github.com/prometheus/common/config"
)

// Limits of the services (bytes of the message text).
const (
	dingTalkLimit      = 20000
	feishuRequestLimit = 30 * 1024
	// feishuLimit leaves room in the request for the card around the text.
	feishuLimit        = feishuRequestLimit - 2048
	weComMarkdownLimit = 4096
	weComTextLimit     = 2048
)

// DingTalk robots accept 20 messages per minute, then refuse for ten.
const (
	dingTalkRate   = 20
	dingTalkWindow = time.Minute
)

// Rate-limit codes of the services.
const (
	dingTalkRateLimited = 130101
	feishuRateLimited   = 9499
	weComRateLimited    = 45009
)

// New builds the robot of type typ ("dingtalk", "feishu" or "wecom") from
// one config entry. Errors name the field and contain no secret value.
func New(typ string, entry map[string]any, o Options) (Notifier, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Pacers == nil {
		o.Pacers = NewPacers()
	}
	r := &robot{tmpl: o.Template, log: o.Logger, now: o.Now, sent: newSentCache(), pacers: o.Pacers}
	var c *common
	switch typ {
	case "dingtalk":
		var cfg DingTalkConfig
		if err := decode(entry, &cfg); err != nil {
			return nil, err
		}
		if err := checkMessageType(&cfg.MessageType, "markdown", "text"); err != nil {
			return nil, err
		}
		c, r.flavor = &cfg.common, dingTalk(&cfg)
		r.pace = &paceKey{url: string(cfg.URL), n: dingTalkRate, window: dingTalkWindow}
	case "feishu":
		var cfg FeishuConfig
		if err := decode(entry, &cfg); err != nil {
			return nil, err
		}
		c, r.flavor = &cfg.common, feishu(&cfg)
	case "wecom":
		var cfg WeComConfig
		if err := decode(entry, &cfg); err != nil {
			return nil, err
		}
		if err := checkMessageType(&cfg.MessageType, "markdown", "text"); err != nil {
			return nil, err
		}
		c, r.flavor = &cfg.common, weCom(&cfg)
	default:
		return nil, fmt.Errorf("unknown robot type %q", typ)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	client, err := commoncfg.NewClientFromConfig(*c.HTTPConfig, "amtenant-"+typ, o.HTTPOptions...)
	if err != nil {
		return nil, fmt.Errorf("http_config: %w", err)
	}
	r.client = client
	r.sendResolved = c.sendResolved()
	return r, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// hmacBase64 is base64(HMAC-SHA256(key, msg)).
func hmacBase64(key, msg string) string {
	h := hmac.New(sha256.New, []byte(key))
	h.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// DingTalkSign returns the timestamp and sign query parameters of a signed
// DingTalk request: sign = base64(HMAC-SHA256(secret, timestamp+"\n"+secret)),
// timestamp in milliseconds. (The caller URL-encodes them.)
func DingTalkSign(secret string, now time.Time) (timestamp, sign string) {
	timestamp = strconv.FormatInt(now.UnixMilli(), 10)
	return timestamp, hmacBase64(secret, timestamp+"\n"+secret)
}

// FeishuSign returns the timestamp and sign of a signed Feishu request:
// sign = base64(HMAC-SHA256(timestamp+"\n"+secret, "")), timestamp in
// seconds.
func FeishuSign(secret string, now time.Time) (timestamp, sign string) {
	timestamp = strconv.FormatInt(now.Unix(), 10)
	return timestamp, hmacBase64(timestamp+"\n"+secret, "")
}

func dingTalk(cfg *DingTalkConfig) flavor {
	title := orDefault(cfg.Title, `{{ template "dingtalk.default.title" . }}`)
	text := orDefault(cfg.Text, `{{ template "dingtalk.default.`+cfg.MessageType+`" . }}`)
	mentions := 0
	for _, m := range cfg.AtMobiles {
		mentions += len(" @") + len(m)
	}
	for _, id := range cfg.AtUserIDs {
		mentions += len(" @") + len(id)
	}
	return flavor{
		name:        "dingtalk",
		limit:       dingTalkLimit - mentions,
		markdown:    cfg.MessageType == "markdown",
		rateLimited: []int{dingTalkRateLimited},
		result:      errcodeResult,
		render: func(tmpl func(string) string) (string, string) {
			return tmpl(title), tmpl(text)
		},
		request: func(m message, now time.Time) (string, []byte, error) {
			u, err := url.Parse(string(cfg.URL))
			if err != nil {
				return "", nil, errors.New("dingtalk: invalid url")
			}
			if cfg.Secret != "" {
				ts, sign := DingTalkSign(string(cfg.Secret), now)
				q := u.Query()
				q.Set("timestamp", ts)
				q.Set("sign", sign)
				u.RawQuery = q.Encode()
			}
			// Mentions only notify when the text names them.
			mention := ""
			for _, m := range cfg.AtMobiles {
				mention += " @" + m
			}
			for _, id := range cfg.AtUserIDs {
				mention += " @" + id
			}
			at := map[string]any{"atMobiles": nonNil(cfg.AtMobiles), "atUserIds": nonNil(cfg.AtUserIDs), "isAtAll": cfg.AtAll}
			var body map[string]any
			if cfg.MessageType == "text" {
				body = map[string]any{"msgtype": "text", "text": map[string]any{"content": m.text + mention}, "at": at}
			} else {
				body = map[string]any{"msgtype": "markdown", "markdown": map[string]any{"title": m.title, "text": m.text + mention}, "at": at}
			}
			b, err := marshal(body)
			return u.String(), b, err
		},
	}
}

func feishu(cfg *FeishuConfig) flavor {
	title := orDefault(cfg.Title, `{{ template "feishu.default.title" . }}`)
	text := orDefault(cfg.Text, `{{ template "feishu.default.text" . }}`)
	return flavor{
		name:        "feishu",
		limit:       feishuLimit,
		markdown:    true,
		rateLimited: []int{feishuRateLimited},
		result: func(body []byte) (int, string, error) {
			var a struct {
				Code       *int   `json:"code"`
				Msg        string `json:"msg"`
				StatusCode *int   `json:"StatusCode"`
				StatusMsg  string `json:"StatusMessage"`
			}
			if err := json.Unmarshal(body, &a); err != nil {
				return 0, "", err
			}
			switch {
			case a.Code != nil:
				return *a.Code, a.Msg, nil
			case a.StatusCode != nil:
				return *a.StatusCode, a.StatusMsg, nil
			}
			return 0, "", errors.New("no code")
		},
		render: func(tmpl func(string) string) (string, string) {
			return tmpl(title), tmpl(text)
		},
		request: func(m message, now time.Time) (string, []byte, error) {
			colour := "red"
			if !m.firing {
				colour = "green"
			}
			body := map[string]any{
				"msg_type": "interactive",
				"card": map[string]any{
					"config":   map[string]any{"wide_screen_mode": true},
					"header":   map[string]any{"title": map[string]any{"tag": "plain_text", "content": m.title}, "template": colour},
					"elements": []any{map[string]any{"tag": "markdown", "content": m.text}},
				},
			}
			if cfg.Secret != "" {
				ts, sign := FeishuSign(string(cfg.Secret), now)
				body["timestamp"], body["sign"] = ts, sign
			}
			b, err := marshal(body)
			if err == nil && len(b) > feishuRequestLimit {
				err = fmt.Errorf("feishu: request of %d bytes exceeds the %d-byte limit", len(b), feishuRequestLimit)
			}
			return string(cfg.URL), b, err
		},
	}
}

func weCom(cfg *WeComConfig) flavor {
	text := orDefault(cfg.Text, `{{ template "wecom.default.`+cfg.MessageType+`" . }}`)
	limit := weComMarkdownLimit
	if cfg.MessageType == "text" {
		limit = weComTextLimit
	} else {
		for _, m := range cfg.MentionedMobileList {
			limit -= len(" <@>") + len(m)
		}
	}
	return flavor{
		name:        "wecom",
		limit:       limit,
		markdown:    cfg.MessageType == "markdown",
		rateLimited: []int{weComRateLimited},
		result:      errcodeResult,
		render: func(tmpl func(string) string) (string, string) {
			return "", tmpl(text)
		},
		request: func(m message, _ time.Time) (string, []byte, error) {
			var body map[string]any
			if cfg.MessageType == "text" {
				body = map[string]any{"msgtype": "text", "text": map[string]any{"content": m.text, "mentioned_mobile_list": nonNil(cfg.MentionedMobileList)}}
			} else {
				content := m.text
				for _, mobile := range cfg.MentionedMobileList {
					content += " <@" + mobile + ">"
				}
				body = map[string]any{"msgtype": "markdown", "markdown": map[string]any{"content": content}}
			}
			b, err := marshal(body)
			return string(cfg.URL), b, err
		},
	}
}

// marshal encodes without HTML escaping: "<" must stay one byte, or a
// message measured against the service's limit grows past it.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func nonNil(l StringList) []string {
	if l == nil {
		return []string{}
	}
	return l
}
