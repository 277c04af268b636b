package senders

import (
	"errors"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestParseCIDRs(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "", want: nil},
		{in: " , ,", want: nil},
		{in: "10.0.0.0/8", want: []string{"10.0.0.0/8"}},
		{in: "10.1.2.3/8", want: []string{"10.0.0.0/8"}},
		{in: "192.168.1.7", want: []string{"192.168.1.7/32"}},
		{in: "::1", want: []string{"::1/128"}},
		{in: " 127.0.0.0/8 , fe80::/10,169.254.169.254 ", want: []string{"127.0.0.0/8", "fe80::/10", "169.254.169.254/32"}},
		{in: "localhost", wantErr: `invalid address or CIDR "localhost"`},
		{in: "10.0.0.0/33", wantErr: `invalid CIDR "10.0.0.0/33"`},
		{in: "10.0.0.0/8,garbage/8", wantErr: `invalid CIDR "garbage/8"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseCIDRs(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseCIDRs(%q): got error %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCIDRs(%q): %v", tt.in, err)
			}
			var gotS []string
			for _, p := range got {
				gotS = append(gotS, p.String())
			}
			if !reflect.DeepEqual(gotS, tt.want) {
				t.Errorf("ParseCIDRs(%q) = %v, want %v", tt.in, gotS, tt.want)
			}
		})
	}
}

// ownAddrs stands for the pod's own interface addresses in the tests.
var ownAddrs = []netip.Addr{netip.MustParseAddr("10.9.8.7"), netip.MustParseAddr("fd12::7")}

func fixedOwn(addrs ...netip.Addr) func() ([]netip.Addr, error) {
	return func() ([]netip.Addr, error) { return slices.Clone(addrs), nil }
}

func defaultGuard(t *testing.T) *Guard {
	t.Helper()
	deny, err := ParseCIDRs(DefaultDenyCIDRs)
	if err != nil {
		t.Fatalf("DefaultDenyCIDRs: %v", err)
	}
	return NewGuard(deny).WithOwnAddrs(fixedOwn(ownAddrs...))
}

func TestGuardDenied(t *testing.T) {
	g := defaultGuard(t)
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true},
		{"127.1.2.3", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true},
		{"169.254.169.254", true},
		{"::ffff:169.254.169.254", true},
		{"fe80::1", true},
		{"0.0.0.0", true},
		{"::", true},
		// IPv6 zones do not change the address.
		{"::1%lo", true},
		{"::1%1", true},
		{"fe80::1%eth0", true},
		{"fe80::a9fe:a9fe%25eth0", true},
		// Cloud metadata beyond link-local.
		{"fd00:ec2::254", true},
		{"100.100.100.200", true},
		// The pod's own addresses.
		{"10.9.8.7", true},
		{"::ffff:10.9.8.7", true},
		{"fd12::7", true},
		{"fd12::7%eth0", true},
		{"10.9.8.6", false},
		{"10.1.2.3", false},
		{"192.168.0.1", false},
		{"8.8.8.8", false},
		{"2001:db8::1", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := g.Denied(netip.MustParseAddr(tt.addr)); got != tt.want {
				t.Errorf("Denied(%s) = %t, want %t", tt.addr, got, tt.want)
			}
		})
	}
	t.Run("nil guard denies nothing", func(t *testing.T) {
		var g *Guard
		if g.Denied(netip.MustParseAddr("127.0.0.1")) {
			t.Error("nil Guard denied 127.0.0.1")
		}
	})
	t.Run("empty guard denies only its own addresses", func(t *testing.T) {
		g := NewGuard(nil).WithOwnAddrs(fixedOwn(ownAddrs...))
		if g.Denied(netip.MustParseAddr("127.0.0.1")) {
			t.Error("empty Guard denied 127.0.0.1")
		}
		if !g.Denied(netip.MustParseAddr("10.9.8.7")) {
			t.Error("empty Guard allowed its own address")
		}
	})
}

// The own addresses are looked up at each check: one added later is
// denied; a failed lookup keeps the last list; with none ever listed,
// everything is denied.
func TestGuardOwnAddresses(t *testing.T) {
	var (
		mu    sync.Mutex
		addrs []netip.Addr
		fail  = true
	)
	g := NewGuard(nil).WithOwnAddrs(func() ([]netip.Addr, error) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return nil, errors.New("netlink: permission denied")
		}
		return slices.Clone(addrs), nil
	})
	set := func(f bool, as ...string) {
		mu.Lock()
		defer mu.Unlock()
		fail, addrs = f, nil
		for _, a := range as {
			addrs = append(addrs, netip.MustParseAddr(a))
		}
	}
	other := netip.MustParseAddr("192.0.2.1")
	if err := g.control("tcp", "192.0.2.1:80", nil); !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "could not be listed") {
		t.Errorf("no list yet: %v, want denied because the own addresses are unknown", err)
	}
	set(false, "10.0.0.5")
	if g.Denied(other) || !g.Denied(netip.MustParseAddr("10.0.0.5")) {
		t.Error("after a lookup: want only 10.0.0.5 denied")
	}
	set(false, "10.0.0.5", "10.0.0.6") // a second address appears
	if !g.Denied(netip.MustParseAddr("10.0.0.6")) {
		t.Error("an address added later is not denied")
	}
	set(true)
	if !g.Denied(netip.MustParseAddr("10.0.0.6")) || g.Denied(other) {
		t.Error("a failed lookup did not keep the last list")
	}
	err := g.control("tcp", "10.0.0.6:9093", nil)
	if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "own pod") {
		t.Errorf("control: %v, want denied as the pod's own address", err)
	}
}

// The host's real interface addresses, loopback excluded (the deny list
// decides loopback).
func TestInterfaceAddrs(t *testing.T) {
	addrs, err := interfaceAddrs()
	if err != nil {
		t.Skipf("cannot list interfaces here: %v", err)
	}
	for _, a := range addrs {
		if a.IsLoopback() || a.Zone() != "" || a.Is4In6() {
			t.Errorf("own address %s: want no loopback, zone or mapping", a)
		}
	}
}

func TestGuardDialContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	t.Run("denied", func(t *testing.T) {
		for _, addr := range []string{ln.Addr().String(), net.JoinHostPort("localhost", port)} {
			c, err := defaultGuard(t).DialContext(t.Context(), "tcp", addr)
			if err == nil {
				c.Close()
				t.Fatalf("DialContext(%s): got a connection", addr)
			}
			if !errors.Is(err, ErrDenied) {
				t.Errorf("DialContext(%s): got %v, want ErrDenied", addr, err)
			}
		}
		select {
		case <-accepted:
			t.Error("the listener accepted a connection")
		default:
		}
	})
	t.Run("the pod's own address", func(t *testing.T) {
		// The listener's address stands for the pod's IP.
		g := NewGuard(nil).WithOwnAddrs(fixedOwn(netip.MustParseAddr("127.0.0.1")))
		c, err := g.DialContext(t.Context(), "tcp", ln.Addr().String())
		if err == nil {
			c.Close()
			t.Fatal("DialContext to the pod's own address: got a connection")
		}
		if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "own pod") {
			t.Errorf("DialContext: got %v, want ErrDenied naming the pod's own address", err)
		}
	})
	t.Run("zoned loopback", func(t *testing.T) {
		for _, addr := range []string{"[::1%1]:" + port, "[::1%lo]:" + port, "[fe80::1%2]:" + port} {
			if err := defaultGuard(t).control("tcp6", addr, nil); !errors.Is(err, ErrDenied) {
				t.Errorf("control(%s): %v, want ErrDenied", addr, err)
			}
		}
	})
	t.Run("allowed", func(t *testing.T) {
		c, err := NewGuard(nil).DialContext(t.Context(), "tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("DialContext: %v", err)
		}
		c.Close()
		<-accepted
	})
}

func TestGuardCheckHost(t *testing.T) {
	g := defaultGuard(t)
	tests := []struct {
		host   string
		denied bool
	}{
		{"localhost", true},
		{"127.0.0.1", true},
		{"[::1]", true},
		{"::1", true},
		{"169.254.169.254", true},
		{"0.0.0.0", true},
		{"[::1%25lo]", true}, // the zone "25lo", still ::1
		{"[::1%lo]", true},
		{"fe80::1%eth0", true},
		{"10.9.8.7", true},
		{"10.1.2.3", false},
		{"[2001:db8::1]", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			err := g.CheckHost(t.Context(), tt.host)
			if tt.denied {
				if !errors.Is(err, ErrDenied) {
					t.Errorf("CheckHost(%s): got %v, want ErrDenied", tt.host, err)
				}
				return
			}
			if err != nil {
				t.Errorf("CheckHost(%s): %v", tt.host, err)
			}
		})
	}
}

// FuzzGuardAddress: whatever address a tenant writes, its zone and IPv4
// mapping never change the verdict, and loopback, link-local and the pod's
// own addresses are always denied by the default guard.
func FuzzGuardAddress(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "::1%lo", "fe80::1%eth0", "::ffff:169.254.169.254", "10.9.8.7", "fd12::7%1", "8.8.8.8", "2001:db8::1"} {
		f.Add(s)
	}
	g := defaultGuard(&testing.T{})
	f.Fuzz(func(t *testing.T, s string) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return
		}
		plain := a.Unmap().WithZone("")
		if g.Denied(a) != g.Denied(plain) {
			t.Fatalf("Denied(%s) = %t but Denied(%s) = %t", a, g.Denied(a), plain, g.Denied(plain))
		}
		if (plain.IsLoopback() || plain.IsLinkLocalUnicast() || plain.IsUnspecified() || slices.Contains(ownAddrs, plain)) && !g.Denied(a) {
			t.Fatalf("%s is allowed", a)
		}
		if err := g.control("tcp", netip.AddrPortFrom(a, 80).String(), nil); (err != nil) != g.Denied(a) {
			t.Fatalf("control(%s) = %v, Denied = %t", a, err, g.Denied(a))
		}
	})
}
