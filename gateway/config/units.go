package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written in YAML as a Go duration string ("30s",
// "1m30s", "500ms"; "0" or "0s" for zero), or a whole number of days ("7d").
type Duration time.Duration

// UnmarshalYAML decodes a duration string; a bad one is an error naming the value.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeError(n, "must be a duration such as \"30s\", got %s", kindName(n))
	}
	s := strings.TrimSpace(n.Value)
	if days, ok := strings.CutSuffix(s, "d"); ok && days != "" && days[0] >= '0' && days[0] <= '9' {
		if nd, err := strconv.ParseInt(days, 10, 64); err == nil && nd <= 100*365 {
			*d = Duration(time.Duration(nd) * 24 * time.Hour)
			return nil
		}
		return typeError(n, "invalid duration %q: days must be a whole number up to 36500, e.g. \"7d\"", n.Value)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		if _, numErr := strconv.ParseFloat(s, 64); numErr == nil && s != "0" {
			return typeError(n, "invalid duration %q: needs a unit, e.g. \"%ss\"", n.Value, s)
		}
		return typeError(n, "invalid duration %q: want a duration such as \"30s\", \"1m\" or \"500ms\"", n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalText writes the duration string (JSON, logs).
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// String is the Go duration string.
func (d Duration) String() string { return time.Duration(d).String() }

// ByteSize is a number of bytes, written in YAML as an integer or a string with
// a unit: B, KB/MB/GB (powers of 1000), KiB/MiB/GiB (powers of 1024).
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"B", 1},
}

// UnmarshalYAML decodes a byte size; a bad one is an error naming the value.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeError(n, "must be a size such as 67108864 or \"64MiB\", got %s", kindName(n))
	}
	s := strings.TrimSpace(n.Value)
	mult := int64(1)
	for _, u := range byteUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mult {
		return typeError(n, "invalid size %q: want a non-negative integer of bytes or one with a unit such as \"64MiB\"", n.Value)
	}
	*b = ByteSize(v * mult)
	return nil
}

// typeError is how a field's unmarshaler reports a bad value so the YAML decoder
// keeps going and reports the other problems too.
func typeError(n *yaml.Node, format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: ", n.Line) + fmt.Sprintf(format, args...)}}
}
