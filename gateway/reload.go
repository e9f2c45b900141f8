package gateway

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync/atomic"

	"github.com/fieldgate/fieldgate/gateway/config"
)

// LoadConfig loads the gateway's config again (on a reload signal), with the
// bytes it was parsed from (nil for one that is not a file).
type LoadConfig func() (*config.Config, []byte, error)

// RunReloading is Run with config reloads, build then swap. It runs the gateway
// on opts.Config (parsed from src; nil: not from a file) until ctx ends. On
// each value from reload it loads the config again and checks it as Run
// would (Preflight): one that does not pass (bad YAML, an invalid field, a
// file it names missing) is refused, logged with every problem, and the
// running gateway is not touched.
//
// A good one that changes only buses is applied in place (see
// Gateway.reconfigure): the buses that did not change go on, with their
// devices polling; should a new bus not open, nothing changes and the reason
// is logged. A good one that changes anything else (the gateway id, the
// backend, the local API, discovery, telemetry, a TLS or token file) — or
// arrives while the gateway runs on a last good fallback or is still
// starting — replaces it: the running gateway stops, one with the new config
// starts (devices resume from the state file). Should that one fail before
// it is up (a state file it cannot open, say), the previous config is
// started again. Every config a gateway came up with or took in place is
// kept as the last good one (config.SaveLastGood) when it is from a file.
func RunReloading(ctx context.Context, opts Options, src []byte, load LoadConfig, reload <-chan os.Signal) error {
	r := &reloader{opts: opts, src: src, load: load, reload: reload}
	return r.run(ctx)
}

// reloader is RunReloading's state: the config running (opts.Config, from
// src), and the one before the last restart.
type reloader struct {
	opts    Options
	src     []byte
	prev    *Options
	prevSrc []byte
	load    LoadConfig
	reload  <-chan os.Signal
}

func (r *reloader) run(ctx context.Context) error {
	for {
		next, nextSrc, up, err := r.runUntilRestart(ctx)
		switch {
		case next != nil:
			was := r.opts
			r.prev, r.prevSrc = &was, r.src
			r.opts.Config, r.opts.ConfigFallback, r.src = next, "", nextSrc
		case err != nil && !up && r.prev != nil:
			r.opts.Logger.Error("the reloaded config did not come up; starting again with the previous one", "err", err)
			r.opts, r.src, r.prev, r.prevSrc = *r.prev, r.prevSrc, nil, nil
		default:
			return err
		}
	}
}

// runUntilRestart runs one gateway until it ends (its error; up: it had come
// up) or a reload loads a good config it cannot take in place (returned, the
// gateway stopped).
func (r *reloader) runUntilRestart(ctx context.Context) (next *config.Config, nextSrc []byte, up bool, err error) {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts, log := r.opts, r.opts.Logger
	var isUp atomic.Bool
	cfg, src, ready := opts.Config, r.src, opts.Ready
	opts.Ready = func(api string) {
		isUp.Store(true)
		keepLastGood(log, cfg, src)
		if ready != nil {
			ready(api)
		}
	}
	done := make(chan error, 1)
	reconfigs := make(chan reconfig)
	go func() { done <- run(runCtx, opts, reconfigs) }()
	for {
		select {
		case err := <-done:
			return nil, nil, isUp.Load(), err
		case <-r.reload:
		}
		next, nextSrc, err := r.load()
		if err == nil {
			err = Preflight(next, opts.Adapters)
		}
		if err != nil {
			log.Error("config reload refused; the gateway runs on as it was", "err", err)
			continue
		}
		if r.opts.ConfigFallback == "" && isUp.Load() {
			result := make(chan error, 1)
			select {
			case reconfigs <- reconfig{cfg: next, result: result}:
			case err := <-done:
				return nil, nil, isUp.Load(), err
			}
			var restart restartNeeded
			switch err := <-result; {
			case err == nil:
				r.opts.Config, r.src = next, nextSrc
				keepLastGood(log, next, nextSrc)
				continue
			case !errors.As(err, &restart):
				log.Error("config reload refused; the gateway runs on as it was", "err", err)
				continue
			default:
				log.Info("config reload: restarting the gateway with the new config", "because", string(restart))
			}
		} else {
			log.Info("config reload: restarting the gateway with the new config")
		}
		cancel()
		if err := <-done; err != nil { // stopped while it was starting, say
			log.Warn("the gateway being replaced ended with an error", "err", err)
		}
		return next, nextSrc, isUp.Load(), nil
	}
}

// keepLastGood keeps cfg as the last good config when it is from a file.
func keepLastGood(log *slog.Logger, cfg *config.Config, src []byte) {
	if src == nil {
		return
	}
	if err := config.SaveLastGood(cfg, src); err != nil {
		log.Warn("could not keep the config as the last good one", "err", err)
	}
}
