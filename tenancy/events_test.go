package tenancy

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestEventReporter(t *testing.T) {
	client := fake.NewClientset()
	rep, stop := NewEventReporter(client, "pod-0", slog.New(slog.DiscardHandler))
	defer stop()
	s := newChannel("team-a", "slack")
	rep.Report(s, true, ReasonInvalidChannel, "team-a/slack: slack_configs[0]: no Slack API URL")
	rep.Report(s, false, ReasonChannelReady, "channel team-a/slack is ready (slack)")
	deadline := time.Now().Add(5 * time.Second)
	for {
		list, err := client.CoreV1().Events("team-a").List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range list.Items {
			if e.InvolvedObject.Kind != "Secret" || e.InvolvedObject.Name != "slack" || e.Source.Component != "amtenant" {
				t.Errorf("event about %+v from %+v", e.InvolvedObject, e.Source)
			}
			got = append(got, e.Type+" "+e.Reason)
		}
		joined := strings.Join(got, ",")
		if strings.Contains(joined, "Warning InvalidChannel") && strings.Contains(joined, "Normal ChannelReady") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("events: %v", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
