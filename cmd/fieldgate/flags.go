package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// errHelped: -h was asked for and the usage printed; the command exits 0.
var errHelped = errors.New("help printed")

// newFlags is a subcommand's flag set. Parse errors are returned (as usage
// errors) rather than printed; see parseFlags.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args. -h / --help prints the usage line and every flag
// to stdout and returns errHelped; a bad flag is a usageError naming it.
func parseFlags(fs *flag.FlagSet, synopsis string, args []string, stdout io.Writer) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		printUsage(fs, synopsis, stdout)
		return errHelped
	}
	if err != nil {
		return usageError{fmt.Sprintf("%s: %v (see fieldgate %s -h)", fs.Name(), err, fs.Name())}
	}
	return nil
}

func printUsage(fs *flag.FlagSet, synopsis string, w io.Writer) {
	fmt.Fprintf(w, "usage: fieldgate %s\n", synopsis)
	var any bool
	fs.VisitAll(func(*flag.Flag) { any = true })
	if !any {
		fmt.Fprintln(w, "(no flags)")
		return
	}
	fmt.Fprintln(w, "flags:")
	var b strings.Builder
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	_, _ = io.WriteString(w, b.String())
}

// helped turns errHelped into success: -h exits 0.
func helped(err error) error {
	if errors.Is(err, errHelped) {
		return nil
	}
	return err
}
