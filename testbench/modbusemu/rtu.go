package modbusemu

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/testbench/serialemu"
)

// RTUOptions tune an RTU server.
type RTUOptions struct {
	// Turnaround is the pause between the end of a request on the wire and
	// the reply (0: DefaultTurnaround; negative: none).
	Turnaround time.Duration
	// Seed makes the garbage fault's bytes reproducible.
	Seed   uint64
	Logger *slog.Logger // nil: no logging
}

// RTUServer serves emulated units on one RS-485 line: it frames the
// gateway's requests, answers them after the turnaround, paced at the line's
// baud rate, and injects the units' faults.
type RTUServer struct {
	line       *serialemu.Line
	log        *slog.Logger
	units      map[byte]*Unit
	turnaround time.Duration
	rnd        *rand.Rand // serve goroutine only

	served  map[byte]*atomic.Uint64 // replies (or deliberate faults) per unit
	heard   map[byte]*atomic.Uint64 // requests addressed to each unit, answered or not
	replies map[byte]int            // reply sequence numbers for the faults; serve goroutine only
	dropped atomic.Uint64           // frames no device would take (short, bad CRC)

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// ServeRTU validates the units and serves them on line until Close or ctx
// ends. While the line is unplugged the server waits for it to come back.
func ServeRTU(ctx context.Context, line *serialemu.Line, units []UnitSpec, opts RTUOptions) (*RTUServer, error) {
	var probs problems
	validateUnits(units, path{"units"}, &probs)
	if err := probs.err(nil); err != nil {
		return nil, fmt.Errorf("modbus rtu emulator: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &RTUServer{
		line:       line,
		log:        log.With("line", line.Path()),
		units:      map[byte]*Unit{},
		turnaround: opts.Turnaround,
		rnd:        rand.New(rand.NewPCG(opts.Seed, 0x6d6f646275737274)),
		served:     map[byte]*atomic.Uint64{},
		heard:      map[byte]*atomic.Uint64{},
		replies:    map[byte]int{},
		done:       make(chan struct{}),
	}
	if s.turnaround == 0 {
		s.turnaround = DefaultTurnaround
	}
	for _, spec := range units {
		s.units[spec.ID] = newUnit(spec, time.Now)
		s.served[spec.ID] = &atomic.Uint64{}
		s.heard[spec.ID] = &atomic.Uint64{}
	}
	ctx, s.cancel = context.WithCancel(ctx)
	go s.serve(ctx)
	return s, nil
}

// Unit returns the unit with id, nil if the line has none.
func (s *RTUServer) Unit(id byte) *Unit { return s.units[id] }

// Served is how many requests unit id answered (faulty answers included).
func (s *RTUServer) Served(id byte) uint64 {
	if c := s.served[id]; c != nil {
		return c.Load()
	}
	return 0
}

// Heard is how many valid requests were addressed to unit id, answered or
// not (a silent unit hears but never answers).
func (s *RTUServer) Heard(id byte) uint64 {
	if c := s.heard[id]; c != nil {
		return c.Load()
	}
	return 0
}

// Requests is how many requests were answered over all units.
func (s *RTUServer) Requests() uint64 {
	var n uint64
	for _, c := range s.served {
		n += c.Load()
	}
	return n
}

// Dropped is how many frames were ignored as no device would take them (too
// short, bad CRC, cut off).
func (s *RTUServer) Dropped() uint64 { return s.dropped.Load() }

// Collisions is the line's count of gateway bytes sent while a device talked.
func (s *RTUServer) Collisions() uint64 { return s.line.Stats().Collisions }

// Close stops serving and waits for the server goroutine; the line stays open.
func (s *RTUServer) Close() error {
	s.once.Do(s.cancel)
	<-s.done
	return nil
}

func (s *RTUServer) serve(ctx context.Context) {
	defer close(s.done)
	serialemu.DeviceThread()
	for ctx.Err() == nil {
		frame, err := s.readRequest(ctx)
		switch {
		case errors.Is(err, serialemu.ErrUnplugged):
			if adapters.Sleep(ctx, 10*time.Millisecond) != nil {
				return
			}
			continue
		case err != nil:
			if ctx.Err() == nil && !errors.Is(err, serialemu.ErrClosed) {
				s.log.Warn("modbus rtu emulator: stopped", "err", err)
			}
			return
		case frame == nil:
			continue
		}
		if err := s.answer(ctx, frame); err != nil && ctx.Err() == nil && !errors.Is(err, serialemu.ErrUnplugged) {
			s.log.Debug("modbus rtu emulator: reply not sent", "err", err)
		}
	}
}

// readRequest frames one request: the burst on the wire, completed to the
// length its function code implies; a frame that stays incomplete for 3.5
// characters is dropped (nil, nil), as is one whose CRC is wrong.
func (s *RTUServer) readRequest(ctx context.Context) ([]byte, error) {
	ct := s.line.CharTime()
	// The burst ends when its last byte has left the wire; a request written
	// in pieces is joined by its length below.
	gap := time.Microsecond
	if ct == 0 {
		gap = 200 * time.Microsecond
	}
	frame, err := s.line.ReadFrame(ctx, gap)
	if err != nil {
		return nil, err
	}
	for range 8 {
		need := requestLength(frame)
		if need <= len(frame) {
			break
		}
		more, err := s.readMore(ctx, max(7*ct/2, time.Millisecond), gap)
		if err != nil {
			return nil, err
		}
		if more == nil {
			break
		}
		frame = append(frame, more...)
	}
	if len(frame) < 4 || crc16(frame[:len(frame)-2]) != binary.LittleEndian.Uint16(frame[len(frame)-2:]) {
		s.dropped.Add(1)
		return nil, nil
	}
	return frame, nil
}

// readMore waits up to silence for the rest of a frame (nil when none came).
func (s *RTUServer) readMore(ctx context.Context, silence, gap time.Duration) ([]byte, error) {
	rctx, cancel := context.WithTimeout(ctx, silence)
	defer cancel()
	more, err := s.line.ReadFrame(rctx, gap)
	if err != nil && ctx.Err() == nil && rctx.Err() != nil {
		return nil, nil
	}
	return more, err
}

// requestLength is the length of the RTU request frame that starts with
// frame, by its function code; 0 when it cannot be told (the burst is the frame).
func requestLength(frame []byte) int {
	if len(frame) < 2 {
		return 0
	}
	switch frame[1] {
	case fnReadCoils, fnReadDiscretes, fnReadHolding, fnReadInput, fnWriteCoil, fnWriteRegister:
		return 8
	case fnWriteCoils, fnWriteRegisters:
		if len(frame) < 7 {
			return 7
		}
		return 9 + int(frame[6])
	case fnReadWriteRegisters:
		if len(frame) < 11 {
			return 11
		}
		return 13 + int(frame[10])
	case fnEncapsulated:
		return 7
	}
	return 0
}

// answer executes one checked request frame and sends the unit's reply, with
// its faults. Broadcasts (unit 0) are executed by every unit and not answered.
func (s *RTUServer) answer(ctx context.Context, frame []byte) error {
	pdu := frame[1 : len(frame)-2]
	if frame[0] == 0 {
		for _, u := range s.units {
			if _, reboot := u.handle(pdu); reboot {
				u.restart()
			}
		}
		return nil
	}
	u := s.units[frame[0]]
	if u == nil {
		return nil
	}
	s.heard[u.ID()].Add(1)
	if u.silent.Load() {
		return nil
	}
	resp, reboot := forcedException(u.spec.Faults, pdu), false
	if resp == nil {
		resp, reboot = u.handle(pdu)
	}
	if resp == nil {
		return nil
	}
	if reboot {
		defer u.restart()
	}
	adu := append([]byte{frame[0]}, resp...)
	adu = binary.LittleEndian.AppendUint16(adu, crc16(adu))
	adu = s.fault(u, adu)
	s.served[u.ID()].Add(1)
	// The reply starts a turnaround after the request's end on the wire, not
	// after the emulator got round to it (none known after a replug: from now).
	end := s.line.FrameEnd()
	if end.IsZero() {
		end = time.Now()
	}
	return s.line.WriteAt(ctx, end.Add(max(s.turnaround+u.spec.Latency, 0)), adu)
}

// forcedException is the exception reply a fault forces on pdu, nil if none.
func forcedException(f Faults, pdu []byte) []byte {
	if len(pdu) < 3 {
		return nil
	}
	addr := binary.BigEndian.Uint16(pdu[1:])
	for _, x := range f.Exceptions {
		if x.Function == pdu[0] && x.Address == addr {
			return []byte{pdu[0] | 0x80, x.Code}
		}
	}
	return nil
}

// fault applies the unit's wire faults to its next reply.
func (s *RTUServer) fault(u *Unit, adu []byte) []byte {
	f := u.spec.Faults
	s.replies[u.ID()]++
	n := s.replies[u.ID()]
	hit := func(every int) bool { return every > 0 && n%every == 0 }
	switch {
	case hit(f.GarbageEvery):
		g := make([]byte, 3+s.rnd.IntN(14))
		for i := range g {
			g[i] = byte(s.rnd.Uint32())
		}
		return g
	case hit(f.TruncateEvery):
		return adu[:max(1, len(adu)/2)]
	case hit(f.CRCEvery):
		adu[len(adu)-1] ^= 0xA5
	}
	return adu
}

// crc16 is the Modbus RTU CRC (polynomial 0xA001 reflected, initial 0xFFFF),
// sent low byte first.
func crc16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, c := range b {
		crc ^= uint16(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}
