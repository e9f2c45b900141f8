package gateway_test

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fieldgate/fieldgate/adapters/builtin"
)

const module = "github.com/fieldgate/fieldgate"

// importRule says which project packages the packages under a prefix may
// import (non-test code): ARCHITECTURE.md's table "Packages, and what each may
// import". Patterns: "x" is package x; "x/..." is x and everything below it;
// "x/*" is one level below x only.
type importRule struct {
	pkg   string // a pattern of the packages the rule is for
	may   []string
	never []string // checked first: overrides may
}

var importRules = []importRule{
	{pkg: "models", may: nil},
	{pkg: "models/importers/...", may: []string{"models", "models/importers/...", "adapters/..."}},
	{pkg: "adapters", may: []string{"models"}},
	// serialport is the shared owner of serial ports, used by every protocol
	// that runs on one; it is part of the adapters' common layer.
	{pkg: "adapters/serialport", may: []string{"adapters", "models"}},
	{pkg: "adapters/builtin", may: []string{"adapters", "adapters/*", "models"}},
	{pkg: "adapters/*", may: []string{"adapters", "adapters/serialport", "models"}},
	{pkg: "backendclient", may: []string{"models"}},
	// The gateway names no protocol: it gets the adapter table from its caller.
	{pkg: "gateway/...", may: []string{"gateway/...", "adapters", "backendclient", "models"},
		never: []string{"adapters/builtin", "adapters/*", "testbench/...", "cmd/..."}},
	{pkg: "testbench/...", may: []string{"testbench/...", "models", "backendclient", "adapters", "adapters/*"},
		never: []string{"gateway/...", "cmd/..."}},
	{pkg: "cmd/testbench", may: []string{"testbench/..."}},
	{pkg: "cmd/fieldgate", may: []string{"gateway/...", "adapters/builtin", "adapters", "models/...", "backendclient", "systemd"}},
	{pkg: "systemd", may: nil},
}

func matches(pattern, pkg string) bool {
	switch {
	case strings.HasSuffix(pattern, "/..."):
		base := strings.TrimSuffix(pattern, "/...")
		return pkg == base || strings.HasPrefix(pkg, base+"/")
	case strings.HasSuffix(pattern, "/*"):
		base := strings.TrimSuffix(pattern, "*")
		return strings.HasPrefix(pkg, base) && !strings.Contains(pkg[len(base):], "/")
	}
	return pattern == pkg
}

// TestImportRules enforces the architecture's import table on every package of
// the module, with go list: a package that imports upward, or the gateway
// naming a protocol package, fails here, naming both packages and the rule.
func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	checked := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkg := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		var rule *importRule
		for i := range importRules {
			if matches(importRules[i].pkg, pkg) {
				rule = &importRules[i]
				break
			}
		}
		if rule == nil {
			t.Errorf("package %s: no import rule; add it to importRules (and ARCHITECTURE.md's table)", pkg)
			continue
		}
		checked++
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			dep := strings.TrimPrefix(imp, module+"/")
			ok := false
			for _, m := range rule.may {
				ok = ok || matches(m, dep)
			}
			for _, n := range rule.never {
				if matches(n, dep) {
					ok = false
				}
			}
			if !ok {
				t.Errorf("package %s imports %s: not allowed by the rule for %s (may import %v, never %v)", pkg, dep, rule.pkg, rule.may, rule.never)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d packages checked: go list found too few", checked)
	}
}

// The patterns mean what the rules need them to mean.
func TestImportRulePatterns(t *testing.T) {
	for _, tc := range []struct {
		pattern, pkg string
		want         bool
	}{
		{"adapters/*", "adapters/modbus", true},
		{"adapters/*", "adapters", false},
		{"adapters/*", "adapters/modbus/x", false},
		{"gateway/...", "gateway", true},
		{"gateway/...", "gateway/store", true},
		{"gateway/...", "gatewayx", false},
		{"models", "models/importers/wot", false},
	} {
		if got := matches(tc.pattern, tc.pkg); got != tc.want {
			t.Errorf("matches(%q, %q) = %v, want %v", tc.pattern, tc.pkg, got, tc.want)
		}
	}
}

// neutralPackages name no protocol in their code (comments aside): no
// identifier or string holds a built-in adapter's protocol name. A protocol
// lives in its adapter; models keeps its bindings raw, the gateway gets the
// adapter table from its caller.
var neutralPackages = []string{"../gateway", "../models"}

// TestNeutralPackagesNameNoProtocol walks the neutral packages' non-test Go
// files and fails on every identifier or string literal that holds the name
// of a built-in protocol (its bus or its model protocol, any case), naming
// the file, the line and the word.
func TestNeutralPackagesNameNoProtocol(t *testing.T) {
	var words []string
	for _, a := range builtin.Builtin() {
		for _, w := range []string{a.Protocol(), a.ModelProtocol()} {
			w = strings.ToLower(w)
			if !slices.Contains(words, w) {
				words = append(words, w)
			}
		}
	}
	if len(words) < 3 {
		t.Fatalf("only %v protocol names: the built-in table is not what this test expects", words)
	}
	files := 0
	for _, root := range neutralPackages {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() && d.Name() == "importers" {
				return filepath.SkipDir // importers write the bindings of the protocols they import
			}
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			files++
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				var text string
				switch x := n.(type) {
				case *ast.Ident:
					text = x.Name
				case *ast.BasicLit:
					if x.Kind == token.STRING {
						text = x.Value
					}
				default:
					return true
				}
				lower := strings.ToLower(text)
				for _, w := range words {
					if strings.Contains(lower, w) {
						t.Errorf("%s: %q names protocol %q: a protocol belongs in its adapter", fset.Position(n.Pos()), text, w)
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if files < 20 {
		t.Fatalf("only %d files checked", files)
	}
}
