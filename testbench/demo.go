package testbench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/models"
	"github.com/fieldgate/fieldgate/testbench/backend"
)

// The demo's fixed places: the gateway's embedded default config uses them too.
const (
	demoGatewayAPI   = "127.0.0.1:8481"
	demoGatewayState = "state/demo-gw"
	demoBackendDB    = "state/bench/backend.db"
	demoGatewayLog   = "state/fieldgate.log"
)

// DemoOptions configures RunDemo.
type DemoOptions struct {
	Fieldgate string    // path of the fieldgate binary; "" = next to this executable, then $PATH
	KeepState bool      // keep the state of the last run (else the demo starts fresh)
	Out       io.Writer // the narration
}

// RunDemo runs the demo bench and the gateway (as a child process with its
// embedded demo config), and narrates what happens until ctx is cancelled:
// devices discovered → registered → model assigned → readings flowing, and one
// operation round trip.
func RunDemo(ctx context.Context, opts DemoOptions) error {
	out := opts.Out
	bin, err := FindFieldgate(opts.Fieldgate)
	if err != nil {
		return err
	}
	bench, err := Demo()
	if err != nil {
		return err
	}
	// The ports first: a demo already running keeps its state files.
	benchOpts := Options{BackendDB: demoBackendDB}
	ports := append(bench.Ports(benchOpts), Port{"tcp", demoGatewayAPI, "the gateway's local API (fieldgate run, demo config)"})
	if err := CheckPorts(ports); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if !opts.KeepState {
		for _, f := range []string{demoBackendDB, filepath.Join(demoGatewayState, "state.db")} {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	if err := os.MkdirAll("state", 0o750); err != nil {
		return err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := Start(ctx, bench, benchOpts, quiet)
	if err != nil {
		return fmt.Errorf("demo bench: %w (is another demo running?)", err)
	}
	defer r.Close()

	logf, err := os.Create(demoGatewayLog)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "run", "--demo")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	fmt.Fprintf(out, "fieldgate demo — everything on loopback\n%s", r.Describe())
	fmt.Fprintf(out, "gateway: %s run (embedded demo config), local API http://%s/api/v1/devices, log %s\n", bin, demoGatewayAPI, demoGatewayLog)
	fmt.Fprintln(out, "Ctrl-C stops everything.")
	fmt.Fprintln(out)

	n := newNarrator(r, "http://"+demoGatewayAPI, out)
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(out, "\nstopping: gateway first, then the bench")
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-exited:
				if err != nil {
					fmt.Fprintf(out, "gateway exited: %v (see %s)\n", err, demoGatewayLog)
				}
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
			return nil
		case err := <-exited:
			return fmt.Errorf("the gateway exited: %v (see %s)", err, demoGatewayLog)
		case <-tick.C:
			n.step(ctx)
		}
	}
}

// FindFieldgate is the fieldgate binary: p when given, else the one next to
// this executable, else the one on $PATH.
func FindFieldgate(p string) (string, error) {
	if p != "" {
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		cand := filepath.Join(filepath.Dir(exe), "fieldgate")
		if _, err := os.Stat(cand); err == nil {
			return cand, nil
		}
	}
	return exec.LookPath("fieldgate")
}

// narrator prints what changed since its last look at the gateway and the backend.
type narrator struct {
	bench   *Running
	backend *backend.Server
	gwAPI   string
	out     io.Writer
	client  *http.Client

	discovered map[string]bool
	status     map[string]string
	flowing    map[string]bool
	opID       string
	opDevice   string
	opStatus   string
	opDone     bool
}

func newNarrator(r *Running, gwAPI string, out io.Writer) *narrator {
	return &narrator{bench: r, backend: r.Backend, gwAPI: gwAPI, out: out, client: &http.Client{Timeout: 2 * time.Second},
		discovered: map[string]bool{}, status: map[string]string{}, flowing: map[string]bool{}}
}

func (n *narrator) say(format string, args ...any) {
	fmt.Fprintf(n.out, "%s  %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

type gatewayDevice struct {
	LocalID     string             `json:"localId"`
	Fingerprint models.Fingerprint `json:"fingerprint"`
}

// whatItSays is the part of a fingerprint a person recognises a device by:
// its Modbus identity, its answer to a serial probe, or its CoAP resource types.
func whatItSays(fp models.Fingerprint) string {
	id := fp.Identity
	switch {
	case id["vendor"] != "":
		return fmt.Sprintf("%s %s rev %s", id["vendor"], id["product"], id["revision"])
	case len(fp.Probes) > 0:
		return fmt.Sprintf("answers %q to %q", fp.Probes[0].Answer, fp.Probes[0].Request)
	}
	if rt, ok := fp.Field("coap.rt"); ok {
		return "resource types " + rt
	}
	return fp.Address
}

func (n *narrator) step(ctx context.Context) {
	// Discovered: what the gateway's local API knows.
	if req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.gwAPI+"/api/v1/devices", nil); err == nil {
		if resp, err := n.client.Do(req); err == nil {
			var devs []gatewayDevice
			_ = json.NewDecoder(resp.Body).Decode(&devs)
			resp.Body.Close()
			for _, d := range devs {
				if !n.discovered[d.LocalID] {
					n.discovered[d.LocalID] = true
					n.say("discovered  %-34s %s", d.LocalID, whatItSays(d.Fingerprint))
				}
			}
		}
	}
	// Registered and assigned: what the backend decided.
	devs := n.backend.Devices()
	sort.Slice(devs, func(i, j int) bool { return devs[i].LocalID < devs[j].LocalID })
	for _, d := range devs {
		st := d.Status
		if d.Instance != nil {
			st += " " + d.Instance.Model + "@" + d.Instance.Version
		}
		if n.status[d.LocalID] != st {
			if n.status[d.LocalID] == "" {
				n.say("registered  %-34s as %s", d.LocalID, d.ID)
			}
			n.status[d.LocalID] = st
			switch d.Status {
			case backendclient.StatusAssigned:
				n.say("assigned    %-34s model %s@%s", d.LocalID, d.Instance.Model, d.Instance.Version)
			case backendclient.StatusPending:
				n.say("pending     %-34s no rule matches; assign it at http://127.0.0.1:8480/", d.LocalID)
			default:
				n.say("%-11s %-34s %s", d.Status, d.LocalID, d.Reason)
			}
		}
		if d.Status == backendclient.StatusAssigned && !n.flowing[d.LocalID] {
			if rs := n.backend.Readings(d.ID, "", 50); len(rs) > 0 {
				n.flowing[d.LocalID] = true
				n.say("readings    %-34s %s", d.LocalID, summarize(rs))
			}
		}
	}
	n.operation(devs)
}

// operation does one round trip: a setpoint write on the first thermostat that
// has readings, followed until its final status.
func (n *narrator) operation(devs []backend.DeviceRecord) {
	if n.opDone {
		return
	}
	if n.opID == "" {
		for _, d := range devs {
			if d.Instance != nil && d.Instance.Model == "acme-th100" && n.flowing[d.LocalID] && strings.HasPrefix(d.LocalID, "modbus-tcp/") {
				id, err := n.backend.CreateOperation(backend.OperationRequest{DeviceID: d.ID, Name: "write", Input: json.RawMessage(`{"setpoint": 22.5}`)})
				if err != nil {
					n.say("operation   could not queue: %v", err)
					n.opDone = true
					return
				}
				n.opID, n.opDevice = id, d.LocalID
				n.say("operation   %s: write setpoint=22.5 on %s, queued in the gateway's inbox", id, d.LocalID)
				return
			}
		}
		return
	}
	op, ok := n.backend.Operation(n.opID)
	if !ok || op.Status == n.opStatus {
		return
	}
	n.opStatus = op.Status
	switch op.Status {
	case backendclient.OpSucceeded:
		n.say("operation   %s SUCCEEDED: %s", n.opID, n.register(n.opDevice, 10))
		n.opDone = true
	case backendclient.OpFailed:
		msg := ""
		if op.Error != nil {
			msg = op.Error.Code + ": " + op.Error.Message
		}
		n.say("operation   %s FAILED: %s", n.opID, msg)
		n.opDone = true
	default:
		n.say("operation   %s %s", n.opID, op.Status)
	}
}

func summarize(rs []backend.ReadingRecord) string {
	seen := map[string]bool{}
	var parts []string
	for _, r := range rs {
		if seen[r.Property] {
			continue
		}
		seen[r.Property] = true
		v, _ := json.Marshal(r.Value)
		parts = append(parts, r.Property+"="+string(v))
	}
	sort.Strings(parts)
	if len(parts) > 6 {
		parts = append(parts[:6], "…")
	}
	return strings.Join(parts, " ")
}

// register reads a holding register of the emulated unit behind a Modbus TCP
// local id ("modbus-tcp/127.0.0.1:5020/1"), to show what the operation did.
func (n *narrator) register(localID string, addr uint16) string {
	rest, ok := strings.CutPrefix(localID, "modbus-tcp/")
	if !ok {
		return ""
	}
	host, unit, ok := strings.Cut(rest, "/")
	if !ok {
		return ""
	}
	var id int
	if _, err := fmt.Sscanf(unit, "%d", &id); err != nil {
		return ""
	}
	for _, e := range n.bench.Emulators {
		if e.Addr() == host {
			if u := e.Unit(byte(id)); u != nil {
				return fmt.Sprintf("the emulated unit's holding register %d now holds %d", addr, u.Holding(addr))
			}
		}
	}
	return ""
}
