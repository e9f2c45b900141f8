package backendclient_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
)

type observed struct {
	call string
	code int
	took time.Duration
}

type observations struct {
	mu  sync.Mutex
	got []observed
}

func (o *observations) observe(call string, code int, took time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, observed{call, code, took})
}

func (o *observations) take() []observed {
	o.mu.Lock()
	defer o.mu.Unlock()
	got := o.got
	o.got = nil
	return got
}

// TestObserverSeesEveryCall: each call is observed once, named by what it
// does (never by an id), with its final status code after retries, 0 when
// no answer came, and its duration; a call its caller cancelled is not.
func TestObserverSeesEveryCall(t *testing.T) {
	hold := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/api/v1/gateways/gw-1":
			time.Sleep(20 * time.Millisecond)
			w.WriteHeader(http.StatusNoContent)
		case strings.HasPrefix(r.URL.Path, "/api/v1/gateways/gw-1/devices/"):
			writeErr(w, http.StatusServiceUnavailable, "busy", "try later")
		case strings.HasPrefix(r.URL.Path, "/api/v1/operations/"):
			writeErr(w, http.StatusNotFound, "unknown", "no such operation")
		case r.URL.Path == "/api/v1/gateways/gw-1/inbox":
			select {
			case <-hold:
			case <-r.Context().Done():
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	defer close(hold)
	var obs observations
	c := newClient(t, srv, func(cfg *backendclient.Config) { cfg.Observe = obs.observe; cfg.RetryMax = 2 })
	ctx := testCtx(t)

	if err := c.Hello(ctx, backendclient.Hello{Version: "v0.1.0", Adapters: []string{"modbus-tcp"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(ctx, "modbus-tcp/127.0.0.1:502/1", backendclient.Registration{}); err == nil {
		t.Fatal("register answered 503 succeeded")
	}
	if err := c.ReportOperation(ctx, "op-1", backendclient.OperationStatus{Gateway: "gw-1", Status: backendclient.OpSucceeded, Time: time.Now()}); err == nil {
		t.Fatal("operation status answered 404 succeeded")
	}
	got := obs.take()
	want := []observed{{call: "hello", code: 204}, {call: "register", code: 503}, {call: "operation", code: 404}}
	if len(got) != len(want) {
		t.Fatalf("observed %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].call != want[i].call || got[i].code != want[i].code {
			t.Errorf("observation %d: %+v, want %s %d", i, got[i], want[i].call, want[i].code)
		}
	}
	if got[0].took < 20*time.Millisecond {
		t.Errorf("hello took %v, less than the server's 20ms", got[0].took)
	}

	// A caller that gives up is not the backend's doing: not observed.
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := c.Inbox(cctx, 0, 5*time.Second); err == nil {
		t.Fatal("inbox outlived its context")
	}
	if got := obs.take(); len(got) != 0 {
		t.Errorf("a cancelled call was observed: %+v", got)
	}

	// No answer at all: code 0.
	srv.CloseClientConnections()
	srv.Listener.Close()
	if err := c.Hello(ctx, backendclient.Hello{Version: "v0.1.0"}); err == nil {
		t.Fatal("hello to a closed listener succeeded")
	}
	if got := obs.take(); len(got) != 1 || got[0].call != "hello" || got[0].code != 0 {
		t.Errorf("transport failure observed as %+v, want one hello with code 0", got)
	}
}
