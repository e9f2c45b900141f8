package conform

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/testbench/modbusemu"
)

// The gateway clauses: a real fieldgate, as a child process, with one
// emulated ACME TH-100 thermostat (the demo bench's) on Modbus TCP.

// The thermostat's model, as the demo bench's backend has it
// (testbench/demo/models/acme-th100.json): the backend under test must serve
// it, and assign it (by a rule, or the kit does through the test-control API).
const (
	thModel   = "acme-th100"
	thVersion = "1.0.0"
)

const thermostat = `
- listen: 127.0.0.1:0
  units:
    - id: 1
      identity: {vendor: ACME Controls, productCode: TH-100, revision: 1.2.0, productName: Room thermostat}
      input: {0: 215, 1: 455, 2: 57920, 3: 1}
      holding: {10: 215, 11: 1, 12: 0, 13: 0, 20: 21576, 21: 12609, 22: 12336, 23: 12337, 100: 0}
      coils: {0: false}
      discretes: {0: false}
`

// gatewayRun is the running gateway and its device.
type gatewayRun struct {
	emu     *modbusemu.Server
	cmd     *exec.Cmd
	exited  chan error
	api     string // the gateway's local API, host:port
	id      string // its gateway id
	localID string // the thermostat's local id
	logFile string
	err     error // why it could not start (every gateway clause fails with it)
}

// gateway starts the gateway once per run, and returns it.
func (k *kit) gateway(ctx context.Context) (*gatewayRun, error) {
	if k.gw != nil {
		return k.gw, k.gw.err
	}
	g := &gatewayRun{id: k.gwID + "-gw", exited: make(chan error, 1)}
	k.gw = g
	g.err = g.start(ctx, k)
	return g, g.err
}

func (g *gatewayRun) start(ctx context.Context, k *kit) error {
	specs, err := modbusemu.DecodeSpecs([]byte(thermostat))
	if err != nil {
		return err
	}
	g.emu, err = modbusemu.Listen(context.WithoutCancel(ctx), specs[0].Listen, specs[0].Units, k.log)
	if err != nil {
		return fmt.Errorf("emulated thermostat: %w", err)
	}
	g.localID = "modbus-tcp/" + g.emu.Addr() + "/1"
	api, err := freePort()
	if err != nil {
		return err
	}
	g.api = api
	dir := filepath.Join(k.dir, "gateway")
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o700); err != nil {
		return err
	}
	token := ""
	if k.opts.TokenFile != "" {
		abs, err := filepath.Abs(k.opts.TokenFile)
		if err != nil {
			return err
		}
		token = fmt.Sprintf(", tokenFile: %q", abs)
	}
	cfg := fmt.Sprintf(`gateway: {id: %s, stateDir: %q}
backend: {url: %q%s, inboxWait: 2s, timeout: 5s}
api: {listen: %q}
discovery: {atStart: true, interval: 0s}
telemetry: {batchSize: 200, flushInterval: 100ms}
buses:
  - name: conform
    protocol: modbus-tcp
    settings:
      endpoints: [%q]
      units: "1"
      timeout: 500ms
      probeTimeout: 150ms
`, g.id, filepath.Join(dir, "state"), k.opts.Backend, token, api, g.emu.Addr())
	cfgFile := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		return err
	}
	g.logFile = filepath.Join(dir, "fieldgate.log")
	logf, err := os.Create(g.logFile)
	if err != nil {
		return err
	}
	g.cmd = exec.Command(k.opts.Fieldgate, "run", "--config", cfgFile)
	g.cmd.Stdout, g.cmd.Stderr = logf, logf
	if err := g.cmd.Start(); err != nil {
		_ = logf.Close()
		return fmt.Errorf("start %s: %w", k.opts.Fieldgate, err)
	}
	go func() {
		g.exited <- g.cmd.Wait()
		_ = logf.Close()
	}()
	k.log.Info("gateway started", "pid", g.cmd.Process.Pid, "api", api, "log", g.logFile)
	return g.waitFor(ctx, 30*time.Second, "the gateway's local API", func() error {
		_, err := g.get(ctx, "/api/v1/devices")
		return err
	})
}

func (k *kit) stopGateway() {
	g := k.gw
	if g == nil {
		return
	}
	if g.cmd != nil && g.cmd.Process != nil {
		_ = g.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-g.exited:
		case <-time.After(20 * time.Second):
			_ = g.cmd.Process.Kill()
			<-g.exited
		}
	}
	if g.emu != nil {
		_ = g.emu.Close()
	}
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

func (g *gatewayRun) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+g.api+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, strings.TrimSpace(buf.String()))
	}
	return buf.Bytes(), nil
}

// waitFor polls cond every 200 ms until it holds, within, ctx ends or the
// gateway exits; the error says what was last seen.
func (g *gatewayRun) waitFor(ctx context.Context, within time.Duration, what string, cond func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %s: %w (gateway log: %s)", what, within, err, g.logFile)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w; last: %v", what, ctx.Err(), err)
		case err := <-g.exited:
			g.exited <- err
			return fmt.Errorf("%s: the gateway exited (%v); see %s", what, err, g.logFile)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// device is the gateway's view of one device (its local API).
type device struct {
	LocalID  string `json:"localId"`
	DeviceID string `json:"deviceId"`
	Status   string `json:"status"`
	Reason   string `json:"reason"`
	Model    string `json:"model"`
	Revision int64  `json:"revision"`
	Polls    uint64 `json:"polls"`
}

func (g *gatewayRun) device(ctx context.Context) (device, error) {
	body, err := g.get(ctx, "/api/v1/devices")
	if err != nil {
		return device{}, err
	}
	var devs []device
	if err := json.Unmarshal(body, &devs); err != nil {
		return device{}, fmt.Errorf("devices: %w", err)
	}
	for _, d := range devs {
		if d.LocalID == g.localID {
			return d, nil
		}
	}
	return device{}, fmt.Errorf("the thermostat %s is not known to the gateway yet", g.localID)
}

var (
	metricLine = regexp.MustCompile(`^fieldgate_backend_request_duration_seconds_count\{([^}]*)\} ([0-9.e+]+)$`)
	codeLabel  = regexp.MustCompile(`code="([^"]*)"`)
)

// calls counts the gateway's backend calls of one kind by HTTP status (from
// its /metrics).
func (g *gatewayRun) calls(ctx context.Context, call string) (map[string]float64, error) {
	body, err := g.get(ctx, "/metrics")
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		m := metricLine.FindStringSubmatch(sc.Text())
		if m == nil || !strings.Contains(m[1], `call="`+call+`"`) {
			continue
		}
		code := codeLabel.FindStringSubmatch(m[1])
		n, _ := strconv.ParseFloat(m[2], 64)
		if code != nil {
			out[code[1]] += n
		}
	}
	return out, sc.Err()
}

func clauseGatewayHello(ctx context.Context, k *kit) (string, error) {
	g, err := k.gateway(ctx)
	if err != nil {
		return "", err
	}
	var seen map[string]float64
	err = g.waitFor(ctx, 30*time.Second, "a hello answered 2xx", func() error {
		var err error
		if seen, err = g.calls(ctx, "hello"); err != nil {
			return err
		}
		if seen["200"]+seen["204"] > 0 {
			return nil
		}
		return fmt.Errorf("hello answers so far by status: %v", seen)
	})
	return fmt.Sprint(seen), err
}

func clauseGatewayAssigned(ctx context.Context, k *kit) (string, error) {
	g, err := k.gateway(ctx)
	if err != nil {
		return "", err
	}
	assigned := false
	err = g.waitFor(ctx, 60*time.Second, "the thermostat running "+thModel, func() error {
		d, err := g.device(ctx)
		if err != nil {
			return err
		}
		if d.Model != "" && d.Polls > 0 {
			if !strings.HasPrefix(d.Model, thModel+"@") {
				return fmt.Errorf("runs %s, want %s@…", d.Model, thModel)
			}
			return nil
		}
		if d.Status == backendclient.StatusPending && k.control != nil && !assigned && d.DeviceID != "" {
			// No rule assigned it: the kit does, as a person would.
			a, err := k.control.call(ctx, http.MethodPost, "/admin/devices/"+url.PathEscape(d.DeviceID)+"/assignment",
				map[string]any{"model": thModel, "version": thVersion})
			if err != nil {
				return err
			}
			if err := want("test-control assignment", a, http.StatusOK); err != nil {
				return err
			}
			assigned = true
		}
		return fmt.Errorf("status %s %s, model %q, polls %d", d.Status, d.Reason, d.Model, d.Polls)
	})
	if err != nil {
		return "", err
	}
	how := "by the backend's answer"
	if assigned {
		how = "after the kit assigned it through the test-control API"
	}
	return "assigned " + how, nil
}

func clauseModelFetch(ctx context.Context, k *kit) (string, error) {
	g, err := k.gateway(ctx)
	if err != nil {
		return "", err
	}
	d, err := g.device(ctx)
	if err != nil {
		return "", err
	}
	id, version, ok := strings.Cut(d.Model, "@")
	if !ok {
		return "", skip("the thermostat runs no model (see gateway.assigned)")
	}
	path := "/api/v1/models/" + url.PathEscape(id) + "/versions/" + url.PathEscape(version)
	a, err := k.api.call(ctx, http.MethodGet, path, nil)
	if err != nil {
		return "", err
	}
	if err := want("model", a, http.StatusOK); err != nil {
		return "", err
	}
	if !json.Valid(a.body) {
		return "", fmt.Errorf("model %s: not JSON: %s", d.Model, a)
	}
	etag := a.header.Get("ETag")
	if etag == "" {
		return "no ETag (optional)", nil
	}
	b, err := k.api.call(ctx, http.MethodGet, path, nil, withHeader("If-None-Match", etag))
	if err != nil {
		return "", err
	}
	switch {
	case b.status == http.StatusNotModified:
		return "ETag; 304 on If-None-Match", nil
	case b.status == http.StatusOK && bytes.Equal(b.body, a.body):
		return "ETag; 200 again on If-None-Match", nil
	}
	return "", fmt.Errorf("model with If-None-Match %s: want 304 or the same 200, got %s", etag, b)
}

func clauseGatewayTelemetry(ctx context.Context, k *kit) (string, error) {
	g, err := k.gateway(ctx)
	if err != nil {
		return "", err
	}
	var seen map[string]float64
	err = g.waitFor(ctx, 60*time.Second, "telemetry answered 200", func() error {
		if seen, err = g.calls(ctx, "telemetry"); err != nil {
			return err
		}
		if seen["200"] > 0 {
			return nil
		}
		return fmt.Errorf("telemetry answers so far by status: %v", seen)
	})
	if err != nil {
		return "", err
	}
	for code, n := range seen {
		if strings.HasPrefix(code, "4") && code != "401" && code != "403" && code != "429" && code != "408" {
			return "", fmt.Errorf("the backend refused telemetry for good %v times with %s (all: %v; gateway log: %s)", n, code, seen, g.logFile)
		}
	}
	return fmt.Sprint(seen), nil
}

// operation is what the test-control API says of an operation.
type operation struct {
	ID      string                   `json:"id"`
	Status  string                   `json:"status"`
	Output  json.RawMessage          `json:"output"`
	Error   *backendclient.ErrorBody `json:"error"`
	History []struct {
		Status string `json:"status"`
	} `json:"history"`
}

func (o operation) statuses() []string {
	var s []string
	for _, h := range o.History {
		s = append(s, h.Status)
	}
	return s
}

// runOperation queues a write on the thermostat through the test-control API
// and waits for its final status.
func (k *kit) runOperation(ctx context.Context, input string) (operation, error) {
	g, err := k.gateway(ctx)
	if err != nil {
		return operation{}, err
	}
	d, err := g.device(ctx)
	if err != nil {
		return operation{}, err
	}
	if d.Model == "" || d.DeviceID == "" {
		return operation{}, skip("the thermostat is not running a model with a device id (see gateway.assigned)")
	}
	a, err := k.control.call(ctx, http.MethodPost, "/admin/operations",
		map[string]any{"deviceId": d.DeviceID, "name": "write", "input": json.RawMessage(input)})
	if err != nil {
		return operation{}, err
	}
	if err := want("test-control: queue an operation", a, http.StatusOK, http.StatusCreated, http.StatusAccepted); err != nil {
		return operation{}, err
	}
	var created struct {
		ID string `json:"id"`
	}
	if err := decode("test-control: queue an operation", a, &created); err != nil || created.ID == "" {
		return operation{}, fmt.Errorf("test-control: queue an operation: no id in %s", a)
	}
	var op operation
	err = g.waitFor(ctx, 30*time.Second, "operation "+created.ID+" final", func() error {
		a, err := k.control.call(ctx, http.MethodGet, "/admin/operations/"+url.PathEscape(created.ID), nil)
		if err != nil {
			return err
		}
		if err := want("test-control: operation", a, http.StatusOK); err != nil {
			return err
		}
		if err := decode("test-control: operation", a, &op); err != nil {
			return err
		}
		if op.Status == backendclient.OpSucceeded || op.Status == backendclient.OpFailed {
			return nil
		}
		return fmt.Errorf("status %s", op.Status)
	})
	return op, err
}

func clauseGatewayOperation(ctx context.Context, k *kit) (string, error) {
	op, err := k.runOperation(ctx, `{"setpoint": 22.5}`)
	if err != nil {
		return "", err
	}
	var errs []error
	if op.Status != backendclient.OpSucceeded {
		errs = append(errs, fmt.Errorf("write setpoint 22.5: want SUCCEEDED, got %s %+v", op.Status, op.Error))
	}
	var out struct {
		Steps *int `json:"steps"`
	}
	if json.Unmarshal(op.Output, &out) != nil || out.Steps == nil {
		errs = append(errs, fmt.Errorf("output: want {\"steps\":N}, got %s", op.Output))
	}
	if got := k.gw.emu.Unit(1).Holding(10); got != 225 {
		errs = append(errs, fmt.Errorf("the device's setpoint register holds %d, want 225", got))
	}
	if err := checkOrder(op.statuses()); err != nil {
		errs = append(errs, err)
	}
	return strings.Join(op.statuses(), " → "), errors.Join(errs...)
}

// checkOrder: EXECUTING at most once and never after a final status; one
// final status, last.
func checkOrder(h []string) error {
	exe, final := 0, 0
	for _, s := range h {
		switch s {
		case backendclient.OpExecuting:
			exe++
			if final > 0 {
				return fmt.Errorf("history %v: EXECUTING after the final status", h)
			}
		case backendclient.OpSucceeded, backendclient.OpFailed:
			final++
		}
	}
	if exe > 1 || final != 1 || (len(h) > 0 && h[len(h)-1] != backendclient.OpSucceeded && h[len(h)-1] != backendclient.OpFailed) {
		return fmt.Errorf("history %v: want QUEUED, EXECUTING at most once, then one final status", h)
	}
	return nil
}

func clauseGatewayOperationRefused(ctx context.Context, k *kit) (string, error) {
	op, err := k.runOperation(ctx, `{"setpoint": 99}`)
	if err != nil {
		return "", err
	}
	var errs []error
	if op.Status != backendclient.OpFailed || op.Error == nil || op.Error.Code != "out-of-range" {
		errs = append(errs, fmt.Errorf("write setpoint 99 (max 30): want FAILED out-of-range, got %s %+v", op.Status, op.Error))
	}
	for _, s := range op.statuses() {
		if s == backendclient.OpExecuting {
			errs = append(errs, fmt.Errorf("history %v: EXECUTING for an operation refused before the wire", op.statuses()))
		}
	}
	return strings.Join(op.statuses(), " → "), errors.Join(errs...)
}

func clauseGatewayReassign(ctx context.Context, k *kit) (string, error) {
	g, err := k.gateway(ctx)
	if err != nil {
		return "", err
	}
	d, err := g.device(ctx)
	if err != nil {
		return "", err
	}
	id, version, ok := strings.Cut(d.Model, "@")
	if !ok || d.DeviceID == "" {
		return "", skip("the thermostat is not running a model with a device id (see gateway.assigned)")
	}
	a, err := k.control.call(ctx, http.MethodPost, "/admin/devices/"+url.PathEscape(d.DeviceID)+"/assignment",
		map[string]any{"model": id, "version": version, "pollIntervalMs": 1500})
	if err != nil {
		return "", err
	}
	if err := want("test-control assignment", a, http.StatusOK); err != nil {
		return "", err
	}
	var now device
	err = g.waitFor(ctx, 30*time.Second, "the new revision running", func() error {
		if now, err = g.device(ctx); err != nil {
			return err
		}
		if now.Model == d.Model && now.Revision > d.Revision {
			return nil
		}
		return fmt.Errorf("runs %s revision %d (was revision %d)", now.Model, now.Revision, d.Revision)
	})
	return fmt.Sprintf("revision %d → %d", d.Revision, now.Revision), err
}
