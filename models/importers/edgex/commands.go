package edgex

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

func (im *importer) command(path string, n *yaml.Node) {
	name, rw := "", ""
	var used []string
	mappings := false
	for _, kv := range im.members(path, n) {
		k, v := kv[0].Value, kv[1]
		p := join(path, k)
		switch k {
		case "name":
			name = im.str(p, v)
		case "readWrite":
			rw = im.str(p, v)
		case "isHidden":
			im.boolean(p, v)
		case "tags":
		case "resourceOperations":
			for i, op := range im.items(p, v) {
				res, m := im.resourceOperation(fmt.Sprintf("%s[%d]", p, i), op)
				if res != "" {
					used = append(used, res)
				}
				mappings = mappings || m
			}
		default:
			im.Fail(p, "unknown device command field")
		}
	}
	if name == "" {
		im.Fail(join(path, "name"), "required")
		return
	}
	msg := fmt.Sprintf("%s %q (%s: %s): not carried over; fieldgate reads and writes the properties one by one",
		path, name, rw, strings.Join(used, ", "))
	if mappings {
		msg += "; its value mappings (raw value to text) are not carried over either"
	}
	im.Warn("", "%s", msg)
}

func (im *importer) resourceOperation(path string, n *yaml.Node) (string, bool) {
	res, mappings := "", false
	for _, kv := range im.members(path, n) {
		k, v := kv[0].Value, kv[1]
		p := join(path, k)
		switch k {
		case "deviceResource":
			res = im.str(p, v)
			if !im.resources[res] {
				im.Fail(p, "unknown device resource %q", res)
			}
		case "defaultValue":
			im.str(p, v)
		case "mappings":
			mappings = len(im.members(p, v)) > 0 || mappings
		default:
			im.Fail(p, "unknown resource operation field")
		}
	}
	if res == "" {
		im.Fail(join(path, "deviceResource"), "required")
	}
	return res, mappings
}
