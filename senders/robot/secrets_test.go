package robot

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log sink safe for the handler and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// closedURL is a URL of the service's form on a port nothing listens on.
func closedURL(t *testing.T, typ, token string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return (&fakeService{typ: typ, token: token, srv: &httptest.Server{URL: "http://" + addr}}).URL()
}

func TestSecretsStayOutOfErrorsAndLogs(t *testing.T) {
	t.Parallel() // mostly waiting
	const token = "tokTOPSECRETvalue0042"
	_, dingSign := DingTalkSign(testSecret, testNow)
	_, feishuSign := FeishuSign(testSecret, testNow)
	secrets := []string{token, testSecret, dingSign, feishuSign}
	checkClean := func(t *testing.T, what, s string) {
		t.Helper()
		for _, sec := range secrets {
			if strings.Contains(s, sec) {
				t.Errorf("%s contains the secret %q: %s", what, sec, s)
			}
		}
	}
	var logs syncBuffer
	defer func() { checkClean(t, "the log", logs.String()) }()

	t.Run("New", func(t *testing.T) {
		u := "https://oapi.dingtalk.com/robot/send?access_token=" + token
		for _, tt := range []struct {
			typ   string
			entry map[string]any
		}{
			{"dingtalk", map[string]any{"url": "ftp://oapi.dingtalk.com/robot/send?access_token=" + token, "secret": testSecret}},
			{"dingtalk", map[string]any{"url": "http://oapi.dingtalk.com/%zz?access_token=" + token, "secret": testSecret}},
			{"dingtalk", map[string]any{"url": "oapi.dingtalk.com/robot/send?access_token=" + token}},
			{"dingtalk", map[string]any{"url": u, "secret": testSecret, "message_type": "bogus"}},
			{"dingtalk", map[string]any{"url": u, "secret": testSecret, "bogus": true}},
			{"dingtalk", map[string]any{"url": u, "secret": testSecret, "at_mobiles": map[string]any{"a": 1}}},
			{"dingtalk", map[string]any{"url": []any{u}, "secret": testSecret}},
			{"dingtalk", map[string]any{"url": u, "secret": []any{testSecret}}},
			{"feishu", map[string]any{"url": "feishu://open.feishu.cn/open-apis/bot/v2/hook/" + token, "secret": testSecret}},
			{"feishu", map[string]any{"url": "https://open.feishu.cn/open-apis/bot/v2/hook/" + token, "secret": testSecret, "message_type": "text"}},
			{"wecom", map[string]any{"url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + token, "secret": testSecret}},
			{"wecom", map[string]any{"url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + token, "message_type": "news"}},
			{"slack", map[string]any{"url": u, "secret": testSecret}},
		} {
			o := robotOptions(t, &logs)
			_, err := New(tt.typ, tt.entry, o)
			if err == nil {
				t.Errorf("New(%s, %v) succeeded, want an error", tt.typ, tt.entry)
				continue
			}
			checkClean(t, "New's error", err.Error())
		}
	})

	for _, typ := range []string{"dingtalk", "feishu", "wecom"} {
		t.Run("Notify/"+typ, func(t *testing.T) {
			entry := func(u string) map[string]any {
				e := map[string]any{"url": u}
				if typ != "wecom" {
					e["secret"] = testSecret
				}
				return e
			}
			notifyErr := func(ctx context.Context, u string) error {
				t.Helper()
				n := mustNew(t, typ, entry(u), robotOptions(t, &logs))
				_, err := n.Notify(ctx, firingGroup()...)
				if err == nil {
					t.Fatal("Notify succeeded, want an error")
				}
				return err
			}

			// Connection refused.
			err := notifyErr(notifyCtx(t.Context()), closedURL(t, typ, token))
			checkClean(t, "the transport error", err.Error())

			// Timeout while the service holds the request.
			slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// Reading the body lets the server notice the client leave.
				_, _ = io.Copy(io.Discard, r.Body)
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			}))
			defer slow.Close()
			ctx, cancel := context.WithTimeout(notifyCtx(t.Context()), 100*time.Millisecond)
			defer cancel()
			f := &fakeService{typ: typ, token: token, srv: slow}
			err = notifyErr(ctx, f.URL())
			checkClean(t, "the timeout error", err.Error())

			// The service refuses: wrong signature or unknown token, and
			// HTTP 500.
			f = newFakeServiceToken(t, typ, "SECother", "tokOther")
			err = notifyErr(notifyCtx(t.Context()), strings.Replace(f.URL(), "tokOther", token, 1))
			checkClean(t, "the service's error", err.Error())
			f = newFakeServiceToken(t, typ, "", token)
			f.answer = func(int, request) (int, string) { return http.StatusInternalServerError, "oops" }
			err = notifyErr(notifyCtx(t.Context()), f.URL())
			checkClean(t, "the HTTP error", err.Error())

			// Without receiver and group labels in the context, which the
			// template data logs about.
			n := mustNew(t, typ, entry(f.URL()), robotOptions(t, &logs))
			_, _ = n.Notify(t.Context(), firingGroup()...)
		})
	}
	if !strings.Contains(logs.String(), "Missing receiver") {
		t.Errorf("the log buffer did not get the template data's complaint; is the logger used? %q", logs.String())
	}
}
