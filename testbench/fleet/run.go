package fleet

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fieldgate/fieldgate/testbench/chaosproxy"
)

// Options configures Run.
type Options struct {
	Fieldgate string // the fieldgate binary (required)
	Testbench string // the testbench binary that serves the bench files (required)
	Dir       string // work directory; each workload gets a fresh sub-directory
	Workloads []Workload
	// Warmup bounds the wait until every device is assigned and polled.
	Warmup time.Duration
	Out    io.Writer    // one line per run
	Log    *slog.Logger // progress
}

// Settling times: after warm-up (the first uploads of a fresh gateway), and
// after the added latency is switched on.
const (
	settle    = 3 * time.Second
	settleRTT = 5 * time.Second
	// maxProfile is the longest CPU profile taken of the gateway.
	maxProfile = 20 * time.Second
)

// Run runs each workload in turn and prints its line to opts.Out; a failed
// workload gets a FAILED line and the others run on. It returns an error when
// any failed, and stops (every child process with it) when ctx ends.
func Run(ctx context.Context, opts Options) error {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	// The children run in their workload's directory: a relative binary path
	// would no longer name the binary there.
	for _, bin := range []*string{&opts.Fieldgate, &opts.Testbench} {
		if strings.ContainsRune(*bin, filepath.Separator) {
			abs, err := filepath.Abs(*bin)
			if err != nil {
				return err
			}
			*bin = abs
		}
	}
	failed := 0
	var every *Result // the on-change pair is compared
	for _, w := range opts.Workloads {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted: %w", ctx.Err())
		}
		res, err := runWorkload(ctx, w, opts)
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted during %s: %w", w.Label(), ctx.Err())
		}
		if err != nil {
			failed++
			fmt.Fprintf(opts.Out, "%s FAILED: %v\n", w.Label(), err)
			continue
		}
		if w.Name == "onchange" && w.Report == ReportEvery {
			every = res
		}
		if w.Name == "onchange" && w.Report == ReportChange {
			res.compare = every
		}
		fmt.Fprintln(opts.Out, res.Line())
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d runs failed (see the FAILED lines)", failed, len(opts.Workloads))
	}
	return nil
}

// runWorkload starts the processes of w, warms up, measures one window and
// stops everything again (also on errors and when ctx ends).
func runWorkload(ctx context.Context, w Workload, opts Options) (*Result, error) {
	dir, err := filepath.Abs(filepath.Join(opts.Dir, strings.ReplaceAll(w.Label(), "/", "-")))
	if err != nil {
		return nil, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	ports, err := freePorts(w.Devices + 2)
	if err != nil {
		return nil, err
	}
	l := Layout{Dir: dir, DevicePorts: ports[:w.Devices],
		BackendAddr: fmt.Sprintf("127.0.0.1:%d", ports[w.Devices]), APIAddr: fmt.Sprintf("127.0.0.1:%d", ports[w.Devices+1])}
	// The proxy counts the bytes the gateway sends; faults stay disabled. Its
	// only log lines would be forwards cut short at shutdown: not kept.
	proxy, err := chaosproxy.Listen(ctx, "127.0.0.1:0", chaosproxy.Config{Upstream: l.BackendAddr}, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	defer proxy.Close()
	l.ProxyAddr = proxy.Addr()
	if err := WriteFiles(w, l); err != nil {
		return nil, err
	}
	log := opts.Log.With("workload", w.Label())

	log.Info("starting the device emulators", "devices", w.Devices, "points", w.Points)
	devices, err := startChild("devices", dir, opts.Testbench, "run", "--bench", filepath.Join(dir, devicesFile))
	if err != nil {
		return nil, err
	}
	defer devices.stop()
	if err := devices.waitLog(ctx, "serving;", time.Minute); err != nil {
		return nil, err
	}
	backend, err := startChild("backend", dir, opts.Testbench, "run", "--bench", filepath.Join(dir, backendFile))
	if err != nil {
		return nil, err
	}
	defer backend.stop()
	if err := backend.waitLog(ctx, "serving;", 30*time.Second); err != nil {
		return nil, fmt.Errorf("the reference backend did not start: %w", err)
	}
	log.Info("starting the gateway", "api", l.APIAddr)
	gw, err := startChild("gateway", dir, opts.Fieldgate, "run", "--config", filepath.Join(dir, gatewayFile))
	if err != nil {
		return nil, err
	}
	defer func() {
		log.Info("stopping: gateway, proxy, backend, devices")
		gw.stop()
		_ = proxy.Close() // before the backend: no forwarded long-poll ends in an upstream error
	}()
	p := &probe{api: "http://" + l.APIAddr, backend: "http://" + l.BackendAddr, gw: gw, be: backend, proxy: proxy}

	if err := p.warmUp(ctx, w.Devices, opts.Warmup, log); err != nil {
		return nil, err
	}
	if err := sleep(ctx, settle); err != nil {
		return nil, err
	}
	if w.RTT > 0 {
		if err := proxy.SetLatency(w.RTT); err != nil {
			return nil, err
		}
		log.Info("added round trip between gateway and backend", "rtt", w.RTT)
		if err := sleep(ctx, settleRTT); err != nil {
			return nil, err
		}
	}
	res, err := p.measure(ctx, w, dir, log)
	if err != nil {
		return nil, err
	}
	// A child that died during the window makes its figures meaningless.
	for _, c := range []*child{gw, backend, devices} {
		if err := c.exitErr(); err != nil {
			return nil, fmt.Errorf("during the window: %w", err)
		}
	}
	return res, nil
}
