// Package promtext writes the Prometheus text exposition format 0.0.4, by
// hand, and the standard go_* and process_* families a Prometheus user
// expects of a Go daemon. It replaces client_golang, whose registry, protobuf
// model and collectors added about 3 MB to the binary — and, the binary being
// resident on the gateway, as much to its memory — for one small text page.
//
// It owns the format only (names, escaping, number formatting, family order,
// histograms); what a metric means is the caller's. It keeps no global state:
// a Writer lives for one scrape, a Histogram as long as its owner.
package promtext

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"unicode/utf8"
)

// ContentType is what a text exposition is served as.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// The family types the format names.
const (
	TypeCounter   = "counter"
	TypeGauge     = "gauge"
	TypeHistogram = "histogram"
	TypeSummary   = "summary"
)

// Label is one label pair of a series. A family's series carry their labels in
// the same order; give them sorted by name, as promhttp wrote them.
type Label struct{ Name, Value string }

// Writer writes one exposition: families in name order, each announced by
// Family and followed by its series. A family none of whose series is written
// does not appear at all (promhttp left out empty families too).
//
// Writes go through a bufio.Writer; the first write error sticks and is
// returned by Flush, as is a family given out of name order (the caller's
// mistake: the output is written anyway).
type Writer struct {
	w             *bufio.Writer
	num           []byte   // scratch for formatting numbers
	counts        []uint64 // scratch for a histogram's buckets
	name, help    string   // the family announced
	typ           string
	headerWritten bool
	last          string // the previous family's name
	misuse        error
}

// NewWriter writes to w, buffered.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: bufio.NewWriter(w), num: make([]byte, 0, 32)}
}

// Family starts the family name of type typ (TypeCounter, TypeGauge,
// TypeHistogram, TypeSummary) with its HELP text; its header is written with its first series.
// Families must come in strictly increasing name order.
func (w *Writer) Family(name, typ, help string) {
	if w.misuse == nil && w.last != "" && name <= w.last {
		w.misuse = fmt.Errorf("metric family %s after %s: families must come once each, in name order", name, w.last)
	}
	w.name, w.typ, w.help, w.headerWritten, w.last = name, typ, help, false, name
}

// Sample writes one series of the current counter or gauge family.
func (w *Writer) Sample(v float64, labels ...Label) {
	w.header()
	w.series("", labels, "", 0, v)
}

// Histogram writes one series of the current histogram family from h: its
// cumulative _bucket series (le ascending, then +Inf), _sum and _count. The
// labels come before le.
func (w *Writer) Histogram(h *Histogram, labels ...Label) {
	w.header()
	h.mu.Lock()
	w.counts = append(w.counts[:0], h.counts...)
	sum, count := h.sum, h.count
	h.mu.Unlock()
	var cum uint64
	for i, upper := range h.upper {
		cum += w.counts[i]
		w.series("_bucket", labels, "le", upper, float64(cum))
	}
	w.series("_bucket", labels, "le", math.Inf(1), float64(count))
	w.series("_sum", labels, "", 0, sum)
	w.series("_count", labels, "", 0, float64(count))
}

// Summary writes one series of the current summary family: values[i] is the
// quantile quantiles[i], then _sum and _count.
func (w *Writer) Summary(quantiles, values []float64, sum float64, count uint64, labels ...Label) {
	w.header()
	for i, q := range quantiles {
		w.series("", labels, "quantile", q, values[i])
	}
	w.series("_sum", labels, "", 0, sum)
	w.series("_count", labels, "", 0, float64(count))
}

// Flush writes what is buffered and returns the first error: of a write, or
// of families given out of order.
func (w *Writer) Flush() error {
	if err := w.w.Flush(); err != nil {
		return err
	}
	return w.misuse
}

func (w *Writer) header() {
	if w.headerWritten {
		return
	}
	if w.name == "" {
		if w.misuse == nil {
			w.misuse = fmt.Errorf("a series before any metric family")
		}
		w.name = "unnamed"
	}
	w.headerWritten = true
	w.w.WriteString("# HELP ")
	w.w.WriteString(w.name)
	w.w.WriteByte(' ')
	w.escaped(w.help, false)
	w.w.WriteString("\n# TYPE ")
	w.w.WriteString(w.name)
	w.w.WriteByte(' ')
	w.w.WriteString(w.typ)
	w.w.WriteByte('\n')
}

// series writes one line: the family's name with suffix, the labels, and
// when extra is set one more label (le, quantile) with a number as value.
func (w *Writer) series(suffix string, labels []Label, extra string, extraValue, v float64) {
	w.w.WriteString(w.name)
	w.w.WriteString(suffix)
	if len(labels) > 0 || extra != "" {
		w.w.WriteByte('{')
		for i, l := range labels {
			if i > 0 {
				w.w.WriteByte(',')
			}
			w.w.WriteString(l.Name)
			w.w.WriteString(`="`)
			w.escaped(l.Value, true)
			w.w.WriteByte('"')
		}
		if extra != "" {
			if len(labels) > 0 {
				w.w.WriteByte(',')
			}
			w.w.WriteString(extra)
			w.w.WriteString(`="`)
			w.float(extraValue)
			w.w.WriteByte('"')
		}
		w.w.WriteByte('}')
	}
	w.w.WriteByte(' ')
	w.float(v)
	w.w.WriteByte('\n')
}

// float writes v as expfmt did: shortest 'g' form, +Inf, -Inf, NaN.
func (w *Writer) float(v float64) {
	switch {
	case v == 0:
		w.w.WriteByte('0')
	case v == 1:
		w.w.WriteByte('1')
	case math.IsNaN(v):
		w.w.WriteString("NaN")
	case math.IsInf(v, 1):
		w.w.WriteString("+Inf")
	case math.IsInf(v, -1):
		w.w.WriteString("-Inf")
	default:
		w.num = strconv.AppendFloat(w.num[:0], v, 'g', -1, 64)
		w.w.Write(w.num)
	}
}

// escaped writes s escaped for a HELP text (backslash, newline) or, with
// quote, for a label value (a double quote too). Invalid UTF-8 is written as
// U+FFFD: the format is UTF-8, and one bad byte from a device must not make
// the whole scrape unparsable.
func (w *Writer) escaped(s string, quote bool) {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c == '\n' || c >= utf8.RuneSelf || (quote && c == '"') {
			clean = false
			break
		}
	}
	if clean {
		w.w.WriteString(s)
		return
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\\':
				w.w.WriteString(`\\`)
			case c == '\n':
				w.w.WriteString(`\n`)
			case c == '"' && quote:
				w.w.WriteString(`\"`)
			default:
				w.w.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			w.w.WriteRune(utf8.RuneError)
		} else {
			w.w.WriteString(s[i : i+size])
		}
		i += size
	}
}
