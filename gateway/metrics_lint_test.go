package gateway_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var (
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
	labelPair  = regexp.MustCompile(`^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)`)
)

// lintScrape checks a text-format (0.0.4) scrape against the format's rules
// and what Prometheus users rely on: each family announced once, in name
// order, by HELP (not empty) then TYPE, before its series; series named for
// their family and type, unique, with well-formed and escaped labels and a
// number as value; counters named _total; each histogram series with
// ascending le, cumulative counts, and +Inf equal to _count.
func lintScrape(scrape string) []string {
	var out []string
	bad := func(n int, format string, args ...any) {
		out = append(out, fmt.Sprintf("line %d: ", n+1)+fmt.Sprintf(format, args...))
	}
	if !strings.HasSuffix(scrape, "\n") {
		out = append(out, "the scrape does not end with a newline")
	}
	var family, typ, helped, last string
	seen := map[string]bool{}
	type hist struct {
		le, count float64
		buckets   int
		inf       float64
		infSeen   bool
	}
	hists := map[string]*hist{}
	lines := strings.Split(strings.TrimSuffix(scrape, "\n"), "\n")
	for n, line := range lines {
		if h, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, text, _ := strings.Cut(h, " ")
			switch {
			case seen["family "+name]:
				bad(n, "family %s announced twice", name)
			case last != "" && name < last:
				bad(n, "family %s after %s: not in name order", name, last)
			case text == "":
				bad(n, "family %s has no help text", name)
			}
			seen["family "+name] = true
			helped, last, family, typ = name, name, "", ""
			continue
		}
		if tl, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, t, _ := strings.Cut(tl, " ")
			if name != helped {
				bad(n, "TYPE of %s without its HELP just before", name)
			}
			switch t {
			case "counter", "gauge", "histogram", "summary", "untyped":
			default:
				bad(n, "family %s: unknown type %q", name, t)
			}
			if t == "counter" && !strings.HasSuffix(name, "_total") {
				bad(n, "counter %s: name does not end in _total", name)
			}
			family, typ, helped = name, t, ""
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			bad(n, "not a sample: %q", line)
			continue
		}
		name, labels, value := m[1], m[2], m[3]
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			bad(n, "%s: value %q is not a number", name, value)
		}
		suffix, ok := strings.CutPrefix(name, family)
		if family == "" || !ok {
			bad(n, "series %s outside its family (%s)", name, family)
			continue
		}
		allowed := map[string][]string{"histogram": {"_bucket", "_sum", "_count"}, "summary": {"", "_sum", "_count"}}[typ]
		if allowed == nil {
			allowed = []string{""}
		}
		if !strings.Contains(strings.Join(allowed, "|")+"|", suffix+"|") || (suffix == "" && typ == "histogram") {
			bad(n, "series %s does not belong to %s family %s", name, typ, family)
		}
		if seen["series "+name+"{"+labels+"}"] {
			bad(n, "series %s{%s} twice", name, labels)
		}
		seen["series "+name+"{"+labels+"}"] = true
		var le string
		var other []string
		names := map[string]bool{}
		for rest := labels; rest != ""; {
			p := labelPair.FindStringSubmatch(rest)
			if p == nil {
				bad(n, "%s: bad labels at %q", name, rest)
				break
			}
			if names[p[1]] {
				bad(n, "%s: label %s twice", name, p[1])
			}
			names[p[1]] = true
			if p[1] == "le" && typ == "histogram" {
				le = p[2]
			} else {
				other = append(other, strings.TrimSuffix(p[0], ","))
			}
			rest = rest[len(p[0]):]
		}
		if typ != "histogram" {
			continue
		}
		key := strings.Join(other, ",")
		h := hists[family+key]
		if h == nil {
			h = &hist{le: -1, count: -1}
			hists[family+key] = h
		}
		switch suffix {
		case "_bucket":
			bound, err := strconv.ParseFloat(le, 64)
			switch {
			case err != nil:
				bad(n, "%s: le %q is not a number", name, le)
			case h.buckets > 0 && bound <= h.le:
				bad(n, "%s: le %s not above the bucket before", name, le)
			case v < h.count:
				bad(n, "%s: count %v below the bucket before's (%v): not cumulative", name, v, h.count)
			}
			h.le, h.count = bound, v
			h.buckets++
			if le == "+Inf" {
				h.inf, h.infSeen = v, true
			}
		case "_count":
			if !h.infSeen || h.inf != v {
				bad(n, "%s: _count %v, the +Inf bucket %v (seen: %v)", name, v, h.inf, h.infSeen)
			}
		}
	}
	return out
}

// TestLintScrape: the checks above find what they are for.
func TestLintScrape(t *testing.T) {
	good := "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"q\\\"\\\\\\n\"} 1\n" +
		"# HELP b_seconds B.\n# TYPE b_seconds histogram\n" +
		"b_seconds_bucket{c=\"x\",le=\"0.5\"} 1\nb_seconds_bucket{c=\"x\",le=\"+Inf\"} 3\nb_seconds_sum{c=\"x\"} 4\nb_seconds_count{c=\"x\"} 3\n" +
		"# HELP c C.\n# TYPE c summary\nc{quantile=\"0.5\"} 1\nc_sum 1\nc_count 2\n"
	if got := lintScrape(good); len(got) != 0 {
		t.Errorf("good scrape: %v", got)
	}
	for _, c := range []struct{ scrape, want string }{
		{"# HELP a A.\n# TYPE a counter\na 1\n", "_total"},
		{"# HELP b B.\n# TYPE b gauge\nb 1\n# HELP a A.\n# TYPE a gauge\na 1\n", "name order"},
		{"# HELP a A.\n# TYPE a gauge\na 1\n# HELP a A.\n# TYPE a gauge\n", "twice"},
		{"# HELP a \n# TYPE a gauge\na 1\n", "no help"},
		{"# TYPE a gauge\na 1\n", "without its HELP"},
		{"# HELP a A.\n# TYPE a gauge\nb 1\n", "outside"},
		{"# HELP a A.\n# TYPE a gauge\na{x=\"\n\"} 1\n", "not a sample"},
		{"# HELP a A.\n# TYPE a gauge\na{x=\"\\t\"} 1\n", "bad labels"},
		{"# HELP a A.\n# TYPE a gauge\na{x=\"1\"} one\n", "not a number"},
		{"# HELP a A.\n# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n", "twice"},
		{"# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", "cumulative"},
		{"# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", "not above"},
		{"# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", "+Inf"},
		{"# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 2\n", "+Inf"},
		{"# HELP a A.\n# TYPE a gauge\na 1", "newline"},
	} {
		got := lintScrape(c.scrape)
		if !strings.Contains(strings.Join(got, "\n"), c.want) {
			t.Errorf("%q: got %v, want a problem with %q", c.scrape, got, c.want)
		}
	}
}
