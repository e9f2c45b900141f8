package backend

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
)

// waiting reports whether a long-poll of gw is parked on its notification channel.
func (s *Server) waiting(gw string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.notify[gw]
	return ok
}

func TestLongPollWakesOnAssignment(t *testing.T) {
	b := newBench(t, nil)
	pend := b.register("gw1", "serial/usb-1", thFingerprint("ZZ-9", "1"))

	type result struct {
		page backendclient.InboxPage
		took time.Duration
	}
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		resp, err := http.Get(b.hs.URL + "/api/v1/gateways/gw1/inbox?after=0&wait=60")
		var r result
		if err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&r.page)
			resp.Body.Close()
		}
		r.took = time.Since(start)
		done <- r
	}()
	eventually(t, 10*time.Second, "the long-poll to park", func() bool { return b.srv.waiting("gw1") })
	if err := b.srv.Assign(pend.DeviceID, "test-th", "1.0.0", 0); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if len(r.page.Items) != 1 || r.page.Items[0].Kind != backendclient.KindAssignment || r.page.Cursor != 1 {
			t.Fatalf("page %+v", r.page)
		}
		if r.took > 45*time.Second {
			t.Fatalf("long-poll took %s: it waited out its wait instead of waking", r.took)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("long-poll did not return after the assignment")
	}

	// Items exist after the cursor: returned at once even with a long wait.
	start := time.Now()
	if p := b.inbox("gw1", 0, 60); len(p.Items) != 1 {
		t.Fatalf("page %+v", p)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("took %s with items present", took)
	}
}

func TestInboxWaitZeroAndParams(t *testing.T) {
	b := newBench(t, nil)
	start := time.Now()
	p := b.inbox("gw1", 7, 0)
	if len(p.Items) != 0 || p.Cursor != 7 || p.Items == nil {
		t.Fatalf("page %+v, want empty items and cursor 7", p)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("wait=0 took %s", took)
	}
	for _, q := range []string{"wait=abc", "wait=-1", "after=x", "after=-3", "wait=1.5"} {
		e := apiError(t, b.call("GET", "/api/v1/gateways/gw1/inbox?"+q, nil, 400, nil), CodeBadRequest)
		name, _, _ := strings.Cut(q, "=")
		if !strings.HasPrefix(e.Message, name+":") {
			t.Errorf("%s: message %q does not name the parameter", q, e.Message)
		}
	}
}

func TestLongPollEndsOnCloseAndDisconnect(t *testing.T) {
	b := newBench(t, nil)

	// The client goes away: the handler returns and stops waiting.
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", b.hs.URL+"/api/v1/gateways/gw1/inbox?wait=60", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	eventually(t, 10*time.Second, "the long-poll to park", func() bool { return b.srv.waiting("gw1") })
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("cancelled request succeeded")
	}

	// Close wakes a parked long-poll, which answers with an empty page.
	got := make(chan int, 1)
	go func() {
		resp, err := http.Get(b.hs.URL + "/api/v1/gateways/gw2/inbox?after=4&wait=60")
		if err != nil {
			got <- -1
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	eventually(t, 10*time.Second, "the second long-poll to park", func() bool { return b.srv.waiting("gw2") })
	if err := b.srv.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-got:
		if code != 200 {
			t.Fatalf("status %d after Close, want 200", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not wake the long-poll")
	}
	// After Close the API answers 503 rather than failing oddly.
	apiError(t, b.call("GET", "/api/v1/gateways/gw2/inbox", nil, 503, nil), CodeUnavailable)
}
