// Command fieldgate is the gateway daemon.
//
//	fieldgate run [--config FILE]     run the gateway (default config /etc/fieldgate/config.yaml);
//	                                  SIGHUP reloads the config (a bad one is refused)
//	fieldgate run --demo              run the embedded demo config (against testbench run)
//	fieldgate config                  print the commented example config
//	fieldgate check --config FILE     decode and validate a config, and check what run needs
//	                                  of the machine (token files, state dir); report every problem
//	fieldgate model FILE...           decode, validate and compile model documents
//	fieldgate status                  a running daemon's backend, links, outbox, devices
//	fieldgate devices [-v]            what a running daemon found and runs
//	fieldgate scan                    make a running daemon scan its buses now, with progress
//	fieldgate read DEVICE [PROP...]   read a device now
//	fieldgate write DEVICE PROP VALUE write a property (checked against the model)
//	fieldgate op DEVICE NAME K=V...   run an operation (checked against the model)
//	fieldgate version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/fieldgate/fieldgate/adapters/builtin"
	"github.com/fieldgate/fieldgate/gateway"
	"github.com/fieldgate/fieldgate/gateway/config"
	"github.com/fieldgate/fieldgate/gateway/logging"
	"github.com/fieldgate/fieldgate/systemd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, errorText(err, logging.OnJournal(os.Stderr, os.Getenv("JOURNAL_STREAM"))))
		os.Exit(exitCode(err))
	}
}

// errorText is how the command reports err on standard error; for the
// journal every line of it is an error (config problems come one per line).
func errorText(err error, journal bool) string {
	msg := "fieldgate: " + err.Error()
	if journal {
		msg = "<3>" + strings.ReplaceAll(msg, "\n", "\n<3>")
	}
	return msg
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

const usage = `usage:
  fieldgate run [--config FILE]    run the gateway (default --config /etc/fieldgate/config.yaml);
                                   SIGHUP reloads the config (a bad one is refused)
  fieldgate run --demo             run the embedded demo config (talks to "testbench run" on loopback)
  fieldgate config                 print the commented example config (the one the package installs)
  fieldgate check --config FILE    validate a config file and report every problem
  fieldgate model FILE...          validate and compile model documents (JSON or YAML)
  fieldgate model schema           print the model document's JSON Schema (docs/model.schema.json)
  fieldgate model import-edgex --id ID --version V FILE
                                   convert an EdgeX Modbus device profile to a model (JSON on stdout)
  fieldgate model import-wot --id ID --version V FILE
                                   convert a W3C WoT TD/TM (Modbus or CoAP forms) to a model

 On site, through a running daemon's local API (its address and token come from the config,
 default /etc/fieldgate/config.yaml; --config, --api and --token-file override):
  fieldgate status                 backend reachable or why not, links, outbox, device counts
  fieldgate devices [-v]           the devices found: status, model, health, identity, why
                                   pending or rejected; -v: identities in full, last readings
  fieldgate scan [-v]              scan the buses now, with progress per bus; new and known devices
  fieldgate read DEVICE [PROPERTY...]
                                   read a device now (not the last polled values)
  fieldgate write DEVICE PROPERTY VALUE
                                   write a property, VALUE typed by the model
  fieldgate op DEVICE NAME [KEY=VALUE...]
                                   run an operation of the device's model
                                   DEVICE is the local id as devices prints it
                                   (modbus-tcp/127.0.0.1:5020/1); every command takes -h

  fieldgate version                print the version, commit and Go version (also --version)`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{usage}
	}
	switch args[0] {
	case "run":
		return cmdRun(ctx, args[1:], stderr)
	case "check":
		return helped(cmdCheck(args[1:], stdout))
	case "model":
		return helped(cmdModelOrImport(args[1:], stdout, stderr))
	case "status":
		return helped(cmdStatus(ctx, args[1:], stdout))
	case "devices":
		return helped(cmdDevices(ctx, args[1:], stdout))
	case "scan":
		return helped(cmdScan(ctx, args[1:], stdout))
	case "read":
		return helped(cmdRead(ctx, args[1:], stdout))
	case "write":
		return helped(cmdWrite(ctx, args[1:], stdout))
	case "op":
		return helped(cmdOp(ctx, args[1:], stdout))
	case "version", "--version":
		if err := parseFlags(newFlags("version"), "version", args[1:], stdout); err != nil {
			return helped(err)
		}
		fmt.Fprintln(stdout, versionLine())
		return nil
	case "config":
		if err := parseFlags(newFlags("config"), "config", args[1:], stdout); err != nil {
			return helped(err)
		}
		if len(args) > 1 {
			return usageError{"config: takes no arguments; it prints the commented example config"}
		}
		_, err := stdout.Write(systemd.ExampleConfig())
		return err
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q\n%s", args[0], usage)}
}

// loadConfig loads the config file at path, with its bytes; an empty path is
// the embedded demo config (no bytes: it is not kept as a last good config).
func loadConfig(path string) (*config.Config, []byte, error) {
	table := builtin.Builtin()
	if path == "" {
		cfg, err := config.Parse(config.Default(), table)
		return cfg, nil, err
	}
	return config.LoadSource(path, table)
}

// displayPath names a config in messages.
func displayPath(path string) string {
	if path == "" {
		return "embedded demo config"
	}
	return path
}

// gcPercent is the daemon's GC target unless the GOGC environment variable
// sets one: the heap grows to 1.5 times what is live before a collection
// (Go's default: 2 times). A few MiB less memory on a Pi-class gateway for a
// little more GC work; measured with make bench-fleet.
const gcPercent = 50

// DefaultConfigPath is the config `fieldgate run` reads without --config:
// where the package installs it.
const DefaultConfigPath = "/etc/fieldgate/config.yaml"

func cmdRun(ctx context.Context, args []string, stderr io.Writer) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	fs := newFlags("run")
	path := fs.String("config", DefaultConfigPath, "config file (YAML)")
	demo := fs.Bool("demo", false, "run the embedded demo config (talks to `testbench run` on loopback) instead of a config file")
	if err := parseFlags(fs, "run [--config FILE | --demo]", args, stderr); err != nil {
		return helped(err)
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("run: unexpected argument %q", fs.Arg(0))}
	}
	if *demo {
		set := false
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == "config" })
		if set {
			return usageError{"run: --demo and --config exclude each other"}
		}
		*path = ""
	}
	// A config is taken (at start and on reload) only when the machine has
	// what it names: the same check as fieldgate check, so that a reload
	// naming a missing token file is refused and the gateway runs on.
	load := func() (*config.Config, []byte, error) {
		cfg, src, err := loadConfig(*path)
		if err == nil {
			if err = gateway.Preflight(cfg, builtin.Builtin()); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", displayPath(*path), err)
			}
		}
		return cfg, src, err
	}
	cfg, src, err := load()
	var lastGood string
	if err != nil {
		if *path == "" {
			return fmt.Errorf("config: %w", err)
		}
		// A bad push must not keep the gateway down: run on the last config
		// it came up with, if there is one, and say so loudly.
		var lgErr error
		cfg, src, lastGood, lgErr = config.LoadLastGood(stateDirs(), builtin.Builtin())
		if lgErr != nil {
			return fmt.Errorf("config: %w\nno last good config to fall back to: %v", err, lgErr)
		}
	}
	log := logging.New(stderr, cfg.Log.Level, cfg.Log.Format)
	switch {
	case lastGood != "":
		log.Error("CONFIG FILE UNUSABLE: running on the last good config; fix the file and reload (SIGHUP)",
			"file", *path, "lastGood", lastGood, "err", err)
	case *path == "":
		log.Info("running the embedded demo config", "stateDir", cfg.Gateway.StateDir)
	}
	reload := make(chan os.Signal, 1)
	signal.Notify(reload, syscall.SIGHUP)
	defer signal.Stop(reload)
	opts := gateway.Options{Config: cfg, Adapters: builtin.Builtin(), Logger: log, Version: version, Commit: commit}
	if lastGood != "" {
		opts.ConfigFallback = fmt.Sprintf("config file %s unusable, running on %s: %v", *path, lastGood, err)
	}
	return gateway.RunReloading(ctx, opts, src, load, reload)
}

// stateDirs are where a last good config may be kept: systemd's
// $STATE_DIRECTORY (StateDirectory= in the unit), then the packaged default.
func stateDirs() []string {
	return append(filepath.SplitList(os.Getenv("STATE_DIRECTORY")), "/var/lib/fieldgate")
}

func cmdCheck(args []string, stdout io.Writer) error {
	fs := newFlags("check")
	path := fs.String("config", "", "config file (YAML)")
	if err := parseFlags(fs, "check --config FILE", args, stdout); err != nil {
		return err
	}
	if *path == "" {
		return usageError{"check: --config FILE is required"}
	}
	cfg, _, err := loadConfig(*path)
	if err != nil {
		return err // names the file, each field and its line
	}
	// What run refuses at start (token files, the state directory), so that a
	// config check passes only what the daemon runs with.
	if err := gateway.Preflight(cfg, builtin.Builtin()); err != nil {
		return fmt.Errorf("%s: %w", *path, err)
	}
	fmt.Fprintf(stdout, "%s: ok\n", *path)
	return nil
}

func cmdModel(args []string, stdout io.Writer) error {
	fs := newFlags("model")
	if err := parseFlags(fs, "model FILE... | model import-edgex|import-wot --id ID --version V FILE", args, stdout); err != nil {
		return err
	}
	args = fs.Args()
	if len(args) == 0 {
		return usageError{"model: name at least one model file"}
	}
	var errs []error
	for _, p := range args {
		data, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m, err := builtin.Builtin().Compile(data)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		reads := 0
		for _, g := range m.Groups {
			reads += g.Requests
		}
		fmt.Fprintf(stdout, "%s: %s ok (%d properties, %d poll groups, %d read requests)\n", p, m.Ref(), len(m.Properties), len(m.Groups), reads)
	}
	return errors.Join(errs...)
}
