package backendclient_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/fieldgate/fieldgate/adapters/modbus"
	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/models"
	"github.com/fieldgate/fieldgate/testbench/backend"
)

// The contract test keeps three things in step: openapi.yaml, the Go types of
// this package (and the reference backend's admin types), and what the client
// and the reference backend actually put on the wire.

type apiSpec struct {
	OpenAPI    string                          `yaml:"openapi"`
	Paths      map[string]map[string]yaml.Node `yaml:"paths"`
	Components struct {
		Schemas   map[string]specSchema `yaml:"schemas"`
		Responses map[string]struct {
			Headers map[string]any `yaml:"headers"`
		} `yaml:"responses"`
	} `yaml:"components"`
	raw any
}

type specSchema struct {
	Type       string         `yaml:"type"`
	Properties map[string]any `yaml:"properties"`
	Required   []string       `yaml:"required"`
}

type specOp struct {
	Tags        []string       `yaml:"tags"`
	OperationID string         `yaml:"operationId"`
	RequestBody any            `yaml:"requestBody"`
	Responses   map[string]any `yaml:"responses"`
}

var httpMethods = []string{"get", "put", "post", "delete", "patch", "head"}

func loadSpec(t *testing.T) *apiSpec {
	t.Helper()
	b, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var s apiSpec
	if err := yaml.Unmarshal(b, &s); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if err := yaml.Unmarshal(b, &s.raw); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(s.OpenAPI, "3.") {
		t.Fatalf("openapi: want 3.x, got %q", s.OpenAPI)
	}
	return &s
}

// ops returns the spec's operations keyed by ServeMux pattern ("PUT /api/v1/gateways/{gw}").
func (s *apiSpec) ops(t *testing.T) map[string]specOp {
	t.Helper()
	out := map[string]specOp{}
	for path, item := range s.Paths {
		for _, m := range httpMethods {
			node, ok := item[m]
			if !ok {
				continue
			}
			var op specOp
			if err := node.Decode(&op); err != nil {
				t.Fatalf("paths[%s].%s: %v", path, m, err)
			}
			out[muxPattern(m, path)] = op
		}
	}
	return out
}

func muxPattern(method, path string) string {
	if path == "/" {
		path = "/{$}"
	}
	return strings.ToUpper(method) + " " + path
}

// specMux matches requests to the spec's operations; it only answers which pattern.
func (s *apiSpec) specMux(t *testing.T) *http.ServeMux {
	mux := http.NewServeMux()
	for p := range s.ops(t) {
		mux.HandleFunc(p, func(http.ResponseWriter, *http.Request) {})
	}
	return mux
}

// jsonNames lists the JSON names of a struct type's fields.
func jsonNames(t reflect.Type) []string {
	var names []string
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func TestContractSchemasMatchGoTypes(t *testing.T) {
	s := loadSpec(t)
	types := map[string]any{
		// backendclient (types.go)
		"Hello": backendclient.Hello{}, "BusInfo": backendclient.BusInfo{}, "HelloAck": backendclient.HelloAck{},
		"Registration": backendclient.Registration{}, "RegistrationResult": backendclient.RegistrationResult{},
		"Instance": backendclient.Instance{}, "InboxPage": backendclient.InboxPage{}, "InboxItem": backendclient.InboxItem{},
		"Operation": backendclient.Operation{}, "Assignment": backendclient.Assignment{}, "Unassignment": backendclient.Unassignment{},
		"OperationStatus": backendclient.OperationStatus{}, "OperationAck": backendclient.OperationAck{},
		"TelemetryBatch": backendclient.TelemetryBatch{}, "Sample": backendclient.Sample{}, "Event": backendclient.Event{},
		"TelemetryAck": backendclient.TelemetryAck{}, "ErrorBody": backendclient.ErrorBody{}, "ErrorEnvelope": backendclient.ErrorEnvelope{},
		// models
		"Fingerprint": models.Fingerprint{}, "Probe": models.Probe{}, "Link": models.Link{},
		// reference backend admin API
		"DeviceRecord": backend.DeviceRecord{}, "AdminAssignment": backend.Assignment{}, "OperationRequest": backend.OperationRequest{},
		"OperationRecord": backend.OperationRecord{}, "OperationEvent": backend.OperationEvent{}, "ReadingRecord": backend.ReadingRecord{},
		"EventRecord": backend.EventRecord{}, "ModelInfo": backend.ModelInfo{}, "Rule": backend.Rule{}, "Stats": backend.Stats{},
		"GatewayRecord": backend.GatewayRecord{},
		"InboxState":    backend.InboxState{},
	}
	// Schemas that are not a Go struct of ours.
	free := map[string]bool{"Value": true, "ModelDocument": true, "OperationCreated": true}
	for name, sch := range s.Components.Schemas {
		for _, r := range sch.Required {
			if _, ok := sch.Properties[r]; !ok {
				t.Errorf("schemas.%s.required: %q is not a property", name, r)
			}
		}
		v, ok := types[name]
		if !ok {
			if !free[name] {
				t.Errorf("schemas.%s: no Go type is checked against it; add it to the contract test", name)
			}
			continue
		}
		var props []string
		for p := range sch.Properties {
			props = append(props, p)
		}
		sort.Strings(props)
		goNames := jsonNames(reflect.TypeOf(v))
		if !slices.Equal(props, goNames) {
			t.Errorf("schemas.%s.properties: %v, Go type %T has JSON fields %v", name, props, v, goNames)
		}
	}
	for name := range types {
		if _, ok := s.Components.Schemas[name]; !ok {
			t.Errorf("schemas.%s: missing", name)
		}
	}
}

// TestContractRefsResolve checks every $ref points at something that exists.
func TestContractRefsResolve(t *testing.T) {
	s := loadSpec(t)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if k == "$ref" {
					ref, _ := c.(string)
					if !resolves(s.raw, ref) {
						t.Errorf("%s: $ref %q does not resolve", path, ref)
					}
					continue
				}
				walk(path+"."+k, c)
			}
		case []any:
			for i, c := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), c)
			}
		}
	}
	walk("", s.raw)
}

func resolves(root any, ref string) bool {
	p, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return false
	}
	cur := root
	for _, part := range strings.Split(p, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[part]; !ok {
			return false
		}
	}
	return true
}

// TestContractAPIOperations checks every /api/v1 operation documents the error
// statuses a gateway must handle, with Retry-After on 429 and 503, and the admin
// ones carry the admin tag.
func TestContractAPIOperations(t *testing.T) {
	s := loadSpec(t)
	for _, name := range []string{"TooManyRequests", "Unavailable"} {
		if _, ok := s.Components.Responses[name].Headers["Retry-After"]; !ok {
			t.Errorf("responses.%s: no Retry-After header", name)
		}
	}
	for pat, op := range s.ops(t) {
		_, path, _ := strings.Cut(pat, " ")
		if !strings.HasPrefix(path, "/api/v1/") {
			if !slices.Contains(op.Tags, "admin") {
				t.Errorf("%s: not under /api/v1, so must be tagged admin, got %v", pat, op.Tags)
			}
			continue
		}
		want := []string{"200", "400", "401", "429", "500", "503"}
		if op.RequestBody != nil {
			want = append(want, "413")
		}
		for _, code := range want {
			if _, ok := op.Responses[code]; !ok {
				t.Errorf("%s: responses: %s missing", pat, code)
			}
		}
		if op.OperationID == "" {
			t.Errorf("%s: operationId missing", pat)
		}
	}
}

// TestContractClientCallsAreInSpec drives every client method against a server
// that only knows the spec's /api/v1 patterns: a call the spec lacks is a 404;
// an /api/v1 operation the client never calls fails the test too.
func TestContractClientCallsAreInSpec(t *testing.T) {
	s := loadSpec(t)
	specMux := s.specMux(t)
	var mu sync.Mutex
	called := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pat := specMux.Handler(r)
		if pat == "" || !strings.Contains(pat, "/api/v1/") {
			writeErr(w, 404, "not-found", r.Method+" "+r.URL.EscapedPath()+" is not in openapi.yaml")
			return
		}
		mu.Lock()
		called[pat] = true
		mu.Unlock()
		switch pat {
		case "PUT /api/v1/gateways/{gw}":
			writeJSON(w, 200, backendclient.HelloAck{Gateway: r.PathValue("gw")})
		case "PUT /api/v1/gateways/{gw}/devices/{localId}":
			writeJSON(w, 200, backendclient.RegistrationResult{Status: "pending", RetryAfter: 30})
		case "GET /api/v1/models/{id}/versions/{version}":
			writeJSON(w, 200, map[string]string{"id": "m"})
		case "GET /api/v1/gateways/{gw}/inbox":
			writeJSON(w, 200, backendclient.InboxPage{Items: []backendclient.InboxItem{}})
		case "PUT /api/v1/operations/{id}":
			writeJSON(w, 200, backendclient.OperationAck{ID: "x", Status: "EXECUTING"})
		case "POST /api/v1/gateways/{gw}/telemetry":
			writeJSON(w, 200, backendclient.TelemetryAck{})
		default:
			writeErr(w, 500, "internal", "contract test does not answer "+pat)
		}
	}))
	defer srv.Close()
	c := newClient(t, srv, func(c *backendclient.Config) { c.RetryMax = -1 })
	ctx := testCtx(t)
	check := func(what string, err error) {
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	check("hello", c.Hello(ctx, backendclient.Hello{}))
	_, err := c.Register(ctx, "modbus-tcp/1.2.3.4:502/1", backendclient.Registration{})
	check("register", err)
	_, err = c.Model(ctx, "m", "1.0.0")
	check("model", err)
	_, err = c.Inbox(ctx, 0, 0)
	check("inbox", err)
	check("report", c.ReportOperation(ctx, "op/1", backendclient.OperationStatus{Status: "EXECUTING"}))
	_, err = c.SendTelemetry(ctx, backendclient.TelemetryBatch{})
	check("telemetry", err)
	for pat := range s.ops(t) {
		if strings.Contains(pat, " /api/v1/") && !called[pat] {
			t.Errorf("%s: in the spec but the client never calls it", pat)
		}
	}
}

// statusRecorder notes, per spec operation, the statuses the backend answered.
type statusRecorder struct {
	mu   sync.Mutex
	seen map[string]map[int]int // pattern → status → count
}

func (sr *statusRecorder) wrap(specMux *http.ServeMux, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pat := specMux.Handler(r)
		rw := &codeWriter{ResponseWriter: w, code: 200}
		next.ServeHTTP(rw, r)
		if pat == "" {
			pat = "(not in spec) " + r.Method + " " + r.URL.EscapedPath()
		}
		sr.mu.Lock()
		defer sr.mu.Unlock()
		if sr.seen[pat] == nil {
			sr.seen[pat] = map[int]int{}
		}
		sr.seen[pat][rw.code]++
	})
}

func (sr *statusRecorder) count(pat string, status int) int {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	return sr.seen[pat][status]
}

type codeWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *codeWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *codeWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *codeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// admin is a small helper for the reference backend's admin API.
type admin struct {
	t    *testing.T
	base string
}

func (a admin) do(method, path string, body any, wantStatus int, out any) {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		a.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, wantStatus, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// TestContractAgainstReferenceBackend drives the client through every endpoint of
// the reference backend and checks each answer's status is one the spec lists.
func TestContractAgainstReferenceBackend(t *testing.T) {
	s := loadSpec(t)
	specOps := s.ops(t)
	dir := t.TempDir()
	be, err := backend.Open(backend.Config{DBPath: filepath.Join(dir, "backend.db"), Token: "tok-1", PendingRetryAfter: 30 * time.Second, Binders: []models.Binder{modbus.ModelBinder()}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	doc, err := os.ReadFile("testdata/acme-th100.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := be.AddModel(doc); err != nil {
		t.Fatalf("AddModel: %v", err)
	}
	rec := &statusRecorder{seen: map[string]map[int]int{}}
	bodies := &bodyChecker{t: t, spec: s, specMux: s.specMux(t), checked: map[string]int{}}
	srv := httptest.NewServer(rec.wrap(s.specMux(t), bodies.wrap(be.Handler())))
	defer srv.Close()
	adm := admin{t: t, base: srv.URL}

	tokFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokFile, []byte("tok-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv, func(c *backendclient.Config) { c.TokenFile = tokFile; c.Gateway = "gw-contract" })
	ctx := testCtx(t)

	// Hello, and a wrong token.
	if err := c.Hello(ctx, backendclient.Hello{Version: "test", Adapters: []string{"modbus"}, Buses: []backendclient.BusInfo{{Name: "tcp", Protocol: "modbus"}}}); err != nil {
		t.Fatal(err)
	}
	badTok := filepath.Join(dir, "bad-token")
	if err := os.WriteFile(badTok, []byte("nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := newClient(t, srv, func(c *backendclient.Config) { c.TokenFile = badTok })
	if err := bad.Hello(ctx, backendclient.Hello{}); !backendclient.IsUnauthorized(err) {
		t.Errorf("wrong token: want 401, got %v", err)
	}

	// Registration without a rule: pending.
	fp := func(addr string) backendclient.Registration {
		return backendclient.Registration{Bus: "tcp", Fingerprint: models.Fingerprint{
			Protocol: "modbus", Transport: "tcp", Address: addr,
			Identity: map[string]string{"vendor": "ACME Controls", "product": "TH-100", "revision": "1.2"},
		}}
	}
	const pendingID, assignedID = "modbus-tcp/127.0.0.1:5020/1", "modbus-tcp/127.0.0.1:5020/2"
	res, err := c.Register(ctx, pendingID, fp("127.0.0.1:5020/1"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != backendclient.StatusPending || res.RetryAfter <= 0 || res.DeviceID == "" {
		t.Fatalf("no rule: want pending with retryAfter, got %+v", res)
	}
	pendingDevice := res.DeviceID

	// With a rule: assigned.
	adm.do("POST", "/admin/rules", backend.Rule{Name: "acme-th", Priority: 10,
		Match: map[string]string{"identity.vendor": "ACME Controls", "identity.product": "/^TH-1/"},
		Model: "acme-th100", Version: "1.0.0"}, 201, nil)
	res, err = c.Register(ctx, assignedID, fp("127.0.0.1:5020/2"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != backendclient.StatusAssigned || res.Instance == nil || res.Instance.Model != "acme-th100" || res.Instance.Version != "1.0.0" {
		t.Fatalf("with rule: want assigned acme-th100@1.0.0, got %+v", res)
	}
	assignedDevice := res.DeviceID
	var devs []backend.DeviceRecord
	adm.do("GET", "/admin/devices", nil, 200, &devs)
	if len(devs) != 2 {
		t.Errorf("admin devices: %+v", devs)
	}

	// Model, then the 304 path, then an unknown one.
	m1, err := c.Model(ctx, "acme-th100", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := models.CompileSource(m1, modbus.ModelBinder()); err != nil {
		t.Errorf("served model does not compile: %v", err)
	}
	m2, err := c.Model(ctx, "acme-th100", "1.0.0")
	if err != nil || !bytes.Equal(m1, m2) {
		t.Fatalf("second fetch: %v", err)
	}
	if n := rec.count("GET /api/v1/models/{id}/versions/{version}", 304); n != 1 {
		t.Errorf("want one 304 answer, got %d", n)
	}
	if _, err := c.Model(ctx, "nope", "1"); !backendclient.IsNotFound(err) {
		t.Errorf("unknown model: want 404, got %v", err)
	}

	// The admin assigns the pending device: an assignment item in the inbox.
	adm.do("POST", "/admin/devices/"+pendingDevice+"/assignment", backend.Assignment{Model: "acme-th100", Version: "1.0.0"}, 200, nil)
	page, err := c.Inbox(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var sawAssign bool
	for _, it := range page.Items {
		if it.Kind == backendclient.KindAssignment && it.Assignment.LocalID == pendingID && it.Assignment.Instance.Model == "acme-th100" {
			sawAssign = true
		}
	}
	if !sawAssign {
		t.Fatalf("inbox: no assignment for %s in %+v", pendingID, page)
	}
	cursor := page.Cursor

	// Long-poll, then an operation arrives.
	type result struct {
		page *backendclient.InboxPage
		err  error
	}
	polled := make(chan result, 1)
	go func() {
		p, err := c.Inbox(ctx, cursor, 30*time.Second)
		polled <- result{p, err}
	}()
	var created struct{ ID string }
	adm.do("POST", "/admin/operations", backend.OperationRequest{DeviceID: assignedDevice, Name: "boost", Input: json.RawMessage(`{"minutes":5}`), TTLSeconds: 60}, 201, &created)
	var got result
	select {
	case got = <-polled:
	case <-time.After(25 * time.Second):
		t.Fatal("long-poll did not return the new operation")
	}
	if got.err != nil {
		t.Fatal(got.err)
	}
	if len(got.page.Items) != 1 || got.page.Items[0].Kind != backendclient.KindOperation || got.page.Items[0].Operation.ID != created.ID ||
		got.page.Items[0].Operation.LocalID != assignedID || string(got.page.Items[0].Operation.Input) != `{"minutes":5}` {
		t.Fatalf("long-poll page: %+v", got.page)
	}

	// Operation status: EXECUTING, SUCCEEDED, and a late FAILED that changes nothing.
	for _, st := range []backendclient.OperationStatus{
		{Status: backendclient.OpExecuting},
		{Status: backendclient.OpSucceeded, Output: json.RawMessage(`{"ok":true}`)},
		{Status: backendclient.OpFailed, Error: &backendclient.ErrorBody{Code: "timeout", Message: "late"}},
	} {
		if err := c.ReportOperation(ctx, created.ID, st); err != nil {
			t.Fatalf("report %s: %v", st.Status, err)
		}
	}
	var op backend.OperationRecord
	adm.do("GET", "/admin/operations/"+created.ID, nil, 200, &op)
	if op.Status != backendclient.OpSucceeded {
		t.Errorf("operation status %s, want SUCCEEDED kept", op.Status)
	}
	if err := c.ReportOperation(ctx, "no-such-op", backendclient.OperationStatus{Status: backendclient.OpExecuting}); !backendclient.IsNotFound(err) {
		t.Errorf("unknown operation: want 404, got %v", err)
	}

	// Telemetry, then an overlapping batch: duplicates counted.
	now := time.Now().UTC()
	sample := func(seq uint64) backendclient.Sample {
		return backendclient.Sample{Seq: seq, LocalID: assignedID, DeviceID: assignedDevice, Time: now, Quality: "good",
			Values: backendclient.SampleValues{{Property: "temperature", Value: models.FloatValue(20 + float64(seq)/10)}, {Property: "running", Value: models.BoolValue(true)}}}
	}
	ack, err := c.SendTelemetry(ctx, backendclient.TelemetryBatch{Samples: []backendclient.Sample{sample(1), sample(2), sample(3)}})
	if err != nil {
		t.Fatal(err)
	}
	if ack.Accepted != 3 || ack.Duplicates != 0 {
		t.Errorf("first batch: %+v", ack)
	}
	ack, err = c.SendTelemetry(ctx, backendclient.TelemetryBatch{Samples: []backendclient.Sample{sample(2), sample(3)},
		Events: []backendclient.Event{{Seq: 4, LocalID: assignedID, Event: "online", Time: now}}})
	if err != nil {
		t.Fatal(err)
	}
	if ack.Accepted != 1 || ack.Duplicates != 2 {
		t.Errorf("overlapping batch: want 1 accepted 2 duplicates, got %+v", ack)
	}
	var stats backend.Stats
	adm.do("GET", "/admin/stats", nil, 200, &stats)
	if stats.Samples != 3 || stats.Values != 6 || stats.Events != 1 || stats.Duplicates != 2 {
		t.Errorf("stats: %+v", stats)
	}
	var readings []backend.ReadingRecord
	adm.do("GET", "/admin/readings?device="+assignedDevice+"&limit=10", nil, 200, &readings)
	if len(readings) != 6 {
		t.Errorf("readings: %+v", readings)
	}

	// The bodies were checked against the spec's schemas; telemetry went gzip
	// (the reference backend's hello answer accepts it).
	for _, what := range []string{"request POST /api/v1/gateways/{gw}/telemetry", "answer POST /api/v1/gateways/{gw}/telemetry",
		"answer PUT /api/v1/gateways/{gw}", "request PUT /api/v1/gateways/{gw}/devices/{localId}"} {
		if bodies.checked[what] == 0 {
			t.Errorf("%s: no body checked against the schema", what)
		}
	}
	// (the second batch is below minGzipBytes: sent plain)
	if n := rec.count("POST /api/v1/gateways/{gw}/telemetry", 200); n != 2 || bodies.gzipped != 1 {
		t.Errorf("telemetry: %d answers 200 to %d gzip bodies, want 2 and 1", n, bodies.gzipped)
	}

	// Every answer's status must be one the spec lists for that operation.
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for pat, statuses := range rec.seen {
		op, ok := specOps[pat]
		if !ok {
			t.Errorf("%s: answered but not in openapi.yaml", pat)
			continue
		}
		for code := range statuses {
			if _, ok := op.Responses[strconv.Itoa(code)]; !ok {
				t.Errorf("%s: answered %d, which openapi.yaml does not list", pat, code)
			}
		}
	}
	for pat := range specOps {
		if strings.Contains(pat, " /api/v1/") && rec.seen[pat] == nil {
			t.Errorf("%s: not exercised against the reference backend", pat)
		}
	}
}

// schemaCheck validates a decoded JSON value against a schema of the spec: the
// subset openapi.yaml uses ($ref, allOf, oneOf, nullable, type, required,
// properties — unknown ones are an error —, additionalProperties, enum,
// minimum, minLength, maxLength, minItems, maxItems, maxProperties, format
// date-time). Problems are returned with their paths.
func (s *apiSpec) schemaCheck(schema any, v any, path string) []string {
	sch, ok := schema.(map[string]any)
	if !ok {
		return []string{path + ": schema is not an object"}
	}
	if ref, ok := sch["$ref"].(string); ok {
		target, ok := lookupRef(s.raw, ref)
		if !ok {
			return []string{path + ": unresolved " + ref}
		}
		return s.schemaCheck(target, v, path)
	}
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, path+": "+fmt.Sprintf(format, args...)) }
	if v == nil {
		if sch["nullable"] != true {
			fail("null where the schema does not allow it")
		}
		return errs
	}
	if all, ok := sch["allOf"].([]any); ok {
		for _, sub := range all {
			errs = append(errs, s.schemaCheck(sub, v, path)...)
		}
	}
	if one, ok := sch["oneOf"].([]any); ok {
		n := 0
		for _, sub := range one {
			if len(s.schemaCheck(sub, v, path)) == 0 {
				n++
			}
		}
		if n != 1 {
			fail("matches %d of oneOf, want 1: %v", n, v)
		}
	}
	if enum, ok := sch["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) }) {
		fail("%v not in %v", v, enum)
	}
	num := func(key string) (float64, bool) {
		switch n := sch[key].(type) {
		case int:
			return float64(n), true
		case float64:
			return n, true
		}
		return 0, false
	}
	switch sch["type"] {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			fail("want an object, got %T", v)
			return errs
		}
		for _, r := range asSlice(sch["required"]) {
			if _, ok := m[r.(string)]; !ok {
				fail("required %q missing", r)
			}
		}
		if max, ok := num("maxProperties"); ok && float64(len(m)) > max {
			fail("%d properties, at most %v", len(m), max)
		}
		props, _ := sch["properties"].(map[string]any)
		for k, val := range m {
			if ps, ok := props[k]; ok {
				errs = append(errs, s.schemaCheck(ps, val, path+"."+k)...)
			} else if ap, ok := sch["additionalProperties"]; ok && ap != false {
				if _, isSchema := ap.(map[string]any); isSchema {
					errs = append(errs, s.schemaCheck(ap, val, path+"."+k)...)
				}
			} else if props != nil {
				fail("property %q not in the schema", k)
			}
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			fail("want an array, got %T", v)
			return errs
		}
		if max, ok := num("maxItems"); ok && float64(len(a)) > max {
			fail("%d items, at most %v", len(a), max)
		}
		if min, ok := num("minItems"); ok && float64(len(a)) < min {
			fail("%d items, at least %v", len(a), min)
		}
		if items, ok := sch["items"]; ok {
			for i, it := range a {
				errs = append(errs, s.schemaCheck(items, it, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			fail("want a string, got %T", v)
			return errs
		}
		if max, ok := num("maxLength"); ok && float64(len(str)) > max {
			fail("%d bytes, at most %v", len(str), max)
		}
		if min, ok := num("minLength"); ok && float64(len(str)) < min {
			fail("%d bytes, at least %v", len(str), min)
		}
		if sch["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				fail("not a date-time: %v", err)
			}
		}
	case "integer", "number":
		var f float64
		switch n := v.(type) {
		case float64:
			f = n
		case json.Number:
			f, _ = n.Float64()
		case int:
			f = float64(n)
		default:
			fail("want a number, got %T", v)
			return errs
		}
		if sch["type"] == "integer" && f != float64(int64(f)) && f < 1<<63 {
			fail("want an integer, got %v", f)
		}
		if min, ok := num("minimum"); ok && f < min {
			fail("%v below minimum %v", f, min)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			fail("want a boolean, got %T", v)
		}
	}
	return errs
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func lookupRef(root any, ref string) (any, bool) {
	p, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, false
	}
	cur := root
	for _, part := range strings.Split(p, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// jsonSchemaOf returns the application/json schema under a requestBody or a response.
func jsonSchemaOf(node any) (any, bool) {
	m, _ := node.(map[string]any)
	content, _ := m["content"].(map[string]any)
	js, _ := content["application/json"].(map[string]any)
	sch, ok := js["schema"]
	return sch, ok
}

// specOpRaw returns the raw operation of a ServeMux pattern.
func (s *apiSpec) specOpRaw(pat string) map[string]any {
	method, path, _ := strings.Cut(pat, " ")
	paths, _ := s.raw.(map[string]any)["paths"].(map[string]any)
	item, _ := paths[path].(map[string]any)
	op, _ := item[strings.ToLower(method)].(map[string]any)
	return op
}

// bodyChecker validates, for every /api/v1 request matching the spec, the
// request body (gzip-decompressed when so encoded) and a 200 answer's body
// against the spec's schemas.
type bodyChecker struct {
	t       *testing.T
	spec    *apiSpec
	specMux *http.ServeMux
	mu      sync.Mutex
	checked map[string]int // "request POST /api/v1/..." → bodies checked
	gzipped int            // request bodies sent gzip-compressed
}

func (bc *bodyChecker) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pat := bc.specMux.Handler(r)
		if pat == "" || !strings.Contains(pat, " /api/v1/") {
			next.ServeHTTP(w, r)
			return
		}
		op := bc.spec.specOpRaw(pat)
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			bc.t.Errorf("%s: read body: %v", pat, err)
		}
		r.Body = io.NopCloser(bytes.NewReader(raw))
		if sch, ok := jsonSchemaOf(op["requestBody"]); ok && len(raw) > 0 {
			plain := raw
			if r.Header.Get("Content-Encoding") == "gzip" {
				bc.mu.Lock()
				bc.gzipped++
				bc.mu.Unlock()
				if zr, err := gzip.NewReader(bytes.NewReader(raw)); err == nil {
					plain, _ = io.ReadAll(zr)
				}
			}
			bc.check("request "+pat, sch, plain)
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		resp, _ := op["responses"].(map[string]any)
		if sch, ok := jsonSchemaOf(resp["200"]); ok && rec.Code == 200 {
			bc.check("answer "+pat, sch, rec.Body.Bytes())
		}
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

func (bc *bodyChecker) check(what string, sch any, body []byte) {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		bc.t.Errorf("%s: body is not JSON: %v", what, err)
		return
	}
	for _, e := range bc.spec.schemaCheck(sch, v, "body") {
		bc.t.Errorf("%s: %s", what, e)
	}
	bc.mu.Lock()
	bc.checked[what]++
	bc.mu.Unlock()
}

func TestContractSchemaCheckerAndExamples(t *testing.T) {
	s := loadSpec(t)
	batch := map[string]any{"$ref": "#/components/schemas/TelemetryBatch"}
	for body, want := range map[string]string{
		`{"samples":[{"seq":1,"localId":"a","time":"2026-01-01T00:00:00Z","quality":"good","values":{"t":1,"u":null,"s":"x","b":true}}]}`: "",
		`{}`:           "",
		`{"items":[]}`: `property "items" not in the schema`,
		`{"samples":[{"seq":0,"localId":"a","time":"2026-01-01T00:00:00Z","quality":"good","values":{}}]}`:        "below minimum",
		`{"samples":[{"seq":1,"localId":"a","time":"2026-01-01T00:00:00Z","quality":"meh","values":{}}]}`:         "not in [good bad]",
		`{"samples":[{"seq":1,"localId":"a","time":"2026-01-01T00:00:00Z","quality":"good","values":{"t":[1]}}]}`: "matches 0 of oneOf",
		`{"events":[{"seq":1,"localId":"a","time":"2026-01-01T00:00:00Z"}]}`:                                      `required "event" missing`,
		`{"events":[{"seq":1,"localId":"a","event":"x","time":"yesterday"}]}`:                                     "not a date-time",
	} {
		var v any
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatal(err)
		}
		errs := strings.Join(s.schemaCheck(batch, v, "body"), "; ")
		if (want == "") != (errs == "") || !strings.Contains(errs, want) {
			t.Errorf("%s: %q, want %q", body, errs, want)
		}
	}
	// Every example of the telemetry schemas and operation is valid.
	comps := s.raw.(map[string]any)["components"].(map[string]any)["schemas"].(map[string]any)
	for _, name := range []string{"Sample", "Event", "HelloAck"} {
		ex, ok := comps[name].(map[string]any)["example"]
		if !ok {
			t.Errorf("schemas.%s: no example", name)
			continue
		}
		for _, e := range s.schemaCheck(map[string]any{"$ref": "#/components/schemas/" + name}, toJSONTree(t, ex), name) {
			t.Error(e)
		}
	}
	op := s.specOpRaw("POST /api/v1/gateways/{gw}/telemetry")
	js := op["requestBody"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)
	for _, e := range s.schemaCheck(js["schema"], toJSONTree(t, js["example"]), "telemetry example") {
		t.Error(e)
	}
}

// toJSONTree turns a YAML-decoded value into what encoding/json would decode.
func toJSONTree(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
