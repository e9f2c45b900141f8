package modbus

import (
	"errors"
	"net"
	"sync/atomic"
)

// mbapHeader is the part of an MBAP header before the length's bytes end:
// transaction id, protocol id, length. The length counts the bytes after it
// (unit id and PDU).
const mbapHeader = 6

// mbapConn follows the MBAP framing of what is read from a Modbus TCP
// connection, so that a read that timed out in the middle of a frame is known:
// the handler keeps a connection open after a timeout so that the late reply
// can be skipped by transaction id, but once part of a frame was consumed the
// rest of it would be taken for the next header. Such a connection is
// desynchronised and must be closed.
type mbapConn struct {
	net.Conn
	head   [2]byte // the length field of the header being read
	pos    int     // bytes of the current frame's header read (0..mbapHeader)
	left   int     // bytes of the current frame's body still to come
	desync atomic.Bool
}

func (c *mbapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.follow(p[:n])
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() && c.midFrame() {
		c.desync.Store(true)
	}
	return n, err
}

// follow advances the framing over b, bytes just read.
func (c *mbapConn) follow(b []byte) {
	for len(b) > 0 {
		if c.pos < mbapHeader {
			if c.pos >= 4 {
				c.head[c.pos-4] = b[0]
			}
			c.pos++
			b = b[1:]
			if c.pos == mbapHeader {
				c.left = int(c.head[0])<<8 | int(c.head[1])
				if c.left == 0 {
					// No frame has an empty body: the stream is not MBAP.
					c.desync.Store(true)
					c.pos = 0
				}
			}
			continue
		}
		k := min(c.left, len(b))
		c.left -= k
		b = b[k:]
		if c.left == 0 {
			c.pos = 0
		}
	}
}

// midFrame reports whether part of a frame has been read and the rest not.
func (c *mbapConn) midFrame() bool { return c.pos > 0 }

// desynced reports whether the connection lost its framing.
func (c *mbapConn) desynced() bool { return c.desync.Load() }
