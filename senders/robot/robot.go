package robot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/alertmanager/types"
	commoncfg "github.com/prometheus/common/config"
)

// Options are what every robot needs besides its config.
type Options struct {
	// Template renders messages; it must hold this package's templates
	// (see AddTemplates) and its ExternalURL must be set.
	Template    *template.Template
	Logger      *slog.Logger
	HTTPOptions []commoncfg.HTTPClientOption
	// Now is the clock of signatures and pacing; time.Now when nil.
	Now func() time.Time
	// Pacers are the rate limits shared with the other robots built with
	// the same table; nil: a table of the robot's own.
	Pacers *Pacers
}

// Notifier is a robot: Alertmanager's notifier interface plus whether it
// sends resolutions.
type Notifier interface {
	Notify(ctx context.Context, alerts ...*types.Alert) (bool, error)
	SendResolved() bool
}

// message is one rendered message before it is wrapped for the service.
type message struct {
	title, text string
	firing      bool
}

// flavor is what differs between the services.
type flavor struct {
	name string
	// limit is the most bytes the rendered text may have.
	limit int
	// render renders title and text for the template data.
	render func(tmpl func(string) string) (title, text string)
	// request builds the HTTP request body and URL for one message.
	request func(m message, now time.Time) (url string, body []byte, err error)
	// result reads the service's answer: a non-zero code is a failure.
	result func(body []byte) (code int, msg string, err error)
	// rateLimited are the codes that mean "too many messages".
	rateLimited []int
	// markdown tells how to mark parts.
	markdown bool
}

// robot is the notifier shared by the three services.
type robot struct {
	flavor
	sendResolved bool
	client       *http.Client
	tmpl         *template.Template
	log          *slog.Logger
	now          func() time.Time
	// pace, when set, is the robot's rate limit (a key of pacers): looked
	// up at each send, so that pacers idle for a window can be dropped.
	pace   *paceKey
	pacers *Pacers
	sent   *sentCache
}

// SendResolved tells whether the robot is told about resolutions.
func (r *robot) SendResolved() bool { return r.sendResolved }

// Wait blocks until the robot's rate limit allows one more message; the
// senders call it before each attempt, outside the attempt's timeout.
func (r *robot) Wait(ctx context.Context) error {
	if r.pace == nil {
		return nil
	}
	return r.pacers.get(*r.pace, r.now).wait(ctx, r.now)
}

// Notify renders the group, splits it to the service's size limit and
// sends each part. Parts already accepted by the service are not sent
// again when a failed notification is retried.
func (r *robot) Notify(ctx context.Context, alerts ...*types.Alert) (bool, error) {
	msgs, err := r.messages(ctx, alerts)
	if err != nil {
		return false, err
	}
	group, _ := notify.GroupKey(ctx)
	keys := make([][32]byte, 0, len(msgs))
	for i, m := range msgs {
		if len(msgs) > 1 {
			m = withPart(m, i+1, len(msgs), r.markdown)
		}
		key := r.sent.key(group, m)
		keys = append(keys, key)
		if r.sent.has(key, r.now()) {
			continue // accepted by an earlier, unfinished attempt
		}
		if i > 0 && r.pace != nil {
			if err := r.pacers.get(*r.pace, r.now).wait(ctx, r.now); err != nil {
				return true, err
			}
		}
		if retry, err := r.post(ctx, m); err != nil {
			if len(msgs) > 1 {
				err = fmt.Errorf("part %d of %d: %w", i+1, len(msgs), err)
			}
			return retry, err
		}
		r.sent.add(key, r.now())
	}
	// The notification is complete: a later one (a repeat) is sent whole.
	r.sent.forget(keys)
	return false, nil
}

// partReserve is room kept for the "part i of n" marker.
const partReserve = 64

// messages renders the alerts into as few messages as fit the limit,
// never dropping an alert: a group too large is split, and an alert too
// large on its own is truncated.
func (r *robot) messages(ctx context.Context, alerts []*types.Alert) ([]message, error) {
	render := func(as []*types.Alert) (message, error) {
		data := notify.GetTemplateData(ctx, r.tmpl, as, r.log)
		var err error
		title, text := r.render(notify.TmplText(r.tmpl, data, &err))
		if err != nil {
			return message{}, fmt.Errorf("%s: render template: %w", r.name, err)
		}
		return message{title: title, text: text, firing: data.Status == "firing"}, nil
	}
	whole, err := render(alerts)
	if err != nil {
		return nil, err
	}
	if len(whole.text) <= r.limit {
		return []message{whole}, nil
	}
	var (
		out []message
		cur []*types.Alert
	)
	flush := func(last message) { out = append(out, last) }
	var prev message
	for _, a := range alerts {
		next := append(slices.Clone(cur), a)
		m, err := render(next)
		if err != nil {
			return nil, err
		}
		if len(m.text)+partReserve <= r.limit {
			cur, prev = next, m
			continue
		}
		if len(cur) > 0 {
			flush(prev)
		}
		cur = []*types.Alert{a}
		if prev, err = render(cur); err != nil {
			return nil, err
		}
		if len(prev.text)+partReserve > r.limit {
			prev.text = truncateBytes(prev.text, r.limit-partReserve)
		}
	}
	if len(cur) > 0 {
		flush(prev)
	}
	return out, nil
}

// truncateBytes cuts s to at most n bytes on a character boundary, with an
// ellipsis.
func truncateBytes(s string, n int) string {
	const ellipsis = "…"
	if len(s) <= n {
		return s
	}
	cut := max(n-len(ellipsis), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

func withPart(m message, i, n int, markdown bool) message {
	m.title = fmt.Sprintf("%s (part %d of %d)", m.title, i, n)
	if markdown {
		m.text = fmt.Sprintf("**Part %d of %d**\n\n%s", i, n, m.text)
	} else {
		m.text = fmt.Sprintf("[Part %d of %d]\n%s", i, n, m.text)
	}
	return m
}

// maxAnswer bounds how much of an answer is read.
const maxAnswer = 64 << 10

// post sends one message and reads the service's verdict.
func (r *robot) post(ctx context.Context, m message) (bool, error) {
	url, body, err := r.request(m, r.now())
	if err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false, errors.New(r.name + ": invalid request")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		// The URL holds the robot's token.
		return true, notify.RedactURL(err)
	}
	defer notify.Drain(resp)
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode/100 != 2 {
		retrier := notify.Retrier{RetryCodes: []int{http.StatusTooManyRequests}}
		retry, err := retrier.Check(resp.StatusCode, bytes.NewReader(answer))
		return retry, notify.NewErrorWithReason(notify.GetFailureReasonFromStatusCode(resp.StatusCode), fmt.Errorf("%s: %w", r.name, err))
	}
	code, msg, err := r.result(answer)
	if err != nil {
		return true, fmt.Errorf("%s: unreadable answer: %w", r.name, err)
	}
	switch {
	case code == 0:
		return false, nil
	case slices.Contains(r.rateLimited, code):
		return true, notify.NewErrorWithReason(notify.RateLimitedReason, fmt.Errorf("%s: rate limited: error %d: %s", r.name, code, msg))
	}
	return false, notify.NewErrorWithReason(notify.ClientErrorReason, fmt.Errorf("%s: error %d: %s", r.name, code, msg))
}

// errcodeResult reads DingTalk's and WeCom's {"errcode":…,"errmsg":…}.
func errcodeResult(body []byte) (int, string, error) {
	var a struct {
		Code *int   `json:"errcode"`
		Msg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return 0, "", err
	}
	if a.Code == nil {
		return 0, "", errors.New("no errcode")
	}
	return *a.Code, a.Msg, nil
}

// sentCache remembers the parts of an unfinished notification that the
// service accepted, so that retrying it does not repeat them. A
// notification's entries are forgotten once all its parts went through.
type sentCache struct {
	mu   sync.Mutex
	seen map[[32]byte]time.Time
}

// sentTTL is how long an accepted part is remembered: longer than any
// retry of the notification (--notify.max-retry-duration, default 1h).
const sentTTL = 2 * time.Hour

func newSentCache() *sentCache { return &sentCache{seen: map[[32]byte]time.Time{}} }

func (c *sentCache) key(group string, m message) [32]byte {
	return sha256.Sum256([]byte(group + "\x00" + m.title + "\x00" + m.text))
}

func (c *sentCache) forget(keys [][32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		delete(c.seen, k)
	}
}

func (c *sentCache) has(k [32]byte, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.seen[k]
	return ok && now.Sub(t) < sentTTL
}

func (c *sentCache) add(k [32]byte, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for old, t := range c.seen {
		if now.Sub(t) >= sentTTL {
			delete(c.seen, old)
		}
	}
	c.seen[k] = now
}

// pacer allows at most n messages per window, over a sliding window: a
// storm is queued rather than rejected by the service.
type pacer struct {
	mu     sync.Mutex
	n      int
	window time.Duration
	sent   []time.Time
}

func (p *pacer) wait(ctx context.Context, now func() time.Time) error {
	for {
		p.mu.Lock()
		t := now()
		for len(p.sent) > 0 && t.Sub(p.sent[0]) >= p.window {
			p.sent = p.sent[1:]
		}
		if len(p.sent) < p.n {
			p.sent = append(p.sent, t)
			p.mu.Unlock()
			return nil
		}
		d := p.window - t.Sub(p.sent[0])
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
	}
}

// paceKey names a robot's rate limit: its URL, n messages per window.
type paceKey struct {
	url    string
	n      int
	window time.Duration
}

// Pacers are the robots' rate limits, shared by every channel posting to
// the same robot: the limit is the robot's, not the channel's. The senders
// keep one table for the channels they build (Options.Pacers). A pacer
// with no send within its window holds nothing a fresh one would not: such
// pacers are dropped once there are many, so that channels created and
// deleted (a tenant's Secrets) do not grow the table for ever.
type Pacers struct {
	mu sync.Mutex
	m  map[[32]byte]*pacer
}

// NewPacers returns an empty table.
func NewPacers() *Pacers { return &Pacers{m: map[[32]byte]*pacer{}} }

// pacerSweep is the table size from which idle pacers are dropped.
const pacerSweep = 256

func (ps *Pacers) get(k paceKey, now func() time.Time) *pacer {
	h := sha256.Sum256([]byte(k.url))
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p, ok := ps.m[h]
	if ok {
		return p
	}
	if len(ps.m) >= pacerSweep {
		t := now()
		for kh, q := range ps.m {
			q.mu.Lock()
			idle := len(q.sent) == 0 || t.Sub(q.sent[len(q.sent)-1]) >= q.window
			q.mu.Unlock()
			if idle {
				delete(ps.m, kh)
			}
		}
	}
	p = &pacer{n: k.n, window: k.window}
	ps.m[h] = p
	return p
}

// len is the number of pacers in the table.
func (ps *Pacers) len() int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return len(ps.m)
}
