package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// The site commands (status, devices, scan, read, write, op) talk to a
// running daemon's local API. They share how they find it (the flags below)
// and how they report what it answers.

const defaultAPI = "127.0.0.1:8481"

// maxAnswerBytes bounds what the CLI reads of one answer (a device list of a
// big site fits many times over).
const maxAnswerBytes = 16 << 20

// apiFlags are the flags every site command takes to find the daemon.
type apiFlags struct {
	api, cfgPath, tokenFile *string
}

func addAPIFlags(fs *flag.FlagSet) apiFlags {
	return apiFlags{
		api:       fs.String("api", "", "the daemon's local API, host:port (default: api.listen of the config, else "+defaultAPI+")"),
		cfgPath:   fs.String("config", "", "the daemon's config, for api.listen and the token (default: "+DefaultConfigPath+" when readable)"),
		tokenFile: fs.String("token-file", "", "the local API token (default: api.tokenFile of the config, else api.token in the state directory)"),
	}
}

// client finds the API the flags name.
func (f apiFlags) client(name string) (*apiClient, error) {
	target, err := findAPI(*f.cfgPath, *f.api, *f.tokenFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if _, _, err := net.SplitHostPort(target.addr); err != nil {
		return nil, usageError{fmt.Sprintf("%s: --api must be host:port, got %q", name, target.addr)}
	}
	return &apiClient{name: name, target: target}, nil
}

// apiClient calls one daemon's local API for one command (name prefixes its errors).
type apiClient struct {
	name   string
	target apiTarget
}

// apiError is an answer of the daemon that is not a success: its HTTP
// status and the error body's code and message.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
	}
	return e.Code + ": " + e.Message
}

// devicePath is the API path of a device's sub-resource: the local id as
// printed ("modbus-tcp/127.0.0.1:5020/1") is escaped here, so that nobody
// types %2F.
func devicePath(localID, sub string) string {
	p := "/api/v1/devices/" + url.PathEscape(localID)
	if sub != "" {
		p += "/" + sub
	}
	return p
}

// send calls method path with body (JSON; nil: none) and returns the answer
// for the caller to read and close. Only transport trouble and a refused
// token are errors here; the caller decides on other statuses (see check).
func (c *apiClient) send(ctx context.Context, method, path string, body any, accept string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+c.target.addr+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	if method != http.MethodGet {
		// The local API takes state-changing calls only as JSON.
		req.Header.Set("Content-Type", "application/json")
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if c.target.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.target.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: is the daemon running with its local API on %s? %w", c.name, c.target.addr, err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		resp.Body.Close()
		if c.target.tokenErr != nil {
			return nil, fmt.Errorf("%s: %s needs the local API token, which could not be read: %w (run as root or the fieldgate user, or give --token-file)",
				c.name, c.target.addr, c.target.tokenErr)
		}
		return nil, fmt.Errorf("%s: %s refused the token read from %s: it is not the daemon's (is that the token file of the daemon on %s? see api.tokenFile, default <stateDir>/api.token)",
			c.name, c.target.addr, c.target.tokenPath, c.target.addr)
	}
	return resp, nil
}

// call sends a request and decodes a 2xx answer into out (nil: ignored). An
// answer the caller lists in accept (besides 2xx) is decoded too, and its
// status returned; any other is an *apiError wrapped with the command name.
func (c *apiClient) call(ctx context.Context, method, path string, body, out any, accept ...int) (int, error) {
	resp, err := c.send(ctx, method, path, body, "")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return 0, fmt.Errorf("%s: reading the answer of %s: %w", c.name, c.target.addr, err)
	}
	ok := resp.StatusCode/100 == 2
	for _, s := range accept {
		ok = ok || resp.StatusCode == s
	}
	if !ok {
		return resp.StatusCode, fmt.Errorf("%s: %w", c.name, answerError(resp.StatusCode, data))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s: the answer of %s is not what this command expects: %w", c.name, c.target.addr, err)
		}
	}
	return resp.StatusCode, nil
}

// answerError makes an *apiError of an error answer: the local API's
// {"error":{"code","message"}}, else the body's text.
func answerError(status int, data []byte) *apiError {
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &env) == nil && env.Error.Code != "" {
		return &apiError{Status: status, Code: env.Error.Code, Message: env.Error.Message}
	}
	msg := strings.TrimSpace(string(data))
	if len(msg) > 500 {
		msg = msg[:500] + "..."
	}
	return &apiError{Status: status, Message: msg}
}
