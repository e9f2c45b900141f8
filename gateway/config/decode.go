package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The file's shape. Sections whose YAML form equals their Go form decode straight
// into the exported types; the rest get a decode-only mirror.
type fileConfig struct {
	Gateway   Gateway       `yaml:"gateway"`
	Backend   Backend       `yaml:"backend"`
	API       API           `yaml:"api"`
	Discovery Discovery     `yaml:"discovery"`
	Telemetry fileTelemetry `yaml:"telemetry"`
	Buses     []fileBus     `yaml:"buses"`
	Log       Log           `yaml:"log"`
}

type fileTelemetry struct {
	BatchSize      int      `yaml:"batchSize"`
	FlushInterval  Duration `yaml:"flushInterval"`
	OutboxMaxBytes ByteSize `yaml:"outboxMaxBytes"`
	OutboxMaxAge   Duration `yaml:"outboxMaxAge"`
	Overflow       string   `yaml:"overflow"`
	Durability     string   `yaml:"durability"`
	GroupCommit    Duration `yaml:"groupCommit"`
}

type fileBus struct {
	Name     string    `yaml:"name"`
	Protocol string    `yaml:"protocol"`
	Settings yaml.Node `yaml:"settings"`
	Disabled bool      `yaml:"disabled"`
}

func defaults() fileConfig {
	return fileConfig{
		Backend:   Backend{InboxWait: Duration(DefaultInboxWait), Timeout: Duration(DefaultBackendTimeout), TLSMinVersion: DefaultTLSMinVersion},
		API:       API{Listen: DefaultAPIListen},
		Discovery: Discovery{AtStart: true, Interval: Duration(DefaultDiscovery)},
		Telemetry: fileTelemetry{
			BatchSize:      DefaultBatchSize,
			FlushInterval:  Duration(DefaultFlushInterval),
			OutboxMaxBytes: DefaultOutboxMaxBytes,
			OutboxMaxAge:   Duration(DefaultOutboxMaxAge),
			Overflow:       OverflowDropOldest,
			Durability:     DurabilityBatch,
			GroupCommit:    Duration(DefaultGroupCommit),
		},
		Log: Log{Level: "info", Format: "text"},
	}
}

// decode turns the YAML into a Config with defaults applied. problems are field
// errors (unknown fields, empty values, wrong types, bad settings) that do not
// stop the rest of the file from being read; err is a file that cannot be read
// at all (YAML syntax, not a mapping, empty).
func decode(data []byte) (cfg *Config, problems []error, err error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil, nil, errors.New("config: empty document")
	}
	top := root.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, nil, fmt.Errorf("config: line %d: the top level must be a mapping of sections, got %s", top.Line, kindName(top))
	}
	idx := lineIndex{}
	problems = idx.walk(top, "")

	fc := defaults()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, nil, fmt.Errorf("config: %w", err)
		}
		for _, msg := range te.Errors {
			problems = append(problems, idx.rewrite(msg))
		}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, nil, errors.New("config: more than one YAML document; put everything in one")
	}

	cfg = &Config{
		Gateway:   fc.Gateway,
		Backend:   fc.Backend,
		API:       fc.API,
		Discovery: fc.Discovery,
		Telemetry: Telemetry{
			BatchSize:      fc.Telemetry.BatchSize,
			FlushInterval:  fc.Telemetry.FlushInterval,
			OutboxMaxBytes: int64(fc.Telemetry.OutboxMaxBytes),
			OutboxMaxAge:   fc.Telemetry.OutboxMaxAge,
			Overflow:       fc.Telemetry.Overflow,
			Durability:     fc.Telemetry.Durability,
			GroupCommit:    fc.Telemetry.GroupCommit,
		},
		Log: fc.Log,
	}
	for i, fb := range fc.Buses {
		b := Bus{Name: fb.Name, Protocol: fb.Protocol, Disabled: fb.Disabled, Settings: json.RawMessage("{}")}
		path := fmt.Sprintf("buses[%d].settings", i)
		raw, err := settingsJSON(&fb.Settings, path)
		if err != nil {
			problems = append(problems, err)
		} else if raw != nil {
			b.Settings = raw
		}
		cfg.Buses = append(cfg.Buses, b)
	}
	return cfg, problems, nil
}

// lineIndex maps a line of the file to the field paths whose keys are on it, so
// the YAML decoder's "line N: ..." errors can name the field.
type lineIndex map[int][]keyAt

type keyAt struct {
	path string
	name string
	leaf bool // the value is a scalar
}

// walk records every key's path and reports empty (null) values, which would
// otherwise silently zero a field or a whole section. Bus settings belong to the
// adapter and are not walked.
func (idx lineIndex) walk(n *yaml.Node, path string) []error {
	var errs []error
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			idx[k.Line] = append(idx[k.Line], keyAt{path: p, name: k.Value, leaf: v.Kind == yaml.ScalarNode})
			if isSettings(p) {
				continue
			}
			if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null" {
				errs = append(errs, fmt.Errorf("%s: empty value (line %d); give a value or remove the key for the default", p, k.Line))
				continue
			}
			errs = append(errs, idx.walk(v, p)...)
		}
	case yaml.SequenceNode:
		for i, v := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null" {
				errs = append(errs, fmt.Errorf("%s: empty value (line %d)", p, v.Line))
				continue
			}
			errs = append(errs, idx.walk(v, p)...)
		}
	}
	return errs
}

var settingsPath = regexp.MustCompile(`^buses\[\d+\]\.settings$`)

func isSettings(path string) bool { return settingsPath.MatchString(path) }

var (
	lineMsg    = regexp.MustCompile(`^line (\d+): (.*)$`)
	unknownMsg = regexp.MustCompile(`^field (.+) not found in type \S+$`)
)

// rewrite turns a yaml.TypeError line into a path-prefixed error.
func (idx lineIndex) rewrite(msg string) error {
	m := lineMsg.FindStringSubmatch(msg)
	if m == nil {
		return errors.New(msg)
	}
	line, _ := strconv.Atoi(m[1])
	keys := idx[line]
	if u := unknownMsg.FindStringSubmatch(m[2]); u != nil {
		for _, k := range keys {
			if k.name == u[1] {
				return fmt.Errorf("%s: unknown field (line %d)", k.path, line)
			}
		}
		return fmt.Errorf("line %d: unknown field %q", line, u[1])
	}
	if len(keys) == 0 {
		return fmt.Errorf("line %d: %s", line, m[2])
	}
	key := keys[len(keys)-1] // the innermost key on the line, preferably one with a plain value
	for i := len(keys) - 1; i >= 0; i-- {
		if keys[i].leaf {
			key = keys[i]
			break
		}
	}
	return fmt.Errorf("%s: %s (line %d)", key.path, m[2], line)
}

// maxSettingsNodes bounds alias expansion ("billion laughs") in bus settings.
const maxSettingsNodes = 100000

// settingsJSON converts a bus's settings mapping to JSON; nil when absent or empty.
func settingsJSON(n *yaml.Node, path string) (json.RawMessage, error) {
	if n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null") {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: must be a mapping of settings, got %s (line %d)", path, kindName(n), n.Line)
	}
	budget := maxSettingsNodes
	v, err := toJSONValue(n, path, &budget, 0)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

const maxSettingsDepth = 64

func toJSONValue(n *yaml.Node, path string, budget *int, depth int) (any, error) {
	*budget--
	if *budget < 0 {
		return nil, fmt.Errorf("%s: settings too large (more than %d values after alias expansion)", path, maxSettingsNodes)
	}
	if depth > maxSettingsDepth {
		return nil, fmt.Errorf("%s: nested deeper than %d levels", path, maxSettingsDepth)
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, fmt.Errorf("%s: unresolved alias (line %d)", path, n.Line)
		}
		return toJSONValue(n.Alias, path, budget, depth+1)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("%s: keys must be plain strings, got %s (line %d)", path, kindName(k), k.Line)
			}
			if k.ShortTag() == "!!merge" {
				return nil, fmt.Errorf("%s: merge keys (<<) are not supported in settings (line %d)", path, k.Line)
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("%s.%s: duplicate key (line %d)", path, k.Value, k.Line)
			}
			val, err := toJSONValue(v, path+"."+k.Value, budget, depth+1)
			if err != nil {
				return nil, err
			}
			m[k.Value] = val
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for i, v := range n.Content {
			val, err := toJSONValue(v, fmt.Sprintf("%s[%d]", path, i), budget, depth+1)
			if err != nil {
				return nil, err
			}
			s = append(s, val)
		}
		return s, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool", "!!int", "!!float":
			var v any
			if err := n.Decode(&v); err != nil {
				return nil, fmt.Errorf("%s: bad value %q (line %d): %w", path, n.Value, n.Line, err)
			}
			if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
				return nil, fmt.Errorf("%s: %q is not a finite number (line %d)", path, n.Value, n.Line)
			}
			return v, nil
		default:
			return n.Value, nil
		}
	}
	return nil, fmt.Errorf("%s: unsupported YAML node (line %d)", path, n.Line)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "an empty value"
		}
		return strings.TrimPrefix(n.ShortTag(), "!!") + " " + strconv.Quote(n.Value)
	}
	return "nothing"
}
