package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/fieldgate/fieldgate/models/importers/edgex"
)

// cmdModelOrImport dispatches "fieldgate model import-edgex ..." and leaves every
// other "fieldgate model ..." to cmdModel.
func cmdModelOrImport(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "import-edgex" {
		return cmdImportEdgex(args[1:], stdout, stderr)
	}
	return cmdModel(args, stdout)
}

// cmdImportEdgex converts an EdgeX device-modbus profile into a model document:
// the JSON on stdout, warnings about what is not carried over on stderr.
func cmdImportEdgex(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("model import-edgex", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	id := fs.String("id", "", "model id of the result")
	ver := fs.String("version", "", "model version of the result")
	if err := fs.Parse(args); err != nil {
		return usageError{"model import-edgex: " + err.Error()}
	}
	switch {
	case *id == "":
		return usageError{"model import-edgex: --id is required"}
	case *ver == "":
		return usageError{"model import-edgex: --version is required"}
	case fs.NArg() != 1:
		return usageError{fmt.Sprintf("model import-edgex: name exactly one profile FILE, got %d arguments", fs.NArg())}
	}
	path := fs.Arg(0)
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if len(data) > edgex.MaxProfileSize {
		return fmt.Errorf("%s: %d bytes, larger than %d", path, len(data), edgex.MaxProfileSize)
	}
	doc, warnings, err := edgex.FromProfile(data, *id, *ver)
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
