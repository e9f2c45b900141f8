package backendclient

import (
	"encoding/json"
	"fmt"
)

// Bounds of the strings and blobs the backend sends. Everything the backend
// sends is outside input: the gateway keeps these in memory, in its state file
// and in every reading it sends, so each is bounded, and an answer beyond a
// bound is refused with the field named (never echoed whole). They match the
// bounds the backend API puts on what the gateway sends (256 bytes per id).
const (
	// MaxIDBytes bounds ids and names: local ids, device ids, operation ids
	// and names, model ids and versions, settings keys.
	MaxIDBytes = 256
	// MaxTextBytes bounds free text: a rejection or unassignment reason, a
	// settings value.
	MaxTextBytes = 1024
	// MaxOperationInputBytes bounds an operation's input (JSON).
	MaxOperationInputBytes = 16 << 10
	// MaxSettings bounds the entries of an instance's settings.
	MaxSettings = 64
)

// checkLen appends a problem when s is longer than max bytes.
func checkLen(errs []error, path, s string, max int) []error {
	if len(s) > max {
		errs = append(errs, fmt.Errorf("%s: at most %d bytes, got %d (%s)", path, max, len(s), Clip(s, 64)))
	}
	return errs
}

func checkInput(errs []error, path string, in json.RawMessage) []error {
	if len(in) > MaxOperationInputBytes {
		errs = append(errs, fmt.Errorf("%s: at most %d bytes, got %d", path, MaxOperationInputBytes, len(in)))
	}
	return errs
}

// Clip is s for a message: whole when at most n bytes, else its first n bytes
// quoted and its length.
func Clip(s string, n int) string {
	if len(s) <= n {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q... (%d bytes)", s[:n], len(s))
}
