package senders

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/amtenant/amtenant/alert"
	"github.com/amtenant/amtenant/channel"
	"github.com/amtenant/amtenant/internal/testutil"
)

// Shared fixtures of the package's tests.

// t0 is the origin of the explicit clocks of the dispatch tests.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// secret is a distinctive value that must never show in errors.
const secret = "s3cr3t-token-XYZ"

func testTemplate(t *testing.T) *template.Template {
	t.Helper()
	tmpl, err := template.FromGlobs(nil)
	if err != nil {
		t.Fatalf("template: %v", err)
	}
	tmpl.ExternalURL, _ = url.Parse("http://am.example")
	return tmpl
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// kv builds a Secret's data from key, value pairs.
func kv(pairs ...string) map[string][]byte {
	if len(pairs)%2 != 0 {
		panic("kv: odd number of arguments")
	}
	out := make(map[string][]byte, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		out[pairs[i]] = []byte(pairs[i+1])
	}
	return out
}

// testBuilder returns a builder with Alertmanager's templates.
func testBuilder(t *testing.T, guard *Guard) *builder {
	return &builder{tmpl: testTemplate(t), guard: guard, log: discard()}
}

func noGlobal() *globalConfig { return &globalConfig{values: map[string]any{}} }

// policy groups by the given labels (alertname when none), with a group
// interval of 5m (Alertmanager's default).
func policy(groupWait, repeat time.Duration, by ...model.LabelName) channel.Policy {
	return policyGI(groupWait, 5*time.Minute, repeat, by...)
}

func policyGI(groupWait, groupInterval, repeat time.Duration, by ...model.LabelName) channel.Policy {
	if len(by) == 0 {
		by = []model.LabelName{model.AlertNameLabel}
	}
	return channel.Policy{GroupBy: by, GroupWait: groupWait, GroupInterval: groupInterval, RepeatInterval: repeat}
}

// newInc returns an incarnation with the given labels (name, value pairs,
// alertname first) and status.
func newInc(id uint64, st alert.Status, labels ...string) *alert.Incarnation {
	ls := model.LabelSet{}
	for i := 0; i+1 < len(labels); i += 2 {
		ls[model.LabelName(labels[i])] = model.LabelValue(labels[i+1])
	}
	inc := &alert.Incarnation{
		Alert: alert.Alert{
			Fingerprint: ls.Fingerprint().String(),
			Labels:      ls,
			Annotations: alert.NewAnnotations(model.LabelSet{"summary": "something broke"}),
			StartsAt:    t0.Add(-time.Minute),
			EndsAt:      t0.Add(time.Hour),
		},
		ID:     id,
		Status: st,
	}
	if st == alert.Resolved {
		inc.ResolvedAt = t0
		inc.EndsAt = t0
	}
	return inc
}

// with returns a copy of inc with another status, as the tracker hands a
// new value on each poll.
func with(inc *alert.Incarnation, st alert.Status) *alert.Incarnation {
	c := *inc
	c.Status = st
	if st == alert.Resolved {
		c.ResolvedAt = t0
		c.EndsAt = t0
	}
	return &c
}

func tenantOf(inc *alert.Incarnation, tenant string) *alert.Incarnation {
	c := *inc
	c.Tenant = tenant
	return &c
}

// webhookMsg is the part of Alertmanager's webhook payload the tests read.
type webhookMsg struct {
	Version     string            `json:"version"`
	Receiver    string            `json:"receiver"`
	Status      string            `json:"status"`
	GroupKey    string            `json:"groupKey"`
	GroupLabels map[string]string `json:"groupLabels"`
	Alerts      []struct {
		Status string            `json:"status"`
		Labels map[string]string `json:"labels"`
	} `json:"alerts"`
}

type sinkReq struct {
	uri    string // as received: absolute when the sink is used as a proxy
	header http.Header
	msg    webhookMsg
	body   string
}

// sink is a webhook receiver that records every request. respond, when
// set, answers the n-th request (1-based); otherwise it answers 200.
type sink struct {
	srv *httptest.Server

	mu      sync.Mutex
	reqs    []sinkReq
	respond func(n int, w http.ResponseWriter, r *http.Request)
	// url is set for an in-memory sink (newMemSink), which has no srv.
	url string
}

func newSink(t *testing.T, respond func(n int, w http.ResponseWriter, r *http.Request)) *sink {
	t.Helper()
	s := &sink{respond: respond}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// newSinkOn is newSink listening on addr ("127.0.0.2:0").
func newSinkOn(t *testing.T, addr string, respond func(n int, w http.ResponseWriter, r *http.Request)) *sink {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	s := &sink{respond: respond}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Listener.Close()
	s.srv.Listener = ln
	s.srv.Start()
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var msg webhookMsg
	_ = json.Unmarshal(body, &msg)
	s.mu.Lock()
	s.reqs = append(s.reqs, sinkReq{uri: r.RequestURI, header: r.Header.Clone(), msg: msg, body: string(body)})
	n := len(s.reqs)
	respond := s.respond
	s.mu.Unlock()
	if respond != nil {
		respond(n, w, r)
	}
}

func (s *sink) requests() []sinkReq {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkReq(nil), s.reqs...)
}

func (s *sink) count() int { return len(s.requests()) }

// countAny is count for testutil.Say.
func (s *sink) countAny() any { return s.count() }

func (s *sink) URL() string {
	if s.url != "" {
		return s.url
	}
	return s.srv.URL
}

// statuses answers the n-th request with codes[n-1], and the last code
// after that.
func statuses(codes ...int) func(int, http.ResponseWriter, *http.Request) {
	return func(n int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(codes[min(n, len(codes))-1])
	}
}

// smtpSink is a minimal SMTP server without TLS that offers AUTH PLAIN and
// records what it was told.
type smtpSink struct {
	ln net.Listener

	mu    sync.Mutex
	conns int
	auths []string // "user:password" of each AUTH PLAIN
	froms []string
	mails int
}

func newSMTPSink(t *testing.T) *smtpSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpSink{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { s.serve(c) })
		}
	})
	return s
}

func (s *smtpSink) addr() string { return s.ln.Addr().String() }

func (s *smtpSink) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	s.mu.Lock()
	s.conns++
	s.mu.Unlock()
	r := bufio.NewReader(c)
	say := func(lines ...string) {
		for _, l := range lines {
			io.WriteString(c, l+"\r\n")
		}
	}
	say("220 sink ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch verb {
		case "EHLO", "HELO":
			say("250-sink", "250-AUTH PLAIN", "250 8BITMIME")
		case "AUTH":
			f := strings.Fields(line)
			if len(f) == 3 {
				raw, _ := base64.StdEncoding.DecodeString(f[2])
				parts := strings.Split(string(raw), "\x00")
				if len(parts) == 3 {
					s.mu.Lock()
					s.auths = append(s.auths, parts[1]+":"+parts[2])
					s.mu.Unlock()
				}
			}
			say("235 2.7.0 Authentication successful")
		case "MAIL":
			s.mu.Lock()
			s.froms = append(s.froms, line)
			s.mu.Unlock()
			say("250 OK")
		case "RCPT", "RSET", "NOOP":
			say("250 OK")
		case "DATA":
			say("354 go ahead")
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			s.mu.Lock()
			s.mails++
			s.mu.Unlock()
			say("250 OK queued")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("502 unknown command")
		}
	}
}

func (s *smtpSink) snapshot() (conns, mails int, auths, froms []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns, s.mails, append([]string(nil), s.auths...), append([]string(nil), s.froms...)
}

// testOptions are Manager options with short durations. The attempt
// timeout leaves room for a loaded machine; tests of the timeout itself
// shorten it.
func testOptions(t *testing.T, guard *Guard) Options {
	return Options{
		Template:             testTemplate(t),
		Guard:                guard,
		MaxRetryDuration:     5 * time.Second,
		AttemptTimeout:       time.Second,
		RetryInitialInterval: 10 * time.Millisecond,
		Logger:               discard(),
	}
}

// startManager starts a Manager that is stopped when the test ends.
func startManager(t *testing.T, opts Options) (*Manager, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := NewManager(opts, reg)
	ctx, cancel := context.WithCancel(context.Background())
	m.Start(ctx)
	t.Cleanup(func() {
		cancel()
		m.Stop(200 * time.Millisecond)
	})
	return m, reg
}

// fastPolicy is the routing policy of the Manager tests.
func fastPolicy() channel.Policy {
	return policyGI(20*time.Millisecond, 50*time.Millisecond, time.Hour)
}

// webhookSpec is a channel with one webhook to u.
func webhookSpec(id string, trusted bool, u string, extra ...string) channel.Spec {
	return channel.Spec{
		ID:      id,
		Trusted: trusted,
		Data:    kv(append([]string{"type", "webhook", "url", u}, extra...)...),
		Policy:  fastPolicy(),
	}
}

func mustApply(t *testing.T, m *Manager, spec channel.Spec) {
	t.Helper()
	if _, err := m.Apply(spec); err != nil {
		t.Fatalf("Apply(%s): %v", spec.ID, err)
	}
}

func deliveredCount(t *testing.T, reg *prometheus.Registry, typ string) float64 {
	return testutil.MetricValue(t, reg, "amtenant_notifications_total", "type", typ)
}

func failed(t *testing.T, reg *prometheus.Registry, typ, reason string) float64 {
	return testutil.MetricValue(t, reg, "amtenant_notifications_failed_total", "type", typ, "reason", reason)
}

func droppedCount(t *testing.T, reg *prometheus.Registry, typ string) float64 {
	return testutil.MetricValue(t, reg, "amtenant_notifications_dropped_total", "type", typ)
}
