package adapters

import (
	"context"
	"encoding/hex"
	"log/slog"
	"sync/atomic"
)

// WireCounter is implemented by buses that count what happens on their wire;
// the gateway exports the counts per bus (fieldgate_bus_*_total).
type WireCounter interface {
	WireStats() WireStats
}

// WireStats are a bus's counts since it was opened; they only grow.
type WireStats struct {
	// Transactions: requests put on the wire (answered or not).
	Transactions uint64
	// Timeouts: requests no reply came to within the timeout.
	Timeouts uint64
	// CRCErrors: replies dropped because their checksum was wrong (Modbus
	// RTU's CRC); zero on transports whose framing checks for them (TCP, UDP).
	CRCErrors uint64
	// Exceptions: replies in which the device refused the request (a Modbus
	// exception, a CoAP 4.xx/5.xx response).
	Exceptions uint64
}

// WireCounts is a WireStats that adapters bump from their link owners' workers
// and read from any goroutine. The zero value is ready.
type WireCounts struct {
	transactions, timeouts, crcErrors, exceptions atomic.Uint64
}

// Transaction counts a request put on the wire.
func (c *WireCounts) Transaction() { c.transactions.Add(1) }

// Timeout counts a request no reply came to in time (also a Transaction).
func (c *WireCounts) Timeout() { c.timeouts.Add(1) }

// CRCError counts a reply dropped for its checksum.
func (c *WireCounts) CRCError() { c.crcErrors.Add(1) }

// Exception counts a reply refusing the request.
func (c *WireCounts) Exception() { c.exceptions.Add(1) }

// Stats reads the counts.
func (c *WireCounts) Stats() WireStats {
	return WireStats{
		Transactions: c.transactions.Load(),
		Timeouts:     c.timeouts.Load(),
		CRCErrors:    c.crcErrors.Load(),
		Exceptions:   c.exceptions.Load(),
	}
}

// MaxFrameLog is the most bytes of a frame LogFrame writes; the rest is
// counted, not shown.
const MaxFrameLog = 256

// LogFrame logs one frame at debug level, in hex: dir is "tx" or "rx", attrs
// say where (unit, path). It costs one Enabled check when debug is off: the
// hex is formatted only for a logger that writes it.
func LogFrame(ctx context.Context, log *slog.Logger, dir string, frame []byte, attrs ...slog.Attr) {
	if log == nil || !log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	shown := frame
	if len(shown) > MaxFrameLog {
		shown = shown[:MaxFrameLog]
	}
	attrs = append(attrs, slog.Int("len", len(frame)), slog.String("hex", hex.EncodeToString(shown)))
	if len(frame) > len(shown) {
		attrs = append(attrs, slog.Bool("truncated", true))
	}
	log.LogAttrs(ctx, slog.LevelDebug, "frame "+dir, attrs...)
}
