package conform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// Options configures a run of the kit.
type Options struct {
	// Backend is the backend's base URL (…/api/v1/... is appended).
	Backend string
	// TokenFile holds the bearer token the backend expects ("" = none).
	TokenFile string
	// Control is the base URL of the optional test-control API (the
	// reference backend's /admin calls); "" = Backend, "none" = not there.
	Control string
	// ControlTokenFile holds the bearer token of the test-control API (the
	// reference backend's backend.adminToken; "" = none).
	ControlTokenFile string
	// Fieldgate is the fieldgate binary for the gateway clauses ("" = those
	// clauses are skipped).
	Fieldgate string
	// Dir is the work directory (gateway state, config, log); "" = a
	// temporary one, removed afterwards.
	Dir string
	// Only, when not empty, runs just these clause ids.
	Only []string
	// Out gets one line per clause as it ends (nil: none).
	Out io.Writer
	// Log gets the kit's own diagnostics (nil: none).
	Log *slog.Logger
}

// Verdicts.
const (
	Pass = "PASS"
	Fail = "FAIL"
	Skip = "SKIP"
)

// Result is the verdict on one clause.
type Result struct {
	ID       string
	Title    string
	Verdict  string // PASS | FAIL | SKIP
	Evidence string // why it failed or was skipped; what was seen when it passed
}

// Clause is one checked rule of the contract.
type Clause struct {
	ID    string
	Title string
	// Gateway: the clause needs the fieldgate binary; Control: the test-control API.
	Gateway, Control bool
	run              func(ctx context.Context, k *kit) (evidence string, err error)
}

// errSkip marks a clause that cannot be judged here.
type errSkip struct{ why string }

func (e errSkip) Error() string { return e.why }

func skip(format string, args ...any) error { return errSkip{fmt.Sprintf(format, args...)} }

// Clauses lists the kit's clauses in the order they run.
func Clauses() []Clause {
	return []Clause{
		{ID: "auth", Title: "a request without the bearer token, or with a wrong one, is answered 401", run: clauseAuth},
		{ID: "hello", Title: "hello is answered 200 (HelloAck) or 204; apiVersion, when given, is 1.x", run: clauseHello},
		{ID: "evolution", Title: "unknown fields in hello, registration, telemetry and operation reports are ignored, not refused", run: clauseEvolution},
		{ID: "register.answer", Title: "a registration answer is assigned (with instance), pending or rejected, within the bounds", run: clauseRegisterAnswer},
		{ID: "register.repeat", Title: "the same fingerprint again gets the same answer", run: clauseRegisterRepeat},
		{ID: "inbox.empty", Title: "an empty inbox is answered 200 with no items and cursor = after", run: clauseInboxEmpty},
		{ID: "inbox.wait-clamp", Title: "a wait beyond 60 s is clamped, not refused", run: clauseInboxWaitClamp},
		{ID: "telemetry.dedup", Title: "a telemetry batch is acknowledged whole; seqs seen before count as duplicates", run: clauseTelemetryDedup},
		{ID: "telemetry.gzip", Title: "with gzip in acceptEncoding, a gzip-compressed batch is taken", run: clauseTelemetryGzip},
		{ID: "operation.unknown", Title: "a status report for an operation id the backend never issued is answered 404", run: clauseOperationUnknown},
		{ID: "gateway.hello", Title: "a real gateway's hello is answered 2xx", Gateway: true, run: clauseGatewayHello},
		{ID: "gateway.assigned", Title: "a real gateway's thermostat gets the model acme-th100 and runs it", Gateway: true, run: clauseGatewayAssigned},
		{ID: "model.fetch", Title: "the assigned model version is served, and If-None-Match gets 304 or the same document", Gateway: true, run: clauseModelFetch},
		{ID: "gateway.telemetry", Title: "a real gateway's telemetry is acknowledged (200), none refused", Gateway: true, run: clauseGatewayTelemetry},
		{ID: "gateway.operation", Title: "a queued write reaches the device and ends SUCCEEDED with output; EXECUTING at most once, never after the result", Gateway: true, Control: true, run: clauseGatewayOperation},
		{ID: "gateway.reassign", Title: "a re-assignment goes through the inbox with a greater revision, and the gateway runs it", Gateway: true, Control: true, run: clauseGatewayReassign},
		{ID: "gateway.operation-refused", Title: "a write the model refuses ends FAILED out-of-range, without EXECUTING", Gateway: true, Control: true, run: clauseGatewayOperationRefused},
	}
}

// kit is the state of one run, shared by the clauses.
type kit struct {
	opts    Options
	log     *slog.Logger
	api     *apiClient // the backend's gateway API, as gateway gwID
	control *apiClient // nil: no test-control API
	gwID    string
	dir     string
	helloGz bool // the kit's hello answer listed gzip

	gw *gatewayRun // nil until a gateway clause starts it
}

// Run runs the clauses (all, or opts.Only) and returns their results in
// order. The error is for the run itself (bad options); a failed clause is a
// result, not an error.
func Run(ctx context.Context, opts Options) ([]Result, error) {
	if _, err := parseBase(opts.Backend); err != nil {
		return nil, fmt.Errorf("backend: %w", err)
	}
	token, err := readToken("token", opts.TokenFile)
	if err != nil {
		return nil, err
	}
	controlToken, err := readToken("control-token", opts.ControlTokenFile)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, c := range Clauses() {
		known[c.ID] = true
	}
	for _, id := range opts.Only {
		if !known[id] {
			return nil, fmt.Errorf("only: no clause %q", id)
		}
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	k := &kit{opts: opts, log: log, gwID: "conform-" + hex.EncodeToString(suffix[:]), dir: opts.Dir}
	k.api = newAPIClient(opts.Backend, token)
	switch opts.Control {
	case "none":
	case "":
		k.control = newAPIClient(opts.Backend, controlToken)
	default:
		if _, err := parseBase(opts.Control); err != nil {
			return nil, fmt.Errorf("control: %w", err)
		}
		k.control = newAPIClient(opts.Control, controlToken)
	}
	if k.control != nil {
		switch status := k.control.hasControl(ctx); status {
		case http.StatusOK:
		case http.StatusUnauthorized:
			what := "asks for a token (--control-token)"
			if controlToken != "" {
				what = "refuses the token of --control-token"
			}
			return nil, fmt.Errorf("control: %s: the test-control API %s", k.control.base, what)
		default:
			log.Info("no test-control API; the clauses that need it are skipped", "url", k.control.base, "status", status)
			k.control = nil
		}
	}
	var results []Result
	if k.dir == "" {
		d, err := os.MkdirTemp("", "fieldgate-conform-")
		if err != nil {
			return nil, err
		}
		// Kept when a clause failed: the gateway's log is evidence.
		defer func() {
			if Failed(results) == 0 {
				_ = os.RemoveAll(d)
			} else if opts.Out != nil {
				fmt.Fprintf(opts.Out, "work directory kept (the gateway's config, state and log): %s\n", d)
			}
		}()
		k.dir = d
	}
	defer k.stopGateway()

	for _, c := range Clauses() {
		if len(opts.Only) > 0 && !slices.Contains(opts.Only, c.ID) {
			continue
		}
		r := Result{ID: c.ID, Title: c.Title}
		switch {
		case ctx.Err() != nil:
			r.Verdict, r.Evidence = Skip, "interrupted"
		case c.Gateway && opts.Fieldgate == "":
			r.Verdict, r.Evidence = Skip, "needs the fieldgate binary (--fieldgate)"
		case c.Control && k.control == nil:
			r.Verdict, r.Evidence = Skip, "needs the test-control API (--control)"
		default:
			cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			ev, err := c.run(cctx, k)
			cancel()
			var s errSkip
			switch {
			case errors.As(err, &s):
				r.Verdict, r.Evidence = Skip, s.why
			case err != nil:
				r.Verdict, r.Evidence = Fail, err.Error()
			default:
				r.Verdict, r.Evidence = Pass, ev
			}
		}
		results = append(results, r)
		if opts.Out != nil {
			fmt.Fprintf(opts.Out, "%s  %-26s %s\n", r.Verdict, r.ID, r.Title)
			if r.Evidence != "" && r.Verdict != Pass {
				fmt.Fprintf(opts.Out, "      %s\n", strings.ReplaceAll(r.Evidence, "\n", "\n      "))
			}
		}
	}
	return results, nil
}

// Failed counts the failed results.
func Failed(rs []Result) int {
	n := 0
	for _, r := range rs {
		if r.Verdict == Fail {
			n++
		}
	}
	return n
}

func parseBase(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	switch {
	case s == "":
		return nil, errors.New("must be set")
	case err != nil:
		return nil, err
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return nil, fmt.Errorf("must be an http(s) URL with a host, got %q", s)
	}
	return u, nil
}

// readToken reads a bearer token from file ("" = none): one non-empty line.
func readToken(field, file string) (string, error) {
	if file == "" {
		return "", nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" || strings.ContainsAny(token, "\r\n") {
		return "", fmt.Errorf("%s: %s: must hold one non-empty line", field, file)
	}
	return token, nil
}
