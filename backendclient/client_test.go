package backendclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/models"
)

// newClient builds a client for srv with fast retries; mod adjusts the config.
func newClient(t *testing.T, srv *httptest.Server, mod func(*backendclient.Config)) *backendclient.Client {
	t.Helper()
	cfg := backendclient.Config{
		BaseURL:      srv.URL,
		Gateway:      "gw-1",
		Timeout:      5 * time.Second,
		RetryMax:     3,
		RetryWaitMin: time.Millisecond,
		RetryWaitMax: 10 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := backendclient.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, backendclient.ErrorEnvelope{Error: backendclient.ErrorBody{Code: code, Message: msg}})
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestNewConfigErrors(t *testing.T) {
	_, err := backendclient.New(backendclient.Config{BaseURL: "ftp://x", Timeout: -time.Second}, nil)
	if err == nil {
		t.Fatal("want error")
	}
	for _, want := range []string{"baseURL: scheme must be http or https", `"ftp://x"`, "gateway: must be set", "timeout: must be >= 0, got -1s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	_, err = backendclient.New(backendclient.Config{BaseURL: "http://127.0.0.1:1", Gateway: "g", TokenFile: filepath.Join(t.TempDir(), "missing")}, nil)
	if err == nil || !strings.Contains(err.Error(), "tokenFile") {
		t.Fatalf("missing token file: got %v", err)
	}
}

func TestHelloSendsBodyAndHeaders(t *testing.T) {
	tokFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokFile, []byte("  s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var got backendclient.Hello
	var auth, ctype, path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth, ctype, path = r.Header.Get("Authorization"), r.Header.Get("Content-Type"), r.Method+" "+r.URL.EscapedPath()
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			writeErr(w, 400, "bad-request", err.Error())
			return
		}
		writeJSON(w, 200, backendclient.HelloAck{Gateway: "gw/1", Time: time.Now()})
	}))
	defer srv.Close()
	c := newClient(t, srv, func(c *backendclient.Config) { c.TokenFile = tokFile; c.Gateway = "gw/1" })
	h := backendclient.Hello{Version: "1.2.3", Adapters: []string{"modbus"}, Buses: []backendclient.BusInfo{{Name: "rs485", Protocol: "modbus"}}}
	if err := c.Hello(testCtx(t), h); err != nil {
		t.Fatal(err)
	}
	if auth != "Bearer s3cret" || ctype != "application/json" || path != "PUT /api/v1/gateways/gw%2F1" {
		t.Errorf("auth %q content-type %q path %q", auth, ctype, path)
	}
	if got.Version != "1.2.3" || len(got.Buses) != 1 || got.Buses[0].Name != "rs485" {
		t.Errorf("server got %+v", got)
	}
}

func TestRegisterEscapesLocalID(t *testing.T) {
	const localID = "modbus-tcp/10.0.0.7:502/1"
	mux := http.NewServeMux()
	var gotID, gotRaw string
	var gotReg backendclient.Registration
	mux.HandleFunc("PUT /api/v1/gateways/{gw}/devices/{localId}", func(w http.ResponseWriter, r *http.Request) {
		gotID, gotRaw = r.PathValue("localId"), r.URL.EscapedPath()
		_ = json.NewDecoder(r.Body).Decode(&gotReg)
		writeJSON(w, 200, backendclient.RegistrationResult{Status: "assigned", DeviceID: "d1",
			Instance: &backendclient.Instance{Model: "acme-th100", Version: "1.0.0", Revision: 1}})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := newClient(t, srv, nil)
	reg := backendclient.Registration{Bus: "tcp", Fingerprint: models.Fingerprint{Protocol: "modbus", Transport: "tcp", Address: "10.0.0.7:502/1", Identity: map[string]string{"vendor": "ACME"}}}
	res, err := c.Register(testCtx(t), localID, reg)
	if err != nil {
		t.Fatal(err)
	}
	if gotID != localID || gotRaw != "/api/v1/gateways/gw-1/devices/modbus-tcp%2F10.0.0.7:502%2F1" {
		t.Errorf("server saw localId %q raw path %q", gotID, gotRaw)
	}
	if gotReg.Fingerprint.Identity["vendor"] != "ACME" {
		t.Errorf("server got %+v", gotReg)
	}
	if res.Status != "assigned" || res.Instance.Model != "acme-th100" || res.DeviceID != "d1" {
		t.Errorf("result %+v", res)
	}
}

func TestRegisterRejectsBadAnswers(t *testing.T) {
	cases := []struct {
		body string
		want []string
	}{
		{`{"status":"maybe"}`, []string{"status", `"maybe"`}},
		{`{"status":"assigned","deviceId":"d"}`, []string{"instance: must be present"}},
		{`{"status":"assigned","instance":{"model":"","version":"","revision":-1}}`, []string{"instance.model", "instance.version", "instance.revision: must be >= 0, got -1"}},
		{`{"status":"pending","retryAfter":-5}`, []string{"retryAfter", "-5"}},
		{`{"status":"pending"`, []string{"decode response", "PUT /api/v1/gateways/gw-1/devices/dev"}},
		{``, []string{"empty body"}},
	}
	var body atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body.Load().(string))
	}))
	defer srv.Close()
	c := newClient(t, srv, nil)
	for _, tc := range cases {
		body.Store(tc.body)
		_, err := c.Register(testCtx(t), "dev", backendclient.Registration{})
		if err == nil {
			t.Errorf("%s: want error", tc.body)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tc.body, err, w)
			}
		}
	}
	// Unknown fields are tolerated (forward compatibility).
	body.Store(`{"status":"rejected","reason":"not ours","futureField":{"x":1}}`)
	res, err := c.Register(testCtx(t), "dev", backendclient.Registration{})
	if err != nil || res.Reason != "not ours" {
		t.Fatalf("unknown field: %+v %v", res, err)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			writeErr(w, http.StatusTooManyRequests, "rate-limited", "slow down")
			return
		}
		writeJSON(w, 200, backendclient.TelemetryAck{Accepted: 1})
	}))
	defer srv.Close()
	c := newClient(t, srv, nil)
	start := time.Now()
	ack, err := c.SendTelemetry(testCtx(t), backendclient.TelemetryBatch{Events: []backendclient.Event{{Seq: 1, LocalID: "x", Event: "online", Time: time.Now()}}})
	if err != nil {
		t.Fatal(err)
	}
	if ack.Accepted != 1 || n.Load() != 2 {
		t.Errorf("ack %+v after %d attempts", ack, n.Load())
	}
	// Lower bound only: the client must have waited out Retry-After.
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Errorf("retried after %s, want >= 1s (Retry-After)", el)
	}
}

func TestRetriesOn503And408ThenGivesUpWithAPIError(t *testing.T) {
	var n atomic.Int32
	var status atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if s := int(status.Load()); s != 0 {
			w.Header().Set("Retry-After", "0")
			writeErr(w, s, "unavailable", "down for maintenance")
			return
		}
		writeJSON(w, 200, map[string]any{"gateway": "gw-1"})
	}))
	defer srv.Close()
	c := newClient(t, srv, nil)
	for _, s := range []int{503, 408, 500} {
		n.Store(0)
		status.Store(int32(s))
		err := c.Hello(testCtx(t), backendclient.Hello{})
		var ae *backendclient.APIError
		if !errors.As(err, &ae) {
			t.Fatalf("%d: want *APIError, got %v", s, err)
		}
		if ae.Status != s || ae.Code != "unavailable" || ae.Message != "down for maintenance" {
			t.Errorf("%d: %+v", s, ae)
		}
		if got := n.Load(); got != 4 {
			t.Errorf("%d: %d attempts, want 4 (1 + RetryMax 3)", s, got)
		}
		if !strings.Contains(err.Error(), "PUT /api/v1/gateways/gw-1") {
			t.Errorf("error does not name the endpoint: %v", err)
		}
	}
}

func TestNoRetryOnClientErrors(t *testing.T) {
	var n atomic.Int32
	var status atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		writeErr(w, int(status.Load()), "x", "no")
	}))
	defer srv.Close()
	c := newClient(t, srv, nil)
	for _, s := range []int{400, 401, 403, 404, 409, 413, 501} {
		n.Store(0)
		status.Store(int32(s))
		err := c.ReportOperation(testCtx(t), "op-1", backendclient.OperationStatus{Status: backendclient.OpExecuting})
		var ae *backendclient.APIError
		if !errors.As(err, &ae) || ae.Status != s {
			t.Fatalf("%d: got %v", s, err)
		}
		if n.Load() != 1 {
			t.Errorf("%d: %d attempts, want 1", s, n.Load())
		}
		if backendclient.IsNotFound(err) != (s == 404) || backendclient.IsUnauthorized(err) != (s == 401 || s == 403) {
			t.Errorf("%d: IsNotFound %v IsUnauthorized %v", s, backendclient.IsNotFound(err), backendclient.IsUnauthorized(err))
		}
	}
}

func TestNonJSONErrorBody(t *testing.T) {
	long := strings.Repeat("x", 150) + "\n" + strings.Repeat("é", 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway + 0*1) // 502 is retried; give up with the body
		_, _ = io.WriteString(w, long)
	}))
	defer srv.Close()
	c := newClient(t, srv, func(c *backendclient.Config) { c.RetryMax = -1 })
	err := c.Hello(testCtx(t), backendclient.Hello{})
	var ae *backendclient.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got %v", err)
	}
	if ae.Status != 502 || ae.Code != "" || len(ae.Message) > 200 || len(ae.Message) < 190 || !strings.HasPrefix(ae.Message, "xxx") || strings.Contains(ae.Message, "\n") {
		t.Errorf("status %d code %q message (%d bytes) %q", ae.Status, ae.Code, len(ae.Message), ae.Message)
	}
}

func TestRetryAfterBeyondDeadlineReturnsAtOnce(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Retry-After", "3600")
		writeErr(w, 503, "unavailable", "maintenance")
	}))
	defer srv.Close()
	c := newClient(t, srv, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := c.Inbox(ctx, 0, 0)
	if d, ok := backendclient.RetryAfterOf(err); !ok || d != time.Hour {
		t.Fatalf("want APIError with RetryAfter 1h, got %v", err)
	}
	if ctx.Err() != nil || n.Load() != 1 {
		t.Errorf("waited for the context (%v) or retried (%d attempts)", ctx.Err(), n.Load())
	}
}

func TestCancelStopsRetryWait(t *testing.T) {
	first := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case first <- struct{}{}:
		default:
		}
		w.Header().Set("Retry-After", "30")
		writeErr(w, 429, "rate-limited", "later")
	}))
	defer srv.Close()
	c := newClient(t, srv, func(c *backendclient.Config) { c.RetryAfterMax = time.Minute })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- c.Hello(ctx, backendclient.Hello{}) }()
	<-first
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("want context.Canceled, got %v", err)
		}
		if el := time.Since(start); el > 20*time.Second {
			t.Errorf("took %s: cancel did not stop the 30s wait", el)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("cancel did not stop the retry wait")
	}
}

func TestCancelInterruptsSlowBody(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, `{"items":[`)
		w.(http.Flusher).Flush()
		close(started)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	c := newClient(t, srv, func(c *backendclient.Config) { c.Timeout = time.Minute })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := c.Inbox(ctx, 0, 0); done <- err }()
	<-started
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("want context.Canceled, got %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("cancel did not interrupt the body read")
	}
}

func TestAttemptTimeoutThenRetry(t *testing.T) {
	var n atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // lets the server notice the client hanging up
		if n.Add(1) == 1 {
			select { // hang until the client gives the attempt up
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		writeJSON(w, 200, backendclient.TelemetryAck{})
	}))
	defer srv.Close()
	defer close(release)
	c := newClient(t, srv, func(c *backendclient.Config) { c.Timeout = 300 * time.Millisecond })
	if _, err := c.SendTelemetry(testCtx(t), backendclient.TelemetryBatch{}); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 2 {
		t.Errorf("%d attempts, want 2", n.Load())
	}
}

func TestInboxAttemptOutlastsWait(t *testing.T) {
	var wait string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wait = r.URL.Query().Get("wait")
		// Answer after longer than Timeout but shorter than Timeout+wait, as a
		// long-poll that ends on its wait does.
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
			return
		}
		writeJSON(w, 200, backendclient.InboxPage{Items: []backendclient.InboxItem{}, Cursor: 7})
	}))
	defer srv.Close()
	c := newClient(t, srv, func(c *backendclient.Config) { c.Timeout = time.Second; c.RetryMax = -1 })
	page, err := c.Inbox(testCtx(t), 7, 2500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if wait != "3" || page.Cursor != 7 || len(page.Items) != 0 {
		t.Errorf("wait=%q page %+v", wait, page)
	}
	if _, err := c.Inbox(testCtx(t), 0, 61*time.Second); err == nil || !strings.Contains(err.Error(), "wait: must be 0..1m0s, got 1m1s") {
		t.Errorf("wait 61s: %v", err)
	}
}

func TestInboxValidation(t *testing.T) {
	var body atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, body.Load().(string))
	}))
	defer srv.Close()
	c := newClient(t, srv, nil)

	good := `{"items":[
	 {"seq":11,"kind":"operation","operation":{"id":"op1","deviceId":"d1","localId":"l1","name":"reboot","input":{"delay":1},"expires":"2030-01-01T00:00:00Z"}},
	 {"seq":12,"kind":"assignment","assignment":{"localId":"l1","deviceId":"d1","instance":{"model":"m","version":"1","revision":2}}},
	 {"seq":14,"kind":"unassignment","unassignment":{"localId":"l1","deviceId":"d1"},"new":true}],"cursor":14}`
	body.Store(good)
	page, err := c.Inbox(testCtx(t), 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 3 || page.Items[0].Operation.Name != "reboot" || string(page.Items[0].Operation.Input) != `{"delay":1}` || page.Items[1].Assignment.Instance.Revision != 2 || page.Cursor != 14 {
		t.Errorf("page %+v", page)
	}

	// Items unusable in themselves come with Err, the rest of the page intact,
	// so one bad item cannot stall the inbox.
	itemCases := []struct {
		body  string
		index int
		want  []string
	}{
		{`{"items":[{"seq":11,"kind":"operation","operation":{"id":"o","localId":"l","name":"n"}},{"seq":12,"kind":"bogus"}],"cursor":12}`, 1, []string{`kind: must be operation, assignment or unassignment, got "bogus"`}},
		{`{"items":[{"seq":11,"kind":"operation"}],"cursor":11}`, 0, []string{"operation: must be present"}},
		{`{"items":[{"seq":11,"kind":"assignment","assignment":{"localId":"l","instance":{"model":"","version":"1"}},"operation":{"id":"x"}}],"cursor":11}`, 0, []string{"assignment.instance.model: must not be empty", "operation: must be absent"}},
		{`{"items":[{"seq":11,"kind":"operation","operation":{"id":"op9","localId":"l","name":"n","expires":"soon"}}],"cursor":11}`, 0, []string{"cannot parse", "soon"}},
	}
	for _, tc := range itemCases {
		body.Store(tc.body)
		page, err := c.Inbox(testCtx(t), 10, 0)
		if err != nil {
			t.Errorf("%s: page refused: %v", tc.body, err)
			continue
		}
		it := page.Items[tc.index]
		if it.Err == nil {
			t.Errorf("%s: item %d accepted", tc.body, tc.index)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(it.Err.Error(), w) {
				t.Errorf("%s:\nitem error %q\nlacks %q", tc.body, it.Err, w)
			}
		}
		if tc.index > 0 && page.Items[0].Err != nil {
			t.Errorf("%s: the good item got %v", tc.body, page.Items[0].Err)
		}
	}
	// A bad operation still names its id, so the gateway can report it FAILED.
	body.Store(itemCases[3].body)
	if page, err := c.Inbox(testCtx(t), 10, 0); err != nil || page.Items[0].Operation == nil || page.Items[0].Operation.ID != "op9" || page.Items[0].Seq != 11 {
		t.Errorf("bad operation item: %+v %v", page, err)
	}

	// Repeats (seq <= after: a backend that ignores after) are dropped, not refused.
	body.Store(`{"items":[{"seq":5,"kind":"unassignment","unassignment":{"localId":"a"}},{"seq":10,"kind":"unassignment","unassignment":{"localId":"b"}},` +
		`{"seq":11,"kind":"unassignment","unassignment":{"localId":"c"}}],"cursor":11}`)
	if page, err := c.Inbox(testCtx(t), 10, 0); err != nil || len(page.Items) != 1 || page.Items[0].Seq != 11 || page.Cursor != 11 {
		t.Errorf("page with repeats: %+v %v, want only seq 11", page, err)
	}

	cases := []struct {
		body string
		want []string
	}{
		{`{"items":[{"seq":"x","kind":"operation"}],"cursor":11}`, []string{"items[0]", "seq"}},
		{`{"items":[{"seq":12,"kind":"unassignment","unassignment":{"localId":"l"}},{"seq":12,"kind":"unassignment","unassignment":{"localId":"l"}}],"cursor":12}`, []string{"items[1].seq: must be > 12 (the item before)", "got 12"}},
		{`{"items":[{"seq":9,"kind":"unassignment","unassignment":{"localId":"l"}},{"seq":5,"kind":"unassignment","unassignment":{"localId":"l"}}],"cursor":9}`, []string{"items[1].seq: must be > 9"}},
		{`{"items":[{"seq":11,"kind":"unassignment","unassignment":{"localId":"l"}}],"cursor":3}`, []string{"cursor: must be >= the last item's seq 11, got 3"}},
		{`{"items":[{"seq":11,"kind":"unassignment","unassignment":{"localId":"l"}}`, []string{"GET /api/v1/gateways/gw-1/inbox", "decode response", "unexpected end of JSON input"}},
		{`{"items":[]}{"x":1}`, []string{"decode response"}},
	}
	for _, tc := range cases {
		body.Store(tc.body)
		_, err := c.Inbox(testCtx(t), 10, 0)
		if err == nil {
			t.Errorf("%s: want error", tc.body)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s:\nerror %q\nlacks %q", tc.body, err, w)
			}
		}
	}
}

// TestIsRefused: which answers mean "never send this again".
func TestIsRefused(t *testing.T) {
	var status atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(status.Load()))
		_, _ = io.WriteString(w, `{"error":{"code":"x","message":"y"}}`)
	}))
	defer srv.Close()
	c := newClient(t, srv, func(cfg *backendclient.Config) { cfg.RetryMax = 0 })
	for code, want := range map[int]bool{400: true, 404: true, 409: true, 413: true, 422: true,
		401: false, 403: false, 408: false, 429: false, 500: false, 503: false} {
		status.Store(int64(code))
		err := c.ReportOperation(testCtx(t), "op1", backendclient.OperationStatus{Status: backendclient.OpSucceeded})
		if err == nil {
			t.Fatalf("%d: no error", code)
		}
		if got := backendclient.IsRefused(err); got != want {
			t.Errorf("%d: IsRefused = %v, want %v (%v)", code, got, want, err)
		}
	}
	if backendclient.IsRefused(errors.New("connection refused")) {
		t.Error("a network error counted as refused")
	}
}

func TestTruncatedBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Promise more than is sent, then cut the connection.
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, `{"accepted":1,`)
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	}))
	defer srv.Close()
	c := newClient(t, srv, nil)
	_, err := c.SendTelemetry(testCtx(t), backendclient.TelemetryBatch{})
	if err == nil || !strings.Contains(err.Error(), "POST /api/v1/gateways/gw-1/telemetry") {
		t.Fatalf("want error naming the endpoint, got %v", err)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("want io.ErrUnexpectedEOF in chain, got %v", err)
	}
}

func TestResponseTooLarge(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		chunk := bytes.Repeat([]byte(" "), 1<<20)
		for range 17 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	// A generous attempt timeout: 16 MiB under -race on a loaded machine is slow.
	c := newClient(t, srv, func(c *backendclient.Config) { c.Timeout = time.Minute; c.RetryMax = -1 })
	_, err := c.Model(testCtx(t), "m", "1")
	if err == nil || !strings.Contains(err.Error(), "larger than 16777216 bytes") {
		t.Fatalf("got %v", err)
	}
}

func TestUnauthorizedRereadsToken(t *testing.T) {
	tokFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokFile, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer new" {
			writeErr(w, 401, "unauthorized", "bad token")
			return
		}
		writeJSON(w, 200, backendclient.OperationAck{ID: "op-1", Status: "EXECUTING"})
	}))
	defer srv.Close()
	c := newClient(t, srv, func(c *backendclient.Config) { c.TokenFile = tokFile })
	st := backendclient.OperationStatus{Status: backendclient.OpExecuting}

	// Token unchanged: one attempt, 401 surfaces.
	err := c.ReportOperation(testCtx(t), "op-1", st)
	if !backendclient.IsUnauthorized(err) || !strings.Contains(err.Error(), "bad token") {
		t.Fatalf("want 401, got %v", err)
	}
	// The operator rotates the token: the next 401 re-reads it and retries.
	if err := os.WriteFile(tokFile, []byte("new\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.ReportOperation(testCtx(t), "op-1", st); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"Bearer old", "Bearer old", "Bearer new"}
	if strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Errorf("server saw %q, want %q", seen, want)
	}
}

func TestModelETag(t *testing.T) {
	doc := []byte(`{"id":"m","version":"1.0.0"}`)
	var n, cond atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if r.URL.EscapedPath() != "/api/v1/models/m%20x/versions/1.0.0" {
			writeErr(w, 404, "not-found", r.URL.EscapedPath())
			return
		}
		w.Header().Set("ETag", `"abc"`)
		if r.Header.Get("If-None-Match") == `"abc"` {
			cond.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write(doc)
	}))
	defer srv.Close()
	c := newClient(t, srv, nil)
	for i := range 3 {
		got, err := c.Model(testCtx(t), "m x", "1.0.0")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, doc) {
			t.Fatalf("fetch %d: %s", i, got)
		}
		got[0] = 'X' // callers may scribble on their copy
	}
	if n.Load() != 3 || cond.Load() != 2 {
		t.Errorf("%d requests, %d conditional", n.Load(), cond.Load())
	}
	if _, err := c.Model(testCtx(t), "other", "1"); !backendclient.IsNotFound(err) {
		t.Errorf("unknown model: %v", err)
	}
}

func TestRetryLogsAtDebug(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			writeErr(w, 503, "unavailable", "x")
			return
		}
		writeJSON(w, 200, backendclient.HelloAck{Gateway: "gw-1"})
	}))
	defer srv.Close()
	h := slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug})
	c, err := backendclient.New(backendclient.Config{BaseURL: srv.URL, Gateway: "gw-1", RetryWaitMin: time.Millisecond, RetryWaitMax: time.Millisecond}, slog.New(h))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Hello(testCtx(t), backendclient.Hello{}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if !strings.Contains(out, "level=DEBUG") || !strings.Contains(out, "retrying request") || strings.Contains(out, "level=ERROR") {
		t.Errorf("log:\n%s", out)
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestBackoff(t *testing.T) {
	for attempt := range 80 {
		d := backendclient.Backoff(100*time.Millisecond, 5*time.Second, attempt, nil)
		exp := 5 * time.Second
		if attempt < 6 {
			exp = 100 * time.Millisecond << attempt
		}
		if d < exp/2 || d > exp {
			t.Errorf("attempt %d: %s, want in [%s, %s]", attempt, d, exp/2, exp)
		}
	}
	resp := &http.Response{StatusCode: 503, Header: http.Header{"Retry-After": {"7"}}}
	if d := backendclient.Backoff(time.Millisecond, time.Second, 0, resp); d != 7*time.Second {
		t.Errorf("Retry-After 7: %s", d)
	}
}
