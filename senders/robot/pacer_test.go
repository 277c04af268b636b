package robot

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestPacer(t *testing.T) {
	t.Parallel() // mostly waiting
	const window = 200 * time.Millisecond

	// The fake clock's subtests run in a bubble: that a wait has not
	// returned is checked once its goroutine is blocked, on the bubble's
	// timers, so that a slow machine cannot make the check pass without
	// the wait having been reached.
	t.Run("fake clock", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			clock := &fakeClock{t: testNow}
			p := &pacer{n: 3, window: window}
			for i := range 3 {
				if err := p.wait(t.Context(), clock.now); err != nil {
					t.Fatalf("wait #%d: %v", i+1, err)
				}
			}
			done := make(chan error, 1)
			go func() { done <- p.wait(t.Context(), clock.now) }()
			select {
			case err := <-done:
				t.Fatalf("the 4th wait returned %v at once; want it to wait for the window", err)
			case <-time.After(window / 2):
			}
			// Nothing frees a slot until the clock says the window has passed,
			// however long the pacer sleeps.
			select {
			case err := <-done:
				t.Fatalf("the 4th wait returned %v before the window passed", err)
			case <-time.After(window + window/2):
			}
			clock.advance(window)
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("the 4th wait: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the 4th wait did not return once the window had passed")
			}
			// The window slides: the three first left it together, the 4th
			// is in it; two more fit.
			for i := range 2 {
				ctx, cancel := context.WithTimeout(t.Context(), time.Second)
				err := p.wait(ctx, clock.now)
				cancel()
				if err != nil {
					t.Fatalf("wait #%d after the window: %v", i+5, err)
				}
			}
		})
	})

	t.Run("real clock", func(t *testing.T) {
		p := &pacer{n: 3, window: window}
		start := time.Now()
		for i := range 4 {
			if err := p.wait(t.Context(), time.Now); err != nil {
				t.Fatalf("wait #%d: %v", i+1, err)
			}
			if i == 2 && time.Since(start) >= window {
				t.Logf("the machine is slow: 3 waits took %v", time.Since(start))
			}
		}
		if d := time.Since(start); d < window {
			t.Errorf("4 waits took %v, want at least the window %v", d, window)
		} else if d > 10*time.Second {
			t.Errorf("4 waits took %v, want about the window %v", d, window)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			clock := &fakeClock{t: testNow}
			p := &pacer{n: 1, window: time.Hour}
			if err := p.wait(t.Context(), clock.now); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- p.wait(ctx, clock.now) }()
			// Canceled once the wait is blocked on its window, not before.
			synctest.Wait()
			select {
			case err := <-done:
				t.Fatalf("the wait returned %v with its window full", err)
			default:
			}
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("wait = %v, want context.Canceled", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("wait did not return when its context was canceled")
			}

			dctx, dcancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
			defer dcancel()
			if err := p.wait(dctx, clock.now); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("wait = %v, want context.DeadlineExceeded", err)
			}

			// A wait given up takes no slot: once the window passes, one
			// message goes at once.
			clock.advance(time.Hour)
			actx, acancel := context.WithTimeout(t.Context(), time.Second)
			defer acancel()
			if err := p.wait(actx, clock.now); err != nil {
				t.Fatalf("wait after the window: %v", err)
			}
		})
	})
}

func TestPacersGet(t *testing.T) {
	ps := NewPacers()
	u := "https://oapi.dingtalk.com/robot/send?access_token=" + newToken()
	k := paceKey{url: u, n: 20, window: time.Minute}
	p := ps.get(k, time.Now)
	if got := ps.get(k, time.Now); got != p {
		t.Error("get returned another pacer for the same URL")
	}
	if got := ps.get(paceKey{url: u + "x", n: 20, window: time.Minute}, time.Now); got == p {
		t.Error("get returned the same pacer for another URL")
	}
	if got := NewPacers().get(k, time.Now); got == p {
		t.Error("two tables share a pacer")
	}
	if p.n != 20 || p.window != time.Minute {
		t.Errorf("pacer = %d per %v, want 20 per 1m", p.n, p.window)
	}

	// Two channels posting to one robot share its limit.
	f := newFakeService(t, "dingtalk", testSecret)
	opts := robotOptions(t, nil)
	opts.Pacers = ps
	a := mustNew(t, "dingtalk", f.entry(), opts).(*robot)
	b := mustNew(t, "dingtalk", f.entry("send_resolved", false), opts).(*robot)
	if a.pace == nil || b.pace == nil || a.pacers.get(*a.pace, time.Now) != b.pacers.get(*b.pace, time.Now) {
		t.Errorf("two DingTalk robots with one URL and one table do not share a pacer")
	}
	if a.pace.n != dingTalkRate || a.pace.window != dingTalkWindow {
		t.Errorf("DingTalk pace = %d per %v, want 20 per 1m", a.pace.n, a.pace.window)
	}
}

// Robots created and deleted do not grow the pacer table for ever: idle
// pacers are dropped once it is large, and a busy one is kept.
func TestPacersIdleDropped(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	busy := paceKey{url: "https://oapi.dingtalk.com/robot/send?access_token=busy-" + newToken(), n: 20, window: time.Minute}
	ps := NewPacers()
	bp := ps.get(busy, clock)
	if err := bp.wait(t.Context(), clock); err != nil {
		t.Fatal(err)
	}
	for i := range 3 * pacerSweep {
		ps.get(paceKey{url: fmt.Sprintf("https://oapi.dingtalk.com/robot/send?access_token=idle-%d-%s", i, newToken()), n: 20, window: time.Minute}, clock)
	}
	if n := ps.len(); n > pacerSweep+1 {
		t.Errorf("%d pacers after %d idle robots, want at most %d", n, 3*pacerSweep, pacerSweep+1)
	}
	if ps.get(busy, clock) != bp {
		t.Error("the busy robot's pacer was dropped")
	}
}
