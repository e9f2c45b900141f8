package edgex

import (
	"errors"
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/fieldgate/fieldgate/adapters/modbus"
	"github.com/fieldgate/fieldgate/models"
	"github.com/fieldgate/fieldgate/models/importers/internal/report"
)

// MaxProfileSize bounds the profile FromProfile accepts.
const MaxProfileSize = 4 << 20

// maxErrors bounds how many problems one FromProfile reports.

// FromProfile converts an EdgeX device-modbus device profile (YAML) into a model
// document with the given id and version. It returns the document (already
// validated), human-readable warnings for everything of the profile that is not
// carried over, or every problem found (errors.Join), each naming its profile
// path and value, e.g.
// `deviceResources[3].attributes.primaryTable: unknown table "FOO"`.
//
// Mapping: primaryTable COILS, DISCRETE_INPUTS (or DISCRETES_INPUT),
// INPUT_REGISTERS, HOLDING_REGISTERS becomes table coil/discrete/input/holding;
// startingAddress is 0-based as in EdgeX 2 and later, and ADDRESS.BIT names a
// bit of a register for valueType Bool as in device-modbus v4.0.1 and later
// (see startingAddress; a Bool in a register without a bit is bit 0, its
// least significant); valueType Bool/IntN/UintN/FloatN/String becomes type
// bool/int/float/string with that dataType (rawType Int16/Uint16/Int32 is the
// dataType of a Float32/Float64, see rawType); isByteSwap/isWordSwap become
// order BADC/CDAB/DCBA for 32-bit types (EdgeX ignores them for others);
// stringRegisterSize becomes length; scale, offset, minimum, maximum and units
// carry over; readWrite R/W/RW becomes access r/w/rw (RW in a read-only table
// is imported read-only, with a warning, as EdgeX loads it). An EdgeX 1.x
// profile is refused with one error wrapping ErrEdgeX1 that says how to
// convert it.
func FromProfile(data []byte, id, version string) (*models.Document, []string, error) {
	if len(data) > MaxProfileSize {
		return nil, nil, fmt.Errorf("profile: %d bytes, larger than %d", len(data), MaxProfileSize)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, nil, fmt.Errorf("profile: invalid YAML: %w", err)
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 {
		return nil, nil, errors.New("profile: empty document")
	}
	if err := edgex1(root.Content[0]); err != nil {
		return nil, nil, err
	}
	im := importer{doc: &models.Document{ID: id, Version: version, Protocol: modbus.ModelProtocol}}
	im.profile(root.Content[0])
	if err := im.Err(); err != nil {
		return nil, nil, err
	}
	if len(im.doc.Properties) == 0 {
		return nil, nil, errors.New("deviceResources: no resource could be imported")
	}
	if err := im.doc.Validate(modbus.ModelBinder()); err != nil {
		return nil, nil, fmt.Errorf("imported model: %w", err)
	}
	return im.doc, im.Warnings(), nil
}

type importer struct {
	report.Report
	doc       *models.Document
	resources map[string]bool
}

func (im *importer) profile(n *yaml.Node) {
	var resources, commands *yaml.Node
	name, model := "", ""
	for _, kv := range im.members("profile", n) {
		k, v := kv[0].Value, kv[1]
		switch k {
		case "apiVersion", "id":
			im.str(k, v) // bookkeeping of EdgeX itself
		case "name":
			name = im.str(k, v)
		case "manufacturer":
			im.doc.Manufacturer = im.str(k, v)
		case "model":
			model = im.str(k, v)
		case "description":
			im.doc.Description = im.str(k, v)
		case "labels":
			if len(im.items(k, v)) > 0 {
				im.Ignore("labels", "profile")
			}
		case "deviceResources":
			resources = v
		case "deviceCommands":
			commands = v
		default:
			im.Fail(k, "unknown device profile field")
		}
	}
	im.doc.Product = model
	if model == "" {
		im.doc.Product = name
	}
	if resources == nil {
		im.Fail("deviceResources", "required: a Modbus profile needs at least one device resource")
		return
	}
	im.resources = map[string]bool{}
	for i, r := range im.items("deviceResources", resources) {
		im.resource(fmt.Sprintf("deviceResources[%d]", i), r)
	}
	if commands != nil {
		for i, c := range im.items("deviceCommands", commands) {
			im.command(fmt.Sprintf("deviceCommands[%d]", i), c)
		}
	}
}

// resource holds one deviceResource as read from the profile.
type resource struct {
	path, name, description string
	hidden                  bool
	attrs, props            *yaml.Node
}

func (im *importer) resource(path string, n *yaml.Node) {
	r := resource{path: path}
	for _, kv := range im.members(path, n) {
		k, v := kv[0].Value, kv[1]
		p := join(path, k)
		switch k {
		case "name":
			r.name = im.str(p, v)
		case "description":
			r.description = im.str(p, v)
		case "isHidden":
			r.hidden = im.boolean(p, v)
		case "tag", "tags":
			if !isEmpty(v) {
				im.Ignore("deviceResources[]."+k, path)
			}
		case "attributes":
			r.attrs = v
		case "properties":
			r.props = v
		default:
			im.Fail(p, "unknown device resource field")
		}
	}
	switch {
	case r.name == "":
		im.Fail(join(path, "name"), "required")
		return
	case im.resources[r.name]:
		im.Fail(join(path, "name"), "duplicate resource name %q", r.name)
		return
	}
	im.resources[r.name] = true
	if r.hidden {
		im.Ignore("deviceResources[].isHidden", r.name)
	}
	if r.props == nil {
		im.Fail(join(path, "properties"), "required")
		return
	}
	if r.attrs == nil {
		im.Fail(join(path, "attributes"), "required: primaryTable and startingAddress")
		return
	}
	prop, ok := im.property(r)
	if ok {
		im.doc.Properties = append(im.doc.Properties, prop)
	}
}
