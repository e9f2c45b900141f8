package edgex

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ErrEdgeX1 is wrapped by FromProfile's error for an EdgeX 1.x profile.
var ErrEdgeX1 = errors.New("this is an EdgeX 1.x device profile")

// edgex1 returns ErrEdgeX1, with the signs found and how to convert, when the
// profile has the EdgeX 1.x shape: a coreCommands section, resource properties
// split into value and units mappings, or device commands with get/set lists.
// Those profiles otherwise fail with a problem per field, none saying why.
func edgex1(profile *yaml.Node) error {
	if profile.Kind != yaml.MappingNode {
		return nil
	}
	var signs []string // the first of each kind
	note := func(s string) { signs = append(signs, s) }
	for i := 0; i+1 < len(profile.Content); i += 2 {
		k, v := profile.Content[i].Value, profile.Content[i+1]
		switch k {
		case "coreCommands":
			note("coreCommands")
		case "deviceResources":
			for j, r := range sequence(v) {
				if props := child(child(r, "properties"), "value"); props != nil && props.Kind == yaml.MappingNode {
					note(fmt.Sprintf("deviceResources[%d].properties.value", j))
					break
				}
			}
		case "deviceCommands":
		commands:
			for j, c := range sequence(v) {
				for _, op := range []string{"get", "set"} {
					if child(c, op) != nil {
						note(fmt.Sprintf("deviceCommands[%d].%s", j, op))
						break commands
					}
				}
			}
		}
	}
	if len(signs) == 0 {
		return nil
	}
	return fmt.Errorf("%w (%s); fieldgate imports the format of EdgeX 2.0 and later. "+
		"Convert it as the EdgeX V2 Migration Guide says (https://docs.edgexfoundry.org/2.3/microservices/device/V2Migration/, Device Profiles): "+
		"properties {value: {type, readWrite, ...}, units: {defaultValue}} become properties {valueType, readWrite, ..., units}; "+
		"deviceCommands' get/set lists become readWrite and resourceOperations; coreCommands is dropped; "+
		"and device-modbus 1.x counted startingAddress from 1, 2.0 and later from 0: subtract 1",
		ErrEdgeX1, strings.Join(signs, ", "))
}

func sequence(n *yaml.Node) []*yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}

// child is the value of key in mapping n, or nil.
func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
