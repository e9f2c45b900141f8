package backend

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/models"
)

// Telemetry bounds (400 or 413 beyond, as noted).
const (
	// MaxTelemetryItems is the most samples and events one batch may carry (413).
	MaxTelemetryItems = 5000
	// MaxSampleValues is the most values one sample may carry (400).
	MaxSampleValues = models.MaxGroupProperties
	// MaxNameBytes bounds local ids, device ids, property and event names (400).
	MaxNameBytes = 256
	// MaxDecodedBytes bounds a telemetry body once decompressed (413): a small
	// gzip body cannot blow up into more than this.
	MaxDecodedBytes   = 16 << 20
	defaultQueryLimit = 100
	maxProblems       = 20
)

// readTelemetry reads a telemetry request's body: at most MaxBodyBytes as sent,
// gzip-decompressed when Content-Encoding says so (at most MaxDecodedBytes),
// plain otherwise. Another encoding is a 415.
func (s *Server) readTelemetry(w http.ResponseWriter, r *http.Request) ([]byte, *Error) {
	body := io.Reader(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		zr, _ := s.gunzips.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(body)
		} else {
			err = zr.Reset(body)
		}
		if err != nil {
			return nil, gzipError(err)
		}
		defer s.gunzips.Put(zr)
		data, err := io.ReadAll(io.LimitReader(zr, MaxDecodedBytes+1))
		if err != nil {
			return nil, gzipError(err)
		}
		if len(data) > MaxDecodedBytes {
			return nil, newError(CodeTooLarge, fmt.Sprintf("body: larger than %d bytes once decompressed", MaxDecodedBytes))
		}
		return data, nil
	default:
		return nil, newError(CodeUnsupportedEncoding, fmt.Sprintf("Content-Encoding: must be gzip or none, got %q", enc))
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, bodyError("body", err)
	}
	return data, nil
}

func gzipError(err error) *Error {
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return bodyError("body", err)
	}
	return &Error{Code: CodeBadRequest, Message: "body: gzip: " + err.Error(), Err: err}
}

// decodeTelemetry decodes and checks a telemetry body: JSON (unknown
// fields ignored: the evolution rule), at most MaxTelemetryItems samples and
// events (413), every one valid. Every problem is reported (up to 20), each with its path, e.g.
// "samples[3].values.temperature: ...".
func decodeTelemetry(data []byte) (backendclient.TelemetryBatch, *Error) {
	var batch backendclient.TelemetryBatch
	// The usual case in one pass; a body that fails is decoded again piece by
	// piece so that the error names the sample or event.
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&batch); err != nil || trailing(dec) {
		return backendclient.TelemetryBatch{}, explainTelemetry(data)
	}
	if n := len(batch.Samples) + len(batch.Events); n > MaxTelemetryItems {
		return backendclient.TelemetryBatch{}, newError(CodeTooLarge, fmt.Sprintf("body: at most %d samples and events per batch, got %d", MaxTelemetryItems, n))
	}
	if err := validateTelemetry(&batch); err != nil {
		return backendclient.TelemetryBatch{}, errorf(CodeBadRequest, err)
	}
	return batch, nil
}

func trailing(dec *json.Decoder) bool {
	_, err := dec.Token()
	return !errors.Is(err, io.EOF)
}

// explainTelemetry decodes a body that failed to decode, item by item, for an
// error that names where the problem is.
func explainTelemetry(data []byte) *Error {
	var raw struct {
		Samples []json.RawMessage `json:"samples"`
		Events  []json.RawMessage `json:"events"`
	}
	if e := decodeJSONLoose("body", bytes.NewReader(data), &raw); e != nil {
		return e
	}
	if n := len(raw.Samples) + len(raw.Events); n > MaxTelemetryItems {
		return newError(CodeTooLarge, fmt.Sprintf("body: at most %d samples and events per batch, got %d", MaxTelemetryItems, n))
	}
	var errs []error
	for _, list := range []struct {
		name  string
		items []json.RawMessage
		into  func() any
	}{
		{"samples", raw.Samples, func() any { return new(backendclient.Sample) }},
		{"events", raw.Events, func() any { return new(backendclient.Event) }},
	} {
		for i, m := range list.items {
			if len(errs) >= maxProblems {
				return errorf(CodeBadRequest, errors.Join(append(errs, errors.New("more problems not shown"))...))
			}
			path := fmt.Sprintf("%s[%d]", list.name, i)
			if e := decodeJSONLoose(path, bytes.NewReader(m), list.into()); e != nil {
				// SampleValues names the property: "samples[3]: values.temperature: x"
				// reads better as "samples[3].values.temperature: x".
				errs = append(errs, errors.New(strings.Replace(e.Message, path+": values.", path+".values.", 1)))
			}
		}
	}
	if len(errs) == 0 {
		// The pieces decode but the whole did not: say what the decoder said.
		var batch backendclient.TelemetryBatch
		if e := decodeJSONLoose("body", bytes.NewReader(data), &batch); e != nil {
			return e
		}
		return newError(CodeBadRequest, "body: not a telemetry batch")
	}
	return errorf(CodeBadRequest, errors.Join(errs...))
}

// validateTelemetry checks the content of a decoded batch; problems are joined,
// each with its path.
func validateTelemetry(b *backendclient.TelemetryBatch) error {
	var errs []error
	add := func(format string, args ...any) bool {
		if len(errs) >= maxProblems {
			return false
		}
		errs = append(errs, fmt.Errorf(format, args...))
		return true
	}
	name := func(path, what, v string, required bool) bool {
		switch {
		case v == "" && required:
			return add("%s.%s: must not be empty", path, what)
		case len(v) > MaxNameBytes:
			return add("%s.%s: at most %d bytes, got %d", path, what, MaxNameBytes, len(v))
		}
		return true
	}
	for i := range b.Samples {
		s := &b.Samples[i]
		p := fmt.Sprintf("samples[%d]", i)
		if s.Seq == 0 {
			add("%s.seq: must be > 0, got 0", p)
		}
		name(p, "localId", s.LocalID, true)
		name(p, "deviceId", s.DeviceID, false)
		if s.Values == nil { // absent or null; {} is an empty, non-nil list
			add("%s.values: must be an object", p)
		}
		if len(s.Values) > MaxSampleValues {
			add("%s.values: at most %d per sample, got %d", p, MaxSampleValues, len(s.Values))
		}
		for j := range s.Values {
			if pr := s.Values[j].Property; pr == "" || len(pr) > MaxNameBytes {
				add("%s.values: property names must be 1..%d bytes, got %q", p, MaxNameBytes, clip(pr))
				break
			}
		}
		switch s.Quality {
		case backendclient.QualityGood:
			if len(s.Bad) > 0 {
				add("%s.bad: must be absent when quality is good, got %d properties", p, len(s.Bad))
			}
		case backendclient.QualityBad:
			if len(s.Bad) == 0 {
				add("%s.bad: must name the bad properties when quality is bad", p)
			}
		default:
			add("%s.quality: must be good or bad, got %q", p, s.Quality)
		}
		checkBad(s, func(j int, pr, problem string) { add("%s.bad[%d]: %q %s", p, j, clip(pr), problem) })
		if len(errs) >= maxProblems {
			break
		}
	}
	for i := range b.Events {
		ev := &b.Events[i]
		p := fmt.Sprintf("events[%d]", i)
		if ev.Seq == 0 {
			add("%s.seq: must be > 0, got 0", p)
		}
		name(p, "localId", ev.LocalID, true)
		name(p, "deviceId", ev.DeviceID, false)
		if !name(p, "event", ev.Event, true) {
			break
		}
	}
	if len(errs) >= maxProblems {
		errs = append(errs, errors.New("more problems not shown"))
	}
	return errors.Join(errs...)
}

// checkBad reports each entry of s.Bad that is not a property of s.Values or
// is given twice.
func checkBad(s *backendclient.Sample, report func(j int, property, problem string)) {
	if len(s.Bad) == 0 {
		return
	}
	props := make(map[string]bool, len(s.Values))
	for i := range s.Values {
		props[s.Values[i].Property] = false
	}
	for j, pr := range s.Bad {
		named, ok := props[pr]
		switch {
		case !ok:
			report(j, pr, "is not in values")
		case named:
			report(j, pr, "given twice")
		}
		props[pr] = true
	}
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
