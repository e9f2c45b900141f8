package models

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// errorLines splits a joined error into its lines.
func errorLines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

func TestDecodeErrorsNamePathAndValue(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want []string // every line of the error, in order
	}{
		{"unknown nested field",
			`{"id":"a","version":"1","protocol":"stub","properties":[{"name":"x","type":"int","stub":{"a":0}},{"name":"y","type":"int","report":{"mdoe":"change"}}]}`,
			[]string{"properties[1].report.mdoe: unknown field"}},
		{"wrong type for a number",
			`{"id":"a","version":"1","protocol":"stub","properties":[{"name":"x","type":"float","min":"abc"}]}`,
			[]string{`properties[0].min: expected number, got "abc"`}},
		{"every problem, in document order",
			`{"id":5,"version":"1","extra":true,"protocol":"stub","defaults":{"pollInterval":"fast","timeout":3},` +
				`"properties":[{"name":"x","type":"int","enum":[1,{"a":1}],"stub":{"kept":"raw","bit":true}}],` +
				`"operations":[{"name":"o","idempotent":"yes","inputs":[{"name":"i","type":"int","min":[1]}],"stub":[1]}]}`,
			[]string{
				`id: expected string, got 5`,
				`extra: unknown field`,
				`defaults.pollInterval: invalid duration "fast"`,
				`defaults.timeout: duration must be a string such as "5s", got 3`,
				`properties[0].enum[1]: value must be a bool, number or string, got {"a":1}`,
				`operations[0].idempotent: expected true or false, got "yes"`,
				`operations[0].inputs[0].min: expected number, got an array`,
			}},
		{"duplicate field",
			`{"id":"a","id":"b","version":"1","protocol":"stub","properties":[]}`,
			[]string{`id: duplicate field`}},
		{"array expected",
			`{"id":"a","version":"1","protocol":"stub","properties":{"name":"x"}}`,
			[]string{`properties: expected array, got an object`}},
		{"object expected",
			`{"id":"a","version":"1","protocol":"stub","properties":["x"]}`,
			[]string{`properties[0]: expected object, got "x"`}},
		{"null for a string",
			`{"id":null,"version":"1","protocol":"stub"}`,
			[]string{`id: expected string, got null`}},
		{"negative duration",
			`{"id":"a","version":"1","protocol":"stub","defaults":{"timeout":"-1s"}}`,
			[]string{`defaults.timeout: duration must not be negative, got "-1s"`}},
		{"YAML unknown field",
			"id: a\nversion: \"1\"\nprotocol: stub\nproperties:\n  - name: x\n    type: int\n    stub: {a: 0}\n  - name: y\n    report:\n      mdoe: change\n",
			[]string{"properties[1].report.mdoe: unknown field"}},
		{"YAML wrong type",
			"id: a\nversion: 1.0\nprotocol: stub\nproperties:\n  - name: x\n    min: abc\n",
			[]string{`version: expected string, got 1.0`, `properties[0].min: expected number, got "abc"`}},
		{"YAML not a mapping", "- a\n- b\n", []string{`expected object, got an array`}},
		{"invalid JSON", "{\"id\": \"a\",\n \"version\": }", []string{`invalid JSON at line 2 column 13: invalid character '}' looking for beginning of value`}},
		{"trailing JSON", `{"id":"a"} {}`, []string{`invalid JSON at line 1 column 12: unexpected data after the document`}},
		{"empty", "  \n", []string{"empty document"}},
		{"two YAML documents", "id: a\n---\nid: b\n", []string{"a model file holds exactly one YAML document"}},
		{"YAML NaN", "id: a\nproperties:\n  - min: .nan\n", []string{"YAML line 3 column 10: .nan is not a finite number"}},
		{"YAML merge key", "base: &b {name: x}\nproperties:\n  - <<: *b\n", []string{"YAML line 3 column 5: YAML merge keys (<<) are not supported"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Decode([]byte(tc.doc))
			if err == nil {
				t.Fatalf("Decode succeeded: %+v", d)
			}
			if got := errorLines(err); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("errors\n got: %q\nwant: %q", got, tc.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T is not a *FieldError", err)
			}
		})
	}
}

func TestDecodeTooManyProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"id":"a","properties":[`)
	for i := range 200 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"nope":1}`)
	}
	b.WriteString(`]}`)
	_, err := Decode([]byte(b.String()))
	lines := errorLines(err)
	if len(lines) != maxDecodeErrors+1 || lines[len(lines)-1] != "too many problems, giving up" {
		t.Fatalf("got %d lines, last %q", len(lines), lines[len(lines)-1])
	}
}

func TestDecodeLimitsNesting(t *testing.T) {
	deep := `{"id":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`
	if _, err := Decode([]byte(deep)); err == nil || !strings.Contains(err.Error(), "nested too deeply") {
		t.Fatalf("deep JSON: %v", err)
	}
	deepYAML := "id: " + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "\n"
	if _, err := Decode([]byte(deepYAML)); err == nil || !strings.Contains(err.Error(), "nested too deeply") {
		t.Fatalf("deep YAML: %v", err)
	}
	// Aliases that multiply the tree ("billion laughs") hit the size limit.
	var y strings.Builder
	y.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		y.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := range 10 {
			if j > 0 {
				y.WriteString(", ")
			}
			y.WriteString("*a" + string(rune('0'+i-1)))
		}
		y.WriteString("]\n")
	}
	if _, err := Decode([]byte(y.String())); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("alias bomb: %v", err)
	}
}

func TestDecodeValues(t *testing.T) {
	d, err := Decode([]byte(`{"id":"a","version":"1","protocol":"stub",
		"defaults":{"pollInterval":"250ms","order":"CDAB"},
		"properties":[{"name":"m","type":"float","min":-1.5,"max":1e3,"enum":[1,2.5,"s",true],"telemetry":false,"interval":"1m",
		  "stub":{"at": [7, "x"]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	p := d.Properties[0]
	if d.Defaults.PollInterval != Duration(250*time.Millisecond) || d.Defaults.Order != "CDAB" ||
		*p.Min != -1.5 || *p.Max != 1000 || *p.Telemetry || p.Interval != Duration(time.Minute) ||
		p.Binding.Key != "stub" || string(p.Binding.Raw) != `{"at":[7,"x"]}` {
		t.Fatalf("decoded %+v %+v", d, p)
	}
	want := []Value{IntValue(1), FloatValue(2.5), StringValue("s"), BoolValue(true)}
	if !reflect.DeepEqual(p.Enum, want) {
		t.Fatalf("enum %v, want %v", p.Enum, want)
	}
}

func TestDecodeFileErrorNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(path, []byte(`{"id":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := DecodeFile(path)
	if err == nil || !strings.Contains(err.Error(), "bad.json: id: expected string, got 1") {
		t.Fatalf("DecodeFile: %v", err)
	}
	if _, err := DecodeFile(filepath.Join(t.TempDir(), "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// FuzzDecode: no document panics Decode or Compile, and a compiled model's
// canonical Source compiles again to the same Source.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(stubDoc(`"defaults":{"report":{"mode":"change"}}`, `{"name":"a","type":"int","stub":{"x":1}}`, `{"name":"o","inputs":[{"name":"i","type":"int"}],"stub":[]}`)))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Decode(data)
		if err != nil {
			return
		}
		c, err := Compile(d, stub{})
		if err != nil {
			return
		}
		again, err := CompileSource(c.Source, stub{})
		if err != nil {
			t.Fatalf("canonical source does not compile: %v\n%s", err, c.Source)
		}
		if string(again.Source) != string(c.Source) {
			t.Fatalf("canonical source is not stable:\n%s\n%s", c.Source, again.Source)
		}
	})
}

// A model comes from outside and is cached: its strings and its size are bounded.
func TestDecodeBoundsStrings(t *testing.T) {
	big := strings.Repeat("x", 10<<20)
	_, err := Decode([]byte(`{"id":"a","version":"1","protocol":"stub","description":"` + big + `"}`))
	if err == nil || !strings.Contains(err.Error(), "at most 4194304 bytes") {
		t.Errorf("10 MB document: %v", err)
	}
	long := strings.Repeat("y", MaxTextBytes+1)
	_, err = Decode([]byte(`{"id":"a","version":"1","protocol":"stub","properties":[{"name":"t","type":"float","unit":"` + long +
		`","stub":{"x":"` + long + `"}}]}`))
	if err == nil || !strings.Contains(err.Error(), "properties[0].unit: at most 4096 bytes, got 4097") ||
		!strings.Contains(err.Error(), "properties[0].stub.x: at most 4096 bytes") {
		t.Errorf("long strings: %v", err)
	}
	if len(err.Error()) > 1000 {
		t.Errorf("the error echoes the strings: %d bytes", len(err.Error()))
	}
}
