package modbusemu

import (
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// mbpollPath finds libmodbus's mbpoll, installing the Debian package when
// running as root (as CI does). It never skips: interop is the point.
func mbpollPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("mbpoll"); err == nil {
		return p
	}
	if os.Geteuid() != 0 {
		t.Fatal("mbpoll is not on PATH and the test is not root, so it cannot install it: apt-get install mbpoll")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	apt := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Logf("apt-get %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return err
	}
	if apt("install", "-y", "mbpoll") != nil {
		_ = apt("update")
		_ = apt("install", "-y", "mbpoll")
	}
	p, err := exec.LookPath("mbpoll")
	if err != nil {
		t.Fatalf("mbpoll still not found after apt-get install: %v", err)
	}
	return p
}

// mbpoll runs one mbpoll poll (-1) or write with PDU addressing (-0) against
// srv and returns the values it printed, by reference.
func mbpoll(t *testing.T, bin string, srv *Server, args ...string) (map[int]string, error) {
	t.Helper()
	_, port, err := net.SplitHostPort(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	full := append([]string{"-m", "tcp", "-0", "-1", "-o", "2", "-p", port}, args...)
	out, err := exec.CommandContext(ctx, bin, full...).CombinedOutput()
	if err != nil {
		return nil, &mbpollError{args: full, out: string(out), err: err}
	}
	vals := map[int]string{}
	for _, m := range mbpollValue.FindAllStringSubmatch(string(out), -1) {
		ref, _ := strconv.Atoi(m[1]) // \d+ always parses
		vals[ref] = m[2]
	}
	return vals, nil
}

var mbpollValue = regexp.MustCompile(`(?m)^\[(\d+)\]:\s+(\S+)`)

type mbpollError struct {
	args []string
	out  string
	err  error
}

func (e *mbpollError) Error() string {
	return "mbpoll " + strings.Join(e.args, " ") + ": " + e.err.Error() + "\n" + e.out
}

func TestMbpollInterop(t *testing.T) {
	bin := mbpollPath(t)
	silent := testUnit(9)
	silent.Silent = true
	srv := startServer(t, testUnit(1), testUnit(2), silent)
	u := srv.Unit(1)

	check := func(what string, got map[int]string, err error, want map[int]string) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
			return
		}
		for ref, v := range want {
			if got[ref] != v {
				t.Errorf("%s: [%d] got %q, want %q (all: %v)", what, ref, got[ref], v, got)
			}
		}
	}
	got, err := mbpoll(t, bin, srv, "-a", "1", "-t", "4", "-r", "2", "-c", "3", "127.0.0.1")
	check("read holding", got, err, map[int]string{2: "102", 3: "103", 4: "104"})
	got, err = mbpoll(t, bin, srv, "-a", "2", "-t", "3", "-r", "8", "-c", "2", "127.0.0.1")
	check("read input", got, err, map[int]string{8: "208", 9: "209"})
	got, err = mbpoll(t, bin, srv, "-a", "1", "-t", "0", "-r", "0", "-c", "4", "127.0.0.1")
	check("read coils", got, err, map[int]string{0: "1", 1: "0", 2: "1", 3: "0"})
	got, err = mbpoll(t, bin, srv, "-a", "1", "-t", "1", "-r", "3", "-c", "1", "127.0.0.1")
	check("read discretes", got, err, map[int]string{3: "1"})

	// Writes: one register (fn 6), several (fn 16), a coil (fn 5).
	if _, err := mbpoll(t, bin, srv, "-a", "1", "-t", "4", "-r", "5", "127.0.0.1", "250"); err != nil {
		t.Fatal(err)
	}
	if u.Holding(5) != 250 {
		t.Errorf("after mbpoll write: holding 5 = %d, want 250", u.Holding(5))
	}
	if _, err := mbpoll(t, bin, srv, "-a", "1", "-t", "4", "-r", "6", "127.0.0.1", "1", "2", "3"); err != nil {
		t.Fatal(err)
	}
	if got := []uint16{u.Holding(6), u.Holding(7), u.Holding(8)}; !slices.Equal(got, []uint16{1, 2, 3}) {
		t.Errorf("after mbpoll multiple write: holding 6..8 = %v", got)
	}
	if _, err := mbpoll(t, bin, srv, "-a", "1", "-t", "0", "-r", "1", "127.0.0.1", "1"); err != nil {
		t.Fatal(err)
	}
	if !u.Coil(1) {
		t.Error("after mbpoll coil write: coil 1 is false")
	}

	// Exceptions and silence as libmodbus reports them.
	if _, err := mbpoll(t, bin, srv, "-a", "1", "-t", "4", "-r", "50", "127.0.0.1"); err == nil || !strings.Contains(err.Error(), "Illegal data address") {
		t.Errorf("absent register: got %v", err)
	}
	for _, unit := range []string{"9", "42"} { // silent, unknown
		if _, err := mbpoll(t, bin, srv, "-a", unit, "-o", "0.3", "-t", "4", "-r", "0", "127.0.0.1"); err == nil || !strings.Contains(err.Error(), "timed out") {
			t.Errorf("unit %s: want a timeout, got %v", unit, err)
		}
	}
}

// The demo bench's encodings, as an independent tool decodes them.
func TestMbpollReadsDemoPowerMeter(t *testing.T) {
	bin := mbpollPath(t)
	data, err := os.ReadFile("../demo/devices.yaml")
	if err != nil {
		t.Fatal(err)
	}
	specs, err := DecodeSpecs(data)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Listen(context.Background(), "127.0.0.1:0", specs[1].Units, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	// -B: big-endian word order (ABCD); without it mbpoll uses CDAB.
	got, err := mbpoll(t, bin, srv, "-a", "1", "-t", "3:float", "-B", "-r", "0", "-c", "1", "127.0.0.1")
	if err != nil || got[0] != "230.5" {
		t.Errorf("voltage: got %v, %v", got, err)
	}
	got, err = mbpoll(t, bin, srv, "-a", "1", "-t", "3:float", "-r", "2", "-c", "1", "127.0.0.1")
	if err != nil || got[2] != "4.25" {
		t.Errorf("current: got %v, %v", got, err)
	}
	got, err = mbpoll(t, bin, srv, "-a", "1", "-t", "3", "-r", "12", "-c", "1", "127.0.0.1")
	if err != nil || got[12] != "5000" {
		t.Errorf("frequency: got %v, %v", got, err)
	}
}
