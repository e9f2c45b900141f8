package gateway

import (
	"net/http"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/backendclient"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics is the local API's /metrics (Prometheus text format). Everything is
// read from the gateway's state at scrape time; the hot path only bumps the
// per-device counters it keeps anyway.
type metrics struct {
	g *Gateway

	devices, health, polls, pollErrors, readings       *prometheus.Desc
	outboxPending, outboxBytes, outboxDropped, lastSeq *prometheus.Desc
	backendUp, linkUp, linkDowns, modelFetches         *prometheus.Desc
	busTxns, busTimeouts, busCRCErrors, busExceptions  *prometheus.Desc
	lastUpload, lastScan                               *prometheus.Desc
}

// deviceStatuses are every registration status a device can have: each is a
// series of fieldgate_devices, at zero when no device has it.
var deviceStatuses = []string{statusNew, backendclient.StatusPending, backendclient.StatusAssigned,
	backendclient.StatusRejected, statusUnassigned}

func newMetrics(g *Gateway) *metrics {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("fieldgate_"+name, help, labels, nil)
	}
	return &metrics{
		g:             g,
		devices:       d("devices", "Known devices by registration status.", "status"),
		health:        d("device_online", "1 when the device's last poll succeeded.", "device", "bus", "model"),
		polls:         d("device_polls_total", "Successful polls (and observe notifications) per device.", "device"),
		pollErrors:    d("device_poll_errors_total", "Failed polls per device.", "device"),
		readings:      d("device_readings_total", "Values polled per device (before report by exception).", "device"),
		outboxPending: d("outbox_pending", "Telemetry records (samples and events) waiting in the persistent outbox."),
		outboxBytes:   d("outbox_bytes", "Bytes the waiting records count toward the outbox bound."),
		outboxDropped: d("outbox_dropped_total", "Records dropped because the outbox was full or too old."),
		lastSeq:       d("telemetry_last_seq", "Last telemetry sequence number given out."),
		backendUp:     d("backend_up", "1 when the last backend call succeeded."),
		linkUp:        d("link_up", "1 when the bus link (a port, an endpoint) is up.", "bus", "link"),
		linkDowns:     d("link_downs_total", "Times the link went down.", "bus", "link"),
		modelFetches:  d("model_fetches_total", "Model documents fetched from the backend."),
		busTxns:       d("bus_transactions_total", "Requests put on the bus's wire, answered or not.", "bus"),
		busTimeouts:   d("bus_timeouts_total", "Requests on the bus no reply came to in time.", "bus"),
		busCRCErrors:  d("bus_crc_errors_total", "Replies on the bus dropped for a bad frame checksum (CRC).", "bus"),
		busExceptions: d("bus_exceptions_total", "Replies on the bus refusing the request (an exception or error code of the protocol).", "bus"),
		lastUpload:    d("last_upload_timestamp_seconds", "When the backend last accepted telemetry (unix seconds; 0: not since start)."),
		lastScan:      d("last_scan_timestamp_seconds", "When the last scan of the buses ended (unix seconds; 0: none since start)."),
	}
}

func (m *metrics) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(m, ch) }

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	g := m.g
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	byStatus := make(map[string]int, len(deviceStatuses))
	for _, s := range deviceStatuses {
		byStatus[s] = 0
	}
	for _, d := range g.devices.all() {
		d.mu.Lock()
		byStatus[d.rec.Status]++
		model := ""
		if d.run != nil {
			model = d.run.model.Ref()
		}
		online := 0.0
		if d.health == healthOnline {
			online = 1
		}
		gauge(m.health, online, d.localID, d.rec.Bus, model)
		counter(m.polls, float64(d.stats.polls), d.localID)
		counter(m.pollErrors, float64(d.stats.pollErrors), d.localID)
		counter(m.readings, float64(d.stats.readings), d.localID)
		d.mu.Unlock()
	}
	for status, n := range byStatus {
		gauge(m.devices, float64(n), status)
	}
	if pending, bytes, err := g.store.Pending(); err == nil {
		gauge(m.outboxPending, float64(pending))
		gauge(m.outboxBytes, float64(bytes))
	}
	if dropped, err := g.store.Dropped(); err == nil {
		counter(m.outboxDropped, float64(dropped))
	}
	if last, err := g.store.LastSeq(); err == nil {
		gauge(m.lastSeq, float64(last))
	}
	up := 0.0
	if g.link.isUp() {
		up = 1
	}
	gauge(m.backendUp, up)
	for _, l := range g.links.list() {
		v := 0.0
		if l.Up {
			v = 1
		}
		gauge(m.linkUp, v, l.Bus, l.Link)
		counter(m.linkDowns, float64(l.Downs), l.Bus, l.Link)
	}
	counter(m.modelFetches, float64(g.models.fetchCount()))
	for _, name := range g.buses.names() {
		wc, ok := g.buses.get(name).(adapters.WireCounter)
		if !ok {
			continue
		}
		s := wc.WireStats()
		counter(m.busTxns, float64(s.Transactions), name)
		counter(m.busTimeouts, float64(s.Timeouts), name)
		counter(m.busCRCErrors, float64(s.CRCErrors), name)
		counter(m.busExceptions, float64(s.Exceptions), name)
	}
	if g.obs != nil {
		gauge(m.lastUpload, unixSeconds(g.obs.lastUpload.Load()))
		gauge(m.lastScan, unixSeconds(g.obs.lastScan.Load()))
	}
}

// metricsHandler serves /metrics from a registry of the gateway's own (no
// process-wide default registry), with the Go runtime and process collectors.
func (g *Gateway) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newMetrics(g))
	if g.obs != nil {
		g.obs.register(reg)
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{g}})
}

type slogPrinter struct{ g *Gateway }

func (p slogPrinter) Println(v ...any) { p.g.log.Warn("metrics", "err", v) }
