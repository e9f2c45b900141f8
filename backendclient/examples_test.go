package backendclient_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/fieldgate/fieldgate/adapters/modbus"
	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/models"
)

// TestContractExamples: every request and every answer with a body of the
// gateway API (/api/v1) has an example, and every example in openapi.yaml
// (bodies, error responses, schemas) is valid against its schema and decodes
// strictly (no unknown field, no wrong type) into the Go wire type the client
// uses. A model document example compiles.
func TestContractExamples(t *testing.T) {
	s := loadSpec(t)
	wire := map[string]func() any{
		"Hello": func() any { return new(backendclient.Hello) }, "HelloAck": func() any { return new(backendclient.HelloAck) },
		"Registration": func() any { return new(backendclient.Registration) }, "RegistrationResult": func() any { return new(backendclient.RegistrationResult) },
		"InboxPage": func() any { return new(backendclient.InboxPage) }, "InboxItem": func() any { return new(backendclient.InboxItem) },
		"Instance": func() any { return new(backendclient.Instance) }, "Operation": func() any { return new(backendclient.Operation) },
		"OperationStatus": func() any { return new(backendclient.OperationStatus) }, "OperationAck": func() any { return new(backendclient.OperationAck) },
		"TelemetryBatch": func() any { return new(backendclient.TelemetryBatch) }, "TelemetryAck": func() any { return new(backendclient.TelemetryAck) },
		"Sample": func() any { return new(backendclient.Sample) }, "Event": func() any { return new(backendclient.Event) },
		"ErrorEnvelope": func() any { return new(backendclient.ErrorEnvelope) }, "ErrorBody": func() any { return new(backendclient.ErrorBody) },
		"Fingerprint": func() any { return new(models.Fingerprint) },
	}
	checked := 0
	check := func(where string, schema any, example any) {
		t.Helper()
		v := toJSONTree(t, example)
		for _, e := range s.schemaCheck(schema, v, where) {
			t.Error(e)
		}
		ref, _ := schema.(map[string]any)["$ref"].(string)
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case name == "ModelDocument":
			if _, err := models.CompileSource(raw, modbus.ModelBinder()); err != nil {
				t.Errorf("%s: the model document does not compile: %v", where, err)
			}
		case wire[name] != nil:
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(wire[name]()); err != nil {
				t.Errorf("%s: does not decode strictly into the %s wire type: %v", where, name, err)
			}
		default:
			t.Errorf("%s: schema %q: no wire type to decode the example into", where, ref)
		}
		checked++
	}
	// examplesOf returns a content node's examples by name.
	examplesOf := func(node map[string]any) map[string]any {
		out := map[string]any{}
		if ex, ok := node["example"]; ok {
			out["example"] = ex
		}
		exs, _ := node["examples"].(map[string]any)
		for k, e := range exs {
			out[k] = e.(map[string]any)["value"]
		}
		return out
	}
	jsonContent := func(node any) (map[string]any, bool) {
		m, _ := node.(map[string]any)
		if ref, ok := m["$ref"].(string); ok {
			r, _ := lookupRef(s.raw, ref)
			m, _ = r.(map[string]any)
		}
		content, _ := m["content"].(map[string]any)
		js, ok := content["application/json"].(map[string]any)
		return js, ok
	}
	ops := s.ops(t)
	pats := make([]string, 0, len(ops))
	for p := range ops {
		pats = append(pats, p)
	}
	sort.Strings(pats)
	for _, pat := range pats {
		if !strings.Contains(pat, " /api/v1/") {
			continue
		}
		op := s.specOpRaw(pat)
		if js, ok := jsonContent(op["requestBody"]); ok {
			exs := examplesOf(js)
			if len(exs) == 0 {
				t.Errorf("%s: request body: no example", pat)
			}
			for name, ex := range exs {
				check(fmt.Sprintf("%s request %s", pat, name), js["schema"], ex)
			}
		}
		resps, _ := op["responses"].(map[string]any)
		for code, r := range resps {
			js, ok := jsonContent(r)
			if !ok {
				continue
			}
			exs := examplesOf(js)
			if len(exs) == 0 {
				t.Errorf("%s: answer %s: no example", pat, code)
			}
			for name, ex := range exs {
				check(fmt.Sprintf("%s answer %s %s", pat, code, name), js["schema"], ex)
			}
		}
	}
	comps := s.raw.(map[string]any)["components"].(map[string]any)
	for name, sch := range comps["schemas"].(map[string]any) {
		if ex, ok := sch.(map[string]any)["example"]; ok && wire[name] != nil {
			check("schemas."+name+".example", map[string]any{"$ref": "#/components/schemas/" + name}, ex)
		}
	}
	if checked < 25 {
		t.Errorf("only %d examples checked", checked)
	}
	t.Logf("%d examples checked", checked)
}
