package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fieldgate/fieldgate/testbench/chaosproxy"
)

// probe reads the figures of a running workload: the gateway's local API and
// /proc entry, the backend's admin API and /proc entry, the proxy's counters.
type probe struct {
	api, backend string
	gw, be       *child
	proxy        *chaosproxy.Proxy
	client       http.Client
}

// gatewayStatus is the part of the gateway's /api/v1/status the benchmark reads.
type gatewayStatus struct {
	Outbox struct {
		Pending uint64  `json:"pending"`
		Values  *uint64 `json:"values"` // values waiting, when the outbox counts samples
		Bytes   uint64  `json:"bytes"`
		Dropped uint64  `json:"dropped"`
		LastSeq uint64  `json:"lastSeq"` // records (values, or samples, and events) given out
	} `json:"outbox"`
	Polled *struct {
		Polls  uint64 `json:"polls"`
		Values uint64 `json:"values"`
	} `json:"polled"`
}

// backendStats is the part of the backend's /admin/stats the benchmark reads:
// values received ("values" once telemetry carries samples, else "readings"),
// and what it discarded as already received.
type backendStats struct {
	Values     *uint64 `json:"values"`
	Readings   uint64  `json:"readings"`
	Duplicates uint64  `json:"duplicates"`
}

func (s backendStats) values() uint64 {
	if s.Values != nil {
		return *s.Values
	}
	return s.Readings
}

func (p *probe) getJSON(ctx context.Context, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %.200s", url, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

// warmUp waits until every device is assigned and online at the gateway
// (polled successfully), bounded by within.
func (p *probe) warmUp(ctx context.Context, devices int, within time.Duration, log *slog.Logger) error {
	start := time.Now()
	lastSaid := start
	ready := 0
	for {
		var devs []struct {
			Status string `json:"status"`
			Health string `json:"health"`
		}
		if err := p.getJSON(ctx, p.api+"/api/v1/devices", &devs); err == nil {
			ready = 0
			for _, d := range devs {
				if d.Status == "assigned" && d.Health == "online" {
					ready++
				}
			}
			if ready >= devices {
				log.Info("warm-up done: every device assigned and polled", "devices", ready, "took", time.Since(start).Round(100*time.Millisecond))
				return nil
			}
		}
		for _, c := range []*child{p.gw, p.be} {
			if err := c.exitErr(); err != nil {
				return err
			}
		}
		if time.Since(start) > within {
			return fmt.Errorf("warm-up: %d of %d devices assigned and polled after %s (logs in %s)", ready, devices, within, filepath.Dir(p.gw.logPath))
		}
		if time.Since(lastSaid) > 5*time.Second {
			log.Info("warming up", "ready", ready, "of", devices)
			lastSaid = time.Now()
		}
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}
}

// snapshot is the counters at one instant.
type snapshot struct {
	at        time.Time
	gw, be    procSample
	polled    uint64 // values the gateway took
	dropped   uint64 // outbox drops
	delivered uint64 // values the backend received
	wire      uint64 // bytes of telemetry requests the gateway sent towards the backend
	pending   uint64 // outbox items waiting
	lastSeq   uint64 // outbox records given out
	dups      uint64 // telemetry the backend discarded as duplicates
}

func (p *probe) snap(ctx context.Context) (snapshot, error) {
	s := snapshot{at: time.Now()}
	var err error
	if s.gw, err = readProc(p.gw.pid()); err != nil {
		return s, fmt.Errorf("gateway: %w", err)
	}
	if s.be, err = readProc(p.be.pid()); err != nil {
		return s, fmt.Errorf("backend: %w", err)
	}
	var st gatewayStatus
	if err := p.getJSON(ctx, p.api+"/api/v1/status", &st); err != nil {
		return s, fmt.Errorf("gateway status: %w", err)
	}
	if st.Polled == nil {
		return s, fmt.Errorf("gateway status: no \"polled\" counters (a gateway older than the benchmark?)")
	}
	s.polled, s.dropped, s.pending, s.lastSeq = st.Polled.Values, st.Outbox.Dropped, st.Outbox.Pending, st.Outbox.LastSeq
	var bs backendStats
	if err := p.getJSON(ctx, p.backend+"/admin/stats", &bs); err != nil {
		return s, fmt.Errorf("backend stats: %w", err)
	}
	s.delivered, s.dups = bs.values(), bs.Duplicates
	s.wire = p.proxy.TelemetryBytes() // not hello, inbox or registration: what report by exception saves
	return s, nil
}

// measure takes the counters at the start and the end of the window, and
// once a second in between the gateway's memory and outbox size; during the
// fleet workload it fetches a CPU profile of the gateway.
func (p *probe) measure(ctx context.Context, w Workload, dir string, log *slog.Logger) (*Result, error) {
	res := &Result{W: w}
	profDone := make(chan error, 1)
	first, err := p.snap(ctx)
	if err != nil {
		return nil, err
	}
	if w.Profile {
		res.Profile = filepath.Join(dir, "gateway.cpu.pprof")
		secs := int(min(w.Window, maxProfile) / time.Second)
		go func() { profDone <- p.fetchProfile(ctx, secs, res.Profile) }()
	} else {
		profDone <- nil
	}
	log.Info("measuring", "window", w.Window)
	var perItem []float64 // outbox bytes per item waiting, once a second
	end := first.at.Add(w.Window)
	for time.Now().Before(end) {
		if err := sleep(ctx, min(time.Second, time.Until(end))); err != nil {
			return nil, err
		}
		if s, err := readProc(p.gw.pid()); err == nil {
			res.RSSKiB, res.AnonKiB = max(res.RSSKiB, s.rssKiB), max(res.AnonKiB, s.anonKiB)
		}
		var st gatewayStatus
		if err := p.getJSON(ctx, p.api+"/api/v1/status", &st); err == nil {
			if st.Outbox.Values != nil && *st.Outbox.Values > 0 {
				res.outboxCountsValues = true
				perItem = append(perItem, float64(st.Outbox.Bytes)/float64(*st.Outbox.Values))
			} else if st.Outbox.Values == nil && st.Outbox.Pending > 0 {
				perItem = append(perItem, float64(st.Outbox.Bytes)/float64(st.Outbox.Pending))
			}
		}
	}
	last, err := p.snap(ctx)
	if err != nil {
		return nil, err
	}
	if err := <-profDone; err != nil {
		log.Warn("no CPU profile of the gateway", "err", err)
		res.Profile = ""
	}
	res.fill(first, last, perItem)
	res.Load = hostLoad()
	return res, nil
}

func (p *probe) fetchProfile(ctx context.Context, secs int, file string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", p.api, secs), nil)
	if err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return fmt.Errorf("GET /debug/pprof/profile: %s: %s (is api.pprof set?)", resp.Status, strings.TrimSpace(string(body)))
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, io.LimitReader(resp.Body, 256<<20)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Result is one workload's figures.
type Result struct {
	W                   Workload
	Seconds             float64
	PolledPerSec        float64
	DeliveredPerSec     float64
	Dropped             uint64 // during the window
	Duplicates          uint64 // telemetry the backend discarded as already received, during the window
	Backlog             uint64 // outbox items waiting at the end
	GatewayCPU          float64
	BackendCPU          float64 // % of one core
	RSSKiB, AnonKiB     uint64  // the gateway's peak during the window
	OutboxBytesPerValue float64 // see fill; 0: the outbox was empty whenever looked at
	WireBytes           uint64
	WireBytesPerValue   float64 // per value delivered
	WireBytesPerPolled  float64 // per value polled
	Profile             string
	Load                string  // the host's 1-minute load average at the end: other work skews the figures
	compare             *Result // the every-poll run an on-change run is compared with
	outboxCountsValues  bool    // the gateway's status said how many values wait
}

// fill computes the figures from the counters at the start (a) and the end
// (b) of the window. Outbox bytes per value: the mean over the window of
// bytes / items waiting, an item being a value where the status says how many
// values wait (outbox.values), else an outbox record: a record then carries
// Δpolled / ΔlastSeq values (1 where the outbox holds one value per record; the
// values of a poll where it holds samples — exact when every poll is reported).
func (r *Result) fill(a, b snapshot, perItem []float64) {
	secs := b.at.Sub(a.at).Seconds()
	r.Seconds = secs
	polled, delivered := float64(b.polled-a.polled), float64(b.delivered-a.delivered)
	r.PolledPerSec, r.DeliveredPerSec = polled/secs, delivered/secs
	r.Dropped, r.Backlog, r.Duplicates = b.dropped-a.dropped, b.pending, b.dups-a.dups
	cpu := func(x, y procSample) float64 { return float64(y.cpuTicks-x.cpuTicks) / clockTicks / secs * 100 }
	r.GatewayCPU, r.BackendCPU = cpu(a.gw, b.gw), cpu(a.be, b.be)
	r.RSSKiB, r.AnonKiB = max(r.RSSKiB, b.gw.rssKiB), max(r.AnonKiB, b.gw.anonKiB)
	for _, v := range perItem {
		r.OutboxBytesPerValue += v / float64(len(perItem))
	}
	if records := b.lastSeq - a.lastSeq; !r.outboxCountsValues && records > 0 && polled > 0 {
		if r.W.Report == ReportChange && polled > float64(records) {
			// A record holds only the values due, not every polled one: unknown.
			r.OutboxBytesPerValue = 0
		} else {
			r.OutboxBytesPerValue /= polled / float64(records)
		}
	}
	r.WireBytes = b.wire - a.wire
	if delivered > 0 {
		r.WireBytesPerValue = float64(r.WireBytes) / delivered
	}
	if polled > 0 {
		r.WireBytesPerPolled = float64(r.WireBytes) / polled
	}
}

// Line is the result as printed: one line, key=value.
func (r *Result) Line() string {
	w := r.W
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s devices=%d points=%d interval=%s", w.Label(), w.Devices, w.Points, w.Interval)
	if w.RTT > 0 {
		fmt.Fprintf(&sb, " rtt=+%s", w.RTT)
	}
	fmt.Fprintf(&sb, " polled/s=%s delivered/s=%s dropped=%d gw_cpu=%.1f%% gw_rss=%.1fMiB gw_anon=%.1fMiB backend_cpu=%.1f%%",
		rate(r.PolledPerSec), rate(r.DeliveredPerSec), r.Dropped, r.GatewayCPU, float64(r.RSSKiB)/1024, float64(r.AnonKiB)/1024, r.BackendCPU)
	fmt.Fprintf(&sb, " outbox_bytes/value=%s wire_bytes/value=%s", figure(r.OutboxBytesPerValue), figure(r.WireBytesPerValue))
	fmt.Fprintf(&sb, " backlog=%d", r.Backlog)
	if r.Duplicates > 0 {
		fmt.Fprintf(&sb, " backend_duplicates=%d", r.Duplicates)
	}
	fmt.Fprintf(&sb, " window=%.0fs", r.Seconds)
	if r.Load != "" {
		fmt.Fprintf(&sb, " load1=%s", r.Load)
	}
	if w.Name == "onchange" {
		fmt.Fprintf(&sb, " wire_bytes=%d wire_bytes/polled=%.2f", r.WireBytes, r.WireBytesPerPolled)
		switch c := r.compare; {
		case c == nil:
		case r.WireBytesPerPolled > 0:
			fmt.Fprintf(&sb, " vs_every=%.1fx", c.WireBytesPerPolled/r.WireBytesPerPolled)
		case c.WireBytesPerPolled > 0:
			sb.WriteString(" vs_every=inf") // nothing sent during the window
		}
	}
	if r.Profile != "" {
		fmt.Fprintf(&sb, " profile=%s", r.Profile)
	}
	return sb.String()
}

// figure prints a per-value figure, or "n/a" when there was nothing to divide by.
func figure(v float64) string {
	if v == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", v)
}

// rate prints a per-second figure: whole numbers, a decimal below 100.
func rate(v float64) string {
	if v < 100 {
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}
