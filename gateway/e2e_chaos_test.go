package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/testbench/backend"
	"github.com/fieldgate/fieldgate/testbench/chaosproxy"
)

// The chaos and crash suites run bounded in CI; FIELDGATE_LONG=1 runs them
// longer, with more faults and kills. FIELDGATE_SEED replays a run's schedule
// (the seed is logged).

func longRun() bool { return os.Getenv("FIELDGATE_LONG") == "1" }

func suiteSeed(t *testing.T, def uint64) uint64 {
	t.Helper()
	seed := def
	if s := os.Getenv("FIELDGATE_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("FIELDGATE_SEED: must be an unsigned integer, got %q", s)
		}
		seed = v
	}
	t.Logf("seed %d (FIELDGATE_SEED=%d replays this schedule)", seed, seed)
	return seed
}

// gatewayOutbox is the outbox part of the local API's status.
type gatewayOutbox struct {
	Pending int    `json:"pending"`
	LastSeq uint64 `json:"lastSeq"`
	Dropped uint64 `json:"dropped"`
}

// fetchJSON is getJSON for conditions that may not hold yet: any failure is an error.
func fetchJSON(url string, v any) error {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %.200s", url, resp.Status, body)
	}
	return json.Unmarshal(body, v)
}

// waitDrained waits until the backend holds every seq that the gateway (its
// local API at api) has taken, and returns both sides.
func waitDrained(t *testing.T, within time.Duration, api string, srv *backend.Server) (gatewayOutbox, seqCheck) {
	t.Helper()
	var taken gatewayOutbox
	var check seqCheck
	eventually(t, within, "outbox drained", func() error {
		var st struct {
			Outbox gatewayOutbox `json:"outbox"`
		}
		if err := fetchJSON("http://"+api+"/api/v1/status", &st); err != nil {
			return err
		}
		taken = st.Outbox
		var err error
		if check, err = checkSequence(srv); err != nil {
			return err
		}
		if check.max < taken.LastSeq {
			return fmt.Errorf("backend holds seqs 1..%d, the gateway took up to %d (%d pending)", check.max, taken.LastSeq, taken.Pending)
		}
		return nil
	})
	return taken, check
}

func finalStatus(s string) bool { return s == backendclient.OpSucceeded || s == backendclient.OpFailed }

// TestChaosBackendFaults: gateway → chaos proxy → reference backend. While the
// proxy injects drops, resets, delays, 5xx, 429/503 with Retry-After, 401,
// truncated and slow answers, the gateway polls and takes operations. After the
// proxy heals, every reading has arrived exactly once (after de-duplication),
// every operation has a final status, and each reached its device once.
func TestChaosBackendFaults(t *testing.T) {
	faultFor := 20 * time.Second
	if longRun() {
		faultFor = 120 * time.Second
	}
	seed := suiteSeed(t, 20240605)
	rng := rand.New(rand.NewPCG(seed, 1))

	emus := startEmulators(t)
	thermo, meter := emus[0], emus[1]
	be := newRefBackend(t)
	// Every fault, 401 included: after a 401 a loop waits minutes (credentials
	// need a person) unless another loop finds the backend answering again,
	// which cuts its wait down to its backoff step.
	mix := map[chaosproxy.Fault]int{}
	for _, f := range chaosproxy.Faults() {
		mix[f] = 1
	}
	settle := 60 * time.Second
	if longRun() {
		settle = 5 * time.Minute
	}
	proxy, err := chaosproxy.Listen(context.Background(), "127.0.0.1:0", chaosproxy.Config{
		Upstream: be.addr, Seed: seed, Rate: 0.35, Mix: mix, MaxDelay: 1500 * time.Millisecond,
		TrickleChunk: 24, TrickleEvery: 60 * time.Millisecond,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	proxy.Enable() // from the first hello on
	faultsOn := time.Now()

	cfg := gatewayConfig(t, t.TempDir(), proxy.URL(), emus)
	gw := startGateway(t, cfg)

	th := []string{"modbus-tcp/" + thermo.Addr() + "/1", "modbus-tcp/" + thermo.Addr() + "/2"}
	pm := "modbus-tcp/" + meter.Addr() + "/1"
	// Registration, model fetches and assignment go through the faulty link too;
	// operations start once the gateway runs every device on its model.
	eventually(t, 120*time.Second, "devices running their models through the faulty link", func() error {
		for _, id := range append([]string{pm}, th...) {
			var dev struct {
				Model string `json:"model"`
			}
			if err := fetchJSON("http://"+gw.api+"/api/v1/devices/"+pathEscape(id), &dev); err != nil {
				return err
			}
			if dev.Model == "" {
				return fmt.Errorf("%s has no model yet", id)
			}
		}
		return nil
	})
	ready := time.Now()
	t.Logf("devices ready at the gateway %s after the faults began", ready.Sub(faultsOn).Round(time.Millisecond))

	// Operations while the faults last: boosts with a distinct number of minutes
	// per thermostat (so the emulator tells each one apart), and meter reboots.
	type sentOp struct {
		id, device, name string
		minutes          uint16
	}
	var ops []sentOp
	next := [2]uint16{1, 1}
	for time.Since(ready) < faultFor {
		var op sentOp
		var input string
		if len(ops)%5 == 4 {
			op = sentOp{device: pm, name: "reboot"}
		} else {
			u := rng.IntN(2)
			if next[u] > 120 {
				continue
			}
			op = sentOp{device: th[u], name: "boost", minutes: next[u]}
			input = fmt.Sprintf(`{"minutes": %d}`, next[u])
			next[u]++
		}
		d, _ := deviceByLocalID(be.srv.Devices(), op.device)
		id, err := be.srv.CreateOperation(backend.OperationRequest{DeviceID: d.ID, Name: op.name, Input: json.RawMessage(input)})
		if err != nil {
			t.Fatalf("create operation: %v", err)
		}
		op.id = id
		ops = append(ops, op)
		time.Sleep(time.Duration(200+rng.IntN(400)) * time.Millisecond)
	}
	proxy.Disable()
	healed := time.Now()
	counts := proxy.Counts()

	// Healed: every operation gets its final status, the outbox drains.
	eventually(t, settle, "every operation final after healing", func() error {
		for _, op := range ops {
			if rec, _ := be.srv.Operation(op.id); !finalStatus(rec.Status) {
				return fmt.Errorf("operation %s (%s on %s) is %s", op.id, op.name, op.device, rec.Status)
			}
		}
		return nil
	})
	final := time.Since(healed)
	taken, check := waitDrained(t, settle, gw.api, be.srv)
	drained := time.Since(healed)
	gw.stop()

	if check, err = checkSequence(be.srv); err != nil {
		t.Errorf("after the gateway stopped: %v", err)
	}
	if taken.Dropped != 0 {
		t.Errorf("gateway dropped %d readings", taken.Dropped)
	}
	var succeeded, boosts, reboots int
	for _, op := range ops {
		rec, _ := be.srv.Operation(op.id)
		if rec.Status != backendclient.OpSucceeded {
			t.Errorf("operation %s (%s on %s): %s %+v, want SUCCEEDED (only the backend link was faulty)", op.id, op.name, op.device, rec.Status, rec.Error)
			continue
		}
		succeeded++
		if op.name == "boost" {
			boosts++
			u := thermo.Unit(1)
			if op.device == th[1] {
				u = thermo.Unit(2)
			}
			if n := u.WritesOf("holding", 13, op.minutes); n != 1 {
				t.Errorf("boost %s (%d minutes on %s) reached the device %d times, want once", op.id, op.minutes, op.device, n)
			}
		} else {
			reboots++
		}
	}
	if n := meter.Unit(1).WritesAt("coil", 100); n != uint64(reboots) {
		t.Errorf("meter reboot coil written %d times for %d succeeded reboots", n, reboots)
	}
	var faults uint64
	for _, f := range chaosproxy.Faults() {
		faults += counts[f]
	}
	if faults == 0 {
		t.Error("the proxy injected no fault")
	}
	t.Logf("faults for %s (+%s before the devices were ready): %d requests, %d faulted: %v", faultFor, ready.Sub(faultsOn).Round(time.Millisecond), proxy.Requests(), faults, counts)
	t.Logf("readings: taken %d (seq 1..%d), delivered %d readings + %d events, %d duplicates de-duplicated by the backend; drained %s and all final %s after healing",
		taken.LastSeq, check.max, check.readings, check.events, check.duplicates, drained.Round(time.Millisecond), final.Round(time.Millisecond))
	t.Logf("operations: sent %d (%d boosts, %d reboots), succeeded %d, each executed once on its device", len(ops), boosts, reboots, succeeded)
}
