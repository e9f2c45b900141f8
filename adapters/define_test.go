package adapters_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
)

type nopBus struct{ adapters.Bus }

func TestDefine(t *testing.T) {
	parse := func(raw json.RawMessage) (int, error) {
		var n int
		if err := json.Unmarshal(raw, &n); err != nil {
			return 0, errors.New("settings: must be a number")
		}
		return n, nil
	}
	var got adapters.BusSpec
	var gotN int
	want := &nopBus{}
	a := adapters.Define("test-proto", "test", parse, func(_ context.Context, spec adapters.BusSpec, n int) (adapters.Bus, error) {
		got, gotN = spec, n
		return want, nil
	})
	if a.Protocol() != "test-proto" {
		t.Fatalf("Protocol() = %q", a.Protocol())
	}
	if err := a.Check(json.RawMessage(`7`)); err != nil {
		t.Fatalf("Check(7): %v", err)
	}
	if err := a.Check(json.RawMessage(`"x"`)); err == nil || err.Error() != "settings: must be a number" {
		t.Fatalf("Check(\"x\") = %v", err)
	}
	if _, err := a.Open(context.Background(), adapters.BusSpec{Name: "b", Settings: json.RawMessage(`"x"`)}); err == nil || gotN != 0 {
		t.Fatalf("Open with bad settings: err %v, open called with %d", err, gotN)
	}
	b, err := a.Open(context.Background(), adapters.BusSpec{Name: "b", Settings: json.RawMessage(`42`)})
	if err != nil || b != want {
		t.Fatalf("Open = %v, %v", b, err)
	}
	if gotN != 42 || got.Name != "b" || got.Logger == nil {
		t.Fatalf("open got n=%d name=%q logger=%v; want 42, b, a discard logger", gotN, got.Name, got.Logger)
	}
	got.Logger.Info("goes nowhere")
}

func TestSleep(t *testing.T) {
	if err := adapters.Sleep(context.Background(), 0); err != nil {
		t.Fatalf("Sleep(0) = %v", err)
	}
	start := time.Now()
	if err := adapters.Sleep(context.Background(), 20*time.Millisecond); err != nil {
		t.Fatalf("Sleep(20ms) = %v", err)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Fatalf("Sleep(20ms) returned after %v", d)
	}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for _, d := range []time.Duration{-time.Second, 0, time.Hour} {
		if err := adapters.Sleep(done, d); !errors.Is(err, context.Canceled) {
			t.Fatalf("Sleep(cancelled, %v) = %v, want context.Canceled", d, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	if err := adapters.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep cancelled midway = %v, want context.Canceled", err)
	}
}

func TestExcerpt(t *testing.T) {
	long := `"` + strings.Repeat("x", 50) + `"`
	for in, want := range map[string]string{
		"  {\"a\": 1}\n": `{"a": 1}`,
		"":               "",
		long:             long[:40] + "…",
	} {
		if got := adapters.Excerpt([]byte(in)); got != want {
			t.Errorf("Excerpt(%q) = %q, want %q", in, got, want)
		}
	}
}
