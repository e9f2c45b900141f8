package backend

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestModels(t *testing.T) {
	b := newBench(t, nil)
	var infos []ModelInfo
	b.call("GET", "/admin/models", nil, 200, &infos)
	if len(infos) != 2 || infos[0].ID != "test-pm" || infos[0].Product != "PM-3" || infos[1].ID != "test-th" {
		t.Fatalf("models %+v", infos)
	}

	// Served as canonical JSON with an ETag; If-None-Match gives 304.
	path := "/api/v1/models/test-pm/versions/2.0.0"
	req, _ := http.NewRequest("GET", b.hs.URL+path, nil)
	resp, err := b.hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || len(etag) != 66 || etag[0] != '"' || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d etag %q", resp.StatusCode, etag)
	}
	src, _ := b.srv.Model("test-pm", "2.0.0")
	if !strings.HasPrefix(string(src), "{") || !strings.Contains(string(src), `"voltage"`) {
		t.Fatalf("stored source is not the canonical JSON: %s", src)
	}
	b.callWith("GET", path, nil, http.Header{"If-None-Match": {etag}}, 304, nil)
	b.callWith("GET", path, nil, http.Header{"If-None-Match": {`"other"`}}, 200, nil)
	apiError(t, b.call("GET", "/api/v1/models/test-pm/versions/9", nil, 404, nil), CodeNotFound)

	// Upload: a bad document is refused naming the field; an identical one is fine;
	// different content under the same id@version is a conflict.
	bad := `{"id":"m","version":"1","protocol":"modbus","properties":[{"name":"t","type":"float","modbus":{"table":"tabel","address":0,"dataType":"int16"}}]}`
	e := apiError(t, b.call("POST", "/admin/models", bad, 400, nil), CodeBadRequest)
	if !strings.Contains(e.Message, "properties[0].modbus.table") {
		t.Errorf("bad model error does not name the field: %s", e.Message)
	}
	doc, err := os.ReadFile("testdata/models/test-th.json")
	if err != nil {
		t.Fatal(err)
	}
	b.call("POST", "/admin/models", doc, 200, nil)
	changed := strings.Replace(string(doc), "TH-100", "TH-101", 1)
	apiError(t, b.call("POST", "/admin/models", changed, 409, nil), CodeConflict)
	var info ModelInfo
	b.call("POST", "/admin/models", strings.Replace(changed, `"1.0.0"`, `"1.1.0"`, 1), 201, &info)
	if info.ID != "test-th" || info.Version != "1.1.0" {
		t.Fatalf("created %+v", info)
	}
	if err := b.srv.AddModel([]byte(changed)); !IsCode(err, CodeConflict) {
		t.Fatalf("AddModel of changed content: %v, want conflict", err)
	}

	// A raw model (for gateway tests) is stored unvalidated but must be JSON.
	if err := b.srv.PutRawModel("raw", "1", []byte(bad)); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.PutRawModel("raw", "2", []byte("{")); !IsCode(err, CodeBadRequest) {
		t.Fatalf("PutRawModel of bad JSON: %v", err)
	}
}

func TestOpenRefusesBadModelFile(t *testing.T) {
	dir := t.TempDir()
	bad := `{"id":"m","version":"1","protocol":"modbus","properties":[{"name":"t","type":"float","modbus":{"table":"input","address":70000,"dataType":"int16"}}]}`
	if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Config{Binders: testBinders(), DBPath: filepath.Join(t.TempDir(), "db"), ModelsDir: dir}, nil)
	if err == nil || !strings.Contains(err.Error(), "bad.json") || !strings.Contains(err.Error(), "properties[0].modbus.address") {
		t.Fatalf("got %v, want an error naming the file and the field", err)
	}
	// The database was closed again: it can be opened.
	s, err := Open(Config{Binders: testBinders(), DBPath: filepath.Join(t.TempDir(), "db")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()

	_, err = Open(Config{Binders: testBinders(), DBPath: filepath.Join(t.TempDir(), "db"), Rules: []Rule{{Name: "r", Match: map[string]string{"identity.product": "/[/"}, Model: "m"}}}, nil)
	if err == nil || !strings.Contains(err.Error(), "rules[0].match[identity.product]") || !strings.Contains(err.Error(), "rules[0]: needs model and version") {
		t.Fatalf("bad rules: %v", err)
	}
}
