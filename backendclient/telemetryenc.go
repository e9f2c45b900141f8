package backendclient

import (
	"bytes"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/fieldgate/fieldgate/models"
)

// MaxTelemetryBytes is the most JSON bytes (uncompressed) the gateway puts in
// one telemetry batch; a single record larger than that goes alone. The API's
// own bounds are larger (4 MiB as sent, 16 MiB decompressed).
const MaxTelemetryBytes = 1 << 20

const (
	samplesOpen = `{"samples":[`
	eventsOpen  = `"events":[`
)

// TelemetryEncoder builds a telemetry body (a TelemetryBatch's JSON) as records
// are added, without reflection and, once its buffers have grown, without
// allocating. It writes exactly what encoding/json reads back into a
// TelemetryBatch: strings escaped as encoding/json escapes them (invalid UTF-8
// becomes U+FFFD; <, > and & are left as they are), times in RFC 3339 with
// nanoseconds in UTC, values as models.Value.MarshalJSON writes them.
//
// An encoder is reusable (Reset) but not safe for concurrent use, and its body
// must not change while a request sends it: use one per in-flight request.
type TelemetryEncoder struct {
	samples []byte       // samplesOpen, then the samples, comma-separated
	events  []byte       // the events, comma-separated
	body    []byte       // scratch for bodies without samples
	gz      bytes.Buffer // the compressed body, when the client sends gzip
	nS, nE  int
	// sealed is the length of samples before body appended the closing part
	// (-1 while open): the next Add cuts it back.
	sealed int
}

// abandon leaves the encoder's buffers to a request that may still read them
// and starts new ones.
func (e *TelemetryEncoder) abandon() {
	e.samples, e.events, e.body, e.gz = nil, nil, nil, bytes.Buffer{}
	e.Reset()
}

// Reset empties the encoder, keeping its buffers.
func (e *TelemetryEncoder) Reset() {
	e.samples = append(e.samples[:0], samplesOpen...)
	e.events = e.events[:0]
	e.nS, e.nE = 0, 0
	e.sealed = -1
}

func (e *TelemetryEncoder) open() {
	if len(e.samples) == 0 {
		e.Reset()
	}
	if e.sealed >= 0 {
		e.samples = e.samples[:e.sealed]
		e.sealed = -1
	}
}

// Count returns the number of samples and events added since the last Reset.
func (e *TelemetryEncoder) Count() int { return e.nS + e.nE }

// Len returns the length in bytes of the body (uncompressed) as it stands.
func (e *TelemetryEncoder) Len() int {
	switch {
	case e.nS == 0 && e.nE == 0:
		return len("{}")
	case e.nE == 0:
		return e.samplesLen() + len("]}")
	case e.nS == 0:
		return len("{") + len(eventsOpen) + len(e.events) + len("]}")
	}
	return e.samplesLen() + len("],") + len(eventsOpen) + len(e.events) + len("]}")
}

func (e *TelemetryEncoder) samplesLen() int {
	if e.sealed >= 0 {
		return e.sealed
	}
	return len(e.samples)
}

// Bytes returns the body. It stays valid until the next Add or Reset.
func (e *TelemetryEncoder) Bytes() []byte {
	e.open()
	switch {
	case e.nS == 0 && e.nE == 0:
		return append(e.body[:0], "{}"...)
	case e.nS == 0:
		e.body = append(e.body[:0], '{')
		e.body = append(e.body, eventsOpen...)
		e.body = append(e.body, e.events...)
		e.body = append(e.body, "]}"...)
		return e.body
	}
	e.sealed = len(e.samples)
	if e.nE > 0 {
		e.samples = append(e.samples, "],"...)
		e.samples = append(e.samples, eventsOpen...)
		e.samples = append(e.samples, e.events...)
	}
	e.samples = append(e.samples, "]}"...)
	return e.samples
}

// AddSample appends s. An empty Quality is written as "bad" when s.Bad names
// a property, else "good". A time outside the years 0 to 9999, which RFC 3339
// cannot carry, is written as the zero time.
func (e *TelemetryEncoder) AddSample(s *Sample) {
	e.open()
	b := e.samples
	if e.nS > 0 {
		b = append(b, ',')
	}
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, s.Seq, 10)
	b = append(b, `,"localId":`...)
	b = appendString(b, s.LocalID)
	if s.DeviceID != "" {
		b = append(b, `,"deviceId":`...)
		b = appendString(b, s.DeviceID)
	}
	b = append(b, `,"time":`...)
	b = appendTime(b, s.Time)
	b = append(b, `,"quality":`...)
	q := s.Quality
	if q == "" {
		q = QualityGood
		if len(s.Bad) > 0 {
			q = QualityBad
		}
	}
	b = appendString(b, q)
	b = append(b, `,"values":`...)
	b = s.Values.appendJSON(b)
	if len(s.Bad) > 0 {
		b = append(b, `,"bad":[`...)
		for i, p := range s.Bad {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, p)
		}
		b = append(b, ']')
	}
	b = append(b, '}')
	e.samples = b
	e.nS++
}

// AddSampleWithin adds s unless the body would then be longer than max bytes
// while it already holds a record (a record larger than max goes alone); it
// reports whether s was added. A batch is split this way without encoding a
// record twice in the usual case.
func (e *TelemetryEncoder) AddSampleWithin(s *Sample, max int) bool {
	e.open()
	before := len(e.samples)
	e.AddSample(s)
	if e.Len() > max && e.Count() > 1 {
		e.samples = e.samples[:before]
		e.nS--
		return false
	}
	return true
}

// AddEventWithin is AddSampleWithin for an event.
func (e *TelemetryEncoder) AddEventWithin(ev *Event, max int) bool {
	e.open()
	before := len(e.events)
	e.AddEvent(ev)
	if e.Len() > max && e.Count() > 1 {
		e.events = e.events[:before]
		e.nE--
		return false
	}
	return true
}

// AddEvent appends ev (times as AddSample).
func (e *TelemetryEncoder) AddEvent(ev *Event) {
	e.open()
	b := e.events
	if e.nE > 0 {
		b = append(b, ',')
	}
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, ev.Seq, 10)
	b = append(b, `,"localId":`...)
	b = appendString(b, ev.LocalID)
	if ev.DeviceID != "" {
		b = append(b, `,"deviceId":`...)
		b = appendString(b, ev.DeviceID)
	}
	b = append(b, `,"event":`...)
	b = appendString(b, ev.Event)
	if ev.Detail != "" {
		b = append(b, `,"detail":`...)
		b = appendString(b, ev.Detail)
	}
	b = append(b, `,"time":`...)
	b = appendTime(b, ev.Time)
	b = append(b, '}')
	e.events = b
	e.nE++
}

// appendJSON writes the values as a JSON object, in order.
func (vs SampleValues) appendJSON(b []byte) []byte {
	b = append(b, '{')
	for i := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, vs[i].Property)
		b = append(b, ':')
		b = appendValue(b, vs[i].Value)
	}
	return append(b, '}')
}

// appendValue writes v as models.Value.MarshalJSON does.
func appendValue(b []byte, v models.Value) []byte {
	switch v.Kind {
	case models.KindBool:
		return strconv.AppendBool(b, v.Bool)
	case models.KindInt:
		return strconv.AppendInt(b, v.Int, 10)
	case models.KindFloat:
		if math.IsNaN(v.Float) || math.IsInf(v.Float, 0) {
			return append(b, "null"...)
		}
		return strconv.AppendFloat(b, v.Float, 'g', -1, 64)
	case models.KindString:
		return appendString(b, v.Str)
	}
	return append(b, "null"...)
}

func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		t = time.Time{}
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string the way encoding/json does, except
// that <, > and & are not escaped: control characters escaped (\b \f \n \r \t
// short), invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
