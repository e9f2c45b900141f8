package backend

import (
	"errors"
	"net/http"
	"strings"
)

// Error codes, as the API's {error:{code,message}} envelope carries them.
const (
	CodeBadRequest   = "bad-request"
	CodeUnauthorized = "unauthorized"
	CodeNotFound     = "not-found"
	CodeConflict     = "conflict"
	CodeTooLarge     = "too-large"
	// CodeUnsupportedEncoding: a Content-Encoding the backend does not take (415).
	CodeUnsupportedEncoding = "unsupported-encoding"
	CodeInternal            = "internal"
	CodeUnavailable         = "unavailable"
)

// Error is the typed error of the Server's methods; Code says what the caller did
// wrong (or that the backend failed) and maps to the HTTP status the API answers.
type Error struct {
	Code    string
	Message string
	Err     error // the cause, if any
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }
func (e *Error) Unwrap() error { return e.Err }

// Status is the HTTP status the API answers for this error.
func (e *Error) Status() int {
	switch e.Code {
	case CodeBadRequest:
		return http.StatusBadRequest
	case CodeUnauthorized:
		return http.StatusUnauthorized
	case CodeNotFound:
		return http.StatusNotFound
	case CodeConflict:
		return http.StatusConflict
	case CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeUnsupportedEncoding:
		return http.StatusUnsupportedMediaType
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	case CodeForbidden:
		return http.StatusForbidden
	case CodeUnsupportedMedia:
		return http.StatusUnsupportedMediaType
	}
	return http.StatusInternalServerError
}

func errorf(code string, err error) *Error {
	// errors.Join separates problems by newlines; one line reads better in JSON and logs.
	return &Error{Code: code, Message: strings.ReplaceAll(err.Error(), "\n", "; "), Err: err}
}

func newError(code, msg string) *Error { return &Error{Code: code, Message: msg} }

// asError turns any error into an *Error: a typed one as it is, anything else internal.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return errorf(CodeInternal, err)
}

// IsCode reports whether err is an *Error with the given code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}
