package modbus

import (
	"context"
	"encoding/binary"
	"errors"

	"github.com/fieldgate/fieldgate/adapters"
)

var (
	_ adapters.WireCounter = (*tcpBus)(nil)
	_ adapters.WireCounter = (*rtuBus)(nil)
)

// WireStats counts the transactions of every endpoint of the bus.
func (b *tcpBus) WireStats() adapters.WireStats { return b.wire.Stats() }

// WireStats counts the transactions on the bus's port.
func (b *rtuBus) WireStats() adapters.WireStats { return b.wire.counts.Stats() }

// countTxn counts one transaction's outcome; fn is the reply's function code.
// A request that never reached the wire (link down, cancelled) is not one.
func countTxn(c *adapters.WireCounts, fn byte, err error) {
	switch {
	case errors.Is(err, adapters.ErrTimeout):
		c.Transaction()
		c.Timeout()
		return
	case errors.Is(err, adapters.ErrLinkDown), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return
	}
	c.Transaction()
	if err == nil && fn&exceptionFlag != 0 {
		c.Exception()
	}
}

// badCRC reports whether an RTU frame's last two bytes are not the CRC of the
// rest (polynomial 0xA001 reflected, initial 0xFFFF, low byte first).
func badCRC(frame []byte) bool {
	if len(frame) < rtuMinFrame {
		return false
	}
	n := len(frame) - 2
	crc := uint16(0xFFFF)
	for _, b := range frame[:n] {
		crc ^= uint16(b)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc != binary.LittleEndian.Uint16(frame[n:])
}
