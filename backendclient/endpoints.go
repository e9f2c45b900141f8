package backendclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

func (c *Client) gatewayPath() string {
	return "/api/v1/gateways/" + url.PathEscape(c.gw)
}

// Hello announces this gateway (PUT /api/v1/gateways/{gw}); idempotent. The
// answer's acceptEncoding decides whether telemetry is sent gzip-compressed
// from now on.
func (c *Client) Hello(ctx context.Context, h Hello) error {
	if h.APIVersion == "" {
		h.APIVersion = APIVersion
	}
	k := call{method: http.MethodPut, path: c.gatewayPath(), body: h}
	status, _, body, err := c.do(ctx, k)
	if err != nil {
		return err
	}
	if status == http.StatusNoContent {
		c.gzip.Store(false)
		c.setBackendAPIVersion("")
		return nil
	}
	var ack HelloAck
	if err := decodeJSON(k.endpoint(), body, &ack); err != nil {
		return err
	}
	c.setBackendAPIVersion(ack.APIVersion)
	c.gzip.Store(slices.ContainsFunc(ack.AcceptEncoding, func(e string) bool { return strings.EqualFold(e, "gzip") }))
	return nil
}

// BackendAPIVersion is the API revision the backend named in its last hello
// answer ("1.0" when it named none), or "" before the first answer.
func (c *Client) BackendAPIVersion() string {
	c.apiMu.Lock()
	defer c.apiMu.Unlock()
	return c.backendAPI
}

func (c *Client) setBackendAPIVersion(v string) {
	if v == "" {
		v = "1.0"
	}
	v = strings.ToValidUTF8(v, "?")
	if len(v) > 32 {
		v = v[:32]
	}
	if major, _, _ := strings.Cut(v, "."); major != "1" {
		c.log.Warn("the backend names an API revision of another major version; calls may fail", "backendAPI", v, "gatewayAPI", APIVersion)
	}
	c.apiMu.Lock()
	defer c.apiMu.Unlock()
	c.backendAPI = v
}

// Register proxy-registers the device localID (PUT
// /api/v1/gateways/{gw}/devices/{localId}, localId escaped as one segment). The
// answer is checked: a status the API does not define, or an assignment without
// a model instance, is an error naming the field.
func (c *Client) Register(ctx context.Context, localID string, r Registration) (*RegistrationResult, error) {
	if localID == "" {
		return nil, fmt.Errorf("backendclient: register: localId: must not be empty")
	}
	k := call{method: http.MethodPut, path: c.gatewayPath() + "/devices/" + url.PathEscape(localID), body: r}
	_, _, body, err := c.do(ctx, k)
	if err != nil {
		return nil, err
	}
	res, err := decodeRegistration(body)
	if err != nil {
		return nil, invalidAnswer(fmt.Errorf("backendclient: %s: %w", k.endpoint(), err))
	}
	return res, nil
}

// Model fetches model document id@version (GET /api/v1/models/{id}/versions/{version})
// and returns its raw bytes; the caller compiles them. The client remembers each
// document's ETag and sends If-None-Match, so a repeat costs a 304.
func (c *Client) Model(ctx context.Context, id, version string) ([]byte, error) {
	if id == "" || version == "" {
		return nil, fmt.Errorf("backendclient: model: id and version must not be empty, got %q@%q", id, version)
	}
	ref := id + "@" + version
	k := call{method: http.MethodGet, path: "/api/v1/models/" + url.PathEscape(id) + "/versions/" + url.PathEscape(version)}
	c.modelMu.Lock()
	cached, have := c.models[ref]
	c.modelMu.Unlock()
	if have {
		k.header = http.Header{"If-None-Match": {cached.etag}}
	}
	status, hdr, body, err := c.do(ctx, k, http.StatusNotModified)
	if err != nil {
		return nil, err
	}
	if status == http.StatusNotModified {
		if !have {
			return nil, invalidAnswer(fmt.Errorf("backendclient: %s: 304 Not Modified to a request without If-None-Match", k.endpoint()))
		}
		return clone(cached.body), nil
	}
	if len(body) == 0 {
		return nil, invalidAnswer(fmt.Errorf("backendclient: %s: empty model document", k.endpoint()))
	}
	if !json.Valid(body) {
		// Catches truncation; the caller's decoder gives the detailed error.
		var v any
		err := json.Unmarshal(body, &v)
		return nil, invalidAnswer(fmt.Errorf("backendclient: %s: model document is not valid JSON: %w", k.endpoint(), err))
	}
	if etag := hdr.Get("ETag"); etag != "" {
		c.modelMu.Lock()
		c.models[ref] = cachedModel{etag: etag, body: clone(body)}
		c.modelMu.Unlock()
	}
	return body, nil
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// Inbox long-polls the gateway's inbox (GET /api/v1/gateways/{gw}/inbox?after=&wait=)
// for items after the cursor after, waiting up to wait (0..60s, whole seconds,
// rounded up) for one. Every item is checked; a page with an unknown kind or a
// missing payload is an error naming items[i] and the value, and the caller decides.
func (c *Client) Inbox(ctx context.Context, after int64, wait time.Duration) (*InboxPage, error) {
	if wait < 0 || wait > MaxInboxWait {
		return nil, fmt.Errorf("backendclient: inbox: wait: must be 0..%s, got %s", MaxInboxWait, wait)
	}
	if after < 0 {
		return nil, fmt.Errorf("backendclient: inbox: after: must be >= 0, got %d", after)
	}
	secs := int64((wait + time.Second - 1) / time.Second)
	k := call{
		method: http.MethodGet,
		path:   c.gatewayPath() + "/inbox",
		query:  url.Values{"after": {strconv.FormatInt(after, 10)}, "wait": {strconv.FormatInt(secs, 10)}},
		extra:  time.Duration(secs) * time.Second,
	}
	_, _, body, err := c.do(ctx, k)
	if err != nil {
		return nil, err
	}
	page, err := decodeInbox(body, after)
	if err != nil {
		return nil, invalidAnswer(fmt.Errorf("backendclient: %s: %w", k.endpoint(), err))
	}
	return page, nil
}

// ReportOperation reports an operation's status (PUT /api/v1/operations/{id}). The
// backend keeps a final status once it has one and answers 200 with it, so
// repeating a report is always safe.
func (c *Client) ReportOperation(ctx context.Context, id string, st OperationStatus) error {
	if id == "" {
		return fmt.Errorf("backendclient: report operation: id: must not be empty")
	}
	switch st.Status {
	case OpExecuting, OpSucceeded, OpFailed:
	default:
		return fmt.Errorf("backendclient: report operation %s: status: must be EXECUTING, SUCCEEDED or FAILED, got %q", id, st.Status)
	}
	if st.Gateway == "" {
		st.Gateway = c.gw
	}
	if st.Time.IsZero() {
		st.Time = time.Now().UTC()
	}
	k := call{method: http.MethodPut, path: "/api/v1/operations/" + url.PathEscape(id), body: st}
	status, _, body, err := c.do(ctx, k)
	if err != nil {
		return err
	}
	if status == http.StatusNoContent {
		return nil
	}
	var ack OperationAck
	return decodeJSON(k.endpoint(), body, &ack)
}
