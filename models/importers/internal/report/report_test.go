package report

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/fieldgate/fieldgate/models"
)

func TestReport(t *testing.T) {
	var r Report
	if r.Err() != nil || r.Problems() != 0 || len(r.Warnings()) != 0 {
		t.Fatal("zero report not empty")
	}
	for i := range MaxProblems + 10 {
		r.Fail(fmt.Sprintf("things[%d]", i), "bad %d", i)
	}
	if r.Problems() != MaxProblems+1 {
		t.Errorf("problems kept %d, want %d and one saying the rest were left out", r.Problems(), MaxProblems+1)
	}
	var fe *models.FieldError
	if err := r.Err(); !errors.As(err, &fe) || fe.Path != "things[0]" || !strings.Contains(err.Error(), "too many problems; stopped") {
		t.Errorf("Err = %v", err)
	}
	r.Warn("", "plain %s", "warning")
	r.Warn("a.b", "guessed %d", 7)
	for i := range 30 {
		r.Ignore("events", fmt.Sprintf("e%d", i))
	}
	r.Ignore("links", "")
	got := r.Warnings("extra line")
	want := []string{"plain warning", "a.b: guessed 7", "extra line"}
	if len(got) != 5 || strings.Join(got[:3], "|") != strings.Join(want, "|") {
		t.Fatalf("Warnings = %q", got)
	}
	if places := strings.Count(got[3], ", e"); !strings.HasPrefix(got[3], "events: not carried over (e0, e1,") || places != maxPlaces-1 {
		t.Errorf("ignored term line %q lists %d places, want %d", got[3], places+1, maxPlaces)
	}
	if !strings.HasSuffix(got[3], ", e19, and 10 more)") {
		t.Errorf("ignored term line %q does not say how many places it leaves out (10)", got[3])
	}
	if got[4] != "links: not carried over ()" {
		t.Errorf("last line %q", got[4])
	}
	for range MaxWarnings + 5 {
		r.Warn("", "w")
	}
	if n := len(r.Warnings()) - 2; n != MaxWarnings+1 {
		t.Errorf("warnings kept %d, want %d", n, MaxWarnings+1)
	}
}
