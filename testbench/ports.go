package testbench

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
)

// Port is one address a bench (or the demo) listens on, and what for.
type Port struct {
	Network string // "tcp" or "udp"
	Addr    string // host:port
	Purpose string // for people: "Modbus TCP emulator modbusTcp[0]"
}

// Ports lists the fixed addresses Start would listen on for b with opts
// (ephemeral ":0" ones cannot be taken and are left out).
func (b *Bench) Ports(opts Options) []Port {
	var out []Port
	add := func(network, addr, purpose string) {
		if _, port, err := net.SplitHostPort(addr); err == nil && port != "0" {
			out = append(out, Port{network, addr, purpose})
		}
	}
	if !opts.EphemeralDevices {
		for i, s := range b.ModbusTCP {
			add("tcp", s.Listen, fmt.Sprintf("Modbus TCP emulator modbusTcp[%d]", i))
		}
		for i, s := range b.Coap {
			add("udp", s.Listen, fmt.Sprintf("CoAP device coap[%d] %q", i, s.Name))
		}
	}
	if b.Backend != nil {
		add("tcp", backendListen(b.Backend, opts), "reference backend")
	}
	return out
}

// backendListen is where the reference backend listens.
func backendListen(spec *BackendSpec, opts Options) string {
	switch {
	case opts.BackendListen != "":
		return opts.BackendListen
	case spec.Listen != "":
		return spec.Listen
	}
	return DefaultBackendListen
}

// loopbackListen reports whether a listen address is on loopback only
// (127.0.0.0/8, ::1, localhost): not "", 0.0.0.0 or [::] (every interface).
func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// ErrPortsTaken is wrapped by CheckPorts' error.
var ErrPortsTaken = errors.New("address already in use")

// CheckPorts binds each port once and lets it go again, so a bench that
// cannot start says at once which addresses are taken and what each was for,
// instead of failing on the first one half-way through a start. An address
// that cannot be bound for another reason (a host that is not local) is
// reported with its error.
func CheckPorts(ports []Port) error {
	var taken []string
	var other []error
	for _, p := range ports {
		err := bindOnce(p)
		switch {
		case err == nil:
		case isAddrInUse(err):
			taken = append(taken, fmt.Sprintf("%s %s (%s)", p.Network, p.Addr, p.Purpose))
		default:
			other = append(other, fmt.Errorf("%s %s (%s): %w", p.Network, p.Addr, p.Purpose, err))
		}
	}
	if len(taken) > 0 {
		other = append([]error{fmt.Errorf("%w: %s; another testbench, demo or gateway may be running, or change the address",
			ErrPortsTaken, strings.Join(taken, ", "))}, other...)
	}
	return errors.Join(other...)
}

func bindOnce(p Port) error {
	if p.Network == "udp" {
		c, err := net.ListenPacket("udp", p.Addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
	ln, err := net.Listen("tcp", p.Addr)
	if err != nil {
		return err
	}
	return ln.Close()
}

func isAddrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }
