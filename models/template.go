package models

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Command and payload templates: literal text with {name} placeholders,
// optionally with a printf verb, {setpoint:%.1f}. A '{' that does not start a
// well-formed placeholder ({ followed by a name and '}' or ':') is literal text,
// so JSON payload templates such as {"target": {setpoint}} need no escaping.
// Templates are parsed once at compile time; rendering only formats values.

// Template is a parsed template: literal parts and placeholders in order. It
// is immutable and safe for concurrent use.
type Template struct {
	parts []templatePart
}

type templatePart struct {
	lit  string // literal text when arg < 0
	arg  int    // index of the placeholder's name in the names given to ParseTemplate
	kind Kind   // the argument's kind
	verb string // printf verb such as "%.1f"; "" formats the value plainly
}

// Bounds of a printf verb in a template, so no argument renders unboundedly.
const (
	maxVerbWidth     = 64
	maxVerbPrecision = 32
)

// ParseTemplate parses s against the placeholders it may use: names[i] of kind
// kinds[i]. verbs says whether printf verbs are allowed (they are not where
// each value is written as JSON). The error names the offending placeholder.
func ParseTemplate(s string, names []string, kinds []Kind, verbs bool) (Template, error) {
	var t Template
	lit := 0 // start of the pending literal
	for i := 0; i < len(s); {
		name, verb, end, ok := placeholderAt(s, i)
		if !ok {
			i++
			continue
		}
		if i > lit {
			t.parts = append(t.parts, templatePart{lit: s[lit:i], arg: -1})
		}
		arg := -1
		for k, n := range names {
			if n == name {
				arg = k
			}
		}
		if arg < 0 {
			if len(names) == 0 {
				return t, fmt.Errorf("takes no placeholders, got {%s}", name)
			}
			return t, fmt.Errorf("placeholder {%s} is not one of %s", name, placeholderList(names))
		}
		if verb != "" {
			if !verbs {
				return t, fmt.Errorf("placeholder {%s:%s}: a json or cbor payload takes plain placeholders (the value is written as JSON)", name, verb)
			}
			if msg := checkVerb(verb, kinds[arg]); msg != "" {
				return t, fmt.Errorf("placeholder {%s:%s}: %s", name, verb, msg)
			}
		}
		t.parts = append(t.parts, templatePart{arg: arg, kind: kinds[arg], verb: verb})
		i, lit = end, end
	}
	if lit < len(s) {
		t.parts = append(t.parts, templatePart{lit: s[lit:], arg: -1})
	}
	return t, nil
}

// Args lists, in order, the index (into the names given to ParseTemplate) of
// each placeholder the template holds.
func (t Template) Args() []int {
	var args []int
	for _, p := range t.parts {
		if p.arg >= 0 {
			args = append(args, p.arg)
		}
	}
	return args
}

// Empty reports whether the template renders nothing.
func (t Template) Empty() bool { return len(t.parts) == 0 }

func placeholderList(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "{" + n + "}"
	}
	return strings.Join(out, ", ")
}

// placeholderAt reports whether a placeholder starts at s[i] and where it ends
// (the index after its '}'). A name followed by ':' is a placeholder with a
// verb: the verb runs to the next '}' (it must exist).
func placeholderAt(s string, i int) (name, verb string, end int, ok bool) {
	if s[i] != '{' {
		return "", "", 0, false
	}
	j := i + 1
	for j < len(s) && isNameByte(s[j]) {
		j++
	}
	if j == i+1 || j >= len(s) {
		return "", "", 0, false
	}
	switch s[j] {
	case '}':
		return s[i+1 : j], "", j + 1, true
	case ':':
		k := strings.IndexByte(s[j+1:], '}')
		if k < 0 {
			return "", "", 0, false
		}
		return s[i+1 : j], s[j+1 : j+1+k], j + 2 + k, true
	}
	return "", "", 0, false
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

// checkVerb checks a printf verb, %[flags][width][.precision]verb with flags
// from "-+0 " and verb one of d f e g x X s t v, against the argument's kind;
// "" when fine.
func checkVerb(verb string, kind Kind) string {
	if len(verb) < 2 || verb[0] != '%' {
		return "verb must look like %d, %.1f, %5s, got " + strconv.Quote(verb)
	}
	i := 1
	for i < len(verb) && strings.IndexByte("-+0 ", verb[i]) >= 0 {
		i++
	}
	width, i := digitsAt(verb, i)
	prec := -1
	if i < len(verb) && verb[i] == '.' {
		prec, i = digitsAt(verb, i+1)
		prec = max(prec, 0)
	}
	if i != len(verb)-1 {
		return "verb must look like %d, %.1f, %5s, got " + strconv.Quote(verb)
	}
	if width > maxVerbWidth || prec > maxVerbPrecision {
		return fmt.Sprintf("width must be at most %d and precision at most %d", maxVerbWidth, maxVerbPrecision)
	}
	c := verb[i]
	if strings.IndexByte("dfegxXstv", c) < 0 {
		return fmt.Sprintf("verb %%%c is not one of %%d %%f %%e %%g %%x %%X %%s %%t %%v", c)
	}
	allowed := map[Kind]string{KindBool: "tvd", KindInt: "dxXvfeg", KindFloat: "fegv", KindString: "svxX"}[kind]
	if kind != KindInvalid && strings.IndexByte(allowed, c) < 0 {
		return fmt.Sprintf("verb %%%c does not fit %s value", c, withArticle(kind))
	}
	return ""
}

// digitsAt reads a decimal number at s[i:] (-1 when there is none), capped so it
// cannot overflow.
func digitsAt(s string, i int) (int, int) {
	n := -1
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		n = min(max(n, 0)*10+int(s[i]-'0'), 1<<20)
		i++
	}
	return n, i
}

// formatText renders a value as text, through verb when one is given.
func formatText(v Value, verb string) string {
	if verb == "" {
		switch v.Kind {
		case KindFloat:
			return strconv.FormatFloat(v.Float, 'f', -1, 64) // no exponent
		case KindString:
			return v.Str
		}
		return v.String() // bool, int
	}
	c := verb[len(verb)-1]
	switch v.Kind {
	case KindBool:
		if c == 'd' {
			n := 0
			if v.Bool {
				n = 1
			}
			return fmt.Sprintf(verb, n)
		}
		return fmt.Sprintf(verb, v.Bool)
	case KindInt:
		if c == 'f' || c == 'e' || c == 'g' {
			return fmt.Sprintf(verb, float64(v.Int))
		}
		return fmt.Sprintf(verb, v.Int)
	case KindFloat:
		return fmt.Sprintf(verb, v.Float)
	}
	return fmt.Sprintf(verb, v.Str)
}

// formatJSON renders a value as one JSON token. A float always carries a
// fraction or exponent (21 → 21.0) so that a cbor payload keeps it a float.
func formatJSON(v Value) string {
	if v.Kind == KindFloat && !math.IsNaN(v.Float) && !math.IsInf(v.Float, 0) {
		s := strconv.FormatFloat(v.Float, 'g', -1, 64)
		if !strings.ContainsAny(s, ".e") {
			s += ".0"
		}
		return s
	}
	b, _ := v.MarshalJSON() // cannot fail
	return string(b)
}

// LineRules are the bytes an argument of a line-oriented text command may never
// contain: control characters, the bytes of the terminators and the declared
// separators.
type LineRules struct {
	forbidden [256]uint8 // 0: allowed, else one of the forbid* reasons
}

const (
	forbidControl uint8 = iota + 1
	forbidTerminator
	forbidSeparator
)

// NewLineRules builds the rules of a line protocol whose command and reply
// end in term and replyTerm and whose device chains commands with separators.
func NewLineRules(term, replyTerm, separators string) *LineRules {
	r := &LineRules{}
	for b := range 0x20 {
		r.forbidden[b] = forbidControl
	}
	r.forbidden[0x7f] = forbidControl
	for i := 0; i < len(separators); i++ {
		r.forbidden[separators[i]] = forbidSeparator
	}
	for _, s := range []string{term, replyTerm} {
		for i := 0; i < len(s); i++ {
			r.forbidden[s[i]] = forbidTerminator
		}
	}
	return r
}

// injectionError says which argument of a text command held a byte that could
// end or chain the command.
type injectionError struct {
	arg    string
	b      byte
	reason uint8
}

func (e *injectionError) Error() string {
	what := map[uint8]string{
		forbidControl:    "a control character",
		forbidTerminator: "a byte of the line terminator",
		forbidSeparator:  "a command separator of this device",
	}[e.reason]
	return fmt.Sprintf("%s: contains %q (%s), which may never appear in a command argument", e.arg, string([]byte{e.b}), what)
}

// RenderLine renders a command template of a line protocol: each argument is
// formatted as text and refused when it holds a byte rules forbid; nothing is
// rendered then. argNames name the arguments in errors. term is appended.
func (t Template) RenderLine(args []Value, argNames []string, rules *LineRules, term []byte) ([]byte, error) {
	var out []byte
	for _, p := range t.parts {
		if p.arg < 0 {
			out = append(out, p.lit...)
			continue
		}
		s := formatText(args[p.arg], p.verb)
		for i := 0; i < len(s); i++ {
			if r := rules.forbidden[s[i]]; r != 0 {
				return nil, &injectionError{arg: argNames[p.arg], b: s[i], reason: r}
			}
		}
		out = append(out, s...)
	}
	return append(out, term...), nil
}

// RenderText renders a template with each argument formatted as text.
func (t Template) RenderText(args []Value) []byte {
	return t.render(args, formatText)
}

// RenderJSON renders a template with each argument replaced by its JSON
// encoding: a string argument is always one quoted, escaped JSON string.
func (t Template) RenderJSON(args []Value) []byte {
	return t.render(args, func(v Value, _ string) string { return formatJSON(v) })
}

func (t Template) render(args []Value, format func(Value, string) string) []byte {
	var out []byte
	for _, p := range t.parts {
		if p.arg < 0 {
			out = append(out, p.lit...)
		} else {
			out = append(out, format(args[p.arg], p.verb)...)
		}
	}
	return out
}

// SampleValue returns a value of kind k, for rendering a template at
// validation time.
func SampleValue(k Kind) Value {
	switch k {
	case KindBool:
		return BoolValue(true)
	case KindInt:
		return IntValue(1)
	case KindFloat:
		return FloatValue(1.5)
	}
	return StringValue("x")
}
