package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway/config"
	"github.com/fieldgate/fieldgate/gateway/store"
)

// Options is what Run needs; the config has been parsed and validated already.
type Options struct {
	Config   *config.Config
	Adapters adapters.Table
	Logger   *slog.Logger
	Version  string
	// Commit is the commit the binary was built from (fieldgate_build_info);
	// empty: the one Go recorded in the binary's build info, if any.
	Commit string
	// Ready, when set, is called once every stage has started (the local API
	// listens, buses are open). The daemon also notifies systemd.
	Ready func(apiAddr string)
	// ConfigFallback, when set, says why Config is not the config file's
	// content but the last good config (the file is unusable): it is shown
	// in the local API's status and reported upstream as a config-fallback
	// event.
	ConfigFallback string
}

// Gateway is one running daemon. It is created and owned by Run.
type Gateway struct {
	// cfg is the config the gateway started with, without its buses: a reload
	// changes those in place (see buses), anything else restarts the gateway.
	cfg *config.Config
	// life is Run's ctx: whatever the gateway starts, at start or on a reload,
	// runs under a context derived from it.
	life     context.Context
	files    [32]byte // what the gateway-wide settings' files held at start (see gatewayFiles)
	log      *slog.Logger
	version  string
	fallback string // Options.ConfigFallback
	adapters adapters.Table
	store    *store.Store
	backend  *backendclient.Client
	buses    *busSet
	models   *modelCache
	devices  *registry
	ops      *operations
	poll     *pollers
	reg      *registrar
	inbox    *inbox
	up       *uplink
	outbox   *outboxWriter
	obs      *instruments

	scans scanFlight // the local API's scans, one at a time
	// scanWatch streams scans' progress to the local API calls that ask.
	scanWatch scanWatch

	link    *linkState
	links   *links
	rescans *rescans
	loops   sync.WaitGroup
	linkWG  sync.WaitGroup // linkEvents goroutines
}

// Run runs the gateway until ctx is cancelled. A cancelled ctx is a clean stop
// and returns nil; any start-up failure rolls back what was started and returns
// the error.
func Run(ctx context.Context, opts Options) error { return run(ctx, opts, nil) }

// reconfig asks a running gateway to take a new config in place; result is
// told nil (applied), a restartNeeded (it cannot be applied in place) or why
// it was refused (the gateway runs on as it was).
type reconfig struct {
	cfg    *config.Config
	result chan<- error // buffered: run never waits on it
}

// run is Run, taking new configs from reconfigs once it is up (nil: never).
func run(ctx context.Context, opts Options, reconfigs <-chan reconfig) (err error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := opts.Config
	started := *cfg
	started.Buses = nil
	g := &Gateway{
		cfg:      &started,
		life:     ctx,
		log:      log,
		version:  opts.Version,
		fallback: opts.ConfigFallback,
		adapters: opts.Adapters,
		buses:    newBusSet(cfg.Buses),
		devices:  newRegistry(),
		links:    newLinks(),
		rescans:  newRescans(),
		obs:      newInstruments(opts.Version, opts.Commit),
	}
	g.link = newLinkState(log)
	var stops []func()
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}()

	// Stage 1: local state. What `fieldgate check` checks is refused here first,
	// with the same words.
	if err := Preflight(cfg, opts.Adapters); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Gateway.StateDir, 0o750); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	var apiToken string
	if cfg.API.Listen != config.APIOff {
		if apiToken, err = loadAPIToken(cfg); err != nil {
			return fmt.Errorf("local API: %w", err)
		}
	}
	// Before the backend client reads its TLS files: a file changed in
	// between makes the next reload restart, never the other way round.
	g.files = gatewayFiles(cfg, apiToken)
	st, err := store.Open(filepath.Join(cfg.Gateway.StateDir, "state.db"), store.Options{
		Timeout:         5 * time.Second,
		NoSync:          false,
		OutboxMaxBytes:  cfg.Telemetry.OutboxMaxBytes,
		OutboxMaxAge:    time.Duration(cfg.Telemetry.OutboxMaxAge),
		Overflow:        store.Overflow(cfg.Telemetry.Overflow),
		SetAsideCorrupt: true,
	})
	if err != nil {
		return fmt.Errorf("open state: %w", err)
	}
	g.store = st
	stops = append(stops, func() {
		if err := st.Close(); err != nil {
			log.Error("close state", "err", err)
		}
	})

	// Stage 2: the outbox writer (group commit).
	uplinkWake := newWakeup()
	g.outbox = newOutboxWriter(st, cfg.Telemetry, log.With("component", "outbox"), uplinkWake.wake)
	stops = append(stops, g.outbox.close)
	// Link events (one goroutine per change a bus reports, see onLink) end
	// before the outbox they write to closes; the buses are closed by then.
	stops = append(stops, g.linkWG.Wait)

	// Stage 3: backend client (no network yet).
	tlsCfg, err := cfg.Backend.TLSConfig()
	if err != nil {
		return fmt.Errorf("backend TLS: %w", err)
	}
	bc, err := backendclient.New(backendclient.Config{
		BaseURL:   cfg.Backend.URL,
		Gateway:   cfg.Gateway.ID,
		TokenFile: cfg.Backend.TokenFile,
		Timeout:   time.Duration(cfg.Backend.Timeout),
		TLS:       tlsCfg,
		Observe:   g.obs.observeBackend,
	}, log.With("component", "backend"))
	if err != nil {
		return fmt.Errorf("backend client: %w", err)
	}
	g.backend = bc
	g.models = newModelCache(st, bc, g.adapters.Compile)
	g.wireParts(uplinkWake)

	// Stage 4: buses. A reload replaces some of them; whichever are open at
	// the end are closed once nothing polls any more.
	stops = append(stops, func() { g.buses.closeAll(log) })
	for _, b := range cfg.Buses {
		if b.Disabled {
			continue
		}
		o, err := g.openBus(ctx, b)
		if err != nil {
			return err
		}
		g.buses.put(o)
	}

	// Stages 5 and 6 start pollers, operations and loops; whatever of them has
	// started is stopped on the way out, even when a later stage fails.
	loopCtx, cancelLoops := context.WithCancel(ctx)
	stops = append(stops, func() { g.stopLoops(cancelLoops) })

	// Stage 5: devices known from the state file run from their cached models at
	// once, whether or not the backend is reachable.
	if err := g.reg.restore(ctx); err != nil {
		return err
	}

	// Stage 6: loops. They stop when loopCtx is cancelled; pollers stop after them.
	g.goLoop(func() { g.up.loop(loopCtx) })
	g.goLoop(func() { g.reg.helloLoop(loopCtx) })
	g.goLoop(func() { g.reg.discoveryLoop(loopCtx) })
	g.goLoop(func() { g.reg.registrationLoop(loopCtx) })
	g.goLoop(func() { g.inbox.loop(loopCtx) })
	g.goLoop(func() { g.ops.reportLoop(loopCtx) })
	g.goLoop(func() { g.watchdogLoop(loopCtx) })

	// Stage 7: local API.
	apiAddr := ""
	if cfg.API.Listen != config.APIOff {
		stop, addr, err := g.startLocalAPI(cfg.API.Listen, apiToken)
		if err != nil {
			return fmt.Errorf("local API: %w", err)
		}
		apiAddr = addr
		stops = append(stops, stop)
	}

	// Ready first (RunReloading keeps the config as the last good one there),
	// then the log line and systemd's READY=1: whoever sees either finds the
	// last good copy in place.
	if opts.Ready != nil {
		opts.Ready(apiAddr)
	}
	log.Info("gateway started", "id", cfg.Gateway.ID, "backend", cfg.Backend.URL, "api", apiAddr, "buses", g.buses.count())
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		log.Debug("sd_notify", "err", err)
	}
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case rc := <-reconfigs:
			rc.result <- g.reconfigure(ctx, rc.cfg)
		}
	}
	log.Info("gateway stopping")
	_, _ = daemon.SdNotify(false, daemon.SdNotifyStopping)
	return nil
}

// stopLoops stops the loops first, then what they may have started: a loop
// winding down can still start a device (an assignment) or an operation, so the
// operations in flight are waited for and the pollers stopped only once no loop
// runs any more. Nothing started here outlives Run.
func (g *Gateway) stopLoops(cancel context.CancelFunc) {
	cancel()
	g.loops.Wait()
	g.ops.close()
	g.devices.stopAll()
}

// wireParts builds the gateway's parts (pollers, operations, registrar, uplink, inbox),
// each given what it uses and nothing else; a part that calls into another
// gets the call as a function. The store, backend client, model cache and
// outbox are in place by then; uplinkWake is what the outbox writer wakes.
func (g *Gateway) wireParts(uplinkWake wakeup) {
	g.poll = &pollers{life: g.life, buses: g.buses, outbox: g.outbox, log: g.log}
	g.ops = newOperations(opsDeps{store: g.store, devices: g.devices, backend: g.backend, link: g.link, obs: g.obs, log: g.log,
		gatewayID: g.cfg.Gateway.ID, appendEvent: g.appendEvent, life: g.life})
	g.reg = &registrar{store: g.store, backend: g.backend, devices: g.devices, buses: g.buses, models: g.models,
		adapters: g.adapters, link: g.link, log: g.log, discovery: g.cfg.Discovery, backendURL: g.cfg.Backend.URL,
		version: g.version, rescans: g.rescans, scanWatch: &g.scanWatch,
		start: g.poll.start, event: g.event, prune: g.pruneModels, recoverOps: g.ops.recover, scanned: g.obs.scanned,
		wake: newWakeup(), helloWake: newWakeup()}
	send := newHTTPUplink(g.backend, batchSize(g.cfg.Telemetry))
	send.unknown = g.reg.registerAgain
	g.up = &uplink{store: g.store, send: send, link: g.link, log: g.log, cfg: g.cfg.Telemetry, fallback: g.fallback,
		localID: gatewayLocalIDOf(g.cfg.Gateway.ID), appendEvent: g.appendEvent, uploaded: g.obs.uploaded, wake: uplinkWake}
	g.inbox = &inbox{store: g.store, backend: g.backend, devices: g.devices, ops: g.ops, link: g.link, log: g.log,
		wait: time.Duration(g.cfg.Backend.InboxWait), assign: g.reg.assign, event: g.event,
		gatewayEvent: g.up.gatewayEvent, prune: g.pruneModels}
}

// wakeup wakes a loop that waits on it; wakes while one is pending are one.
type wakeup chan struct{}

func newWakeup() wakeup { return make(wakeup, 1) }

func (w wakeup) wake() {
	select {
	case w <- struct{}{}:
	default:
	}
}

func (g *Gateway) goLoop(f func()) {
	g.loops.Add(1)
	go func() {
		defer g.loops.Done()
		f()
	}()
}
