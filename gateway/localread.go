package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/models"
)

// An on-demand read: the local API reads properties of a device now, through
// its bus's owner, ahead of the queued polls (like an operation). It changes
// no state — the values go neither to the outbox nor to the last values the
// device list shows — but it touches the wire, so it is a POST and needs the
// token.

// readRequest is the body of POST /api/v1/devices/{localId}/read. No
// properties (or no body): every property the model polls.
type readRequest struct {
	Properties []string `json:"properties"`
}

// maxReadProperties bounds the names one read may ask for.
const maxReadProperties = 256

// readingView is one value a read answers.
type readingView struct {
	Property string       `json:"property"`
	Value    models.Value `json:"value"`
	Unit     string       `json:"unit"` // "" when the model gives none
	Quality  string       `json:"quality"`
	Time     time.Time    `json:"time"`
	AgeMs    int64        `json:"ageMs"`
}

type readAnswer struct {
	Readings []readingView `json:"readings"`
}

func (g *Gateway) apiRead(w http.ResponseWriter, r *http.Request) {
	localID := r.PathValue("localId")
	if len(localID) > backendclient.MaxIDBytes {
		writeError(w, http.StatusBadRequest, "bad-request", fmt.Sprintf("localId: at most %d bytes, got %d", backendclient.MaxIDBytes, len(localID)))
		return
	}
	var req readRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		status := http.StatusBadRequest
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			status = http.StatusRequestEntityTooLarge
		}
		writeError(w, status, "bad-request", "read body: "+err.Error())
		return
	}
	if len(req.Properties) > maxReadProperties {
		writeError(w, http.StatusBadRequest, "bad-request", fmt.Sprintf("properties: at most %d names, got %d", maxReadProperties, len(req.Properties)))
		return
	}
	d, ok := g.devices.lookup(localID)
	if !ok {
		writeError(w, http.StatusNotFound, codeUnknownDevice, fmt.Sprintf("no device %q on this gateway", clip(localID, 300)))
		return
	}
	run := d.current()
	if run == nil {
		writeError(w, http.StatusConflict, codeNotAssigned, fmt.Sprintf("device %q has no assigned model", localID))
		return
	}
	groups, wanted, oe := readPlan(run.model, req.Properties)
	if oe != nil {
		writeError(w, http.StatusUnprocessableEntity, oe.Code, oe.Message)
		return
	}
	extendWrite(w)
	var out []models.Reading
	for _, gi := range groups {
		group := &run.model.Groups[gi]
		ctx, cancel := context.WithTimeout(adapters.OnDemand(r.Context()), group.Budget)
		var err error
		out, err = run.dev.Poll(ctx, group, out)
		cancel()
		if err != nil {
			if r.Context().Err() != nil {
				return
			}
			status, code := http.StatusBadGateway, "device-error"
			if errors.Is(err, adapters.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
				status, code = http.StatusGatewayTimeout, "timeout"
			}
			writeError(w, status, code, fmt.Sprintf("read %s: %v", localID, err))
			return
		}
	}
	ans := readAnswer{Readings: []readingView{}}
	now := time.Now()
	for _, rd := range out {
		if wanted != nil && !wanted[rd.Property] {
			continue
		}
		p := &run.model.Properties[rd.Property]
		ans.Readings = append(ans.Readings, readingView{Property: p.Name, Value: rd.Value, Unit: p.Unit,
			Quality: rd.Quality.String(), Time: rd.Time.UTC(), AgeMs: now.Sub(rd.Time).Milliseconds()})
	}
	writeJSON(w, http.StatusOK, ans)
}

// readPlan finds the poll groups that carry the named properties (all groups
// when none is named). wanted is nil when every value read is wanted. A name
// the model does not have, or cannot read, is an error naming it.
func readPlan(m *models.Compiled, names []string) (groups []int, wanted map[int]bool, oe *models.OperationError) {
	carries := make([]int, len(m.Properties)) // property → group index + 1
	for gi := range m.Groups {
		for _, p := range m.Groups[gi].Properties {
			carries[p] = gi + 1
		}
	}
	if len(names) == 0 {
		for gi := range m.Groups {
			groups = append(groups, gi)
		}
		return groups, nil, nil
	}
	wanted = map[int]bool{}
	for i, name := range names {
		p, ok := m.Property(name)
		switch {
		case !ok:
			return nil, nil, &models.OperationError{Code: "unknown-property",
				Message: fmt.Sprintf("properties[%d]: model %s has no property %q", i, m.Ref(), clip(name, 100))}
		case !m.Properties[p].Readable:
			return nil, nil, &models.OperationError{Code: "not-readable",
				Message: fmt.Sprintf("properties[%d]: %q is write-only in model %s", i, name, m.Ref())}
		case carries[p] == 0:
			return nil, nil, &models.OperationError{Code: "not-polled",
				Message: fmt.Sprintf("properties[%d]: %q is not polled (telemetry: false in model %s), so there is no read for it", i, name, m.Ref())}
		}
		wanted[p] = true
		if !slices.Contains(groups, carries[p]-1) {
			groups = append(groups, carries[p]-1)
		}
	}
	slices.Sort(groups)
	return groups, wanted, nil
}

// apiModel answers the model document of a device's assigned instance, as the
// gateway compiled it: the CLI and the page type what they send by it.
func (g *Gateway) apiModel(w http.ResponseWriter, r *http.Request) {
	localID := r.PathValue("localId")
	d, ok := g.devices.lookup(localID)
	if !ok {
		writeError(w, http.StatusNotFound, codeUnknownDevice, fmt.Sprintf("no device %q on this gateway", clip(localID, 300)))
		return
	}
	run := d.current()
	if run == nil {
		writeError(w, http.StatusConflict, codeNotAssigned, fmt.Sprintf("device %q has no assigned model", clip(localID, 300)))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(run.model.Source)
}
