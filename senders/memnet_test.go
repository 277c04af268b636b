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
// to limit (of the bubble's time: instant in real time).
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
	}
}
