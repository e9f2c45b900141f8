package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fieldgate/fieldgate/models"
)

// read, write and op: a device now, through the daemon (which checks every
// request against the device's model, as it does the backend's).

const (
	readSynopsis  = "read [--config FILE] [--api ADDR] [--token-file FILE] DEVICE [PROPERTY...]"
	writeSynopsis = "write [--config FILE] [--api ADDR] [--token-file FILE] [--ttl SECONDS] DEVICE PROPERTY VALUE"
	opSynopsis    = "op [--config FILE] [--api ADDR] [--token-file FILE] [--ttl SECONDS] DEVICE NAME [KEY=VALUE...]"
)

// apiReading is one value a read answers.
type apiReading struct {
	Property string          `json:"property"`
	Value    json.RawMessage `json:"value"`
	Unit     string          `json:"unit"`
	Quality  string          `json:"quality"`
	Time     time.Time       `json:"time"`
	AgeMs    int64           `json:"ageMs"`
}

func cmdRead(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("read")
	af := addAPIFlags(fs)
	if err := parseFlags(fs, readSynopsis, args, stdout); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError{"read: name the device (its local id, as fieldgate devices prints it)\nusage: fieldgate " + readSynopsis}
	}
	c, err := af.client("read")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	body := map[string][]string{"properties": fs.Args()[1:]}
	if len(fs.Args()) == 1 {
		body["properties"] = []string{}
	}
	var ans struct {
		Readings []apiReading `json:"readings"`
	}
	if _, err := c.call(ctx, http.MethodPost, devicePath(fs.Arg(0), "read"), body, &ans); err != nil {
		return err
	}
	tw := newTable(stdout)
	fmt.Fprintln(tw, "PROPERTY\tVALUE\tQUALITY\tAGE")
	for _, r := range ans.Readings {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Property, withUnit(r.Value, r.Unit), r.Quality, age(time.Duration(r.AgeMs)*time.Millisecond))
	}
	return tw.Flush()
}

// apiOperationResult is the final state of an operation, as the local API answers it.
type apiOperationResult struct {
	ID     string          `json:"id"`
	Name   string          `json:"name"`
	Status string          `json:"status"`
	Output json.RawMessage `json:"output"`
	Error  *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func cmdWrite(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("write")
	af := addAPIFlags(fs)
	ttl := fs.Int("ttl", 0, "seconds the write may wait for the device before it expires (0: the daemon's 60)")
	if err := parseFlags(fs, writeSynopsis, args, stdout); err != nil {
		return err
	}
	if fs.NArg() != 3 {
		return usageError{fmt.Sprintf("write: takes DEVICE PROPERTY VALUE, got %d arguments\nusage: fieldgate %s", fs.NArg(), writeSynopsis)}
	}
	device, prop, raw := fs.Arg(0), fs.Arg(1), fs.Arg(2)
	c, err := af.client("write")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 7*time.Minute)
	defer cancel()
	doc, err := deviceModel(ctx, c, device)
	if err != nil {
		return err
	}
	p, ok := findProperty(doc, prop)
	if !ok {
		return usageError{fmt.Sprintf("write: model %s@%s of %s has no property %q (it has: %s)", doc.ID, doc.Version, device, prop, propertyNames(doc, true))}
	}
	// A read-only property is the model's to refuse (read-only), like a
	// range: the daemon checks the write as it checks the backend's.
	v, err := parseValue(raw, p.Type, p.Enum)
	if err != nil {
		return usageError{fmt.Sprintf("write: %s: %v", prop, err)}
	}
	return runOperation(ctx, c, stdout, device, models.WriteOperation, map[string]any{prop: v}, *ttl)
}

func cmdOp(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("op")
	af := addAPIFlags(fs)
	ttl := fs.Int("ttl", 0, "seconds the operation may wait for the device before it expires (0: the daemon's 60)")
	if err := parseFlags(fs, opSynopsis, args, stdout); err != nil {
		return err
	}
	if fs.NArg() < 2 {
		return usageError{"op: takes DEVICE NAME [KEY=VALUE...]\nusage: fieldgate " + opSynopsis}
	}
	device, name := fs.Arg(0), fs.Arg(1)
	c, err := af.client("op")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 7*time.Minute)
	defer cancel()
	doc, err := deviceModel(ctx, c, device)
	if err != nil {
		return err
	}
	input, err := operationInput(doc, name, fs.Args()[2:])
	if err != nil {
		return usageError{fmt.Sprintf("op: %v", err)}
	}
	return runOperation(ctx, c, stdout, device, name, input, *ttl)
}

// operationInput types key=value arguments by the operation's inputs (by the
// properties for the built-in write).
func operationInput(doc *models.Document, name string, kvs []string) (map[string]any, error) {
	type field struct {
		typ  string
		enum []models.Value
	}
	fields := map[string]field{}
	var names []string
	switch op, ok := findOperation(doc, name); {
	case name == models.WriteOperation:
		for _, p := range doc.Properties {
			if p.Access == "w" || p.Access == "rw" {
				fields[p.Name] = field{p.Type, p.Enum}
				names = append(names, p.Name)
			}
		}
	case ok:
		for _, in := range op.Inputs {
			fields[in.Name] = field{in.Type, in.Enum}
			names = append(names, in.Name)
		}
	default:
		ops := []string{models.WriteOperation}
		for _, o := range doc.Operations {
			ops = append(ops, o.Name)
		}
		return nil, fmt.Errorf("model %s@%s has no operation %q (it has: %s)", doc.ID, doc.Version, name, strings.Join(ops, ", "))
	}
	input := map[string]any{}
	for _, kv := range kvs {
		k, raw, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q: arguments are KEY=VALUE", kv)
		}
		f, ok := fields[k]
		if !ok {
			return nil, fmt.Errorf("operation %s of model %s@%s has no input %q (its inputs: %s)", name, doc.ID, doc.Version, k, orNone(names))
		}
		if _, dup := input[k]; dup {
			return nil, fmt.Errorf("%s: given twice", k)
		}
		v, err := parseValue(raw, f.typ, f.enum)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		input[k] = v
	}
	return input, nil
}

// parseValue types an argument by a model type: bool (true/false, on/off,
// 1/0), int, float or string; with an enum, the value must be one of it.
func parseValue(raw, typ string, enum []models.Value) (any, error) {
	var v any
	switch typ {
	case "bool":
		switch strings.ToLower(raw) {
		case "true", "on", "1", "yes":
			v = true
		case "false", "off", "0", "no":
			v = false
		default:
			return nil, fmt.Errorf("is a bool (true/false, on/off, 1/0), got %q", raw)
		}
	case "int":
		i, err := strconv.ParseInt(raw, 10, 64) // "010" is ten, not octal eight
		if err != nil {
			return nil, fmt.Errorf("is an int, got %q", raw)
		}
		v = i
	case "float":
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return nil, fmt.Errorf("is a float, got %q", raw)
		}
		v = f
	case "string":
		v = raw
	default:
		return nil, fmt.Errorf("has type %q, which this command cannot write", typ)
	}
	if len(enum) == 0 {
		return v, nil
	}
	var allowed []string
	for _, e := range enum {
		b, _ := json.Marshal(e)
		var ev any
		_ = json.Unmarshal(b, &ev)
		if fmt.Sprint(ev) == fmt.Sprint(v) {
			return v, nil
		}
		allowed = append(allowed, string(b))
	}
	return nil, fmt.Errorf("must be one of %s, got %q", strings.Join(allowed, ", "), raw)
}

// runOperation asks the daemon to run an operation and prints its end:
// SUCCEEDED with its output, or the error code and message. An operation
// that failed, or that the model refused, is an error (exit 1).
func runOperation(ctx context.Context, c *apiClient, w io.Writer, device, name string, input map[string]any, ttl int) error {
	body := map[string]any{"name": name, "input": input}
	if ttl > 0 {
		body["ttlSeconds"] = ttl
	}
	resp, err := c.send(ctx, http.MethodPost, devicePath(device, "operations"), body, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return fmt.Errorf("%s: reading the answer of %s: %w", c.name, c.target.addr, err)
	}
	var res apiOperationResult
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnprocessableEntity ||
		json.Unmarshal(data, &res) != nil || res.Status == "" {
		// Refused before it ran (the model's check, an unknown device) or
		// not an operation at all.
		ae := answerError(resp.StatusCode, data)
		if resp.StatusCode == http.StatusUnprocessableEntity {
			return fmt.Errorf("%s: %s refused by the model: %w", c.name, name, ae)
		}
		return fmt.Errorf("%s: %w", c.name, ae)
	}
	fmt.Fprintf(w, "%s %s on %s: %s\n", name, res.ID, device, res.Status)
	if len(res.Output) > 0 && string(res.Output) != "null" {
		fmt.Fprintf(w, "output: %s\n", res.Output)
	}
	if res.Status == "FAILED" {
		code, msg := "", ""
		if res.Error != nil {
			code, msg = res.Error.Code, res.Error.Message
		}
		return fmt.Errorf("%s: %s FAILED: %w", c.name, name, &apiError{Status: resp.StatusCode, Code: code, Message: msg})
	}
	return nil
}

// deviceModel fetches the model document of a device's assigned instance.
func deviceModel(ctx context.Context, c *apiClient, device string) (*models.Document, error) {
	resp, err := c.send(ctx, http.MethodGet, devicePath(device, "model"), nil, "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, models.MaxDocumentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the model of %s: %w", c.name, device, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %w", c.name, answerError(resp.StatusCode, data))
	}
	doc, err := models.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: the model of %s: %w", c.name, device, err)
	}
	return doc, nil
}

func findProperty(doc *models.Document, name string) (*models.Property, bool) {
	for i := range doc.Properties {
		if doc.Properties[i].Name == name {
			return &doc.Properties[i], true
		}
	}
	return nil, false
}

func findOperation(doc *models.Document, name string) (*models.Operation, bool) {
	for i := range doc.Operations {
		if doc.Operations[i].Name == name {
			return &doc.Operations[i], true
		}
	}
	return nil, false
}

// propertyNames lists the model's properties (writable ones only when writable).
func propertyNames(doc *models.Document, writable bool) string {
	var names []string
	for _, p := range doc.Properties {
		if !writable || p.Access == "w" || p.Access == "rw" {
			names = append(names, p.Name)
		}
	}
	return orNone(names)
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 2, 8, 2, ' ', 0) }
