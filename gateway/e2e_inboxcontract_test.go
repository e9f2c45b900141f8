package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/testbench/backend"
)

// inboxProxy serves a reverse proxy to the reference backend on loopback
// whose inbox requests and answers the test may rewrite.
func inboxProxy(t *testing.T, be *refBackend, director func(q url.Values), modify func(after int64, page map[string]any)) string {
	t.Helper()
	target, err := url.Parse(be.url())
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		if strings.HasSuffix(pr.Out.URL.Path, "/inbox") && director != nil {
			q := pr.Out.URL.Query()
			director(q)
			pr.Out.URL.RawQuery = q.Encode()
		}
	}}
	rp.ModifyResponse = func(resp *http.Response) error {
		if !strings.HasSuffix(resp.Request.URL.Path, "/inbox") || resp.StatusCode != 200 || modify == nil {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		var page map[string]any
		if err := json.Unmarshal(body, &page); err == nil {
			after, _ := strconv.ParseInt(resp.Request.URL.Query().Get("after"), 10, 64)
			modify(after, page)
			body, _ = json.Marshal(page)
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	proxy := &http.Server{Handler: rp}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = proxy.Serve(ln) }()
	t.Cleanup(func() { _ = proxy.Close() })
	return "http://" + ln.Addr().String()
}

// TestInboxRepeatsAreDropped: a backend that answers every inbox request
// from the start (it ignores after) repeats items the gateway handled; the
// repeats are dropped, not taken for a broken page, so later operations still
// come through, and each runs once.
func TestInboxRepeatsAreDropped(t *testing.T) {
	emus := startEmulators(t)
	be := newRefBackend(t)
	proxyURL := inboxProxy(t, be, func(q url.Values) { q.Set("after", "0") }, nil)
	cfg := gatewayConfig(t, t.TempDir(), proxyURL, emus)
	gw := startGateway(t, cfg)
	th1 := "modbus-tcp/" + emus[0].Addr() + "/1"
	dev := waitAssigned(t, be.srv, th1)
	waitRunning(t, gw.api, th1, "")
	for i, sp := range []int{21, 22, 23} {
		id, err := be.srv.CreateOperation(backend.OperationRequest{DeviceID: dev.ID, Name: "write", Input: json.RawMessage(fmt.Sprintf(`{"setpoint":%d}`, sp))})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, fmt.Sprintf("operation %d done", i), func() error {
			if rec, _ := be.srv.Operation(id); rec.Status != backendclient.OpSucceeded {
				return fmt.Errorf("status %s", rec.Status)
			}
			return nil
		})
		if got := emus[0].Unit(1).Holding(10); got != uint16(sp*10) {
			t.Errorf("operation %d: setpoint register %d, want %d", i, got, sp*10)
		}
	}
}

// TestInboxCursorBeyondItemsIsFollowed: an answer whose cursor is beyond its
// last item (the backend withdrew the items between) moves the gateway's
// cursor there: it asks after that cursor from then on.
func TestInboxCursorBeyondItemsIsFollowed(t *testing.T) {
	emus := startEmulators(t)
	be := newRefBackend(t)
	const jump = 1000
	var jumped atomic.Bool
	var mu sync.Mutex
	var afters []int64
	proxyURL := inboxProxy(t, be, func(q url.Values) {
		after, _ := strconv.ParseInt(q.Get("after"), 10, 64)
		mu.Lock()
		afters = append(afters, after)
		mu.Unlock()
	}, func(after int64, page map[string]any) {
		if items, _ := page["items"].([]any); len(items) == 0 && jumped.CompareAndSwap(false, true) {
			page["cursor"] = after + jump
		}
	})
	cfg := gatewayConfig(t, t.TempDir(), proxyURL, emus)
	startGateway(t, cfg)
	eventually(t, 30*time.Second, "an inbox request after the jumped cursor", func() error {
		mu.Lock()
		defer mu.Unlock()
		if !jumped.Load() {
			return errNotYet
		}
		for _, a := range afters {
			if a >= jump {
				return nil
			}
		}
		return fmt.Errorf("afters %v", afters)
	})
}
