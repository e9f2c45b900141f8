package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/testbench"
	"github.com/fieldgate/fieldgate/testbench/backend"
	"github.com/fieldgate/fieldgate/testbench/conform"
)

// The conformance kit against the reference backend (every clause passes)
// and against a variant broken the way a backend written from an older
// reading of the contract would be (exactly the matching clauses fail).

// buildFieldgate builds cmd/fieldgate into a temporary directory.
func buildFieldgate(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fieldgate")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../fieldgate").CombinedOutput(); err != nil {
		t.Fatalf("go build fieldgate: %v\n%s", err, out)
	}
	return bin
}

// serveReference serves the reference backend with the demo bench's models
// (and its rules, when withRules) on loopback, behind wrap (nil: as it is),
// requiring token, and "admin-"+token on its admin API when token is set.
func serveReference(t *testing.T, token string, withRules bool, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	var rs []backend.Rule
	if withRules {
		rules, err := os.ReadFile("../../testbench/demo/rules.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if rs, err = backend.DecodeRules(rules); err != nil {
			t.Fatal(err)
		}
	}
	admin := ""
	if token != "" {
		admin = "admin-" + token
	}
	srv, err := backend.Open(backend.Config{DBPath: filepath.Join(t.TempDir(), "backend.db"), Token: token, AdminToken: admin, Binders: testbench.ModelBinders(),
		ModelsDir: "../../testbench/demo/models", Rules: rs}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = srv.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() {
		_ = hs.Close()
		_ = srv.Close()
	})
	return "http://" + ln.Addr().String()
}

func runKit(t *testing.T, backendURL, tokenFile, controlTokenFile, fieldgate string) map[string]conform.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out bytes.Buffer
	results, err := conform.Run(ctx, conform.Options{Backend: backendURL, TokenFile: tokenFile, ControlTokenFile: controlTokenFile, Fieldgate: fieldgate,
		Dir: t.TempDir(), Out: &out})
	t.Logf("kit output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]conform.Result{}
	for _, r := range results {
		byID[r.ID] = r
	}
	if len(byID) != len(conform.Clauses()) {
		t.Fatalf("%d results for %d clauses", len(byID), len(conform.Clauses()))
	}
	return byID
}

func TestConformReferenceBackendPassesAll(t *testing.T) {
	bin := buildFieldgate(t)
	dir := t.TempDir()
	tokenFile, adminFile := filepath.Join(dir, "token"), filepath.Join(dir, "admin-token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(adminFile, []byte("admin-s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url := serveReference(t, "s3cret", true, nil)
	for id, r := range runKit(t, url, tokenFile, adminFile, bin) {
		if r.Verdict != conform.Pass {
			t.Errorf("%s: %s: %s", id, r.Verdict, r.Evidence)
		}
	}
}

// strictBackend is the reference backend as a backend written to the
// contract before 1.1 would be: it refuses request bodies with fields it does
// not know (400), and inbox waits over 60 s (400); and it sends every inbox
// assignment with revision 1, as one that does not count its changes would.
// It has no rules: the kit assigns the thermostat through the test-control
// API.
func strictBackend(next http.Handler) http.Handler {
	types := map[string]func() any{
		"hello":     func() any { return new(backendclient.Hello) },
		"devices":   func() any { return new(backendclient.Registration) },
		"telemetry": func() any { return new(backendclient.TelemetryBatch) },
		"operation": func() any { return new(backendclient.OperationStatus) },
	}
	refuse := func(w http.ResponseWriter, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(backendclient.ErrorEnvelope{Error: backendclient.ErrorBody{Code: "bad-request", Message: msg}})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if strings.HasSuffix(p, "/inbox") {
			if wait, _ := strconv.Atoi(r.URL.Query().Get("wait")); wait > 60 {
				refuse(w, "wait: must be 0..60")
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			var page backendclient.InboxPage
			if rec.Code == http.StatusOK && json.Unmarshal(rec.Body.Bytes(), &page) == nil {
				for _, it := range page.Items {
					if it.Assignment != nil {
						it.Assignment.Instance.Revision = 1
					}
				}
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(page)
				return
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
			return
		}
		kind := ""
		switch {
		case !strings.HasPrefix(p, "/api/v1/") || r.Body == nil || r.Header.Get("Content-Encoding") != "":
		case strings.HasPrefix(p, "/api/v1/operations/"):
			kind = "operation"
		case strings.HasSuffix(p, "/telemetry"):
			kind = "telemetry"
		case strings.Contains(p, "/devices/"):
			kind = "devices"
		case r.Method == http.MethodPut:
			kind = "hello"
		}
		if kind != "" {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				refuse(w, err.Error())
				return
			}
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(types[kind]()); err != nil {
				refuse(w, "body: "+err.Error())
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		next.ServeHTTP(w, r)
	})
}

func TestConformBrokenBackendFailsItsClauses(t *testing.T) {
	bin := buildFieldgate(t)
	url := serveReference(t, "", false, strictBackend)
	wantFail := map[string]bool{"evolution": true, "inbox.wait-clamp": true, "gateway.reassign": true}
	results := runKit(t, url, "", "", bin)
	for id, r := range results {
		switch {
		case wantFail[id] && r.Verdict != conform.Fail:
			t.Errorf("%s: %s, want FAIL", id, r.Verdict)
		case wantFail[id] && r.Evidence == "":
			t.Errorf("%s: failed without evidence", id)
		case id == "auth" && r.Verdict != conform.Skip:
			t.Errorf("auth without a token: %s, want SKIP", r.Verdict)
		case !wantFail[id] && id != "auth" && r.Verdict != conform.Pass:
			t.Errorf("%s: %s (%s), want PASS", id, r.Verdict, r.Evidence)
		}
	}
	if ev := results["evolution"].Evidence; !strings.Contains(ev, "unknown field") {
		t.Errorf("evolution evidence does not show the refusal: %s", ev)
	}
	if ev := results["gateway.assigned"].Evidence; !strings.Contains(ev, "test-control") {
		t.Errorf("gateway.assigned without rules: %q, want the kit to have assigned it through the test-control API", ev)
	}
}
