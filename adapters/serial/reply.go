package serial

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/models"
)

// maxReply bounds a reply: more bytes without the reply terminator is a bad reply.
const maxReply = 1024

// ParseReply decodes one reply (its terminator already stripped) by a
// compiled read: the reply must match r.Pattern; the "value" group is parsed
// to r.Kind (int and float with Scale and Offset; bool from 1/0, true/false,
// on/off, yes/no in any case; string as it is). A reply that does not match, or
// a value that does not parse, is an error wrapping adapters.ErrBadReply that
// quotes the reply. A value the device sent but that cannot be trusted (a NaN
// or infinite number, a text that is not UTF-8) is a reading of QualityBad.
func ParseReply(r *Read, reply []byte, now time.Time) (models.Reading, error) {
	rd := models.Reading{Property: r.Property, Time: now}
	if r.Pattern == nil {
		return rd, fmt.Errorf("%w: read has no response pattern", adapters.ErrBadReply)
	}
	m := r.Pattern.FindSubmatchIndex(reply)
	if m == nil {
		return rd, fmt.Errorf("%w: reply %s does not match %s", adapters.ErrBadReply, quote(reply), r.Pattern)
	}
	if r.Group <= 0 || 2*r.Group+1 >= len(m) || m[2*r.Group] < 0 {
		return rd, fmt.Errorf("%w: reply %s matched %s without a value", adapters.ErrBadReply, quote(reply), r.Pattern)
	}
	raw := reply[m[2*r.Group]:m[2*r.Group+1]]
	v, good, err := parseValue(r, raw)
	if err != nil {
		return rd, fmt.Errorf("%w: reply %s: value %s: %w", adapters.ErrBadReply, quote(reply), quote(raw), err)
	}
	rd.Value = v
	if !good {
		rd.Quality = models.QualityBad
	}
	return rd, nil
}

// parseValue parses the text of a value group to r.Kind; good is false for a
// value that parsed but cannot be trusted.
func parseValue(r *Read, raw []byte) (v models.Value, good bool, err error) {
	text := string(bytes.TrimSpace(raw))
	switch r.Kind {
	case models.KindString:
		if !utf8.ValidString(text) {
			return models.StringValue(strings.ToValidUTF8(text, "\uFFFD")), false, nil
		}
		return models.StringValue(text), true, nil
	case models.KindBool:
		switch strings.ToLower(text) {
		case "1", "true", "on", "yes":
			return models.BoolValue(true), true, nil
		case "0", "false", "off", "no":
			return models.BoolValue(false), true, nil
		}
		return v, false, fmt.Errorf("must be 1/0, true/false, on/off or yes/no")
	case models.KindInt:
		if i, ok := parseInt(text); ok && r.Scale == 1 && r.Offset == 0 {
			return models.IntValue(i), true, nil
		}
		f, err := parseFloat(text)
		if err != nil {
			return v, false, err
		}
		f = math.Round(f*r.Scale + r.Offset)
		if math.IsNaN(f) || f < math.MinInt64 || f >= math.MaxInt64 {
			return models.IntValue(0), false, nil
		}
		return models.IntValue(int64(f)), true, nil
	case models.KindFloat:
		f, err := parseFloat(text)
		if err != nil {
			return v, false, err
		}
		f = f*r.Scale + r.Offset
		return models.FloatValue(f), !math.IsNaN(f) && !math.IsInf(f, 0), nil
	}
	return v, false, fmt.Errorf("unknown kind %s", r.Kind)
}

// parseInt parses a decimal or 0x-prefixed hexadecimal integer.
func parseInt(s string) (int64, bool) {
	neg := strings.HasPrefix(s, "-")
	body := strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	if h, ok := strings.CutPrefix(strings.ToLower(body), "0x"); ok {
		u, err := strconv.ParseInt(h, 16, 64)
		if err != nil {
			return 0, false
		}
		if neg {
			u = -u
		}
		return u, true
	}
	i, err := strconv.ParseInt(s, 10, 64)
	return i, err == nil
}

// parseFloat parses a decimal number; NaN and infinities parse (the reading is
// then of bad quality), hexadecimal integers too.
func parseFloat(s string) (float64, error) {
	if i, ok := parseInt(s); ok {
		return float64(i), nil
	}
	if strings.ContainsAny(s, "_xXpP") { // no Go literal syntax: a device sends plain decimals
		return 0, fmt.Errorf("must be a decimal number")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("must be a decimal number")
	}
	return f, nil
}

// quote quotes device bytes for an error message, truncated.
func quote(b []byte) string {
	const max = 64
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "…"
	}
	return strconv.Quote(string(b))
}
