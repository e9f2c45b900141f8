package gateway

import (
	"cmp"
	"compress/gzip"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway/internal/promtext"
	"github.com/fieldgate/fieldgate/gateway/store"
	"github.com/fieldgate/fieldgate/models"
)

// metrics is the local API's /metrics (Prometheus text format 0.0.4, written
// by promtext). Everything is read from the gateway's state at scrape time;
// the hot path only bumps the per-device counters it keeps anyway, and the
// instruments.
type metrics struct {
	src metricsSource
}

// metricsSource is what a scrape reads: the gateway's parts, not the gateway.
type metricsSource struct {
	devices *registry
	store   *store.Store
	link    *linkState
	links   *links
	models  *modelCache
	buses   *busSet
	obs     *instruments
}

// deviceStatuses are every registration status a device can have: each is a
// series of fieldgate_devices, at zero when no device has it.
var deviceStatuses = []string{statusNew, backendclient.StatusPending, backendclient.StatusAssigned,
	backendclient.StatusRejected, statusUnassigned}

// deviceFigures are one device's series, copied under its lock.
type deviceFigures struct {
	id, bus, model, status      string
	online                      bool
	polls, pollErrors, readings uint64
}

// statusCount is one fieldgate_devices series.
type statusCount struct {
	status string
	n      int
}

// write writes the fieldgate_* families, in name order (promtext checks it).
func (m *metrics) write(w *promtext.Writer) {
	g := &m.src
	devices := g.devices.all() // by local id
	figures := make([]deviceFigures, len(devices))
	var refs modelRefs
	for i, d := range devices {
		d.mu.Lock()
		f := deviceFigures{id: d.localID, bus: d.rec.Bus, status: d.rec.Status, online: d.health == healthOnline,
			polls: d.stats.polls, pollErrors: d.stats.pollErrors, readings: d.stats.readings}
		if d.run != nil {
			f.model = refs.of(d.run.model)
		}
		d.mu.Unlock()
		figures[i] = f
	}
	var buses []busFigures
	for _, name := range g.buses.names() {
		if wc, ok := g.buses.get(name).(adapters.WireCounter); ok {
			buses = append(buses, busFigures{name, wc.WireStats()})
		}
	}
	links := g.links.list() // by bus and link

	if g.obs != nil {
		g.obs.writeBackend(w)
	}
	w.Family("fieldgate_backend_up", promtext.TypeGauge, "1 when the last backend call succeeded.")
	w.Sample(flag(g.link.isUp()))
	if g.obs != nil {
		g.obs.writeBuildInfo(w)
	}
	for _, f := range []struct {
		name, help string
		value      func(adapters.WireStats) uint64
	}{
		{"fieldgate_bus_crc_errors_total", "Replies on the bus dropped for a bad frame checksum (CRC).", func(s adapters.WireStats) uint64 { return s.CRCErrors }},
		{"fieldgate_bus_exceptions_total", "Replies on the bus refusing the request (an exception or error code of the protocol).", func(s adapters.WireStats) uint64 { return s.Exceptions }},
		{"fieldgate_bus_timeouts_total", "Requests on the bus no reply came to in time.", func(s adapters.WireStats) uint64 { return s.Timeouts }},
		{"fieldgate_bus_transactions_total", "Requests put on the bus's wire, answered or not.", func(s adapters.WireStats) uint64 { return s.Transactions }},
	} {
		w.Family(f.name, promtext.TypeCounter, f.help)
		for _, b := range buses {
			w.Sample(float64(f.value(b.stats)), promtext.Label{Name: "bus", Value: b.name})
		}
	}

	// fieldgate_device_online's series go by bus, then device (the order of
	// their labels); the others by device.
	slices.SortStableFunc(figures, func(a, b deviceFigures) int { return strings.Compare(a.bus, b.bus) })
	w.Family("fieldgate_device_online", promtext.TypeGauge, "1 when the device's last poll succeeded.")
	for _, f := range figures {
		w.Sample(flag(f.online), promtext.Label{Name: "bus", Value: f.bus}, promtext.Label{Name: "device", Value: f.id},
			promtext.Label{Name: "model", Value: f.model})
	}
	slices.SortFunc(figures, func(a, b deviceFigures) int { return strings.Compare(a.id, b.id) })
	for _, f := range []struct {
		name, help string
		value      func(*deviceFigures) uint64
	}{
		{"fieldgate_device_poll_errors_total", "Failed polls per device.", func(f *deviceFigures) uint64 { return f.pollErrors }},
		{"fieldgate_device_polls_total", "Successful polls (and observe notifications) per device.", func(f *deviceFigures) uint64 { return f.polls }},
		{"fieldgate_device_readings_total", "Values polled per device (before report by exception).", func(f *deviceFigures) uint64 { return f.readings }},
	} {
		w.Family(f.name, promtext.TypeCounter, f.help)
		for i := range figures {
			w.Sample(float64(f.value(&figures[i])), promtext.Label{Name: "device", Value: figures[i].id})
		}
	}

	var byStatus [8]statusCount // the statuses there are, and room for any other
	counts := byStatus[:0]
	for _, s := range deviceStatuses {
		counts = append(counts, statusCount{s, 0})
	}
	for i := range figures {
		j := slices.IndexFunc(counts, func(c statusCount) bool { return c.status == figures[i].status })
		if j < 0 {
			j = len(counts)
			counts = append(counts, statusCount{figures[i].status, 0})
		}
		counts[j].n++
	}
	slices.SortFunc(counts, func(a, b statusCount) int { return cmp.Compare(a.status, b.status) })
	w.Family("fieldgate_devices", promtext.TypeGauge, "Known devices by registration status.")
	for _, c := range counts {
		w.Sample(float64(c.n), promtext.Label{Name: "status", Value: c.status})
	}

	if g.obs != nil {
		w.Family("fieldgate_last_scan_timestamp_seconds", promtext.TypeGauge, "When the last scan of the buses ended (unix seconds; 0: none since start).")
		w.Sample(unixSeconds(g.obs.lastScan.Load()))
		w.Family("fieldgate_last_upload_timestamp_seconds", promtext.TypeGauge, "When the backend last accepted telemetry (unix seconds; 0: not since start).")
		w.Sample(unixSeconds(g.obs.lastUpload.Load()))
	}
	w.Family("fieldgate_link_downs_total", promtext.TypeCounter, "Times the link went down.")
	for _, l := range links {
		w.Sample(float64(l.Downs), promtext.Label{Name: "bus", Value: l.Bus}, promtext.Label{Name: "link", Value: l.Link})
	}
	w.Family("fieldgate_link_up", promtext.TypeGauge, "1 when the bus link (a port, an endpoint) is up.")
	for _, l := range links {
		w.Sample(flag(l.Up), promtext.Label{Name: "bus", Value: l.Bus}, promtext.Label{Name: "link", Value: l.Link})
	}
	w.Family("fieldgate_model_fetches_total", promtext.TypeCounter, "Model documents fetched from the backend.")
	w.Sample(float64(g.models.fetchCount()))
	if g.obs != nil {
		g.obs.writeOperations(w)
	}
	pending, bytes, pendingErr := g.store.Pending()
	if pendingErr == nil {
		w.Family("fieldgate_outbox_bytes", promtext.TypeGauge, "Bytes the waiting records count toward the outbox bound.")
		w.Sample(float64(bytes))
	}
	if dropped, err := g.store.Dropped(); err == nil {
		w.Family("fieldgate_outbox_dropped_total", promtext.TypeCounter, "Records dropped because the outbox was full or too old.")
		w.Sample(float64(dropped))
	}
	if pendingErr == nil {
		w.Family("fieldgate_outbox_pending", promtext.TypeGauge, "Telemetry records (samples and events) waiting in the persistent outbox.")
		w.Sample(float64(pending))
	}
	if last, err := g.store.LastSeq(); err == nil {
		w.Family("fieldgate_telemetry_last_seq", promtext.TypeGauge, "Last telemetry sequence number given out.")
		w.Sample(float64(last))
	}
}

// modelRefs give each model's ref once per scrape (Ref allocates; the
// devices share a few models).
type modelRefs []struct{ id, version, ref string }

func (r *modelRefs) of(m *models.Compiled) string {
	for _, e := range *r {
		if e.id == m.ID && e.version == m.Version {
			return e.ref
		}
	}
	ref := m.Ref()
	*r = append(*r, struct{ id, version, ref string }{m.ID, m.Version, ref})
	return ref
}

// busFigures are one bus's wire counters.
type busFigures struct {
	name  string
	stats adapters.WireStats
}

func flag(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// metricsHandler serves /metrics: the gateway's families, then Go's runtime
// (go_*) and the process (process_*). Gzipped when the scraper accepts it
// (Prometheus does), at BestSpeed, the writers pooled.
func (g *Gateway) metricsHandler() http.Handler {
	m := &metrics{src: metricsSource{devices: g.devices, store: g.store, link: g.link, links: g.links,
		models: g.models, buses: g.buses, obs: g.obs}}
	proc := promtext.NewProcess()
	gzips := sync.Pool{New: func() any { gz, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed); return gz }}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		h := rw.Header()
		h.Set("Content-Type", promtext.ContentType)
		h.Add("Vary", "Accept-Encoding")
		var out io.Writer = rw
		var gz *gzip.Writer
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			h.Set("Content-Encoding", "gzip")
			gz = gzips.Get().(*gzip.Writer)
			gz.Reset(rw)
			out = gz
		}
		w := promtext.NewWriter(out)
		m.write(w)
		promtext.WriteGo(w)
		proc.Write(w)
		err := w.Flush()
		if gz != nil {
			if cerr := gz.Close(); err == nil {
				err = cerr
			}
			gz.Reset(nil)
			gzips.Put(gz)
		}
		if err != nil {
			g.log.Warn("metrics", "err", err)
		}
	})
}

// acceptsGzip reports whether an Accept-Encoding header lists gzip (not
// with q=0).
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			v, err := strconv.ParseFloat(q, 64)
			return err == nil && v > 0
		}
		return true
	}
	return false
}
