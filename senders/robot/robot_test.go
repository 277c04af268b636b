package robot

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/common/model"
)

// TestRepeatNotificationIsSent: the cache of accepted parts is for retries
// of one notification; a later notification with the same text (a repeat
// after repeat_interval, or another group that renders alike) is sent.
func TestRepeatNotificationIsSent(t *testing.T) {
	for _, typ := range []string{"dingtalk", "feishu", "wecom"} {
		t.Run(typ+"/repeat", func(t *testing.T) {
			f := newFakeService(t, typ, signingSecret(typ))
			n := mustNew(t, typ, f.entry(), robotOptions(t, nil))
			ctx := notifyCtx(t.Context())
			if _, err := n.Notify(ctx, firingGroup()...); err != nil {
				t.Fatal(err)
			}
			// The group is still firing after repeat_interval (here 30m).
			ctx = notify.WithNotificationReason(ctx, notify.ReasonRepeatIntervalElapsed)
			if _, err := n.Notify(ctx, firingGroup()...); err != nil {
				t.Fatal(err)
			}
			if got := len(f.accepted()); got != 2 {
				t.Errorf("service got %d messages, want 2 (the repeat was swallowed)", got)
			}
		})
		t.Run(typ+"/two groups", func(t *testing.T) {
			// group_by: [alertname, pod]: two pods crash-loop since the
			// same evaluation; the default text does not show the pod.
			f := newFakeService(t, typ, signingSecret(typ))
			n := mustNew(t, typ, f.entry(), robotOptions(t, nil))
			for _, pod := range []string{"web-0", "web-1"} {
				a := newAlert("PodCrashLooping", "warning", false, "summary", "pod restarts")
				a.Labels["pod"] = model.LabelValue(pod)
				ctx := notifyCtx(t.Context())
				ctx = notify.WithGroupKey(ctx, "team-a/chat:{}:{pod=\""+pod+"\"}")
				ctx = notify.WithGroupLabels(ctx, model.LabelSet{"alertname": "PodCrashLooping", "pod": model.LabelValue(pod)})
				if _, err := n.Notify(ctx, a); err != nil {
					t.Fatal(err)
				}
			}
			if got := len(f.accepted()); got != 2 {
				t.Errorf("service got %d messages, want 2 (one group was swallowed)", got)
			}
		})
	}
}

// TestWait: the senders call Wait before each attempt; DingTalk robots are
// paced to 20 messages a minute, the others are not paced.
func TestWait(t *testing.T) {
	t.Parallel() // mostly waiting
	type waiter interface{ Wait(context.Context) error }
	for _, tt := range []struct {
		typ  string
		rate int // 0: not paced
	}{
		{"dingtalk", 20},
		{"feishu", 0},
		{"wecom", 0},
	} {
		t.Run(tt.typ, func(t *testing.T) {
			f := newFakeService(t, tt.typ, signingSecret(tt.typ))
			n := mustNew(t, tt.typ, f.entry(), robotOptions(t, nil))
			w, ok := n.(waiter)
			if !ok {
				t.Fatal("the robot has no Wait method: the senders cannot pace it")
			}
			// The test clock stands still: nothing leaves the window.
			for i := range 25 {
				ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
				err := w.Wait(ctx)
				cancel()
				paced := tt.rate > 0 && i >= tt.rate
				switch {
				case paced && err != context.DeadlineExceeded:
					t.Fatalf("Wait #%d = %v, want to block past the deadline (%d a minute)", i+1, err, tt.rate)
				case !paced && err != nil:
					t.Fatalf("Wait #%d = %v, want nil", i+1, err)
				}
			}
		})
	}
}

// TestNotifyPacesParts: the parts of a split DingTalk notification after
// the first take their turn in the robot's pacer (the senders' Wait took
// the first one's).
func TestNotifyPacesParts(t *testing.T) {
	t.Parallel() // mostly waiting
	f := newFakeService(t, "dingtalk", testSecret)
	n := mustNew(t, "dingtalk", f.entry(), robotOptions(t, nil)).(*robot)
	// 19 messages went out this minute (the test clock stands still).
	for range dingTalkRate - 1 {
		if err := n.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	// Part 3 must wait for the window (a minute on a clock that stands
	// still): give up 100ms after part 2 went through.
	ctx, cancel := context.WithCancel(notifyCtx(t.Context()))
	defer cancel()
	f.answer = func(n int, _ request) (int, string) {
		if n == 2 {
			time.AfterFunc(100*time.Millisecond, cancel)
		}
		return 0, ""
	}
	retry, err := n.Notify(ctx, storm()...)
	if !errors.Is(err, context.Canceled) || !retry {
		t.Fatalf("Notify = %t, %v; want true, context.Canceled", retry, err)
	}
	// Part 1, and part 2 in the 20th slot; part 3 waits for the window.
	if got := len(f.accepted()); got != 2 {
		t.Errorf("service got %d parts, want 2", got)
	}
}
