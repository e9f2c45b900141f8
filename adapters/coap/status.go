package coap

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/plgd-dev/go-coap/v3/message/codes"
)

// StatusError is a CoAP answer that is not a success: its code (4.xx client
// error, 5.xx server error) and diagnostic payload. The gateway reports an
// operation that gets one as FAILED with Error() as the message, e.g.
// "coap 4.04 Not Found: no such setpoint".
type StatusError struct {
	Method     string
	Path       string
	Code       codes.Code
	Diagnostic string // the answer's payload, when it is short UTF-8 text
}

func newStatusError(method, path string, code codes.Code, body []byte) *StatusError {
	diag := ""
	if utf8.Valid(body) {
		diag = strings.TrimSpace(string(body))
		if len(diag) > 200 {
			diag = diag[:200] + "…"
		}
	}
	return &StatusError{Method: method, Path: path, Code: code, Diagnostic: diag}
}

func (e *StatusError) Error() string {
	s := "coap " + CodeString(e.Code)
	if e.Diagnostic != "" {
		s += ": " + e.Diagnostic
	}
	return s
}

// CodeString writes a CoAP code as "c.dd Name" ("4.04 Not Found").
func CodeString(c codes.Code) string {
	s := fmt.Sprintf("%d.%02d", uint8(c)>>5, uint8(c)&0x1f)
	if name := codeName(c); name != "" {
		s += " " + name
	}
	return s
}

// codeName is the RFC 7252 §12.1.2 name of a response code ("" if unknown).
func codeName(c codes.Code) string {
	switch c {
	case codes.Created:
		return "Created"
	case codes.Deleted:
		return "Deleted"
	case codes.Valid:
		return "Valid"
	case codes.Changed:
		return "Changed"
	case codes.Content:
		return "Content"
	case codes.Continue:
		return "Continue"
	case codes.BadRequest:
		return "Bad Request"
	case codes.Unauthorized:
		return "Unauthorized"
	case codes.BadOption:
		return "Bad Option"
	case codes.Forbidden:
		return "Forbidden"
	case codes.NotFound:
		return "Not Found"
	case codes.MethodNotAllowed:
		return "Method Not Allowed"
	case codes.NotAcceptable:
		return "Not Acceptable"
	case codes.RequestEntityIncomplete:
		return "Request Entity Incomplete"
	case codes.PreconditionFailed:
		return "Precondition Failed"
	case codes.RequestEntityTooLarge:
		return "Request Entity Too Large"
	case codes.UnsupportedMediaType:
		return "Unsupported Content-Format"
	case codes.InternalServerError:
		return "Internal Server Error"
	case codes.NotImplemented:
		return "Not Implemented"
	case codes.BadGateway:
		return "Bad Gateway"
	case codes.ServiceUnavailable:
		return "Service Unavailable"
	case codes.GatewayTimeout:
		return "Gateway Timeout"
	case codes.ProxyingNotSupported:
		return "Proxying Not Supported"
	}
	return ""
}
