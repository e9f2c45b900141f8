package main

import (
	"encoding/json"
	"os"
	"testing"
)

// docs/model.schema.json is what `fieldgate model schema` prints: the schema
// the adapters assemble, published for backend teams. A change to a binding
// that is not written there fails here.
func TestPublishedModelSchemaIsCurrent(t *testing.T) {
	out, err := runCLI("model", "schema")
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid([]byte(out)) {
		t.Fatalf("model schema is not JSON:\n%.400s", out)
	}
	published, err := os.ReadFile("../../docs/model.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(published) != out {
		t.Fatal("docs/model.schema.json is not what `fieldgate model schema` prints: run `go run ./cmd/fieldgate model schema > docs/model.schema.json`")
	}
	if _, err := runCLI("model", "schema", "extra"); err == nil {
		t.Fatal("model schema took an argument")
	}
}
