package wot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// The TD is parsed into a tree of object, []any, string, json.Number, bool or
// nil. Objects keep their member order so the model's properties and the
// problems come out in the order of the TD.

type member struct {
	key string
	val any
}

type object []member

// Bounds of the parsed tree: a TD needs some ten levels of nesting.
const (
	maxDepth = 64
	maxNodes = 1 << 18
)

func parseJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	budget := maxNodes
	v, err := readValue(dec, "", 0, &budget)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("invalid JSON at %s: data after the document", position(data, dec.InputOffset()))
	}
	return v, nil
}

func position(data []byte, off int64) string {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line := 1 + bytes.Count(data[:off], []byte{'\n'})
	col := off - int64(bytes.LastIndexByte(data[:off], '\n'))
	return fmt.Sprintf("line %d column %d", line, col)
}

func readValue(dec *json.Decoder, path string, depth int, budget *int) (any, error) {
	*budget--
	if *budget < 0 {
		return nil, errors.New("document too large: more than 262144 JSON values")
	}
	tok, err := dec.Token()
	if err == io.EOF {
		return nil, errors.New("empty document")
	}
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	if depth >= maxDepth {
		return nil, fmt.Errorf("%s: nested deeper than %d levels", orRoot(path), maxDepth)
	}
	switch d {
	case '{':
		var o object
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, fmt.Errorf("invalid JSON: %w", err)
			}
			k, _ := kt.(string) // the decoder only yields strings as object keys
			p := join(path, k)
			if seen[k] {
				return nil, fmt.Errorf("%s: duplicate member", p)
			}
			seen[k] = true
			v, err := readValue(dec, p, depth+1, budget)
			if err != nil {
				return nil, err
			}
			o = append(o, member{k, v})
		}
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		if o == nil {
			o = object{}
		}
		return o, nil
	case '[':
		a := []any{}
		for dec.More() {
			v, err := readValue(dec, fmt.Sprintf("%s[%d]", path, len(a)), depth+1, budget)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		return a, nil
	}
	return nil, fmt.Errorf("invalid JSON: unexpected %v", d)
}

func (o object) get(key string) (any, bool) {
	for _, m := range o {
		if m.key == key {
			return m.val, true
		}
	}
	return nil, false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

func orRoot(path string) string {
	if path == "" {
		return "TD"
	}
	return path
}

// describe names a JSON value in an error message, shortened.
func describe(v any) string {
	switch t := v.(type) {
	case object:
		return "an object"
	case []any:
		return "an array"
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(t)
	case json.Number:
		return short(string(t))
	case string:
		return strconv.Quote(short(t))
	}
	return fmt.Sprintf("%v", v)
}

func short(s string) string {
	if len(s) > 40 {
		// cut on a rune boundary
		cut := 40
		for cut > 0 && s[cut]&0xC0 == 0x80 {
			cut--
		}
		return s[:cut] + "..."
	}
	return s
}

// finite parses a JSON number as a finite float64.
func finite(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	return f, err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
}

// integer parses a JSON number (or, leniently, a decimal string) as an
// integer in lo..hi.
func integer(v any, lo, hi int64) (int64, bool) {
	var s string
	switch t := v.(type) {
	case json.Number:
		s = string(t)
	case string:
		s = strings.TrimSpace(t)
	default:
		return 0, false
	}
	i, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != math.Trunc(f) || f < -1<<53 || f > 1<<53 {
			return 0, false
		}
		i = int64(f)
	}
	return i, i >= lo && i <= hi
}
