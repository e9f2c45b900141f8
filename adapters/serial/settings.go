package serial

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/adapters/serialport"
)

// Settings defaults and limits.
const (
	DefaultBaud         = 9600
	DefaultTerminator   = "\r\n"
	DefaultProbe        = "*IDN?"
	DefaultProbeTimeout = 500 * time.Millisecond
	maxProbes           = 16
	maxProbeLen         = 64
	maxTerminatorLen    = 4
	maxDuration         = time.Minute
)

// settings is a bus's checked settings, ready to run.
type settings struct {
	port         serialport.Identity
	line         serialport.LineSettings
	term         []byte // ends probe commands
	replyEnd     []byte // ends every reply
	probes       []string
	probeTimeout time.Duration
	minGap       time.Duration
	hint         string
}

// rawSettings is the JSON form; pointers tell "absent" from zero.
type rawSettings struct {
	Port            *string   `json:"port"`
	Baud            *int      `json:"baud"`
	DataBits        *int      `json:"dataBits"`
	Parity          *string   `json:"parity"`
	StopBits        *int      `json:"stopBits"`
	Terminator      *string   `json:"terminator"`
	ReplyTerminator *string   `json:"replyTerminator"`
	Probes          *[]string `json:"probes"`
	ProbeTimeout    *string   `json:"probeTimeout"`
	MinGap          *string   `json:"minGap"`
	Hint            *string   `json:"hint"`
}

// members maps each JSON member name to where it decodes.
func (r *rawSettings) members() map[string]any {
	return map[string]any{
		"port": &r.Port, "baud": &r.Baud, "dataBits": &r.DataBits, "parity": &r.Parity,
		"stopBits": &r.StopBits, "terminator": &r.Terminator, "replyTerminator": &r.ReplyTerminator,
		"probes": &r.Probes, "probeTimeout": &r.ProbeTimeout, "minGap": &r.MinGap, "hint": &r.Hint,
	}
}

// decodeStrict decodes a JSON object member by member: an unknown member or a
// member of the wrong type is an error naming it and its value; every problem
// is returned.
func (r *rawSettings) decodeStrict(raw []byte) []error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return []error{fmt.Errorf("settings: must be a JSON object, got %s", adapters.Excerpt(raw))}
	}
	dst := r.members()
	var errs []error
	for _, n := range slices.Sorted(maps.Keys(obj)) {
		to, ok := dst[n]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: unknown field", n))
			continue
		}
		if err := json.Unmarshal(obj[n], to); err != nil {
			want := "a valid value"
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				want = te.Type.String()
			}
			errs = append(errs, fmt.Errorf("%s: must be %s, got %s", n, want, adapters.Excerpt(obj[n])))
			reflect.ValueOf(to).Elem().SetZero() // absent, so it is not checked again
		}
	}
	return errs
}

// parseSettings decodes and validates a bus's settings strictly, returning
// every problem at once, each prefixed with its field path.
func parseSettings(raw json.RawMessage) (*settings, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("{}")
	}
	var r rawSettings
	errs := r.decodeStrict(raw)
	s := &settings{
		line:         serialport.LineSettings{Baud: DefaultBaud, DataBits: 8, Parity: "none", StopBits: 1},
		term:         []byte(DefaultTerminator),
		probes:       []string{DefaultProbe},
		probeTimeout: DefaultProbeTimeout,
	}
	if r.Port == nil {
		if len(errs) == 0 {
			errs = append(errs, errors.New(`port: required: a device path such as /dev/serial/by-id/NAME, or usb:VID:PID[:SERIAL]`))
		}
	} else if id, err := serialport.ParseIdentity(*r.Port); err != nil {
		errs = append(errs, fmt.Errorf("port: %w", err))
	} else {
		s.port = id
	}
	setIf(&s.line.Baud, r.Baud)
	setIf(&s.line.DataBits, r.DataBits)
	setIf(&s.line.Parity, r.Parity)
	setIf(&s.line.StopBits, r.StopBits)
	if err := s.line.Validate(); err != nil {
		errs = append(errs, err)
	}
	if r.Terminator != nil {
		if s.term, errs = terminator("terminator", *r.Terminator, errs); s.term == nil {
			s.term = []byte(DefaultTerminator)
		}
	}
	s.replyEnd = s.term
	if r.ReplyTerminator != nil {
		if s.replyEnd, errs = terminator("replyTerminator", *r.ReplyTerminator, errs); s.replyEnd == nil {
			s.replyEnd = s.term
		}
	}
	if r.Probes != nil {
		s.probes = *r.Probes
		errs = append(errs, checkProbes(s.probes, s.term)...)
	}
	errs = duration("probeTimeout", r.ProbeTimeout, &s.probeTimeout, time.Millisecond, errs)
	errs = duration("minGap", r.MinGap, &s.minGap, 0, errs)
	setIf(&s.hint, r.Hint)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// terminator checks a terminator: 1..4 bytes of control characters or
// printable text; nil when invalid (the problem is appended to errs).
func terminator(path, t string, errs []error) ([]byte, []error) {
	if t == "" || len(t) > maxTerminatorLen {
		return nil, append(errs, fmt.Errorf("%s: must be 1..%d bytes, got %q", path, maxTerminatorLen, t))
	}
	return []byte(t), errs
}

// checkProbes checks probe commands: non-empty, printable, no terminator.
func checkProbes(probes []string, term []byte) []error {
	var errs []error
	if len(probes) > maxProbes {
		errs = append(errs, fmt.Errorf("probes: at most %d probes, got %d", maxProbes, len(probes)))
	}
	seen := map[string]int{}
	for i, p := range probes {
		switch {
		case p == "" || len(p) > maxProbeLen:
			errs = append(errs, fmt.Errorf("probes[%d]: must be 1..%d bytes, got %q", i, maxProbeLen, p))
		case !printable(p):
			errs = append(errs, fmt.Errorf("probes[%d]: must be printable text without control characters, got %q", i, p))
		case bytes.Contains([]byte(p), term):
			errs = append(errs, fmt.Errorf("probes[%d]: must not contain the terminator %q, got %q", i, term, p))
		}
		if j, dup := seen[p]; dup {
			errs = append(errs, fmt.Errorf("probes[%d]: %q is already probes[%d]", i, p, j))
		}
		seen[p] = i
	}
	return errs
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return false
		}
	}
	return true
}

// duration parses an optional Go duration string within [lo, maxDuration].
func duration(path string, v *string, dst *time.Duration, lo time.Duration, errs []error) []error {
	if v == nil {
		return errs
	}
	d, err := time.ParseDuration(*v)
	if err != nil || d < lo || d > maxDuration {
		return append(errs, fmt.Errorf("%s: must be a duration %s..%s such as \"500ms\", got %s", path, lo, maxDuration, strconv.Quote(*v)))
	}
	*dst = d
	return errs
}
