package backend

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
)

// MaxBodyBytes is the largest request body accepted (413 beyond).
const MaxBodyBytes = 4 << 20

func (s *Server) routes() http.Handler {
	api := http.NewServeMux()
	// {localId} is one path segment sent escaped (url.PathEscape turns '/' into %2F):
	// ServeMux matches on the escaped path and PathValue returns it unescaped.
	api.HandleFunc("PUT /api/v1/gateways/{gw}", s.handleHello)
	api.HandleFunc("PUT /api/v1/gateways/{gw}/devices/{localId}", s.handleRegister)
	api.HandleFunc("GET /api/v1/models/{id}/versions/{version}", s.handleModel)
	api.HandleFunc("GET /api/v1/gateways/{gw}/inbox", s.handleInbox)
	api.HandleFunc("PUT /api/v1/operations/{id}", s.handleReportOperation)
	api.HandleFunc("POST /api/v1/gateways/{gw}/telemetry", s.handleTelemetry)
	api.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, newError(CodeNotFound, fmt.Sprintf("%s %s: no such endpoint", r.Method, r.URL.EscapedPath())))
	})

	admin := http.NewServeMux()
	admin.HandleFunc("GET /admin/devices", s.handleAdminDevices)
	admin.HandleFunc("POST /admin/devices/{id}/assignment", s.handleAdminAssignment)
	admin.HandleFunc("GET /admin/devices/{id}/latest", s.handleAdminLatest)
	admin.HandleFunc("POST /admin/operations", s.handleAdminCreateOperation)
	admin.HandleFunc("GET /admin/operations/{id}", s.handleAdminOperation)
	admin.HandleFunc("GET /admin/operations", s.handleAdminOperations)
	admin.HandleFunc("GET /admin/readings", s.handleAdminReadings)
	admin.HandleFunc("GET /admin/events", s.handleAdminEvents)
	admin.HandleFunc("GET /admin/models", s.handleAdminModels)
	admin.HandleFunc("POST /admin/models", s.handleAdminAddModel)
	admin.HandleFunc("GET /admin/models/{id}/versions/{version}", s.handleAdminModel)
	admin.HandleFunc("GET /admin/rules", s.handleAdminRules)
	admin.HandleFunc("POST /admin/rules", s.handleAdminAddRule)
	admin.HandleFunc("GET /admin/stats", s.handleAdminStats)
	admin.HandleFunc("/admin/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, newError(CodeNotFound, fmt.Sprintf("%s %s: no such endpoint", r.Method, r.URL.EscapedPath())))
	})

	guard := newAdminGuard(s.cfg)
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", s.requireToken(api))
	mux.Handle("/admin/", guard.admin(admin))
	s.webRoutes(mux, guard)
	return mux
}

// requireToken checks the bearer token of /api/v1 requests when one is configured.
func (s *Server) requireToken(next http.Handler) http.Handler {
	if s.cfg.Token == "" {
		return next
	}
	want := []byte("Bearer " + s.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			msg := "missing bearer token"
			if len(got) > 0 {
				msg = "wrong bearer token"
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="fieldgate"`)
			writeError(w, newError(CodeUnauthorized, msg))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		data, _ = json.Marshal(backendclient.ErrorEnvelope{Error: backendclient.ErrorBody{Code: CodeInternal, Message: err.Error()}})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

func writeError(w http.ResponseWriter, err error) {
	e := asError(err)
	if e.Code == CodeUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	writeJSON(w, e.Status(), backendclient.ErrorEnvelope{Error: backendclient.ErrorBody{Code: e.Code, Message: e.Message}})
}

// readBody limits r's body to MaxBodyBytes and decodes it strictly into v:
// for the admin API, where an unknown field is a person's typo.
func readBody(w http.ResponseWriter, r *http.Request, v any) *Error {
	return decodeJSON(http.MaxBytesReader(w, r.Body, MaxBodyBytes), v)
}

// readAPIBody is readBody for the gateway API (/api/v1): fields it does not
// know are ignored, as the evolution rule says, so that a gateway of a later
// API revision (which may add optional fields) is still understood.
func readAPIBody(w http.ResponseWriter, r *http.Request, v any) *Error {
	return decodeJSONLoose("body", http.MaxBytesReader(w, r.Body, MaxBodyBytes), v)
}

// decodeJSON decodes exactly one JSON value into v, refusing unknown fields and
// trailing data; the error names the field and the value where it can.
func decodeJSON(r io.Reader, v any) *Error { return decodeJSONAt("body", r, v) }

// decodeJSONAt is decodeJSON for the value at path (for messages: "items[3]").
func decodeJSONAt(path string, r io.Reader, v any) *Error { return decodeJSONWith(path, r, v, true) }

// decodeJSONLoose is decodeJSONAt that ignores unknown fields (gateway API).
func decodeJSONLoose(path string, r io.Reader, v any) *Error {
	return decodeJSONWith(path, r, v, false)
}

func decodeJSONWith(path string, r io.Reader, v any, strict bool) *Error {
	dec := json.NewDecoder(r)
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return bodyError(path, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return bodyError(path, err)
		}
		return newError(CodeBadRequest, path+": unexpected data after the JSON value")
	}
	return nil
}

// bodyError turns a decoding error of the value at path into a 400 (413 when the
// body was too large) naming the field and the value.
func bodyError(path string, err error) *Error {
	var maxErr *http.MaxBytesError
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &maxErr):
		return newError(CodeTooLarge, fmt.Sprintf("%s: larger than %d bytes", path, maxErr.Limit))
	case errors.Is(err, io.EOF):
		return newError(CodeBadRequest, path+": empty, want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return newError(CodeBadRequest, path+": truncated JSON")
	case errors.As(err, &syntaxErr):
		return &Error{Code: CodeBadRequest, Message: fmt.Sprintf("%s: invalid JSON at offset %d: %v", path, syntaxErr.Offset, syntaxErr), Err: err}
	case errors.As(err, &typeErr):
		field := path
		if typeErr.Field != "" {
			field = typeErr.Field
			if path != "body" {
				field = path + "." + field
			}
		}
		return &Error{Code: CodeBadRequest, Message: fmt.Sprintf("%s: must be %s, got JSON %s", field, typeErr.Type, typeErr.Value), Err: err}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return &Error{Code: CodeBadRequest, Message: path + ": " + strings.TrimPrefix(err.Error(), "json: "), Err: err}
	}
	return &Error{Code: CodeBadRequest, Message: path + ": " + err.Error(), Err: err}
}

func (s *Server) handleHello(w http.ResponseWriter, r *http.Request) {
	var h backendclient.Hello
	if e := readAPIBody(w, r, &h); e != nil {
		writeError(w, e)
		return
	}
	ack, err := s.Hello(r.PathValue("gw"), h)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ack)
}

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	var reg backendclient.Registration
	if e := readAPIBody(w, r, &reg); e != nil {
		writeError(w, e)
		return
	}
	res, err := s.Register(r.PathValue("gw"), r.PathValue("localId"), reg)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) handleModel(w http.ResponseWriter, r *http.Request) {
	id, version := r.PathValue("id"), r.PathValue("version")
	src, ok := s.Model(id, version)
	if !ok {
		writeError(w, newError(CodeNotFound, fmt.Sprintf("model %s@%s: no such model", id, version)))
		return
	}
	sum := sha256.Sum256(src)
	etag := `"` + hex.EncodeToString(sum[:]) + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	if etagMatches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(src)
}

// etagMatches reports whether an If-None-Match header names etag (weak
// comparison, as RFC 9110 says for If-None-Match) or is "*".
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

func (s *Server) handleInbox(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after, err := queryInt(q.Get("after"), 0)
	if err != nil || after < 0 {
		writeError(w, newError(CodeBadRequest, fmt.Sprintf("after: must be an integer >= 0, got %q", q.Get("after"))))
		return
	}
	wait, err := queryInt(q.Get("wait"), 0)
	if err != nil || wait < 0 {
		writeError(w, newError(CodeBadRequest, fmt.Sprintf("wait: must be whole seconds 0..60, got %q", q.Get("wait"))))
		return
	}
	wait = min(wait, int64(MaxInboxWait/time.Second))
	page, err := s.WaitInbox(r.Context(), r.PathValue("gw"), after, time.Duration(wait)*time.Second)
	if r.Context().Err() != nil {
		return // the client went away; nobody reads an answer
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func queryInt(v string, def int64) (int64, error) {
	if v == "" {
		return def, nil
	}
	return strconv.ParseInt(v, 10, 64)
}

func (s *Server) handleReportOperation(w http.ResponseWriter, r *http.Request) {
	var st backendclient.OperationStatus
	if e := readAPIBody(w, r, &st); e != nil {
		writeError(w, e)
		return
	}
	ack, err := s.ReportOperation(r.PathValue("id"), st)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ack)
}

func (s *Server) handleTelemetry(w http.ResponseWriter, r *http.Request) {
	data, e := s.readTelemetry(w, r)
	if e != nil {
		writeError(w, e)
		return
	}
	batch, e := decodeTelemetry(data)
	if e != nil {
		writeError(w, e)
		return
	}
	ack, err := s.Ingest(r.PathValue("gw"), batch)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ack)
}
