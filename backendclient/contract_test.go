package backendclient_test

import (
	"bytes"
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
		"TelemetryBatch": backendclient.TelemetryBatch{}, "TelemetryItem": backendclient.TelemetryItem{},
		"TelemetryAck": backendclient.TelemetryAck{}, "ErrorBody": backendclient.ErrorBody{}, "ErrorEnvelope": backendclient.ErrorEnvelope{},
		// models
		"Fingerprint": models.Fingerprint{}, "Probe": models.Probe{}, "Link": models.Link{},
		// reference backend admin API
		"DeviceRecord": backend.DeviceRecord{}, "AdminAssignment": backend.Assignment{}, "OperationRequest": backend.OperationRequest{},
		"OperationRecord": backend.OperationRecord{}, "OperationEvent": backend.OperationEvent{}, "ReadingRecord": backend.ReadingRecord{},
		"EventRecord": backend.EventRecord{}, "ModelInfo": backend.ModelInfo{}, "Rule": backend.Rule{}, "Stats": backend.Stats{},
		"GatewayRecord": backend.GatewayRecord{},
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
	be, err := backend.Open(backend.Config{DBPath: filepath.Join(dir, "backend.db"), Token: "tok-1", PendingRetryAfter: 30 * time.Second}, slog.New(slog.DiscardHandler))
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
	srv := httptest.NewServer(rec.wrap(s.specMux(t), be.Handler()))
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
	if _, err := models.CompileSource(m1); err != nil {
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
	item := func(seq uint64) backendclient.TelemetryItem {
		v := models.FloatValue(20 + float64(seq)/10)
		return backendclient.TelemetryItem{Seq: seq, Kind: backendclient.KindReading, LocalID: assignedID, DeviceID: assignedDevice,
			Property: "temperature", Value: &v, Quality: "good", Time: now}
	}
	ack, err := c.SendTelemetry(ctx, backendclient.TelemetryBatch{Items: []backendclient.TelemetryItem{item(1), item(2), item(3)}})
	if err != nil {
		t.Fatal(err)
	}
	if ack.Accepted != 3 || ack.Duplicates != 0 {
		t.Errorf("first batch: %+v", ack)
	}
	ack, err = c.SendTelemetry(ctx, backendclient.TelemetryBatch{Items: []backendclient.TelemetryItem{item(2), item(3), item(4)}})
	if err != nil {
		t.Fatal(err)
	}
	if ack.Accepted != 1 || ack.Duplicates != 2 {
		t.Errorf("overlapping batch: want 1 accepted 2 duplicates, got %+v", ack)
	}
	var stats backend.Stats
	adm.do("GET", "/admin/stats", nil, 200, &stats)
	if stats.Readings != 4 || stats.Duplicates != 2 {
		t.Errorf("stats: %+v", stats)
	}
	var readings []backend.ReadingRecord
	adm.do("GET", "/admin/readings?device="+assignedDevice+"&limit=10", nil, 200, &readings)
	if len(readings) != 4 {
		t.Errorf("readings: %+v", readings)
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
