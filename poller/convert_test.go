package poller

import (
	"errors"
	"time"

	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/common/model"

	"github.com/amtenant/amtenant/alert"
)

// The generated client's own path (its models, then this conversion) is
// kept here as the reference the lean decoder is tested and benchmarked
// against.

// convert turns the API models into the tracker's representation. An alert
// with neither labels nor fingerprint cannot be identified and is dropped;
// one with a fingerprint but without startsAt or status is kept as
// incomplete.
func convert(payload models.GettableAlerts) (Snapshot, error) {
	if payload == nil {
		return Snapshot{}, errors.New("response is not a list of alerts")
	}
	snap := Snapshot{Alerts: make([]*alert.Alert, 0, len(payload))}
	seen := make(map[string]struct{}, len(payload))
	for _, ga := range payload {
		if ga == nil {
			continue
		}
		ls := make(model.LabelSet, len(ga.Labels))
		for k, v := range ga.Labels {
			ls[model.LabelName(k)] = model.LabelValue(v)
		}
		fp := ""
		if ga.Fingerprint != nil {
			fp = *ga.Fingerprint
		}
		if fp == "" {
			if len(ls) == 0 {
				continue
			}
			// The fingerprint is the hash of the labels; recompute it.
			fp = ls.Fingerprint().String()
		}
		if _, dup := seen[fp]; dup {
			continue
		}
		seen[fp] = struct{}{}
		// As the lean decoder: a zero start or an empty state is as good as
		// none.
		if ga.StartsAt == nil || time.Time(*ga.StartsAt).IsZero() || ga.Status == nil || ga.Status.State == nil || *ga.Status.State == "" || len(ls) == 0 {
			snap.Incomplete = append(snap.Incomplete, fp)
			continue
		}
		a := alert.Alert{
			Fingerprint:  fp,
			Labels:       ls,
			StartsAt:     time.Time(*ga.StartsAt),
			GeneratorURL: ga.GeneratorURL.String(),
			SilencedBy:   ga.Status.SilencedBy,
			InhibitedBy:  ga.Status.InhibitedBy,
		}
		ann := make(model.LabelSet, len(ga.Annotations))
		for k, v := range ga.Annotations {
			ann[model.LabelName(k)] = model.LabelValue(v)
		}
		a.Annotations = alert.NewAnnotations(ann)
		if ga.EndsAt != nil {
			a.EndsAt = time.Time(*ga.EndsAt)
		}
		if ga.UpdatedAt != nil {
			a.UpdatedAt = time.Time(*ga.UpdatedAt)
		}
		a.Suppressed = IsSuppressed(*ga.Status.State, a.SilencedBy, a.InhibitedBy)
		snap.Alerts = append(snap.Alerts, &a)
	}
	return snap, nil
}
