package serial

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/adapters/serialport"
	"github.com/fieldgate/fieldgate/models"
)

// Protocol is the bus protocol name of the text-protocol serial adapter.
const Protocol = "serial"

// ModelProtocol is the "protocol" of the models text serial buses run.
const ModelProtocol = "serial"

// NewText returns the text-protocol serial adapter. Its Check decodes and
// validates the settings strictly (see the package doc); its Open starts the
// port's owner, which opens the port in the background (and keeps reopening it
// while it is missing). It binds "serial" models (see Bind).
func NewText() adapters.Adapter {
	return textAdapter{claimer: adapters.DefineClaiming(Protocol, ModelProtocol, parseSettings, open,
		func(s *settings) []string { return []string{s.port.Link()} }).(claimer)}
}

// claimer is what DefineClaiming builds: an adapter that names its links.
type claimer interface {
	adapters.Adapter
	adapters.LinkClaimer
}

// textAdapter is DefineClaiming's adapter and the binder of serial models.
type textAdapter struct{ claimer }

var (
	_ adapters.LinkClaimer = textAdapter{}
	_ models.Binder        = textAdapter{}
	_ adapters.SchemaPart  = textAdapter{}
	_ adapters.Bus         = (*bus)(nil)
	_ adapters.Discoverer  = (*bus)(nil)
	_ adapters.WireCounter = (*bus)(nil)
)

// WireStats counts the commands written to the port and the replies that
// did not come in time.
func (b *bus) WireStats() adapters.WireStats { return b.wire.Stats() }

func open(_ context.Context, spec adapters.BusSpec, s *settings) (adapters.Bus, error) {
	log := spec.Logger
	b := &bus{name: spec.Name, log: log, set: s, portID: s.port.PortID()}
	link := "port " + s.port.String()
	cfg := serialport.Config{Identity: s.port, Line: s.line, Logger: log}
	if spec.OnLink != nil {
		cfg.OnState = func(up bool, err error) { spec.OnLink(link, up, err) }
	}
	b.owner = serialport.NewOwner(cfg)
	return b, nil
}

// LocalID is the gateway's local id of the device on a port: "serial/<port-id>".
func LocalID(portID string) string { return Protocol + "/" + portID }

// bus is one configured port with one text device on it.
type bus struct {
	name   string
	log    *slog.Logger
	set    *settings
	portID string // the only target
	owner  *serialport.Owner

	// lastReply is when the last reply ended (or the last command without
	// reply was written); touched only inside owner transactions.
	lastReply time.Time
	wire      adapters.WireCounts
}

func (b *bus) resolve(target string) error {
	if target != b.portID {
		return fmt.Errorf("%w: %q is not the device on bus %q (port id %q)", adapters.ErrUnknownTarget, target, b.name, b.portID)
	}
	return nil
}

// Attach resolves a target once (adapters.Bus): the device on the bus's
// port.
func (b *bus) Attach(target string) (adapters.Device, error) {
	if err := b.resolve(target); err != nil {
		return nil, err
	}
	return device{bus: b, target: target}, nil
}

// device is the device attached to a text serial bus.
type device struct {
	bus    *bus
	target string
}

func (d device) Poll(ctx context.Context, group *models.PollGroup, out []models.Reading) ([]models.Reading, error) {
	return d.bus.Poll(ctx, d.target, group, out)
}

func (d device) Execute(ctx context.Context, action *models.Action) error {
	return d.bus.Execute(ctx, d.target, action)
}

// Poll sends each read's request and decodes its reply. On error it returns
// out as it was given and the first failure.
func (b *bus) Poll(ctx context.Context, target string, group *models.PollGroup, out []models.Reading) ([]models.Reading, error) {
	if err := b.resolve(target); err != nil {
		return out, err
	}
	reads, ok := group.Plan.([]Read)
	if !ok {
		return out, fmt.Errorf("serial %s: a poll group of another protocol (%T)", target, group.Plan)
	}
	given := len(out)
	for i := range reads {
		r := &reads[i]
		reply, err := b.transact(ctx, adapters.IsOnDemand(ctx), r.Request, true, r.Timeout, r.Line)
		var rd models.Reading
		if err == nil {
			rd, err = ParseReply(r, reply, time.Now())
		}
		if err != nil {
			return out[:given], fmt.Errorf("serial %s: %s: %w", target, quote(trimEnd(r.Request)), err)
		}
		out = append(out, rd)
	}
	return out, nil
}

// Execute runs the action's steps in order, each command ahead of queued
// polls; during a delay the port is free for other transactions. A command
// with an expected acknowledgement fails unless the reply matches it.
func (b *bus) Execute(ctx context.Context, target string, action *models.Action) error {
	if err := b.resolve(target); err != nil {
		return err
	}
	steps, ok := action.Plan.([]Action)
	if !ok {
		return fmt.Errorf("serial %s: %s: an action of another protocol (%T)", target, action.Name, action.Plan)
	}
	for i := range steps { // nothing goes on the wire unless every command is sound
		if steps[i].Delay > 0 {
			continue
		}
		if err := checkCommand(steps[i].Command); err != nil {
			return fmt.Errorf("serial %s: %s step %d: %w", target, action.Name, i, err)
		}
	}
	for i := range steps {
		step := &steps[i]
		if step.Delay > 0 {
			if err := adapters.Sleep(ctx, step.Delay); err != nil {
				return fmt.Errorf("serial %s: %s step %d: %w", target, action.Name, i, err)
			}
			continue
		}
		reply, err := b.transact(ctx, true, step.Command, step.Ack != nil, step.Timeout, step.Line)
		if err == nil && step.Ack != nil && !step.Ack.Match(reply) {
			err = fmt.Errorf("%w: reply %s does not match the expected acknowledgement %s", adapters.ErrBadReply, quote(reply), step.Ack)
		}
		if err != nil {
			return fmt.Errorf("serial %s: %s step %d (%s): %w", target, action.Name, i, quote(trimEnd(step.Command)), err)
		}
	}
	return nil
}

// checkCommand refuses a command with control characters before its
// terminator (defence in depth: Bind's plans already refuse such arguments).
func checkCommand(cmd []byte) error {
	body := trimEnd(cmd)
	if len(body) == 0 {
		return fmt.Errorf("empty command %s", quote(cmd))
	}
	for _, c := range body {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("command %s holds a control character before its terminator", quote(cmd))
		}
	}
	return nil
}

// trimEnd strips the terminator (trailing control characters) off a command.
func trimEnd(cmd []byte) []byte {
	return bytes.TrimRightFunc(cmd, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// transact performs one command on the owner goroutine: discard stale input,
// keep the minimum gap since the last reply, write cmd and, when a reply is
// expected, read it until the reply terminator (returned without it). The
// model's framing (line) wins over the bus settings, which serve discovery
// and models that leave it out.
func (b *bus) transact(ctx context.Context, urgent bool, cmd []byte, wantReply bool, timeout time.Duration, line *Line) ([]byte, error) {
	if timeout <= 0 {
		timeout = time.Second
	}
	replyEnd, minGap := b.set.replyEnd, b.set.minGap
	if line != nil {
		if len(line.ReplyTerminator) > 0 {
			replyEnd = line.ReplyTerminator
		}
		minGap = max(minGap, line.MinGap)
	}
	var reply []byte
	err := b.owner.Do(ctx, urgent, func(c serialport.Conn) error {
		if err := c.Flush(); err != nil {
			return fmt.Errorf("%w: flush: %w", adapters.ErrLinkDown, err)
		}
		if gap := minGap - time.Since(b.lastReply); gap > 0 && !b.lastReply.IsZero() {
			if err := adapters.Sleep(ctx, gap); err != nil {
				return err
			}
		}
		adapters.LogFrame(ctx, b.log, "tx", cmd)
		if err := c.Write(ctx, cmd); err != nil {
			return err
		}
		b.wire.Transaction()
		if !wantReply {
			err := c.DrainContext(ctx)
			b.lastReply = time.Now()
			return err
		}
		var err error
		reply, err = readReply(ctx, c, replyEnd, time.Now().Add(timeout))
		b.lastReply = time.Now()
		if err == nil {
			adapters.LogFrame(ctx, b.log, "rx", reply)
		}
		if errors.Is(err, adapters.ErrTimeout) {
			b.wire.Timeout()
		}
		return err
	})
	return reply, err
}

// readReply reads until end appears, the deadline passes (ErrTimeout) or the
// reply grows beyond maxReply (ErrBadReply). Bytes after end are dropped (the
// next transaction flushes them anyway). A reply that starts with the tail of
// end (the "\n" of "\r\n") starts after it: that is the rest of an earlier
// reply that arrived only after the flush (a late reply's last byte on a
// loaded pty or USB adapter), never part of this one.
func readReply(ctx context.Context, c serialport.Conn, end []byte, deadline time.Time) ([]byte, error) {
	buf := make([]byte, 0, 128)
	var chunk [256]byte
	started := false
	for {
		n, err := c.Read(ctx, chunk[:], deadline)
		buf = append(buf, chunk[:n]...)
		if !started && len(buf) > 0 {
			buf, started = trimTerminatorTail(buf, end)
		}
		if i := bytes.Index(buf, end); i >= 0 {
			return buf[:i], nil
		}
		switch {
		case len(buf) > maxReply:
			return nil, fmt.Errorf("%w: more than %d bytes without the reply terminator %q: %s", adapters.ErrBadReply, maxReply, end, quote(buf))
		case errors.Is(err, adapters.ErrTimeout) && len(buf) > 0:
			return nil, fmt.Errorf("incomplete reply %s without the terminator %q: %w", quote(buf), end, err)
		case err != nil:
			return nil, err
		}
	}
}

// trimTerminatorTail drops a proper suffix of end that buf starts with; it
// says whether buf now holds enough to know the reply has started (more bytes
// than the longest such suffix could still need, or a byte no suffix has).
func trimTerminatorTail(buf, end []byte) ([]byte, bool) {
	for k := len(end) - 1; k > 0; k-- {
		tail := end[len(end)-k:]
		if bytes.HasPrefix(buf, tail) {
			return buf[k:], len(buf) > k
		}
		if bytes.HasPrefix(tail, buf) {
			return buf, false // could still be that tail: wait for more
		}
	}
	return buf, true
}

// Close stops the port's owner and releases the port.
func (b *bus) Close() error { return b.owner.Close() }
