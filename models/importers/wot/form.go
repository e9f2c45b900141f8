package wot

import (
	"maps"
	"slices"
	"strings"
)

// form is one form of an affordance, with its href resolved against base and
// the binding templates' terms sorted by protocol.
type form struct {
	path        string
	href        string // resolved
	scheme      string // lower case
	ops         []string
	contentType string
	hasCT       bool
	subprotocol string
	modbus      map[string]term // by local name: "address", "entity", ...
	coap        map[string]term
	// unknown lists the members of the form, as written, that no vocabulary
	// fieldgate reads defines (e.g. "mb:offset"), for errors about what is
	// missing.
	unknown []string
}

type term struct {
	path string
	val  any
}

// name is the term's member name as written in the form, e.g. "modbus:offset".
func (t term) name() string { return t.path[strings.LastIndexByte(t.path, '.')+1:] }

func (f *form) has(op string) bool {
	for _, o := range f.ops {
		if o == op {
			return true
		}
	}
	return false
}

// forms reads an affordance's forms; defaultOps apply to a form without op.
func (im *importer) forms(path string, v any, defaultOps []string) []*form {
	a, ok := v.([]any)
	if !ok {
		im.Fail(path, "must be an array, got %s", describe(v))
		return nil
	}
	var out []*form
	for i, e := range a {
		fp := index(path, i)
		f := &form{path: fp, ops: defaultOps, modbus: map[string]term{}, coap: map[string]term{}}
		href, hasHref := "", false
		for _, m := range im.members(fp, e) {
			k, v := m.key, m.val
			p := join(fp, k)
			prefix, local, prefixed := strings.Cut(k, ":")
			switch {
			case k == "href":
				href, hasHref = im.str(p, v), true
			case k == "op":
				f.ops = im.strings(p, v)
			case k == "contentType":
				f.contentType, f.hasCT = im.str(p, v), true
			case k == "subprotocol":
				f.subprotocol = im.str(p, v)
			case k == "security" || k == "scopes" || k == "contentCoding":
				// security is the gateway's bus config; coding: none is the default
			case prefixed && im.modbusPrefixes[prefix]:
				f.modbus[local] = term{p, v}
			case prefixed && im.coapPrefixes[prefix]:
				f.coap[local] = term{p, v}
			case k == "response" || k == "additionalResponses":
				im.ignore("forms[]."+k, path)
			default: // other vocabularies
				f.unknown = append(f.unknown, k)
				im.ignore("forms[]."+k, path)
			}
		}
		if !hasHref {
			im.Fail(join(fp, "href"), "required")
			continue
		}
		hp := join(fp, "href")
		resolved, ok := resolve(im.base, href)
		if !ok {
			im.Fail(hp, "relative href %q needs a base (the TD has none, or it is not absolute)", short(href))
			continue
		}
		f.href = resolved
		f.scheme = strings.ToLower(resolved[:strings.IndexByte(resolved, ':')])
		out = append(out, f)
	}
	return out
}

// protocol says which protocol a form speaks ("modbus", "coap"), or warns and
// returns "" for a form the model cannot use.
func (im *importer) protocolOfForm(f *form) string {
	proto := ""
	switch f.scheme {
	case "modbus+tcp", "modbus+rtu", "modbus":
		proto = "modbus"
	case "coap", "coaps":
		proto = "coap"
	default:
		im.Warn(join(f.path, "href"), "unsupported scheme %q (fieldgate models speak modbus+tcp, modbus+rtu, coap, coaps)", short(f.scheme))
		return ""
	}
	if !im.protocolOf(f.path, proto) {
		return ""
	}
	other := f.coap
	if proto == "coap" {
		other = f.modbus
	}
	for _, k := range slices.Sorted(maps.Keys(other)) {
		t := other[k]
		im.ignore(t.name(), f.path)
	}
	return proto
}

// hasScheme reports whether s starts with an RFC 3986 scheme and ':'.
func hasScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return true
		default:
			return false
		}
	}
	return false
}

// resolve resolves href against base as RFC 3986 does for the shapes TDs use
// (no dot segments are removed: a model path with them is refused later).
func resolve(base, href string) (string, bool) {
	if hasScheme(href) {
		return href, true
	}
	if !hasScheme(base) {
		return "", false
	}
	colon := strings.IndexByte(base, ':')
	rest := base[colon+1:]
	authEnd := colon + 1
	if strings.HasPrefix(rest, "//") {
		authEnd = colon + 3
		for authEnd < len(base) && !strings.ContainsRune("/?#", rune(base[authEnd])) {
			authEnd++
		}
	}
	if q := strings.IndexAny(base[authEnd:], "?#"); q >= 0 {
		base = base[:authEnd+q]
	}
	switch {
	case href == "":
		return base, true
	case strings.HasPrefix(href, "//"):
		return base[:colon+1] + href, true
	case href[0] == '/':
		return base[:authEnd] + href, true
	case href[0] == '?' || href[0] == '#':
		return base + href, true
	}
	dir := base[authEnd:]
	if i := strings.LastIndexByte(dir, '/'); i >= 0 {
		dir = dir[:i+1]
	} else {
		dir = "/"
	}
	return base[:authEnd] + dir + href, true
}

// splitHref splits an absolute href into its path (from the first '/' after
// the authority) and its query.
func splitHref(href string) (path, query string) {
	rest := href[strings.IndexByte(href, ':')+1:]
	if strings.HasPrefix(rest, "//") {
		rest = rest[2:]
		if i := strings.IndexAny(rest, "/?#"); i >= 0 {
			rest = rest[i:]
		} else {
			rest = ""
		}
	}
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest = rest[:i]
	}
	path, query, _ = strings.Cut(rest, "?")
	return path, query
}
