package backendclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// APIError is a non-2xx answer of the backend.
type APIError struct {
	Status  int    // HTTP status code
	Code    string // error.code of the envelope ("not-found", "unauthorized", ...); empty if none
	Message string // error.message, or the first 200 bytes of a body that is not an envelope
	// RetryAfter is the server's Retry-After on 429/503 (0 if none).
	RetryAfter time.Duration
	// Endpoint is the request, e.g. "PUT /api/v1/gateways/gw1".
	Endpoint string
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("backendclient: ")
	if e.Endpoint != "" {
		b.WriteString(e.Endpoint)
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "status %d", e.Status)
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// IsUnauthorized reports whether err is the backend refusing this gateway's
// credentials (401, or 403 forbidden).
func IsUnauthorized(err error) bool {
	var e *APIError
	return errors.As(err, &e) && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden)
}

// IsNotFound reports whether err is a 404 answer.
func IsNotFound(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// IsRefused reports whether err is the backend refusing this very request for
// good: a 4xx answer other than 401/403 (credentials), 408 (timeout) and 429
// (slow down). Sending the same request again cannot succeed.
func IsRefused(err error) bool {
	var e *APIError
	if !errors.As(err, &e) || e.Status < 400 || e.Status >= 500 {
		return false
	}
	switch e.Status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	}
	return true
}

// RetryAfterOf returns the Retry-After the backend asked for with err, if any.
func RetryAfterOf(err error) (time.Duration, bool) {
	var e *APIError
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return 0, false
}

const maxErrorText = 200

func newAPIError(endpoint string, resp *http.Response, body []byte) *APIError {
	e := &APIError{Status: resp.StatusCode, Endpoint: endpoint}
	if ra, ok := retryAfter(resp); ok {
		e.RetryAfter = ra
	}
	e.Code, e.Message = parseErrorBody(body)
	return e
}

// parseErrorBody reads the {error:{code,message}} envelope; a body that is not one
// becomes the message, cut to 200 bytes (at a rune boundary) and made printable.
func parseErrorBody(body []byte) (code, message string) {
	var env struct {
		Error *ErrorBody `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err == nil && env.Error != nil && (env.Error.Code != "" || env.Error.Message != "") {
		return env.Error.Code, env.Error.Message
	}
	s := strings.ToValidUTF8(strings.TrimSpace(string(body)), "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < ' ' && r != '\t' {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxErrorText {
		cut := maxErrorText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return "", s
}
