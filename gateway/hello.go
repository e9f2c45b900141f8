package gateway

import (
	"context"
	"sort"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
)

// helloLoop tells the backend who we are, at start, again after every
// reconnect (a failed call followed by a successful one) and when a reload
// changed the bus list.
func (r *registrar) helloLoop(ctx context.Context) {
	hello := backendclient.Hello{Version: r.version}
	for name := range r.adapters {
		hello.Adapters = append(hello.Adapters, name)
	}
	sort.Strings(hello.Adapters)
	bo := newBackoff(time.Second, time.Minute)
	for {
		select { // this hello carries the bus list as it is now
		case <-r.helloWake:
		default:
		}
		hello.Buses = r.buses.helloBuses()
		err := r.backend.Hello(ctx, hello)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			r.link.ok(callHello) // so that the next link failure anywhere counts as a loss and brings a new hello
			r.log.Info("backend says hello", "url", r.backendURL)
			// Wait until some other loop sees the link fail (unreachable,
			// unavailable, unauthorized; not an invalid answer to one call),
			// then say hello again.
			select {
			case <-ctx.Done():
				return
			case <-r.link.lost():
			case <-r.helloWake:
			}
			bo.reset()
			continue
		}
		if !r.link.retrySleep(ctx, callHello, bo, err, nil) {
			return
		}
	}
}

// helloAgain makes the hello loop say hello again (a reload changed the bus
// list).
func (r *registrar) helloAgain() { r.helloWake.wake() }
