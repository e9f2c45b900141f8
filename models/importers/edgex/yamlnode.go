package edgex

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// members returns the key/value pairs of a mapping node, or reports path.
func (im *importer) members(path string, n *yaml.Node) [][2]*yaml.Node {
	if !im.plain(path, n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		im.Fail(path, "must be a mapping, got %s", describe(n))
		return nil
	}
	var out [][2]*yaml.Node
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !im.plain(path, k) {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			im.Fail(path, "keys must be strings, got %s", describe(k))
			continue
		}
		if seen[k.Value] {
			im.Fail(join(path, k.Value), "duplicate field")
			continue
		}
		seen[k.Value] = true
		if im.plain(join(path, k.Value), v) {
			out = append(out, [2]*yaml.Node{k, v})
		}
	}
	return out
}

// plain refuses anchors' aliases and merge keys: EdgeX profiles do not need
// them, and refusing them bounds the work for any input.
func (im *importer) plain(path string, n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode || n.Tag == "!!merge" {
		im.Fail(path, "YAML aliases and merge keys are not supported")
		return false
	}
	return true
}

func (im *importer) items(path string, n *yaml.Node) []*yaml.Node {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		im.Fail(path, "must be a list, got %s", describe(n))
		return nil
	}
	var out []*yaml.Node
	for i, c := range n.Content {
		if im.plain(fmt.Sprintf("%s[%d]", path, i), c) {
			out = append(out, c)
		}
	}
	return out
}

func (im *importer) str(path string, n *yaml.Node) string {
	if isNull(n) {
		return ""
	}
	if n.Kind != yaml.ScalarNode {
		im.Fail(path, "must be a string, got %s", describe(n))
		return ""
	}
	return n.Value
}

func (im *importer) boolean(path string, n *yaml.Node) bool {
	if isNull(n) {
		return false
	}
	if n.Kind == yaml.ScalarNode {
		if b, err := strconv.ParseBool(strings.TrimSpace(n.Value)); err == nil {
			return b
		}
	}
	im.Fail(path, "must be true or false, got %s", describe(n))
	return false
}

// number parses an optional number (EdgeX 2 writes them as strings, EdgeX 3 as
// numbers; "" and null mean absent).
func (im *importer) number(path string, n *yaml.Node) *float64 {
	if isNull(n) || n.Kind == yaml.ScalarNode && strings.TrimSpace(n.Value) == "" {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		if f, err := strconv.ParseFloat(strings.TrimSpace(n.Value), 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return &f
		}
	}
	im.Fail(path, "must be a finite number, got %s", describe(n))
	return nil
}

func join(path, key string) string {
	if path == "" || path == "profile" {
		return key
	}
	return path + "." + key
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// isEmpty reports whether an ignored field carries nothing worth a warning.
func isEmpty(n *yaml.Node) bool {
	switch n.Kind {
	case yaml.ScalarNode:
		return isNull(n) || strings.TrimSpace(n.Value) == ""
	case yaml.MappingNode, yaml.SequenceNode:
		return len(n.Content) == 0
	}
	return false
}

// scalarText is a scalar's text, cut to 40 bytes, unquoted (for numbers).
func scalarText(n *yaml.Node) string {
	if len(n.Value) > 40 {
		return n.Value[:40] + "..."
	}
	return n.Value
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "null"
		}
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		return strconv.Quote(v)
	}
	return "an alias"
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
