package tenancy

import (
	"errors"
	"testing"
)

// A channel whose build failed for a reason outside its Secret (a file
// its admin mounts later) is built once the reason is gone, without a
// change of the Secret, and reported ready; the failure is reported once
// however many times it is tried. Four failures are well within the
// retries (the backoff before the fifth is tens of milliseconds).
func TestFailedBuildRetried(t *testing.T) {
	const id = "team-a/later"
	e := newCtrlEnv(t, newNamespace("team-a", nil), newChannel("team-a", "later"))
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
