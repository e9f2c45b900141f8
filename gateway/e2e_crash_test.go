package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/testbench/backend"
	"github.com/fieldgate/fieldgate/testbench/modbusemu"
)

// crashModel is the demo thermostat's model plus "stamp": a non-idempotent
// operation that writes its input n to holding register 100. The test gives
// every stamp its own n, so the emulator's per-value write count tells how
// often each one reached the device. (0xA5A5, the reboot trigger, is out of
// the input's range.)
const (
	crashModelID  = "crash-th100"
	stampRegister = 100
	boostRegister = 13
)

func addCrashModel(t *testing.T, be *refBackend) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(demoDir, "models", "acme-th100.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	doc["id"] = crashModelID
	var stamp map[string]any
	if err := json.Unmarshal([]byte(`{"name": "stamp", "description": "Write a count; not idempotent.", "idempotent": false,
	  "inputs": [{"name": "n", "type": "int", "min": 1, "max": 30000}],
	  "modbus": {"steps": [{"write": {"table": "holding", "address": 100, "dataType": "uint16", "input": "n"}}]}}`), &stamp); err != nil {
		t.Fatal(err)
	}
	doc["operations"] = append(doc["operations"].([]any), stamp)
	model, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	postAdmin(t, be.url()+"/admin/models", model)
	rule, _ := json.Marshal(backend.Rule{Name: "crash-th", Priority: 100, Match: map[string]string{"identity.vendor": "ACME Controls"},
		Model: crashModelID, Version: "1.0.0", PollIntervalMs: 100})
	postAdmin(t, be.url()+"/admin/rules", rule)
}

func postAdmin(t *testing.T, url string, body []byte) []byte {
	t.Helper()
	out, err := crashPost(url, body)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func crashPost(url string, body []byte) ([]byte, error) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("POST %s: %s: %s", url, resp.Status, buf.Bytes())
	}
	return buf.Bytes(), nil
}

// buildFieldgate builds cmd/fieldgate into a temporary directory.
func buildFieldgate(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fieldgate")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../cmd/fieldgate").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ../cmd/fieldgate: %v\n%s", err, out)
	}
	return bin
}

// crashFreeAddr returns a loopback address that was free a moment ago.
func crashFreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func writeCrashConfig(t *testing.T, dir, api, backendURL string, emus []*modbusemu.Server) string {
	t.Helper()
	var eps []string
	for _, e := range emus {
		eps = append(eps, e.Addr())
	}
	type m = map[string]any
	yml, err := yaml.Marshal(m{
		"gateway":   m{"id": "gw-crash", "stateDir": filepath.Join(dir, "state")},
		"backend":   m{"url": backendURL, "inboxWait": "2s", "timeout": "2s"},
		"api":       m{"listen": api},
		"discovery": m{"atStart": true, "interval": "0s"},
		"telemetry": m{"batchSize": 200, "flushInterval": "100ms", "durability": "always"},
		"log":       m{"level": "warn"},
		"buses": []m{{"name": "tcp", "protocol": "modbus-tcp", "settings": m{
			"endpoints": eps, "units": "1-8", "timeout": "500ms", "probeTimeout": "150ms"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "fieldgate.yaml")
	if err := os.WriteFile(path, yml, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// childGateway is one life of `fieldgate run` as a child process.
type childGateway struct {
	cmd  *exec.Cmd
	done chan error
}

func startChild(t *testing.T, bin, cfg string, logf *os.File) *childGateway {
	t.Helper()
	cmd := exec.Command(bin, "run", "--config", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &childGateway{cmd: cmd, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait() }()
	t.Cleanup(func() { c.kill() })
	return c
}

// kill sends SIGKILL to the child (only it) and waits for it to be gone.
func (c *childGateway) kill() {
	if c.cmd.ProcessState != nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
	c.done <- errors.New("killed") // for a later kill or wait
}

// stop asks the child to shut down (SIGTERM) and waits up to within.
func (c *childGateway) stop(within time.Duration) error {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		c.done <- err
		return err
	case <-time.After(within):
		c.kill()
		return fmt.Errorf("did not stop within %s after SIGTERM; killed", within)
	}
}

// crashOp is an operation the test sent.
type crashOp struct {
	id    string
	name  string // stamp | boost
	unit  byte
	value uint16 // n of a stamp, minutes of a boost
}

// TestCrashKillLoop: `fieldgate run` with durability "always" is killed with
// SIGKILL at seeded random instants (30 times; FIELDGATE_LONG=1: 150), and
// restarted each time, while it polls every 100 ms and the backend sends
// operations: stamps (not idempotent) and boosts (idempotent). At the end the
// backend has every reading the gateway took (sequence 1..last, no gap, none
// stored twice), every operation has a final status, and no stamp reached its
// device twice; a stamp that succeeded reached it exactly once, one found
// EXECUTING after a kill is FAILED "interrupted by restart".
func TestCrashKillLoop(t *testing.T) {
	kills := 30
	if longRun() {
		kills = 150
	}
	seed := suiteSeed(t, 31337)
	rng := rand.New(rand.NewPCG(seed, 2))
	bin := buildFieldgate(t)

	emus := startEmulators(t)
	thermo := emus[0]
	be := newRefBackend(t)
	addCrashModel(t, be)
	dir := t.TempDir()
	api := crashFreeAddr(t)
	cfg := writeCrashConfig(t, dir, api, be.url(), emus)
	logPath := filepath.Join(dir, "fieldgate.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("gateway log (last 6 KiB):\n%s", b[max(0, len(b)-6<<10):])
			}
		}
	})

	th := map[byte]string{1: "modbus-tcp/" + thermo.Addr() + "/1", 2: "modbus-tcp/" + thermo.Addr() + "/2"}
	child := startChild(t, bin, cfg, logf)
	eventually(t, 60*time.Second, "thermostats running the crash model", func() error {
		for _, id := range th {
			var dev struct {
				Model string `json:"model"`
			}
			if err := fetchJSON("http://"+api+"/api/v1/devices/"+pathEscape(id), &dev); err != nil {
				return err
			}
			if !strings.HasPrefix(dev.Model, crashModelID+"@") {
				return fmt.Errorf("%s runs %q", id, dev.Model)
			}
		}
		return nil
	})

	// Operations through the backend's admin API for as long as the kills go on.
	var (
		mu      sync.Mutex
		ops     []crashOp
		sendErr error
	)
	sendCtx, stopSending := context.WithCancel(context.Background())
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		opRng := rand.New(rand.NewPCG(seed, 3))
		nextStamp, nextBoost := uint16(1), map[byte]uint16{1: 1, 2: 1}
		for i := 0; i < 100000 && sendCtx.Err() == nil; i++ {
			unit := byte(1 + opRng.IntN(2))
			op := crashOp{name: "stamp", unit: unit, value: nextStamp}
			if i%3 == 2 && nextBoost[unit] <= 120 {
				op = crashOp{name: "boost", unit: unit, value: nextBoost[unit]}
				nextBoost[unit]++
			} else {
				nextStamp++
			}
			input := fmt.Sprintf(`{"n": %d}`, op.value)
			if op.name == "boost" {
				input = fmt.Sprintf(`{"minutes": %d}`, op.value)
			}
			body, _ := json.Marshal(backend.OperationRequest{Gateway: "gw-crash", LocalID: th[unit], Name: op.name, Input: json.RawMessage(input)})
			out, err := crashPost(be.url()+"/admin/operations", body)
			var created struct {
				ID string `json:"id"`
			}
			if err == nil {
				err = json.Unmarshal(out, &created)
			}
			mu.Lock()
			if err != nil {
				sendErr = err
				mu.Unlock()
				return
			}
			op.id = created.ID
			ops = append(ops, op)
			mu.Unlock()
			select {
			case <-sendCtx.Done():
			case <-time.After(time.Duration(150+opRng.IntN(300)) * time.Millisecond):
			}
		}
	}()

	// The kill loop.
	var exitedAlone int
	start := time.Now()
	for i := range kills {
		if i > 0 {
			child = startChild(t, bin, cfg, logf)
		}
		uptime := time.Duration(150+rng.IntN(1850)) * time.Millisecond
		select {
		case <-time.After(uptime):
			child.kill()
		case err := <-child.done:
			child.done <- err
			exitedAlone++
			t.Errorf("life %d: fieldgate exited by itself after less than %s: %v", i, uptime, err)
		}
	}
	killTime := time.Since(start)
	stopSending()
	<-sent
	mu.Lock()
	defer mu.Unlock()
	if sendErr != nil {
		t.Fatalf("sending operations: %v", sendErr)
	}

	// The last life runs until the outbox has drained and every operation is final.
	child = startChild(t, bin, cfg, logf)
	eventually(t, 120*time.Second, "every operation final", func() error {
		for _, op := range ops {
			if rec, _ := be.srv.Operation(op.id); !finalStatus(rec.Status) {
				return fmt.Errorf("operation %s (%s %d on unit %d) is %s", op.id, op.name, op.value, op.unit, rec.Status)
			}
		}
		return nil
	})
	taken, check := waitDrained(t, 120*time.Second, api, be.srv)
	if err := child.stop(30 * time.Second); err != nil {
		t.Errorf("last life: %v", err)
	}
	if check, err = checkSequence(be.srv); err != nil {
		t.Errorf("after the last stop: %v", err)
	}
	if taken.Dropped != 0 {
		t.Errorf("the gateway dropped %d readings", taken.Dropped)
	}

	// No stamp reached its device twice; each succeeded one exactly once.
	var stamps, boosts, succeeded, interrupted, interruptedOnWire, otherFailed, executed int
	for _, op := range ops {
		rec, _ := be.srv.Operation(op.id)
		u := thermo.Unit(op.unit)
		if op.name == "boost" {
			boosts++
			n := u.WritesOf("holding", boostRegister, op.value)
			executed += int(n)
			if rec.Status == backendclient.OpSucceeded {
				succeeded++
				if n == 0 {
					t.Errorf("boost %s (%d minutes, unit %d) SUCCEEDED but never reached the device", op.id, op.value, op.unit)
				}
			}
			continue
		}
		stamps++
		n := u.WritesOf("holding", stampRegister, op.value)
		executed += int(n)
		if n > 1 {
			t.Errorf("stamp %s (n=%d, unit %d, %s) reached the device %d times: a non-idempotent operation ran twice", op.id, op.value, op.unit, rec.Status, n)
		}
		switch {
		case rec.Status == backendclient.OpSucceeded:
			succeeded++
			if n != 1 {
				t.Errorf("stamp %s (n=%d, unit %d) SUCCEEDED but reached the device %d times", op.id, op.value, op.unit, n)
			}
		case rec.Error != nil && rec.Error.Code == "interrupted":
			interrupted++
			interruptedOnWire += int(n)
			if !strings.Contains(rec.Error.Message, "interrupted by restart") {
				t.Errorf("stamp %s: message %q, want \"interrupted by restart\"", op.id, rec.Error.Message)
			}
		default:
			otherFailed++
			t.Logf("stamp %s (n=%d): %s %+v, reached the device %d times", op.id, op.value, rec.Status, rec.Error, n)
		}
	}
	if interrupted == 0 && !t.Failed() {
		t.Logf("no stamp was caught EXECUTING by a kill in this run")
	}
	t.Logf("kills: %d in %s (%d lives ended on their own)", kills, killTime.Round(time.Millisecond), exitedAlone)
	t.Logf("readings: taken %d, backend holds seq 1..%d: %d readings + %d events, %d duplicates de-duplicated by the backend",
		taken.LastSeq, check.max, check.readings, check.events, check.duplicates)
	t.Logf("operations: sent %d (%d stamps, %d boosts), succeeded %d, stamps interrupted %d (%d of them had reached the wire), other failures %d; device executions %d",
		len(ops), stamps, boosts, succeeded, interrupted, interruptedOnWire, otherFailed, executed)
}
