package coap_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/adapters/coap"
	"github.com/fieldgate/fieldgate/models"
	"github.com/fieldgate/fieldgate/testbench/coapemu"
)

const benchYAML = `
- name: env-1
  listen: 127.0.0.1:0
  resources:
    - {path: /sensors/temp, rt: [temperature-c, sensor], if: [core.s], title: "Temperature", value: 21.5,
       observable: true, maxAge: 1s, change: {period: 150ms, step: 0.5, min: 15, max: 30}}
    - {path: /sensors/climate, rt: [climate], format: json, value: {rh: {value: 40.5}}}
    - {path: /sensors/baro, format: cbor, value: {p/a: 10132}}
    - {path: /config/setpoint, format: json, value: {target: 20}, writable: true, observable: true}
    - {path: /dev/info, format: json, value: {vendor: ACME, product: ENV-7, revision: "2.1"}}
    - {path: /reboot, reboot: true, value: ""}
    - {path: /broken, value: 1, fault: {code: "4.04", diagnostic: "no such thing"}}
    - {path: /garbled, format: json, value: 1, fault: {malformed: true}}
    - {path: /silent, value: 1, fault: {silent: true}}
    - {path: /stubborn, value: 7, observable: true, fault: {noObserve: true}}
`

func startDevice(t *testing.T, yml string, i int) *coapemu.Device {
	t.Helper()
	specs, err := coapemu.DecodeSpecs([]byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	d, err := coapemu.Listen(context.Background(), specs[i], slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func openBus(t *testing.T, settings string) adapters.Bus {
	t.Helper()
	b, err := coap.New().Open(context.Background(), adapters.BusSpec{Name: "coap", Settings: json.RawMessage(settings),
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

type testWriter struct{ t *testing.T }

// pollOn attaches target to b and polls group.
func pollOn(b adapters.Bus, ctx context.Context, target string, group *models.PollGroup, out []models.Reading) ([]models.Reading, error) {
	d, err := b.Attach(target)
	if err != nil {
		return out, err
	}
	return d.Poll(ctx, group, out)
}

// execOn attaches target to b and executes action.
func execOn(b adapters.Bus, ctx context.Context, target string, action *models.Action) error {
	d, err := b.Attach(target)
	if err != nil {
		return err
	}
	return d.Execute(ctx, action)
}

// observeOn attaches target to b and observes group.
func observeOn(b adapters.Bus, ctx context.Context, target string, group *models.PollGroup, emit func([]models.Reading), fail func(error)) error {
	d, err := b.Attach(target)
	if err != nil {
		return err
	}
	return d.(adapters.DeviceObserver).Observe(ctx, group, emit, fail)
}

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestDiscoverUnicast(t *testing.T) {
	d := startDevice(t, benchYAML, 0)
	b := openBus(t, fmt.Sprintf(`{"hosts": [%q, "127.0.0.1:1"], "identity": "/dev/info", "timeout": "500ms", "hint": "lab"}`, d.Addr()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cands, err := b.(adapters.Discoverer).Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cands) != 1 {
		t.Fatalf("want 1 candidate (the silent port gives none), got %+v", cands)
	}
	c := cands[0]
	if c.LocalID != "coap/"+d.Addr() || c.Target != d.Addr() {
		t.Errorf("local id %q target %q", c.LocalID, c.Target)
	}
	fp := c.Fingerprint
	if fp.Protocol != "coap" || fp.Transport != "udp" || fp.Address != d.Addr() || fp.Hint != "lab" {
		t.Errorf("fingerprint %+v", fp)
	}
	if fp.Identity["vendor"] != "ACME" || fp.Identity["product"] != "ENV-7" {
		t.Errorf("identity %v", fp.Identity)
	}
	for field, want := range map[string]string{
		"coap.rt":  "climate sensor temperature-c",
		"coap.if":  "core.s",
		"coap.obs": "",
	} {
		if got, ok := fp.Field(field); !ok || got != want {
			t.Errorf("Field(%q) = %q, %v; want %q", field, got, ok, want)
		}
	}
	if paths, _ := fp.Field("coap.paths"); !strings.Contains(paths, "/sensors/temp") {
		t.Errorf("coap.paths %q", paths)
	}
	if links, _ := fp.Field("coap.links"); !strings.Contains(links, `</sensors/temp>;ct="0";if="core.s";obs;rt="temperature-c sensor";title="Temperature"`) {
		t.Errorf("coap.links %q", links)
	}
}

func reads() *models.PollGroup {
	return &models.PollGroup{Interval: 200 * time.Millisecond, Plan: []coap.Read{
		{Property: 0, Path: "/sensors/temp", Format: coap.FormatText, Scale: 1, Kind: models.KindFloat},
		{Property: 1, Path: "/sensors/climate", Format: coap.FormatJSON, Pointer: []string{"rh", "value"}, Scale: 1, Kind: models.KindFloat},
		{Property: 2, Path: "/sensors/baro", Format: coap.FormatCBOR, Pointer: []string{"p/a"}, Scale: 10, Kind: models.KindInt},
	}}
}

func TestPoll(t *testing.T) {
	d := startDevice(t, benchYAML, 0)
	b := openBus(t, fmt.Sprintf(`{"hosts": [%q], "timeout": "1s"}`, d.Addr()))
	ctx := context.Background()
	out, err := pollOn(b, ctx, d.Addr(), reads(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 || out[1].Value != models.FloatValue(40.5) || out[2].Value != models.IntValue(101320) {
		t.Fatalf("readings %+v", out)
	}
	if f := out[0].Value.Float; f < 15 || f > 30 {
		t.Errorf("temp %v", out[0].Value)
	}
	if d.Gets("/sensors/baro") != 1 {
		t.Errorf("baro GETs %d", d.Gets("/sensors/baro"))
	}
	bad := &models.PollGroup{Plan: []coap.Read{{Path: "/garbled", Format: coap.FormatJSON, Scale: 1, Kind: models.KindInt}}}
	if _, err := pollOn(b, ctx, d.Addr(), bad, nil); !errors.Is(err, adapters.ErrBadReply) {
		t.Errorf("malformed payload: %v, want ErrBadReply", err)
	}
	bad.Plan.([]coap.Read)[0].Path = "/broken"
	if _, err := pollOn(b, ctx, d.Addr(), bad, nil); !errors.Is(err, adapters.ErrBadReply) || !strings.Contains(err.Error(), "4.04 Not Found: no such thing") {
		t.Errorf("4.04: %v", err)
	}
	bad.Plan.([]coap.Read)[0].Path = "/silent"
	start := time.Now()
	if _, err := pollOn(b, ctx, d.Addr(), bad, nil); !errors.Is(err, adapters.ErrTimeout) {
		t.Errorf("silent: %v, want ErrTimeout", err)
	}
	t.Logf("silent resource cost %v (timeout 1s)", time.Since(start))
	if _, err := pollOn(b, ctx, "nonsense", bad, nil); !errors.Is(err, adapters.ErrUnknownTarget) {
		t.Errorf("bad target: %v", err)
	}
}

func TestExecute(t *testing.T) {
	d := startDevice(t, benchYAML, 0)
	b := openBus(t, fmt.Sprintf(`{"hosts": [%q], "timeout": "1s"}`, d.Addr()))
	ctx := context.Background()
	act := &models.Action{Name: "write", Plan: []coap.Action{{Method: "PUT", Path: "/config/setpoint", Format: coap.FormatJSON, Payload: []byte(`{"target": 22.5}`)}}}
	if err := execOn(b, ctx, d.Addr(), act); err != nil {
		t.Fatal(err)
	}
	if v := d.Value("/config/setpoint"); fmt.Sprint(v) != "map[target:22.5]" {
		t.Errorf("setpoint %v", v)
	}
	act.Plan.([]coap.Action)[0].Path = "/broken"
	err := execOn(b, ctx, d.Addr(), act)
	var se *coap.StatusError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "coap 4.04 Not Found: no such thing") {
		t.Errorf("4.04: %v", err)
	}
	act.Plan.([]coap.Action)[0] = coap.Action{Method: "PUT", Path: "/sensors/climate", Payload: []byte("1")}
	if err := execOn(b, ctx, d.Addr(), act); !errors.As(err, &se) || se.Code != 0x85 {
		t.Errorf("read-only: %v", err)
	}
	// reboot resets the setpoint
	act.Plan.([]coap.Action)[0] = coap.Action{Method: "POST", Path: "/reboot"}
	if err := execOn(b, ctx, d.Addr(), act); err != nil {
		t.Fatal(err)
	}
	if v := d.Value("/config/setpoint"); fmt.Sprint(v) != "map[target:20]" {
		t.Errorf("setpoint after reboot %v", v)
	}
}

// collector gathers emitted readings.
type collector struct {
	mu sync.Mutex
	rs []models.Reading
}

func (c *collector) emit(rs []models.Reading) {
	c.mu.Lock()
	c.rs = append(c.rs, rs...)
	c.mu.Unlock()
}

func (c *collector) count(prop int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.rs {
		if r.Property == prop {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not true after %s", what, within)
}

func TestObserve(t *testing.T) {
	d := startDevice(t, benchYAML, 0)
	b := openBus(t, fmt.Sprintf(`{"hosts": [%q], "timeout": "1s"}`, d.Addr()))
	group := &models.PollGroup{Interval: 200 * time.Millisecond, Observe: true, Plan: []coap.Read{
		{Property: 0, Path: "/sensors/temp", Format: coap.FormatText, Scale: 1, Kind: models.KindFloat, Observe: true},
		{Property: 1, Path: "/stubborn", Format: coap.FormatText, Scale: 1, Kind: models.KindInt, Observe: true},
	}}
	ctx, cancel := context.WithCancel(context.Background())
	var c collector
	done := make(chan error, 1)
	go func() { done <- observeOn(b, ctx, d.Addr(), group, c.emit, nil) }()

	waitFor(t, 10*time.Second, "5 notifications of /sensors/temp", func() bool { return c.count(0) >= 5 })
	if n := d.Gets("/sensors/temp"); n != 0 {
		t.Errorf("observed resource was polled %d times", n)
	}
	waitFor(t, 10*time.Second, "/stubborn polled instead", func() bool { return c.count(1) >= 3 && d.Gets("/stubborn") >= 2 })

	// A reboot forgets observers; notifications stop and the adapter registers again after Max-Age (1s) + margin.
	regs := d.Registrations("/sensors/temp")
	d.Reboot()
	waitFor(t, 15*time.Second, "re-registration after reboot", func() bool { return d.Registrations("/sensors/temp") > regs && d.Observers("/sensors/temp") == 1 })
	before := c.count(0)
	waitFor(t, 10*time.Second, "notifications after re-registration", func() bool { return c.count(0) >= before+3 })

	cancel()
	waitReturn(t, done, context.Canceled, "cancel")
	if n := d.Observers("/sensors/temp"); n != 0 {
		t.Errorf("%d observers left after cancel: not deregistered", n)
	}
}

func TestDTLS(t *testing.T) {
	yml := `
- name: secure
  listen: 127.0.0.1:0
  psk: {identity: gw-1, key: "s3cret-key"}
  resources:
    - {path: /sensors/temp, value: 21.5, rt: [temperature-c]}
`
	d := startDevice(t, yml, 0)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "coap.psk")
	if err := os.WriteFile(keyFile, []byte("s3cret-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	target := "coaps://" + d.Addr()
	b := openBus(t, fmt.Sprintf(`{"hosts": [%q], "pskFile": %q, "pskIdentity": "gw-1", "timeout": "2s"}`, target, keyFile))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cands, err := b.(adapters.Discoverer).Discover(ctx)
	if err != nil || len(cands) != 1 {
		t.Fatalf("discover: %v %+v", err, cands)
	}
	if fp := cands[0].Fingerprint; fp.Transport != "dtls" || cands[0].Target != target || cands[0].LocalID != "coap/"+d.Addr() {
		t.Errorf("candidate %+v", cands[0])
	}
	g := &models.PollGroup{Plan: []coap.Read{{Path: "/sensors/temp", Format: coap.FormatText, Scale: 1, Kind: models.KindFloat}}}
	out, err := pollOn(b, ctx, target, g, nil)
	if err != nil || len(out) != 1 || out[0].Value != models.FloatValue(21.5) {
		t.Fatalf("poll over DTLS: %v %+v", err, out)
	}

	// A model that asks for DTLS is never polled or operated in the clear.
	plain := startDevice(t, `
- name: plain
  listen: 127.0.0.1:0
  resources:
    - {path: /sensors/temp, value: 21.5, rt: [temperature-c]}
`, 0)
	pb := openBus(t, fmt.Sprintf(`{"hosts": [%q], "timeout": "1s"}`, plain.Addr()))
	sg := &models.PollGroup{Plan: []coap.Read{{Path: "/sensors/temp", Format: coap.FormatText, Scale: 1, Kind: models.KindFloat, Secure: true}}}
	if _, err := pollOn(pb, ctx, plain.Addr(), sg, nil); err == nil || !strings.Contains(err.Error(), "requires DTLS") {
		t.Errorf("secure read over plain UDP: %v", err)
	}
	act := &models.Action{Name: "reboot", Plan: []coap.Action{{Method: "POST", Path: "/reboot", Format: coap.FormatText, Secure: true}}}
	if err := execOn(pb, ctx, plain.Addr(), act); err == nil || !strings.Contains(err.Error(), "requires DTLS") {
		t.Errorf("secure action over plain UDP: %v", err)
	}
	if n := plain.Gets("/sensors/temp"); n != 0 {
		t.Errorf("%d GETs reached the plain device", n)
	}

	// A wrong key fails the handshake: no reading.
	if err := os.WriteFile(keyFile, []byte("wrong"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := openBus(t, fmt.Sprintf(`{"hosts": [%q], "pskFile": %q, "pskIdentity": "gw-1", "timeout": "1s"}`, target, keyFile))
	if _, err := pollOn(bad, ctx, target, g, nil); err == nil {
		t.Fatal("poll with a wrong key succeeded")
	}
}

// TestBlockwiseLargePayloads: a representation larger than one datagram's
// 1024-byte block is read whole (RFC 7959 Block2) and a large PUT payload
// arrives whole (Block1), over real UDP against the emulator.
func TestBlockwiseLargePayloads(t *testing.T) {
	pad := strings.Repeat("0123456789", 400) // 4000 bytes: four blocks and a bit
	d := startDevice(t, fmt.Sprintf(`
- name: big-1
  listen: 127.0.0.1:0
  resources:
    - {path: /big, format: json, value: {pad: %q, v: {value: 7.25}}}
    - {path: /bigcfg, format: json, value: {}, writable: true}
`, pad), 0)
	b := openBus(t, fmt.Sprintf(`{"hosts": [%q], "timeout": "2s"}`, d.Addr()))
	ctx := context.Background()
	g := &models.PollGroup{Plan: []coap.Read{{Path: "/big", Format: coap.FormatJSON, Pointer: []string{"v", "value"}, Scale: 1, Kind: models.KindFloat}}}
	out, err := pollOn(b, ctx, d.Addr(), g, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Value != models.FloatValue(7.25) {
		t.Fatalf("reading behind 4 KB of padding: %+v", out)
	}
	payload := []byte(fmt.Sprintf(`{"note": %q, "target": 19}`, pad))
	act := &models.Action{Name: "write", Plan: []coap.Action{{Method: "PUT", Path: "/bigcfg", Format: coap.FormatJSON, Payload: payload}}}
	if err := execOn(b, ctx, d.Addr(), act); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(d.Value("/bigcfg"))
	if !strings.Contains(string(got), pad) || !strings.Contains(string(got), `"target":19`) {
		t.Errorf("emulated resource after a %d-byte PUT holds %d bytes: %.80s…", len(payload), len(got), got)
	}
}

// A device is attached once: a bad target fails then; an attached device
// polls and is observable (adapters.DeviceObserver).
func TestAttach(t *testing.T) {
	d := startDevice(t, benchYAML, 0)
	b := openBus(t, fmt.Sprintf(`{"hosts": [%q], "timeout": "1s"}`, d.Addr()))
	at := b
	for _, bad := range []string{"nonsense", "coaps://" + d.Addr()} {
		if _, err := at.Attach(bad); !errors.Is(err, adapters.ErrUnknownTarget) {
			t.Errorf("Attach(%q) = %v, want ErrUnknownTarget", bad, err)
		}
	}
	dev, err := at.Attach(d.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := dev.(adapters.DeviceObserver); !ok {
		t.Error("an attached CoAP device is not observable")
	}
	if out, err := dev.Poll(context.Background(), reads(), nil); err != nil || len(out) != 3 {
		t.Fatalf("poll: %+v, %v", out, err)
	}
}
