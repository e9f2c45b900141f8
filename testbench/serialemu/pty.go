package serialemu

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// pty is one open pty pair: the master the devices use and a slave the line
// keeps open so the master stays usable while the gateway has the port closed.
type pty struct {
	master, slave int
	tty           string
}

// openPTY opens a pty pair with the slave in raw mode; both fds are
// non-blocking and close-on-exec.
func openPTY() (pty, error) {
	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return pty{}, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(m)
		return pty{}, fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetUint32(m, unix.TIOCGPTN)
	if err != nil {
		unix.Close(m)
		return pty{}, fmt.Errorf("pty number: %w", err)
	}
	tty := fmt.Sprintf("/dev/pts/%d", n)
	s, err := unix.Open(tty, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		unix.Close(m)
		return pty{}, fmt.Errorf("open %s: %w", tty, err)
	}
	if err := setRaw(s); err != nil {
		unix.Close(s)
		unix.Close(m)
		return pty{}, fmt.Errorf("%s: %w", tty, err)
	}
	return pty{master: m, slave: s, tty: tty}, nil
}

// openPTYNot opens a pty pair whose name differs from avoid (the kernel reuses
// the lowest free number, which may be the one just released).
func openPTYNot(avoid string) (pty, error) {
	p, err := openPTY()
	if err != nil || p.tty != avoid {
		return p, err
	}
	q, err := openPTY() // p still holds avoid, so q gets another number
	p.close()
	return q, err
}

func (p pty) close() {
	unix.Close(p.slave)
	unix.Close(p.master)
}

// setRaw puts the tty in raw mode (cfmakeraw): no echo, no signals, no
// CR/NL translation, no flow control, no output processing, 8 bits.
func setRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("get termios: %w", err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON | unix.IXOFF | unix.IXANY | unix.INPCK
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8 | unix.CREAD | unix.CLOCAL
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fmt.Errorf("set termios: %w", err)
	}
	return nil
}

// pointLink makes link a symlink to target, replacing it atomically.
func pointLink(link, target string) error {
	tmp := filepath.Join(filepath.Dir(link), "."+filepath.Base(link)+".tmp")
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("link %s: %w", link, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("link %s: %w", link, err)
	}
	return nil
}
