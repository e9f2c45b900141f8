package fleet

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// child is one process of a workload (device emulators, backend, gateway).
// Its output goes to <dir>/<name>.log.
type child struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when it has exited
	err     error         // its exit status, once done is closed
}

// stopGrace is how long a child may take to stop after SIGTERM before it is killed.
const stopGrace = 10 * time.Second

func startChild(name, dir, bin string, args ...string) (*child, error) {
	c := &child{name: name, logPath: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	logf, err := os.Create(c.logPath)
	if err != nil {
		return nil, err
	}
	c.cmd = exec.Command(bin, args...)
	c.cmd.Dir = dir
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	// Should this process die without stopping it (SIGKILL), the kernel kills it.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("%s: start %s: %w", name, bin, err)
	}
	go func() {
		c.err = c.cmd.Wait()
		logf.Close()
		close(c.done)
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// exitErr is non-nil once the child has exited: what it said last.
func (c *child) exitErr() error {
	select {
	case <-c.done:
		return fmt.Errorf("%s exited (%v): %s", c.name, c.err, c.tail())
	default:
		return nil
	}
}

// tail is the end of the child's log, on one line, for an error message.
func (c *child) tail() string {
	data, _ := os.ReadFile(c.logPath)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	s := strings.Join(lines, " | ")
	if len(s) > 600 {
		s = "…" + s[len(s)-600:]
	}
	return fmt.Sprintf("%q (log %s)", s, c.logPath)
}

// stop asks the child to stop (SIGTERM), kills it after stopGrace, and waits.
func (c *child) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(stopGrace):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// waitLog waits until the child's log holds marker (a testbench prints
// "serving" once everything listens), bounded by within.
func (c *child) waitLog(ctx context.Context, marker string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		if data, err := os.ReadFile(c.logPath); err == nil && bytes.Contains(data, []byte(marker)) {
			return nil
		}
		if err := c.exitErr(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not ready after %s: %s", c.name, within, c.tail())
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Ports for the children are taken below the kernel's ephemeral range (where
// it never picks the local port of an outgoing connection), so that between
// being found free and being bound by a child, a port is not taken by some
// other program's connection on a busy machine.
const (
	portsFrom     = 10000
	portRangeFile = "/proc/sys/net/ipv4/ip_local_port_range"
)

// freePorts returns n distinct free TCP ports on 127.0.0.1 below the
// ephemeral range, starting at a random place: all are held open until all
// are found, then released for the children to take.
func freePorts(n int) ([]int, error) {
	below := ephemeralStart()
	span := below - portsFrom
	if n > span/2 {
		return nil, fmt.Errorf("%d ports wanted, only %d below the ephemeral range from %d", n, span, portsFrom)
	}
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	ports := make([]int, 0, n)
	start := rand.IntN(span)
	for i := 0; i < span && len(ports) < n; i++ {
		port := portsFrom + (start+i)%span
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // taken
		}
		lns = append(lns, ln)
		ports = append(ports, port)
	}
	if len(ports) < n {
		return nil, fmt.Errorf("only %d of %d ports free in %d..%d", len(ports), n, portsFrom, below-1)
	}
	return ports, nil
}

// ephemeralStart is the first port of the kernel's ephemeral range.
func ephemeralStart() int {
	if data, err := os.ReadFile(portRangeFile); err == nil {
		if f := strings.Fields(string(data)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil && v > portsFrom {
				return v
			}
		}
	}
	return 32768 // Linux's default
}
