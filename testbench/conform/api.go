package conform

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// apiClient makes raw requests: the kit must see exact statuses and send
// bodies no well-behaved client would.
type apiClient struct {
	base  string
	token string
	hc    *http.Client
}

func newAPIClient(base, token string) *apiClient {
	return &apiClient{base: strings.TrimSuffix(base, "/"), token: token, hc: &http.Client{Timeout: 30 * time.Second}}
}

// answer is one HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) String() string {
	b := strings.TrimSpace(string(a.body))
	if len(b) > 300 {
		b = b[:300] + "…"
	}
	return fmt.Sprintf("%d %s", a.status, b)
}

// call sends one request; body is marshalled unless it is []byte (sent as
// is) or nil. gz compresses it. An absent token sends no Authorization.
func (c *apiClient) call(ctx context.Context, method, path string, body any, opts ...callOpt) (answer, error) {
	var o callOpts
	for _, f := range opts {
		f(&o)
	}
	var payload []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		payload = b
	default:
		var err error
		if payload, err = json.Marshal(b); err != nil {
			return answer{}, err
		}
	}
	if o.gzip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(payload)
		_ = zw.Close()
		payload = buf.Bytes()
	}
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return answer{}, err
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if o.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	tok := c.token
	if o.token != nil {
		tok = *o.token
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range o.header {
		req.Header.Set(k, v)
	}
	hc := c.hc
	if o.timeout > 0 {
		hc = &http.Client{Timeout: o.timeout}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

type callOpts struct {
	gzip    bool
	token   *string
	header  map[string]string
	timeout time.Duration
}

type callOpt func(*callOpts)

func withGzip() callOpt                   { return func(o *callOpts) { o.gzip = true } }
func withToken(t string) callOpt          { return func(o *callOpts) { o.token = &t } }
func withTimeout(d time.Duration) callOpt { return func(o *callOpts) { o.timeout = d } }
func withHeader(k, v string) callOpt {
	return func(o *callOpts) {
		if o.header == nil {
			o.header = map[string]string{}
		}
		o.header[k] = v
	}
}

// want checks an answer's status is one of the wanted ones.
func want(what string, a answer, statuses ...int) error {
	for _, s := range statuses {
		if a.status == s {
			return nil
		}
	}
	return fmt.Errorf("%s: want HTTP %v, got %s", what, statuses, a)
}

// decode decodes an answer's body into v (unknown fields ignored, as the
// gateway does).
func decode(what string, a answer, v any) error {
	if err := json.Unmarshal(a.body, v); err != nil {
		return fmt.Errorf("%s: answer is not the JSON the contract defines: %v: %s", what, err, a)
	}
	return nil
}

func gwPath(gw string) string { return "/api/v1/gateways/" + url.PathEscape(gw) }

// hasControl asks whether the test-control API answers.
// It returns the status of the probe: 200 when it answers, 0 when nothing
// answered or the answer was no admin API's.
func (c *apiClient) hasControl(ctx context.Context) int {
	a, err := c.call(ctx, http.MethodGet, "/admin/devices", nil, withTimeout(10*time.Second))
	switch {
	case err != nil:
		return 0
	case a.status == http.StatusOK && !json.Valid(a.body):
		return 0
	}
	return a.status
}
