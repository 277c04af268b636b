package explain

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/amtenant/amtenant/senders"
)

// Render writes a report for people.
func Render(w io.Writer, rep Report) {
	if r := rep.Replica; r != nil {
		renderReplica(w, r)
	}
	if len(rep.Alerts) == 0 {
		fmt.Fprintf(w, "No alert matching %q is tracked: Alertmanager does not have it (or --alertmanager.filter excludes it), or it was resolved long ago.\n", rep.Query)
		return
	}
	for i, a := range rep.Alerts {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "Alert %s (fingerprint %s, incarnation %d)\n", labelString(a.Labels), a.Fingerprint, a.Incarnation)
		fmt.Fprintf(w, "  status:  %s, since %s\n", a.Status, ts(a.StartsAt))
		if len(a.SilencedBy) > 0 {
			fmt.Fprintf(w, "           silenced by %s\n", strings.Join(a.SilencedBy, ", "))
		}
		if len(a.InhibitedBy) > 0 {
			fmt.Fprintf(w, "           inhibited by %s\n", strings.Join(a.InhibitedBy, ", "))
		}
		tenant := a.Tenant
		if tenant == "" {
			tenant = "(none: cluster alert)"
		}
		fmt.Fprintf(w, "  tenant:  %s: %s\n", tenant, a.TenantReason)
		fmt.Fprintln(w, "  channels:")
		if len(a.Channels) == 0 {
			fmt.Fprintln(w, "    (no channel Secret exists)")
		}
		for _, c := range a.Channels {
			mark := "-"
			if c.Routed {
				mark = "+"
			}
			fmt.Fprintf(w, "    %s %s: %s\n", mark, c.Channel, c.Reason)
			if c.Held != "" {
				fmt.Fprintf(w, "        held: %s\n", c.Held)
			}
			for _, in := range c.Integrations {
				fmt.Fprintf(w, "        %s: %s\n", in.Integration, integrationSummaryText(in))
			}
		}
		fmt.Fprintf(w, "  summary: %s\n", a.Summary)
	}
}

func integrationSummaryText(in senders.IntegrationState) string {
	var parts []string
	switch {
	case !in.Known:
		parts = append(parts, "holds nothing about this alert")
	case in.InFlight:
		parts = append(parts, "sending")
	case in.Notified && in.LastAttempt != nil && in.LastAttempt.Outcome == senders.OutcomeDropped:
		parts = append(parts, "not delivered; tried again at the group's next flush"+at(in.DueAt))
	case in.Notified:
		parts = append(parts, "notified at "+ts(in.LastNotified), "next repeat "+ts(in.NextRepeat))
	case !in.DueAt.IsZero():
		parts = append(parts, "pending since "+ts(in.PendingSince)+", due "+ts(in.DueAt))
	}
	if in.ResolvedSent {
		parts = append(parts, "resolution sent")
	}
	if la := in.LastAttempt; la != nil {
		s := fmt.Sprintf("last attempt %s: %s after %d attempt(s)", ts(la.At), la.Outcome, la.Attempts)
		if la.Error != "" {
			s += " (" + la.Reason + ": " + la.Error + ")"
		}
		parts = append(parts, s)
	}
	if lf := in.LastFailure; in.Failing && lf != nil {
		s := fmt.Sprintf("the integration is failing: last failure %s (%s: %s)", ts(lf.At), lf.Reason, lf.Error)
		if !in.DueAt.IsZero() {
			s += "; next attempt " + ts(in.DueAt)
		}
		parts = append(parts, s)
	}
	if !in.SendResolved {
		parts = append(parts, "does not send resolutions")
	}
	return strings.Join(parts, "; ")
}

func labelString(ls map[string]string) string {
	keys := make([]string, 0, len(ls))
	for k := range ls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%q", k, ls[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// renderReplica says whose view the report is: a follower's copy of the
// leader's record, or the leader's own.
func renderReplica(w io.Writer, r *Replica) {
	if r.Leading {
		fmt.Fprintln(w, "This replica leads: it delivers the notifications below.")
		fmt.Fprintln(w)
		return
	}
	leader := r.Leader
	if leader == "" {
		leader = "no replica (yet)"
	}
	fmt.Fprintf(w, "This replica follows (%s leads): it sends nothing while it follows.\n", leader)
	switch rp := r.Replication; {
	case rp == nil:
		fmt.Fprintln(w, "  No copy of the leader's delivery record (--replication.peer unset): what the leader told is inferred from the takeover window.")
	case rp.Synced:
		fmt.Fprintf(w, "  Its copy of %s's delivery record is complete: last message %s ago, complete since %s.\n", rp.Leader, r.At.Sub(rp.LastMessage).Round(time.Millisecond), ts(rp.SyncedSince))
	default:
		since := "it never was"
		if !rp.Lost.IsZero() {
			since = "since " + ts(rp.Lost)
		}
		fmt.Fprintf(w, "  Its copy of the leader's delivery record is incomplete (%s): the takeover window stands in for it until a new snapshot arrives.\n", since)
	}
	fmt.Fprintln(w)
}
