package backend

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/fieldgate/fieldgate/models"
)

// Rule is one assignment rule: when every Match entry matches the device's
// fingerprint (models.Fingerprint.Field paths such as "identity.vendor"; a value
// written /.../ is an RE2 regex, anything else must be equal), the device is
// assigned Model@Version — or rejected with Reject when that is non-empty. Rules are
// tried highest Priority first, then by Name; no match leaves the device pending.
type Rule struct {
	Name           string            `json:"name" yaml:"name"`
	Priority       int               `json:"priority" yaml:"priority"`
	Match          map[string]string `json:"match" yaml:"match"`
	Model          string            `json:"model" yaml:"model"`
	Version        string            `json:"version" yaml:"version"`
	PollIntervalMs int64             `json:"pollIntervalMs" yaml:"pollIntervalMs"`
	Reject         string            `json:"reject" yaml:"reject"`
}

// DecodeRules decodes a YAML list of rules strictly: an unknown field, a wrong type
// or an invalid rule is an error naming its index, field and value; every problem
// is reported (errors.Join).
func DecodeRules(data []byte) ([]Rule, error) {
	var nodes []yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&nodes); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // empty document: no rules
		}
		return nil, fmt.Errorf("rules: must be a YAML list of rules: %w", err)
	}
	var errs []error
	rules := make([]Rule, 0, len(nodes))
	for i := range nodes {
		n := &nodes[i]
		path := fmt.Sprintf("[%d]", i)
		if n.Kind != yaml.MappingNode {
			errs = append(errs, fmt.Errorf("%s: must be a mapping (line %d)", path, n.Line))
			continue
		}
		ok := true
		for j := 0; j+1 < len(n.Content); j += 2 {
			key := n.Content[j].Value
			if !knownRuleField(key) {
				errs = append(errs, fmt.Errorf("%s.%s: unknown field (line %d)", path, key, n.Content[j].Line))
				ok = false
			}
		}
		var r Rule
		if err := n.Decode(&r); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s", path, strings.ReplaceAll(strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n  "), "\n  ", "; ")))
			ok = false
		}
		if ok {
			rules = append(rules, r)
		}
	}
	if err := validateRules(rules, ""); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return rules, nil
}

// knownRuleField reports whether k is one of Rule's YAML keys.
func knownRuleField(k string) bool {
	switch k {
	case "name", "priority", "match", "model", "version", "pollIntervalMs", "reject":
		return true
	}
	return false
}

// validateRules checks every rule and that names are unique; prefix goes before
// each "[i]" (e.g. "rules").
func validateRules(rules []Rule, prefix string) error {
	var errs []error
	seen := map[string]int{}
	for i, r := range rules {
		path := fmt.Sprintf("%s[%d]", prefix, i)
		if err := r.validate(path); err != nil {
			errs = append(errs, err)
		}
		if j, dup := seen[r.Name]; dup && r.Name != "" {
			errs = append(errs, fmt.Errorf("%s.name: %q already used by %s[%d]", path, r.Name, prefix, j))
		}
		seen[r.Name] = i
	}
	return errors.Join(errs...)
}

// validate collects every problem of one rule, each prefixed with path.
func (r Rule) validate(path string) error {
	var errs []error
	if r.Name == "" {
		errs = append(errs, fmt.Errorf("%s.name: must not be empty", path))
	}
	if len(r.Match) == 0 {
		errs = append(errs, fmt.Errorf("%s.match: must have at least one entry", path))
	}
	for _, k := range sortedKeys(r.Match) {
		if k == "" {
			errs = append(errs, fmt.Errorf("%s.match: a fingerprint field name must not be empty", path))
			continue
		}
		if _, err := compileMatcher(r.Match[k]); err != nil {
			errs = append(errs, fmt.Errorf("%s.match[%s]: %w", path, k, err))
		}
	}
	switch {
	case r.Reject != "" && (r.Model != "" || r.Version != ""):
		errs = append(errs, fmt.Errorf("%s: reject %q and model %q@%q are exclusive", path, r.Reject, r.Model, r.Version))
	case r.Reject == "" && (r.Model == "" || r.Version == ""):
		errs = append(errs, fmt.Errorf("%s: needs model and version (or reject), got model %q version %q", path, r.Model, r.Version))
	}
	if r.PollIntervalMs < 0 {
		errs = append(errs, fmt.Errorf("%s.pollIntervalMs: must be >= 0, got %d", path, r.PollIntervalMs))
	}
	return errors.Join(errs...)
}

// matcher is one compiled match entry.
type matcher struct {
	field string
	exact string
	re    *regexp.Regexp // nil: exact
}

func compileMatcher(v string) (*regexp.Regexp, error) {
	if len(v) >= 2 && strings.HasPrefix(v, "/") && strings.HasSuffix(v, "/") {
		re, err := regexp.Compile(v[1 : len(v)-1])
		if err != nil {
			return nil, fmt.Errorf("invalid regex %q: %w", v, err)
		}
		return re, nil
	}
	return nil, nil
}

// compiledRule is a validated rule ready to match.
type compiledRule struct {
	Rule
	matchers []matcher
}

// compileRules validates and compiles rules, ordered highest priority first, then name.
func compileRules(rules []Rule) ([]compiledRule, error) {
	if err := validateRules(rules, "rules"); err != nil {
		return nil, err
	}
	out := make([]compiledRule, 0, len(rules))
	for _, r := range rules {
		cr := compiledRule{Rule: r}
		for _, k := range sortedKeys(r.Match) {
			re, _ := compileMatcher(r.Match[k]) // validated above
			cr.matchers = append(cr.matchers, matcher{field: k, exact: r.Match[k], re: re})
		}
		out = append(out, cr)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Priority != out[j].Priority {
			return out[i].Priority > out[j].Priority
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// matches reports whether every entry matches; a missing fingerprint field does not.
func (r *compiledRule) matches(fp models.Fingerprint) bool {
	for _, m := range r.matchers {
		v, ok := fp.Field(m.field)
		if !ok {
			return false
		}
		if m.re != nil {
			if !m.re.MatchString(v) {
				return false
			}
		} else if v != m.exact {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
