package gateway

import (
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
)

// scanWatch hands the progress of bus scans (whoever started them: the
// schedule, a rescan, the local API) to the local API calls that stream it.
// A watcher that does not keep up misses progress events, never the devices
// found: those are collected per watcher.
type scanWatch struct {
	mu   sync.Mutex
	subs map[*scanSub]struct{}
}

// scanSub is one watcher: its events, and the local ids found since it began.
type scanSub struct {
	ch    chan scanEvent
	found []string // guarded by scanWatch.mu
}

// scanEvent is one line of a streamed scan (application/x-ndjson).
type scanEvent struct {
	// Type: "progress" (the first one of a bus: its scan begins), "bus-done" (with
	// found and the error that left it incomplete, if any), "done" (the
	// last line: every device, and which of those found were new or known).
	Type string `json:"type"`
	Bus  string `json:"bus,omitempty"`
	*adapters.ScanProgress
	Error   string       `json:"error,omitempty"`
	Devices []deviceView `json:"devices,omitempty"`
	New     []string     `json:"new,omitempty"`
	Known   []string     `json:"known,omitempty"`
}

// scanSubBuffer is how many events a watcher may fall behind by before
// progress events are dropped for it.
const scanSubBuffer = 256

func (w *scanWatch) subscribe() *scanSub {
	s := &scanSub{ch: make(chan scanEvent, scanSubBuffer)}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.subs == nil {
		w.subs = map[*scanSub]struct{}{}
	}
	w.subs[s] = struct{}{}
	return s
}

func (w *scanWatch) unsubscribe(s *scanSub) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.subs, s)
}

// publish hands ev to every watcher (dropped for one that is full) and adds
// found to what each has seen found.
func (w *scanWatch) publish(ev scanEvent, found ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for s := range w.subs {
		s.found = append(s.found, found...)
		select {
		case s.ch <- ev:
		default:
		}
	}
}

// foundBy is what s has seen found, without repeats.
func (w *scanWatch) foundBy(s *scanSub) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := slices.Clone(s.found)
	slices.Sort(out)
	return slices.Compact(out)
}

// progress is the adapters' progress report of a scan of bus.
func (w *scanWatch) progress(bus string) func(adapters.ScanProgress) {
	return func(p adapters.ScanProgress) {
		w.publish(scanEvent{Type: "progress", Bus: bus, ScanProgress: &p})
	}
}

// busScanned publishes the end of a bus's scan.
func (w *scanWatch) busScanned(bus string, cands []adapters.Candidate, err error) {
	ids := make([]string, len(cands))
	for i, c := range cands {
		ids[i] = c.LocalID
	}
	ev := scanEvent{Type: "bus-done", Bus: bus, ScanProgress: &adapters.ScanProgress{Found: len(cands)}}
	if err != nil {
		ev.Error = clip(err.Error(), 1000)
	}
	w.publish(ev, ids...)
}

// scanProgressEvery bounds the progress lines streamed per bus: at most one
// per interval, besides the first and the last.
const scanProgressEvery = 100 * time.Millisecond

// wantsStream: the caller asked for the scan's progress as it goes.
func wantsStream(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "application/x-ndjson" {
			return true
		}
	}
	return false
}

// streamDiscover runs (or joins) a scan and streams its progress, one JSON
// object a line, then the "done" line with the device list and which of the
// devices found were new (unknown before the call) or known. A call that
// joins a running scan sees what it finds from then on.
func (g *Gateway) streamDiscover(base context.Context, w http.ResponseWriter, r *http.Request) {
	before := map[string]bool{}
	for _, d := range g.devices.all() {
		before[d.localID] = true
	}
	sub := g.scanWatch.subscribe()
	defer g.scanWatch.unsubscribe(sub)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	send := func(ev scanEvent) bool {
		// Each line gets its own write deadline: a scan longer than
		// apiLongWrite streams on, a caller that stops reading is cut off.
		_ = rc.SetWriteDeadline(time.Now().Add(apiWriteTimeout))
		if err := enc.Encode(ev); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.scans.run(base, r.Context(), g.reg.discover)
	}()
	last := map[string]time.Time{}
	forward := func(ev scanEvent) bool {
		if ev.Type == "progress" {
			p := ev.ScanProgress
			if p.Done != 0 && p.Done < p.Total && time.Since(last[ev.Bus]) < scanProgressEvery {
				return true
			}
			last[ev.Bus] = time.Now()
		}
		return send(ev)
	}
	for running := true; running; {
		select {
		case ev := <-sub.ch:
			if !forward(ev) {
				// The caller is gone: returning ends r's context, which
				// stops the wait (the scan itself runs on for the others).
				return
			}
		case <-done:
			running = false
		}
	}
	if r.Context().Err() != nil {
		return
	}
	for drained := false; !drained; {
		select {
		case ev := <-sub.ch:
			forward(ev)
		default:
			drained = true
		}
	}
	fin := scanEvent{Type: "done", Devices: []deviceView{}, New: []string{}, Known: []string{}}
	for _, d := range g.devices.all() {
		fin.Devices = append(fin.Devices, g.view(d))
	}
	for _, id := range g.scanWatch.foundBy(sub) {
		if before[id] {
			fin.Known = append(fin.Known, id)
		} else {
			fin.New = append(fin.New, id)
		}
	}
	send(fin)
}
