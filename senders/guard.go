package senders

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultDenyCIDRs is the default of --security.tenant-deny-cidrs: loopback
// (the sidecar shares the pod's network with Alertmanager's
// unauthenticated API), link-local (cloud metadata services, IPv4 and
// IPv6), the unspecified address (which reaches the local host on Linux),
// AWS's IPv6 metadata address and Alibaba Cloud's metadata address. The
// sidecar's own interface addresses are denied in addition (see Guard).
const DefaultDenyCIDRs = "127.0.0.0/8,::1/128,169.254.0.0/16,fe80::/10,0.0.0.0/8,::/128,fd00:ec2::254/128,100.100.100.200/32"

// ErrDenied is returned when a tenant channel tries to reach a denied
// address.
var ErrDenied = errors.New("destination denied for tenant channels")

// Guard checks outgoing connections of tenant channels against a deny list
// at dial time, after name resolution, so that neither DNS names nor HTTP
// redirects can get around it. It also denies every address of the
// sidecar's own network interfaces other than loopback (the pod's IPs, on
// which Alertmanager listens too), looked up at each check so that an
// address added later is covered; loopback is the deny list's to decide.
// IPv6 zones are ignored: fe80::1%eth0 is fe80::1.
type Guard struct {
	deny []netip.Prefix
	own  func() ([]netip.Addr, error)

	mu sync.Mutex
	// lastOwn is the last successful lookup, used when one fails; ownKnown
	// is false until one succeeded: until then every address is denied.
	lastOwn  []netip.Addr
	ownKnown bool
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

// NewGuard returns a Guard denying the given prefixes and the addresses of
// this host's network interfaces.
func NewGuard(deny []netip.Prefix) *Guard { return &Guard{deny: deny, own: interfaceAddrs} }

// WithOwnAddrs replaces the lookup of the host's own addresses (tests).
func (g *Guard) WithOwnAddrs(own func() ([]netip.Addr, error)) *Guard {
	g.own = own
	return g
}

// interfaceAddrs returns the addresses of this host's interfaces, without
// loopback ones.
func interfaceAddrs() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if ok && !ip.Unmap().IsLoopback() {
			out = append(out, normalizeAddr(ip))
		}
	}
	return out, nil
}

// normalize drops what does not change where a connection goes: the IPv4
// mapping and the IPv6 zone.
func normalizeAddr(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }

// Denied reports whether a may not be reached by tenant channels.
func (g *Guard) Denied(a netip.Addr) bool {
	return g.check(a) != ""
}

// check returns why a is denied, or "".
func (g *Guard) check(a netip.Addr) string {
	if g == nil {
		return ""
	}
	if g.own == nil {
		return g.deniedBy(a, nil, true)
	}
	own, known := g.ownAddrs()
	return g.deniedBy(a, own, known)
}

// deniedBy is check with the own addresses already looked up.
func (g *Guard) deniedBy(a netip.Addr, own []netip.Addr, known bool) string {
	a = normalizeAddr(a)
	for _, p := range g.deny {
		if p.Contains(a) {
			return a.String()
		}
	}
	if g.own == nil {
		return ""
	}
	if !known {
		return a.String() + " (the sidecar's own addresses could not be listed)"
	}
	for _, o := range own {
		if o == a {
			return a.String() + " (an address of the sidecar's own pod)"
		}
	}
	return ""
}

func (g *Guard) ownAddrs() ([]netip.Addr, bool) {
	addrs, err := g.own()
	g.mu.Lock()
	defer g.mu.Unlock()
	if err == nil {
		for i, a := range addrs {
			addrs[i] = normalizeAddr(a)
		}
		g.lastOwn, g.ownKnown = addrs, true
	}
	return g.lastOwn, g.ownKnown
}

func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse %q", ErrDenied, address)
	}
	if why := g.check(ap.Addr()); why != "" {
		return fmt.Errorf("%w: %s", ErrDenied, why)
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
		if why := g.check(a); why != "" {
			return fmt.Errorf("%w: %s", ErrDenied, why)
		}
		return nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", host, err)
	}
	// One lookup of the own addresses for all the name's addresses.
	own, known := []netip.Addr(nil), true
	if g.own != nil {
		own, known = g.ownAddrs()
	}
	for _, a := range addrs {
		if why := g.deniedBy(a, own, known); why != "" {
			return fmt.Errorf("%w: %s resolves to %s", ErrDenied, host, why)
		}
	}
	return nil
}
