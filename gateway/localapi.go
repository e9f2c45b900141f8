package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"golang.org/x/net/netutil"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway/store"
	"github.com/fieldgate/fieldgate/models"
)

// The local API is for on-site work: health, what the gateway found and runs,
// and the same operation call the backend uses. It listens on loopback by default.

type deviceView struct {
	LocalID     string                 `json:"localId"`
	Bus         string                 `json:"bus"`
	Target      string                 `json:"target"`
	DeviceID    string                 `json:"deviceId,omitempty"`
	Status      string                 `json:"status"`
	Reason      string                 `json:"reason,omitempty"`
	Model       string                 `json:"model,omitempty"`
	Revision    int64                  `json:"revision,omitempty"`
	Health      string                 `json:"health"`
	LastError   string                 `json:"lastError,omitempty"`
	Fingerprint models.Fingerprint     `json:"fingerprint"`
	Readings    map[string]lastReading `json:"readings"`
	Polls       uint64                 `json:"polls"` // polls that succeeded, since the gateway started
}

type localOperation struct {
	Name       string          `json:"name"`
	Input      json.RawMessage `json:"input,omitempty"`
	TTLSeconds int             `json:"ttlSeconds,omitempty"`
}

type operationView struct {
	ID      string                   `json:"id"`
	LocalID string                   `json:"localId,omitempty"`
	Name    string                   `json:"name,omitempty"`
	Status  string                   `json:"status"`
	Output  json.RawMessage          `json:"output,omitempty"`
	Error   *backendclient.ErrorBody `json:"error,omitempty"`
	// Reported: the final status is with the backend: acknowledged by it (an
	// operation from the backend) or queued upstream as a local-operation
	// event (one from the local API). Updated: the journal record's last change.
	Reported bool      `json:"reported"`
	Updated  time.Time `json:"updated,omitzero"`
}

func viewOperation(rec store.OpRecord) operationView {
	v := operationView{ID: rec.ID, LocalID: rec.LocalID, Name: rec.Name, Status: rec.Status, Output: rec.Output,
		Reported: rec.Reported, Updated: rec.Updated}
	if rec.Status == backendclient.OpFailed {
		v.Error = &backendclient.ErrorBody{Code: rec.ErrCode, Message: rec.ErrMessage}
	}
	return v
}

// Local API server bounds. A call that runs long (a scan, an operation) gets
// apiLongWrite to write its answer; every other answer must be written within
// apiWriteTimeout. A connection that has not sent its headers within
// apiReadHeaderTimeout (a slowloris) is closed.
const (
	apiReadHeaderTimeout = 5 * time.Second
	apiReadTimeout       = 30 * time.Second
	apiWriteTimeout      = 30 * time.Second
	apiIdleTimeout       = 60 * time.Second
	apiLongWrite         = 6 * time.Minute // the longest operation timeout (5 min) and then some
	apiMaxHeaderBytes    = 16 << 10
	// apiMaxConns bounds the connections served at once; more wait in the
	// listen queue. An installer's CLI, a page and a scraper need a handful.
	apiMaxConns = 32
)

func (g *Gateway) startLocalAPI(addr, token string) (stop func(), bound string, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	ln = netutil.LimitListener(ln, apiMaxConns)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", g.apiReady)
	mux.HandleFunc("GET /api/v1/status", g.apiStatus)
	mux.HandleFunc("GET /api/v1/devices", g.apiDevices)
	mux.HandleFunc("GET /api/v1/devices/{localId}", g.apiDevice)
	mux.HandleFunc("POST /api/v1/devices/{localId}/operations", g.apiOperation)
	mux.HandleFunc("POST /api/v1/devices/{localId}/read", g.apiRead)
	mux.HandleFunc("GET /api/v1/devices/{localId}/model", g.apiModel)
	mux.HandleFunc("GET /api/v1/operations/{id}", g.apiOperationStatus)
	mux.Handle("GET /metrics", g.metricsHandler())
	if g.cfg.API.Pprof {
		// Go's profiler, only when the config asks (api.pprof, loopback only).
		// The package also registers itself on http.DefaultServeMux, which
		// the daemon never serves.
		// A profile or trace runs as long as asked (30 s by default).
		mux.HandleFunc("GET /debug/pprof/", long(pprof.Index))
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", long(pprof.Profile))
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", long(pprof.Trace))
	}
	// Requests run under a context that ends when the API stops (or the
	// gateway does), so a long one (a scan) stops using buses and state before
	// Run returns.
	base, cancel := context.WithCancel(g.life)
	mux.HandleFunc("POST /api/v1/discover", func(w http.ResponseWriter, r *http.Request) { g.apiDiscover(base, w, r) })
	registerPage(mux)
	srv := &http.Server{
		Handler:           newAPIGuard(g.cfg, token, g.log.With("component", "local-api"), mux),
		ReadHeaderTimeout: apiReadHeaderTimeout,
		ReadTimeout:       apiReadTimeout,
		// No server-wide WriteTimeout: the guard sets apiWriteTimeout on each
		// request and long calls extend it (a server-wide one would also make
		// net/http/pprof refuse its default 30 s profile).
		IdleTimeout:    apiIdleTimeout,
		MaxHeaderBytes: apiMaxHeaderBytes,
		BaseContext:    func(net.Listener) context.Context { return base },
		ErrorLog:       slog.NewLogLogger(g.log.With("component", "local-api").Handler(), slog.LevelDebug),
	}
	srv.RegisterOnShutdown(cancel)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.log.Error("local API stopped", "err", err)
		}
	}()
	stop = func() {
		sctx, cancelStop := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancelStop()
		_ = srv.Shutdown(sctx)
		cancel()
		g.scans.wait()
	}
	return stop, ln.Addr().String(), nil
}

// extendWrite gives a long call (a scan, an operation, a profile) time to answer.
func extendWrite(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(apiLongWrite))
}

// long is h with apiLongWrite to answer.
func long(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		extendWrite(w)
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, backendclient.ErrorEnvelope{Error: backendclient.ErrorBody{Code: code, Message: msg}})
}

func (g *Gateway) apiReady(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"ready": true, "backendReachable": g.link.isUp()})
}

func (g *Gateway) apiStatus(w http.ResponseWriter, _ *http.Request) {
	backlog, _ := g.store.Backlog()
	last, _ := g.store.LastSeq()
	dropped, _ := g.store.Dropped()
	var polls, values uint64
	byStatus, byHealth := map[string]int{}, map[string]int{}
	all := g.devices.all()
	for _, d := range all {
		d.mu.Lock()
		polls, values = polls+d.stats.polls, values+d.stats.readings
		byStatus[d.rec.Status]++
		if d.run != nil {
			byHealth[d.health]++
		}
		d.mu.Unlock()
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"gateway": g.cfg.Gateway.ID, "version": g.version,
		"backend": g.link.view(g.cfg.Backend.URL),
		"inbox":   map[string]any{"catchingUpAfterReset": g.ops.isCatchingUp()},
		"config":  map[string]any{"lastGoodFallback": g.fallback},
		"outbox": map[string]any{"pending": backlog.Records, "values": backlog.Values, "bytes": backlog.Bytes,
			"lastSeq": last, "dropped": dropped},
		"polled":       map[string]any{"polls": polls, "values": values},
		"modelFetches": g.models.fetchCount(),
		"scans":        g.scans.started(),
		"links":        g.links.list(),
		"devices":      len(all),
		// Devices by registration status (assigned, pending, rejected...) and
		// the assigned ones by health (online, degraded, offline...).
		"deviceStatus": byStatus,
		"deviceHealth": byHealth,
	})
}

func (g *Gateway) view(d *device) deviceView {
	d.mu.Lock()
	defer d.mu.Unlock()
	v := deviceView{
		LocalID: d.localID, Bus: d.rec.Bus, Target: d.rec.Target, DeviceID: d.rec.DeviceID,
		Status: d.rec.Status, Reason: d.rec.Reason, Health: d.health, LastError: d.lastErr,
		Fingerprint: d.rec.Fingerprint, Readings: map[string]lastReading{}, Polls: d.stats.polls,
	}
	if v.Status == backendclient.StatusPending && v.Reason == "" {
		// Pending is the backend's "no decision yet"; say what happens next.
		v.Reason = "the backend has assigned no model yet"
		if !d.rec.NextRegister.IsZero() {
			v.Reason += "; asking again at " + d.rec.NextRegister.UTC().Format(time.TimeOnly) + " UTC or when it assigns one"
		}
	}
	if run := d.run; run != nil {
		v.Model = run.model.Ref()
		v.Revision = run.instance.Revision
		for i := range run.last {
			if l := &run.last[i]; l.ok {
				p := &run.model.Properties[i]
				v.Readings[p.Name] = lastReading{Value: l.value(), Unit: p.Unit, Quality: l.quality.String(), Time: time.Unix(0, l.at).UTC()}
			}
		}
	}
	return v
}

func (g *Gateway) apiDevices(w http.ResponseWriter, _ *http.Request) {
	list := []deviceView{}
	for _, d := range g.devices.all() {
		list = append(list, g.view(d))
	}
	writeJSON(w, http.StatusOK, list)
}

func (g *Gateway) apiDevice(w http.ResponseWriter, r *http.Request) {
	d, ok := g.devices.lookup(r.PathValue("localId"))
	if !ok {
		writeError(w, http.StatusNotFound, "not-found", fmt.Sprintf("no device %q", clip(r.PathValue("localId"), 300)))
		return
	}
	writeJSON(w, http.StatusOK, g.detail(d))
}

// apiOperation runs an operation on site through the same path as the backend's
// (check against the model, journal, execute) and answers with its final
// status. A request the model refuses is answered at once and not journaled;
// one that ran is reported upstream (a local-operation event) with its caller.
func (g *Gateway) apiOperation(w http.ResponseWriter, r *http.Request) {
	localID := r.PathValue("localId")
	if len(localID) > backendclient.MaxIDBytes {
		writeError(w, http.StatusBadRequest, "bad-request", fmt.Sprintf("localId: at most %d bytes, got %d", backendclient.MaxIDBytes, len(localID)))
		return
	}
	var req localOperation
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		status := http.StatusBadRequest
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			status = http.StatusRequestEntityTooLarge
		}
		writeError(w, status, "bad-request", "operation body: "+err.Error())
		return
	}
	switch {
	case req.Name == "":
		writeError(w, http.StatusBadRequest, "bad-request", "name: required")
		return
	case len(req.Name) > backendclient.MaxIDBytes:
		writeError(w, http.StatusBadRequest, "bad-request", fmt.Sprintf("name: at most %d bytes, got %d", backendclient.MaxIDBytes, len(req.Name)))
		return
	case len(req.Input) > backendclient.MaxOperationInputBytes:
		writeError(w, http.StatusRequestEntityTooLarge, "bad-request", fmt.Sprintf("input: at most %d bytes, got %d", backendclient.MaxOperationInputBytes, len(req.Input)))
		return
	case req.TTLSeconds < 0 || req.TTLSeconds > 3600:
		writeError(w, http.StatusBadRequest, "bad-request", fmt.Sprintf("ttlSeconds: must be 0..3600, got %d", req.TTLSeconds))
		return
	}
	// What the operation path would refuse before the wire is refused here,
	// unjournaled: a refused request leaves nothing behind.
	d, ok := g.devices.lookup(localID)
	if !ok {
		writeError(w, http.StatusNotFound, codeUnknownDevice, fmt.Sprintf("no device %q on this gateway", localID))
		return
	}
	run := d.current()
	if run == nil {
		writeError(w, http.StatusConflict, codeNotAssigned, fmt.Sprintf("device %q has no assigned model", localID))
		return
	}
	if _, err := run.model.Check(req.Name, req.Input); err != nil {
		code, msg := "invalid-input", err.Error()
		var oe *models.OperationError
		if errors.As(err, &oe) {
			code, msg = oe.Code, oe.Message
		}
		g.log.Info("local operation refused", "device", localID, "name", req.Name, "code", code, "remote", r.RemoteAddr)
		writeError(w, http.StatusUnprocessableEntity, code, msg)
		return
	}
	ttl := 60 * time.Second
	if req.TTLSeconds > 0 {
		ttl = time.Duration(req.TTLSeconds) * time.Second
	}
	extendWrite(w)
	op := backendclient.Operation{ID: newLocalOperationID(), LocalID: localID, Name: req.Name, Input: req.Input, Expires: time.Now().Add(ttl)}
	g.log.Info("local operation", "op", op.ID, "device", localID, "name", req.Name, "remote", r.RemoteAddr, "auth", "token")
	done := g.ops.acceptLocal(op, callerOf(r))
	select {
	case <-done:
	case <-r.Context().Done():
		return
	}
	rec, ok, err := g.store.Op(op.ID)
	if err != nil || !ok {
		writeError(w, http.StatusInternalServerError, "internal", fmt.Sprintf("operation %s: journal: %v", op.ID, err))
		return
	}
	status := http.StatusOK
	if rec.Status == backendclient.OpFailed {
		status = http.StatusUnprocessableEntity
	}
	writeJSON(w, status, viewOperation(rec))
}

// callerOf says who called the local API, for the journal and the audit event.
func callerOf(r *http.Request) string { return "local-api " + r.RemoteAddr + " (token)" }

// apiOperationStatus shows one operation as the journal has it: an operation
// from the backend or the local API, while it runs and for as long as its id
// is remembered.
func (g *Gateway) apiOperationStatus(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rec, ok, err := g.store.Op(id)
	switch {
	case err != nil:
		writeError(w, http.StatusInternalServerError, "internal", fmt.Sprintf("operation %s: journal: %v", id, err))
	case !ok:
		writeError(w, http.StatusNotFound, "not-found", fmt.Sprintf("operation %q: not in the journal", clip(id, 300)))
	default:
		writeJSON(w, http.StatusOK, viewOperation(rec))
	}
}

// apiDiscover scans the buses now and answers the device list. One scan runs
// at a time: a call while one runs waits for it and answers its result.
//
// A caller that accepts application/x-ndjson gets the scan's progress as it
// goes instead (see streamDiscover).
func (g *Gateway) apiDiscover(base context.Context, w http.ResponseWriter, r *http.Request) {
	extendWrite(w)
	if wantsStream(r) {
		g.streamDiscover(base, w, r)
		return
	}
	g.scans.run(base, r.Context(), g.reg.discover)
	if r.Context().Err() != nil {
		return
	}
	g.apiDevices(w, r)
}
