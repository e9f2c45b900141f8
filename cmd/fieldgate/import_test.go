package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldgate/fieldgate/adapters/builtin"
)

func TestModelImportEdgex(t *testing.T) {
	const sample = "../../models/importers/edgex/testdata/modbus.test.device.profile.yml"
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"model", "import-edgex", "--id", "coolmasternet", "--version", "1.0.0", sample}, &out, &errOut)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, errOut.String())
	}
	m, err := builtin.Builtin().Compile(out.Bytes())
	if err != nil {
		t.Fatalf("output does not compile: %v\n%s", err, out.String())
	}
	if m.Ref() != "coolmasternet@1.0.0" || len(m.Properties) != 7 {
		t.Errorf("compiled %s with %d properties", m.Ref(), len(m.Properties))
	}
	if !strings.Contains(out.String(), "\n  \"id\": \"coolmasternet\"") {
		t.Errorf("output not indented JSON:\n%s", out.String())
	}
	if !strings.Contains(errOut.String(), `warning: deviceCommands[0] "Switch"`) || strings.Contains(out.String(), "warning") {
		t.Errorf("warnings belong on stderr: stdout %q stderr %q", out.String(), errOut.String())
	}

	// The imported file passes "fieldgate model FILE" too.
	file := filepath.Join(t.TempDir(), "m.json")
	if err := os.WriteFile(file, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := runCLI("model", file); err != nil || !strings.Contains(got, "coolmasternet@1.0.0 ok") {
		t.Errorf("model check: %q %v", got, err)
	}

	bad := filepath.Join(t.TempDir(), "bad.yml")
	if err := os.WriteFile(bad, []byte("name: p\ndeviceResources:\n- {name: a, attributes: {primaryTable: FOO, startingAddress: 0}, properties: {valueType: Bool, readWrite: R}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(t.TempDir(), "huge.yml")
	if err := os.WriteFile(huge, bytes.Repeat([]byte("#"), 4<<20+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
		code int
	}{
		{[]string{"--version", "1", sample}, "--id is required", 2},
		{[]string{"--id", "x", sample}, "--version is required", 2},
		{[]string{"--id", "x", "--version", "1"}, "exactly one profile FILE, got 0", 2},
		{[]string{"--id", "x", "--version", "1", "--bogus", sample}, "-bogus", 2},
		{[]string{"--id", "bad id", "--version", "1", sample}, `id: may only hold letters, digits, '.', '_' and '-', got "bad id"`, 1},
		{[]string{"--id", "x", "--version", "1", "missing.yml"}, "missing.yml", 1},
		{[]string{"--id", "x", "--version", "1", bad}, `deviceResources[0].attributes.primaryTable: unknown table "FOO"`, 1},
		{[]string{"--id", "x", "--version", "1", "../../models/importers/edgex/testdata/edgex1.boiler.profile.yml"},
			"edgex1.boiler.profile.yml: this is an EdgeX 1.x device profile (deviceResources[0].properties.value, deviceCommands[0].get, coreCommands); fieldgate imports the format of EdgeX 2.0 and later", 1},
		{[]string{"--id", "x", "--version", "1", huge}, "huge.yml: larger than 4194304 bytes", 1},
	} {
		_, err := runCLI(append([]string{"model", "import-edgex"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) || exitCode(err) != c.code {
			t.Errorf("%v: err %v (exit %d), want %q (exit %d)", c.args, err, exitCode(err), c.want, c.code)
		}
	}
}

func TestModelImportWot(t *testing.T) {
	const sample = "../../models/importers/wot/testdata/heatpump.modbus.td.json"
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"model", "import-wot", "--id", "hp200", "--version", "1.0.0", sample}, &out, &errOut)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, errOut.String())
	}
	m, err := builtin.Builtin().Compile(out.Bytes())
	if err != nil {
		t.Fatalf("output does not compile: %v\n%s", err, out.String())
	}
	if m.Ref() != "hp200@1.0.0" || m.Protocol != "modbus" || len(m.Properties) != 7 || len(m.Operations()) != 2 {
		t.Errorf("compiled %s (%s) with %d properties, operations %v", m.Ref(), m.Protocol, len(m.Properties), m.Operations())
	}
	if !strings.Contains(out.String(), "\n  \"id\": \"hp200\"") {
		t.Errorf("output not indented JSON:\n%s", out.String())
	}
	if !strings.Contains(errOut.String(), `warning: properties.diagnostics.forms[0].href: unsupported scheme "http"`) || strings.Contains(out.String(), "warning") {
		t.Errorf("warnings belong on stderr: stdout %q stderr %q", out.String(), errOut.String())
	}

	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.td.json")
	if err := os.WriteFile(bad, []byte(`{"title": "t", "properties": {"p": {"type": "boolean", "forms": [{"href": "modbus+tcp://h/1/1", "modv:entity": "Register"}]}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	notJSON := filepath.Join(dir, "td.yml")
	if err := os.WriteFile(notJSON, []byte("title: t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
		code int
	}{
		{[]string{"--version", "1", sample}, "model import-wot: --id is required", 2},
		{[]string{"--id", "x", sample}, "--version is required", 2},
		{[]string{"--id", "x", "--version", "1"}, "exactly one TD FILE, got 0", 2},
		{[]string{"--id", "x", "--version", "1", sample, sample}, "exactly one TD FILE, got 2", 2},
		{[]string{"--id", "bad id", "--version", "1", sample}, `id: may only hold letters, digits, '.', '_' and '-', got "bad id"`, 1},
		{[]string{"--id", "x", "--version", "1", "missing.json"}, "missing.json", 1},
		{[]string{"--id", "x", "--version", "1", bad}, `properties.p.forms[0].modv:entity: unknown Modbus entity "Register"`, 1},
		{[]string{"--id", "x", "--version", "1", notJSON}, "td.yml: TD: invalid JSON", 1},
	} {
		_, err := runCLI(append([]string{"model", "import-wot"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) || exitCode(err) != c.code {
			t.Errorf("%v: err %v (exit %d), want %q (exit %d)", c.args, err, exitCode(err), c.want, c.code)
		}
	}
}
