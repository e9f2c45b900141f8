package backendclient

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// Defaults applied by New for zero Config fields.
const (
	DefaultTimeout       = 10 * time.Second
	DefaultRetryMax      = 4
	DefaultRetryWaitMin  = 500 * time.Millisecond
	DefaultRetryWaitMax  = 30 * time.Second
	DefaultRetryAfterMax = 2 * time.Minute

	// MaxResponseBytes bounds every response body the client reads.
	MaxResponseBytes = 16 << 20
	// MaxInboxWait is the longest long-poll the API allows.
	MaxInboxWait = 60 * time.Second
	// MaxTelemetryItems is the most samples and events the API accepts in one batch.
	MaxTelemetryItems = 5000
)

// Config configures a Client.
type Config struct {
	// BaseURL is the backend's root, e.g. "http://127.0.0.1:8480"; "/api/v1/..." is appended.
	BaseURL string
	// Gateway is this gateway's id, the {gw} path segment.
	Gateway string
	// TokenFile holds the bearer token (surrounding space trimmed). It is read by
	// New and read again when a call is answered 401. Empty: no Authorization header.
	TokenFile string
	// Timeout bounds one HTTP attempt, body included (0: DefaultTimeout). An inbox
	// long-poll gets Timeout plus its wait.
	Timeout time.Duration
	// RetryMax is the number of retries after the first attempt (0: DefaultRetryMax,
	// negative: no retries).
	RetryMax int
	// RetryWaitMin and RetryWaitMax bound the jittered exponential backoff between
	// attempts (0: defaults).
	RetryWaitMin, RetryWaitMax time.Duration
	// RetryAfterMax is the longest Retry-After the client waits out inside one call
	// (0: DefaultRetryAfterMax). A longer one, or one that would outlive the call's
	// context, ends the call at once with an *APIError carrying RetryAfter.
	RetryAfterMax time.Duration
	// TLS, if set, is used for https (e.g. a client certificate for mutual TLS).
	TLS *tls.Config
	// Observe, if set, is told of every call's outcome (see Observer).
	Observe Observer
}

// Client talks to one backend for one gateway. It is safe for concurrent use.
type Client struct {
	base *url.URL
	gw   string
	cfg  Config
	log  *slog.Logger
	http *retryablehttp.Client
	hc   *http.Client

	tokenMu sync.Mutex
	token   string

	modelMu sync.Mutex
	models  map[string]cachedModel // by "id@version"

	// gzip is on while the last hello answer listed gzip in acceptEncoding and
	// no telemetry request has been answered 415 since.
	gzip atomic.Bool
	// gz compresses telemetry bodies, one at a time: a flate writer holds
	// close to 1 MiB, and compressing takes a few ms of a batch's round trip.
	gzMu sync.Mutex
	gz   *gzip.Writer
}

type cachedModel struct {
	etag string
	body []byte
}

// New checks cfg, reads the token file and builds a Client. It does no network I/O.
func New(cfg Config, log *slog.Logger) (*Client, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var errs []error
	base, err := url.Parse(cfg.BaseURL)
	switch {
	case cfg.BaseURL == "":
		errs = append(errs, errors.New("baseURL: must be set"))
	case err != nil:
		errs = append(errs, fmt.Errorf("baseURL: %w", err))
	case base.Scheme != "http" && base.Scheme != "https":
		errs = append(errs, fmt.Errorf("baseURL: scheme must be http or https, got %q", cfg.BaseURL))
	case base.Host == "":
		errs = append(errs, fmt.Errorf("baseURL: must name a host, got %q", cfg.BaseURL))
	case base.RawQuery != "" || base.Fragment != "":
		errs = append(errs, fmt.Errorf("baseURL: must not have a query or fragment, got %q", cfg.BaseURL))
	}
	if cfg.Gateway == "" {
		errs = append(errs, errors.New("gateway: must be set"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"timeout", cfg.Timeout}, {"retryWaitMin", cfg.RetryWaitMin}, {"retryWaitMax", cfg.RetryWaitMax}, {"retryAfterMax", cfg.RetryAfterMax}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s: must be >= 0, got %s", d.name, d.v))
		}
	}
	if cfg.RetryWaitMin > 0 && cfg.RetryWaitMax > 0 && cfg.RetryWaitMax < cfg.RetryWaitMin {
		errs = append(errs, fmt.Errorf("retryWaitMax: must be >= retryWaitMin (%s), got %s", cfg.RetryWaitMin, cfg.RetryWaitMax))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("backendclient: config: %w", err)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	switch {
	case cfg.RetryMax == 0:
		cfg.RetryMax = DefaultRetryMax
	case cfg.RetryMax < 0:
		cfg.RetryMax = 0
	}
	if cfg.RetryWaitMin == 0 {
		cfg.RetryWaitMin = DefaultRetryWaitMin
	}
	if cfg.RetryWaitMax == 0 {
		cfg.RetryWaitMax = max(DefaultRetryWaitMax, cfg.RetryWaitMin)
	}
	if cfg.RetryAfterMax == 0 {
		cfg.RetryAfterMax = DefaultRetryAfterMax
	}
	base.Path = strings.TrimSuffix(base.Path, "/")
	base.RawPath = ""

	c := &Client{base: base, gw: cfg.Gateway, cfg: cfg, log: log, models: map[string]cachedModel{}}
	if cfg.TokenFile != "" {
		tok, err := readToken(cfg.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("backendclient: config: tokenFile: %w", err)
		}
		c.token = tok
	}

	tr := http.DefaultTransport.(*http.Transport).Clone()
	// The answers are small JSON (an ack, an inbox page, a model fetched
	// once): asking for them gzipped would add its header to every request,
	// telemetry included, for next to nothing.
	tr.DisableCompression = true
	if cfg.TLS != nil {
		tr.TLSClientConfig = cfg.TLS.Clone()
	}
	// No http.Client.Timeout: the per-attempt bound lives in attemptTransport so an
	// inbox long-poll can get a longer one than the other calls.
	c.hc = &http.Client{Transport: &attemptTransport{next: tr, timeout: cfg.Timeout}, CheckRedirect: c.checkRedirect}
	rc := retryablehttp.NewClient()
	rc.HTTPClient = c.hc
	rc.Logger = leveledLogger{log}
	rc.RetryMax = cfg.RetryMax
	rc.RetryWaitMin = cfg.RetryWaitMin
	rc.RetryWaitMax = cfg.RetryWaitMax
	rc.CheckRetry = c.checkRetry
	rc.Backoff = Backoff
	rc.ErrorHandler = lastResponse
	c.http = rc
	return c, nil
}

// Close releases idle connections.
func (c *Client) Close() {
	c.hc.CloseIdleConnections()
}

func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("%s: empty", path)
	}
	if strings.ContainsAny(tok, "\r\n") {
		return "", fmt.Errorf("%s: must hold one line", path)
	}
	return tok, nil
}

func (c *Client) currentToken() string {
	c.tokenMu.Lock()
	defer c.tokenMu.Unlock()
	return c.token
}

// reloadToken re-reads the token file and reports whether the token changed.
func (c *Client) reloadToken() (bool, error) {
	if c.cfg.TokenFile == "" {
		return false, nil
	}
	tok, err := readToken(c.cfg.TokenFile)
	if err != nil {
		return false, err
	}
	c.tokenMu.Lock()
	defer c.tokenMu.Unlock()
	changed := tok != c.token
	c.token = tok
	return changed, nil
}

// checkRetry retries transport errors, 408, 429 and 5xx (not 501); never another
// 4xx, a refused redirect or a TLS handshake the server refused; never once ctx
// is done; and not when the server's Retry-After is longer than RetryAfterMax or
// would outlive ctx (the caller gets the *APIError with RetryAfter).
func (c *Client) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err == nil && resp.StatusCode == http.StatusRequestTimeout {
		return true, nil
	}
	if IsRedirectRefused(err) || IsTLSRefusedByServer(err) {
		// A refused redirect, or the server refusing the TLS handshake (no
		// client certificate, no common version): the same again cannot help.
		return false, nil
	}
	retry, perr := retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	if !retry || err != nil {
		return retry, perr
	}
	if ra, ok := retryAfter(resp); ok {
		if ra > c.cfg.RetryAfterMax {
			return false, nil
		}
		if dl, ok := ctx.Deadline(); ok && time.Now().Add(ra).After(dl) {
			return false, nil
		}
	}
	return true, nil
}

// Backoff is the retry wait: the server's Retry-After on 429/503 when it sent one,
// else exponential from min, capped at max, with "equal jitter" (a random point in
// the upper half) so that many gateways do not retry in step.
func Backoff(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
	if ra, ok := retryAfter(resp); ok {
		return ra
	}
	d := max
	if attempt < 62 {
		if e := min << attempt; e > 0 && e < max {
			d = e
		}
	}
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// retryAfter parses Retry-After (seconds or an HTTP date) on 429 and 503.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if resp == nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
		return 0, false
	}
	h := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if h == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(h, 10, 64); err == nil {
		if s < 0 || s > int64(24*time.Hour/time.Second) {
			return 0, false
		}
		return time.Duration(s) * time.Second, true
	}
	t, err := http.ParseTime(h)
	if err != nil {
		return 0, false
	}
	return max(time.Until(t), 0), true
}

// lastResponse is the retryablehttp ErrorHandler: when retries end on an HTTP
// answer, hand that answer back so the caller turns it into an *APIError.
func lastResponse(resp *http.Response, err error, attempts int) (*http.Response, error) {
	if err == nil && resp != nil {
		return resp, nil
	}
	if resp != nil {
		_ = resp.Body.Close()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil, err
	}
	return nil, fmt.Errorf("giving up after %d attempt(s): %w", attempts, err)
}

// attemptTransport bounds one attempt (headers and body) by a deadline, as
// http.Client.Timeout would, plus any extra the call put in the context (the
// inbox long-poll's wait).
type attemptTransport struct {
	next    http.RoundTripper
	timeout time.Duration
}

type extraTimeoutKey struct{}

func (t *attemptTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	d := t.timeout
	if extra, ok := req.Context().Value(extraTimeoutKey{}).(time.Duration); ok {
		d += extra
	}
	ctx, cancel := context.WithTimeout(req.Context(), d)
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// call is one API request.
type call struct {
	method string
	path   string // escaped path below the base URL, e.g. "/api/v1/gateways/gw1"
	query  url.Values
	body   any         // marshalled as JSON when non-nil
	raw    []byte      // the JSON body as it is, when body is nil and raw is not
	header http.Header // extra request headers
	extra  time.Duration
	// lent, when not nil, sends raw as a body lent to the transport: the
	// caller waits for it to be released before it touches raw again.
	lent *lentBody
}

func (k *call) endpoint() string { return k.method + " " + k.path }

// do runs a call with retries. On a 2xx (or an expected 304) it returns the
// status, headers and the whole body (at most MaxResponseBytes); on any other
// status an *APIError. A 401 makes it re-read the token file and, when the token
// changed, try once more.
func (c *Client) do(ctx context.Context, k call, ok ...int) (int, http.Header, []byte, error) {
	payload := k.raw
	if k.body != nil {
		b, err := json.Marshal(k.body)
		if err != nil {
			return 0, nil, nil, fmt.Errorf("backendclient: %s: encode request: %w", k.endpoint(), err)
		}
		payload = b
	}
	for try := 0; ; try++ {
		status, hdr, body, err := c.attempt(ctx, k, payload, ok)
		if try == 0 && IsUnauthorized(err) && c.cfg.TokenFile != "" {
			changed, rerr := c.reloadToken()
			if rerr != nil {
				c.log.Warn("backend answered 401; token file unreadable", "err", rerr)
			}
			if changed {
				continue
			}
		}
		return status, hdr, body, err
	}
}

func (c *Client) attempt(ctx context.Context, k call, payload []byte, ok []int) (int, http.Header, []byte, error) {
	u := *c.base
	u.RawPath = c.base.EscapedPath() + k.path
	p, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("backendclient: %s: %w", k.endpoint(), err)
	}
	u.Path = p
	if len(k.query) > 0 {
		u.RawQuery = k.query.Encode()
	}
	if k.extra > 0 {
		ctx = context.WithValue(ctx, extraTimeoutKey{}, k.extra)
	}
	var rawBody any
	switch {
	case k.lent != nil:
		rawBody = retryablehttp.ReaderFunc(func() (io.Reader, error) { return k.lent.reader() })
	case payload != nil:
		rawBody = payload
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, k.method, u.String(), rawBody)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("backendclient: %s: %w", k.endpoint(), err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "fieldgate-backendclient/1")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for name, vs := range k.header {
		req.Header[name] = vs
	}
	if tok := c.currentToken(); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.send(&k, req)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return 0, nil, nil, fmt.Errorf("backendclient: %s: %w", k.endpoint(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return 0, nil, nil, fmt.Errorf("backendclient: %s: read response (status %d): %w", k.endpoint(), resp.StatusCode, err)
	}
	if len(body) > MaxResponseBytes {
		return 0, nil, nil, invalidAnswer(fmt.Errorf("backendclient: %s: response larger than %d bytes", k.endpoint(), MaxResponseBytes))
	}
	if resp.StatusCode/100 == 2 || containsInt(ok, resp.StatusCode) {
		return resp.StatusCode, resp.Header, body, nil
	}
	return 0, nil, nil, newAPIError(k.endpoint(), resp, body)
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// decodeJSON decodes a whole response body into v, ignoring unknown fields (newer
// backends may add some) but rejecting empty, malformed, truncated or trailing data.
func decodeJSON(endpoint string, body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return invalidAnswer(fmt.Errorf("backendclient: %s: decode response: empty body", endpoint))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return invalidAnswer(fmt.Errorf("backendclient: %s: decode response: %w", endpoint, err))
	}
	return nil
}

// leveledLogger routes retryablehttp's messages to slog. Everything it says is
// about one attempt (the final outcome is the error the call returns, which the
// caller logs), so it all goes to Debug; its level is kept as an attribute.
type leveledLogger struct{ log *slog.Logger }

var _ retryablehttp.LeveledLogger = leveledLogger{}

func (l leveledLogger) Error(msg string, kv ...any) { l.emit("error", msg, kv) }
func (l leveledLogger) Warn(msg string, kv ...any)  { l.emit("warn", msg, kv) }
func (l leveledLogger) Info(msg string, kv ...any)  { l.emit("info", msg, kv) }
func (l leveledLogger) Debug(msg string, kv ...any) { l.emit("debug", msg, kv) }

func (l leveledLogger) emit(level, msg string, kv []any) {
	if !l.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	l.log.Debug("http: "+msg, append([]any{"httpLevel", level}, kv...)...)
}
