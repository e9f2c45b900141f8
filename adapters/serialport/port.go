package serialport

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.bug.st/serial"
	"go.bug.st/serial/enumerator"
	"golang.org/x/sys/unix"
)

// openPort is an open port with its lock.
type openPort struct {
	id   Identity
	port serial.Port // reads and line settings
	// fd is a second, non-blocking descriptor on the device: it holds the
	// exclusive flock (root ignores TIOCEXCL) and carries writes and the
	// output-queue checks of a drain, so that no write blocks in the kernel
	// where neither ctx nor Close could end it (port's own descriptor blocks).
	fd   int
	rdev uint64 // device number of the opened node
	info PortInfo
}

// open resolves the identity to a device and opens it exclusively.
func open(id Identity, line LineSettings, enumerate func() ([]*enumerator.PortDetails, error)) (*openPort, error) {
	if err := line.Validate(); err != nil {
		return nil, fmt.Errorf("port %s: line settings: %w", id, err)
	}
	dev, details, err := resolve(id, enumerate)
	if err != nil {
		return nil, err
	}
	lock, err := unix.Open(dev, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EBUSY) {
			return nil, fmt.Errorf("open %s (%s): %w", id, dev, ErrBusy)
		}
		return nil, fmt.Errorf("open %s (%s): %w", id, dev, err)
	}
	if err := unix.Flock(lock, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		unix.Close(lock)
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("open %s (%s): %w", id, dev, ErrBusy)
		}
		return nil, fmt.Errorf("lock %s (%s): %w", id, dev, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(lock, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
		unix.Close(lock)
		return nil, fmt.Errorf("open %s: %s is not a character device", id, dev)
	}
	port, err := serial.Open(dev, mode(line))
	if err != nil {
		unix.Close(lock)
		var pe *serial.PortError
		if errors.As(err, &pe) && pe.Code() == serial.PortBusy {
			return nil, fmt.Errorf("open %s (%s): %w", id, dev, ErrBusy)
		}
		return nil, fmt.Errorf("open %s (%s): %w", id, dev, err)
	}
	if err := port.ResetInputBuffer(); err != nil { // stale bytes from before we came
		port.Close()
		unix.Close(lock)
		return nil, fmt.Errorf("open %s (%s): flush: %w", id, dev, err)
	}
	return &openPort{id: id, port: port, fd: lock, rdev: st.Rdev, info: PortInfo{Device: dev, USB: usbFields(details)}}, nil
}

func mode(l LineSettings) *serial.Mode {
	m := &serial.Mode{BaudRate: l.Baud, DataBits: l.DataBits, Parity: serial.NoParity, StopBits: serial.OneStopBit}
	switch l.Parity {
	case "even":
		m.Parity = serial.EvenParity
	case "odd":
		m.Parity = serial.OddParity
	}
	if l.StopBits == 2 {
		m.StopBits = serial.TwoStopBits
	}
	return m
}

func (p *openPort) close() {
	// Nothing still queued for the UART is wanted once the port is closed
	// (the transaction it belonged to is over), and a real UART's close
	// would wait for it (the kernel's closing wait, 30 s by default).
	_ = p.port.ResetOutputBuffer()
	p.port.Close()
	unix.Close(p.fd)
}

// write writes what the output buffer takes now without blocking: n==0 with
// a nil error when it is full.
func (p *openPort) write(b []byte) (int, error) {
	n, err := unix.Write(p.fd, b)
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
		return max(n, 0), nil
	}
	return max(n, 0), err
}

// waitWritable waits up to d for room in the output buffer; hangup: the
// device reported a hang-up or an error (it is gone).
func (p *openPort) waitWritable(d time.Duration) (hangup bool, err error) {
	fds := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLOUT}}
	ts := unix.NsecToTimespec(int64(max(d, 0)))
	if _, err := unix.Ppoll(fds, &ts, nil); err != nil && !errors.Is(err, unix.EINTR) {
		return false, err
	}
	return fds[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0, nil
}

// outQueue is the number of bytes written but not yet handed to the UART.
func (p *openPort) outQueue() (int, error) {
	return unix.IoctlGetInt(p.fd, unix.TIOCOUTQ)
}

// discardOutput drops what was written but not yet sent.
func (p *openPort) discardOutput() error {
	return p.port.ResetOutputBuffer()
}

// present checks that the opened device node still exists (and, for a path
// identity, that the path still leads to it): an unplugged USB adapter or pty
// loses its node even while no transaction notices.
func (p *openPort) present() error {
	var st unix.Stat_t
	if err := unix.Stat(p.info.Device, &st); err != nil {
		return fmt.Errorf("port %s: %s is gone: %w", p.id, p.info.Device, err)
	}
	if st.Rdev != p.rdev {
		return fmt.Errorf("port %s: %s is another device now", p.id, p.info.Device)
	}
	if p.id.Path != "" {
		dev, err := filepath.EvalSymlinks(p.id.Path)
		if err != nil {
			return fmt.Errorf("port %s: link gone: %w", p.id, err)
		}
		if dev != p.info.Device {
			return fmt.Errorf("port %s: now leads to %s, not %s", p.id, dev, p.info.Device)
		}
	}
	return nil
}

// resolve finds the device node an identity names now, with its enumerator
// details when it is a USB port (nil otherwise or when they are unavailable).
func resolve(id Identity, enumerate func() ([]*enumerator.PortDetails, error)) (string, *enumerator.PortDetails, error) {
	if id.Path != "" {
		dev, err := filepath.EvalSymlinks(id.Path)
		if err != nil {
			return "", nil, fmt.Errorf("port %s: not present: %w", id, err)
		}
		list, _ := enumerate() // details are a bonus for path identities
		for _, d := range list {
			if d != nil && d.IsUSB && samePath(d.Name, dev) {
				return dev, d, nil
			}
		}
		return dev, nil, nil
	}
	list, err := enumerate()
	if err != nil {
		return "", nil, fmt.Errorf("port %s: listing ports: %w", id, err)
	}
	var found []*enumerator.PortDetails
	for _, d := range list {
		if d != nil && d.IsUSB && strings.EqualFold(d.VID, id.VID) && strings.EqualFold(d.PID, id.PID) &&
			(id.Serial == "" || d.SerialNumber == id.Serial) {
			found = append(found, d)
		}
	}
	switch len(found) {
	case 0:
		return "", nil, fmt.Errorf("port %s: no USB serial port matches: %w", id, os.ErrNotExist)
	case 1:
	default:
		names := make([]string, len(found))
		for i, d := range found {
			names[i] = d.Name
		}
		return "", nil, fmt.Errorf("port %s: %d USB serial ports match (%s): add the serial number", id, len(found), strings.Join(names, ", "))
	}
	dev, err := filepath.EvalSymlinks(found[0].Name)
	if err != nil {
		return "", nil, fmt.Errorf("port %s: %s not present: %w", id, found[0].Name, err)
	}
	return dev, found[0], nil
}

func samePath(a, b string) bool {
	if a == b {
		return true
	}
	ra, err := filepath.EvalSymlinks(a)
	return err == nil && ra == b
}

// usbFields are the fingerprint fields of a USB port (nil when not USB).
func usbFields(d *enumerator.PortDetails) map[string]string {
	if d == nil || !d.IsUSB {
		return nil
	}
	m := map[string]string{"vendor": strings.ToLower(d.VID), "product": strings.ToLower(d.PID)}
	for k, v := range map[string]string{"serial": d.SerialNumber, "manufacturer": d.Manufacturer, "productName": d.Product} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}
