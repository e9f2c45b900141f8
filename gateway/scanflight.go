package gateway

import (
	"context"
	"sync"
)

// scanFlight lets one scan run at a time: a request for a scan while one runs
// waits for that one to end (and is answered with its result) instead of
// starting another; buses are not scanned twice over for impatient callers.
type scanFlight struct {
	mu    sync.Mutex
	done  chan struct{} // closed when the running scan ends; nil: none runs
	count uint64        // scans started, ever
	wg    sync.WaitGroup
}

// run starts scan under ctx unless one runs, and waits for the running one
// to end or for wait to be done. The scan runs under ctx (the API's life),
// not under wait: a caller that goes away does not cut it short for the
// others.
func (s *scanFlight) run(ctx, wait context.Context, scan func(context.Context)) {
	s.mu.Lock()
	done := s.done
	if done == nil {
		done = make(chan struct{})
		s.done = done
		s.count++
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			scan(ctx)
			s.mu.Lock()
			s.done = nil
			s.mu.Unlock()
			close(done)
		}()
	}
	s.mu.Unlock()
	select {
	case <-done:
	case <-wait.Done():
	}
}

// started is the number of scans started.
func (s *scanFlight) started() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// wait waits for a running scan to end (its ctx cancelled first by the caller).
func (s *scanFlight) wait() { s.wg.Wait() }
