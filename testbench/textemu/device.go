package textemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/testbench/serialemu"
)

// garbage is what a device with the Garbage fault answers: bytes no sane reply
// pattern matches (a NUL, a high byte, XON/XOFF, DEL), never a terminator.
var garbage = []byte("\x00\xff#\x11garbage\x13\x7f")

// Device is a running emulated text device on a serial line. All methods are
// goroutine-safe.
type Device struct {
	line   *serialemu.Line
	ownsLn bool
	log    *slog.Logger
	st     *state
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// Start validates spec and runs the device on line until Close or ctx is
// done. log may be nil. The caller keeps ownership of line.
func Start(ctx context.Context, line *serialemu.Line, spec DeviceSpec, log *slog.Logger) (*Device, error) {
	c, err := spec.compile()
	if err != nil {
		return nil, fmt.Errorf("text device %q: %w", spec.Name, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Device{line: line, log: log.With("device", spec.Name), st: newState(c, time.Now), done: make(chan struct{})}
	ctx, d.cancel = context.WithCancel(ctx)
	go d.run(ctx)
	return d, nil
}

// Plug creates a line named spec.Name in dir (baud spec.Baud) and starts the
// device on it; Close closes both.
func Plug(ctx context.Context, dir string, spec DeviceSpec, log *slog.Logger) (*Device, error) {
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("text device %q: %w", spec.Name, err)
	}
	line, err := serialemu.NewLine(serialemu.LineConfig{Dir: dir, Name: spec.Name, Baud: spec.Baud})
	if err != nil {
		return nil, fmt.Errorf("text device %q: %w", spec.Name, err)
	}
	d, err := Start(ctx, line, spec, log)
	if err != nil {
		_ = line.Close()
		return nil, err
	}
	d.ownsLn = true
	return d, nil
}

// Line is the serial line the device is on.
func (d *Device) Line() *serialemu.Line { return d.line }

// Close stops the device (and closes its line when Plug made it).
func (d *Device) Close() error {
	var err error
	d.once.Do(func() {
		d.cancel()
		<-d.done
		if d.ownsLn {
			err = d.line.Close()
		}
	})
	return err
}

// run reads lines until ctx is done; while the line is unplugged it waits.
func (d *Device) run(ctx context.Context) {
	defer close(d.done)
	c := d.st.c
	var buf []byte
	for ctx.Err() == nil {
		frame, err := d.line.ReadFrame(ctx, 0)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, serialemu.ErrClosed) {
				return
			}
			buf = buf[:0] // a partial line does not survive an unplug
			if adapters.Sleep(ctx, 10*time.Millisecond) != nil {
				return
			}
			continue
		}
		buf = append(buf, frame...)
		for {
			i := bytes.Index(buf, c.term)
			if i < 0 {
				break
			}
			line := bytes.Clone(buf[:i])
			buf = append(buf[:0], buf[i+len(c.term):]...)
			if err := d.handle(ctx, line); err != nil && ctx.Err() == nil {
				d.log.Debug("reply not sent", "err", err)
			}
		}
		if len(buf) > maxLine {
			buf = buf[:0]
		}
	}
}

// handle answers one line, with the turnaround delay and faults.
func (d *Device) handle(ctx context.Context, line []byte) error {
	a := d.st.respond(line)
	if a.reboot {
		defer d.st.reboot()
	}
	if a.reply == nil || a.faults.Silent {
		return nil
	}
	if err := adapters.Sleep(ctx, d.st.c.spec.Turnaround+a.faults.Late); err != nil {
		return err
	}
	out := append(a.reply, d.st.c.replyEnd...)
	switch {
	case a.faults.Garbage:
		out = append(bytes.Clone(garbage), d.st.c.replyEnd...)
	case a.faults.Truncate:
		out = a.reply[:len(a.reply)/2]
	}
	if a.faults.Lead != "" {
		out = append([]byte(a.faults.Lead), out...)
	}
	if len(out) == 0 {
		return nil
	}
	return d.line.Write(ctx, out)
}

// ErrNoValue is returned for a value name the spec does not declare.
var ErrNoValue = errors.New("no such value")

// Value returns a number value (its drift value when it drifts).
func (d *Device) Value(name string) (float64, error) {
	d.st.mu.Lock()
	defer d.st.mu.Unlock()
	if _, ok := d.st.values[name]; !ok {
		return 0, fmt.Errorf("%w: %q", ErrNoValue, name)
	}
	v := d.st.value(name)
	if v.text {
		return 0, fmt.Errorf("value %q is a text (%q)", name, v.str)
	}
	return v.num, nil
}

// Text returns a text value (a number formatted in its natural form).
func (d *Device) Text(name string) (string, error) {
	d.st.mu.Lock()
	defer d.st.mu.Unlock()
	if _, ok := d.st.values[name]; !ok {
		return "", fmt.Errorf("%w: %q", ErrNoValue, name)
	}
	v := d.st.value(name)
	if v.text {
		return v.str, nil
	}
	return string(template{{name: name}}.render(nil, func(string) slotValue { return v })), nil
}

// SetValue sets a number value (a drifting value keeps drifting).
func (d *Device) SetValue(name string, f float64) error {
	d.st.mu.Lock()
	defer d.st.mu.Unlock()
	v, ok := d.st.values[name]
	if !ok || v.text {
		return fmt.Errorf("%w: number %q", ErrNoValue, name)
	}
	v.num = f
	d.st.values[name] = v
	return nil
}

// SetFaults replaces the device's faults; they apply from the next line.
func (d *Device) SetFaults(f Faults) {
	d.st.mu.Lock()
	defer d.st.mu.Unlock()
	d.st.faults = f
}

// Counters are what a device has received and done since it started.
type Counters struct {
	Received   int            // terminated lines received
	Commands   map[string]int // per command (CommandSpec.Key, identity request)
	Unknown    int            // lines no command matched
	Executions int            // commands that set a value or rebooted
	Reboots    int
}

// Counters returns a copy of the device's counters.
func (d *Device) Counters() Counters {
	d.st.mu.Lock()
	defer d.st.mu.Unlock()
	cs := make(map[string]int, len(d.st.counts))
	for k, v := range d.st.counts {
		cs[k] = v
	}
	return Counters{Received: d.st.received, Commands: cs, Unknown: d.st.unknown, Executions: d.st.execs, Reboots: d.st.reboots}
}
