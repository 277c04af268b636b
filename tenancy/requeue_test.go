package tenancy

import (
	"errors"
	"testing"

	"k8s.io/client-go/util/workqueue"
)

// An admin channel whose build failed for a reason outside its Secret (a
// file its admin mounts later) is built once the reason is gone, without a
// change of the Secret, and reported ready; the failure is reported once
// however many times it is tried. Four failures are well within the
// retries (the backoff before the fifth is tens of milliseconds).
func TestFailedBuildRetried(t *testing.T) {
	const id = testNamespace + "/later"
	e := newCtrlEnv(t, newChannel(testNamespace, "later"))
	e.b.setFailTimes(id, 4, errors.New("webhook_configs[0]: open /etc/amtenant/url: no such file or directory"))
	e.start(t)
	eventually(t, "the channel built once the file is there", func() bool {
		return len(e.rep.find(id, ReasonChannelReady)) == 1
	})
	if n := len(e.b.appliesOf(id)); n < 5 {
		t.Errorf("applies = %d, want at least 5 (4 failures, then the build)", n)
	}
	if n := len(e.rep.find(id, ReasonInvalidChannel)); n != 1 {
		t.Errorf("InvalidChannel reported %d times, want once", n)
	}
}

// The retries stop: a build that always fails is tried 1 + maxRequeues
// times for its Secret's version, and a tenant channel's is not retried.
// Retries come at once here (a queue without backoff), in order with
// everything else, so a barrier processed after the last proves no
// further one is queued.
func TestFailedBuildRetriesBounded(t *testing.T) {
	const admin, tenant = testNamespace + "/always", "team-a/typo"
	e := newCtrlEnv(t, newNamespace("team-a", nil))
	e.ctrl.queue.ShutDown()
	e.ctrl.queue = workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemFastSlowRateLimiter[string](0, 0, 0))
	e.b.setFail(admin, errors.New("webhook_configs[0]: open /etc/amtenant/url: no such file or directory"))
	e.b.setFail(tenant, errors.New("webhook_configs[0]: missing url"))
	e.start(t)
	e.create(t, newChannel(testNamespace, "always"))
	e.create(t, newChannel("team-a", "typo"))
	eventually(t, "the admin channel's retries", func() bool { return len(e.b.appliesOf(admin)) >= 1+maxRequeues })
	e.barrier(t)
	if n := len(e.b.appliesOf(admin)); n != 1+maxRequeues {
		t.Errorf("admin channel built %d times, want %d", n, 1+maxRequeues)
	}
	if n := len(e.b.appliesOf(tenant)); n != 1 {
		t.Errorf("tenant channel built %d times, want once (no retry)", n)
	}
	if n := len(e.rep.find(admin, ReasonInvalidChannel)); n != 1 {
		t.Errorf("InvalidChannel reported %d times, want once", n)
	}
}
