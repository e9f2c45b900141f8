package gateway

import (
	"context"
	"os"
	"sync/atomic"

	"github.com/fieldgate/fieldgate/gateway/config"
)

// LoadConfig loads the gateway's config again (on a reload signal), with the
// bytes it was parsed from (nil for one that is not a file).
type LoadConfig func() (*config.Config, []byte, error)

// RunReloading is Run with config reloads, build then swap. It runs the gateway
// on opts.Config (parsed from src; nil: not from a file) until ctx ends. On
// each value from reload it loads the config again: one that does not load
// (bad YAML, an invalid field) is refused, logged with every problem, and the
// running gateway is not touched. A good one replaces it: the running gateway
// stops, one with the new config starts (devices resume from the state file).
// Should that one fail before it is up (a port it cannot open, say), the
// previous config is started again. Every config a gateway came up with is
// kept as the last good one (config.SaveLastGood) when src is set.
func RunReloading(ctx context.Context, opts Options, src []byte, load LoadConfig, reload <-chan os.Signal) error {
	log := opts.Logger
	var prev *Options
	var prevSrc []byte
	for {
		next, nextSrc, up, err := runUntilReload(ctx, opts, src, load, reload)
		switch {
		case next != nil:
			was := opts
			prev, prevSrc = &was, src
			opts.Config, opts.ConfigFallback, src = next, "", nextSrc
		case err != nil && !up && prev != nil:
			log.Error("the reloaded config did not come up; starting again with the previous one", "err", err)
			opts, src, prev, prevSrc = *prev, prevSrc, nil, nil
		default:
			return err
		}
	}
}

// runUntilReload runs one gateway until it ends (its error; up: it had come
// up) or a reload loads a good config (returned, the gateway stopped).
func runUntilReload(ctx context.Context, opts Options, src []byte, load LoadConfig, reload <-chan os.Signal) (next *config.Config, nextSrc []byte, up bool, err error) {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var isUp atomic.Bool
	cfg, ready := opts.Config, opts.Ready
	opts.Ready = func(api string) {
		isUp.Store(true)
		if src != nil {
			if err := config.SaveLastGood(cfg, src); err != nil {
				opts.Logger.Warn("could not keep the config as the last good one", "err", err)
			}
		}
		if ready != nil {
			ready(api)
		}
	}
	done := make(chan error, 1)
	go func() { done <- Run(runCtx, opts) }()
	for {
		select {
		case err := <-done:
			return nil, nil, isUp.Load(), err
		case <-reload:
			next, nextSrc, err := load()
			if err != nil {
				opts.Logger.Error("config reload refused; the gateway runs on as it was", "err", err)
				continue
			}
			opts.Logger.Info("config reload: restarting the gateway with the new config")
			cancel()
			if err := <-done; err != nil { // stopped while it was starting, say
				opts.Logger.Warn("the gateway being replaced ended with an error", "err", err)
			}
			return next, nextSrc, isUp.Load(), nil
		}
	}
}
