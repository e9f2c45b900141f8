package serial

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/models"
	"github.com/fieldgate/fieldgate/testbench/textemu"
)

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// tx9 is the textemu spec the adapter tests talk to.
func tx9(t testing.TB) textemu.DeviceSpec {
	t.Helper()
	data, err := os.ReadFile("../../testbench/textemu/testdata/tx9.yaml")
	if err != nil {
		t.Fatal(err)
	}
	specs, err := textemu.DecodeSpecs(data)
	if err != nil {
		t.Fatal(err)
	}
	return specs[0]
}

// startDevice plugs an emulated device in and stops it at cleanup.
func startDevice(t testing.TB, spec textemu.DeviceSpec) *textemu.Device {
	t.Helper()
	dev, err := textemu.Plug(context.Background(), t.TempDir(), spec, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dev.Close() })
	return dev
}

// linkEvents records OnLink calls.
type linkEvents struct {
	mu   sync.Mutex
	list []string
}

func (l *linkEvents) on(link string, up bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, fmt.Sprintf("%s up=%v", link, up))
}

func (l *linkEvents) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.list {
		if e == s {
			return true
		}
	}
	return false
}

// openBus opens a serial bus on the device's line with extra settings members
// (a JSON fragment starting with a comma, or "").
func openBus(t testing.TB, dev *textemu.Device, extra string, ev *linkEvents) *bus {
	t.Helper()
	spec := adapters.BusSpec{Name: "rs232", Logger: quietLogger(),
		Settings: json.RawMessage(fmt.Sprintf(`{"port": %q%s}`, dev.Line().Path(), extra))}
	if ev != nil {
		spec.OnLink = ev.on
	}
	b, err := NewText().Open(context.Background(), spec)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b.(*bus)
}

// tx9Model is the compiled model of the tx9 device.
func tx9Model(t testing.TB) *models.Compiled {
	t.Helper()
	src, err := os.ReadFile("testdata/acme-tx9.json")
	if err != nil {
		t.Fatal(err)
	}
	c, err := models.CompileSource(src, NewText().(models.Binder))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// groupReads is the plan of a poll group of a serial model.
func groupReads(g models.PollGroup) []Read { return g.Plan.([]Read) }

// pollAll polls every group of c and returns the readings by property name.
func pollAll(ctx context.Context, b *bus, c *models.Compiled) (map[string]models.Reading, error) {
	out := map[string]models.Reading{}
	for i := range c.Groups {
		rs, err := b.Poll(ctx, b.portID, &c.Groups[i], nil)
		if err != nil {
			return out, err
		}
		for _, r := range rs {
			out[c.Properties[r.Property].Name] = r
		}
	}
	return out, nil
}

// waitFor polls cond every 20ms until it returns nil or 15s have passed.
func waitFor(t testing.TB, what string, cond func() error) {
	t.Helper()
	var err error
	for range 750 {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s: %v", what, err)
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
