// Package report is the bookkeeping the model importers share: the problems
// that make an import fail (each with its path, at most MaxProblems), the
// warnings about what was imported with a guess (at most MaxWarnings), and the
// terms of the source format a model does not carry, each listed once with the
// places it occurs (the first 20, then how many more).
//
// It must not know any source format: paths and terms are the importer's.
package report

import (
	"errors"
	"fmt"
	"strings"

	"github.com/fieldgate/fieldgate/models"
)

const (
	// MaxProblems bounds the problems kept; one more says the rest were left out.
	MaxProblems = 50
	// MaxWarnings bounds the warnings and the ignored terms kept.
	MaxWarnings = 200
	// maxPlaces bounds the places listed for one ignored term.
	maxPlaces = 20
)

// Report collects an import's problems and warnings. The zero value is ready.
type Report struct {
	problems     []error
	warnings     []string
	ignored      map[string]*places
	ignoredOrder []string
}

// places are where an ignored term occurs: the first maxPlaces, and how many
// more.
type places struct {
	listed []string
	more   int
}

// Fail records a problem at path (a *models.FieldError).
func (r *Report) Fail(path, format string, args ...any) {
	if len(r.problems) == MaxProblems {
		r.problems = append(r.problems, errors.New("too many problems; stopped"))
	}
	if len(r.problems) > MaxProblems {
		return
	}
	r.problems = append(r.problems, &models.FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

// Problems is how many problems were recorded so far.
func (r *Report) Problems() int { return len(r.problems) }

// Err joins the problems; nil when there are none.
func (r *Report) Err() error { return errors.Join(r.problems...) }

// Warn records a warning, prefixed with path unless it is empty.
func (r *Report) Warn(path, format string, args ...any) {
	if len(r.warnings) == MaxWarnings {
		r.warnings = append(r.warnings, "too many warnings; the rest left out")
	}
	if len(r.warnings) > MaxWarnings {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = (&models.FieldError{Path: path, Message: msg}).Error()
	}
	r.warnings = append(r.warnings, msg)
}

// Ignore records that term, found at where, is not carried over.
func (r *Report) Ignore(term, where string) {
	p, ok := r.ignored[term]
	if !ok {
		if len(r.ignoredOrder) >= MaxWarnings {
			return
		}
		if r.ignored == nil {
			r.ignored = map[string]*places{}
		}
		p = &places{}
		r.ignored[term] = p
		r.ignoredOrder = append(r.ignoredOrder, term)
	}
	if len(p.listed) < maxPlaces {
		p.listed = append(p.listed, where)
	} else {
		p.more++
	}
}

// Warnings returns the warnings, then extra, then one line per ignored term
// ("term: not carried over (places)", the places beyond the first 20 counted:
// "(a, b, ..., and 7 more)").
func (r *Report) Warnings(extra ...string) []string {
	out := append(append([]string(nil), r.warnings...), extra...)
	for _, t := range r.ignoredOrder {
		p := r.ignored[t]
		where := strings.Join(p.listed, ", ")
		if p.more > 0 {
			where += fmt.Sprintf(", and %d more", p.more)
		}
		out = append(out, fmt.Sprintf("%s: not carried over (%s)", t, where))
	}
	return out
}
