package textemu

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// template is a parsed reply template: literal text and {name[:verb]} slots.
type template []part

type part struct {
	lit  string
	name string // slot when not empty
	verb string // printf verb, "" for the natural form
}

// verbRE is the printf verbs a slot may carry.
var verbRE = regexp.MustCompile(`^%[-+ 0#]?[0-9]{0,2}(\.[0-9]{1,2})?[dfegxXstvq]$`)

// parseTemplate parses s; kind tells whether a name exists and is a text.
func parseTemplate(s string, kind func(name string) (text, ok bool)) (template, error) {
	var t template
	rest := s
	for rest != "" {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			t = append(t, part{lit: rest})
			break
		}
		if open > 0 {
			t = append(t, part{lit: rest[:open]})
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("unclosed '{' in %q", s)
		}
		slot := rest[open+1 : open+end]
		rest = rest[open+end+1:]
		name, verb, _ := strings.Cut(slot, ":")
		text, ok := kind(name)
		if !ok {
			return nil, fmt.Errorf("{%s} names no value or group, in %q", slot, s)
		}
		if verb != "" {
			if !verbRE.MatchString(verb) {
				return nil, fmt.Errorf("{%s}: verb must be a printf verb such as %%.1f, got %q", slot, verb)
			}
			c := verb[len(verb)-1]
			if text && c != 's' && c != 'v' && c != 'q' {
				return nil, fmt.Errorf("{%s}: %s is a text, so the verb must be %%s, %%q or %%v, got %q", slot, name, verb)
			}
			if !text && c == 'q' {
				return nil, fmt.Errorf("{%s}: %s is a number, so the verb must not be %%q", slot, name)
			}
		}
		t = append(t, part{name: name, verb: verb})
	}
	return t, nil
}

// slotValue is what a slot renders: a text or a number.
type slotValue struct {
	text bool
	str  string
	num  float64
}

// render appends the template to dst, resolving slots with get.
func (t template) render(dst []byte, get func(name string) slotValue) []byte {
	for _, p := range t {
		if p.name == "" {
			dst = append(dst, p.lit...)
			continue
		}
		v := get(p.name)
		switch {
		case v.text && p.verb == "":
			dst = append(dst, v.str...)
		case v.text:
			dst = fmt.Appendf(dst, p.verb, v.str)
		case p.verb == "" || strings.ContainsAny(p.verb[len(p.verb)-1:], "sv"):
			dst = strconv.AppendFloat(dst, v.num, 'f', -1, 64)
		default:
			switch p.verb[len(p.verb)-1] {
			case 'd', 'x', 'X':
				dst = fmt.Appendf(dst, p.verb, int64(math.Round(v.num)))
			case 't':
				dst = fmt.Appendf(dst, p.verb, v.num != 0)
			default:
				dst = fmt.Appendf(dst, p.verb, v.num)
			}
		}
	}
	return dst
}
