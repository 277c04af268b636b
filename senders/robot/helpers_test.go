package robot

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/alertmanager/types"
	"github.com/prometheus/common/model"
)

// Fixed times: alerts start at testStart, resolved ones end at testEnd and
// the robots' clock (signatures, pacing) reads testNow. All are in the past
// so that Alertmanager, which asks the real clock, sees EndsAt as passed.
var (
	testStart = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	testEnd   = time.Date(2026, 3, 1, 10, 30, 0, 0, time.UTC)
	testNow   = time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)
)

// testSecret is the signing secret the fake DingTalk and Feishu services
// know.
const testSecret = "SECxyz-signing-secret-0123456789"

// tokens makes every robot URL unique: DingTalk pacers are shared per URL
// and the tests' clock stands still, so two tests must never share one.
var tokens atomic.Int64

func newToken() string { return fmt.Sprintf("tok%04dsecret", tokens.Add(1)) }

func testTemplate(t *testing.T) *template.Template {
	t.Helper()
	tmpl, err := template.FromGlobs(nil)
	if err != nil {
		t.Fatalf("FromGlobs: %v", err)
	}
	if err := AddTemplates(tmpl); err != nil {
		t.Fatalf("AddTemplates: %v", err)
	}
	tmpl.ExternalURL, _ = url.Parse("http://am.example")
	return tmpl
}

// notifyCtx carries what the senders put in the context of a notification.
func notifyCtx(ctx context.Context) context.Context {
	ctx = notify.WithReceiverName(ctx, "team-a/chat")
	ctx = notify.WithGroupKey(ctx, "team-a/chat:{}:{tenant=\"team-a\"}")
	ctx = notify.WithGroupLabels(ctx, model.LabelSet{"tenant": "team-a"})
	return notify.WithNotificationReason(ctx, notify.ReasonFirstNotification)
}

// newAlert is an alert of tenant team-a; kv are annotations (name, value
// pairs). A resolved alert ended at testEnd.
func newAlert(name, severity string, resolved bool, kv ...string) *types.Alert {
	ann := model.LabelSet{}
	for i := 0; i+1 < len(kv); i += 2 {
		ann[model.LabelName(kv[i])] = model.LabelValue(kv[i+1])
	}
	a := &types.Alert{Alert: model.Alert{
		Labels: model.LabelSet{
			"alertname": model.LabelValue(name),
			"severity":  model.LabelValue(severity),
			"tenant":    "team-a",
			"namespace": "shop",
		},
		Annotations:  ann,
		StartsAt:     testStart,
		GeneratorURL: "http://prometheus.example/graph?g0.expr=up",
	}, UpdatedAt: testNow}
	if resolved {
		a.EndsAt = testEnd
	}
	return a
}

// Groups of the golden and answer tests.
func firingGroup() []*types.Alert {
	return []*types.Alert{
		newAlert("HighLatency", "warning", false,
			"summary", "p99 latency above 2s",
			"description", `checkout p99 is 3.2s > 2s & rising ("api" pods)`),
		newAlert("HighLatency", "critical", false,
			"summary", "数据库连接数过高",
			"description", "连接池使用率 95%，请检查慢查询。"),
	}
}

func resolvedGroup() []*types.Alert {
	return []*types.Alert{
		newAlert("DiskFull", "critical", true, "summary", "disk /data is 97% full"),
	}
}

func mixedGroup() []*types.Alert {
	return []*types.Alert{
		newAlert("PodCrashLooping", "warning", false, "summary", "pod web-1 restarts"),
		newAlert("PodCrashLooping", "warning", true, "summary", "pod web-0 restarts"),
	}
}

// robotOptions returns Options with the test template, the fixed clock
// and a logger writing to log (io.Discard when nil).
func robotOptions(t *testing.T, log io.Writer) Options {
	if log == nil {
		log = io.Discard
	}
	return Options{
		Template: testTemplate(t),
		Logger:   slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:      func() time.Time { return testNow },
	}
}

func mustNew(t *testing.T, typ string, entry map[string]any, o Options) Notifier {
	t.Helper()
	n, err := New(typ, entry, o)
	if err != nil {
		t.Fatalf("New(%s): %v", typ, err)
	}
	return n
}

// request is one request a fake service received.
type request struct {
	PathQuery string // path and raw query, without the server's address
	Body      []byte
	Text      string // the message text: markdown text, text content or card markdown
	Title     string // DingTalk's markdown title, Feishu's card header
	Header    string // Feishu's header colour
	Mentioned []string
	Accepted  bool // the service answered success
}

// fakeService imitates one robot service: it checks each request as the
// service does (path, token, signature, message shape, size limit) and
// answers in the service's shape, HTTP 200 with a code in the body.
type fakeService struct {
	t      *testing.T
	typ    string
	token  string
	secret string // the signing secret the service expects; "" if unsigned
	srv    *httptest.Server

	// answer, when set, may replace the answer to the n-th (1-based)
	// request that passed the checks; status 0 keeps the success answer.
	answer func(n int, r request) (status int, body string)

	mu   sync.Mutex
	reqs []request
	n    int
}

func newFakeService(t *testing.T, typ, secret string) *fakeService {
	return newFakeServiceToken(t, typ, secret, newToken())
}

// newFakeServiceToken is a service that knows the robot token.
func newFakeServiceToken(t *testing.T, typ, secret, token string) *fakeService {
	f := &fakeService{t: t, typ: typ, token: token, secret: secret}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// URL is the robot's webhook URL, in the service's form.
func (f *fakeService) URL() string {
	switch f.typ {
	case "dingtalk":
		return f.srv.URL + "/robot/send?access_token=" + f.token
	case "feishu":
		return f.srv.URL + "/open-apis/bot/v2/hook/" + f.token
	case "wecom":
		return f.srv.URL + "/cgi-bin/webhook/send?key=" + f.token
	}
	panic("unknown type " + f.typ)
}

// entry is a config entry for the service with extra fields.
func (f *fakeService) entry(kv ...any) map[string]any {
	e := map[string]any{"url": f.URL()}
	if f.secret != "" {
		e["secret"] = f.secret
	}
	for i := 0; i+1 < len(kv); i += 2 {
		e[kv[i].(string)] = kv[i+1]
	}
	return e
}

func (f *fakeService) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.reqs...)
}

func (f *fakeService) accepted() []request {
	var out []request
	for _, r := range f.requests() {
		if r.Accepted {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeService) ok() string {
	if f.typ == "feishu" {
		return `{"code":0,"data":{},"msg":"success"}`
	}
	return `{"errcode":0,"errmsg":"ok"}`
}

func (f *fakeService) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := request{PathQuery: r.URL.RequestURI(), Body: body}
	status, answer := f.check(r, body, &req)
	if status == 0 {
		f.mu.Lock()
		f.n++
		n := f.n
		f.mu.Unlock()
		if f.answer != nil {
			status, answer = f.answer(n, req)
		}
		if status == 0 {
			status, answer, req.Accepted = http.StatusOK, f.ok(), true
		}
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, answer)
}

// check returns a non-zero status and the answer when the service would
// refuse the request; it fills in req's text fields.
func (f *fakeService) check(r *http.Request, body []byte, req *request) (int, string) {
	t := f.t
	if r.Method != http.MethodPost {
		t.Errorf("%s: method %s, want POST", f.typ, r.Method)
		return http.StatusMethodNotAllowed, ""
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", f.typ, ct)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Errorf("%s: body is not JSON: %v", f.typ, err)
		return http.StatusBadRequest, "invalid JSON"
	}
	switch f.typ {
	case "dingtalk":
		return f.checkDingTalk(r, doc, req)
	case "feishu":
		return f.checkFeishu(r, body, doc, req)
	default:
		return f.checkWeCom(r, doc, req)
	}
}

func (f *fakeService) checkDingTalk(r *http.Request, doc map[string]any, req *request) (int, string) {
	q := r.URL.Query()
	if r.URL.Path != "/robot/send" || q.Get("access_token") != f.token {
		return http.StatusOK, `{"errcode":300001,"errmsg":"token is not exist"}`
	}
	if f.secret != "" {
		ts, sign := q.Get("timestamp"), q.Get("sign")
		ms, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || absDuration(time.UnixMilli(ms).Sub(testNow)) > time.Hour {
			return http.StatusOK, `{"errcode":310000,"errmsg":"invalid timestamp"}`
		}
		mac := hmac.New(sha256.New, []byte(f.secret))
		mac.Write([]byte(ts + "\n" + f.secret))
		want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
		if sign != want {
			return http.StatusOK, `{"errcode":310000,"errmsg":"sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"}`
		}
		// The base64 sign holds '+', '/' and '=': it must be URL-encoded.
		if !strings.Contains("&"+r.URL.RawQuery+"&", "&sign="+url.QueryEscape(sign)+"&") {
			f.t.Errorf("dingtalk: sign is not URL-encoded in %q", r.URL.RawQuery)
		}
	}
	at, _ := doc["at"].(map[string]any)
	if at == nil {
		f.t.Errorf("dingtalk: no at object in %v", doc)
	}
	mobiles, _ := at["atMobiles"].([]any)
	for _, m := range mobiles {
		req.Mentioned = append(req.Mentioned, m.(string))
	}
	switch doc["msgtype"] {
	case "markdown":
		md, _ := doc["markdown"].(map[string]any)
		req.Title, _ = md["title"].(string)
		req.Text, _ = md["text"].(string)
		if req.Title == "" || req.Text == "" {
			return http.StatusOK, `{"errcode":40035,"errmsg":"缺少参数 markdown.title or markdown.text"}`
		}
	case "text":
		tx, _ := doc["text"].(map[string]any)
		req.Text, _ = tx["content"].(string)
		if req.Text == "" {
			return http.StatusOK, `{"errcode":40035,"errmsg":"缺少参数 text.content"}`
		}
	default:
		f.t.Errorf("dingtalk: msgtype %v", doc["msgtype"])
		return http.StatusOK, `{"errcode":40035,"errmsg":"缺少参数 msgtype"}`
	}
	if len(req.Text) > dingTalkLimit {
		return http.StatusOK, `{"errcode":460101,"errmsg":"message too long, exceed 20000 bytes"}`
	}
	return 0, ""
}

func (f *fakeService) checkFeishu(r *http.Request, body []byte, doc map[string]any, req *request) (int, string) {
	if r.URL.Path != "/open-apis/bot/v2/hook/"+f.token {
		return http.StatusOK, `{"code":19001,"data":{},"msg":"param invalid: incoming webhook access token invalid"}`
	}
	if len(body) > 30*1024 {
		return http.StatusRequestEntityTooLarge, `request body too large`
	}
	if f.secret != "" {
		ts, _ := doc["timestamp"].(string)
		sign, _ := doc["sign"].(string)
		sec, err := strconv.ParseInt(ts, 10, 64)
		mac := hmac.New(sha256.New, []byte(ts+"\n"+f.secret))
		want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
		if err != nil || absDuration(time.Unix(sec, 0).Sub(testNow)) > time.Hour || sign != want {
			return http.StatusOK, `{"code":19021,"data":{},"msg":"sign match fail or timestamp is not within one hour from current time"}`
		}
	}
	if doc["msg_type"] != "interactive" {
		f.t.Errorf("feishu: msg_type %v", doc["msg_type"])
		return http.StatusOK, `{"code":19002,"data":{},"msg":"params error, msg_type need"}`
	}
	card, _ := doc["card"].(map[string]any)
	header, _ := card["header"].(map[string]any)
	title, _ := header["title"].(map[string]any)
	req.Title, _ = title["content"].(string)
	req.Header, _ = header["template"].(string)
	elems, _ := card["elements"].([]any)
	if len(elems) != 1 {
		f.t.Errorf("feishu: %d card elements, want 1", len(elems))
		return http.StatusOK, `{"code":11246,"data":{},"msg":"create card content failed"}`
	}
	el, _ := elems[0].(map[string]any)
	if el["tag"] != "markdown" {
		f.t.Errorf("feishu: element tag %v, want markdown", el["tag"])
	}
	req.Text, _ = el["content"].(string)
	return 0, ""
}

func (f *fakeService) checkWeCom(r *http.Request, doc map[string]any, req *request) (int, string) {
	if r.URL.Path != "/cgi-bin/webhook/send" || r.URL.Query().Get("key") != f.token {
		return http.StatusOK, `{"errcode":93000,"errmsg":"invalid webhook url, hint: [1700000000_1_abc], from ip: 127.0.0.1"}`
	}
	switch doc["msgtype"] {
	case "markdown":
		md, _ := doc["markdown"].(map[string]any)
		req.Text, _ = md["content"].(string)
		if len(req.Text) > weComMarkdownLimit {
			return http.StatusOK, `{"errcode":40058,"errmsg":"markdown.content exceed max length 4096. invalid Request Parameter"}`
		}
	case "text":
		tx, _ := doc["text"].(map[string]any)
		req.Text, _ = tx["content"].(string)
		mobiles, _ := tx["mentioned_mobile_list"].([]any)
		for _, m := range mobiles {
			req.Mentioned = append(req.Mentioned, m.(string))
		}
		if len(req.Text) > weComTextLimit {
			return http.StatusOK, `{"errcode":40058,"errmsg":"text.content exceed max length 2048. invalid Request Parameter"}`
		}
	default:
		f.t.Errorf("wecom: msgtype %v", doc["msgtype"])
		return http.StatusOK, `{"errcode":40008,"errmsg":"invalid message type"}`
	}
	if req.Text == "" {
		return http.StatusOK, `{"errcode":44004,"errmsg":"empty content"}`
	}
	return 0, ""
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// golden renders a request for a golden file: the path and query, then
// the body indented.
func (r request) golden() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s\n", r.PathQuery)
	if err := json.Indent(&b, r.Body, "", "  "); err != nil {
		b.Write(r.Body)
	}
	b.WriteByte('\n')
	return b.Bytes()
}
