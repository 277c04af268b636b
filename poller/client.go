package poller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-openapi/runtime"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	amclient "github.com/prometheus/alertmanager/api/v2/client"
	amalert "github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/client/general"
	"github.com/prometheus/alertmanager/api/v2/models"

	"github.com/amtenant/amtenant/alert"
)

// Snapshot is what one successful poll saw.
type Snapshot struct {
	// Alerts are the usable alerts, one per fingerprint. They are the
	// decoder's own values, shared with later polls while their bytes do
	// not change: never written.
	Alerts []*alert.Alert
	// Incomplete lists fingerprints of alerts that were returned but lack a
	// field the tracker needs (startsAt, status). They keep an existing
	// incarnation alive but never start one: an alert Alertmanager still
	// returns must not be resolved because the sidecar could not read it.
	Incomplete []string
	// Skipped are the alerts that could not be read (too large, or
	// malformed): the rest of the poll is used, and those whose fingerprint
	// could be read are in Incomplete too.
	Skipped []Skipped
	// Uptime is Alertmanager's start time from /api/v2/status; it changes
	// when Alertmanager restarts.
	Uptime time.Time
}

// Skipped is an alert of a poll that could not be read.
type Skipped struct {
	// Fingerprint is empty when even it could not be read.
	Fingerprint string
	// Reason is SkipOversized or SkipMalformed.
	Reason string
	Err    error
}

// Reasons an alert is skipped (values of amtenant_alerts_skipped's reason).
const (
	SkipOversized = "oversized"
	SkipMalformed = "malformed"
)

// skip records an alert that could not be read.
func (s *Snapshot) skip(fp, reason string, err error) {
	s.Skipped = append(s.Skipped, Skipped{Fingerprint: fp, Reason: reason, Err: err})
	if fp != "" && !slices.Contains(s.Incomplete, fp) {
		s.Incomplete = append(s.Incomplete, fp)
	}
}

// Client polls one Alertmanager through its generated v2 client, whose
// JSON consumer is replaced for the alerts response by a streaming decoder
// into the tracker's own representation (see leanDecoder).
type Client struct {
	api    *amclient.AlertmanagerAPI
	filter []string

	// mu serializes polls: the decoder keeps state from one to the next.
	mu      sync.Mutex
	lean    *leanDecoder
	decoded *Snapshot
}

// NewClient returns a client for the Alertmanager at base, whose path is the
// route prefix ("/" or e.g. "/alertmanager"). filter holds matchers passed
// to the API's filter parameter. hc may be nil for a default client.
func NewClient(base *url.URL, filter []string, hc *http.Client) *Client {
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		// Alertmanager v0.31–v0.34 does not compress its answers; should a
		// version or a proxy in front of it start to, compressing every
		// poll's whole body over the loopback would only cost CPU.
		tr.DisableCompression = true
		hc = &http.Client{Transport: tr}
	}
	// Error statuses are turned into a StatusError before the generated
	// client tries to decode their bodies: a proxy's HTML or JSON error page
	// must read as "HTTP 502", not as a decoding failure.
	wrapped := *hc
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	wrapped.Transport = statusTransport{next: next}
	hc = &wrapped
	basePath := path.Join("/", base.Path, amclient.DefaultBasePath)
	rt := httptransport.NewWithClient(base.Host, basePath, []string{base.Scheme}, hc)
	// Reuse keep-alive connections: the sidecar polls the same host forever.
	rt.EnableConnectionReuse()
	c := &Client{filter: filter, lean: newLeanDecoder()}
	fallback := runtime.JSONConsumer()
	rt.Consumers[runtime.JSONMime] = runtime.ConsumerFunc(func(r io.Reader, v any) error {
		if p, ok := v.(*models.GettableAlerts); ok {
			snap, err := c.lean.decode(r)
			if err != nil {
				return err
			}
			c.decoded = &snap
			*p = models.GettableAlerts{} // not nil: the response was a list
			return nil
		}
		return fallback.Consume(r, v)
	})
	c.api = amclient.New(rt, strfmt.Default)
	return c
}

// Poll reads all alerts (active, silenced and inhibited) and Alertmanager's
// status. Any failure is returned as an error: a failed poll is never an
// empty one.
func (c *Client) Poll(ctx context.Context) (Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.decoded = nil
	yes := true
	params := amalert.NewGetAlertsParamsWithContext(ctx).
		WithActive(&yes).WithSilenced(&yes).WithInhibited(&yes).WithUnprocessed(&yes)
	if len(c.filter) > 0 {
		params = params.WithFilter(c.filter)
	}
	_, err := c.api.Alert.GetAlerts(params)
	if err != nil {
		return Snapshot{}, &PollError{Op: "get alerts", Err: err}
	}
	if c.decoded == nil {
		// The client skips its consumer for an empty body: that is no
		// answer, certainly not "no alerts".
		return Snapshot{}, &PollError{Op: "get alerts", Err: errors.New("empty response")}
	}
	snap := *c.decoded
	// The status is read after the alerts: if Alertmanager restarted
	// between the two requests, the new uptime is seen in this very poll.
	st, err := c.api.General.GetStatus(general.NewGetStatusParamsWithContext(ctx))
	if err != nil {
		return Snapshot{}, &PollError{Op: "get status", Err: err}
	}
	if st.Payload == nil || st.Payload.Uptime == nil {
		return Snapshot{}, &PollError{Op: "get status", Err: errors.New("response has no uptime")}
	}
	snap.Uptime = time.Time(*st.Payload.Uptime)
	return snap, nil
}

// IsSuppressed interprets an API status: "suppressed" is suppressed, and
// so is "unprocessed" (older Alertmanagers) when a silence or inhibition is
// listed.
func IsSuppressed(state string, silencedBy, inhibitedBy []string) bool {
	switch state {
	case models.AlertStatusStateSuppressed:
		return true
	case models.AlertStatusStateActive:
		return false
	default:
		return len(silencedBy) > 0 || len(inhibitedBy) > 0
	}
}

// StatusError is an HTTP response with a non-2xx status.
type StatusError struct {
	Code int
	// Body is the start of the response body, on one line.
	Body string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("HTTP %d %s", e.Code, http.StatusText(e.Code))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

type statusTransport struct{ next http.RoundTripper }

// maxErrorBody bounds how much of an error body is kept for the log.
const maxErrorBody = 200

func (t statusTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode/100 == 2 {
		return resp, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4*maxErrorBody))
	body := strings.Join(strings.Fields(string(b)), " ")
	// Alertmanager's own errors are JSON strings.
	var msg string
	if json.Unmarshal(b, &msg) == nil {
		body = strings.Join(strings.Fields(msg), " ")
	}
	if strings.Contains(resp.Header.Get("Content-Type"), "html") {
		body = "(an HTML page)"
	}
	if len(body) > maxErrorBody {
		body = body[:maxErrorBody] + "…"
	}
	return nil, &StatusError{Code: resp.StatusCode, Body: body}
}

// PollError is a failed poll, classified for the polls_total metric.
type PollError struct {
	Op  string
	Err error
}

func (e *PollError) Error() string { return fmt.Sprintf("%s: %s", e.Op, describe(e.Err)) }
func (e *PollError) Unwrap() error { return e.Err }

// Result classifies err into a bounded value of the result label.
func Result(err error) string {
	if err == nil {
		return resultSuccess
	}
	var (
		apiErr    *runtime.APIError
		netErr    net.Error
		urlErr    *url.Error
		statusErr *StatusError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return resultTimeout
	case errors.As(err, &statusErr), errors.As(err, &apiErr), isStatusError(err):
		return resultHTTPError
	case errors.As(err, &netErr) && netErr.Timeout():
		return resultTimeout
	case errors.As(err, &urlErr), errors.As(err, &netErr):
		return resultUnreachable
	}
	return resultInvalid
}

func isStatusError(err error) bool {
	var (
		bad *amalert.GetAlertsBadRequest
		ise *amalert.GetAlertsInternalServerError
	)
	return errors.As(err, &bad) || errors.As(err, &ise)
}

// describe renders the generated client's errors readably: their default
// Error() strings are long and, for unexpected content types, cryptic.
func describe(err error) string {
	var statusErr *StatusError
	if errors.As(err, &statusErr) {
		return statusErr.Error()
	}
	var apiErr *runtime.APIError
	if errors.As(err, &apiErr) {
		return fmt.Sprintf("unexpected HTTP status %d", apiErr.Code)
	}
	var bad *amalert.GetAlertsBadRequest
	if errors.As(err, &bad) {
		return "HTTP 400 (bad request): " + strings.TrimSpace(bad.Payload)
	}
	var ise *amalert.GetAlertsInternalServerError
	if errors.As(err, &ise) {
		return "HTTP 500: " + strings.TrimSpace(ise.Payload)
	}
	msg := err.Error()
	if strings.Contains(msg, "no consumer") || strings.Contains(msg, "TextConsumer") {
		return "response is not JSON (" + msg + ")"
	}
	return msg
}
