package senders

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// DefaultDenyCIDRs is the default of --security.tenant-deny-cidrs: loopback
// (the sidecar shares the pod's network with Alertmanager's
// unauthenticated API), link-local (cloud metadata services) and the
// unspecified address (which reaches the local host on Linux).
const DefaultDenyCIDRs = "127.0.0.0/8,::1/128,169.254.0.0/16,fe80::/10,0.0.0.0/8,::/128"

// ErrDenied is returned when a tenant channel tries to reach a denied
// address.
var ErrDenied = errors.New("destination denied for tenant channels")

// Guard checks outgoing connections of tenant channels against a deny list
// at dial time, after name resolution, so that neither DNS names nor HTTP
// redirects can get around it.
type Guard struct {
	deny []netip.Prefix
}

// ParseCIDRs parses a comma-separated list of CIDRs or addresses.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			a, err := netip.ParseAddr(part)
			if err != nil {
				return nil, fmt.Errorf("invalid address or CIDR %q", part)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("invalid CIDR %q", part)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// NewGuard returns a Guard denying the given prefixes.
func NewGuard(deny []netip.Prefix) *Guard { return &Guard{deny: deny} }

// Denied reports whether a may not be reached by tenant channels.
func (g *Guard) Denied(a netip.Addr) bool {
	if g == nil {
		return false
	}
	a = a.Unmap()
	for _, p := range g.deny {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse %q", ErrDenied, address)
	}
	if g.Denied(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrDenied, ap.Addr())
	}
	return nil
}

// DialContext dials like net.Dialer but refuses denied addresses.
func (g *Guard) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	d := net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: g.control}
	return d.DialContext(ctx, network, address)
}

// CheckHost resolves host and fails if any of its addresses is denied. It
// is for clients that dial by themselves (SMTP): a name that resolves to
// several addresses is refused if any of them is denied, since the client
// may pick any.
func (g *Guard) CheckHost(ctx context.Context, host string) error {
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if g.Denied(a) {
			return fmt.Errorf("%w: %s", ErrDenied, a)
		}
		return nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", host, err)
	}
	for _, a := range addrs {
		if g.Denied(a) {
			return fmt.Errorf("%w: %s resolves to %s", ErrDenied, host, a.Unmap())
		}
	}
	return nil
}
