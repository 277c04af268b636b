package senders

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"time"
	"unicode/utf8"

	commoncfg "github.com/prometheus/common/config"
)

// MaxResponseBytes bounds what one HTTP response of a receiver may cost to
// read, headers and body. Alertmanager's notifiers read a receiver's whole
// response (an error body goes into the error message, and so into the
// log), so a receiver answering with a huge body could otherwise take the
// sidecar's memory. Chat and paging APIs answer in a few KiB.
const MaxResponseBytes = 256 << 10

// errResponseTooLarge is what reading past MaxResponseBytes returns.
var errResponseTooLarge = fmt.Errorf("receiver's response is larger than %d KiB: not read further", MaxResponseBytes>>10)

// DialContextFunc dials a connection.
type DialContextFunc func(ctx context.Context, network, address string) (net.Conn, error)

// boundedDialer wraps dial so that each response read on a connection is
// bounded: a connection's read budget is reset whenever the client writes
// (sends a request). It relies on HTTP/1.1, where a client writes a request
// and then reads its response; boundedHTTPOptions disables HTTP/2.
func boundedDialer(dial DialContextFunc, limit int64) DialContextFunc {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := dial(ctx, network, address)
		if err != nil {
			return nil, err
		}
		bc := &boundedConn{Conn: c, limit: limit}
		bc.left.Store(limit)
		return bc, nil
	}
}

type boundedConn struct {
	net.Conn
	limit int64
	left  atomic.Int64
}

func (c *boundedConn) Write(p []byte) (int, error) {
	c.left.Store(c.limit)
	return c.Conn.Write(p)
}

func (c *boundedConn) Read(p []byte) (int, error) {
	left := c.left.Load()
	if left <= 0 {
		return 0, errResponseTooLarge
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := c.Conn.Read(p)
	c.left.Add(-int64(n))
	return n, err
}

// plainDial is the dialer of admin channels.
func plainDial(ctx context.Context, network, address string) (net.Conn, error) {
	d := net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return d.DialContext(ctx, network, address)
}

// boundedHTTPOptions are the HTTP client options of every channel: dial
// (the guard's for tenant channels) with each response bounded, and idle
// connections closed after idleConnTimeout.
func boundedHTTPOptions(dial DialContextFunc) []commoncfg.HTTPClientOption {
	return []commoncfg.HTTPClientOption{
		commoncfg.WithDialContextFunc(commoncfg.DialContextFunc(boundedDialer(dial, MaxResponseBytes))),
		commoncfg.WithHTTP2Disabled(),
		commoncfg.WithIdleConnTimeout(idleConnTimeout),
	}
}

// idleConnTimeout closes a channel's idle connections. prometheus/common
// keeps them 5 minutes, up to 1000 per host: after a storm over 100
// channels the sidecar held about a thousand, 13 MB of buffers and
// connection traces at 10k alerts. Alertmanager's default group interval
// is 5 minutes, so a longer keep-alive rarely saves a dial; 90 s is Go's
// own default.
const idleConnTimeout = 90 * time.Second

// maxErrorBytes bounds a delivery error as logged and kept for explain: a
// receiver's error body is quoted in it.
const maxErrorBytes = 1024

// truncateError shortens msg to maxErrorBytes, saying how long it was.
func truncateError(msg string) string {
	if len(msg) <= maxErrorBytes {
		return msg
	}
	cut := maxErrorBytes
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes in all)", msg[:cut], len(msg))
}
