package backendclient

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/http"
)

// SendTelemetry posts a batch of samples and events (POST
// /api/v1/gateways/{gw}/telemetry), encoded by a TelemetryEncoder; see
// SendEncoded. It is for callers that hold a TelemetryBatch; the gateway's
// uplink fills an encoder itself.
func (c *Client) SendTelemetry(ctx context.Context, b TelemetryBatch) (*TelemetryAck, error) {
	var e TelemetryEncoder
	e.Reset()
	for i := range b.Samples {
		e.AddSample(&b.Samples[i])
	}
	for i := range b.Events {
		e.AddEvent(&b.Events[i])
	}
	return c.SendEncoded(ctx, &e)
}

// SendEncoded posts the telemetry body e holds (POST
// /api/v1/gateways/{gw}/telemetry), gzip-compressed when the backend's last
// hello answer accepted gzip and the body has at least minGzipBytes. A 2xx
// acknowledges the whole batch; samples and
// events the backend had already seen (by seq) are counted as duplicates. A
// backend that answers 415 to a compressed body gets it again plain at once,
// and plain bodies until the next hello says otherwise.
//
// e must not change until SendEncoded returns. Errors are classified as the
// other calls' are: IsRefused for 400, 413, 422 (the batch as it is will never
// be taken), RetryAfterOf, IsUnauthorized.
// minGzipBytes is the smallest body worth compressing: below it gzip's header,
// trailer and Content-Encoding cost about what they save (one on-change
// sample, say).
const minGzipBytes = 512

func (c *Client) SendEncoded(ctx context.Context, e *TelemetryEncoder) (*TelemetryAck, error) {
	if n := e.Count(); n > MaxTelemetryItems {
		return nil, fmt.Errorf("backendclient: telemetry: at most %d samples and events per batch, got %d", MaxTelemetryItems, n)
	}
	k := call{method: http.MethodPost, path: c.gatewayPath() + "/telemetry", raw: e.Bytes()}
	k.lent = &lentBody{data: k.raw}
	// The encoder's buffers are reused for the next batch: not before the
	// transport has let go of them.
	defer func() {
		if !k.lent.released(bodyReleaseWait) {
			e.abandon()
		}
	}()
	if c.gzip.Load() && len(k.raw) >= minGzipBytes {
		gz, err := c.compress(&e.gz, k.raw)
		if err != nil {
			return nil, fmt.Errorf("backendclient: %s: compress: %w", k.endpoint(), err)
		}
		zk := k
		zk.raw = gz
		zk.lent = &lentBody{data: gz}
		zk.header = http.Header{"Content-Encoding": {"gzip"}}
		_, _, body, err := c.do(ctx, zk)
		if !zk.lent.released(bodyReleaseWait) {
			e.abandon()
		}
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusUnsupportedMediaType {
			return c.telemetryAck(k, body, err)
		}
		c.gzip.Store(false)
		c.log.Warn("backend refuses gzip-compressed telemetry (415); sending it plain until the next hello says otherwise")
	}
	_, _, body, err := c.do(ctx, k)
	return c.telemetryAck(k, body, err)
}

func (c *Client) telemetryAck(k call, body []byte, err error) (*TelemetryAck, error) {
	if err != nil {
		return nil, err
	}
	var ack TelemetryAck
	if err := decodeJSON(k.endpoint(), body, &ack); err != nil {
		return nil, err
	}
	if ack.Accepted < 0 || ack.Duplicates < 0 {
		return nil, invalidAnswer(fmt.Errorf("backendclient: %s: accepted and duplicates must be >= 0, got %d and %d", k.endpoint(), ack.Accepted, ack.Duplicates))
	}
	if n := len(ack.UnknownDevices); n > MaxUnknownDevices {
		return nil, fmt.Errorf("backendclient: %s: unknownDevices: at most %d, got %d", k.endpoint(), MaxUnknownDevices, n)
	}
	for i, id := range ack.UnknownDevices {
		if id == "" || len(id) > MaxIDLen {
			return nil, fmt.Errorf("backendclient: %s: unknownDevices[%d]: a local id of 1 to %d bytes, got %d bytes", k.endpoint(), i, MaxIDLen, len(id))
		}
	}
	return &ack, nil
}

// compress gzips body into buf with the client's one writer (BestSpeed: the
// gateway's CPU is the scarce thing; JSON telemetry still shrinks several
// times). Requests in flight together compress one after the other.
func (c *Client) compress(buf *bytes.Buffer, body []byte) ([]byte, error) {
	buf.Reset()
	c.gzMu.Lock()
	defer c.gzMu.Unlock()
	if c.gz == nil {
		zw, err := gzip.NewWriterLevel(buf, gzip.BestSpeed)
		if err != nil {
			return nil, err
		}
		c.gz = zw
	} else {
		c.gz.Reset(buf)
	}
	if _, err := c.gz.Write(body); err != nil {
		return nil, err
	}
	if err := c.gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
