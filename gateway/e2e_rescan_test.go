package gateway_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/gateway"
	"github.com/fieldgate/fieldgate/gateway/config"
	"github.com/fieldgate/fieldgate/testbench/backend"
	"github.com/fieldgate/fieldgate/testbench/modbusemu"
	"github.com/fieldgate/fieldgate/testbench/serialemu"
)

// capturedLog is a test logger that also keeps what it wrote, to assert on.
type capturedLog struct {
	t   *testing.T
	mu  sync.Mutex
	buf strings.Builder
}

func (c *capturedLog) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.buf.Write(p)
	c.mu.Unlock()
	c.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (c *capturedLog) lines(with ...string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
next:
	for _, l := range strings.Split(c.buf.String(), "\n") {
		for _, w := range with {
			if !strings.Contains(l, w) {
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}

func (c *capturedLog) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(c, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// TestDiscoveryRescansRefusedEndpoint: a configured Modbus TCP endpoint that
// refuses connections at start is warned about (naming it and the error) and
// scanned again until it answers: its device is registered soon after the
// emulator starts listening, although the discovery interval is 10 minutes.
func TestDiscoveryRescansRefusedEndpoint(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nobody listens there now: connections are refused

	be := newRefBackend(t)
	cfg := testConfig(t, "gw-rescan", t.TempDir(), be.url(), fmt.Sprintf(`
  - name: tcp
    protocol: modbus-tcp
    settings:
      endpoints: [%q]
      units: "1-2"
      timeout: 500ms
      probeTimeout: 150ms
`, addr))
	cfg.Discovery.Interval = config.Duration(10 * time.Minute)
	logs := &capturedLog{t: t}
	startGatewayWith(t, gateway.Options{Config: cfg, Logger: logs.logger()})

	eventually(t, 20*time.Second, "a warning naming the refusing endpoint", func() error {
		if l := logs.lines("level=WARN", "discovery incomplete", addr, "refused"); len(l) == 0 {
			return fmt.Errorf("no such warning yet")
		}
		return nil
	})

	data, err := os.ReadFile(filepath.Join(demoDir, "devices.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	specs, err := modbusemu.DecodeSpecs(data)
	if err != nil {
		t.Fatal(err)
	}
	var emu *modbusemu.Server
	eventually(t, 10*time.Second, "emulator listening on the refused port", func() error {
		emu, err = modbusemu.Listen(context.Background(), addr, specs[0].Units, nil)
		return err
	})
	t.Cleanup(func() { _ = emu.Close() })
	listening := time.Now()

	localID := "modbus-tcp/" + addr + "/1"
	eventually(t, 60*time.Second, "the device registered once its endpoint answers", func() error {
		if _, ok := deviceByLocalID(be.srv.Devices(), localID); !ok {
			return fmt.Errorf("%s not registered", localID)
		}
		return nil
	})
	t.Logf("registered %v after the endpoint started listening", time.Since(listening).Round(time.Millisecond))
	// Retries back off: a handful of warnings, not one per retry.
	if n := len(logs.lines("level=WARN", "discovery incomplete")); n > 2 {
		t.Errorf("%d discovery warnings, want the reason once", n)
	}
}

// TestDiscoveryScansPortWhenItAppears: a serial port that is missing when the
// gateway starts (incomplete discovery) is scanned as soon as it appears, not
// at the next discovery interval (10 minutes).
func TestDiscoveryScansPortWhenItAppears(t *testing.T) {
	dir := t.TempDir()
	const name = "usb-FG_LATE-if00"
	be := newRefBackend(t)
	if err := be.srv.AddModel([]byte(rtuModel)); err != nil {
		t.Fatal(err)
	}
	if err := be.srv.AddRule(backend.Rule{Name: "fg-rtu", Priority: 20, Model: "fg-rtu-1", Version: "1.0.0", PollIntervalMs: 200,
		Match: map[string]string{"identity.vendor": "Fieldgate Test", "transport": "rtu"}}); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "gw-late-port", t.TempDir(), be.url(), fmt.Sprintf(`
  - name: rs485
    protocol: modbus-rtu
    settings:
      port: %s
      baud: 38400
      units: "1-2"
      timeout: 300ms
      probeTimeout: 100ms
`, filepath.Join(dir, name)))
	cfg.Discovery.Interval = config.Duration(10 * time.Minute)
	logs := &capturedLog{t: t}
	startGatewayWith(t, gateway.Options{Config: cfg, Logger: logs.logger()})
	eventually(t, 20*time.Second, "discovery found the port missing", func() error {
		if l := logs.lines("discovery incomplete", "rs485"); len(l) == 0 {
			return fmt.Errorf("not yet")
		}
		return nil
	})

	line, err := serialemu.NewLine(serialemu.LineConfig{Dir: dir, Name: name, Baud: 38400, CharBits: 11})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = line.Close() })
	emu, err := modbusemu.ServeRTU(context.Background(), line, []modbusemu.UnitSpec{{ID: 2,
		Identity: modbusemu.Identity{Vendor: "Fieldgate Test", ProductCode: "RTU-1", Revision: "1.0"},
		Holding:  map[uint16]uint16{0: 222, 1: 5}}}, modbusemu.RTUOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	appeared := time.Now()
	localID := "modbus-rtu/" + name + "/2"
	eventually(t, 60*time.Second, "the unit on the late port registered", func() error {
		if _, ok := deviceByLocalID(be.srv.Devices(), localID); !ok {
			return fmt.Errorf("%s not registered", localID)
		}
		return nil
	})
	t.Logf("registered %v after the port appeared", time.Since(appeared).Round(time.Millisecond))
}
