package senders

import (
	"errors"
	"net"
	"net/netip"
	"reflect"
	"strings"
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

func defaultGuard(t *testing.T) *Guard {
	t.Helper()
	deny, err := ParseCIDRs(DefaultDenyCIDRs)
	if err != nil {
		t.Fatalf("DefaultDenyCIDRs: %v", err)
	}
	return NewGuard(deny)
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
	t.Run("empty guard denies nothing", func(t *testing.T) {
		if NewGuard(nil).Denied(netip.MustParseAddr("127.0.0.1")) {
			t.Error("empty Guard denied 127.0.0.1")
		}
	})
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
