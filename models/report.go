package models

import (
	"math"
	"time"
)

// Report modes of ReportSettings.Mode.
const (
	ReportPoll   = "poll"
	ReportChange = "change"
)

// Limits of report settings.
const (
	minHeartbeat = minPollInterval
	maxHeartbeat = 7 * 24 * time.Hour
)

// mergeReport applies a property's report settings over the model's, field by
// field; the two deadbands count as one field. Either may be nil.
func mergeReport(model, prop *ReportSettings) ReportSettings {
	var r ReportSettings
	if model != nil {
		r = *model
	}
	if prop == nil {
		return r
	}
	if prop.Mode != "" {
		r.Mode = prop.Mode
	}
	if prop.Deadband != nil || prop.DeadbandPercent != nil {
		r.Deadband, r.DeadbandPercent = prop.Deadband, prop.DeadbandPercent
	}
	if prop.Heartbeat != 0 {
		r.Heartbeat = prop.Heartbeat
	}
	return r
}

// compileReport turns a property's merged report settings into its policy.
// Only telemetry properties are sent at all; deadbands are for numbers only.
func compileReport(model, prop *ReportSettings, kind Kind, telemetry bool) ReportPolicy {
	r := mergeReport(model, prop)
	if !telemetry || r.Mode != ReportChange {
		return ReportPolicy{}
	}
	p := ReportPolicy{OnChange: true, Heartbeat: time.Duration(r.Heartbeat)}
	if kind == KindInt || kind == KindFloat {
		if r.Deadband != nil {
			p.Deadband = *r.Deadband
		}
		if r.DeadbandPercent != nil {
			p.DeadbandPercent = *r.DeadbandPercent
		}
	}
	return p
}

// report checks one report settings object: the model's (merged nil), or a
// property's of the given kind (merged: its settings over the model's). At the
// model level deadbands and heartbeat may stand without mode change: they are
// defaults for the properties that choose it. At a property, the fields it sets
// itself must make sense for its kind and for its mode after merging.
func (v *validator) report(path string, r *ReportSettings, kind Kind, merged *ReportSettings) {
	switch r.Mode {
	case "", ReportPoll, ReportChange:
	default:
		v.fail(path+".mode", "must be one of poll, change, got %q", r.Mode)
	}
	param := func(name string) {
		if merged != nil && (merged.Mode == "" || merged.Mode == ReportPoll) {
			v.fail(path+"."+name, "only with mode change (the property's mode is poll)")
		}
	}
	for _, d := range []struct {
		name string
		val  *float64
	}{{"deadband", r.Deadband}, {"deadbandPercent", r.DeadbandPercent}} {
		if d.val == nil {
			continue
		}
		switch {
		case math.IsNaN(*d.val) || math.IsInf(*d.val, 0) || *d.val < 0:
			v.fail(path+"."+d.name, "must be a finite number >= 0, got %v", *d.val)
		case merged != nil && kind != KindInvalid && kind != KindInt && kind != KindFloat:
			v.fail(path+"."+d.name, "only for int and float properties, not %s", kind)
		default:
			param(d.name)
		}
	}
	if r.Heartbeat != 0 {
		if h := time.Duration(r.Heartbeat); h < minHeartbeat || h > maxHeartbeat {
			v.fail(path+".heartbeat", "must be %s..%s, got %s", minHeartbeat, maxHeartbeat, h)
		} else {
			param("heartbeat")
		}
	}
}
