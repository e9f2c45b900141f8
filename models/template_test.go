package models

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

func TestParseTemplateLiteralBraces(t *testing.T) {
	names, kinds := []string{"a", "b"}, []Kind{KindInt, KindString}
	for tmpl, want := range map[string]string{
		`{"x": {a}, "y": [{b}]}`: `{"x": 7, "y": ["q"]}`,
		`{ a} {a } {} {{a}} {a`:  `{ a} {a } {} {7} {a`,
		`A{a:%03d}B{b:%s}`:       `A007Bq`,
	} {
		tp, err := parseTemplate(tmpl, names, kinds, true)
		if err != nil {
			t.Fatalf("parseTemplate(%q): %v", tmpl, err)
		}
		args := []Value{IntValue(7), StringValue("q")}
		got := string(tp.renderText(args))
		if tmpl[0] == '{' && tmpl[1] == '"' {
			got = string(tp.renderJSON(args))
		}
		if got != want {
			t.Errorf("render(%q) = %q, want %q", tmpl, got, want)
		}
	}
	if _, err := parseTemplate("X {a:%d", names, kinds, true); err != nil {
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
		tp, err := parseTemplate(tmpl, names, kinds, true)
		if err != nil {
			return
		}
		args := []Value{FloatValue(x), StringValue(s)}
		rules := newLineRules("\r\n", "\n", ";")
		out, ierr := tp.renderLine(args, names, rules, []byte("\r\n"))
		if ierr == nil {
			body := out[:len(out)-2]
			for b := range 256 {
				if rules.forbidden[b] != 0 && bytes.Count(body, []byte{byte(b)}) > bytes.Count([]byte(tmpl), []byte{byte(b)}) {
					t.Fatalf("rendered %q holds %q from an argument", out, byte(b))
				}
			}
		} else if out != nil {
			t.Fatalf("refused but rendered %q", out)
		}
		_ = tp.renderText(args)
		jt, err := parseTemplate(tmpl, names, kinds, false)
		if err != nil {
			return
		}
		if json.Valid(jt.renderJSON([]Value{representative(KindFloat), representative(KindString)})) {
			if got := jt.renderJSON(args); !json.Valid(got) {
				t.Fatalf("json template %q renders invalid JSON %q", tmpl, got)
			}
		}
	})
}
