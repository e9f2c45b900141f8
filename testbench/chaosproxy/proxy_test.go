package chaosproxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// upstream is a real HTTP server on loopback that echoes each request's method,
// path and body in a body of about 200 bytes, and counts what it served.
type upstream struct {
	srv  *httptest.Server
	hits atomic.Int64
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Upstream", "yes")
		_, _ = io.WriteString(w, r.Method+" "+r.URL.RequestURI()+" "+string(b)+" "+strings.Repeat("x", 180))
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) addr() string { return strings.TrimPrefix(u.srv.URL, "http://") }

func startProxy(t *testing.T, cfg Config) *Proxy {
	t.Helper()
	p, err := Listen(context.Background(), "127.0.0.1:0", cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// client never retries and has a generous timeout.
func client(keepAlive bool) *http.Client {
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: !keepAlive}}
}

func post(c *http.Client, url, body string) (*http.Response, []byte, error) {
	resp, err := c.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func TestDisabledProxyPassesEverything(t *testing.T) {
	up := startUpstream(t)
	p := startProxy(t, Config{Upstream: up.addr(), Rate: 1})
	c := client(true)
	for i := range 20 {
		resp, body, err := post(c, p.URL()+"/api/v1/x?after=3", "hello")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if resp.StatusCode != 200 || resp.Header.Get("X-Upstream") != "yes" || !bytes.HasPrefix(body, []byte("POST /api/v1/x?after=3 hello ")) {
			t.Fatalf("request %d: %s %v %q", i, resp.Status, resp.Header, body)
		}
	}
	if got := p.Counts()[Pass]; got != 20 || p.Requests() != 20 || up.hits.Load() != 20 {
		t.Errorf("pass count %d, requests %d, upstream hits %d; want 20 each", got, p.Requests(), up.hits.Load())
	}
}

// TestEachFault: every fault, alone in the mix at rate 1, does to a real
// client what it says, and reaches the upstream only when it says so.
func TestEachFault(t *testing.T) {
	up := startUpstream(t)
	for _, f := range Faults() {
		t.Run(string(f), func(t *testing.T) {
			p := startProxy(t, Config{Upstream: up.addr(), Rate: 1, Mix: map[Fault]int{f: 1}, Seed: 7,
				MaxDelay: 400 * time.Millisecond, TrickleChunk: 50, TrickleEvery: 40 * time.Millisecond})
			p.Enable()
			before := up.hits.Load()
			start := time.Now()
			resp, body, err := post(client(false), p.URL()+"/p", "payload")
			took := time.Since(start)
			forwarded := up.hits.Load() - before
			wantForwarded := int64(0)
			switch f {
			case Drop:
				if err == nil {
					t.Errorf("want an error, got %s", resp.Status)
				}
			case Reset:
				if !errors.Is(err, syscall.ECONNRESET) {
					t.Errorf("want connection reset, got %v", err)
				}
			case DropAnswer:
				wantForwarded = 1
				if err == nil {
					t.Errorf("want an error, got %s", resp.Status)
				}
			case Truncate:
				wantForwarded = 1
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("want unexpected EOF, got %v (%q)", err, body)
				}
			case Delay, Slow:
				wantForwarded = 1
				if err != nil || resp.StatusCode != 200 || !bytes.HasPrefix(body, []byte("POST /p payload ")) {
					t.Fatalf("want the whole answer, got %v %q", err, body)
				}
				floor := 100 * time.Millisecond // a quarter of MaxDelay
				if f == Slow {
					floor = time.Duration(len(body)/50) * 40 * time.Millisecond
				}
				if took < floor {
					t.Errorf("took %s, want at least %s", took, floor)
				}
			default:
				want := map[Fault]int{Status500: 500, Status502: 502, Status503: 503, TooMany: 429, Unavailable: 503, Unauthorized: 401}[f]
				if err != nil || resp.StatusCode != want || !bytes.Contains(body, []byte(`"error"`)) {
					t.Fatalf("want %d with an error body, got %v %v %q", want, resp, err, body)
				}
				ra := resp.Header.Get("Retry-After")
				if (f == TooMany || f == Unavailable) != (ra == "1") {
					t.Errorf("Retry-After %q", ra)
				}
			}
			if forwarded != wantForwarded {
				t.Errorf("upstream saw %d requests, want %d", forwarded, wantForwarded)
			}
			if c := p.Counts(); c[f] != 1 || c[Pass] != 0 {
				t.Errorf("counts %v, want one %s", c, f)
			}
		})
	}
}

// TestFaultsKeepTheConnectionWhenTheyCan: an error answer keeps a keep-alive
// connection usable; after Disable the same client gets through again.
func TestEnableDisableAndKeepAlive(t *testing.T) {
	up := startUpstream(t)
	p := startProxy(t, Config{Upstream: up.addr(), Rate: 1, Mix: map[Fault]int{Status503: 1}})
	c := client(true)
	p.Enable()
	for range 5 {
		if resp, _, err := post(c, p.URL()+"/a", "x"); err != nil || resp.StatusCode != 503 {
			t.Fatalf("enabled: %v %v", resp, err)
		}
	}
	p.Disable()
	if p.Enabled() {
		t.Fatal("still enabled")
	}
	for range 5 {
		if resp, _, err := post(c, p.URL()+"/a", "x"); err != nil || resp.StatusCode != 200 {
			t.Fatalf("disabled: %v %v", resp, err)
		}
	}
	if got := p.Counts(); got[Status503] != 5 || got[Pass] != 5 || up.hits.Load() != 5 {
		t.Errorf("counts %v, upstream %d", got, up.hits.Load())
	}
}

// TestMixedScheduleThroughProxy: a run with every fault at rate 0.5 through a
// retrying-free client: the proxy's counts add up to the requests sent, and
// every fault kind occurred.
func TestMixedScheduleThroughProxy(t *testing.T) {
	up := startUpstream(t)
	p := startProxy(t, Config{Upstream: up.addr(), Rate: 0.5, Seed: 42, MaxDelay: 40 * time.Millisecond,
		TrickleChunk: 64, TrickleEvery: 5 * time.Millisecond})
	p.Enable()
	c := client(true)
	const n = 300
	for i := range n {
		_, _, _ = post(c, p.URL()+"/m", "x")
		if i%50 == 0 {
			c.CloseIdleConnections() // a fresh connection now and then, as clients do after errors
		}
	}
	var sum uint64
	counts := p.Counts()
	for _, v := range counts {
		sum += v
	}
	if sum != n || p.Requests() != n {
		t.Errorf("counts %v add to %d, requests %d; want %d", counts, sum, p.Requests(), n)
	}
	for _, f := range Faults() {
		if counts[f] == 0 {
			t.Errorf("fault %s never injected in %d requests: %v", f, n, counts)
		}
	}
	t.Logf("counts over %d requests: %v", n, counts)
}

// TestCloseInterruptsATrickle: Close ends a slow answer at once.
func TestCloseInterruptsATrickle(t *testing.T) {
	up := startUpstream(t)
	p, err := Listen(context.Background(), "127.0.0.1:0", Config{Upstream: up.addr(), Rate: 1, Mix: map[Fault]int{Slow: 1},
		TrickleChunk: 1, TrickleEvery: time.Second}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	p.Enable()
	errc := make(chan error, 1)
	go func() {
		_, _, err := post(client(false), p.URL()+"/s", "x")
		errc <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for p.Counts()[Slow] == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	closed := make(chan struct{})
	go func() {
		_ = p.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(10 * time.Second): // the trickle alone would take over 200 s
		t.Fatal("Close did not interrupt the trickle")
	}
	if err := <-errc; err == nil {
		t.Error("the client got a whole answer from a closed proxy")
	}
}

func TestContextEndsTheProxy(t *testing.T) {
	up := startUpstream(t)
	ctx, cancel := context.WithCancel(context.Background())
	p, err := Listen(ctx, "127.0.0.1:0", Config{Upstream: up.addr()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, _, err := post(client(false), p.URL()+"/x", ""); err != nil {
			_ = p.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("proxy still answers after its context ended")
}

func TestUpstreamDownIs502(t *testing.T) {
	up := startUpstream(t)
	addr := up.addr()
	up.srv.Close()
	p := startProxy(t, Config{Upstream: addr})
	resp, body, err := post(client(false), p.URL()+"/x", "")
	if err != nil || resp.StatusCode != 502 || !bytes.Contains(body, []byte(`"upstream"`)) {
		t.Fatalf("want 502 naming the upstream, got %v %v %q", resp, err, body)
	}
}

// TestLatencyAndByteCounts: the plain latency lengthens every round trip,
// faults disabled; SetLatency changes it; the byte counters see what the
// client sent and received on the wire.
func TestLatencyAndByteCounts(t *testing.T) {
	up := startUpstream(t)
	p := startProxy(t, Config{Upstream: up.addr(), Latency: 150 * time.Millisecond})
	c := client(true)
	body := strings.Repeat("v", 1000)
	start := time.Now()
	resp, answer, err := post(c, p.URL()+"/t", body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("through the proxy: %v %v", resp, err)
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Errorf("round trip %s, want at least the 150ms latency", took)
	}
	// The proxy counts a write once it returned: the client may hold the
	// answer a moment before the count does.
	in, out := p.Bytes()
	for deadline := time.Now().Add(5 * time.Second); out < uint64(len(answer)) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		in, out = p.Bytes()
	}
	if in < uint64(len(body)) || in > uint64(len(body))+400 {
		t.Errorf("bytes from the client = %d, want the %d-byte body plus headers", in, len(body))
	}
	if out < uint64(len(answer)) || out > uint64(len(answer))+400 {
		t.Errorf("bytes to the client = %d, want the %d-byte answer plus headers", out, len(answer))
	}
	if err := p.SetLatency(0); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if _, _, err := post(c, p.URL()+"/t", "x"); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("round trip %s after SetLatency(0)", took)
	}
	if err := p.SetLatency(time.Hour); err == nil {
		t.Error("SetLatency(1h) accepted")
	}
}

// TestTelemetryBytes: of the bytes a client sends, those of telemetry
// requests are counted apart (request line, headers, body), on a kept-alive
// connection that carries other requests too.
func TestTelemetryBytes(t *testing.T) {
	up := startUpstream(t)
	p := startProxy(t, Config{Upstream: up.addr()})
	c := client(true)
	body := strings.Repeat("t", 2000)
	for _, path := range []string{"/api/v1/gateways/g/inbox", "/api/v1/gateways/g/telemetry", "/x"} {
		b := "x"
		if strings.HasSuffix(path, "/telemetry") {
			b = body
		}
		if resp, _, err := post(c, p.URL()+path, b); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", path, resp, err)
		}
	}
	in, _ := p.Bytes()
	tel := p.TelemetryBytes()
	if tel < uint64(len(body)) || tel > uint64(len(body))+400 || tel >= in {
		t.Errorf("telemetry bytes %d of %d, want the %d-byte body plus its headers only", tel, in, len(body))
	}
}
