package models

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestParseTemplateLiteralBraces(t *testing.T) {
	names, kinds := []string{"a", "b"}, []Kind{KindInt, KindString}
	for tmpl, want := range map[string]string{
		`{"x": {a}, "y": [{b}]}`: `{"x": 7, "y": ["q"]}`,
		`{ a} {a } {} {{a}} {a`:  `{ a} {a } {} {7} {a`,
		`A{a:%03d}B{b:%s}`:       `A007Bq`,
	} {
		tp, err := ParseTemplate(tmpl, names, kinds, true)
		if err != nil {
			t.Fatalf("ParseTemplate(%q): %v", tmpl, err)
		}
		args := []Value{IntValue(7), StringValue("q")}
		got := string(tp.RenderText(args))
		if tmpl[0] == '{' && tmpl[1] == '"' {
			got = string(tp.RenderJSON(args))
		}
		if got != want {
			t.Errorf("render(%q) = %q, want %q", tmpl, got, want)
		}
	}
	if _, err := ParseTemplate("X {a:%d", names, kinds, true); err != nil {
		t.Fatalf("an unterminated verb is literal text: %v", err)
	}
}

// FuzzRenderTemplate: no template or argument panics parsing or rendering; a
// rendered serial command never holds a control character, terminator or
// separator byte that the template's own text does not; a json template that
// renders to valid JSON with sample values renders to valid JSON with any.
func FuzzRenderTemplate(f *testing.F) {
	f.Add("SP {value:%.1f}", "x", 21.5)
	f.Add("NAME {s} {value}", "a\r\nRESET", 1.0)
	f.Add(`{"s": {s}, "v": {value}}`, `"}, "x": {"`, 0.25)
	f.Add("{s:%-5s};{value:%e}", "a;b", 1e300)
	f.Add("{s:%x}{s:%X}{s:%.3s}", "\x7f\x00", 3.0)
	f.Fuzz(func(t *testing.T, tmpl, s string, x float64) {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return
		}
		names, kinds := []string{"value", "s"}, []Kind{KindFloat, KindString}
		tp, err := ParseTemplate(tmpl, names, kinds, true)
		if err != nil {
			return
		}
		args := []Value{FloatValue(x), StringValue(s)}
		rules := NewLineRules("\r\n", "\n", ";")
		out, err := tp.RenderLine(args, names, rules, []byte("\r\n"))
		if err == nil {
			body := out[:len(out)-2]
			for b := range 256 {
				if rules.forbidden[b] != 0 && bytes.Count(body, []byte{byte(b)}) > bytes.Count([]byte(tmpl), []byte{byte(b)}) {
					t.Fatalf("rendered %q holds %q from an argument", out, byte(b))
				}
			}
		} else if out != nil {
			t.Fatalf("refused but rendered %q", out)
		}
		_ = tp.RenderText(args)
		jt, err := ParseTemplate(tmpl, names, kinds, false)
		if err != nil {
			return
		}
		if json.Valid(jt.RenderJSON([]Value{SampleValue(KindFloat), SampleValue(KindString)})) {
			if got := jt.RenderJSON(args); !json.Valid(got) {
				t.Fatalf("json template %q renders invalid JSON %q", tmpl, got)
			}
		}
	})
}

func TestFormatText(t *testing.T) {
	cases := []struct {
		v    Value
		verb string
		want string
	}{
		{FloatValue(21.5), "", "21.5"},
		{FloatValue(1e21), "", "1000000000000000000000"},
		{FloatValue(21.25), "%.1f", "21.2"},
		{FloatValue(-3), "%+06.1f", "-003.0"},
		{FloatValue(0.5), "%e", "5.000000e-01"},
		{IntValue(-7), "", "-7"},
		{IntValue(255), "%x", "ff"},
		{IntValue(255), "%04X", "00FF"},
		{IntValue(3), "%.2f", "3.00"},
		{IntValue(42), "%5d", "   42"},
		{BoolValue(true), "", "true"},
		{BoolValue(true), "%d", "1"},
		{BoolValue(false), "%d", "0"},
		{BoolValue(false), "%t", "false"},
		{StringValue("ab"), "%-4s|", "ab  |"},
		{StringValue("ab"), "%x", "6162"},
		{StringValue("abc"), "%.2s", "ab"},
	}
	for _, tc := range cases {
		verb := tc.verb
		suffix := ""
		if strings.HasSuffix(verb, "|") {
			verb, suffix = strings.TrimSuffix(verb, "|"), "|"
		}
		if verb != "" {
			if msg := checkVerb(verb, tc.v.Kind); msg != "" {
				t.Fatalf("checkVerb(%q, %s): %s", verb, tc.v.Kind, msg)
			}
		}
		if got := formatText(tc.v, verb) + suffix; got != tc.want {
			t.Errorf("formatText(%s, %q) = %q, want %q", tc.v, verb, got, tc.want)
		}
	}
}
