package fleet

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Identity of the emulated fleet devices, matched by the backend's rule.
const (
	vendor      = "Fleetbench"
	gatewayID   = "fleet-gw"
	modelVer    = "1.0.0"
	busName     = "fleet"
	unitID      = 1
	devicesFile = "devices.yaml"
	backendFile = "backend.yaml"
	gatewayFile = "gateway.yaml"
)

// Layout is where the processes of one workload listen and keep their files.
type Layout struct {
	Dir         string // absolute; everything of the run lives here
	DevicePorts []int  // one Modbus TCP endpoint per device on 127.0.0.1
	BackendAddr string // the reference backend (its own process)
	ProxyAddr   string // the counting proxy in front of it: the gateway's backend URL
	APIAddr     string // the gateway's local API
}

func (w Workload) product() string { return fmt.Sprintf("F-%d", w.Points) }

func (w Workload) modelID() string {
	id := fmt.Sprintf("fleet-p%d", w.Points)
	if w.Slow {
		id += "-slow"
	}
	if w.Report == ReportChange {
		id += "-change"
	}
	return id
}

// DevicesBench is the bench file of the emulated devices (no backend: that
// runs in a process of its own, so their CPU is measured apart). Each device
// is one unit behind its own endpoint; its registers drift so values change
// at every poll, or, for a slow device, half stay put and half move by one
// step every 20 to 40 seconds (together about one change every 3 s).
func DevicesBench(w Workload, ports []int) []byte {
	var sb strings.Builder
	sb.WriteString("modbusTcp:\n")
	for _, port := range ports {
		fmt.Fprintf(&sb, "  - listen: 127.0.0.1:%d\n    units:\n", port)
		fmt.Fprintf(&sb, "      - id: %d\n        identity: {vendor: %s, productCode: %s, revision: 1.0.0}\n", unitID, vendor, w.product())
		var holding, drift []string
		for a := range w.Points {
			switch {
			case w.Slow && a%2 == 0:
				holding = append(holding, fmt.Sprintf("%d: %d", a, 100+a))
			case w.Slow:
				drift = append(drift, fmt.Sprintf("{table: holding, address: %d, min: 200, max: 210, period: %dm, kind: sine}", a, 10+a%10))
			default:
				drift = append(drift, fmt.Sprintf("{table: holding, address: %d, min: 0, max: 1000, period: %ds, kind: sine}", a, 20+a%40))
			}
		}
		if len(holding) > 0 {
			fmt.Fprintf(&sb, "        holding: {%s}\n", strings.Join(holding, ", "))
		}
		if len(drift) > 0 {
			sb.WriteString("        drift:\n")
			for _, d := range drift {
				fmt.Fprintf(&sb, "          - %s\n", d)
			}
		}
	}
	return []byte(sb.String())
}

// BackendBench is the bench file of the reference backend: its address and
// database, the models directory (written by Model) and one assignment rule.
func BackendBench(w Workload, l Layout) []byte {
	return fmt.Appendf(nil, `backend:
  listen: %s
  db: %s
  models: models
  rules:
    - {name: fleet, priority: 10, match: {identity.vendor: %s, identity.product: %s}, model: %s, version: %s}
`, l.BackendAddr, filepath.Join(l.Dir, "backend.db"), vendor, w.product(), w.modelID(), modelVer)
}

type modelDoc struct {
	ID           string         `json:"id"`
	Version      string         `json:"version"`
	Manufacturer string         `json:"manufacturer"`
	Product      string         `json:"product"`
	Protocol     string         `json:"protocol"`
	Defaults     map[string]any `json:"defaults"`
	Properties   []modelProp    `json:"properties"`
}

type modelProp struct {
	Name   string         `json:"name"`
	Type   string         `json:"type"`
	Access string         `json:"access"`
	Modbus map[string]any `json:"modbus"`
}

// Model is the model document of the workload's devices: one uint16 holding
// register per property, polled every w.Interval; with ReportChange its
// defaults ask for report-on-change (deadband 0.5, heartbeat 5m).
func Model(w Workload) []byte {
	m := modelDoc{ID: w.modelID(), Version: modelVer, Manufacturer: vendor, Product: w.product(), Protocol: "modbus",
		Defaults: map[string]any{"pollInterval": w.Interval.String(), "timeout": "1s"}}
	if w.Report == ReportChange {
		m.Defaults["report"] = map[string]any{"mode": "change", "deadband": 0.5, "heartbeat": "5m"}
	}
	for a := range w.Points {
		m.Properties = append(m.Properties, modelProp{Name: fmt.Sprintf("r%d", a), Type: "int", Access: "r",
			Modbus: map[string]any{"table": "holding", "address": a, "dataType": "uint16"}})
	}
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		panic(err) // plain structs and maps of strings, numbers and maps: cannot fail
	}
	return append(out, '\n')
}

// GatewayConfig is the gateway's config: one modbus-tcp bus listing every
// endpoint (endpoints scale to thousands where a range would scan empty
// addresses), scanned once at start; the backend behind the proxy; the local
// API with pprof. Telemetry keeps the shipped defaults: they are what is measured.
func GatewayConfig(l Layout) []byte {
	eps := make([]string, len(l.DevicePorts))
	for i, p := range l.DevicePorts {
		eps[i] = fmt.Sprintf("%q", fmt.Sprintf("127.0.0.1:%d", p))
	}
	return fmt.Appendf(nil, `gateway:
  id: %s
  stateDir: %q
backend:
  url: http://%s
api:
  listen: %s
  pprof: true
discovery:
  atStart: true
  interval: 0s
log:
  level: info
buses:
  - name: %s
    protocol: modbus-tcp
    settings:
      units: "%d"
      timeout: 1s
      probeTimeout: 500ms
      endpoints: [%s]
`, gatewayID, filepath.Join(l.Dir, "gw"), l.ProxyAddr, l.APIAddr, busName, unitID, strings.Join(eps, ", "))
}

// WriteFiles writes the bench files, the model and the gateway config of w
// into l.Dir (which it creates).
func WriteFiles(w Workload, l Layout) error {
	if err := os.MkdirAll(filepath.Join(l.Dir, "models"), 0o750); err != nil {
		return err
	}
	files := map[string][]byte{
		devicesFile: DevicesBench(w, l.DevicePorts),
		backendFile: BackendBench(w, l),
		gatewayFile: GatewayConfig(l),
		filepath.Join("models", w.modelID()+".json"): Model(w),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(l.Dir, name), data, 0o640); err != nil {
			return err
		}
	}
	return nil
}
