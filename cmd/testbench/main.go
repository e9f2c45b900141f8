// Command testbench runs emulated devices and the reference backend.
//
//	testbench run [--bench FILE]            serve a bench (without --bench: the embedded demo bench)
//	testbench demo [--fieldgate PATH]       the demo: the demo bench plus the gateway, narrated
//	testbench fleet [flags]                 the fleet benchmark: one line of figures per workload
//	testbench conform --backend URL [flags] the backend API v1 conformance kit: PASS/FAIL per clause
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/fieldgate/fieldgate/testbench"
	"github.com/fieldgate/fieldgate/testbench/conform"
	"github.com/fieldgate/fieldgate/testbench/fleet"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testbench:", err)
		var u usageError
		if errors.As(err, &u) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

const usage = `usage:
  testbench run [--bench FILE] [--listen ADDR] [--db FILE]
        serve a bench file's emulated devices and reference backend until Ctrl-C
        (without --bench: the embedded demo bench)
  testbench demo [--fieldgate PATH] [--keep-state]
        the demo: the demo bench, plus "fieldgate run" with its embedded demo config,
        narrated as devices are discovered, registered, assigned and polled
  testbench fleet [--devices 1000 --points 20 --interval 1s --window 30s --short-window 15s
        --rtt 100ms --workloads fleet,fleet-rtt,single100,single1000,onchange
        --fieldgate PATH --dir state/fleet --warmup 2m]
        the fleet benchmark: emulated devices, the reference backend and the gateway as
        separate processes on loopback; one line of figures per workload
  testbench conform --backend URL [--token FILE] [--control URL|none] [--control-token FILE] [--fieldgate PATH]
        [--only ID,ID] [--dir DIR] [-v] [--list]
        the backend API v1 conformance kit: checks a backend clause by clause (wire
        clauses, then a real fieldgate with an emulated thermostat against it) and
        prints PASS/FAIL/SKIP per clause with the evidence; exit status 1 when one fails`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{usage}
	}
	switch args[0] {
	case "run":
		return cmdRun(ctx, args[1:], stdout, stderr)
	case "demo":
		return cmdDemo(ctx, args[1:], stdout, stderr)
	case "fleet":
		return cmdFleet(ctx, args[1:], stdout, stderr)
	case "conform":
		return cmdConform(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q\n%s", args[0], usage)}
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	benchFile := fs.String("bench", "", "bench file (YAML); empty: the embedded demo bench")
	listen := fs.String("listen", "", "reference backend address (overrides the bench file)")
	db := fs.String("db", "", "reference backend database file (overrides the bench file)")
	verbose := fs.Bool("v", false, "log every request")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("run: unexpected argument %q", fs.Arg(0))}
	}
	var b *testbench.Bench
	var err error
	if *benchFile == "" {
		b, err = testbench.Demo()
	} else {
		b, err = testbench.LoadBench(*benchFile)
	}
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	r, err := testbench.Start(ctx, b, testbench.Options{BackendListen: *listen, BackendDB: *db}, log)
	if err != nil {
		return err
	}
	defer r.Close()
	fmt.Fprint(stdout, r.Describe())
	fmt.Fprintln(stdout, "serving; Ctrl-C stops")
	<-ctx.Done()
	return nil
}

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fieldgate := fs.String("fieldgate", "", "the fieldgate binary (default: next to this one, then $PATH)")
	keep := fs.Bool("keep-state", false, "keep the backend's and the gateway's state from the last demo run")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("demo: unexpected argument %q", fs.Arg(0))}
	}
	return testbench.RunDemo(ctx, testbench.DemoOptions{Fieldgate: *fieldgate, KeepState: *keep, Out: stdout})
}

func cmdFleet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	d := fleet.DefaultParams()
	var p fleet.Params
	fs.IntVar(&p.Devices, "devices", d.Devices, "emulated Modbus TCP devices of the fleet workloads (each its own endpoint)")
	fs.IntVar(&p.Points, "points", d.Points, "holding registers per device of the fleet workloads")
	fs.DurationVar(&p.Interval, "interval", d.Interval, "poll interval of the fleet workloads")
	fs.DurationVar(&p.Window, "window", d.Window, "measured window of the fleet workloads")
	fs.DurationVar(&p.ShortWindow, "short-window", d.ShortWindow, "measured window of the single-device workloads")
	fs.DurationVar(&p.RTT, "rtt", d.RTT, "round trip added between gateway and backend in fleet-rtt")
	names := fs.String("workloads", strings.Join(fleet.WorkloadNames, ","), "workloads to run, in order")
	fieldgate := fs.String("fieldgate", "", "the fieldgate binary (default: next to this one, then $PATH)")
	dir := fs.String("dir", "state/fleet", "work directory: bench files, configs, state, logs and profiles of each workload")
	warmup := fs.Duration("warmup", 2*time.Minute, "longest wait until every device is assigned and polled")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("fleet: unexpected argument %q", fs.Arg(0))}
	}
	workloads, err := fleet.Workloads(*names, p)
	if err != nil {
		return usageError{"fleet: " + err.Error()}
	}
	if *warmup <= 0 || *warmup > time.Hour {
		return usageError{fmt.Sprintf("fleet: warmup: must be 0..1h, got %s", *warmup)}
	}
	bin, err := testbench.FindFieldgate(*fieldgate)
	if err != nil {
		return fmt.Errorf("fleet: the fieldgate binary: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	return fleet.Run(ctx, fleet.Options{Fieldgate: bin, Testbench: self, Dir: *dir, Workloads: workloads, Warmup: *warmup,
		Out: stdout, Log: slog.New(slog.NewTextHandler(stderr, nil))})
}

func cmdConform(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("conform", flag.ContinueOnError)
	fs.SetOutput(stderr)
	backendURL := fs.String("backend", "", "the backend's base URL (required), e.g. https://backend.example:8443")
	token := fs.String("token", "", "file holding the bearer token the backend expects (empty: none)")
	control := fs.String("control", "", `base URL of the optional test-control API (the reference backend's /admin calls); empty: the backend URL; "none": not there`)
	controlToken := fs.String("control-token", "", "file holding the bearer token of the test-control API (the reference backend's adminToken; empty: none)")
	fieldgate := fs.String("fieldgate", "", "the fieldgate binary for the gateway clauses (default: next to this one, then $PATH; none found: those clauses are skipped)")
	only := fs.String("only", "", "comma-separated clause ids to run (default: all)")
	dir := fs.String("dir", "", "work directory for the gateway's config, state and log (default: a temporary one, removed)")
	verbose := fs.Bool("v", false, "log what the kit does")
	list := fs.Bool("list", false, "list the clauses and exit")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("conform: unexpected argument %q", fs.Arg(0))}
	}
	if *list {
		for _, c := range conform.Clauses() {
			needs := ""
			if c.Gateway {
				needs += " [gateway]"
			}
			if c.Control {
				needs += " [test-control]"
			}
			fmt.Fprintf(stdout, "%-26s %s%s\n", c.ID, c.Title, needs)
		}
		return nil
	}
	if *backendURL == "" {
		return usageError{"conform: --backend: required"}
	}
	bin := *fieldgate
	if bin == "" {
		if found, err := testbench.FindFieldgate(""); err == nil {
			bin = found
		} else {
			fmt.Fprintln(stdout, "note: no fieldgate binary found (--fieldgate): the gateway clauses are skipped")
		}
	}
	var ids []string
	if *only != "" {
		ids = strings.Split(*only, ",")
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	results, err := conform.Run(ctx, conform.Options{Backend: *backendURL, TokenFile: *token, Control: *control, ControlTokenFile: *controlToken, Fieldgate: bin,
		Dir: *dir, Only: ids, Out: stdout, Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))})
	if err != nil {
		return usageError{"conform: " + err.Error()}
	}
	counts := map[string]int{}
	for _, r := range results {
		counts[r.Verdict]++
	}
	fmt.Fprintf(stdout, "%d clauses: %d passed, %d failed, %d skipped\n", len(results), counts[conform.Pass], counts[conform.Fail], counts[conform.Skip])
	if n := conform.Failed(results); n > 0 {
		return fmt.Errorf("conform: %d clause(s) failed", n)
	}
	return nil
}
