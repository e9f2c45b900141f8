package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/fieldgate/fieldgate/adapters/builtin"
	"github.com/fieldgate/fieldgate/models"
	"github.com/fieldgate/fieldgate/models/importers/edgex"
	"github.com/fieldgate/fieldgate/models/importers/wot"
)

// importer is one "fieldgate model import-..." subcommand: what it reads and
// how it converts that into a model document.
type importer struct {
	what    string // "profile", "TD": named in usage errors
	maxSize int
	convert func(data []byte, id, version string) (*models.Document, []string, error)
}

// importerFor returns the import subcommand called name.
func importerFor(name string) (importer, bool) {
	switch name {
	case "import-edgex":
		return importer{"profile", edgex.MaxProfileSize, edgex.FromProfile}, true
	case "import-wot":
		return importer{"TD", wot.MaxTDSize, wot.FromTD}, true
	}
	return importer{}, false
}

// cmdModelOrImport dispatches "fieldgate model import-edgex|import-wot ..." and
// leaves every other "fieldgate model ..." to cmdModel.
func cmdModelOrImport(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		if im, ok := importerFor(args[0]); ok {
			return cmdImport("model "+args[0], im, args[1:], stdout, stderr)
		}
		if args[0] == "schema" {
			return cmdModelSchema(args[1:], stdout)
		}
	}
	return cmdModel(args, stdout)
}

// cmdModelSchema prints the JSON Schema of a model document, as the built-in
// adapters assemble it (the neutral part and each protocol's bindings).
func cmdModelSchema(args []string, stdout io.Writer) error {
	if err := parseFlags(newFlags("model schema"), "model schema", args, stdout); err != nil {
		return err
	}
	if len(args) > 0 {
		return usageError{"model schema: takes no arguments; it prints the model document's JSON Schema"}
	}
	s, err := builtin.Builtin().ModelSchema()
	if err != nil {
		return err
	}
	_, err = stdout.Write(s)
	return err
}

// cmdImport converts a file into a model document: the JSON on stdout,
// warnings about what is not carried over on stderr.
func cmdImport(name string, im importer, args []string, stdout, stderr io.Writer) error {
	fs := newFlags(name)
	id := fs.String("id", "", "model id of the result")
	ver := fs.String("version", "", "model version of the result")
	if err := parseFlags(fs, name+" --id ID --version V FILE", args, stdout); err != nil {
		return err
	}
	switch {
	case *id == "":
		return usageError{name + ": --id is required"}
	case *ver == "":
		return usageError{name + ": --version is required"}
	case fs.NArg() != 1:
		return usageError{fmt.Sprintf("%s: name exactly one %s FILE, got %d arguments", name, im.what, fs.NArg())}
	}
	path := fs.Arg(0)
	data, err := readBounded(path, im.maxSize)
	if err != nil {
		return err
	}
	doc, warnings, err := im.convert(data, *id, *ver)
	if err != nil {
		var fe interface{ Unwrap() []error }
		if errors.As(err, &fe) {
			return fmt.Errorf("%s:\n%w", path, err)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	_, err = fmt.Fprintf(stdout, "%s\n", out)
	return err
}

// readBounded reads a file of at most limit bytes, reading no more than that
// from a larger one.
func readBounded(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return data, nil
}
