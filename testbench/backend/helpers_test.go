package backend

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters/modbus"
	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/models"
)

// testRules assign test-th to ACME TH-1xx (regex), reject "Evil Corp" and assign
// test-pm to Voltix PM-3 exactly.
func testRules() []Rule {
	return []Rule{
		{Name: "acme", Priority: 10, Match: map[string]string{"identity.vendor": "ACME Controls", "identity.product": "/^TH-1/"}, Model: "test-th", Version: "1.0.0", PollIntervalMs: 500},
		{Name: "evil", Priority: 5, Match: map[string]string{"identity.vendor": "Evil Corp"}, Reject: "not allowed here"},
		{Name: "voltix", Priority: 1, Match: map[string]string{"identity.vendor": "Voltix", "identity.product": "PM-3"}, Model: "test-pm", Version: "2.0.0"},
	}
}

type bench struct {
	t   *testing.T
	cfg Config
	srv *Server
	hs  *httptest.Server
}

// newBench opens a backend on a fresh bbolt file with the test models and rules,
// served by a real HTTP server on loopback.
func newBench(t *testing.T, edit func(*Config)) *bench {
	t.Helper()
	cfg := Config{Binders: testBinders(), DBPath: filepath.Join(t.TempDir(), "backend.db"), ModelsDir: "testdata/models", Rules: testRules()}
	if edit != nil {
		edit(&cfg)
	}
	b := &bench{t: t, cfg: cfg}
	b.open()
	t.Cleanup(b.close)
	return b
}

func (b *bench) open() {
	b.t.Helper()
	srv, err := Open(b.cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.t.Fatal(err)
	}
	b.srv = srv
	b.hs = httptest.NewServer(srv.Handler())
}

func (b *bench) close() {
	if b.hs == nil {
		return
	}
	b.hs.Close()
	if err := b.srv.Close(); err != nil {
		b.t.Error(err)
	}
	b.hs, b.srv = nil, nil
}

func (b *bench) restart() {
	b.t.Helper()
	b.close()
	b.open()
}

// call does one HTTP request; body is marshalled unless it is a string or []byte.
// It checks the status and decodes the answer into out (when not nil).
func (b *bench) call(method, path string, body any, want int, out any) []byte {
	b.t.Helper()
	return b.callWith(method, path, body, nil, want, out)
}

func (b *bench) callWith(method, path string, body any, hdr http.Header, want int, out any) []byte {
	b.t.Helper()
	var rd io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(v)
	case []byte:
		rd = bytes.NewReader(v)
	default:
		data, err := json.Marshal(v)
		if err != nil {
			b.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, b.hs.URL+path, rd)
	if err != nil {
		b.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json") // as every admin client must
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := b.hs.Client().Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	if resp.StatusCode != want {
		b.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			b.t.Fatalf("%s %s: decode %s: %v", method, path, data, err)
		}
	}
	return data
}

// apiError decodes an error envelope and checks its code.
func apiError(t *testing.T, data []byte, code string) backendclient.ErrorBody {
	t.Helper()
	var env backendclient.ErrorEnvelope
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatalf("not an error envelope: %s", data)
	}
	if env.Error.Code != code {
		t.Fatalf("error code %q, want %q: %s", env.Error.Code, code, data)
	}
	return env.Error
}

func thFingerprint(product, revision string) models.Fingerprint {
	return models.Fingerprint{Protocol: "modbus", Transport: "tcp", Address: "127.0.0.1:5020/1",
		Identity: map[string]string{"vendor": "ACME Controls", "product": product, "revision": revision}}
}

func (b *bench) register(gw, localID string, fp models.Fingerprint) backendclient.RegistrationResult {
	b.t.Helper()
	var res backendclient.RegistrationResult
	b.call("PUT", "/api/v1/gateways/"+url.PathEscape(gw)+"/devices/"+url.PathEscape(localID),
		backendclient.Registration{Fingerprint: fp, Bus: "tcp0"}, 200, &res)
	return res
}

func (b *bench) inbox(gw string, after int64, wait int) backendclient.InboxPage {
	b.t.Helper()
	var p backendclient.InboxPage
	b.call("GET", "/api/v1/gateways/"+url.PathEscape(gw)+"/inbox?after="+itoa(after)+"&wait="+itoa(int64(wait)), nil, 200, &p)
	return p
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// sampleOf is a good sample of one float property.
func sampleOf(seq uint64, localID, prop string, v float64) backendclient.Sample {
	return backendclient.Sample{Seq: seq, LocalID: localID, Quality: "good", Time: time.Unix(1700000000+int64(seq), 0).UTC(),
		Values: backendclient.SampleValues{{Property: prop, Value: models.FloatValue(v)}}}
}

func samples(ss ...backendclient.Sample) backendclient.TelemetryBatch {
	return backendclient.TelemetryBatch{Samples: ss}
}

// eventually polls cond every 10ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testBinders are the binders the tests' reference backend checks models with.
func testBinders() []models.Binder { return []models.Binder{modbus.ModelBinder()} }
