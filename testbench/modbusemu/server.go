package modbusemu

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
)

// Server is a running Modbus TCP server for a set of emulated units.
type Server struct {
	log    *slog.Logger
	units  map[byte]*Unit
	only   *Unit // the single unit, also addressed by unit id 0 and 255; nil if several
	any    bool  // only answers every unit id (ServerSpec.AnyUnit)
	ln     net.Listener
	ctx    context.Context // cancelled by Close or by the ctx given to Listen
	cancel context.CancelFunc
	wg     sync.WaitGroup
	served atomic.Uint64

	mu    sync.Mutex
	conns map[*clientConn]struct{}

	closeOnce sync.Once
}

type clientConn struct {
	nc     net.Conn
	ctx    context.Context // cancelled when the conn is dropped or the server closes
	cancel context.CancelFunc
}

// Listen validates the units, listens on addr (e.g. "127.0.0.1:0") and serves
// until Close is called or ctx is cancelled. log may be nil (no logging).
func Listen(ctx context.Context, addr string, units []UnitSpec, log *slog.Logger) (*Server, error) {
	return Serve(ctx, ServerSpec{Listen: addr, Units: units}, log)
}

// Serve validates spec, listens on spec.Listen and serves until Close is
// called or ctx is cancelled. log may be nil (no logging).
func Serve(ctx context.Context, spec ServerSpec, log *slog.Logger) (*Server, error) {
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("modbus emulator: %w", err)
	}
	s, err := newServer(spec.Units, log)
	if err != nil {
		return nil, err
	}
	s.any = spec.AnyUnit
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", spec.Listen)
	if err != nil {
		return nil, fmt.Errorf("modbus emulator: %w", err)
	}
	s.ln = ln
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Add(2)
	go s.acceptLoop()
	go s.closeOnDone()
	s.log.Debug("modbus emulator listening", "addr", s.Addr(), "units", len(spec.Units), "anyUnit", spec.AnyUnit)
	return s, nil
}

// newServer builds the units of a server that does not listen yet.
func newServer(units []UnitSpec, log *slog.Logger) (*Server, error) {
	var probs problems
	validateUnits(units, path{"units"}, &probs)
	if err := probs.err(nil); err != nil {
		return nil, fmt.Errorf("modbus emulator: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{log: log, units: map[byte]*Unit{}, conns: map[*clientConn]struct{}{}}
	for _, spec := range units {
		s.units[spec.ID] = newUnit(spec, time.Now)
	}
	if len(units) == 1 {
		s.only = s.units[units[0].ID]
	}
	return s, nil
}

// Addr is the address the server listens on, e.g. "127.0.0.1:41234".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Unit returns the unit with id, nil if the server has none.
func (s *Server) Unit(id byte) *Unit { return s.units[id] }

// Requests is how many requests were answered (normally or with an exception),
// over all units and connections.
func (s *Server) Requests() uint64 { return s.served.Load() }

// DropConnections closes every open client connection; the server keeps
// listening, so clients can reconnect.
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.cancel()
		_ = c.nc.Close()
	}
}

// Close stops listening, closes every connection and waits for the server's
// goroutines to end. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(s.cancel)
	s.wg.Wait()
	return nil
}

// closeOnDone tears the server down when its context ends.
func (s *Server) closeOnDone() {
	defer s.wg.Done()
	<-s.ctx.Done()
	_ = s.ln.Close()
	s.DropConnections()
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			s.log.Warn("modbus emulator: accept", "err", err)
			if adapters.Sleep(s.ctx, 50*time.Millisecond) != nil {
				return
			}
			continue
		}
		c := &clientConn{nc: nc}
		c.ctx, c.cancel = context.WithCancel(s.ctx)
		s.mu.Lock()
		if s.ctx.Err() != nil { // closing: closeOnDone may already have dropped the others
			s.mu.Unlock()
			c.cancel()
			_ = nc.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

// serve answers the requests of one connection in order.
func (s *Server) serve(c *clientConn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.cancel()
		_ = c.nc.Close()
	}()
	log := s.log.With("client", c.nc.RemoteAddr().String())
	log.Debug("modbus emulator: client connected")
	r := bufio.NewReader(c.nc)
	var buf [maxADU]byte
	for {
		f, err := readFrame(r, &buf)
		if err != nil {
			if errors.Is(err, errMalformed) {
				log.Warn("modbus emulator: closing connection", "err", err)
			} else {
				log.Debug("modbus emulator: client gone", "err", err)
			}
			return
		}
		adu, u, reboot := s.respond(f)
		if adu == nil {
			continue
		}
		if lat := u.spec.Latency; lat > 0 && adapters.Sleep(c.ctx, lat) != nil {
			return
		}
		s.served.Add(1)
		_, err = c.nc.Write(adu)
		if reboot {
			u.restart()
		}
		if err != nil {
			log.Debug("modbus emulator: write reply", "err", err)
			return
		}
	}
}

// respond executes one request frame and returns the reply ADU, or nil when
// none is due (unknown unit id, silent unit, empty PDU). reboot: u must be
// restarted once the reply has been sent.
func (s *Server) respond(f frame) (adu []byte, u *Unit, reboot bool) {
	u = s.units[f.unit]
	if u == nil && s.only != nil && (s.any || f.unit == 0 || f.unit == 0xFF) {
		u = s.only
	}
	if u == nil || u.silent.Load() {
		return nil, nil, false
	}
	pdu, reboot := u.handle(f.pdu)
	if pdu == nil {
		return nil, nil, false
	}
	return appendADU(nil, f.tid, f.unit, pdu), u, reboot
}

// MBAP framing: transaction id, protocol id (0), length (unit id + PDU), unit id.
const (
	mbapLen = 7
	maxADU  = mbapLen + maxPDU
)

// errMalformed marks a frame that makes the server close the connection.
var errMalformed = errors.New("malformed Modbus TCP frame")

type frame struct {
	tid  uint16
	unit byte
	pdu  []byte // aliases the read buffer
}

// readFrame reads one ADU. A protocol id other than 0 or a length field outside
// 2..254 is errMalformed: the stream cannot be resynchronised.
func readFrame(r io.Reader, buf *[maxADU]byte) (frame, error) {
	if _, err := io.ReadFull(r, buf[:mbapLen]); err != nil {
		return frame{}, err
	}
	proto := binary.BigEndian.Uint16(buf[2:])
	length := int(binary.BigEndian.Uint16(buf[4:]))
	if proto != 0 {
		return frame{}, fmt.Errorf("%w: protocol id must be 0, got %d", errMalformed, proto)
	}
	if length < 2 || length > maxPDU+1 {
		return frame{}, fmt.Errorf("%w: length field must be 2..%d, got %d", errMalformed, maxPDU+1, length)
	}
	n := mbapLen - 1 + length
	if _, err := io.ReadFull(r, buf[mbapLen:n]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return frame{}, err
	}
	return frame{tid: binary.BigEndian.Uint16(buf[0:]), unit: buf[6], pdu: buf[mbapLen:n]}, nil
}

func appendADU(dst []byte, tid uint16, unit byte, pdu []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, tid)
	dst = binary.BigEndian.AppendUint16(dst, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(pdu)+1))
	dst = append(dst, unit)
	return append(dst, pdu...)
}
