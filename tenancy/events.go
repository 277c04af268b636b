package tenancy

import (
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// EventReporter reports to the log and as Events on the Secret, where
// tenants look (`kubectl describe secret`). Messages never hold secret
// values: the senders redact them before they get here.
type EventReporter struct {
	log      *slog.Logger
	recorder record.EventRecorder
}

// NewEventReporter returns a reporter writing Events through events. The
// broadcaster's correlator rate-limits and aggregates them, so a broken
// Secret reprocessed in a loop cannot flood the API server. stop shuts it
// down.
func NewEventReporter(events typedcorev1.EventsGetter, host string, log *slog.Logger) (r *EventReporter, stop func()) {
	b := record.NewBroadcasterWithCorrelatorOptions(record.CorrelatorOptions{
		// At most one Event per object every 10 s on average, bursts of 5.
		QPS:       0.1,
		BurstSize: 5,
	})
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: events.Events("")})
	rec := b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "amtenant", Host: host})
	return &EventReporter{log: log, recorder: rec}, b.Shutdown
}

// Report logs and records an Event.
func (r *EventReporter) Report(s Object, warning bool, reason, message string) {
	LogReporter{Log: r.log}.Report(s, warning, reason, message)
	typ := corev1.EventTypeNormal
	if warning {
		typ = corev1.EventTypeWarning
	}
	r.recorder.Event(s, typ, reason, message)
}
