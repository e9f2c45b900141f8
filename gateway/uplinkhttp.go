package gateway

// TEMPORARY: the legacy-wire uplink, until the samples wire lands (wt-wire).

import (
	"context"
	"fmt"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway/telemetry"
)

type httpUplink struct{ client *backendclient.Client }

func newHTTPUplink(c *backendclient.Client) *httpUplink { return &httpUplink{client: c} }

func (u *httpUplink) Send(ctx context.Context, recs []telemetry.Record) (int, error) {
	sent := 0
	for sent < len(recs) {
		var items []backendclient.TelemetryItem
		n := 0
		for _, r := range recs[sent:] {
			if len(items) > 0 && len(items)+len(r.Values) > 500 {
				break
			}
			n++
			if r.Kind == telemetry.KindEvent {
				items = append(items, backendclient.TelemetryItem{Seq: r.Seq, Kind: backendclient.KindEvent, LocalID: r.LocalID, DeviceID: r.DeviceID, Event: r.Event, Detail: r.Detail, Time: r.Time})
				continue
			}
			for i, v := range r.Values {
				val := v.Value
				items = append(items, backendclient.TelemetryItem{Seq: r.Seq<<8 + uint64(i), Kind: backendclient.KindReading, LocalID: r.LocalID, DeviceID: r.DeviceID, Property: v.Property, Value: &val, Quality: v.Quality.String(), Time: r.Time})
			}
		}
		if _, err := u.client.SendTelemetry(ctx, backendclient.TelemetryBatch{Items: items}); err != nil {
			if backendclient.IsRefused(err) {
				err = fmt.Errorf("%w: %w", telemetry.ErrRefused, err)
			}
			return sent, err
		}
		sent += n
	}
	return sent, nil
}
