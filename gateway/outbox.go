package gateway

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fieldgate/fieldgate/gateway/config"
	"github.com/fieldgate/fieldgate/gateway/store"
)

// outboxWriter is the single writer of the persistent outbox. It does group
// commit: the appends that arrive together share one transaction and one fsync.
//
// With durability "always" an append returns only once its items are on disk:
// a reading counts as taken only then. With "batch" an append returns at once
// and the writer commits at most every window; a power cut (or a kill) can lose
// the readings of the last window, never more.
type outboxWriter struct {
	store  *store.Store
	log    *slog.Logger
	always bool
	window time.Duration
	wake   func() // called after each commit

	mu     sync.RWMutex
	closed bool
	reqs   chan appendReq
	done   chan struct{}

	committing atomic.Int64    // start of the commit under way (Unix ns), 0 between commits
	recs       []store.Encoded // the commit's records; reused
}

type appendReq struct {
	rec  store.Encoded
	done chan error // nil for "batch": nobody waits
}

var errOutboxClosed = errors.New("outbox closed")

func newOutboxWriter(st *store.Store, tel config.Telemetry, log *slog.Logger, wake func()) *outboxWriter {
	w := &outboxWriter{store: st, log: log, always: tel.Durability == config.DurabilityAlways,
		window: time.Second, wake: wake, reqs: make(chan appendReq, 1024), done: make(chan struct{})}
	if tel.GroupCommit > 0 {
		w.window = time.Duration(tel.GroupCommit)
	}
	go w.run()
	return w
}

// append hands an encoded record to the writer (it is the store's now). With
// "always" it waits for the commit and returns its error.
func (w *outboxWriter) append(rec store.Encoded) error {
	req := appendReq{rec: rec}
	if w.always {
		req.done = make(chan error, 1)
	}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return errOutboxClosed
	}
	w.reqs <- req
	w.mu.RUnlock()
	if req.done == nil {
		return nil
	}
	return <-req.done
}

// close commits what is queued and stops the writer.
func (w *outboxWriter) close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.reqs)
	}
	w.mu.Unlock()
	<-w.done
}

func (w *outboxWriter) run() {
	defer close(w.done)
	var batch []appendReq
	for {
		req, ok := <-w.reqs
		if !ok {
			return
		}
		batch = append(batch[:0], req)
		if !w.always {
			// Gather for one window, then commit once.
			timer := time.NewTimer(w.window)
		gather:
			for {
				select {
				case r, ok := <-w.reqs:
					if !ok {
						break gather
					}
					batch = append(batch, r)
				case <-timer.C:
					break gather
				}
			}
			timer.Stop()
		} else {
			// Take whatever else is already waiting: it shares this fsync.
		drain:
			for len(batch) < cap(w.reqs) {
				select {
				case r, ok := <-w.reqs:
					if !ok {
						break drain
					}
					batch = append(batch, r)
				default:
					break drain
				}
			}
		}
		w.commit(batch)
	}
}

// stuck reports whether a commit has been under way for longer than limit (a
// hung disk: the readings handed over since wait in memory).
func (w *outboxWriter) stuck(limit time.Duration) bool {
	since := w.committing.Load()
	return since != 0 && time.Since(time.Unix(0, since)) > limit
}

func (w *outboxWriter) commit(batch []appendReq) {
	w.committing.Store(time.Now().UnixNano())
	defer w.committing.Store(0)
	w.recs = w.recs[:0]
	for _, r := range batch {
		w.recs = append(w.recs, r.rec)
	}
	_, err := w.store.AppendEncoded(w.recs) // one transaction, one fsync
	clear(w.recs)                           // the store is done with them
	if err != nil && !w.always {
		w.log.Error("outbox append failed; records lost", "records", len(batch), "err", err)
	}
	for _, r := range batch {
		if r.done != nil {
			r.done <- err
		}
	}
	if err == nil {
		w.wake()
	}
}
