package robot

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/alertmanager/notify"
)

// rateLimitAnswers are the services' real answers when a robot sends too
// fast.
var rateLimitAnswers = map[string]string{
	"dingtalk": `{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}`,
	"feishu":   `{"code":9499,"data":{},"msg":"too many request"}`,
	"wecom":    `{"errcode":45009,"errmsg":"api freq out of limit"}`,
}

// signingSecret is the secret a service of type typ is configured with in
// these tests; WeCom robots are not signed.
func signingSecret(typ string) string {
	if typ == "wecom" {
		return ""
	}
	return testSecret
}

func reasonOf(err error) (notify.Reason, bool) {
	var ewr *notify.ErrorWithReason
	if errors.As(err, &ewr) {
		return ewr.Reason, true
	}
	return 0, false
}

func TestSign(t *testing.T) {
	// Expected values computed independently (Python's hmac module) for
	// the services' documented algorithms.
	ts, sign := DingTalkSign("SEC000", testNow)
	if ts != "1772362800000" || sign != "9F+8o/7Z/Yzptxv/+TXTWwjC1UvNgjO1KxDeITrA18o=" {
		t.Errorf("DingTalkSign = %s, %s; want 1772362800000 (milliseconds), 9F+8o/7Z/Yzptxv/+TXTWwjC1UvNgjO1KxDeITrA18o=", ts, sign)
	}
	ts, sign = FeishuSign("SEC000", testNow)
	if ts != "1772362800" || sign != "JTQC6g8JQBoDu0joCGigszk/rrSzde5F2bTLQiRnWr0=" {
		t.Errorf("FeishuSign = %s, %s; want 1772362800 (seconds), JTQC6g8JQBoDu0joCGigszk/rrSzde5F2bTLQiRnWr0=", ts, sign)
	}

	// That sign has '+', '/' and '=': DingTalk needs it URL-encoded in the
	// query, Feishu gets it verbatim in the JSON body.
	t.Run("dingtalk query", func(t *testing.T) {
		f := newFakeService(t, "dingtalk", "SEC000")
		n := mustNew(t, "dingtalk", f.entry(), robotOptions(t, nil))
		if _, err := n.Notify(notifyCtx(t.Context()), firingGroup()...); err != nil {
			t.Fatalf("Notify: %v", err)
		}
		q := f.requests()[0].PathQuery
		for _, want := range []string{"access_token=" + f.token, "timestamp=1772362800000", "sign=9F%2B8o%2F7Z%2FYzptxv%2F%2BTXTWwjC1UvNgjO1KxDeITrA18o%3D"} {
			if !strings.Contains(q, want) {
				t.Errorf("request %s lacks %s", q, want)
			}
		}
	})
	t.Run("feishu body", func(t *testing.T) {
		f := newFakeService(t, "feishu", "SEC000")
		n := mustNew(t, "feishu", f.entry(), robotOptions(t, nil))
		if _, err := n.Notify(notifyCtx(t.Context()), firingGroup()...); err != nil {
			t.Fatalf("Notify: %v", err)
		}
		b := string(f.requests()[0].Body)
		for _, want := range []string{`"timestamp":"1772362800"`, `"sign":"JTQC6g8JQBoDu0joCGigszk/rrSzde5F2bTLQiRnWr0="`} {
			if !strings.Contains(b, want) {
				t.Errorf("body %s lacks %s", b, want)
			}
		}
	})
}

func TestNotifyAnswers(t *testing.T) {
	type outcome struct {
		retry    bool
		reason   notify.Reason // DefaultReason: not checked
		contains []string      // in the error; none means success
	}
	tests := []struct {
		name string
		// entry edits the robot's config entry.
		entry func(f *fakeService, e map[string]any)
		// answer replaces the service's answer (see fakeService.answer).
		answer func(n int, r request) (int, string)
		// rateLimitOnce: the service answers its rate-limit code once,
		// then accepts; a second Notify must succeed.
		rateLimitOnce bool
		want          map[string]outcome
	}{
		{
			name: "success",
			want: map[string]outcome{"dingtalk": {}, "feishu": {}, "wecom": {}},
		},
		{
			name:  "wrong signing secret",
			entry: func(_ *fakeService, e map[string]any) { e["secret"] = "SECwrong" },
			want: map[string]outcome{
				"dingtalk": {reason: notify.ClientErrorReason, contains: []string{"310000", "sign not match"}},
				"feishu":   {reason: notify.ClientErrorReason, contains: []string{"19021", "sign match fail"}},
			},
		},
		{
			name:  "unsigned robot of a signed service",
			entry: func(_ *fakeService, e map[string]any) { delete(e, "secret") },
			want: map[string]outcome{
				"dingtalk": {reason: notify.ClientErrorReason, contains: []string{"310000"}},
				"feishu":   {reason: notify.ClientErrorReason, contains: []string{"19021", "sign match fail"}},
			},
		},
		{
			name: "unknown token is a permanent error",
			entry: func(f *fakeService, e map[string]any) {
				e["url"] = strings.Replace(f.URL(), f.token, "tokUnknown", 1)
			},
			want: map[string]outcome{
				"dingtalk": {reason: notify.ClientErrorReason, contains: []string{"300001", "token is not exist"}},
				"feishu":   {reason: notify.ClientErrorReason, contains: []string{"19001", "incoming webhook access token invalid"}},
				"wecom":    {reason: notify.ClientErrorReason, contains: []string{"93000", "invalid webhook url"}},
			},
		},
		{
			name:          "rate-limit code once",
			rateLimitOnce: true,
			want: map[string]outcome{
				"dingtalk": {retry: true, reason: notify.RateLimitedReason, contains: []string{"130101", "send too fast"}},
				"feishu":   {retry: true, reason: notify.RateLimitedReason, contains: []string{"9499", "too many request"}},
				"wecom":    {retry: true, reason: notify.RateLimitedReason, contains: []string{"45009", "api freq out of limit"}},
			},
		},
		{
			name:   "HTTP 500",
			answer: func(int, request) (int, string) { return http.StatusInternalServerError, "upstream failed" },
			want: map[string]outcome{
				"dingtalk": {retry: true, reason: notify.ServerErrorReason, contains: []string{"500", "upstream failed"}},
				"feishu":   {retry: true, reason: notify.ServerErrorReason, contains: []string{"500", "upstream failed"}},
				"wecom":    {retry: true, reason: notify.ServerErrorReason, contains: []string{"500", "upstream failed"}},
			},
		},
		{
			name:   "HTTP 400",
			answer: func(int, request) (int, string) { return http.StatusBadRequest, "bad request" },
			want: map[string]outcome{
				"dingtalk": {reason: notify.ClientErrorReason, contains: []string{"400"}},
				"feishu":   {reason: notify.ClientErrorReason, contains: []string{"400"}},
				"wecom":    {reason: notify.ClientErrorReason, contains: []string{"400"}},
			},
		},
		{
			name:   "HTTP 429",
			answer: func(int, request) (int, string) { return http.StatusTooManyRequests, "slow down" },
			want: map[string]outcome{
				"dingtalk": {retry: true, reason: notify.RateLimitedReason, contains: []string{"429"}},
				"feishu":   {retry: true, reason: notify.RateLimitedReason, contains: []string{"429"}},
				"wecom":    {retry: true, reason: notify.RateLimitedReason, contains: []string{"429"}},
			},
		},
		{
			name:   "HTTP 200 without a code (a proxy's page)",
			answer: func(int, request) (int, string) { return http.StatusOK, "<html>gateway</html>" },
			want: map[string]outcome{
				"dingtalk": {retry: true, contains: []string{"unreadable answer"}},
				"feishu":   {retry: true, contains: []string{"unreadable answer"}},
				"wecom":    {retry: true, contains: []string{"unreadable answer"}},
			},
		},
	}
	for _, tt := range tests {
		for _, typ := range []string{"dingtalk", "feishu", "wecom"} {
			want, ok := tt.want[typ]
			if !ok {
				continue
			}
			t.Run(tt.name+"/"+typ, func(t *testing.T) {
				f := newFakeService(t, typ, signingSecret(typ))
				f.answer = tt.answer
				if tt.rateLimitOnce {
					f.answer = func(n int, _ request) (int, string) {
						if n == 1 {
							return http.StatusOK, rateLimitAnswers[typ]
						}
						return 0, ""
					}
				}
				e := f.entry()
				if tt.entry != nil {
					tt.entry(f, e)
				}
				n := mustNew(t, typ, e, robotOptions(t, nil))
				ctx := notifyCtx(t.Context())
				retry, err := n.Notify(ctx, firingGroup()...)
				if len(want.contains) == 0 {
					if err != nil || retry {
						t.Fatalf("Notify = %t, %v; want false, nil", retry, err)
					}
					if got := len(f.accepted()); got != 1 {
						t.Fatalf("service accepted %d messages, want 1", got)
					}
					return
				}
				if err == nil {
					t.Fatalf("Notify = %t, nil; want an error", retry)
				}
				if retry != want.retry {
					t.Errorf("Notify retry = %t, want %t (err: %v)", retry, want.retry, err)
				}
				for _, s := range want.contains {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				if !strings.HasPrefix(err.Error(), typ+": ") {
					t.Errorf("error %q does not start with %q", err, typ+": ")
				}
				if reason, ok := reasonOf(err); want.reason != 0 && (!ok || reason != want.reason) {
					t.Errorf("error reason = %v (found %t), want %v", reason, ok, want.reason)
				}
				if tt.rateLimitOnce {
					retry, err := n.Notify(ctx, firingGroup()...)
					if err != nil || retry {
						t.Fatalf("second Notify = %t, %v; want false, nil", retry, err)
					}
					if got, all := len(f.accepted()), len(f.requests()); got != 1 || all != 2 {
						t.Fatalf("service got %d requests and accepted %d, want 2 and 1", all, got)
					}
				}
			})
		}
	}
}

func TestNotifyCanceled(t *testing.T) {
	for _, typ := range []string{"dingtalk", "feishu", "wecom"} {
		t.Run(typ, func(t *testing.T) {
			f := newFakeService(t, typ, signingSecret(typ))
			n := mustNew(t, typ, f.entry(), robotOptions(t, nil))
			ctx, cancel := context.WithCancel(notifyCtx(t.Context()))
			cancel()
			retry, err := n.Notify(ctx, firingGroup()...)
			if err == nil || !retry {
				t.Fatalf("Notify with a canceled context = %t, %v; want true and an error", retry, err)
			}
			if !errors.Is(err, context.Canceled) {
				t.Errorf("error %v is not context.Canceled", err)
			}
		})
	}
}
