package gateway

import (
	"encoding/json"

	"github.com/fieldgate/fieldgate/models"
)

// deviceDetail is one device as GET /api/v1/devices/{localId} shows it: the
// list's view and, once a model runs it, what the model lets a client read,
// write and run — enough to build forms that the operation check accepts.
type deviceDetail struct {
	deviceView
	Properties []propertySpec  `json:"properties,omitempty"`
	Operations []operationSpec `json:"operations,omitempty"`
}

// propertySpec is a property of the device's model. Writable ones are what
// the "write" operation takes.
type propertySpec struct {
	Name        string         `json:"name"`
	Type        string         `json:"type"` // bool, int, float, string
	Unit        string         `json:"unit,omitempty"`
	Readable    bool           `json:"readable"`
	Writable    bool           `json:"writable"`
	Min         *float64       `json:"min,omitempty"`
	Max         *float64       `json:"max,omitempty"`
	Enum        []models.Value `json:"enum,omitempty"`
	Description string         `json:"description,omitempty"`
}

// operationSpec is a declared operation of the model (not "write") and its
// typed input fields.
type operationSpec struct {
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Idempotent  bool           `json:"idempotent"`
	Inputs      []models.Input `json:"inputs"`
}

// detail is d's view with its model's properties and operations. The typed
// properties come from the compiled model; descriptions and operation inputs,
// which the compiled plan does not keep, from its source document (an on-site
// request, not the poll path).
func (g *Gateway) detail(d *device) deviceDetail {
	v := deviceDetail{deviceView: g.view(d)}
	run := d.current()
	if run == nil {
		return v
	}
	var doc struct {
		Properties []struct {
			Name        string `json:"name"`
			Description string `json:"description"`
		} `json:"properties"`
		Operations []models.Operation `json:"operations"`
	}
	if err := json.Unmarshal(run.model.Source, &doc); err != nil {
		g.log.Warn("model source unreadable for the device view", "model", run.model.Ref(), "err", err)
	}
	desc := make(map[string]string, len(doc.Properties))
	for _, p := range doc.Properties {
		desc[p.Name] = p.Description
	}
	for _, p := range run.model.Properties {
		v.Properties = append(v.Properties, propertySpec{
			Name: p.Name, Type: p.Kind.String(), Unit: p.Unit, Readable: p.Readable, Writable: p.Writable,
			Min: p.Min, Max: p.Max, Enum: p.Enum, Description: desc[p.Name],
		})
	}
	v.Operations = []operationSpec{}
	for _, o := range doc.Operations {
		inputs := o.Inputs
		if inputs == nil {
			inputs = []models.Input{}
		}
		v.Operations = append(v.Operations, operationSpec{Name: o.Name, Description: o.Description, Idempotent: o.Idempotent, Inputs: inputs})
	}
	return v
}
