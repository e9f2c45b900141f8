package backend

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
)

const maxQueryLimit = 10000

func (s *Server) handleAdminDevices(w http.ResponseWriter, r *http.Request) {
	devs := s.Devices()
	if devs == nil {
		devs = []DeviceRecord{}
	}
	writeJSON(w, http.StatusOK, devs)
}

func (s *Server) handleAdminAssignment(w http.ResponseWriter, r *http.Request) {
	var a Assignment
	if e := readBody(w, r, &a); e != nil {
		writeError(w, e)
		return
	}
	id := r.PathValue("id")
	var err error
	switch {
	case a.Reject != "" && (a.Model != "" || a.Version != ""):
		err = newError(CodeBadRequest, fmt.Sprintf("reject: %q and model %q@%q are exclusive", a.Reject, a.Model, a.Version))
	case a.Reject != "":
		err = s.Reject(id, a.Reject)
	default:
		err = s.Assign(id, a.Model, a.Version, a.PollIntervalMs)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	d, _ := s.Device(id)
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) handleAdminCreateOperation(w http.ResponseWriter, r *http.Request) {
	var req OperationRequest
	if e := readBody(w, r, &req); e != nil {
		writeError(w, e)
		return
	}
	id, err := s.CreateOperation(req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": id})
}

func (s *Server) handleAdminOperation(w http.ResponseWriter, r *http.Request) {
	op, ok := s.Operation(r.PathValue("id"))
	if !ok {
		writeError(w, newError(CodeNotFound, fmt.Sprintf("operation %q: no such operation", r.PathValue("id"))))
		return
	}
	writeJSON(w, http.StatusOK, op)
}

func (s *Server) handleAdminOperations(w http.ResponseWriter, r *http.Request) {
	limit, ok := queryLimit(w, r)
	if !ok {
		return
	}
	ops := s.Operations(r.URL.Query().Get("device"), limit)
	if ops == nil {
		ops = []OperationRecord{}
	}
	writeJSON(w, http.StatusOK, ops)
}

func (s *Server) handleAdminReadings(w http.ResponseWriter, r *http.Request) {
	limit, ok := queryLimit(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	writeJSON(w, http.StatusOK, s.Readings(q.Get("device"), q.Get("property"), limit))
}

func (s *Server) handleAdminEvents(w http.ResponseWriter, r *http.Request) {
	limit, ok := queryLimit(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.Events(r.URL.Query().Get("device"), limit))
}

// queryLimit parses ?limit= (default 100, clamped to 10000); a bad one is answered 400.
func queryLimit(w http.ResponseWriter, r *http.Request) (int, bool) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return defaultQueryLimit, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		writeError(w, newError(CodeBadRequest, fmt.Sprintf("limit: must be an integer 1..%d, got %q", maxQueryLimit, v)))
		return 0, false
	}
	return min(n, maxQueryLimit), true
}

func (s *Server) handleAdminModels(w http.ResponseWriter, r *http.Request) {
	ms := s.Models()
	if ms == nil {
		ms = []ModelInfo{}
	}
	writeJSON(w, http.StatusOK, ms)
}

func (s *Server) handleAdminAddModel(w http.ResponseWriter, r *http.Request) {
	src, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		writeError(w, bodyError("body", err))
		return
	}
	info, created, err := s.addModel(src)
	if err != nil {
		writeError(w, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, info)
}

// handleAdminModel serves one stored model document, as the gateway API does
// but without its token: the web view reads units, limits and operations from it.
func (s *Server) handleAdminModel(w http.ResponseWriter, r *http.Request) {
	id, version := r.PathValue("id"), r.PathValue("version")
	src, ok := s.Model(id, version)
	if !ok {
		writeError(w, newError(CodeNotFound, fmt.Sprintf("model %s@%s: no such model", id, version)))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(src)
}

// handleAdminLatest answers the newest reading of each property of a device
// (its newest 1000 samples looked at), by property name.
func (s *Server) handleAdminLatest(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rs, err := s.Latest(id)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rs)
}

func (s *Server) handleAdminRules(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Rules())
}

func (s *Server) handleAdminAddRule(w http.ResponseWriter, r *http.Request) {
	var rule Rule
	if e := readBody(w, r, &rule); e != nil {
		writeError(w, e)
		return
	}
	if err := s.AddRule(rule); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, rule)
}

func (s *Server) handleAdminStats(w http.ResponseWriter, r *http.Request) {
	st := s.Stats()
	if st.Gateways == nil {
		st.Gateways = []GatewayRecord{}
	}
	writeJSON(w, http.StatusOK, st)
}
