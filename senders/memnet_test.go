package senders

import (
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amtenant/amtenant/internal/testutil"
)

// memListener is an in-memory network for tests inside a synctest bubble:
// connections are net.Pipes, so that a goroutine waiting on one is durably
// blocked and the bubble's clock moves on. (A real socket is not: time
// would stand still while a connection is open.)
type memListener struct {
	conns     chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
}

func newMemListener() *memListener {
	return &memListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *memListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

func (l *memListener) Addr() net.Addr { return memAddr{} }

// dial connects to the listener, whatever the address.
func (l *memListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type memAddr struct{}

func (memAddr) Network() string { return "mem" }
func (memAddr) String() string  { return "sink.test:80" }

// memNet is an in-memory network with sinks, each at http://<name>.test,
// for a manager whose builder dials it (startMemManager). Make it inside
// synctest.Test.
type memNet struct {
	l *memListener

	mu    sync.Mutex
	sinks map[string]*sink
}

func newMemNet(t *testing.T) *memNet {
	t.Helper()
	n := &memNet{l: newMemListener(), sinks: map[string]*sink{}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.mu.Lock()
		s := n.sinks[r.Host]
		n.mu.Unlock()
		if s == nil {
			http.NotFound(w, r)
			return
		}
		s.serve(w, r)
	})}
	go func() { _ = srv.Serve(n.l) }()
	t.Cleanup(func() {
		// Closes the server's side of every connection: the clients'
		// idle connections end too, and the bubble can finish.
		_ = srv.Close()
	})
	return n
}

// sink adds a sink answering with respond (nil: 200).
func (n *memNet) sink(name string, respond func(int, http.ResponseWriter, *http.Request)) *sink {
	s := &sink{respond: respond, url: "http://" + name + ".test"}
	n.mu.Lock()
	n.sinks[name+".test"] = s
	n.mu.Unlock()
	return s
}

// startMemManager is startManager for a bubble: its channels reach l.
func startMemManager(t *testing.T, opts Options, n *memNet) (*Manager, *prometheus.Registry) {
	t.Helper()
	m, reg := newMemManager(t, opts, n)
	ctx, cancel := context.WithCancel(context.Background())
	m.Start(ctx)
	t.Cleanup(func() { cancel(); m.Stop(time.Second) })
	return m, reg
}

// newMemManager is a Manager, not started, whose channels reach n.
func newMemManager(t *testing.T, opts Options, n *memNet) (*Manager, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := NewManager(opts, reg)
	m.b.dial = n.l.dial
	return m, reg
}

// waitFor advances the bubble's clock in small steps until cond holds, up
// to limit (of the bubble's time: instant in real time). The steps are of
// a millisecond, then of 1% of the time waited: a condition is seen at
// most 1% late, and a wait that fails does not take minutes of real time
// (each step waits for the whole bubble).
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	waitForf(t, limit, cond, func() string { return what })
}

// waitForf is waitFor with a description made at failure (testutil.Say),
// so that it can say what the state was.
func waitForf(t *testing.T, limit time.Duration, cond func() bool, what func() string) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what(), limit)
		}
		time.Sleep(max(time.Millisecond, time.Since(start)/100))
		synctest.Wait()
	}
}

// waitDeliveredMem is waitDelivered for a bubble: it waits until n
// notifications of type typ were delivered, on the bubble's clock.
func waitDeliveredMem(t *testing.T, reg *prometheus.Registry, typ string, n float64) {
	t.Helper()
	waitForf(t, time.Minute, func() bool { return deliveredCount(t, reg, typ) >= n },
		testutil.Say("%s notifications delivered: %v, want %v", testutil.Val(typ), func() any { return deliveredCount(t, reg, typ) }, testutil.Val(n)))
}

// holdsFor checks that cond holds for the whole of d of the bubble's
// clock. At each step every goroutine of the bubble has done all it could
// before the clock moved on (synctest.Wait), so that nothing can come
// late: unlike a check in real time, a slow machine cannot make it pass
// without looking. Only for a bubble: synctest.Wait panics outside one.
func holdsFor(t *testing.T, d time.Duration, cond func() bool, what func() string) {
	t.Helper()
	step := max(d/100, time.Millisecond)
	deadline := time.Now().Add(d)
	for {
		synctest.Wait()
		if !cond() {
			t.Fatal(what())
		}
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		time.Sleep(min(step, left))
	}
}
