package chaosproxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
)

// maxBody bounds an answer the proxy buffers; a larger one is answered 502.
const maxBody = 16 << 20

// Proxy is a running chaos proxy. All methods are goroutine-safe.
type Proxy struct {
	cfg      Config
	log      *slog.Logger
	ln       net.Listener
	sched    *schedule
	enabled  atomic.Bool
	counts   map[Fault]*atomic.Uint64 // immutable map, one counter per fault and Pass
	total    atomic.Uint64
	latency  atomic.Int64  // time.Duration added before forwarding
	bytesIn  atomic.Uint64 // read from clients
	bytesOut atomic.Uint64 // written to clients
	// telemetryIn is the part of bytesIn that POST .../telemetry requests took
	// (request line, headers and body as sent).
	telemetryIn atomic.Uint64
	up          *http.Transport

	ctx    context.Context // ends on Close: interrupts delays and trickles
	cancel context.CancelFunc
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Listen starts a proxy on addr (e.g. "127.0.0.1:0") in front of cfg.Upstream.
// It starts disabled: everything passes until Enable. It stops when ctx ends
// or on Close.
func Listen(ctx context.Context, addr string, cfg Config, log *slog.Logger) (*Proxy, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("chaosproxy config: %w", err)
	}
	cfg = cfg.withDefaults()
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("chaosproxy: %w", err)
	}
	p := &Proxy{cfg: cfg, log: log, ln: ln, sched: newSchedule(cfg), counts: map[Fault]*atomic.Uint64{},
		conns: map[net.Conn]struct{}{}}
	for _, f := range append(Faults(), Pass) {
		p.counts[f] = new(atomic.Uint64)
	}
	p.latency.Store(int64(cfg.Latency))
	p.up = &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true, // pass Accept-Encoding and bodies through as they are
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		select {
		case <-ctx.Done():
			_ = p.shutdown()
		case <-p.ctx.Done():
		}
	}()
	go func() {
		defer p.wg.Done()
		p.acceptLoop()
	}()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is http://Addr.
func (p *Proxy) URL() string { return "http://" + p.Addr() }

// Enable starts injecting faults into new requests.
func (p *Proxy) Enable() { p.enabled.Store(true) }

// Disable heals: new requests pass unchanged (those already faulted finish
// their fault).
func (p *Proxy) Disable() { p.enabled.Store(false) }

// Enabled reports whether faults are being injected.
func (p *Proxy) Enabled() bool { return p.enabled.Load() }

// Counts returns how many requests got each fault so far, and Pass for those
// that went through unchanged (also while disabled).
func (p *Proxy) Counts() map[Fault]uint64 {
	out := make(map[Fault]uint64, len(p.counts))
	for f, c := range p.counts {
		out[f] = c.Load()
	}
	return out
}

// Requests is how many requests the proxy has read.
func (p *Proxy) Requests() uint64 { return p.total.Load() }

// Bytes is how many bytes the proxy has read from its clients (requests, as
// they came over the wire: headers, bodies, compressed or not) and written to
// them (answers), over all connections so far.
func (p *Proxy) Bytes() (fromClients, toClients uint64) {
	return p.bytesIn.Load(), p.bytesOut.Load()
}

// TelemetryBytes is how many of the bytes read from clients were telemetry
// requests (POST …/telemetry: request line, headers and body as sent).
func (p *Proxy) TelemetryBytes() uint64 {
	return p.telemetryIn.Load()
}

// SetLatency changes the latency added to every request from now on (see
// Config.Latency).
func (p *Proxy) SetLatency(d time.Duration) error {
	if err := checkLatency(d); err != nil {
		return err
	}
	p.latency.Store(int64(d))
	return nil
}

// Close stops the listener, closes every connection and waits for the proxy's
// goroutines.
func (p *Proxy) Close() error {
	err := p.shutdown()
	p.wg.Wait()
	return err
}

func (p *Proxy) shutdown() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.cancel()
	err := p.ln.Close()
	p.up.CloseIdleConnections()
	return err
}

func (p *Proxy) acceptLoop() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if p.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				p.log.Error("chaosproxy accept", "err", err)
			}
			return
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = c.Close()
			return
		}
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go func() {
			defer p.wg.Done()
			defer p.forget(c)
			p.serve(&countingConn{Conn: c, in: &p.bytesIn, out: &p.bytesOut})
		}()
	}
}

func (p *Proxy) forget(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

// serve handles the requests of one client connection in order until it or
// the proxy closes, or a fault ends it.
func (p *Proxy) serve(c net.Conn) {
	br := bufio.NewReader(c)
	cc, _ := c.(*countingConn)
	for p.ctx.Err() == nil {
		// A client sends its next request only after the answer to the last
		// (no pipelining), so what the connection reads from here to the end
		// of the request's handling is this request's.
		var before uint64
		if cc != nil {
			before = cc.read.Load()
		}
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}

		p.total.Add(1)
		f, delay := Pass, time.Duration(0)
		if p.enabled.Load() {
			f, delay = p.sched.next()
		}
		p.counts[f].Add(1)
		if f != Pass {
			p.log.Debug("chaosproxy fault", "fault", string(f), "method", req.Method, "path", req.URL.Path)
		}
		keep := p.handle(c, req, f, delay)
		_ = req.Body.Close() // drains what the upstream did not read
		if cc != nil && req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/telemetry") {
			p.telemetryIn.Add(cc.read.Load() - before)
		}
		if !keep || req.Close {
			return
		}
	}
}

// handle applies fault f to req and reports whether the connection stays open.
func (p *Proxy) handle(c net.Conn, req *http.Request, f Fault, delay time.Duration) bool {
	switch f {
	case Drop:
		return false
	case Reset:
		_ = c.(*countingConn).setLinger(0) // close sends RST
		return false
	case Status500, Status502, Status503, TooMany, Unavailable, Unauthorized:
		return p.answerFault(c, req, f) == nil
	case Delay:
		if adapters.Sleep(p.ctx, delay) != nil {
			return false
		}
	}
	if d := time.Duration(p.latency.Load()); d > 0 {
		if adapters.Sleep(p.ctx, d) != nil {
			return false
		}
	}
	status, header, body, err := p.forward(req)
	if err != nil {
		p.log.Warn("chaosproxy upstream", "method", req.Method, "path", req.URL.Path, "err", err)
		return writeResponse(c, req, http.StatusBadGateway, jsonHeader(), errorBody("upstream", err.Error())) == nil
	}
	switch f {
	case DropAnswer:
		return false
	case Truncate:
		// Announce the whole body, send half (at least one byte short), close.
		header.Set("Content-Length", strconv.Itoa(max(len(body), 1)))
		header.Del("Transfer-Encoding")
		bw := bufio.NewWriter(c)
		if writeHead(bw, req, status, header) == nil {
			_, _ = bw.Write(body[:len(body)/2])
			_ = bw.Flush()
		}
		return false
	case Slow:
		return p.trickle(c, req, status, header, body) == nil
	}
	return writeResponse(c, req, status, header, body) == nil
}

// forward sends req upstream and returns the whole answer.
func (p *Proxy) forward(req *http.Request) (int, http.Header, []byte, error) {
	out := req.Clone(p.ctx)
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = "http", p.cfg.Upstream
	out.Header.Del("Connection")
	out.Body = req.Body
	resp, err := p.up.RoundTrip(out)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("reading the answer: %w", err)
	}
	if len(body) > maxBody {
		return 0, nil, nil, fmt.Errorf("answer larger than %d bytes", maxBody)
	}
	return resp.StatusCode, resp.Header, body, nil
}

// answerFault answers an injected error status without forwarding.
func (p *Proxy) answerFault(c net.Conn, req *http.Request, f Fault) error {
	h := jsonHeader()
	status := map[Fault]int{Status500: 500, Status502: 502, Status503: 503, TooMany: 429, Unavailable: 503, Unauthorized: 401}[f]
	if f == TooMany || f == Unavailable {
		h.Set("Retry-After", strconv.Itoa(int(p.cfg.RetryAfter/time.Second)))
	}
	code := "chaos"
	if f == Unauthorized {
		code = "unauthorized"
	}
	return writeResponse(c, req, status, h, errorBody(code, "injected by chaosproxy: "+string(f)))
}

// trickle sends the answer's head at once and its body in small chunks.
func (p *Proxy) trickle(c net.Conn, req *http.Request, status int, h http.Header, body []byte) error {
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Del("Transfer-Encoding")
	bw := bufio.NewWriter(c)
	if err := writeHead(bw, req, status, h); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	for len(body) > 0 {
		if adapters.Sleep(p.ctx, p.cfg.TrickleEvery) != nil {
			return p.ctx.Err()
		}
		n := min(p.cfg.TrickleChunk, len(body))
		if _, err := c.Write(body[:n]); err != nil {
			return err
		}
		body = body[n:]
	}
	return nil
}

func writeResponse(c net.Conn, req *http.Request, status int, h http.Header, body []byte) error {
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Del("Transfer-Encoding")
	bw := bufio.NewWriter(c)
	if err := writeHead(bw, req, status, h); err != nil {
		return err
	}
	if _, err := bw.Write(body); err != nil {
		return err
	}
	return bw.Flush()
}

func writeHead(bw *bufio.Writer, req *http.Request, status int, h http.Header) error {
	h.Del("Connection")
	h.Del("Keep-Alive")
	if req.Close {
		h.Set("Connection", "close")
	}
	if _, err := fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status)); err != nil {
		return err
	}
	if err := h.Write(bw); err != nil {
		return err
	}
	_, err := bw.WriteString("\r\n")
	return err
}

func jsonHeader() http.Header {
	return http.Header{"Content-Type": []string{"application/json"}}
}

func errorBody(code, msg string) []byte {
	return fmt.Appendf(nil, `{"error":{"code":%q,"message":%q}}`, code, msg)
}

// countingConn counts the bytes read from and written to a client connection.
type countingConn struct {
	net.Conn
	in, out *atomic.Uint64
	read    atomic.Uint64 // this connection's share of in
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.in.Add(uint64(n))
	c.read.Add(uint64(n))
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.out.Add(uint64(n))
	return n, err
}

func (c *countingConn) setLinger(sec int) error {
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		return tc.SetLinger(sec)
	}
	return nil
}
