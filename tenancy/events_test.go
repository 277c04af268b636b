package tenancy

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/amtenant/amtenant/internal/testutil"
)

func TestEventReporter(t *testing.T) {
	client := fake.NewClientset()
	rep, stop := NewEventReporter(client.CoreV1(), "pod-0", slog.New(slog.DiscardHandler))
	defer stop()
	s := newChannel("team-a", "slack")
	rep.Report(s, true, ReasonInvalidChannel, "team-a/slack: slack_configs[0]: no Slack API URL")
	rep.Report(s, false, ReasonChannelReady, "channel team-a/slack is ready (slack)")
	var events []corev1.Event
	var got []string
	testutil.Eventuallyf(t, 5*time.Second, func() bool {
		list, err := client.CoreV1().Events("team-a").List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		events, got = list.Items, nil
		for _, e := range events {
			got = append(got, e.Type+" "+e.Reason)
		}
		joined := strings.Join(got, ",")
		return strings.Contains(joined, "Warning InvalidChannel") && strings.Contains(joined, "Normal ChannelReady")
	}, testutil.Say("both events, got %v", func() any { return got }))
	for _, e := range events {
		if e.InvolvedObject.Kind != "Secret" || e.InvolvedObject.Name != "slack" || e.Source.Component != "amtenant" {
			t.Errorf("event about %+v from %+v", e.InvolvedObject, e.Source)
		}
	}
}
