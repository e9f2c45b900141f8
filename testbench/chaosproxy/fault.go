package chaosproxy

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Fault is what the proxy does with one request.
type Fault string

// The faults. Pass forwards the request and its answer unchanged.
const (
	Pass         Fault = "pass"
	Drop         Fault = "drop"        // close without an answer; the backend never sees the request
	DropAnswer   Fault = "drop-answer" // forward, then close without the answer: the backend acted
	Reset        Fault = "reset"       // TCP reset (linger 0) instead of an answer; not forwarded
	Delay        Fault = "delay"       // wait up to Config.MaxDelay, then forward
	Status500    Fault = "500"         // 500 Internal Server Error; not forwarded
	Status502    Fault = "502"         // 502 Bad Gateway; not forwarded
	Status503    Fault = "503"         // 503 Service Unavailable without Retry-After; not forwarded
	TooMany      Fault = "429-retry"   // 429 with Retry-After; not forwarded
	Unavailable  Fault = "503-retry"   // 503 with Retry-After; not forwarded
	Unauthorized Fault = "401"         // 401 Unauthorized; not forwarded
	Truncate     Fault = "truncate"    // forward; the answer's body is cut short, then the connection closes
	Slow         Fault = "slow"        // forward; the answer's body trickles in small chunks
)

// Faults lists every fault other than Pass, in a fixed order.
func Faults() []Fault {
	return []Fault{Drop, DropAnswer, Reset, Delay, Status500, Status502, Status503, TooMany, Unavailable, Unauthorized, Truncate, Slow}
}

// Config says where to forward and what to inject.
type Config struct {
	// Upstream is the backend's host:port. Required.
	Upstream string
	// Seed makes the schedule reproducible.
	Seed uint64
	// Rate is the share of requests that get a fault while enabled, 0..1.
	Rate float64
	// Mix weighs the faults against each other (missing or 0: never); nil or
	// empty: every fault of Faults equally.
	Mix map[Fault]int
	// MaxDelay is the longest Delay fault (default 1s); a delay is uniform in
	// [MaxDelay/4, MaxDelay].
	MaxDelay time.Duration
	// RetryAfter is sent with TooMany and Unavailable, whole seconds (default 1s).
	RetryAfter time.Duration
	// TrickleChunk bytes are sent every TrickleEvery by Slow (defaults 16 bytes, 50ms).
	TrickleChunk int
	TrickleEvery time.Duration
	// Latency is added to every request before it is forwarded, faults or not,
	// enabled or not: a plain longer round trip (0..MaxLatency). SetLatency
	// changes it while the proxy runs.
	Latency time.Duration
}

// MaxLatency bounds Config.Latency and SetLatency.
const MaxLatency = 10 * time.Second

func checkLatency(d time.Duration) error {
	if d < 0 || d > MaxLatency {
		return fmt.Errorf("latency: must be 0..%s, got %s", MaxLatency, d)
	}
	return nil
}

func (c *Config) withDefaults() Config {
	d := *c
	if d.MaxDelay == 0 {
		d.MaxDelay = time.Second
	}
	if d.RetryAfter == 0 {
		d.RetryAfter = time.Second
	}
	if d.TrickleChunk == 0 {
		d.TrickleChunk = 16
	}
	if d.TrickleEvery == 0 {
		d.TrickleEvery = 50 * time.Millisecond
	}
	if len(d.Mix) == 0 {
		d.Mix = map[Fault]int{}
		for _, f := range Faults() {
			d.Mix[f] = 1
		}
	}
	return d
}

// validate reports every problem of c, each with its field path.
func (c *Config) validate() error {
	var errs []error
	if c.Upstream == "" {
		errs = append(errs, errors.New("upstream: must be host:port, got \"\""))
	}
	if c.Rate < 0 || c.Rate > 1 || c.Rate != c.Rate {
		errs = append(errs, fmt.Errorf("rate: must be 0..1, got %v", c.Rate))
	}
	keys := make([]Fault, 0, len(c.Mix))
	for f := range c.Mix {
		keys = append(keys, f)
	}
	slices.Sort(keys)
	total := 0
	for _, f := range keys {
		w := c.Mix[f]
		switch {
		case !slices.Contains(Faults(), f):
			errs = append(errs, fmt.Errorf("mix[%q]: unknown fault (want one of %v)", f, Faults()))
		case w < 0:
			errs = append(errs, fmt.Errorf("mix[%q]: weight must be >= 0, got %d", f, w))
		default:
			total += w
		}
	}
	if len(c.Mix) > 0 && total == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("mix: at least one weight must be > 0"))
	}
	for _, d := range []struct {
		path string
		v    time.Duration
	}{{"maxDelay", c.MaxDelay}, {"retryAfter", c.RetryAfter}, {"trickleEvery", c.TrickleEvery}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s: must be >= 0, got %s", d.path, d.v))
		}
	}
	if err := checkLatency(c.Latency); err != nil {
		errs = append(errs, err)
	}
	if c.RetryAfter%time.Second != 0 {
		errs = append(errs, fmt.Errorf("retryAfter: must be whole seconds, got %s", c.RetryAfter))
	}
	if c.TrickleChunk < 0 {
		errs = append(errs, fmt.Errorf("trickleChunk: must be >= 0, got %d", c.TrickleChunk))
	}
	return errors.Join(errs...)
}

// schedule draws the fault of each request from a seeded generator.
type schedule struct {
	rate     float64
	faults   []Fault // in Faults order, weight > 0
	weights  []int
	total    int
	maxDelay time.Duration

	mu  sync.Mutex
	rng *rand.Rand
}

func newSchedule(c Config) *schedule {
	s := &schedule{rate: c.Rate, maxDelay: c.MaxDelay, rng: rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15))}
	for _, f := range Faults() {
		if w := c.Mix[f]; w > 0 {
			s.faults, s.weights = append(s.faults, f), append(s.weights, w)
			s.total += w
		}
	}
	return s
}

// next is the decision for the next request: a fault, and for Delay how long.
// It always draws the same numbers per call, so decisions depend only on order.
func (s *schedule) next() (Fault, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hit, pick, frac := s.rng.Float64(), s.rng.IntN(max(s.total, 1)), s.rng.Float64()
	if hit >= s.rate || s.total == 0 {
		return Pass, 0
	}
	f := s.faults[len(s.faults)-1]
	for i, w := range s.weights {
		if pick < w {
			f = s.faults[i]
			break
		}
		pick -= w
	}
	if f != Delay {
		return f, 0
	}
	lo := s.maxDelay / 4
	return f, lo + time.Duration(frac*float64(s.maxDelay-lo))
}
