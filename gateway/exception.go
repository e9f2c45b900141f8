package gateway

import (
	"math"
	"time"

	"github.com/fieldgate/fieldgate/models"
)

// reportFilter decides which values of a device's polls are sent upstream, by
// each property's compiled ReportPolicy. One per poll loop (one group of one
// instance run); not safe for concurrent use.
//
// The rules, for a property reported on change:
//   - its first reading is sent;
//   - a reading whose quality differs from the last one sent is sent;
//   - a reading is sent when its property's heartbeat has passed since the last
//     one sent (by Reading.Time; a reading older than the last one sent, after
//     the clock was set back, counts as due);
//   - a good reading is sent when its value changed beyond the deadbands since
//     the last one sent: numbers compare numerically (int against float too)
//     and must differ by more than Deadband and by more than DeadbandPercent of
//     the last sent value's magnitude (any change when that was 0); NaN is
//     unchanged against NaN and changed against anything else; a move to or
//     from ±Inf is a change; bools and strings change when they differ;
//   - a bad reading's value is not compared: while the quality stays bad only
//     the heartbeat sends it.
type reportFilter struct {
	// policy and last are indexed by property; nil when no property of the
	// model is reported on change (every reading passes).
	policy []models.ReportPolicy
	last   []lastSent
}

// lastSent is what the filter last let through for one property.
type lastSent struct {
	ok      bool // something was sent
	value   models.Value
	quality models.Quality
	at      time.Time
}

func newReportFilter(m *models.Compiled) *reportFilter {
	f := &reportFilter{}
	for i := range m.Properties {
		if m.Properties[i].Report.OnChange {
			f.policy = make([]models.ReportPolicy, len(m.Properties))
			f.last = make([]lastSent, len(m.Properties))
			break
		}
	}
	for i := range f.policy {
		f.policy[i] = m.Properties[i].Report
	}
	return f
}

// due filters readings in place and returns the ones to send: every reading of a
// property reported every poll; for on-change properties, a reading whose value
// changed beyond the deadband since the last one sent, whose quality changed, or
// that has not been sent for its heartbeat. The first reading of each property is
// always sent. It remembers what it lets through.
func (f *reportFilter) due(readings []models.Reading) []models.Reading {
	if f.policy == nil {
		return readings
	}
	n := 0
	for i := range readings {
		if f.pass(&readings[i]) {
			if n != i {
				readings[n] = readings[i]
			}
			n++
		}
	}
	return readings[:n]
}

// pass decides one reading and remembers it when it is sent.
func (f *reportFilter) pass(r *models.Reading) bool {
	if r.Property < 0 || r.Property >= len(f.policy) {
		return true // not a property of this model: not the filter's to hold back
	}
	p := &f.policy[r.Property]
	if !p.OnChange {
		return true
	}
	s := &f.last[r.Property]
	if s.ok && !s.due(p, r) {
		return false
	}
	*s = lastSent{ok: true, value: r.Value, quality: r.Quality, at: r.Time}
	return true
}

func (s *lastSent) due(p *models.ReportPolicy, r *models.Reading) bool {
	if r.Quality != s.quality {
		return true
	}
	if p.Heartbeat > 0 {
		if since := r.Time.Sub(s.at); since >= p.Heartbeat || since < 0 {
			return true
		}
	}
	if r.Quality != models.QualityGood {
		return false
	}
	return changedBeyond(p, s.value, r.Value)
}

// changedBeyond reports whether v differs from the last sent value beyond p's deadbands.
func changedBeyond(p *models.ReportPolicy, last, v models.Value) bool {
	var diff, base float64
	switch {
	case last.Kind == models.KindInt && v.Kind == models.KindInt:
		if last.Int == v.Int {
			return false
		}
		// Exact for any two int64: their distance fits a uint64.
		if v.Int > last.Int {
			diff = float64(uint64(v.Int) - uint64(last.Int))
		} else {
			diff = float64(uint64(last.Int) - uint64(v.Int))
		}
		base = math.Abs(float64(last.Int))
	default:
		a, aok := last.Number()
		b, bok := v.Number()
		if !aok || !bok {
			return !last.Equal(v) // bools, strings, or a change of kind
		}
		if a == b {
			return false
		}
		if math.IsNaN(a) || math.IsNaN(b) {
			return math.IsNaN(a) != math.IsNaN(b)
		}
		if math.IsInf(a, 0) || math.IsInf(b, 0) {
			return true
		}
		diff, base = math.Abs(b-a), math.Abs(a)
	}
	if diff <= p.Deadband {
		return false
	}
	if p.DeadbandPercent > 0 && base != 0 && diff <= p.DeadbandPercent/100*base {
		return false
	}
	return true
}
