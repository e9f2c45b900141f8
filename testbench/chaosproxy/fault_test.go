package chaosproxy

import (
	"math"
	"strings"
	"testing"
	"time"
)

func draw(s *schedule, n int) []Fault {
	out := make([]Fault, n)
	for i := range out {
		out[i], _ = s.next()
	}
	return out
}

func TestScheduleIsDeterministicPerSeed(t *testing.T) {
	cfg := Config{Upstream: "x:1", Rate: 0.3, Seed: 1234}
	a := draw(newSchedule(cfg.withDefaults()), 2000)
	b := draw(newSchedule(cfg.withDefaults()), 2000)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("seed 1234 differs at %d: %s vs %s", i, a[i], b[i])
		}
	}
	cfg.Seed = 1235
	c := draw(newSchedule(cfg.withDefaults()), 2000)
	same := 0
	for i := range a {
		if a[i] == c[i] {
			same++
		}
	}
	if same == len(a) {
		t.Error("seeds 1234 and 1235 gave the same schedule")
	}
	faults := 0
	for _, f := range a {
		if f != Pass {
			faults++
		}
	}
	if share := float64(faults) / float64(len(a)); math.Abs(share-0.3) > 0.06 {
		t.Errorf("fault share %.3f, want about 0.3", share)
	}
}

func TestScheduleFollowsTheMix(t *testing.T) {
	cfg := Config{Upstream: "x:1", Rate: 1, Seed: 9, Mix: map[Fault]int{Drop: 3, Slow: 1, Reset: 0}, MaxDelay: time.Second}
	got := map[Fault]int{}
	for _, f := range draw(newSchedule(cfg.withDefaults()), 4000) {
		got[f]++
	}
	if len(got) != 2 || got[Reset] != 0 || got[Pass] != 0 {
		t.Fatalf("faults drawn %v, want only drop and slow", got)
	}
	if r := float64(got[Drop]) / float64(got[Slow]); r < 2.4 || r > 3.7 {
		t.Errorf("drop:slow = %.2f, want about 3 (%v)", r, got)
	}
	d := newSchedule(Config{Rate: 1, Mix: map[Fault]int{Delay: 1}, MaxDelay: time.Second})
	for range 200 {
		f, delay := d.next()
		if f != Delay || delay < 250*time.Millisecond || delay > time.Second {
			t.Fatalf("delay fault %s %s, want within [250ms, 1s]", f, delay)
		}
	}
}

func TestConfigProblemsAreAllReported(t *testing.T) {
	cfg := Config{Rate: 1.5, Mix: map[Fault]int{"boom": 1, Drop: -1}, MaxDelay: -1, RetryAfter: 1500 * time.Millisecond, TrickleChunk: -2, Latency: time.Minute}
	err := cfg.validate()
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{
		`upstream: must be host:port, got ""`,
		"rate: must be 0..1, got 1.5",
		`mix["boom"]: unknown fault`,
		`mix["drop"]: weight must be >= 0, got -1`,
		"maxDelay: must be >= 0, got -1ns",
		"latency: must be 0..10s, got 1m0s",
		"retryAfter: must be whole seconds, got 1.5s",
		"trickleChunk: must be >= 0, got -2",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	zero := Config{Upstream: "x:1", Mix: map[Fault]int{Drop: 0}}
	if err := zero.validate(); err == nil || !strings.Contains(err.Error(), "mix: at least one weight") {
		t.Errorf("all-zero mix: %v", err)
	}
	if err := (&Config{Upstream: "127.0.0.1:1", Rate: 0.2}).validate(); err != nil {
		t.Errorf("good config: %v", err)
	}
}
