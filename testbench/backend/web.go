package backend

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sort"

	bolt "go.etcd.io/bbolt"
)

// indexTemplate is parsed by Open, per Server (no package-level state);
// html/template escapes everything the devices and gateways sent.
const indexTemplate = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>fieldgate reference backend</title>
<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;margin-bottom:1.5em}
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}
.assigned{color:#060}.pending{color:#a60}.rejected,.FAILED{color:#a00}.SUCCEEDED{color:#060}</style>
</head><body>
<h1>fieldgate reference backend</h1>
<p>{{len .Devices}} devices, {{.Stats.Samples}} samples ({{.Stats.Values}} values), {{.Stats.Events}} events, {{.Stats.Duplicates}} duplicates, {{.Stats.Operations}} operations.
Admin API: <a href="/admin/devices">/admin/devices</a>, <a href="/admin/stats">/admin/stats</a>.</p>
<h2>Devices</h2>
<table><tr><th>id</th><th>gateway</th><th>local id</th><th>status</th><th>model</th><th>vendor / product</th><th>latest readings</th></tr>
{{range .Devices}}<tr><td>{{.ID}}</td><td>{{.Gateway}}</td><td>{{.LocalID}}</td>
<td class="{{.Status}}">{{.Status}}{{if .Reason}}: {{.Reason}}{{end}}</td>
<td>{{with .Instance}}{{.Model}}@{{.Version}} (rev {{.Revision}}){{end}}</td>
<td>{{index .Fingerprint.Identity "vendor"}} / {{index .Fingerprint.Identity "product"}}</td>
<td>{{range .Latest}}{{.Property}} = {{.Value}}{{if ne .Quality "good"}} ({{.Quality}}){{end}}<br>{{end}}</td></tr>
{{else}}<tr><td colspan="7">no devices yet</td></tr>{{end}}
</table>
<h2>Recent operations</h2>
<table><tr><th>id</th><th>device</th><th>name</th><th>input</th><th>status</th><th>created</th></tr>
{{range .Operations}}<tr><td>{{.ID}}</td><td>{{.LocalID}}</td><td>{{.Name}}</td><td>{{printf "%s" .Input}}</td>
<td class="{{.Status}}">{{.Status}}{{with .Error}}: {{.Code}} {{.Message}}{{end}}</td><td>{{.Created.Format "15:04:05"}}</td></tr>
{{else}}<tr><td colspan="6">no operations yet</td></tr>{{end}}
</table>
</body></html>
`

type indexDevice struct {
	DeviceRecord
	Latest []indexReading
}

type indexReading struct {
	Property string
	Value    string
	Quality  string
}

type indexPage struct {
	Devices    []indexDevice
	Operations []OperationRecord
	Stats      Stats
}

func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	p := indexPage{Operations: s.Operations("", 20), Stats: s.Stats()}
	for _, d := range s.Devices() {
		p.Devices = append(p.Devices, indexDevice{DeviceRecord: d})
	}
	err := s.view(func(tx *bolt.Tx) error {
		for i := range p.Devices {
			rs, err := latestReadings(tx, p.Devices[i].ID)
			if err != nil {
				return err
			}
			sort.Slice(rs, func(a, b int) bool { return rs[a].Property < rs[b].Property })
			for _, rr := range rs {
				v, _ := json.Marshal(rr.Value)
				p.Devices[i].Latest = append(p.Devices[i].Latest, indexReading{Property: rr.Property, Value: string(v), Quality: rr.Quality})
			}
		}
		return nil
	})
	if err != nil {
		writeError(w, err)
		return
	}
	var buf bytes.Buffer
	if err := s.index.Execute(&buf, p); err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}
