package backendclient

import (
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// Observer is told of every API call the client makes (Config.Observe): which
// call ("hello", "register", "model", "inbox", "operation", "telemetry"),
// the final HTTP status code (0: no answer, a transport error), and how long
// it took up to the answer's headers, retries included. A call cancelled by
// its caller is not observed. It runs on the caller's goroutine and must not
// block.
type Observer func(call string, code int, took time.Duration)

// Call names an Observer receives.
const (
	CallHello     = "hello"
	CallRegister  = "register"
	CallModel     = "model"
	CallInbox     = "inbox"
	CallOperation = "operation"
	CallTelemetry = "telemetry"
	CallOther     = "other"
)

// name is the call's name for an Observer: what it does, never an id.
func (c *Client) name(k *call) string {
	gw := c.gatewayPath()
	switch {
	case k.path == gw:
		return CallHello
	case strings.HasPrefix(k.path, gw+"/devices/"):
		return CallRegister
	case k.path == gw+"/inbox":
		return CallInbox
	case k.path == gw+"/telemetry":
		return CallTelemetry
	case strings.HasPrefix(k.path, "/api/v1/models/"):
		return CallModel
	case strings.HasPrefix(k.path, "/api/v1/operations/"):
		return CallOperation
	}
	return CallOther
}

// send runs req (with retries) and tells the observer, if there is one.
func (c *Client) send(k *call, req *retryablehttp.Request) (*http.Response, error) {
	if c.cfg.Observe == nil {
		return c.http.Do(req)
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if req.Context().Err() != nil {
		return resp, err
	}
	code := 0
	if err == nil {
		code = resp.StatusCode
	}
	c.cfg.Observe(c.name(k), code, time.Since(start))
	return resp, err
}
