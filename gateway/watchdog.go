package gateway

import (
	"context"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// watchdogLoop feeds systemd's watchdog (WatchdogSec= in the unit) while the
// gateway is sound, so that systemd restarts a wedged daemon rather than leave
// a gateway silently dead in the field. Every half interval it checks that the
// outbox writer is not stuck in one commit for longer than that (a hung disk:
// readings would pile up in memory) and that the state file answers a read
// within a quarter interval; then it sends WATCHDOG=1. Without WATCHDOG_USEC
// in the environment it does nothing.
func (g *Gateway) watchdogLoop(ctx context.Context) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		g.log.Warn("systemd watchdog settings unusable; not fed", "err", err)
		return
	}
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	var check chan error // the state file read under way; one at a time, however long it hangs
	for {
		if check == nil {
			check = make(chan error, 1)
			go func(done chan<- error) {
				_, _, err := g.store.Pending()
				done <- err
			}(check)
		}
		why, answered := g.unsound(ctx, check, interval)
		if answered {
			check = nil
		}
		if why != "" {
			if ctx.Err() == nil {
				g.log.Error("systemd watchdog not fed", "why", why)
			}
		} else if _, err := daemon.SdNotify(false, daemon.SdNotifyWatchdog); err != nil {
			g.log.Debug("sd_notify watchdog", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// unsound says what keeps the gateway from being sound ("" when it is): the
// outbox writer stuck, or the state file read check not answering in time;
// answered: the check is over (a new one is due).
func (g *Gateway) unsound(ctx context.Context, check <-chan error, interval time.Duration) (why string, answered bool) {
	timer := time.NewTimer(interval / 4)
	defer timer.Stop()
	select {
	case err := <-check:
		switch {
		case err != nil:
			return "state file unreadable: " + err.Error(), true
		case g.outbox.stuck(interval / 2):
			return "outbox commit under way for over " + (interval / 2).String(), true
		}
		return "", true
	case <-timer.C:
		return "state file did not answer within " + (interval / 4).String(), false
	case <-ctx.Done():
		return "stopping", false
	}
}
