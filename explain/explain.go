// Package explain answers "why did (or didn't) this tenant get that
// alert?": it gathers what the tracker, the tenancy rules and the senders
// know about an alert into one report, serves it on the sidecar's web port
// and renders it for the `sidecar explain` command.
package explain

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"

	"github.com/amtenant/amtenant/alert"
	"github.com/amtenant/amtenant/poller"
	"github.com/amtenant/amtenant/replication"
	"github.com/amtenant/amtenant/senders"
	"github.com/amtenant/amtenant/tenancy"
)

// Path is where the sidecar serves explanations.
const Path = "/api/v1/explain"

// Alerts finds tracked alerts; the poller implements it.
type Alerts interface {
	Find(ms labels.Matchers, fingerprint string) []poller.Tracked
}

// Routes explains routing; the tenancy controller implements it.
type Routes interface {
	Explain(ls model.LabelSet, now time.Time) tenancy.Route
}

// Deliveries explains delivery state; the senders' manager implements it.
type Deliveries interface {
	Explain(channel, fingerprint string) ([]senders.IntegrationState, bool)
}

// Report is the answer for one query.
type Report struct {
	Query string `json:"query"`
	// Replica, with leader election, says whether this replica delivers,
	// and how complete its copy of the leader's record is.
	Replica *Replica      `json:"replica,omitempty"`
	Alerts  []AlertReport `json:"alerts"`
}

// Replica is this replica's part in a highly available pair (or more).
type Replica struct {
	// At is when this was true.
	At      time.Time `json:"at"`
	Leading bool      `json:"leading"`
	// Leader is the replica that leads, as the Lease last said.
	Leader string `json:"leader,omitempty"`
	// Replication is the state of the copy of the leader's delivery
	// record; nil when replication is off (--replication.peer unset).
	Replication *replication.Status `json:"replication,omitempty"`
}

// AlertReport explains one incarnation.
type AlertReport struct {
	Fingerprint  string            `json:"fingerprint"`
	Incarnation  uint64            `json:"incarnation"`
	Labels       map[string]string `json:"labels"`
	Status       string            `json:"status"`
	StartsAt     time.Time         `json:"startsAt"`
	SilencedBy   []string          `json:"silencedBy,omitempty"`
	InhibitedBy  []string          `json:"inhibitedBy,omitempty"`
	MissingSince time.Time         `json:"missingSince,omitzero"`
	ResolveAt    time.Time         `json:"resolveAt,omitzero"`
	HoldUntil    time.Time         `json:"holdUntil,omitzero"`
	ResolvedAt   time.Time         `json:"resolvedAt,omitzero"`
	Tenant       string            `json:"tenant"`
	TenantReason string            `json:"tenantReason"`
	Channels     []ChannelReport   `json:"channels"`
	// Summary says in one sentence what happened or why nothing did.
	Summary string `json:"summary"`
}

// ChannelReport is one channel's part.
type ChannelReport struct {
	tenancy.Verdict
	Integrations []senders.IntegrationState `json:"integrations,omitempty"`
}

// Handler serves Path: ?match=<matchers> (Alertmanager syntax, comma
// separated, all must match) or ?fingerprint=<fp>.
//
// replica, when set, says what this replica's part is (leader election).
func Handler(a Alerts, r Routes, d Deliveries, replica func() *Replica, now func() time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		match, fp := req.URL.Query().Get("match"), req.URL.Query().Get("fingerprint")
		if match == "" && fp == "" {
			http.Error(w, "give ?match=<matchers> or ?fingerprint=<fingerprint>", http.StatusBadRequest)
			return
		}
		var ms labels.Matchers
		if match != "" {
			var err error
			if ms, err = parseMatchers(match); err != nil {
				http.Error(w, "match: "+err.Error(), http.StatusBadRequest)
				return
			}
		}
		if len(ms) == 0 && fp == "" {
			// An empty selector would list every tracked alert.
			http.Error(w, "the selector selects nothing: give at least one matcher or a fingerprint", http.StatusBadRequest)
			return
		}
		rep := Build(a, r, d, ms, fp, now())
		rep.Query = strings.TrimSpace(match + " " + fp)
		if replica != nil {
			rep.Replica = replica()
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	})
}

func parseMatchers(s string) (labels.Matchers, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{") {
		s = "{" + s + "}"
	}
	var out labels.Matchers
	inner := strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	for _, part := range splitMatchers(inner) {
		m, err := tenancy.ParseMatcher(part)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// splitMatchers splits on commas outside quotes.
func splitMatchers(s string) []string {
	var (
		out   []string
		cur   strings.Builder
		quote bool
		esc   bool
	)
	for _, r := range s {
		switch {
		case esc:
			esc = false
		case r == '\\':
			esc = true
		case r == '"':
			quote = !quote
		case r == ',' && !quote:
			if p := strings.TrimSpace(cur.String()); p != "" {
				out = append(out, p)
			}
			cur.Reset()
			continue
		}
		cur.WriteRune(r)
	}
	if p := strings.TrimSpace(cur.String()); p != "" {
		out = append(out, p)
	}
	return out
}

// Build assembles the report for the alerts matching ms or fp.
func Build(a Alerts, r Routes, d Deliveries, ms labels.Matchers, fp string, now time.Time) Report {
	var rep Report
	for _, t := range a.Find(ms, fp) {
		ar := AlertReport{
			Fingerprint:  t.Fingerprint,
			Incarnation:  t.ID,
			Labels:       map[string]string{},
			Status:       t.Status.String(),
			StartsAt:     t.StartsAt,
			SilencedBy:   t.SilencedBy,
			InhibitedBy:  t.InhibitedBy,
			MissingSince: t.MissingSince,
			ResolveAt:    t.ResolveAt,
			HoldUntil:    t.HoldUntil,
			ResolvedAt:   t.ResolvedAt,
		}
		for k, v := range t.Labels {
			ar.Labels[string(k)] = string(v)
		}
		if !t.MissingSince.IsZero() && t.Status != alert.Resolved {
			ar.Status = "resolving"
		}
		route := r.Explain(t.Labels, now)
		ar.Tenant, ar.TenantReason = route.Tenant, route.TenantReason
		for _, v := range route.Channels {
			cr := ChannelReport{Verdict: v}
			if v.Routed {
				cr.Integrations, _ = d.Explain(v.Channel, t.Fingerprint)
			}
			ar.Channels = append(ar.Channels, cr)
		}
		ar.Summary = summarize(ar, t, now)
		rep.Alerts = append(rep.Alerts, ar)
	}
	return rep
}

// summarize says what happened, or why nothing was sent.
func summarize(ar AlertReport, t poller.Tracked, now time.Time) string {
	var routed []ChannelReport
	for _, c := range ar.Channels {
		if c.Routed {
			routed = append(routed, c)
		}
	}
	var parts []string
	switch {
	case t.Status == alert.Suppressed && len(t.SilencedBy) > 0:
		parts = append(parts, "held back: silenced by "+strings.Join(t.SilencedBy, ", "))
	case t.Status == alert.Suppressed && len(t.InhibitedBy) > 0:
		parts = append(parts, "held back: inhibited by the alert(s) "+strings.Join(t.InhibitedBy, ", "))
	case t.Status == alert.Suppressed:
		parts = append(parts, "held back: suppressed in Alertmanager")
	case ar.Status == "resolving" && !t.HoldUntil.IsZero():
		parts = append(parts, fmt.Sprintf("absent since %s; Alertmanager restarted, so resolutions are held until %s", ts(t.MissingSince), ts(t.HoldUntil)))
	case ar.Status == "resolving":
		parts = append(parts, fmt.Sprintf("absent since %s; counts as resolved at %s if it stays absent (resolve grace)", ts(t.MissingSince), ts(t.ResolveAt)))
	}
	if len(routed) == 0 {
		if len(ar.Channels) == 0 {
			return strings.Join(append(parts, "no channel Secret exists"), "; ")
		}
		return strings.Join(append(parts, "no channel receives it (see each channel's reason)"), "; ")
	}
	for _, c := range routed {
		if c.Held != "" && t.Status != alert.Resolved {
			parts = append(parts, c.Channel+": held back: "+c.Held)
		}
		for _, in := range c.Integrations {
			parts = append(parts, c.Channel+" "+in.Integration+": "+integrationSummary(in, t, now))
		}
	}
	return strings.Join(parts, "; ")
}

func integrationSummary(in senders.IntegrationState, t poller.Tracked, now time.Time) string {
	la := in.LastAttempt
	switch {
	case !in.Known && t.Status == alert.Resolved:
		return "nothing pending (resolution delivered, not wanted, or the firing was never sent)"
	case !in.Known:
		return "not yet synced to this channel"
	case in.InFlight && la != nil && la.Outcome == senders.OutcomeRetrying:
		return fmt.Sprintf("retrying after %d failed attempt(s), last %s: %s", la.Attempts, la.Reason, la.Error)
	case in.InFlight:
		return "being sent"
	case la != nil && la.Outcome == senders.OutcomeDropped && la.Reason == "denied":
		return "not delivered: the destination is in a network tenant channels may not reach: " + la.Error
	case la != nil && la.Outcome == senders.OutcomeDropped && !in.Notified:
		return fmt.Sprintf("dropped after %d attempt(s) (%s): %s; still pending, tried again at the group's next flush%s", la.Attempts, la.Reason, la.Error, at(in.DueAt))
	case in.Notified && la != nil && la.Outcome == senders.OutcomeDropped:
		return fmt.Sprintf("last notification dropped (%s): %s; tried again at the group's next flush%s", la.Reason, la.Error, at(in.DueAt))
	case !in.DueAt.IsZero() && in.DueAt.After(now):
		return "waiting for the group's next flush (group wait, then group interval) at " + ts(in.DueAt)
	case !in.DueAt.IsZero():
		return "due now"
	case t.Status == alert.Resolved && in.ResolvedSent:
		return "resolution delivered"
	case t.Status == alert.Suppressed:
		return "not sent while suppressed"
	case in.Notified:
		return fmt.Sprintf("delivered at %s; next repeat at %s", ts(in.LastNotified), ts(in.NextRepeat))
	}
	return "nothing to send"
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// at is " at <t>", or nothing when t is unknown.
func at(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " at " + ts(t)
}
