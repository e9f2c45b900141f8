package coap

import (
	"fmt"
	"strings"

	"github.com/fieldgate/fieldgate/models"
)

// Limits of the link-format parser: a device's /.well-known/core answer is
// outside input, so its size and shape are bounded.
const (
	maxLinkFormatBytes = 64 << 10
	maxLinks           = 1024
	maxLinkParams      = 64
)

// ParseLinkFormat parses a CoAP link-format document (RFC 6690):
//
//	</sensors/temp>;rt="temperature-c sensor";if=sensor;obs,</dev/info>;ct=50
//
// Every attribute is kept with all its values: a quoted value is split on
// spaces (a relation-type list such as rt="a b") except for title and anchor,
// and a repeated attribute adds values. An attribute without a value (obs)
// has the single value "". It never panics; malformed input is an error
// naming the byte offset.
func ParseLinkFormat(b []byte) ([]models.Link, error) {
	if len(b) > maxLinkFormatBytes {
		return nil, fmt.Errorf("link-format: %d bytes, more than the %d allowed", len(b), maxLinkFormatBytes)
	}
	p := &lfParser{s: string(b)}
	var links []models.Link
	p.space()
	for p.i < len(p.s) {
		if len(links) == maxLinks {
			return nil, fmt.Errorf("link-format: more than %d links", maxLinks)
		}
		l, err := p.link()
		if err != nil {
			return nil, fmt.Errorf("link-format: link %d: %w", len(links), err)
		}
		links = append(links, l)
		p.space()
		if p.i == len(p.s) {
			break
		}
		if p.s[p.i] != ',' {
			return nil, fmt.Errorf("link-format: at byte %d: want ',' between links, got %q", p.i, p.s[p.i])
		}
		p.i++
		p.space()
	}
	return links, nil
}

type lfParser struct {
	s string
	i int
}

func (p *lfParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\r' || p.s[p.i] == '\n') {
		p.i++
	}
}

func (p *lfParser) link() (models.Link, error) {
	if p.s[p.i] != '<' {
		return models.Link{}, fmt.Errorf("at byte %d: want '<', got %q", p.i, p.s[p.i])
	}
	end := strings.IndexByte(p.s[p.i:], '>')
	if end < 0 {
		return models.Link{}, fmt.Errorf("at byte %d: unterminated '<'", p.i)
	}
	target := p.s[p.i+1 : p.i+end]
	if strings.ContainsAny(target, "<, \t\r\n\"") {
		return models.Link{}, fmt.Errorf("at byte %d: invalid target %q", p.i, target)
	}
	p.i += end + 1
	l := models.Link{Target: target}
	params := 0
	for {
		p.space()
		if p.i == len(p.s) || p.s[p.i] != ';' {
			return l, nil
		}
		p.i++
		p.space()
		if params++; params > maxLinkParams {
			return l, fmt.Errorf("more than %d attributes", maxLinkParams)
		}
		name, values, err := p.param()
		if err != nil {
			return l, err
		}
		if l.Attrs == nil {
			l.Attrs = map[string][]string{}
		}
		l.Attrs[name] = append(l.Attrs[name], values...)
	}
}

// param parses `name`, `name=token` or `name="quoted value"`.
func (p *lfParser) param() (string, []string, error) {
	start := p.i
	for p.i < len(p.s) && isParmChar(p.s[p.i]) {
		p.i++
	}
	name := strings.ToLower(p.s[start:p.i])
	if name == "" {
		if p.i == len(p.s) {
			return "", nil, fmt.Errorf("at byte %d: attribute name missing at end of input", p.i)
		}
		return "", nil, fmt.Errorf("at byte %d: invalid attribute name character %q", p.i, p.s[p.i])
	}
	p.space()
	if p.i == len(p.s) || p.s[p.i] != '=' {
		return name, []string{""}, nil
	}
	p.i++
	p.space()
	if p.i < len(p.s) && p.s[p.i] == '"' {
		v, err := p.quoted()
		if err != nil {
			return "", nil, fmt.Errorf("attribute %s: %w", name, err)
		}
		if name == "title" || name == "title*" || name == "anchor" {
			return name, []string{v}, nil
		}
		vals := strings.Fields(v)
		if len(vals) == 0 {
			vals = []string{""}
		}
		return name, vals, nil
	}
	start = p.i
	for p.i < len(p.s) && isTokenChar(p.s[p.i]) {
		p.i++
	}
	if p.i == start {
		if p.i == len(p.s) {
			return "", nil, fmt.Errorf("attribute %s: value missing at end of input", name)
		}
		return "", nil, fmt.Errorf("attribute %s: at byte %d: invalid value character %q", name, p.i, p.s[p.i])
	}
	return name, []string{p.s[start:p.i]}, nil
}

// quoted parses a quoted-string with backslash escapes; p.s[p.i] is '"'.
func (p *lfParser) quoted() (string, error) {
	start := p.i
	p.i++
	var sb strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch c {
		case '"':
			p.i++
			return sb.String(), nil
		case '\\':
			if p.i+1 == len(p.s) {
				return "", fmt.Errorf("at byte %d: escape at end of input", p.i)
			}
			sb.WriteByte(p.s[p.i+1])
			p.i += 2
			continue
		}
		sb.WriteByte(c)
		p.i++
	}
	return "", fmt.Errorf("at byte %d: unterminated quoted value", start)
}

func isParmChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~*", c) >= 0
}

// isTokenChar accepts RFC 6690 ptoken characters.
func isTokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'()*+-./:<=>?@[]^_`{|}~", c) >= 0
}
