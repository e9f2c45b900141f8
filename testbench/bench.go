package testbench

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/adapters/coap"
	"github.com/fieldgate/fieldgate/adapters/modbus"
	"github.com/fieldgate/fieldgate/adapters/serial"
	"github.com/fieldgate/fieldgate/models"
	"github.com/fieldgate/fieldgate/testbench/backend"
	"github.com/fieldgate/fieldgate/testbench/coapemu"
	"github.com/fieldgate/fieldgate/testbench/modbusemu"
	"github.com/fieldgate/fieldgate/testbench/serialemu"
	"github.com/fieldgate/fieldgate/testbench/textemu"
)

//go:embed demo/devices.yaml demo/rtu.yaml demo/serial.yaml demo/coap.yaml demo/rules.yaml demo/models
var demoFS embed.FS

// Bench is a bench file: the reference backend and the emulated devices.
type Bench struct {
	Backend   *BackendSpec            `yaml:"backend"`
	ModbusTCP []modbusemu.ServerSpec  `yaml:"modbusTcp"`
	ModbusRTU []modbusemu.RTUPortSpec `yaml:"modbusRtu"` // RTU units on emulated RS-485 lines (ptys)
	Serial    []textemu.DeviceSpec    `yaml:"serial"`    // text-protocol devices on emulated lines
	Coap      []coapemu.DeviceSpec    `yaml:"coap"`      // CoAP devices on UDP

	models [][]byte // model documents given inline (the embedded demo)
}

// BackendSpec configures the reference backend of a bench.
type BackendSpec struct {
	Listen string         `yaml:"listen"` // default 127.0.0.1:8480
	DB     string         `yaml:"db"`     // bbolt file; default ./state/bench/backend.db
	Token  string         `yaml:"token"`  // bearer token gateways must send; empty: none
	Models string         `yaml:"models"` // directory of model files (relative to the bench file)
	Rules  []backend.Rule `yaml:"rules"`
	// AdminToken is the bearer token of the admin API and the web view;
	// required when the backend listens on anything but loopback.
	AdminToken string `yaml:"adminToken"`
	// AllowedHosts are the names the admin API and web view answer to besides
	// addresses and localhost (the name a browser uses to reach the bench).
	AllowedHosts []string `yaml:"allowedHosts"`
}

// DefaultBackendListen is where the reference backend listens unless told otherwise.
const DefaultBackendListen = "127.0.0.1:8480"

// LoadBench reads a bench file; relative paths in it are relative to the file.
func LoadBench(file string) (*Bench, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	b, err := DecodeBench(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if b.Backend != nil && b.Backend.Models != "" && !filepath.IsAbs(b.Backend.Models) {
		b.Backend.Models = filepath.Join(filepath.Dir(file), b.Backend.Models)
	}
	return b, nil
}

// DecodeBench decodes a bench file strictly: unknown fields are errors. Each
// device section is decoded and validated by its emulator package.
func DecodeBench(data []byte) (*Bench, error) {
	var raw struct {
		Backend   *BackendSpec `yaml:"backend"`
		ModbusTCP yaml.Node    `yaml:"modbusTcp"`
		ModbusRTU yaml.Node    `yaml:"modbusRtu"`
		Serial    yaml.Node    `yaml:"serial"`
		Coap      yaml.Node    `yaml:"coap"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	b := &Bench{Backend: raw.Backend}
	var errs []error
	section(&errs, "modbusTcp", &raw.ModbusTCP, modbusemu.DecodeSpecs, &b.ModbusTCP)
	section(&errs, "modbusRtu", &raw.ModbusRTU, modbusemu.DecodeRTUSpecs, &b.ModbusRTU)
	section(&errs, "serial", &raw.Serial, textemu.DecodeSpecs, &b.Serial)
	section(&errs, "coap", &raw.Coap, coapemu.DecodeSpecs, &b.Coap)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return b, nil
}

// section decodes one device section of a bench file with its emulator's
// decoder (which reports paths and lines within the section).
func section[T any](errs *[]error, name string, node *yaml.Node, decode func([]byte) ([]T, error), dst *[]T) {
	if node.Kind == 0 {
		return
	}
	src, err := yaml.Marshal(node)
	if err == nil {
		*dst, err = decode(src)
	}
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%s: %w", name, err))
	}
}

// Demo returns the embedded demo bench: two ACME thermostats and a Voltix power
// meter (plus an unknown device that stays pending) on 127.0.0.1:5020 and :5021,
// and the reference backend on 127.0.0.1:8480 with their models and rules.
func Demo() (*Bench, error) {
	devices, err := demoFS.ReadFile("demo/devices.yaml")
	if err != nil {
		return nil, err
	}
	specs, err := modbusemu.DecodeSpecs(devices)
	if err != nil {
		return nil, fmt.Errorf("demo/devices.yaml: %w", err)
	}
	rulesSrc, err := demoFS.ReadFile("demo/rules.yaml")
	if err != nil {
		return nil, err
	}
	rules, err := backend.DecodeRules(rulesSrc)
	if err != nil {
		return nil, fmt.Errorf("demo/rules.yaml: %w", err)
	}
	b := &Bench{Backend: &BackendSpec{Rules: rules}, ModbusTCP: specs}
	var errs []error
	demoSection(&errs, "demo/rtu.yaml", modbusemu.DecodeRTUSpecs, &b.ModbusRTU)
	demoSection(&errs, "demo/serial.yaml", textemu.DecodeSpecs, &b.Serial)
	demoSection(&errs, "demo/coap.yaml", coapemu.DecodeSpecs, &b.Coap)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	err = fs.WalkDir(demoFS, "demo/models", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch path.Ext(p) {
		case ".json", ".yaml", ".yml":
			src, err := demoFS.ReadFile(p)
			if err != nil {
				return err
			}
			b.models = append(b.models, src)
		}
		return nil
	})
	return b, err
}

func demoSection[T any](errs *[]error, file string, decode func([]byte) ([]T, error), dst *[]T) {
	src, err := demoFS.ReadFile(file)
	if err == nil {
		*dst, err = decode(src)
	}
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%s: %w", file, err))
	}
}

// Running is a started bench.
type Running struct {
	Backend     *backend.Server
	BackendAddr string // host:port of the backend's HTTP server, "" when none
	Emulators   []*modbusemu.Server
	RTULines    []*serialemu.Line // one per modbusRtu port, in bench order
	RTU         []*modbusemu.RTUServer
	Text        []*textemu.Device
	Coap        []*coapemu.Device

	httpSrv *http.Server
}

// Options changes where a bench runs (tests use ephemeral ports and temp files).
type Options struct {
	BackendListen string // overrides the bench file
	BackendDB     string // overrides the bench file
	// EphemeralDevices serves every emulated device server on 127.0.0.1:0.
	EphemeralDevices bool
	// SerialDir is where the stable links of emulated serial lines go (like
	// /dev/serial/by-id); default ./state/bench/tty.
	SerialDir string
	// Binders check the protocol parts of the backend's models; nil: those of
	// the protocols the testbench emulates (ModelBinders).
	Binders []models.Binder
}

// ModelBinders are the model binders of the adapters of the protocols the
// testbench emulates: what its reference backend checks models with unless
// told otherwise.
func ModelBinders() []models.Binder {
	return adapters.NewTable(modbus.NewTCP(), modbus.NewRTU(), serial.NewText(), coap.New()).Binders()
}

// DefaultSerialDir is where a bench puts the links of its emulated serial lines.
const DefaultSerialDir = "state/bench/tty"

// Start starts the emulators, then the backend. On failure what was started is
// stopped. Fixed addresses that are taken are all named first (CheckPorts),
// before anything starts.
func Start(ctx context.Context, b *Bench, opts Options, log *slog.Logger) (_ *Running, err error) {
	if err := CheckPorts(b.Ports(opts)); err != nil {
		return nil, err
	}
	r := &Running{}
	defer func() {
		if err != nil {
			r.Close() // r, not the nil result: what was started
		}
	}()
	for i, spec := range b.ModbusTCP {
		addr := spec.Listen
		if opts.EphemeralDevices {
			addr = "127.0.0.1:0"
		}
		spec.Listen = addr
		srv, err := modbusemu.Serve(ctx, spec, log.With("emulator", addr))
		if err != nil {
			return nil, fmt.Errorf("modbusTcp[%d]: %w", i, err)
		}
		r.Emulators = append(r.Emulators, srv)
	}
	if err := r.startSerialAndCoap(ctx, b, opts, log); err != nil {
		return nil, err
	}
	if b.Backend == nil {
		return r, nil
	}
	spec := *b.Backend
	spec.Listen = backendListen(b.Backend, opts)
	if opts.BackendDB != "" {
		spec.DB = opts.BackendDB
	}
	if spec.DB == "" {
		spec.DB = filepath.Join("state", "bench", "backend.db")
	}
	if err := os.MkdirAll(filepath.Dir(spec.DB), 0o750); err != nil {
		return nil, err
	}
	binders := opts.Binders
	if binders == nil {
		binders = ModelBinders()
	}
	if !loopbackListen(spec.Listen) && spec.AdminToken == "" {
		return nil, fmt.Errorf("backend.adminToken: required when the backend listens on %q, not on loopback: its admin API assigns models and sends operations to devices", spec.Listen)
	}
	srv, err := backend.Open(backend.Config{DBPath: spec.DB, Token: spec.Token, ModelsDir: spec.Models, Rules: spec.Rules, Binders: binders,
		AdminToken: spec.AdminToken, AllowedHosts: spec.AllowedHosts}, log.With("component", "backend"))
	if err != nil {
		return nil, fmt.Errorf("backend: %w", err)
	}
	r.Backend = srv
	for _, src := range b.models {
		if err := srv.AddModel(src); err != nil {
			return nil, fmt.Errorf("backend: demo model: %w", err)
		}
	}
	ln, err := net.Listen("tcp", spec.Listen)
	if err != nil {
		return nil, fmt.Errorf("backend: %w", err)
	}
	r.BackendAddr = ln.Addr().String()
	r.httpSrv = &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := r.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("backend HTTP server stopped", "err", err)
		}
	}()
	return r, nil
}

// startSerialAndCoap starts the emulated serial lines (RTU units, text
// devices) and the CoAP devices.
func (r *Running) startSerialAndCoap(ctx context.Context, b *Bench, opts Options, log *slog.Logger) error {
	dir := opts.SerialDir
	if dir == "" {
		dir = DefaultSerialDir
	}
	if len(b.ModbusRTU)+len(b.Serial) > 0 {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return err
		}
	}
	for i, spec := range b.ModbusRTU {
		line, err := serialemu.NewLine(spec.LineConfig(dir))
		if err != nil {
			return fmt.Errorf("modbusRtu[%d]: %w", i, err)
		}
		r.RTULines = append(r.RTULines, line)
		o := spec.Options()
		o.Logger = log.With("emulator", line.Path())
		srv, err := modbusemu.ServeRTU(ctx, line, spec.Units, o)
		if err != nil {
			return fmt.Errorf("modbusRtu[%d]: %w", i, err)
		}
		r.RTU = append(r.RTU, srv)
	}
	for i, spec := range b.Serial {
		dev, err := textemu.Plug(ctx, dir, spec, log.With("emulator", spec.Name))
		if err != nil {
			return fmt.Errorf("serial[%d]: %w", i, err)
		}
		r.Text = append(r.Text, dev)
	}
	for i, spec := range b.Coap {
		if opts.EphemeralDevices {
			spec.Listen = "127.0.0.1:0"
		}
		dev, err := coapemu.Listen(ctx, spec, log.With("emulator", spec.Name))
		if err != nil {
			return fmt.Errorf("coap[%d]: %w", i, err)
		}
		r.Coap = append(r.Coap, dev)
	}
	return nil
}

// Close stops the backend, then the emulators.
func (r *Running) Close() {
	if r.httpSrv != nil {
		_ = r.httpSrv.Close()
	}
	if r.Backend != nil {
		_ = r.Backend.Close()
	}
	for _, e := range r.Emulators {
		_ = e.Close()
	}
	for _, s := range r.RTU {
		_ = s.Close()
	}
	for _, l := range r.RTULines {
		_ = l.Close()
	}
	for _, d := range r.Text {
		_ = d.Close()
	}
	for _, d := range r.Coap {
		_ = d.Close()
	}
}

// Describe lists where everything of a running bench listens, for people.
func (r *Running) Describe() string {
	var sb strings.Builder
	if r.BackendAddr != "" {
		fmt.Fprintf(&sb, "reference backend: http://%s/ (web view), http://%s/admin/devices (admin API), http://%s/api/v1 (gateway API)\n", r.BackendAddr, r.BackendAddr, r.BackendAddr)
	}
	for _, e := range r.Emulators {
		fmt.Fprintf(&sb, "modbus tcp emulator: %s\n", e.Addr())
	}
	for _, l := range r.RTULines {
		fmt.Fprintf(&sb, "modbus rtu line: %s (now %s)\n", l.Path(), l.TTY())
	}
	for _, d := range r.Text {
		fmt.Fprintf(&sb, "serial text device: %s (now %s)\n", d.Line().Path(), d.Line().TTY())
	}
	for _, d := range r.Coap {
		fmt.Fprintf(&sb, "coap device: coap://%s\n", d.Addr())
	}
	return sb.String()
}
