package backendclient

import "errors"

// InvalidAnswerError is an answer of a reachable backend that the API does not
// allow: a body that is not the JSON the call expects (an HTML page from a
// proxy, a truncated or malformed document, a value out of range), one over
// MaxResponseBytes, or a 304 to a request without If-None-Match. Sending the
// same request again at once will most likely get the same answer: a caller
// retries it on its own backoff, and does not take it for the backend being
// unreachable.
type InvalidAnswerError struct{ Err error }

func (e *InvalidAnswerError) Error() string { return e.Err.Error() }
func (e *InvalidAnswerError) Unwrap() error { return e.Err }

func invalidAnswer(err error) error {
	if err == nil {
		return nil
	}
	return &InvalidAnswerError{Err: err}
}

// IsInvalidAnswer reports whether err is the backend answering with something
// the API does not allow: an *InvalidAnswerError, or a redirect off the
// configured origin (*RedirectError).
func IsInvalidAnswer(err error) bool {
	var e *InvalidAnswerError
	return errors.As(err, &e) || IsRedirectRefused(err)
}
