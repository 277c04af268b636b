package tenancy

import (
	"errors"
	"testing"
	"time"

	"github.com/amtenant/amtenant/internal/testutil"
)

// A channel whose build failed for a reason outside its Secret (a file
// its admin mounts later) is built once the reason is gone, without a
// change of the Secret, and reported ready; the failure is reported once
// however many times it is tried.
func TestFailedBuildRetried(t *testing.T) {
	const id = "team-a/later"
	e := newCtrlEnv(t, newNamespace("team-a", nil), newChannel("team-a", "later"))
	e.b.setFail(id, errors.New("webhook_configs[0]: open /etc/amtenant/url: no such file or directory"))
	e.start(t)
	testutil.Eventually(t, 5*time.Second, "the build tried again", func() bool { return len(e.b.appliesOf(id)) >= 3 })
	if n := len(e.rep.find(id, ReasonInvalidChannel)); n != 1 {
		t.Errorf("InvalidChannel reported %d times, want once", n)
	}
	e.b.setFail(id, nil)
	testutil.Eventually(t, 30*time.Second, "the channel built once the file is there", func() bool {
		return len(e.rep.find(id, ReasonChannelReady)) == 1
	})
}
